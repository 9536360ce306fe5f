//! One `message-summary` subscription (RFC 3842 over RFC 6665), answered
//! as chan_sip's `handle_request_subscribe` answers it: no Event → 489, an
//! Accept without `application/simple-message-summary` → 406, the
//! subscriber authenticated like an INVITE (401 challenge, 403), a peer
//! with `allowsubscribe=no` → 403, without `mailbox=` (or a guest) → 404,
//! Expires below 60 s → 423 with Min-Expires, above 3,600 s cut to it,
//! none → 120 s. Accepted: 200, the dialog's first NOTIFY with the counts
//! at once, another at every change of the peer's mailboxes, a re-SUBSCRIBE
//! refreshes it, `Expires: 0` or the end of its time ends it with a NOTIFY
//! `terminated;reason=timeout`; a NOTIFY answered 481 (or never) ends it
//! without one, and so does a newer subscription of the same peer on this
//! edge (chan_sip keeps one per peer).

use super::body::{self, Account, Counts};
use super::watch::{sum, Boxes};
use crate::call::backends::{AuthAnswer, Backends};
use crate::call::steps::auth_ask_for;
use crate::command::{Command, CoreHandle, LegEvent};
use crate::reply::Replier;
use crate::Ctx;
use asterism_proto::common::User;
use asterism_sip::dialog::{Dialog, Order};
use asterism_sip::header::NameAddr;
use asterism_sip::transaction::TsxKey;
use asterism_sip::transport::Flow;
use asterism_sip::validate::Checked;
use asterism_sip::{HeaderName, Method, Request, Uri};
use bytes::Bytes;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// chan_sip's `min_subexpiry`, `max_subexpiry` and `default_expiry`.
pub const MIN_EXPIRES: u32 = 60;
pub const MAX_EXPIRES: u32 = 3600;
pub const DEFAULT_EXPIRES: u32 = 120;
/// The event package handled here.
pub const EVENT: &str = "message-summary";

/// A new SUBSCRIBE, handed over by the dispatcher.
pub struct Incoming {
    pub request: Request,
    pub checked: Checked,
    pub replier: Replier,
}

/// The package named by an Event header (its parameters dropped).
pub fn package(event: &str) -> &str {
    event.split(';').next().unwrap_or_default().trim()
}

/// What a SUBSCRIBE asks for, checked before anyone is asked anything.
fn refusal(req: &Request, r: &Replier) -> Option<asterism_sip::message::Response> {
    let Some(event) = req.headers.get(&HeaderName::Event) else {
        return Some(r.reply(489));
    };
    if !package(event).eq_ignore_ascii_case(EVENT) {
        let mut out = r.reply(489);
        out.headers.push(HeaderName::AllowEvents, EVENT);
        return Some(out);
    }
    let mut accepts = req.headers.get_all(&HeaderName::Accept).peekable();
    if accepts.peek().is_some()
        && !accepts.any(|a| a.trim().eq_ignore_ascii_case(body::CONTENT_TYPE))
    {
        return Some(r.reply(406));
    }
    None
}

/// The Expires asked for: Ok(granted seconds, 0 to unsubscribe) or Err(423).
fn granted(req: &Request) -> Result<u32, ()> {
    let asked = req
        .headers
        .get(&HeaderName::Expires)
        .and_then(|v| v.trim().parse::<u64>().ok());
    match asked {
        None => Ok(DEFAULT_EXPIRES),
        Some(0) => Ok(0),
        Some(s) if s < u64::from(MIN_EXPIRES) => Err(()),
        Some(s) => Ok(s.min(u64::from(MAX_EXPIRES)) as u32),
    }
}

impl Incoming {
    /// Answer the SUBSCRIBE and, accepted, serve the subscription to its end.
    pub async fn run(
        self,
        ctx: Arc<Ctx>,
        core: CoreHandle,
        key: TsxKey,
        flow: Flow,
        admission: Option<tokio::sync::OwnedSemaphorePermit>,
    ) {
        let Incoming {
            request,
            checked,
            replier,
        } = self;
        if let Some(r) = refusal(&request, &replier) {
            return core.respond(&key, r).await;
        }
        let backends = crate::call::grpc::GrpcBackends(ctx.clone());
        let user = match backends
            .authenticate(auth_ask_for(&request, &checked, flow))
            .await
        {
            Ok(AuthAnswer::Ok(user)) => *user,
            Ok(AuthAnswer::Challenge(text)) => {
                let mut r = replier.reply(401);
                r.headers.push(HeaderName::WwwAuthenticate, text);
                return core.respond(&key, r).await;
            }
            Ok(AuthAnswer::Refused) => return core.respond(&key, replier.reply(403)).await,
            Err(_) => return core.respond(&key, ctx.unavailable(&replier)).await,
        };
        drop(admission);
        if user.subscribe_forbidden {
            return core
                .respond(&key, replier.reply_with(403, "Forbidden (policy)"))
                .await;
        }
        if user.guest || user.mailboxes.is_empty() {
            let r = match user.guest {
                true => replier.reply_with(404, "Not found"),
                false => replier.reply_with(404, "Not found (no mailbox)"),
            };
            return core.respond(&key, r).await;
        }
        let Ok(expires) = granted(&request) else {
            let mut r = replier.reply(423);
            r.headers
                .push(HeaderName::MinExpires, MIN_EXPIRES.to_string());
            return core.respond(&key, r).await;
        };
        let Ok(slot) = ctx.subscriptions.clone().try_acquire_owned() else {
            return core.respond(&key, ctx.unavailable(&replier)).await;
        };
        let host = ctx.sip_host(&request);
        let contact = Uri::sip(user.name.as_str(), &host)
            .map(|u| NameAddr::new(None, u))
            .unwrap_or_else(|| NameAddr::new(None, checked.uri.clone()));
        let dialog = Dialog::uas(&request, &checked, replier.to_tag(), flow, &host, contact);
        let (tx, rx) = mpsc::channel(16);
        let call_id = checked.call_id.clone();
        core.send(Command::Route {
            call_id: call_id.clone(),
            tx: tx.clone(),
        })
        .await;
        let mut sub = Subscription {
            ctx: ctx.clone(),
            core: core.clone(),
            dialog,
            user,
            host,
            kind: flow.kind,
            boxes: ctx.mwi.clone(),
            until: Instant::now(),
            sent: None,
        };
        sub.accept(&key, &replier, expires).await;
        if expires > 0 {
            ctx.metrics.subscriptions.inc();
            let (id, replaced) = ctx.mwi_contacts.subscribe(&sub.user.name);
            sub.serve(rx, replaced).await;
            ctx.mwi_contacts.unsubscribe(&sub.user.name, id);
            ctx.metrics.subscriptions.dec();
        }
        drop(slot);
        core.send(Command::Unroute { call_id, tx }).await;
    }
}

struct Subscription {
    ctx: Arc<Ctx>,
    core: CoreHandle,
    dialog: Dialog,
    user: User,
    host: String,
    kind: asterism_sip::transport::Kind,
    boxes: tokio::sync::watch::Receiver<Boxes>,
    until: Instant,
    /// The counts of the last NOTIFY.
    sent: Option<Counts>,
}

impl Subscription {
    /// 200 with the granted Expires, then the state in a NOTIFY.
    async fn accept(&mut self, key: &TsxKey, replier: &Replier, expires: u32) {
        let mut ok = replier.reply(200);
        ok.headers.push(HeaderName::Expires, expires.to_string());
        ok.headers
            .push(HeaderName::Contact, self.dialog.contact.to_string());
        self.core.respond(key, ok).await;
        self.until = Instant::now() + Duration::from_secs(u64::from(expires));
        self.notify(expires > 0).await;
    }

    /// Until it ends, or `replaced` says a newer one of the peer took over
    /// (then quietly, as chan_sip drops the older dialog).
    async fn serve(
        &mut self,
        mut rx: mpsc::Receiver<LegEvent>,
        mut replaced: tokio::sync::oneshot::Receiver<()>,
    ) {
        loop {
            tokio::select! {
                _ = &mut replaced => return,
                ev = rx.recv() => match ev {
                    Some(ev) => if !self.on_event(ev).await { return },
                    None => return,
                },
                changed = self.boxes.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    let now = sum(&self.boxes.borrow_and_update(), &self.user.mailboxes);
                    if self.sent != Some(now) {
                        self.notify(true).await;
                    }
                }
                () = tokio::time::sleep_until(self.until) => {
                    self.notify(false).await;
                    return;
                }
            }
        }
    }

    /// A request of the dialog or an answer to a NOTIFY; false ends it.
    async fn on_event(&mut self, ev: LegEvent) -> bool {
        match ev {
            LegEvent::Request {
                key,
                request,
                checked,
                flow,
            } => self.on_request(key, *request, *checked, flow).await,
            LegEvent::Response { response, .. } => {
                // RFC 6665 §4.2.2: 481 (or another failure) ends it; a
                // challenge of our NOTIFY is nothing we can answer.
                response.code < 300
            }
            LegEvent::Timeout { .. } => false,
            // A transfer's Replaces naming a subscription: no call here.
            other => {
                other.decline();
                true
            }
        }
    }

    async fn on_request(
        &mut self,
        key: TsxKey,
        request: Request,
        checked: Checked,
        flow: Flow,
    ) -> bool {
        let replier = crate::reply::replier_for(flow, &request, &checked);
        if request.method == Method::ACK {
            return true;
        }
        if !self.dialog.matches(&checked) {
            self.core.respond(&key, replier.reply(481)).await;
            return true;
        }
        if self.dialog.check_order(&request.method, &checked.cseq) == Order::Stale {
            self.core.respond(&key, replier.reply(500)).await;
            return true;
        }
        if request.method != Method::SUBSCRIBE {
            self.core.respond(&key, replier.with_allow(405)).await;
            return true;
        }
        if let Some(r) = refusal(&request, &replier) {
            self.core.respond(&key, r).await;
            return true;
        }
        match granted(&request) {
            Err(()) => {
                let mut r = replier.reply(423);
                r.headers
                    .push(HeaderName::MinExpires, MIN_EXPIRES.to_string());
                self.core.respond(&key, r).await;
                true
            }
            Ok(expires) => {
                // Its To has our tag already: the answer keeps it.
                self.accept(&key, &replier, expires).await;
                expires > 0
            }
        }
    }

    /// The NOTIFY of the current counts; `active` false ends the subscription.
    async fn notify(&mut self, active: bool) {
        let counts = sum(&self.boxes.borrow_and_update(), &self.user.mailboxes);
        let left = self
            .until
            .saturating_duration_since(Instant::now())
            .as_secs();
        let state = match active {
            true => format!("active;expires={left}"),
            false => "terminated;reason=timeout".to_owned(),
        };
        let account = Account {
            vmexten: &self.user.vmexten,
            host: &self.host,
            transport: self.kind,
            buggy_mwi: self.user.buggy_mwi,
        };
        let text = body::summary(counts, &account);
        let (key, mut r) = self.dialog.request(Method::NOTIFY);
        r.headers.push(HeaderName::Event, EVENT);
        r.headers.push(HeaderName::SubscriptionState, state);
        r.headers.push(HeaderName::ContentType, body::CONTENT_TYPE);
        r.body = Bytes::from(text);
        self.sent = Some(counts);
        let flow = self.dialog.flow;
        self.ctx.metrics.mwi_notifies.inc();
        self.core.request(key, flow, r).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subscribe(extra: &str) -> Request {
        let text = format!(
            "SUBSCRIBE sip:61@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bKa\r\nFrom: <sip:61@127.0.0.1>;tag=1\r\nTo: <sip:61@127.0.0.1>\r\nCall-ID: c\r\nCSeq: 1 SUBSCRIBE\r\n{extra}Content-Length: 0\r\n\r\n"
        );
        match asterism_sip::message::SipMessage::parse_datagram(text.as_bytes()) {
            Some(asterism_sip::message::SipMessage::Request(r)) => r,
            _ => panic!("not a request"),
        }
    }

    fn code(extra: &str) -> Option<u16> {
        let req = subscribe(extra);
        let replier = Replier::new(req.headers.clone(), None);
        refusal(&req, &replier).map(|r| r.code)
    }

    #[test]
    fn packages_and_formats_as_chan_sip() {
        assert_eq!(code(""), Some(489), "no Event");
        assert_eq!(code("Event: presence\r\n"), Some(489));
        assert_eq!(code("Event: message-summary\r\n"), None);
        assert_eq!(code("Event: message-summary;id=1\r\n"), None);
        assert_eq!(
            code("Event: message-summary\r\nAccept: application/pidf+xml\r\n"),
            Some(406)
        );
        assert_eq!(
            code("Event: message-summary\r\nAccept: text/plain, application/simple-message-summary\r\n"),
            None
        );
    }

    #[test]
    fn expiry_within_chan_sips_bounds() {
        assert_eq!(granted(&subscribe("")), Ok(DEFAULT_EXPIRES));
        assert_eq!(granted(&subscribe("Expires: 0\r\n")), Ok(0));
        assert_eq!(granted(&subscribe("Expires: 30\r\n")), Err(()));
        assert_eq!(granted(&subscribe("Expires: 600\r\n")), Ok(600));
        assert_eq!(granted(&subscribe("Expires: 99999\r\n")), Ok(MAX_EXPIRES));
    }
}
