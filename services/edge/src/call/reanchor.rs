//! A transferred phone whose media flowed phone to phone gets a media
//! session of its own before it goes on in the dialplan: its SDP (the
//! caller's offer, the called party's answer) opens a session, and a
//! re-INVITE offers it the session's SDP (the codec the session chose,
//! RFC 4733 events), as Asterisk re-INVITEs a natively bridged phone back
//! to itself when the bridge breaks. Once the phone's 2xx is ACKed, the
//! transferee is the call's party with a session, as after `Answer`: the
//! next `Dial` anchors on it, `Playback` plays on it. A refused re-INVITE,
//! no answer, or no media instance hangs the transferee up (the NOTIFY
//! already told the transferer the transfer was done, as Asterisk's
//! does before the transferee runs).

use super::a_leg::send_in;
use super::backends::{BackendError, MediaAsk, MediaPrefs, MediaSession};
use super::bridge::Side;
use super::events::{Action, Ask};
use super::machine::{CallState, Machine};
use super::steps::with_status;
use crate::command::Command;
use asterism_proto::router::StepStatus;
use asterism_sip::message::Response;
use asterism_sip::transaction::ClientKey;
use asterism_sip::{HeaderName, Method};
use bytes::Bytes;

/// A transferee being moved onto a session of its own.
pub struct Reanchor {
    side: Side,
    context: String,
    exten: String,
    /// Our re-INVITE, once sent: its key and CSeq (for the ACK).
    invite: Option<(ClientKey, u32)>,
}

impl Machine {
    /// Open a session for the transferee on `side`, then re-INVITE it.
    pub(super) fn reanchor(&mut self, side: Side, context: String, exten: String) {
        let (sdp, call_id) = match side {
            Side::Caller => (self.a.offer(), self.a.checked.call_id.clone()),
            Side::Callee => match self.callee.as_ref() {
                Some(c) => (c.answer.clone(), c.dialog.call_id.clone()),
                None => (None, String::new()),
            },
        };
        self.reanchoring = Some(Reanchor {
            side,
            context,
            exten,
            invite: None,
        });
        self.state = CallState::Transferring;
        let Some((_, sdp)) = sdp else {
            tracing::warn!("transferee's SDP unknown: hung up");
            return self.reanchor_failed();
        };
        let caller = self.user_of(side).map(MediaPrefs::of).unwrap_or_default();
        self.ask(Ask::OpenMedia(MediaAsk {
            call_id,
            offer: String::from_utf8_lossy(&sdp).into_owned(),
            host: self.a.host.clone(),
            caller,
            callee: MediaPrefs::default(),
            from: None,
        }));
    }

    /// The transferee's session is open: offer it in a re-INVITE.
    pub(super) fn reanchor_opened(&mut self, m: Result<(MediaSession, String), BackendError>) {
        let (session, sdp) = match m {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = e.text(), "no media for the transferee: hung up");
                return self.reanchor_failed();
            }
        };
        self.out
            .push(Action::Ask(0, Ask::WatchMedia(session.clone())));
        self.media = Some(session);
        let Some(side) = self.reanchoring.as_ref().map(|r| r.side) else {
            return;
        };
        let Some((key, seq)) = self.reinvite(side, sdp) else {
            return self.reanchor_failed();
        };
        if let Some(r) = self.reanchoring.as_mut() {
            r.invite = Some((key, seq));
        }
    }

    /// A re-INVITE offering `sdp` in the dialog of `side`: its key and
    /// CSeq; None without that dialog.
    pub(super) fn reinvite(&mut self, side: Side, sdp: String) -> Option<(ClientKey, u32)> {
        let d = match side {
            Side::Caller => self.a.dialog.as_mut(),
            Side::Callee => self.callee.as_mut().map(|c| &mut c.dialog),
        }?;
        let (key, mut req) = d.request(Method::INVITE);
        let h = &mut req.headers;
        h.push(HeaderName::ContentType, "application/sdp");
        h.push(HeaderName::Allow, crate::reply::ALLOW);
        req.body = Bytes::from(sdp);
        crate::trace::inject_via_peer(&mut req, &d.route_set, &tracing::Span::current());
        let (flow, seq) = (d.flow, d.local_cseq);
        let command = Command::Request {
            key: key.clone(),
            flow,
            request: req,
        };
        self.out.push(Action::Core(command));
        Some((key, seq))
    }

    /// Whether `key` is our re-INVITE to the transferee; if so, its answer
    /// (`None`: no answer at all) is taken.
    pub(super) fn reanchor_answered(&mut self, key: &ClientKey, r: Option<&Response>) -> bool {
        let ours = self
            .reanchoring
            .as_ref()
            .and_then(|x| x.invite.as_ref())
            .is_some_and(|(k, _)| k == key);
        if !ours {
            return self.re_ack_transferee(key, r);
        }
        let code = r.map_or(408, |r| r.code);
        if code < 200 {
            return true;
        }
        let Some(x) = self.reanchoring.take() else {
            return true;
        };
        let Some((key, seq)) = x.invite else {
            return true;
        };
        if code >= 300 {
            tracing::warn!(code, "transferee refused its new media: hung up");
            self.reanchoring = Some(Reanchor { invite: None, ..x });
            self.reanchor_failed();
            return true;
        }
        if let Some(r) = r {
            self.ack_in(x.side, r, seq);
        }
        // The transferee is the call's caller leg by now (either side).
        self.remember_reinvite(key, Side::Caller, seq);
        match x.side {
            Side::Caller => self.result(super::refer::transferred(x.exten, x.context)),
            Side::Callee => {
                if let Some(callee) = self.callee.take() {
                    self.callee_runs_dialplan(callee, x.context, x.exten);
                }
            }
        }
        true
    }

    /// ACK a 2xx of our re-INVITE (CSeq `seq`) in the dialog of `side`.
    pub(super) fn ack_in(&mut self, side: Side, r: &Response, seq: u32) {
        let dialog = match side {
            Side::Caller => self.a.dialog.as_mut(),
            Side::Callee => self.callee.as_mut().map(|c| &mut c.dialog),
        };
        if let Some(d) = dialog {
            super::bridge::ack_2xx(&mut self.out, d, r, seq);
        }
    }

    /// A re-INVITE of ours answered and ACKed: a retransmitted 2xx of it
    /// is ACKed again in the dialog of `side` (the last few are kept).
    pub(super) fn remember_reinvite(&mut self, key: ClientKey, side: Side, seq: u32) {
        if self.acked_reinvites.len() >= 4 {
            self.acked_reinvites.remove(0);
        }
        self.acked_reinvites.push((key, side, seq));
    }

    /// A party retransmits the 2xx of one of our re-INVITEs (our ACK was
    /// lost): ACK it again. Whether it was that.
    fn re_ack_transferee(&mut self, key: &ClientKey, r: Option<&Response>) -> bool {
        let Some(r) = r.filter(|r| (200..300).contains(&r.code)) else {
            return false;
        };
        let Some(&(_, side, seq)) = self.acked_reinvites.iter().find(|(k, _, _)| k == key) else {
            return false;
        };
        self.ack_in(side, r, seq);
        true
    }

    /// The transferee could not be moved: hang it up. A caller's Dial ends
    /// as if it hung up; a called party's dialplan never started (the
    /// caller's ended with the transfer), so the call ends.
    pub(super) fn reanchor_failed(&mut self) {
        let Some(x) = self.reanchoring.take() else {
            return;
        };
        match x.side {
            Side::Caller => {
                self.bye_caller();
                self.result(with_status(StepStatus::CallerHungUp, "ANSWER"));
            }
            Side::Callee => {
                if let Some(mut c) = self.callee.take() {
                    let k = send_in(&mut self.out, &mut c.dialog, Method::BYE);
                    self.byes.push(k);
                }
                self.ending_now();
            }
        }
    }

    /// The transferee hung up while being moved.
    pub(super) fn transferee_gone(&mut self) {
        let Some(x) = self.reanchoring.take() else {
            return;
        };
        match x.side {
            Side::Caller => self.result(with_status(StepStatus::CallerHungUp, "ANSWER")),
            Side::Callee => self.ending_now(),
        }
    }

    fn ending_now(&mut self) {
        self.let_go(None);
        self.state = CallState::Ending {
            until: tokio::time::Instant::now() + super::machine::BYE_WAIT,
        };
    }
}
