//! What a call does with any event in any state: the B2BUA as one sans-IO
//! state machine. [`Machine::handle`] takes every input (the legs' requests,
//! responses and timeouts, backend answers, router steps, timers) and
//! returns the [`Action`]s to perform; its task (`driver.rs`) performs them
//! and feeds the results back. Nothing here awaits, so tests drive it with
//! paused time and fake backends.
//!
//! The life of a call: `Authenticating` (the registrar checks the INVITE's
//! digest; 401/403/503 end it) → `Admitting` (a call-limit slot, if the
//! caller has a limit) → `Starting` (the router's dialplan stream opens) →
//! steps, each from `AwaitingStep` into the state that carries it out
//! (`Waiting`, `Answering`, `Playing`, `Echoing`, `Resolving` → `Dialing` →
//! `Bridged`) and back with a result → `Ending` (our BYEs answered) → `Done`.
//!
//! In every state: the caller's CANCEL (before the answer) and BYE end
//! what the state is doing with the result "caller hung up"; a request not
//! of the caller's dialog (wrong Call-ID tags, another transaction's
//! CANCEL) gets 481 and changes nothing; an out-of-order CSeq gets 500; a
//! late 2xx of a losing B leg gets ACK and BYE; a 200 to the caller is
//! retransmitted until its ACK and, without one after 64·T1, both legs are
//! hung up.

use super::a_leg::{ALeg, AState};
use super::backends::{AuthAnswer, MediaSession, Slot, SlotRefused};
use super::bridge::Relays;
use super::events::{Action, Answer, Ask, Event};
use super::forks::Fork;
use super::steps::{failed, hung_up, ok};
use crate::calls::CallEntry;
use crate::command::LegEvent;
use asterism_proto::common::User;
use asterism_proto::router::{step, Step, StepResult};
use asterism_sip::message::Response;
use asterism_sip::transaction::ClientKey;
use std::time::Duration;
use tokio::time::Instant;

/// How long our BYEs' answers are awaited before the call is let go.
pub const BYE_WAIT: Duration = Duration::from_secs(5);

/// What Answer, Playback or Echo go on with once the media session is open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Then {
    Answer,
    Play(Vec<String>),
    Echo,
    /// MusicOnHold: this class to the caller until then.
    Music(String, Instant),
    /// Pickup(): answered to be handed to the ringing call.
    Pickup,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallState {
    Authenticating,
    Admitting,
    Starting,
    AwaitingStep,
    Waiting {
        until: Instant,
    },
    Answering {
        then: Then,
    },
    Playing,
    Echoing,
    Resolving {
        timeout: Duration,
    },
    /// A relay is being opened for the Dial's anchored media.
    Anchoring {
        timeout: Duration,
    },
    Dialing {
        deadline: Instant,
    },
    Bridged,
    /// The caller transferred the callee: the relay's legs are swapping.
    Swapping,
    /// A REFER's transferee is moved onto a media session of its own.
    Transferring,
    /// An attended transfer: the caller and the party handed over are
    /// re-INVITEd onto a new relay.
    Merging,
    /// `Pickup()`: waiting for the ringing call's answer, then for the
    /// picker's answer and ACK before it is handed over.
    PickingUp,
    /// Picked up by another call: our Dial stopped ringing and waits for
    /// the picker's leg.
    AwaitingPickup {
        until: Instant,
    },
    /// `Transfer()`: our REFER to the caller, waiting for the outcome (its
    /// answer, then the phone's NOTIFYs).
    Referring {
        key: ClientKey,
    },
    Ending {
        until: Instant,
    },
    Done,
}

pub struct Machine {
    pub state: CallState,
    pub(super) a: ALeg,
    pub(super) retry_after: u32,
    pub(super) user: Option<User>,
    /// The B legs of the Dial under way.
    pub(super) forks: Vec<Fork>,
    /// B legs that lost or were cancelled: a late 2xx gets ACK and BYE.
    pub(super) losers: Vec<Fork>,
    /// The B leg that answered, while its dialog lasts.
    pub(super) callee: Option<Fork>,
    pub(super) relays: Relays,
    /// Our BYEs (and a REFER's NOTIFYs) still unanswered.
    pub(super) byes: Vec<ClientKey>,
    pub(super) media: Option<MediaSession>,
    /// The Dial's relay, when its media is anchored (`media` is its session).
    pub(super) anchor: Option<super::anchor::Anchor>,
    /// The Dial's targets while its relay is being opened.
    pub(super) anchoring: Vec<super::backends::Resolved>,
    /// Dial's `m`: the music on hold class the caller hears while the
    /// Dial under way rings, instead of ringing.
    pub(super) dial_music: Option<String>,
    /// The order of the music requests sent to the relay.
    pub(super) music_seq: u64,
    /// MusicOnHold plays to the caller (stopped when the step ends).
    pub(super) caller_music: bool,
    /// Dial's `L` for the Dial under way, and once answered, running.
    pub(super) dial_limit: Option<asterism_proto::router::DialLimit>,
    pub(super) limit: Option<super::limit::Running>,
    /// Dial's `t`/`T`: who may transfer, a transfer being dialled.
    pub(super) transfers: Option<super::features::Transfers>,
    /// The Dial's targets' sip.conf users (a transferred callee's caller ID).
    pub(super) dial_users: Vec<(String, User)>,
    /// The caller transferred the callee: waiting for the relay's swap.
    pub(super) swap: Option<super::swap::Pending>,
    /// The Dial's transfer context (where a caller's REFER looks).
    pub(super) dial_context: String,
    /// A REFER whose extension the router is asked about.
    pub(super) refer: Option<super::refer::Refer>,
    /// The transferer's dialog after a REFER, until its BYE.
    pub(super) leaving: Option<super::refer::Leaving>,
    /// A REFER's transferee being re-INVITEd onto a session.
    pub(super) reanchoring: Option<super::reanchor::Reanchor>,
    /// An attended transfer under way (REFER with Replaces).
    pub(super) merge: Option<super::attended::Merge>,
    /// `Pickup()` under way (the picker's side).
    pub(super) picking: Option<super::pickup::Picking>,
    /// The dialplan place of the step under way (context, extension).
    pub(super) place: crate::pickups::Place,
    /// Listed in the edge's table of ringing calls.
    pub(super) listed: bool,
    /// The caller dialled `*8`: a pickup by group, no dialplan.
    pub(super) pickup_exten: bool,
    /// Our re-INVITEs of transfers once answered: key, side, CSeq (a
    /// retransmitted 2xx is ACKed again).
    pub(super) acked_reinvites: Vec<(ClientKey, super::bridge::Side, u32)>,
    /// call-limit slots held until the call ends.
    pub(super) slots: Vec<Slot>,
    /// Slots taken for the targets of the Dial under way.
    pub(super) dial_slots: Vec<(String, Slot)>,
    /// The number each Dial target asks its peer for (`SIP/peer/number`).
    pub(super) dial_numbers: Vec<(String, String)>,
    /// A place among the requests waiting on the registrar, until admitted.
    pub(super) admission: Option<tokio::sync::OwnedSemaphorePermit>,
    /// The router's id of the step under way.
    pub(super) step_id: u64,
    /// TIMEOUT(absolute): when the step under way is stopped.
    pub(super) hangup_at: Option<Instant>,
    /// The id of the latest backend request: older answers are stale.
    pub(super) op: u64,
    pub(super) entry: CallEntry,
    pub(super) out: Vec<Action>,
    done_sent: bool,
}

impl Machine {
    pub fn new(a: ALeg, entry: CallEntry, retry_after: u32) -> Machine {
        Machine {
            state: CallState::Authenticating,
            a,
            retry_after,
            user: None,
            forks: Vec::new(),
            losers: Vec::new(),
            callee: None,
            relays: Relays::default(),
            byes: Vec::new(),
            media: None,
            anchor: None,
            anchoring: Vec::new(),
            dial_music: None,
            music_seq: 0,
            caller_music: false,
            dial_limit: None,
            limit: None,
            transfers: None,
            dial_users: Vec::new(),
            swap: None,
            dial_context: String::new(),
            refer: None,
            leaving: None,
            reanchoring: None,
            merge: None,
            picking: None,
            place: Default::default(),
            listed: false,
            pickup_exten: false,
            acked_reinvites: Vec::new(),
            slots: Vec::new(),
            dial_slots: Vec::new(),
            dial_numbers: Vec::new(),
            admission: None,
            step_id: 0,
            hangup_at: None,
            op: 0,
            entry,
            out: Vec::new(),
            done_sent: false,
        }
    }

    /// Hold `permit` until the caller is admitted (see `Ctx::pending`).
    pub fn hold(&mut self, permit: Option<tokio::sync::OwnedSemaphorePermit>) {
        self.admission = permit;
    }

    /// Take one event; the actions it calls for.
    pub fn handle(&mut self, event: Event, now: Instant) -> Vec<Action> {
        match event {
            Event::Start => self.start(),
            Event::Leg(LegEvent::Request {
                key,
                flow,
                request,
                checked,
            }) => self.on_request(key, flow, &request, &checked),
            Event::Leg(LegEvent::Response { key, response }) => {
                self.on_response(&key, &response, now)
            }
            Event::Leg(LegEvent::Timeout { key }) => self.on_timeout(&key),
            Event::Leg(LegEvent::Replace { call_id, by, reply }) => {
                self.give_party((&call_id, &by), reply, now)
            }
            Event::Leg(LegEvent::Replaced(handed)) => self.took_party(handed, now),
            Event::Leg(LegEvent::PickupAsk { reply }) => self.pickup_asked(reply, now),
            Event::Leg(LegEvent::PickupReply(ringing)) => self.pickup_reply(ringing, now),
            Event::Leg(LegEvent::PickedUp(handed)) => self.picked_up(handed, now),
            Event::Answer(_, Answer::MediaLost(id)) => self.media_lost(&id),
            Event::Answer(_, Answer::Dtmf(side, d)) => self.on_dtmf(side, d, now),
            Event::Answer(_, Answer::Matched(exten, r)) => self.matched(&exten, r, now),
            Event::Answer(_, Answer::RelayUpdated(reply, r)) => self.relay_updated(reply, r),
            Event::Answer(_, Answer::Signed(key, proxy, r)) => self.signed(&key, proxy, r),
            Event::Answer(op, answer) if op == self.op => self.on_answer(answer, now),
            Event::Answer(_, answer) => self.stale(answer),
            Event::Step(step) => self.on_step(step, now),
            Event::RouterGone => {
                tracing::warn!("router gone mid-call: ending it");
                self.end(503, now);
            }
            Event::Timer => self.on_timer(now),
        }
        self.settle();
        std::mem::take(&mut self.out)
    }

    /// The earliest time the machine wants an [`Event::Timer`].
    pub fn next_deadline(&self) -> Option<Instant> {
        let state = match &self.state {
            CallState::Waiting { until } | CallState::Ending { until } => Some(*until),
            CallState::Dialing { deadline } => Some(*deadline),
            _ => None,
        };
        let absolute = self.hangup_at.filter(|_| self.in_step());
        let features = self.transfer_deadline();
        let leaving = self.leaving.as_ref().map(|l| l.until);
        [
            state,
            self.a.deadline(),
            absolute,
            self.limit_deadline(),
            features,
            leaving,
            self.pickup_deadline(),
            self.merge_deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    pub fn is_done(&self) -> bool {
        self.state == CallState::Done
    }

    /// How the call went, for the `calls` metric.
    /// The status of the final response the caller got, once it got one.
    pub fn final_status(&self) -> Option<u16> {
        self.a.final_status
    }

    pub fn outcome(&self) -> &'static str {
        match self.a.state {
            AState::Early => "unanswered",
            _ if self.a.dialog.is_some() => "answered",
            _ => "refused",
        }
    }

    fn start(&mut self) {
        if let Some(code) = self.a.refuse_early() {
            let r = self.a.replier.reply(code);
            return self.refuse(r);
        }
        // Without credentials the challenge follows at once; with them the
        // registrar is asked first, so stop the phone's retransmissions.
        if self.a.has_credentials() {
            self.a.trying(&mut self.out);
        }
        let ask = super::steps::auth_ask(&self.a);
        self.ask(Ask::Authenticate(Box::new(ask)));
        self.state = CallState::Authenticating;
    }

    /// Refuse the INVITE before any dialplan ran (challenge, 403, 482, 483,
    /// 503): once, without retransmissions (a spoofed source gets one
    /// answer, not twelve), after giving up the Call-ID so the phone's next
    /// INVITE on it (the one with credentials) starts a call of its own.
    fn refuse(&mut self, r: Response) {
        let call_id = self.a.checked.call_id.clone();
        self.out.push(Action::Unroute(call_id));
        self.a.reject(&mut self.out, r);
        self.state = CallState::Done;
    }

    pub(super) fn ask(&mut self, ask: Ask) {
        self.op += 1;
        self.out.push(Action::Ask(self.op, ask));
    }

    fn on_answer(&mut self, answer: Answer, now: Instant) {
        match (answer, &self.state) {
            (Answer::Auth(a), CallState::Authenticating) => match a {
                Ok(AuthAnswer::Ok(user)) => self.authenticated(*user),
                Ok(AuthAnswer::Challenge(www)) => {
                    let mut r = self.a.replier.reply(401);
                    r.headers
                        .push(asterism_sip::HeaderName::WwwAuthenticate, www);
                    self.refuse(r)
                }
                Ok(AuthAnswer::Refused) => self.refuse(self.a.replier.reply(403)),
                Err(e) => {
                    tracing::warn!(
                        error = e.text(),
                        "registrar failed during INVITE authentication"
                    );
                    self.refuse(e.response(&self.a.replier, self.retry_after))
                }
            },
            (Answer::Slot(s), CallState::Admitting) => match s {
                Ok(slot) => {
                    self.slots.push(slot);
                    self.admitted();
                }
                Err(SlotRefused::Full) => {
                    let reason = Some("Temporarily Unavailable (Call limit)");
                    self.a.fail_with(&mut self.out, 480, reason);
                    self.state = CallState::Done;
                }
                Err(SlotRefused::Backend(e)) => {
                    let r = e.response(&self.a.replier, self.retry_after);
                    self.a.fail(&mut self.out, r);
                    self.state = CallState::Done;
                }
            },
            (Answer::Dialplan(r), CallState::Starting) => match r {
                Ok(()) => self.state = CallState::AwaitingStep,
                Err(e) => {
                    tracing::warn!(error = e.text(), "router unavailable");
                    let r = e.response(&self.a.replier, self.retry_after);
                    self.a.fail(&mut self.out, r);
                    self.state = CallState::Done;
                }
            },
            (Answer::Resolved(targets), CallState::Resolving { timeout }) => {
                let timeout = *timeout;
                self.start_forks(targets, timeout, now)
            }
            (Answer::Relay(r), CallState::Anchoring { timeout }) => {
                let timeout = *timeout;
                self.relay_opened(r, timeout, now)
            }
            (Answer::Media(m), CallState::Answering { then }) => {
                let then = then.clone();
                self.media_opened(m, then, now)
            }
            (Answer::Played(r), CallState::Playing) => {
                let result = match r {
                    Ok(()) => ok(),
                    Err(e) => failed(e.text()),
                };
                self.result(result)
            }
            (Answer::Echoed(r), CallState::Echoing) => self.echoed(r),
            (Answer::Prompted(_), CallState::Bridged) => self.limit_reached(),
            (Answer::Swapped(r), CallState::Swapping) => self.swapped(r),
            (Answer::Media(m), CallState::Transferring) => self.reanchor_opened(m),
            (Answer::Relay(r), CallState::Merging) => self.merge_opened(r),
            (answer, state) => {
                tracing::debug!(?answer, ?state, "backend answer out of turn ignored");
                self.stale(answer)
            }
        }
    }

    /// An answer nobody waits for any more: a media session it opened is
    /// closed; slots are given back as they drop.
    fn stale(&mut self, answer: Answer) {
        if let Answer::Media(Ok((session, _))) = answer {
            return self.out.push(Action::Ask(0, Ask::CloseMedia(session)));
        }
        super::anchor::stale_relay(&answer, &mut self.out);
    }

    fn authenticated(&mut self, user: User) {
        let limited = user.call_limit > 0 && !user.guest;
        self.user = Some(user.clone());
        if limited {
            let call_id = self.a.checked.call_id.clone();
            self.ask(Ask::Slot {
                user: user.name,
                limit: user.call_limit,
                call_id,
            });
            self.state = CallState::Admitting;
        } else {
            self.admitted();
        }
    }

    fn admitted(&mut self) {
        self.admission = None;
        if self.a.checked.uri.user.as_deref() == Some(super::pickup::PICKUP_EXTEN) {
            self.pickup_exten = true;
            let groups = self.user.as_ref().map_or(0, |u| u.pickup_group);
            return self.find_ringing(crate::pickups::Wanted::Groups(groups));
        }
        let start = super::steps::call_start(&self.a, self.user.as_ref());
        self.ask(Ask::Execute(start));
        self.state = CallState::Starting;
    }

    fn on_step(&mut self, step: Option<Step>, now: Instant) {
        let Some(step) = step else {
            // A step under way goes on (a bridged call is not cut because
            // a router replica died); its result will find no router.
            if self.state == CallState::AwaitingStep {
                tracing::warn!("router stream ended without Finished");
                self.end(503, now);
            }
            return;
        };
        if self.state != CallState::AwaitingStep {
            tracing::warn!(state = ?self.state, "router step out of turn ignored");
            return;
        }
        let Some(app) = step.app else { return };
        self.step_id = step.step_id;
        if let Some(l) = &step.location {
            self.place = (l.context.clone(), l.extension.clone());
        }
        self.hangup_at = super::timeout::deadline(step.hangup_at_unix_ms, now);
        if let step::App::Finished(f) = app {
            return self.end(f.sip_code as u16, now);
        }
        if self.a.state == AState::Gone {
            return self.result(hung_up());
        }
        self.execute(app, now);
    }

    /// Send the step's result; the router's next step is awaited.
    pub(super) fn result(&mut self, mut r: StepResult) {
        (self.limit, self.dial_limit, self.transfers) = (None, None, None);
        r.step_id = self.step_id;
        self.out.push(Action::StepResult(r));
        self.state = CallState::AwaitingStep;
    }

    fn on_response(&mut self, key: &ClientKey, r: &Response, now: Instant) {
        if self.reanchor_answered(key, Some(r))
            || self.merge_answered(key, Some(r))
            || self.refer_answered(key, Some(r))
        {
            return;
        }
        if let Some(i) = self.forks.iter().position(|f| f.is_invite_response(key)) {
            return self.on_fork_response(i, r, now);
        }
        if let Some(callee) = &self.callee {
            if callee.is_invite_response(key) && (200..300).contains(&r.code) {
                // Our ACK was lost: the callee retransmits its 200.
                return callee.re_ack(&mut self.out);
            }
        }
        let dialogs = (
            self.a.dialog.as_mut(),
            self.callee.as_mut().map(|c| &mut c.dialog),
        );
        if self
            .relays
            .on_response(&mut self.out, key, r, &self.a.contact, dialogs)
        {
            return;
        }
        if r.code >= 200 && self.byes.contains(key) {
            self.byes.retain(|k| k != key);
            return;
        }
        self.stray_answer(key, r);
    }

    fn on_timeout(&mut self, key: &ClientKey) {
        if self.reanchor_answered(key, None)
            || self.merge_answered(key, None)
            || self.refer_answered(key, None)
        {
            return;
        }
        if let Some(f) = self.forks.iter_mut().find(|f| f.is_invite_response(key)) {
            f.settle(408);
            return self.dial_over();
        }
        if let Some(f) = self.losers.iter_mut().find(|f| f.is_invite_response(key)) {
            f.settled = true;
        }
        if self.relays.on_timeout(&mut self.out, key) {
            return;
        }
        self.byes.retain(|k| k != key);
    }

    /// The call's media instance died: its audio is gone, so hang up (BYE)
    /// rather than leave the caller in silence.
    fn media_lost(&mut self, id: &str) {
        if self.media.as_ref().is_none_or(|m| m.id != id) {
            return;
        }
        tracing::warn!("media instance lost mid-call: hanging up");
        self.media = None;
        self.bye_caller();
        self.caller_gone();
    }

    /// Once ending, done when every BYE is answered and every cancelled B
    /// leg gave its final answer (a 2xx crossing our CANCEL still gets its
    /// ACK and BYE); once done, say so.
    fn settle(&mut self) {
        // Listed as ringing exactly while the Dial rings (for Pickup()).
        let ringing = matches!(self.state, CallState::Dialing { .. });
        if ringing != self.listed {
            self.listed = ringing;
            let place = ringing.then(|| (self.place.clone(), self.ringing_groups()));
            self.out.push(Action::Ringing(place));
        }
        let quiet = self.byes.is_empty() && self.losers.iter().all(|f| f.settled);
        if matches!(self.state, CallState::Ending { .. }) && quiet {
            self.state = CallState::Done;
        }
        if self.state == CallState::Done && !self.done_sent {
            self.done_sent = true;
            self.let_go(None);
            if let Some(s) = self.media.take() {
                self.out.push(Action::Ask(0, Ask::CloseMedia(s)));
            }
            self.out.push(Action::Done);
        }
    }
}
