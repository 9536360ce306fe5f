//! The transaction table: finds the transaction of each request, creates new
//! ones, passes TU responses to them, and runs every timer from one ordered
//! queue (stale entries are skipped when they fire).

use super::client_invite::{Delivery, InviteClient};
use super::client_non_invite::NonInviteClient;
use super::invite::{AckDisposition, InviteServer};
use super::key::{ClientKey, TsxKey};
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
    /// Timer B or F fired: no final response to our request (a 408 for the TU).
    ClientTimedOut {
        key: ClientKey,
        call_id: String,
    },
}

#[derive(Debug)]
enum ClientMachine {
    Invite(InviteClient),
    NonInvite(NonInviteClient),
}

#[derive(Debug)]
struct ClientEntry {
    machine: ClientMachine,
    flow: Flow,
    /// The request, to build the ACK of a non-2xx and to route time-outs.
    request: crate::Request,
}

/// Which transaction a timer belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum TimerOwner {
    Server(TsxKey),
    Client(ClientKey),
}

#[derive(Debug)]
enum Machine {
    NonInvite(NonInviteServer),
    Invite(InviteServer),
}

impl Machine {
    /// Still waiting for the TU's final response.
    fn awaits_tu(&self) -> bool {
        match self {
            Machine::NonInvite(m) => m.awaits_tu(),
            Machine::Invite(m) => m.awaits_tu(),
        }
    }
}

#[derive(Debug)]
struct Entry {
    machine: Machine,
    flow: Flow,
    /// Its [`Timer::Lifetime`] while the TU has not answered: a transaction
    /// the TU never answers ends then. Taken out of the timers as soon as
    /// the TU answers, so the timers hold only what awaits an answer.
    lifetime: Option<(Instant, u64)>,
}

#[derive(Debug)]
pub struct Layer {
    cfg: TimerConfig,
    tsx: super::shards::Shards<TsxKey, Entry>,
    clients: HashMap<ClientKey, ClientEntry>,
    timers: BTreeMap<(Instant, u64), (TimerOwner, Timer)>,
    seq: u64,
}

impl Layer {
    pub fn new(cfg: TimerConfig) -> Self {
        Layer {
            cfg,
            tsx: Default::default(),
            clients: HashMap::new(),
            timers: BTreeMap::new(),
            seq: 0,
        }
    }

    /// Live transactions, server and client.
    pub fn len(&self) -> usize {
        self.tsx.len() + self.clients.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tsx.is_empty() && self.clients.is_empty()
    }

    /// Start a client transaction for `request` (its top Via carries
    /// `key.branch`), sent on `flow`.
    pub fn send_request(
        &mut self,
        key: ClientKey,
        flow: Flow,
        request: crate::Request,
        now: Instant,
    ) -> Vec<Action> {
        let reliable = flow.kind.is_reliable();
        let bytes = Bytes::from(request.to_bytes());
        let (machine, fx) = if key.method == crate::Method::INVITE {
            let (m, fx) = InviteClient::start(bytes, reliable, &self.cfg);
            (ClientMachine::Invite(m), fx)
        } else {
            let (m, fx) = NonInviteClient::start(bytes, reliable, &self.cfg);
            (ClientMachine::NonInvite(m), fx)
        };
        self.clients.insert(
            key.clone(),
            ClientEntry {
                machine,
                flow,
                request,
            },
        );
        let mut actions = Vec::new();
        self.apply_owner(TimerOwner::Client(key), flow, fx, now, &mut actions);
        actions
    }

    /// A response to one of our requests. Returns whether the TU gets it
    /// (false for retransmissions and strays); the ACK of a non-2xx final
    /// response to an INVITE is sent here.
    pub fn on_response(
        &mut self,
        key: &ClientKey,
        response: &crate::Response,
        now: Instant,
    ) -> (bool, Vec<Action>) {
        let mut actions = Vec::new();
        let code = response.code;
        let Some(entry) = self.clients.get_mut(key) else {
            return (false, actions);
        };
        let flow = entry.flow;
        let request = &entry.request;
        let ack = || Bytes::from(crate::request::ack_for_non2xx(request, response).to_bytes());
        let (deliver, fx) = match &mut entry.machine {
            ClientMachine::Invite(m) => {
                let (d, fx) = m.on_response(code, ack, &self.cfg);
                (d == Delivery::ToTu, fx)
            }
            ClientMachine::NonInvite(m) => m.on_response(code, &self.cfg),
        };
        self.apply_owner(TimerOwner::Client(key.clone()), flow, fx, now, &mut actions);
        (deliver, actions)
    }

    /// Whether the INVITE client transaction has seen a provisional response
    /// (RFC 3261 §9.1: only then may it be cancelled).
    pub fn invite_proceeding(&self, key: &ClientKey) -> bool {
        matches!(self.clients.get(key), Some(ClientEntry { machine: ClientMachine::Invite(m), .. }) if m.is_proceeding())
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
                ..
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
        // A timer per transaction awaiting its answer, not a periodic walk
        // over every transaction: with some 250,000 kept for Timer J at
        // 8,000 REGISTER/s, that walk stalled the edge for tens of ms.
        self.seq += 1;
        let lifetime = (now + self.cfg.lifetime(key.is_invite()), self.seq);
        self.timers
            .insert(lifetime, (TimerOwner::Server(key.clone()), Timer::Lifetime));
        self.tsx.insert(
            key.clone(),
            Entry {
                machine,
                flow,
                lifetime: Some(lifetime),
            },
        );
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
        if let Some(e) = self.tsx.get_mut(key) {
            if !e.machine.awaits_tu() {
                if let Some(t) = e.lifetime.take() {
                    self.timers.remove(&t);
                }
            }
        }
        actions
    }

    /// Answer the request of transaction `key` once, with no retransmission
    /// and no state kept: the transaction ends here (Kamailio's stateless
    /// replies). For refusals a stranger can provoke with a spoofed source
    /// (challenges, 403, loops): a lost answer makes the client retransmit
    /// its request, which is answered afresh.
    pub fn respond_once(&mut self, key: &TsxKey, bytes: Bytes) -> Vec<Action> {
        match self.tsx.remove(key) {
            Some(entry) => {
                if let Some(t) = entry.lifetime {
                    self.timers.remove(&t);
                }
                vec![Action::Send {
                    flow: entry.flow,
                    bytes,
                }]
            }
            None => Vec::new(),
        }
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
            let (owner, timer) = entry.remove();
            let (flow, fx) = match &owner {
                TimerOwner::Server(key) => {
                    let Some(e) = self.tsx.get_mut(key) else {
                        continue;
                    };
                    if timer == Timer::Lifetime {
                        e.lifetime = None;
                    }
                    let fx = match &mut e.machine {
                        Machine::NonInvite(m) => m.on_timer(timer),
                        Machine::Invite(m) => m.on_timer(timer, &self.cfg),
                    };
                    (e.flow, fx)
                }
                TimerOwner::Client(key) => {
                    let Some(e) = self.clients.get_mut(key) else {
                        continue;
                    };
                    let fx = match &mut e.machine {
                        ClientMachine::Invite(m) => m.on_timer(timer, &self.cfg),
                        ClientMachine::NonInvite(m) => m.on_timer(timer, &self.cfg),
                    };
                    (e.flow, fx)
                }
            };
            self.apply_owner(owner, flow, fx, now, &mut actions);
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
        self.apply_owner(TimerOwner::Server(key.clone()), flow, fx, now, out);
    }

    fn apply_owner(
        &mut self,
        owner: TimerOwner,
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
                .insert((now + after, self.seq), (owner.clone(), timer));
        }
        match owner {
            TimerOwner::Server(key) => {
                if fx.timed_out {
                    out.push(Action::TimedOut { key: key.clone() });
                }
                if fx.terminated {
                    if let Some(t) = self.tsx.remove(&key).and_then(|e| e.lifetime) {
                        self.timers.remove(&t);
                    }
                }
            }
            TimerOwner::Client(key) => {
                if fx.timed_out {
                    let call_id = self
                        .clients
                        .get(&key)
                        .and_then(|e| e.request.headers.get(&crate::HeaderName::CallId))
                        .unwrap_or_default()
                        .to_owned();
                    out.push(Action::ClientTimedOut {
                        key: key.clone(),
                        call_id,
                    });
                }
                if fx.terminated {
                    self.clients.remove(&key);
                }
            }
        }
    }
}
