//! The dialplan's applications as the call carries them out: each router
//! step moves the machine into the state that does it (or answers at
//! once), and the requests it needs (auth, the dialplan's start) are built
//! here from the INVITE.

use super::a_leg::{ALeg, AState};
use super::backends::{AuthAsk, BackendError, Contact, EchoEnd, MediaSession, Resolved};
use super::backends::{MediaAsk, MediaPrefs};
use super::events::{Action, Ask};
use super::forks::{Caller, Fork};
use super::machine::{CallState, Machine, Then};
use asterism_proto::common::User;
use asterism_proto::registrar::AuthenticateRequest;
use asterism_proto::router::{step, CallStart, StepResult, StepStatus};
use asterism_sip::digest::parse_authorization;
use asterism_sip::transport::Flow;
use asterism_sip::validate::Checked;
use asterism_sip::{HeaderName, Request};
use bytes::Bytes;
use std::time::Duration;
use tokio::time::Instant;

pub fn ok() -> StepResult {
    with_status(StepStatus::Ok, "")
}

pub fn hung_up() -> StepResult {
    with_status(StepStatus::CallerHungUp, "")
}

pub fn failed(why: &str) -> StepResult {
    StepResult {
        error: why.to_owned(),
        ..with_status(StepStatus::Failed, "")
    }
}

/// A result with a status and a DIALSTATUS.
pub fn with_status(status: StepStatus, dial_status: &str) -> StepResult {
    StepResult {
        status: status as i32,
        dial_status: dial_status.to_owned(),
        ..Default::default()
    }
}

/// The registrar's question about the INVITE's credentials.
pub fn auth_ask(a: &ALeg) -> AuthAsk {
    auth_ask_for(&a.invite, &a.checked, a.flow)
}

/// The registrar's question about the credentials of `req` (any method).
pub fn auth_ask_for(req: &Request, checked: &Checked, flow: Flow) -> AuthAsk {
    let h = &req.headers;
    let credentials = h
        .get_all(&HeaderName::Authorization)
        .chain(h.get_all(&HeaderName::ProxyAuthorization))
        .find_map(|v| parse_authorization(v).ok().flatten())
        .map(crate::register::pb_credentials);
    AuthAsk {
        request: AuthenticateRequest {
            method: req.method.as_str().to_owned(),
            request_uri: req.uri.clone(),
            from_user: checked.from.uri.user.clone().unwrap_or_default(),
            credentials,
            flow: None,
            call_id: checked.call_id.clone(),
            cseq: checked.cseq.seq,
            branch: checked.vias[0].branch().unwrap_or_default().to_owned(),
        },
        from: h.get(&HeaderName::From).unwrap_or_default().to_owned(),
        flow,
    }
}

/// The router's first event: the caller's context and the dialled number.
pub fn call_start(a: &ALeg, user: Option<&User>) -> CallStart {
    let user = user.cloned().unwrap_or_default();
    CallStart {
        call_id: a.checked.call_id.clone(),
        context: user.context,
        extension: a.checked.uri.user.clone().unwrap_or_default(),
        callerid_num: user.callerid_num,
        callerid_name: user.callerid_name,
        // chan_sip's CHANNEL(peername): the channel is named after it.
        variables: [("CHANNEL(peername)".to_owned(), user.name)]
            .into_iter()
            .filter(|(_, v)| !v.is_empty())
            .collect(),
    }
}

impl Machine {
    pub(super) fn execute(&mut self, app: step::App, now: Instant) {
        tracing::debug!(app = app_name(&app), "step");
        match app {
            step::App::Dial(d) => {
                self.dial_limit = d.limit.map(|l| *l).filter(|l| l.limit_ms > 0);
                self.transfers = super::features::Transfers::of(&d.options, &d.transfer_context);
                self.dial_context = d.transfer_context.clone();
                let known: Vec<_> = d
                    .targets
                    .into_iter()
                    .filter(|t| {
                        let known = ["SIP", "PJSIP"]
                            .iter()
                            .any(|k| t.technology.eq_ignore_ascii_case(k));
                        if !known {
                            tracing::warn!(tech = %t.technology, "unsupported channel technology");
                        }
                        known
                    })
                    .collect();
                self.dial_numbers = known
                    .iter()
                    .filter(|t| !t.number.is_empty())
                    .map(|t| (t.resource.clone(), t.number.clone()))
                    .collect();
                let targets: Vec<String> = known.into_iter().map(|t| t.resource).collect();
                if targets.is_empty() {
                    return self.result(with_status(StepStatus::Ok, "CHANUNAVAIL"));
                }
                // Dial's `m`: music instead of ringing (its class, else
                // the caller's mohinterpret); `r`: ringing at once,
                // whatever the callee says.
                self.dial_music = asterism_config::dial_options::argument(&d.options, 'm')
                    .map(|class| self.music_class(class));
                if self.dial_music.is_none()
                    && asterism_config::dial_options::has_option(&d.options, 'r')
                {
                    self.a.provisional(&mut self.out, 180, None);
                }
                let call_id = self.a.checked.call_id.clone();
                self.ask(Ask::Resolve { targets, call_id });
                let timeout = match d.timeout_secs {
                    0 => Duration::from_secs(24 * 3600),
                    s => Duration::from_secs(u64::from(s)),
                };
                self.state = CallState::Resolving { timeout };
            }
            step::App::Ringing(_) => {
                self.a.provisional(&mut self.out, 180, None);
                self.result(ok())
            }
            step::App::Progress(_) => {
                self.a.provisional(&mut self.out, 183, None);
                self.result(ok())
            }
            step::App::Busy(_) => {
                self.a.fail_with(&mut self.out, 486, None);
                self.result(ok())
            }
            step::App::Congestion(_) => {
                self.a.fail_with(&mut self.out, 503, None);
                self.result(ok())
            }
            step::App::Hangup(_) => {
                if matches!(self.a.state, AState::Answered) {
                    self.bye_caller();
                }
                self.result(ok())
            }
            step::App::Wait(w) => {
                let until = now + Duration::from_millis(u64::from(w.millis));
                self.state = CallState::Waiting { until };
            }
            step::App::Answer(_) => self.answer_with_media(Then::Answer, now),
            step::App::Playback(p) => self.answer_with_media(Then::Play(p.files), now),
            step::App::SayDigits(d) => {
                let files = d
                    .digits
                    .chars()
                    .filter(|c| c.is_ascii_alphanumeric())
                    .map(|c| format!("digits/{c}"))
                    .collect();
                self.answer_with_media(Then::Play(files), now)
            }
            step::App::Echo(_) => self.answer_with_media(Then::Echo, now),
            step::App::MusicOnHold(m) => {
                // No duration: until the caller hangs up (a day at most).
                let secs = match m.seconds {
                    0 => 24 * 3600,
                    s => u64::from(s),
                };
                let class = self.music_class(&m.class);
                let until = now + Duration::from_secs(secs);
                self.answer_with_media(Then::Music(class, until), now)
            }
            step::App::Transfer(t) => self.transfer_app(t.destination),
            step::App::Pickup(p) => self.pickup_app(p),
            step::App::Finished(_) => self.result(ok()),
        }
    }

    /// The music on hold class Dial's `m(class)` names, else the caller's.
    fn music_class(&self, class: &str) -> String {
        if !class.is_empty() {
            return class.to_owned();
        }
        match self.user.as_ref().map(|u| u.moh_interpret.as_str()) {
            Some("") | None => "default".to_owned(),
            Some(own) => own.to_owned(),
        }
    }

    /// Answer the caller with a media session's SDP (once), then go on.
    pub(super) fn answer_with_media(&mut self, then: Then, now: Instant) {
        match self.a.state {
            AState::Answered if self.media.is_some() => return self.with_media(then),
            // Early media from a relay whose SDP the caller has (a Dial
            // with m that was not answered): answered with that SDP.
            AState::Early if self.media.is_some() => {
                let sdp = self.anchor.as_ref().map(|a| a.to_caller.clone());
                let sdp = sdp.map(|s| ("application/sdp".to_owned(), Bytes::from(s)));
                self.a.answer(&mut self.out, sdp, now);
                self.entry.state("answered");
                return self.with_media(then);
            }
            AState::Answered | AState::Gone => {
                return self.result(failed("call already answered elsewhere or gone"))
            }
            AState::Early => {}
        }
        let Some((_, offer)) = self.a.offer() else {
            return self.result(failed("INVITE without SDP offer"));
        };
        self.ask(Ask::OpenMedia(MediaAsk {
            call_id: self.a.checked.call_id.clone(),
            offer: String::from_utf8_lossy(&offer).into_owned(),
            host: self.a.host.clone(),
            caller: self.user.as_ref().map(MediaPrefs::of).unwrap_or_default(),
            callee: MediaPrefs::default(),
            from: None,
        }));
        self.state = CallState::Answering { then };
    }

    pub(super) fn media_opened(
        &mut self,
        m: Result<(MediaSession, String), BackendError>,
        then: Then,
        now: Instant,
    ) {
        match m {
            Ok((session, sdp)) => {
                self.out
                    .push(Action::Ask(0, Ask::WatchMedia(session.clone())));
                self.media = Some(session);
                let sdp = Some(("application/sdp".to_owned(), Bytes::from(sdp)));
                self.a.answer(&mut self.out, sdp, now);
                self.entry.state("answered");
                self.with_media(then)
            }
            Err(e @ BackendError::NoCodec(_)) => {
                tracing::info!(reason = e.text(), "no codec in common: 488");
                let r = e.response(&self.a.replier, self.retry_after);
                self.a.fail(&mut self.out, r);
                self.result(StepResult {
                    error: e.text().to_owned(),
                    ..hung_up()
                })
            }
            Err(e) => {
                tracing::warn!(error = e.text(), "no media instance answered");
                self.result(failed("no media instance answered"))
            }
        }
    }

    fn with_media(&mut self, then: Then) {
        let Some(session) = self.media.clone() else {
            return self.result(failed("no media"));
        };
        match then {
            Then::Answer => self.result(ok()),
            Then::Play(files) => {
                self.ask(Ask::Play(session, files));
                self.state = CallState::Playing;
            }
            Then::Echo => {
                self.ask(Ask::Echo(session));
                self.state = CallState::Echoing;
            }
            Then::Music(class, until) => {
                self.music_to(session, super::bridge::Side::Caller, Some(class));
                self.caller_music = true;
                self.state = CallState::Waiting { until };
            }
            // Answered for a pickup: handed over once it ACKs.
            Then::Pickup => self.state = CallState::PickingUp,
        }
    }

    /// MusicOnHold's music ends with its step.
    pub(super) fn stop_caller_music(&mut self) {
        if !std::mem::take(&mut self.caller_music) {
            return;
        }
        if let Some(session) = self.media.clone() {
            self.music_to(session, super::bridge::Side::Caller, None);
        }
    }

    pub(super) fn echoed(&mut self, r: Result<EchoEnd, BackendError>) {
        match r {
            Ok(EchoEnd::RtpTimeout) => {
                tracing::info!("no RTP from the caller: hanging up");
                self.bye_caller();
                self.result(hung_up())
            }
            Ok(EchoEnd::Digit(dtmf)) => self.result(StepResult { dtmf, ..ok() }),
            Ok(EchoEnd::Closed) => self.result(ok()),
            Err(e) => self.result(failed(e.text())),
        }
    }

    /// The Dial targets are looked up (and media anchored if it must be):
    /// an INVITE offering `offer` to every contact at once.
    pub(super) fn fork_all(
        &mut self,
        targets: Vec<Resolved>,
        timeout: Duration,
        now: Instant,
        offer: Option<(String, Bytes)>,
    ) {
        let (number, name) = match &self.user {
            Some(u) if !u.callerid_num.is_empty() => {
                (u.callerid_num.clone(), u.callerid_name.clone())
            }
            Some(u) => (
                self.a.checked.from.uri.user.clone().unwrap_or_default(),
                u.callerid_name.clone(),
            ),
            None => (
                self.a.checked.from.uri.user.clone().unwrap_or_default(),
                String::new(),
            ),
        };
        let caller = Caller {
            number: &number,
            name: &name,
            host: &self.a.host,
            max_forwards: self.a.checked.max_forwards.unwrap_or(70).saturating_sub(1),
            offer,
            from_domain: None,
        };
        let mut forks = Vec::new();
        self.dial_users = targets
            .iter()
            .filter_map(|r| Some((r.target.clone(), r.user.clone()?)))
            .collect();
        for r in targets {
            if let Some(slot) = r.slot {
                self.dial_slots.push((r.target.clone(), slot));
            }
            let number = self
                .dial_numbers
                .iter()
                .find(|(peer, _)| *peer == r.target)
                .map(|(_, n)| n.clone());
            // A trunk: From as its sip.conf says; its challenges answered.
            let trunk = r.trunk.as_ref();
            let caller = Caller {
                number: trunk
                    .map(|t| t.fromuser.as_str())
                    .filter(|u| !u.is_empty())
                    .unwrap_or(caller.number),
                from_domain: trunk
                    .map(|t| t.fromdomain.as_str())
                    .filter(|d| !d.is_empty()),
                offer: caller.offer.clone(),
                ..caller
            };
            for contact in &r.contacts {
                let contact = &with_number(contact, number.as_deref());
                let Some((mut fork, invite)) = Fork::start(&r.target, contact, &caller) else {
                    continue;
                };
                fork.signs_as = trunk.filter(|t| t.can_sign).map(|_| r.target.clone());
                let call_id = fork.dialog.call_id.clone();
                self.out.push(Action::Route(call_id.clone()));
                self.entry.add_leg(asterism_proto::edge::LegInfo {
                    call_id,
                    role: "callee".into(),
                    remote: contact.flow.remote.to_string(),
                    transport: contact.flow.kind.as_str().into(),
                    state: "calling".into(),
                });
                self.out.push(Action::Core(invite));
                tracing::debug!(target = %r.target, contact = %contact.uri, "B leg INVITE sent");
                forks.push(fork);
            }
        }
        if forks.is_empty() {
            self.dial_slots.clear();
            self.drop_relay();
            return self.result(with_status(StepStatus::Ok, "CHANUNAVAIL"));
        }
        self.forks = forks;
        self.state = CallState::Dialing {
            deadline: now + timeout,
        };
    }
}

fn app_name(app: &step::App) -> &'static str {
    match app {
        step::App::Dial(_) => "Dial",
        step::App::Answer(_) => "Answer",
        step::App::Playback(_) => "Playback",
        step::App::Echo(_) => "Echo",
        step::App::Hangup(_) => "Hangup",
        step::App::Wait(_) => "Wait",
        _ => "other",
    }
}

/// The contact, asked for `number` (`SIP/peer/number`): its Request-URI's
/// user replaced, as chan_sip dials a peer's extension.
fn with_number(contact: &Contact, number: Option<&str>) -> Contact {
    let mut c = contact.clone();
    let (Some(n), Ok(uri)) = (number, asterism_sip::Uri::parse(&c.uri)) else {
        return c;
    };
    // The user escaped as we escape the users we put in URIs.
    let Some(user) = asterism_sip::Uri::sip(n, "h")
        .and_then(|u| Some(u.raw.strip_prefix("sip:")?.strip_suffix("@h")?.to_owned()))
    else {
        return c;
    };
    let Some((scheme, rest)) = c.uri.split_once(':') else {
        return c;
    };
    let host_part = match uri.user {
        Some(_) => rest.split_once('@').map(|(_, h)| h).unwrap_or(rest),
        None => rest,
    };
    c.uri = format!("{scheme}:{user}@{host_part}");
    c
}
