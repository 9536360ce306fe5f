//! The transaction table: finds the transaction of each request, creates new
//! ones, passes TU responses to them, and runs every timer from one ordered
//! queue (stale entries are skipped when they fire).

use super::invite::{AckDisposition, InviteServer};
use super::key::TsxKey;
use super::non_invite::NonInviteServer;
use super::timers::{Timer, TimerConfig};
use super::Effects;
use crate::transport::Flow;
use bytes::Bytes;
use std::collections::{BTreeMap, HashMap};
use tokio::time::Instant;

/// What the layer did with a request.
#[derive(Debug, PartialEq, Eq)]
pub enum Received {
    /// A new transaction: the TU must handle the request and respond.
    New,
    /// A retransmission, answered (or absorbed) by the transaction.
    Retransmission,
    /// An ACK for a non-2xx final response, absorbed.
    AckAbsorbed,
    /// An ACK for a 2xx (or with no transaction): the TU's, as part of a dialog.
    AckForTu,
}

/// Effects for the driver to carry out.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    Send {
        flow: Flow,
        bytes: Bytes,
    },
    /// Timer H fired: the final response was never acknowledged.
    TimedOut {
        key: TsxKey,
    },
}

#[derive(Debug)]
enum Machine {
    NonInvite(NonInviteServer),
    Invite(InviteServer),
}

#[derive(Debug)]
struct Entry {
    machine: Machine,
    flow: Flow,
}

#[derive(Debug)]
pub struct Layer {
    cfg: TimerConfig,
    tsx: HashMap<TsxKey, Entry>,
    timers: BTreeMap<(Instant, u64), (TsxKey, Timer)>,
    seq: u64,
}

impl Layer {
    pub fn new(cfg: TimerConfig) -> Self {
        Layer {
            cfg,
            tsx: HashMap::new(),
            timers: BTreeMap::new(),
            seq: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.tsx.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tsx.is_empty()
    }

    /// A request arrived on `flow`.
    pub fn on_request(
        &mut self,
        key: &TsxKey,
        is_ack: bool,
        flow: Flow,
        now: Instant,
    ) -> (Received, Vec<Action>) {
        let mut actions = Vec::new();
        if is_ack {
            let Some(Entry {
                machine: Machine::Invite(m),
                flow,
            }) = self.tsx.get_mut(key)
            else {
                return (Received::AckForTu, actions);
            };
            let flow = *flow;
            let (disposition, fx) = m.on_ack(&self.cfg);
            self.apply(key, flow, fx, now, &mut actions);
            let r = match disposition {
                AckDisposition::Absorbed => Received::AckAbsorbed,
                AckDisposition::ForTu => Received::AckForTu,
            };
            return (r, actions);
        }
        if let Some(entry) = self.tsx.get_mut(key) {
            // Answer where the retransmission came from (a NAT binding may
            // have changed), and keep that flow for later responses.
            entry.flow = flow;
            let resend = match &entry.machine {
                Machine::NonInvite(m) => m.on_retransmission(),
                Machine::Invite(m) => m.on_retransmission(),
            };
            if let Some(bytes) = resend {
                actions.push(Action::Send { flow, bytes });
            }
            return (Received::Retransmission, actions);
        }
        let reliable = flow.kind.is_reliable();
        let machine = if key.is_invite() {
            Machine::Invite(InviteServer::new(reliable))
        } else {
            Machine::NonInvite(NonInviteServer::new(reliable))
        };
        self.tsx.insert(key.clone(), Entry { machine, flow });
        (Received::New, actions)
    }

    /// The TU answers the request of transaction `key`. Unknown keys (the
    /// transaction ended meanwhile) are ignored.
    pub fn respond(&mut self, key: &TsxKey, code: u16, bytes: Bytes, now: Instant) -> Vec<Action> {
        let mut actions = Vec::new();
        let Some(entry) = self.tsx.get_mut(key) else {
            return actions;
        };
        let flow = entry.flow;
        let fx = match &mut entry.machine {
            Machine::NonInvite(m) => m.on_response(code, bytes, &self.cfg),
            Machine::Invite(m) => m.on_response(code, bytes, &self.cfg),
        };
        self.apply(key, flow, fx, now, &mut actions);
        actions
    }

    /// When the next timer fires.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.keys().next().map(|(t, _)| *t)
    }

    /// Fire every timer due at `now`.
    pub fn on_timeout(&mut self, now: Instant) -> Vec<Action> {
        let mut actions = Vec::new();
        while let Some(entry) = self.timers.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let (key, timer) = entry.remove();
            let Some(e) = self.tsx.get_mut(&key) else {
                continue;
            };
            let flow = e.flow;
            let fx = match &mut e.machine {
                Machine::NonInvite(m) => m.on_timer(timer),
                Machine::Invite(m) => m.on_timer(timer, &self.cfg),
            };
            self.apply(&key, flow, fx, now, &mut actions);
        }
        actions
    }

    fn apply(
        &mut self,
        key: &TsxKey,
        flow: Flow,
        fx: Effects,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        if let Some(bytes) = fx.send {
            out.push(Action::Send { flow, bytes });
        }
        for (timer, after) in fx.start {
            self.seq += 1;
            self.timers
                .insert((now + after, self.seq), (key.clone(), timer));
        }
        if fx.timed_out {
            out.push(Action::TimedOut { key: key.clone() });
        }
        if fx.terminated {
            self.tsx.remove(key);
        }
    }
}
