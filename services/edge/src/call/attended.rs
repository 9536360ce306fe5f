//! Attended transfer (REFER with `Replaces`, RFC 3891) between two calls of
//! one edge, as chan_sip's `local_attended_transfer`: bob talks to alice
//! (this call, bob its called party), puts her on hold and calls carol
//! (another call, bob its caller), then REFERs alice with `Replaces`
//! naming his dialog with carol. After the 202 this call asks the other
//! for carol's leg (the core knows which task owns that Call-ID); the
//! other gives it up (its dialplan ends as if bob hung up, his dialog
//! there waits for his BYE), and this one bridges alice and carol through
//! a new relay: both are re-INVITEd with the relay's SDP and the relay
//! learns their answers. Bob gets one NOTIFY: `200 OK` once carol's leg is
//! here, `481 Call leg/transaction does not exist` when no call of this
//! edge has that dialog (chan_sip's answer for a dialog it does not know),
//! `503 Service Unavailable` when that call is not bridged with bob as its
//! caller. Other shapes (bob the caller here, or the called party there)
//! are declined with 603 and a warning. The other call gives carol only
//! to the sip.conf user that is its caller: a Call-ID is no credential.

use super::a_leg::{core, AState};
use super::backends::{BackendError, MediaSession, RelaySdp};
use super::bridge::Side;
use super::events::{Action, Ask};
use super::forks::Fork;
use super::machine::{CallState, Machine};
use super::steps::with_status;
use crate::command::{Command, LegEvent};
use crate::reply::Replier;
use asterism_proto::common::User;
use asterism_proto::router::StepStatus;
use asterism_sip::message::Response;
use asterism_sip::transaction::{ClientKey, TsxKey};
use asterism_sip::Request;
use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// The party one call hands another (carol's answered leg).
pub struct Handed {
    pub(crate) fork: Fork,
    pub(crate) user: Option<User>,
}

impl std::fmt::Debug for Handed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Handed({})", self.fork.target)
    }
}

/// An attended transfer under way in the call that got the REFER.
pub struct Merge {
    /// The REFER's CSeq: the NOTIFY's `Event: refer;id=`.
    id: u32,
    /// Our re-INVITEs to both parties: key, side, CSeq, answered.
    invites: Vec<(ClientKey, Side, u32, bool)>,
    /// The caller is unanswered (a pickup): it is answered with the
    /// relay's SDP instead of re-INVITEd, and nobody is NOTIFYed.
    answer_caller: bool,
    /// While the other call is asked for its party: until when.
    asking: Option<Instant>,
}

impl Merge {
    /// The merge of a pickup: the caller gets its first answer.
    pub fn answering() -> Merge {
        Merge {
            id: 0,
            invites: Vec::new(),
            answer_caller: true,
            asking: None,
        }
    }
}

impl Machine {
    /// A REFER with `Replaces` naming dialog `call_id`, from `from`.
    pub(super) fn attended_refer(
        &mut self,
        from: Side,
        (key, replier): (TsxKey, Replier),
        req: &Request,
        call_id: String,
    ) {
        let respond = |out: &mut Vec<Action>, code: u16, reason: &str| {
            let response = replier.reply_with(code, reason);
            core(out, Command::Respond { key, response });
        };
        let shape = from == Side::Callee
            && self.state == CallState::Bridged
            && self.callee.is_some()
            && self.a.state == AState::Answered;
        if !shape {
            tracing::warn!(
                ?from,
                "attended transfer by the caller, or of a call not bridged: declined"
            );
            return respond(&mut self.out, 603, "Declined (attended transfer)");
        }
        let id = asterism_sip::header::CSeq::of(&req.headers).map_or(0, |c| c.seq);
        respond(&mut self.out, 202, "Accepted");
        let own = call_id == self.a.checked.call_id
            || self
                .callee
                .as_ref()
                .is_some_and(|c| c.dialog.call_id == call_id);
        if own {
            tracing::warn!("attended transfer replacing its own dialog");
            return self.notify_refer(from, id, "404 Not found");
        }
        tracing::info!(replaces = %call_id, "attended transfer asked");
        self.merge = Some(Merge {
            id,
            invites: Vec::new(),
            answer_caller: false,
            asking: Some(Instant::now() + super::pickup::ASK_WAIT),
        });
        let by = self
            .user_of(from)
            .map(|u| u.name.clone())
            .unwrap_or_default();
        self.out.push(Action::Replace { call_id, by });
    }

    /// Another call asks for the party our dialog `call_id` talks to, for
    /// sip.conf user `by`: the called party is handed over when our caller
    /// is `by` (a Call-ID alone proves nothing) and owns that dialog.
    pub(super) fn give_party(
        &mut self,
        (call_id, by): (&str, &str),
        reply: mpsc::Sender<LegEvent>,
        now: Instant,
    ) {
        let ok = self.state == CallState::Bridged
            && self.a.state == AState::Answered
            && self.a.checked.call_id == call_id
            && !by.is_empty()
            && self.user.as_ref().is_some_and(|u| u.name == by && !u.guest)
            && self.refer.is_none()
            && self.merge.is_none();
        let fork = if ok { self.callee.take() } else { None };
        let Some(fork) = fork else {
            tracing::info!("attended transfer asked for a party this call cannot give");
            return self.out.push(Action::Tell(reply, LegEvent::Replaced(None)));
        };
        tracing::info!(callee = %fork.target, "attended transfer: the called party goes to the other call");
        let user = self.user_of_target(&fork.target).cloned();
        self.out.push(Action::Unroute(fork.dialog.call_id.clone()));
        self.a.state = AState::Gone;
        if let Some(d) = self.a.dialog.clone() {
            self.leave(d, now);
        }
        self.result(with_status(StepStatus::CallerHungUp, "ANSWER"));
        let handed = Handed { fork, user };
        let event = LegEvent::Replaced(Some(Box::new(handed)));
        self.out.push(Action::Tell(reply, event));
    }

    /// When the wait for the other call's answer ends.
    pub(super) fn merge_deadline(&self) -> Option<Instant> {
        self.merge.as_ref()?.asking
    }

    /// The other call never answered (it ended meanwhile): the transfer
    /// fails and the call goes on.
    pub(super) fn on_merge_timer(&mut self, now: Instant) {
        let Some(id) = self.merge.as_ref().map(|m| m.id) else {
            return;
        };
        if self.merge_deadline().is_none_or(|at| now < at) {
            return;
        }
        tracing::warn!("attended transfer: the replaced call did not answer");
        self.merge = None;
        self.notify_refer(Side::Callee, id, "503 Service Unavailable");
    }

    /// The other call's answer: bridge our caller with the party handed
    /// over, or tell the transferer why not.
    pub(super) fn took_party(&mut self, handed: Option<Box<Handed>>, now: Instant) {
        if let Some(m) = self.merge.as_mut() {
            m.asking = None;
        }
        let Some(id) = self.merge.as_ref().map(|m| m.id) else {
            if let Some(mut h) = handed {
                let k = h.fork.bye(&mut self.out);
                self.byes.push(k);
            }
            return;
        };
        let Some(h) = handed else {
            self.merge = None;
            return self.notify_refer(Side::Callee, id, "481 Call leg/transaction does not exist");
        };
        let mut h = *h;
        let still = self.state == CallState::Bridged
            && self.callee.is_some()
            && self.a.state == AState::Answered;
        if !still {
            self.merge = None;
            let k = h.fork.bye(&mut self.out);
            self.byes.push(k);
            return self.notify_refer(Side::Callee, id, "503 Service Unavailable");
        }
        self.notify_refer(Side::Callee, id, "200 OK");
        if let Some(transferer) = self.callee.take() {
            self.leave(transferer.dialog, now);
        }
        let target = h.fork.target.clone();
        self.out.push(Action::Route(h.fork.dialog.call_id.clone()));
        self.entry.leg_state(&h.fork.dialog.call_id, "confirmed");
        if let Some(u) = h.user.take() {
            self.dial_users.push((target.clone(), u));
        }
        self.callee = Some(h.fork);
        if let Some(s) = self.media.take() {
            self.out.push(Action::Ask(0, Ask::CloseMedia(s)));
        }
        self.anchor = None;
        self.open_merge_relay();
    }

    /// The relay for the two parties: re-INVITE each with its side's SDP.
    pub(super) fn merge_opened(&mut self, r: Result<(MediaSession, RelaySdp), BackendError>) {
        let (session, sdp) = match r {
            Ok(x) => x,
            Err(e) => return self.merge_failed(e.text()),
        };
        self.out
            .push(Action::Ask(0, Ask::WatchMedia(session.clone())));
        self.media = Some(session);
        self.anchor = Some(super::anchor::Anchor {
            to_caller: sdp.caller_answer.clone(),
            to_callee: sdp.callee_offer.clone(),
            caller_has_it: true,
        });
        let answer_caller = self.merge.as_ref().is_some_and(|m| m.answer_caller);
        let mut parties = vec![(Side::Callee, sdp.callee_offer)];
        if answer_caller {
            let ours = Some(("application/sdp".to_owned(), Bytes::from(sdp.caller_answer)));
            self.a.answer(&mut self.out, ours, Instant::now());
            self.entry.leg_state(&self.a.checked.call_id, "confirmed");
        } else {
            parties.insert(0, (Side::Caller, sdp.caller_answer));
        }
        let mut invites = Vec::new();
        for (side, body) in parties {
            match self.reinvite(side, body) {
                Some((key, seq)) => invites.push((key, side, seq, false)),
                None => return self.merge_failed("a party's dialog is gone"),
            }
        }
        if let Some(m) = self.merge.as_mut() {
            m.invites = invites;
        }
    }

    /// Whether `key` is one of the merge's re-INVITEs; if so, its answer
    /// (None: none came) is taken.
    pub(super) fn merge_answered(&mut self, key: &ClientKey, r: Option<&Response>) -> bool {
        let Some(m) = self.merge.as_mut() else {
            return false;
        };
        let Some(i) = m.invites.iter().position(|x| x.0 == *key) else {
            return false;
        };
        let code = r.map_or(408, |r| r.code);
        if code < 200 {
            return true;
        }
        if code >= 300 {
            self.merge_failed("a party refused the re-INVITE");
            return true;
        }
        m.invites[i].3 = true;
        let (side, seq) = (m.invites[i].1, m.invites[i].2);
        let done = m.invites.iter().all(|x| x.3);
        self.remember_reinvite(key.clone(), side, seq);
        if let Some(r) = r {
            self.ack_in(side, r, seq);
            if let (Some(session), false) = (self.media.clone(), r.body.is_empty()) {
                let ask = Ask::UpdateRelay {
                    session,
                    side,
                    sdp: String::from_utf8_lossy(&r.body).into_owned(),
                    reply: None,
                };
                self.out.push(Action::Ask(0, ask));
            }
        }
        if done {
            tracing::info!("attended transfer done: the two parties are bridged");
            self.merge = None;
            self.state = CallState::Bridged;
            self.entry.state("answered");
        }
        true
    }

    /// The two could not be bridged: both are hung up.
    pub(super) fn merge_failed(&mut self, why: &str) {
        tracing::warn!(why, "attended transfer failed after the NOTIFY: hanging up");
        self.merge = None;
        self.hang_up_callee();
        self.bye_caller();
        self.result(with_status(StepStatus::CallerHungUp, "ANSWER"));
    }

    /// The sip.conf user of Dial target `target`.
    pub(super) fn user_of_target(&self, target: &str) -> Option<&User> {
        self.dial_users
            .iter()
            .find(|(t, _)| t == target)
            .map(|(_, u)| u)
    }
}
