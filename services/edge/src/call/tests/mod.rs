//! The call machine tested without sockets: each test runs a real call
//! task ([`Task::drive`], the machine and its loop) against the in-memory
//! backends of `fake.rs`, with tokio's clock paused (timers fire as soon as
//! nothing else can happen), plays the phones by handing it SIP messages as
//! the core would, and reads what it tells the core to send.

mod anchor;
mod bridge;
mod dial;
mod dialog;
mod fake;
mod limit;
mod media;
mod music;
mod pickup;
mod refer;
mod start;
mod timeout;
mod transfer;
mod transfer_app;
mod trunk;

use super::a_leg::ALeg;
use super::backends::Backends;
use super::driver::Task;
use super::machine::Machine;
use crate::calls::CallRegistry;
use crate::command::{Command, CoreHandle, LegEvent};
use crate::reply::replier_for;
use asterism_proto::router::{step, Dial, DialTarget, StepResult, StepStatus};
use asterism_sip::message::Response;
use asterism_sip::response::response_to;
use asterism_sip::transaction::{ClientKey, TimerConfig, TsxKey};
use asterism_sip::transport::{Flow, Kind};
use asterism_sip::validate::{check_request, Checked};
use asterism_sip::{HeaderName, Method, Request, SipMessage};
use fake::Fake;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// The caller's phone.
pub const A: &str = "127.0.0.1:5062";
pub const SDP: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";

pub fn udp(addr: &str) -> Flow {
    Flow {
        kind: Kind::Udp,
        remote: addr.parse().unwrap(),
    }
}

/// Parse a request written with `\n` line ends and no Content-Length.
pub fn parse(head: &str, body: &str) -> (Request, Checked) {
    let text = format!(
        "{}Content-Length: {}\r\n\r\n{body}",
        head.trim_start().replace('\n', "\r\n"),
        body.len()
    );
    let Some(SipMessage::Request(r)) = SipMessage::parse_datagram(text.as_bytes()) else {
        panic!("not a request: {text}")
    };
    let c = check_request(&r).unwrap();
    (r, c)
}

/// bob's INVITE to 61, with credentials (`creds`) and an SDP offer.
pub fn invite(creds: bool) -> (Request, Checked) {
    invite_offering(creds, SDP)
}

/// bob's INVITE to 61 offering `sdp`.
pub fn invite_offering(creds: bool, sdp: &str) -> (Request, Checked) {
    let auth = if creds {
        "Authorization: Digest username=\"bob\", realm=\"asterisk\", nonce=\"abc\", uri=\"sip:61@127.0.0.1:5060\", response=\"0123456789abcdef0123456789abcdef\"\n"
    } else {
        ""
    };
    parse(
        &format!(
            "INVITE sip:61@127.0.0.1:5060 SIP/2.0
Via: SIP/2.0/UDP {A};branch=z9hG4bK-inv1;rport
From: \"Bob\" <sip:bob@127.0.0.1>;tag=bobtag
To: <sip:61@127.0.0.1>
Call-ID: call-a
CSeq: 2 INVITE
Contact: <sip:bob@{A}>
{auth}Max-Forwards: 70
Content-Type: application/sdp
"
        ),
        sdp,
    )
}

/// A request we sent (to a callee) and its transaction.
#[derive(Debug, Clone)]
pub struct Sent {
    pub key: ClientKey,
    pub flow: Flow,
    pub request: Request,
}

impl Sent {
    pub fn call_id(&self) -> String {
        self.request
            .headers
            .get(&HeaderName::CallId)
            .unwrap()
            .to_owned()
    }
}

pub struct H {
    core: mpsc::Receiver<Command>,
    tx: mpsc::Sender<LegEvent>,
    task: Option<JoinHandle<&'static str>>,
    pub fake: Arc<Fake>,
    pub calls: CallRegistry,
    pub a_key: TsxKey,
    /// Our To tag towards the caller, once a response carried it.
    pub a_tag: Option<String>,
    pub routes: Vec<String>,
    pub unroutes: Vec<String>,
    cseq: u32,
}

impl H {
    pub async fn start(fake: Fake) -> H {
        H::start_with(fake, invite(true)).await
    }

    pub async fn start_with(fake: Fake, invite: (Request, Checked)) -> H {
        H::start_on(fake, invite, udp(A)).await
    }

    /// The INVITE as it came on `flow` (TCP, say).
    pub async fn start_on(fake: Fake, (request, checked): (Request, Checked), flow: Flow) -> H {
        let key = TsxKey::for_request(&Method::INVITE, &request.uri, &checked).unwrap();
        let replier = replier_for(flow, &request, &checked);
        let calls = CallRegistry::default();
        let entry = calls.enter(&checked.call_id, "bob", "61", Default::default());
        let call_id = checked.call_id.clone();
        let timers = TimerConfig::default();
        let a = ALeg::new(
            request,
            checked,
            replier,
            (key.clone(), flow),
            "127.0.0.1:5060".into(),
            timers,
        );
        let machine = Machine::new(a, entry, 5);
        let (core_tx, core) = mpsc::channel(256);
        let (tx, rx) = mpsc::channel(64);
        let mut task = Task::new(machine, CoreHandle(core_tx), tx.clone(), &call_id);
        task.ringing = fake.ringing.clone();
        let fake = Arc::new(fake);
        let backends: Arc<dyn Backends> = fake.clone();
        let task = tokio::spawn(async move {
            task.drive(backends, rx).await;
            task.machine.outcome()
        });
        H {
            core,
            tx,
            task: Some(task),
            fake,
            calls,
            a_key: key,
            a_tag: None,
            routes: Vec::new(),
            unroutes: Vec::new(),
            cseq: 2,
        }
    }

    /// Everything the call sends until it is quiet for 50 ms (of paused
    /// time: timers further away do not fire).
    pub async fn drain(&mut self) -> Vec<Command> {
        let mut out = Vec::new();
        while let Ok(Some(c)) =
            tokio::time::timeout(Duration::from_millis(50), self.core.recv()).await
        {
            match &c {
                Command::Route { call_id, .. } => self.routes.push(call_id.clone()),
                Command::Unroute { call_id, .. } => self.unroutes.push(call_id.clone()),
                Command::Respond { key, response } | Command::RespondOnce { key, response }
                    if *key == self.a_key && self.a_tag.is_none() =>
                {
                    self.a_tag = to_tag(response);
                }
                _ => {}
            }
            out.push(c);
        }
        out
    }

    /// Let `d` pass, collecting what is sent meanwhile.
    pub async fn wait(&mut self, d: Duration) -> Vec<Command> {
        let until = tokio::time::Instant::now() + d;
        let mut out = Vec::new();
        while tokio::time::Instant::now() < until {
            out.extend(self.drain().await);
            if self.core.is_closed() && self.core.is_empty() {
                // The call ended: nothing more will come.
                tokio::time::sleep_until(until).await;
            }
        }
        out
    }

    /// The task ended: how the call went.
    pub async fn ended(&mut self) -> &'static str {
        let task = self.task.take().expect("already ended");
        let outcome = tokio::time::timeout(Duration::from_secs(60), task)
            .await
            .expect("the call task ends")
            .unwrap();
        self.drain().await;
        outcome
    }

    pub async fn is_running(&mut self) -> bool {
        self.drain().await;
        self.task.as_ref().is_some_and(|t| !t.is_finished())
    }

    pub async fn deliver(&self, (request, checked): (Request, Checked), flow: Flow) {
        let key = TsxKey::for_request(&request.method, &request.uri, &checked).unwrap();
        let ev = LegEvent::Request {
            key,
            flow,
            request: Box::new(request),
            checked: Box::new(checked),
        };
        let _ = self.tx.send(ev).await;
    }

    /// Any event, as the core would hand it over.
    pub async fn event(&self, ev: LegEvent) {
        let _ = self.tx.send(ev).await;
    }

    /// A request of the caller in its dialog with us.
    pub async fn caller(&mut self, method: &str) {
        self.caller_with_body(method, "").await
    }

    /// A request of the caller in its dialog, with an SDP `body`.
    pub async fn caller_with_body(&mut self, method: &str, body: &str) {
        let tag = self.a_tag.clone().expect("our To tag");
        let r = self.caller_request(method, "bobtag", Some(&tag), "", body);
        self.deliver(r, udp(A)).await;
    }

    /// A request of the caller in its dialog with `extra` header lines.
    pub async fn caller_with_headers(&mut self, method: &str, extra: &str) {
        self.caller_with(method, extra, "").await
    }

    /// A request of the caller in its dialog with `extra` lines and `body`.
    pub async fn caller_with(&mut self, method: &str, extra: &str, body: &str) {
        let tag = self.a_tag.clone().expect("our To tag");
        let r = self.caller_request(method, "bobtag", Some(&tag), extra, body);
        self.deliver(r, udp(A)).await;
    }

    pub fn caller_with_tags(
        &mut self,
        method: &str,
        from: &str,
        to: Option<&str>,
    ) -> (Request, Checked) {
        self.caller_request(method, from, to, "", "")
    }

    fn caller_request(
        &mut self,
        method: &str,
        from: &str,
        to: Option<&str>,
        extra: &str,
        body: &str,
    ) -> (Request, Checked) {
        self.cseq += 1;
        let to = to.map(|t| format!(";tag={t}")).unwrap_or_default();
        let (cseq, branch) = (self.cseq, format!("z9hG4bK-a{}", self.cseq));
        let ctype = content_type(body);
        parse(
            &format!(
                "{method} sip:bob@{A} SIP/2.0
Via: SIP/2.0/UDP {A};branch={branch};rport
From: <sip:bob@127.0.0.1>;tag={from}
To: <sip:61@127.0.0.1>{to}
Call-ID: call-a
CSeq: {cseq} {method}
Max-Forwards: 70
{extra}{ctype}"
            ),
            body,
        )
    }

    /// The caller's CANCEL of its INVITE.
    pub async fn cancel(&self) {
        let r = parse(
            &format!(
                "CANCEL sip:61@127.0.0.1:5060 SIP/2.0
Via: SIP/2.0/UDP {A};branch=z9hG4bK-inv1;rport
From: \"Bob\" <sip:bob@127.0.0.1>;tag=bobtag
To: <sip:61@127.0.0.1>
Call-ID: call-a
CSeq: 2 CANCEL
Max-Forwards: 70
"
            ),
            "",
        );
        self.deliver(r, udp(A)).await;
    }

    /// The caller's ACK of our 200.
    pub async fn ack(&mut self) {
        let tag = self.a_tag.clone().expect("our To tag");
        let r = parse(
            &format!(
                "ACK sip:61@127.0.0.1:5060 SIP/2.0
Via: SIP/2.0/UDP {A};branch=z9hG4bK-ack1;rport
From: \"Bob\" <sip:bob@127.0.0.1>;tag=bobtag
To: <sip:61@127.0.0.1>;tag={tag}
Call-ID: call-a
CSeq: 2 ACK
Max-Forwards: 70
"
            ),
            "",
        );
        self.deliver(r, udp(A)).await;
    }

    /// A response of the callee to `sent`, with `tag` (and SDP on 18x/2xx).
    pub async fn respond(&self, sent: &Sent, code: u16, tag: &str) {
        self.respond_with(sent, callee_response(sent, code, tag))
            .await
    }

    /// `response` of the callee to `sent`.
    pub async fn respond_with(&self, sent: &Sent, response: Response) {
        let ev = LegEvent::Response {
            key: ClientKey::for_response(&sent.key.branch, sent.request.method.as_str()),
            response: Box::new(response),
        };
        let _ = self.tx.send(ev).await;
    }

    pub async fn timeout(&self, sent: &Sent) {
        let ev = LegEvent::Timeout {
            key: sent.key.clone(),
        };
        let _ = self.tx.send(ev).await;
    }

    /// A request of the callee in its dialog (`invite` answered with `tag`).
    pub async fn callee(&mut self, invite: &Sent, tag: &str, method: &str) {
        self.callee_with_body(invite, tag, method, "").await
    }

    /// A request of the callee in its dialog, with an SDP `body`.
    pub async fn callee_with_body(&mut self, invite: &Sent, tag: &str, method: &str, body: &str) {
        self.callee_full(invite, tag, method, "", body).await
    }

    /// A request of the callee in its dialog with `extra` header lines.
    pub async fn callee_with_headers(
        &mut self,
        invite: &Sent,
        tag: &str,
        method: &str,
        extra: &str,
    ) {
        self.callee_full(invite, tag, method, extra, "").await
    }

    async fn callee_full(
        &mut self,
        invite: &Sent,
        tag: &str,
        method: &str,
        extra: &str,
        body: &str,
    ) {
        self.cseq += 1;
        let ctype = content_type(body);
        let h = &invite.request.headers;
        let (from, to) = (
            h.get(&HeaderName::From).unwrap(),
            h.get(&HeaderName::To).unwrap(),
        );
        let (cseq, call_id) = (self.cseq, invite.call_id());
        let remote = invite.flow.remote;
        let r = parse(
            &format!(
                "{method} sip:62@127.0.0.1:5060 SIP/2.0
Via: SIP/2.0/UDP {remote};branch=z9hG4bK-b{cseq};rport
From: {to};tag={tag}
To: {from}
Call-ID: {call_id}
CSeq: {cseq} {method}
Max-Forwards: 70
{extra}{ctype}"
            ),
            body,
        );
        self.deliver(r, invite.flow).await;
    }
}

/// The Content-Type line an SDP body needs (none without a body).
fn content_type(body: &str) -> &'static str {
    if body.is_empty() {
        ""
    } else {
        "Content-Type: application/sdp\n"
    }
}

pub fn to_tag(r: &Response) -> Option<String> {
    let to = r.headers.get(&HeaderName::To)?;
    asterism_sip::header::NameAddr::parse(to, "To")
        .ok()?
        .tag()
        .map(str::to_owned)
}

pub fn callee_response(sent: &Sent, code: u16, tag: &str) -> Response {
    let mut r = response_to(&sent.request.headers, code, None, Some(tag));
    if (101..300).contains(&code) {
        let remote = sent.flow.remote;
        r.headers
            .push(HeaderName::Contact, format!("<sip:alice@{remote}>"));
        if sent.request.method == Method::INVITE && code != 180 {
            r.headers.push(HeaderName::ContentType, "application/sdp");
            r.body = bytes::Bytes::from_static(b"v=0\r\ns=callee\r\n");
        }
    }
    r
}

/// The codes of the responses to transaction `key`, in order.
pub fn codes(cmds: &[Command], key: &TsxKey) -> Vec<u16> {
    cmds.iter()
        .filter_map(|c| match c {
            Command::Respond { key: k, response } | Command::RespondOnce { key: k, response }
                if k == key =>
            {
                Some(response.code)
            }
            _ => None,
        })
        .collect()
}

/// The responses to the caller's requests other than the INVITE.
pub fn other_codes(cmds: &[Command], invite: &TsxKey) -> Vec<u16> {
    cmds.iter()
        .filter_map(|c| match c {
            Command::Respond { key, response } | Command::RespondOnce { key, response }
                if key != invite =>
            {
                Some(response.code)
            }
            _ => None,
        })
        .collect()
}

pub fn response_of<'a>(cmds: &'a [Command], key: &TsxKey, code: u16) -> Option<&'a Response> {
    cmds.iter().find_map(|c| match c {
        Command::Respond { key: k, response } | Command::RespondOnce { key: k, response }
            if k == key && response.code == code =>
        {
            Some(response)
        }
        _ => None,
    })
}

/// Whether the response to `key` was sent once, without a transaction.
pub fn sent_once(cmds: &[Command], key: &TsxKey) -> bool {
    cmds.iter()
        .any(|c| matches!(c, Command::RespondOnce { key: k, .. } if k == key))
}

/// The requests sent in client transactions with `method`.
pub fn requests(cmds: &[Command], method: Method) -> Vec<Sent> {
    cmds.iter()
        .filter_map(|c| match c {
            Command::Request { key, flow, request } if request.method == method => Some(Sent {
                key: key.clone(),
                flow: *flow,
                request: request.clone(),
            }),
            _ => None,
        })
        .collect()
}

/// Bytes sent outside transactions (2xx ACKs), parsed.
pub fn acks(cmds: &[Command]) -> Vec<(Flow, Request)> {
    cmds.iter()
        .filter_map(|c| match c {
            Command::Send { flow, bytes } => match SipMessage::parse_datagram(bytes) {
                Some(SipMessage::Request(r)) => Some((*flow, r)),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

pub fn dial(targets: &[&str], timeout_secs: u32) -> step::App {
    step::App::Dial(Dial {
        targets: targets
            .iter()
            .map(|t| DialTarget {
                technology: "SIP".into(),
                resource: (*t).into(),
                number: String::new(),
            })
            .collect(),
        timeout_secs,
        options: String::new(),
        limit: None,
        transfer_context: String::new(),
    })
}

pub fn status(r: &StepResult) -> (StepStatus, &str) {
    (
        StepStatus::try_from(r.status).unwrap_or(StepStatus::Unspecified),
        r.dial_status.as_str(),
    )
}

/// A call from bob answered by alice (`Dial(SIP/alice)`), ACKed: the
/// harness, alice's INVITE and her tag.
pub async fn bridged(fake: Fake) -> (H, Sent) {
    let mut h = H::start(fake).await;
    let cmds = h.drain().await;
    let invite = requests(&cmds, Method::INVITE).remove(0);
    h.respond(&invite, 180, "alicetag").await;
    h.respond(&invite, 200, "alicetag").await;
    let cmds = h.drain().await;
    assert_eq!(codes(&cmds, &h.a_key), vec![180, 200]);
    h.ack().await;
    h.drain().await;
    (h, invite)
}
