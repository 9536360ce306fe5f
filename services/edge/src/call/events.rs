//! The call machine's vocabulary: every input it takes ([`Event`]), every
//! effect it asks for ([`Action`]), and the backend requests and answers
//! that travel between it and its task ([`Ask`], [`Answer`]).

use super::backends::{AuthAnswer, AuthAsk, BackendError, EchoEnd, MediaSession, Resolved};
use super::backends::{MediaAsk, RelaySdp, Slot, SlotRefused};
use super::bridge::Side;
use crate::command::{Command, LegEvent};
use crate::reply::Replier;
use asterism_proto::router::{CallStart, Step, StepResult};
use asterism_sip::transaction::{ClientKey, TsxKey};

/// Everything that can happen to a call.
#[derive(Debug)]
pub enum Event {
    /// The task started: look at the INVITE.
    Start,
    /// A request or response of one of the call's dialogs, or a timeout of
    /// one of its client transactions.
    Leg(LegEvent),
    /// A backend answered request `op` (stale ones are ignored).
    Answer(u64, Answer),
    /// The router's next dialplan step; `None` when its stream ended or broke.
    Step(Option<Step>),
    /// A step result could not be sent: the router replica is gone.
    RouterGone,
    /// The machine's earliest deadline ([`super::Machine::next_deadline`]) passed.
    Timer,
}

/// A backend's answer to an [`Ask`].
pub enum Answer {
    Auth(Result<AuthAnswer, BackendError>),
    Slot(Result<Slot, SlotRefused>),
    Resolved(Vec<Resolved>),
    /// The dialplan stream is open (the task holds it).
    Dialplan(Result<(), BackendError>),
    /// A session and its SDP answer.
    Media(Result<(MediaSession, String), BackendError>),
    Played(Result<(), BackendError>),
    Echoed(Result<EchoEnd, BackendError>),
    /// The instance of session `id` died (whatever request is under way).
    MediaLost(String),
    /// A relay and its SDP, for an anchored Dial.
    Relay(Result<(MediaSession, RelaySdp), BackendError>),
    /// A trunk's challenge to B leg `key` answered (Authorization value);
    /// `proxy`: it was a 407.
    Signed(ClientKey, bool, Result<String, BackendError>),
    /// Prompts a relay leg was played are over (Dial's L timeout file).
    Prompted(Result<bool, BackendError>),
    /// The relay's legs were swapped (the caller transferred the callee).
    Swapped(Result<(), BackendError>),
    /// A relay leg sent a digit.
    Dtmf(super::bridge::Side, char),
    /// [`Ask::MatchExtension`]'s answer for that extension: (exists,
    /// could match more).
    Matched(String, Result<(bool, bool), BackendError>),
    /// A relay took a leg's SDP; with the leg's request to answer, when it
    /// was a new offer.
    RelayUpdated(Option<Box<Reoffer>>, Result<String, BackendError>),
}

/// A leg's re-INVITE or UPDATE, waiting for the relay's answer.
pub struct Reoffer {
    pub side: Side,
    pub key: TsxKey,
    pub replier: Replier,
}

impl std::fmt::Debug for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            Answer::Auth(_) => "Auth",
            Answer::Slot(_) => "Slot",
            Answer::Resolved(_) => "Resolved",
            Answer::Dialplan(_) => "Dialplan",
            Answer::Media(_) => "Media",
            Answer::Played(_) => "Played",
            Answer::Echoed(_) => "Echoed",
            Answer::MediaLost(_) => "MediaLost",
            Answer::Relay(_) => "Relay",
            Answer::Signed(..) => "Signed",
            Answer::RelayUpdated(..) => "RelayUpdated",
            Answer::Prompted(_) => "Prompted",
            Answer::Dtmf(..) => "Dtmf",
            Answer::Swapped(_) => "Swapped",
            Answer::Matched(..) => "Matched",
        };
        f.write_str(name)
    }
}

/// A request to a backend, answered later as an [`Answer`].
pub enum Ask {
    Authenticate(Box<AuthAsk>),
    Slot {
        user: String,
        limit: u32,
        call_id: String,
    },
    Resolve {
        targets: Vec<String>,
        call_id: String,
    },
    Execute(CallStart),
    OpenMedia(MediaAsk),
    OpenRelay(MediaAsk),
    /// A leg's SDP to the relay; `reply`: the request to answer with ours.
    UpdateRelay {
        session: MediaSession,
        side: Side,
        sdp: String,
        reply: Option<Box<Reoffer>>,
    },
    /// Answer trunk `peer`'s 401/407 (`challenge`) to B leg `key`.
    Sign {
        key: ClientKey,
        peer: String,
        uri: String,
        challenge: String,
        proxy: bool,
    },
    Play(MediaSession, Vec<String>),
    /// Prompts to a relay leg (Dial's L): with `wait`, answered
    /// ([`Answer::Prompted`]) once over; else not answered.
    RelayPrompts {
        session: MediaSession,
        side: Side,
        files: Vec<String>,
        seq: u64,
        wait: bool,
    },
    /// Music on hold to a relay leg, or (None) its other side again; no
    /// answer (a failure is logged).
    RelayMusic {
        session: MediaSession,
        side: Side,
        class: Option<String>,
        /// Its order among the call's music requests.
        seq: u64,
    },
    Echo(MediaSession),
    /// Answer [`Answer::MediaLost`] if the session's instance dies (whatever
    /// the op then).
    WatchMedia(MediaSession),
    /// Free the session (no answer).
    CloseMedia(MediaSession),
    /// Answer [`Answer::Dtmf`] for every digit a leg of the relay sends
    /// (whatever the op then).
    WatchDtmf(MediaSession),
    /// Make the relay's callee its caller; answered [`Answer::Swapped`].
    SwapRelay(MediaSession),
    /// Does the transfer's `exten` exist in `context`, could it grow?
    MatchExtension {
        context: String,
        exten: String,
        caller: String,
    },
}

/// What the machine wants done.
pub enum Action {
    /// A command to the SIP core (responses, requests, ACKs).
    Core(Command),
    /// Route another Call-ID (a B leg) to this call.
    Route(String),
    /// Ask the call owning dialog `call_id` for its other party (an
    /// attended transfer by sip.conf user `by`): the answer comes as a
    /// `LegEvent::Replaced`.
    Replace { call_id: String, by: String },
    /// The Dial rings from this dialplan place (None: no longer), for
    /// `Pickup()` in other calls.
    Ringing(Option<(crate::pickups::Place, u64)>),
    /// `Pickup()`: ask the oldest call ringing as wanted; its
    /// `PickupReply` (None when there is none) comes back as a leg event.
    FindRinging(crate::pickups::Wanted),
    /// Answer a `PickupAsk`: yes (with our task's sender) or no.
    PickupReply {
        to: tokio::sync::mpsc::Sender<crate::command::LegEvent>,
        accept: bool,
    },
    /// Send another call's task an event (a `Replace`'s answer).
    Tell(
        tokio::sync::mpsc::Sender<crate::command::LegEvent>,
        crate::command::LegEvent,
    ),
    /// Stop routing a Call-ID to this call.
    Unroute(String),
    /// Ask a backend; the answer comes back as `Event::Answer(op, _)`.
    Ask(u64, Ask),
    /// Send the router the result of the current step.
    StepResult(StepResult),
    /// The call is over: the task ends.
    Done,
}

impl std::fmt::Debug for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Action::Core(c) => write!(f, "Core({c:?})"),
            Action::Route(id) => write!(f, "Route({id})"),
            Action::Unroute(id) => write!(f, "Unroute({id})"),
            Action::Replace { call_id, by } => write!(f, "Replace({call_id}, {by})"),
            Action::Tell(_, e) => write!(f, "Tell({e:?})"),
            Action::Ringing(p) => write!(f, "Ringing({p:?})"),
            Action::FindRinging(p) => write!(f, "FindRinging({p:?})"),
            Action::PickupReply { accept, .. } => write!(f, "PickupReply({accept})"),
            Action::Ask(op, a) => {
                let name = match a {
                    Ask::Authenticate(_) => "Authenticate",
                    Ask::Slot { .. } => "Slot",
                    Ask::Resolve { .. } => "Resolve",
                    Ask::Execute(_) => "Execute",
                    Ask::OpenMedia(_) => "OpenMedia",
                    Ask::OpenRelay(_) => "OpenRelay",
                    Ask::UpdateRelay { .. } => "UpdateRelay",
                    Ask::Sign { .. } => "Sign",
                    Ask::Play(..) => "Play",
                    Ask::RelayMusic { .. } => "RelayMusic",
                    Ask::RelayPrompts { .. } => "RelayPrompts",
                    Ask::WatchDtmf(_) => "WatchDtmf",
                    Ask::SwapRelay(_) => "SwapRelay",
                    Ask::MatchExtension { .. } => "MatchExtension",
                    Ask::Echo(_) => "Echo",
                    Ask::WatchMedia(_) => "WatchMedia",
                    Ask::CloseMedia(_) => "CloseMedia",
                };
                write!(f, "Ask({op}, {name})")
            }
            Action::StepResult(r) => write!(f, "StepResult({r:?})"),
            Action::Done => f.write_str("Done"),
        }
    }
}
