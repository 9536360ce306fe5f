//! Directed call pickup, `Pickup(exten[@context])`, as app_directed_pickup:
//! carol's call runs `Pickup(62)` while alice's Dial from extension 62
//! rings bob. Carol's call asks the edge's table of ringing calls
//! ([`crate::pickups`]) for one ringing from that place; alice's call stops
//! ringing (CANCEL to bob) and agrees; carol is answered (a media session,
//! as Asterisk answers the picker) and, once she ACKs, her leg is handed
//! to alice's call, whose Dial then answers alice and bridges the two
//! through a relay (carol re-INVITEd with its SDP). Carol's own dialplan
//! ends as Asterisk's picker channel does (its `h` runs); nothing ringing
//! there: it goes on. Without an extension (`Pickup()`), and for
//! features.conf's `pickupexten` `*8` (taken before any dialplan, as
//! chan_sip does), the call picked is one ringing a phone whose
//! `callgroup` shares a group with the picker's `pickupgroup`; nothing
//! there hangs `Pickup()` up and refuses `*8` with 403.

use super::a_leg::AState;
use super::attended::{Handed, Merge};
use super::bridge::Side;
use super::events::{Action, Ask};
use super::forks::Fork;
use super::machine::{CallState, Machine, Then};
use super::steps::{hung_up, with_status};
use crate::command::LegEvent;
use crate::pickups::{Place, Wanted};
use asterism_proto::router::{Pickup, StepStatus};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// How long a call that agreed to be picked up waits for the picker.
pub const HANDOVER_WAIT: Duration = Duration::from_secs(32);
/// How long another call's answer (to a pickup, or an attended transfer's
/// Replaces) is awaited: a call that ends without answering must not hold
/// the asking one.
pub const ASK_WAIT: Duration = Duration::from_secs(5);

/// features.conf's default `pickupexten`: dialled, it picks up by group
/// before any dialplan runs, as chan_sip does.
pub const PICKUP_EXTEN: &str = "*8";

/// The picker's side: the ringing call that agreed, once it did.
pub struct Picking {
    ringing: Option<mpsc::Sender<LegEvent>>,
    by_group: bool,
    /// Until when the ringing call's answer is awaited.
    until: Instant,
}

impl Machine {
    /// Run `Pickup(…)` for the caller: by extension, or without one by
    /// the caller's `pickupgroup`.
    pub(super) fn pickup_app(&mut self, p: Pickup) {
        let wanted = if p.targets.is_empty() {
            Wanted::Groups(self.user.as_ref().map_or(0, |u| u.pickup_group))
        } else {
            let places: Vec<Place> = p
                .targets
                .into_iter()
                .map(|t| (t.context, t.extension))
                .collect();
            Wanted::Places(places)
        };
        self.find_ringing(wanted);
    }

    /// Ask the edge's table for a call ringing as `wanted`.
    pub(super) fn find_ringing(&mut self, wanted: Wanted) {
        let by_group = matches!(wanted, Wanted::Groups(_));
        if wanted == Wanted::Groups(0) {
            return self.nothing_picked(by_group);
        }
        self.picking = Some(Picking {
            ringing: None,
            by_group,
            until: Instant::now() + ASK_WAIT,
        });
        self.state = CallState::PickingUp;
        self.out.push(Action::FindRinging(wanted));
    }

    /// Nothing to pick up: a pickup by extension lets the dialplan go on;
    /// one by group hangs up (`Pickup()` returns -1 in Asterisk), and
    /// `*8` is refused 403, chan_sip's answer for `CALL_REJECTED`.
    fn nothing_picked(&mut self, by_group: bool) {
        tracing::info!(by_group, "pickup: nothing rings there");
        self.picking = None;
        if !by_group {
            return self.result(super::steps::ok());
        }
        if self.pickup_exten {
            self.a.fail_with(&mut self.out, 403, None);
            self.state = CallState::Done;
        } else {
            self.result(hung_up());
        }
    }

    /// The call groups of the phones the Dial rings.
    pub(super) fn ringing_groups(&self) -> u64 {
        self.forks
            .iter()
            .filter_map(|f| self.dial_users.iter().find(|(t, _)| *t == f.target))
            .fold(0, |m, (_, u)| m | u.call_group)
    }

    /// The ringing call's answer to our pickup.
    pub(super) fn pickup_reply(&mut self, ringing: Option<mpsc::Sender<LegEvent>>, now: Instant) {
        let waiting = self.state == CallState::PickingUp
            && self.picking.as_ref().is_some_and(|p| p.ringing.is_none());
        let Some(tx) = ringing else {
            if waiting {
                let by_group = self.picking.as_ref().is_some_and(|p| p.by_group);
                self.nothing_picked(by_group);
            }
            return;
        };
        if !waiting {
            // Agreed too late for us: let it go on.
            return self.out.push(Action::Tell(tx, LegEvent::PickedUp(None)));
        }
        if let Some(p) = self.picking.as_mut() {
            p.ringing = Some(tx);
        }
        match self.a.state {
            AState::Early => self.answer_with_media(Then::Pickup, now),
            _ => self.picker_confirmed(),
        }
    }

    /// The picker is answered and has ACKed: hand its leg over.
    pub(super) fn picker_confirmed(&mut self) {
        if self.state != CallState::PickingUp || !self.a.confirmed() {
            return;
        }
        let Some(tx) = self.picking.take().and_then(|p| p.ringing) else {
            return;
        };
        let Some(dialog) = self.a.dialog.clone() else {
            return self.picker_done();
        };
        let user = self.user.clone();
        let name = user.as_ref().map(|u| u.name.clone()).unwrap_or_default();
        tracing::info!("pickup: the picker goes to the ringing call");
        let fork = Fork::from_answered(&name, dialog, self.a.invite.clone());
        self.out
            .push(Action::Unroute(self.a.checked.call_id.clone()));
        self.entry.leg_state(&self.a.checked.call_id, "gone");
        self.a.state = AState::Gone;
        let handed = Handed { fork, user };
        self.out
            .push(Action::Tell(tx, LegEvent::PickedUp(Some(Box::new(handed)))));
        self.picker_done();
    }

    /// The picker's part is over: its dialplan ends as if it hung up (its
    /// `h` runs); after `*8` there is none.
    fn picker_done(&mut self) {
        if self.pickup_exten {
            self.state = CallState::Done;
        } else {
            self.result(hung_up());
        }
    }

    /// The picker hung up while picking up: the ringing call is told.
    pub(super) fn picker_gone(&mut self) {
        if let Some(tx) = self.picking.take().and_then(|p| p.ringing) {
            self.out.push(Action::Tell(tx, LegEvent::PickedUp(None)));
        }
        self.picker_done();
    }

    /// Another call's `Pickup()` wants our caller: agree while the Dial
    /// rings and the caller is unanswered (the B legs are cancelled).
    pub(super) fn pickup_asked(&mut self, reply: mpsc::Sender<LegEvent>, now: Instant) {
        let ringing =
            matches!(self.state, CallState::Dialing { .. }) && self.a.state == AState::Early;
        if !ringing {
            return self.out.push(Action::PickupReply {
                to: reply,
                accept: false,
            });
        }
        tracing::info!("the ringing call is picked up elsewhere");
        self.stop_dialing();
        self.stop_dial_music();
        self.state = CallState::AwaitingPickup {
            until: now + HANDOVER_WAIT,
        };
        self.out.push(Action::PickupReply {
            to: reply,
            accept: true,
        });
    }

    /// The picker's leg (or None: it left): answer our caller and bridge
    /// the two through the Dial's relay, or a new one.
    pub(super) fn picked_up(&mut self, handed: Option<Box<Handed>>, now: Instant) {
        let waiting = matches!(self.state, CallState::AwaitingPickup { .. });
        let Some(mut h) = handed.map(|h| *h) else {
            if waiting {
                self.result(with_status(StepStatus::Ok, "NOANSWER"));
            }
            return;
        };
        if !waiting || self.a.state != AState::Early {
            let k = h.fork.bye(&mut self.out);
            return self.byes.push(k);
        }
        self.out.push(Action::Route(h.fork.dialog.call_id.clone()));
        self.entry.leg_state(&h.fork.dialog.call_id, "confirmed");
        if let Some(u) = h.user.take() {
            self.dial_users.push((h.fork.target.clone(), u));
        }
        self.callee = Some(h.fork);
        self.merge = Some(Merge::answering());
        match (self.anchor.as_ref(), self.media.clone()) {
            (Some(a), Some(session)) => {
                let sdp = super::backends::RelaySdp {
                    caller_answer: a.to_caller.clone(),
                    callee_offer: a.to_callee.clone(),
                };
                self.merge_opened(Ok((session, sdp)));
                let _ = now;
            }
            _ => self.open_merge_relay(),
        }
    }

    /// When a pickup's wait for another call ends (its answer, or the
    /// picker's leg).
    pub(super) fn pickup_deadline(&self) -> Option<Instant> {
        match (&self.state, &self.picking) {
            (CallState::AwaitingPickup { until }, _) => Some(*until),
            (CallState::PickingUp, Some(p)) if p.ringing.is_none() => Some(p.until),
            _ => None,
        }
    }

    /// No picker came in time: the Dial ends unanswered; no answer from
    /// the ringing call: nothing was picked up.
    pub(super) fn on_pickup_timer(&mut self, now: Instant) {
        if self.pickup_deadline().is_none_or(|at| now < at) {
            return;
        }
        if self.state == CallState::PickingUp {
            tracing::warn!("pickup: the ringing call did not answer");
            let by_group = self.picking.as_ref().is_some_and(|p| p.by_group);
            return self.nothing_picked(by_group);
        }
        self.result(with_status(StepStatus::Ok, "NOANSWER"));
    }

    /// The relay for a merge of our caller with the callee handed over.
    pub(super) fn open_merge_relay(&mut self) {
        let Some((_, offer)) = self.a.offer() else {
            return self.merge_failed("the caller's SDP is unknown");
        };
        let prefs = |s: Side| {
            self.user_of(s)
                .map(super::backends::MediaPrefs::of)
                .unwrap_or_default()
        };
        let ask = super::backends::MediaAsk {
            call_id: self.a.checked.call_id.clone(),
            offer: String::from_utf8_lossy(&offer).into_owned(),
            host: self.a.host.clone(),
            caller: prefs(Side::Caller),
            callee: prefs(Side::Callee),
            from: None,
        };
        self.ask(Ask::OpenRelay(ask));
        self.state = CallState::Merging;
    }
}
