//! The machine while it dials: the B legs' answers (ringing passed on,
//! the first 2xx wins and is bridged, the others cancelled), DIALSTATUS
//! once every leg answered, and late answers of the losers.

use super::a_leg::AState;
use super::backends::BackendError;
use super::events::{Action, Ask};
use super::forks::{dial_status, sdp_of, ForkState};
use super::machine::{CallState, Machine};
use super::steps::{hung_up, with_status};
use asterism_proto::router::StepStatus;
use asterism_sip::message::Response;
use asterism_sip::transaction::ClientKey;
use asterism_sip::HeaderName;
use tokio::time::Instant;

impl Machine {
    pub(super) fn on_fork_response(&mut self, i: usize, r: &Response, now: Instant) {
        match r.code {
            100 => {}
            101..=199 => {
                let was_calling = self.forks[i].state == ForkState::Calling;
                if self.forks[i].on_provisional(&mut self.out) {
                    if was_calling {
                        self.entry.leg_state(&self.forks[i].dialog.call_id, "early");
                        self.entry.state("ringing");
                    }
                    let code = if r.code == 183 { 183 } else { 180 };
                    let sdp = self.for_caller(sdp_of(r), false);
                    // Dial's m: the caller hears music, not the callee's ringing.
                    if self.dial_music.is_none() {
                        self.a.provisional(&mut self.out, code, sdp);
                    }
                }
            }
            200..=299 => return self.win(i, r, now),
            401 | 407 if self.forks[i].signs_as.is_some() => return self.answer_challenge(i, r),
            code => self.forks[i].settle(code),
        }
        self.dial_over();
    }

    /// A trunk challenged B leg `i`: the registrar signs, then the INVITE
    /// goes again ([`Machine::signed`]); the leg is not over meanwhile.
    fn answer_challenge(&mut self, i: usize, r: &Response) {
        let proxy = r.code == 407;
        let header = if proxy {
            HeaderName::ProxyAuthenticate
        } else {
            HeaderName::WwwAuthenticate
        };
        let challenge = r.headers.get(&header).unwrap_or_default().to_owned();
        let fork = &mut self.forks[i];
        let Some(peer) = fork.challenged() else {
            return;
        };
        let (key, uri) = (fork.key.clone(), fork.invite.uri.clone());
        tracing::debug!(%peer, code = r.code, "trunk challenged the INVITE: answering");
        let ask = Ask::Sign {
            key,
            peer,
            uri,
            challenge,
            proxy,
        };
        self.out.push(Action::Ask(0, ask));
    }

    /// The registrar answered a trunk's challenge to B leg `key`: the
    /// INVITE again with it, unless the leg was cancelled meanwhile or no
    /// answer could be made (then the challenge is the leg's answer).
    pub(super) fn signed(&mut self, key: &ClientKey, proxy: bool, r: Result<String, BackendError>) {
        let code = if proxy { 407 } else { 401 };
        if let Some(f) = self.losers.iter_mut().find(|f| f.key == *key && f.signing) {
            f.signing = false;
            return f.settle(487);
        }
        let Some(i) = self.forks.iter().position(|f| f.key == *key && f.signing) else {
            return;
        };
        match r {
            Ok(auth) if !self.forks[i].cancel_pending => {
                let c = self.forks[i].with_credentials(proxy, auth);
                self.out.push(Action::Core(c));
            }
            Ok(_) => self.forks[i].settle(487),
            Err(e) => {
                tracing::warn!(error = e.text(), "trunk's challenge not answered");
                self.forks[i].settle(code);
            }
        }
        self.dial_over();
    }

    /// A B leg answered: ACK it, answer the caller with its SDP, cancel
    /// the other legs, and bridge the two.
    fn win(&mut self, i: usize, r: &Response, now: Instant) {
        let mut winner = self.forks.remove(i);
        winner.settled = true;
        if let Some(at) = self
            .dial_slots
            .iter()
            .position(|(t, _)| *t == winner.target)
        {
            let (_, slot) = self.dial_slots.swap_remove(at);
            self.slots.push(slot);
        }
        self.dial_slots.clear();
        winner.finished(r.code);
        winner.answer = sdp_of(r);
        winner.ack(&mut self.out, r);
        for f in &mut self.forks {
            f.cancel(&mut self.out);
        }
        self.losers.append(&mut self.forks);
        self.stop_dial_music();
        let kept = self.anchor.as_ref().is_some_and(|a| a.caller_has_it);
        match self.a.state {
            AState::Early => {
                let sdp = self.for_caller(sdp_of(r), true);
                self.a.answer(&mut self.out, sdp, now);
            }
            // Answered before the Dial: the relay holding the caller's
            // session learns the callee's SDP; the caller keeps its own.
            AState::Answered if kept => {
                let _ = self.for_caller(sdp_of(r), true);
            }
            _ => {
                // The caller left: hang the callee up.
                let k = winner.bye(&mut self.out);
                self.byes.push(k);
                return self.result(hung_up());
            }
        }
        self.entry.state("answered");
        self.entry.leg_state(&winner.dialog.call_id, "confirmed");
        self.entry.leg_state(&self.a.checked.call_id, "confirmed");
        // Per call, so `debug`: at the default level a log line is
        // something to act on, as in Asterisk's default `messages` log.
        tracing::debug!(callee = %winner.dialog.call_id, "call answered and bridged");
        self.callee = Some(winner);
        self.state = CallState::Bridged;
        self.start_limit(now);
        if let Some(s) = self.media.clone().filter(|_| self.transfers.is_some()) {
            self.out.push(Action::Ask(0, Ask::WatchDtmf(s)));
        }
    }

    /// Every B leg gave a final answer: DIALSTATUS from their codes.
    pub(super) fn dial_over(&mut self) {
        if !matches!(self.state, CallState::Dialing { .. }) {
            return;
        }
        let codes: Vec<u16> = self
            .forks
            .iter()
            .filter_map(|f| match f.state {
                ForkState::Done(c) => Some(c),
                _ => None,
            })
            .collect();
        if codes.len() == self.forks.len() {
            self.losers.append(&mut self.forks);
            self.dial_slots.clear();
            self.drop_relay();
            self.result(with_status(StepStatus::Ok, dial_status(&codes)));
        }
    }

    /// A late answer from a leg that lost or was cancelled: ACK and BYE a
    /// 2xx; send an owed CANCEL once it rings.
    pub(super) fn stray_answer(&mut self, key: &ClientKey, r: &Response) {
        let Some(i) = self.losers.iter().position(|f| f.is_invite_response(key)) else {
            return;
        };
        match r.code {
            101..=199 if self.losers[i].cancel_pending => {
                self.losers[i].on_provisional(&mut self.out);
            }
            200..=299 => {
                let mut f = self.losers.remove(i);
                f.ack(&mut self.out, r);
                let k = f.bye(&mut self.out);
                self.byes.push(k);
            }
            300.. => self.losers[i].settled = true,
            _ => {}
        }
    }
}
