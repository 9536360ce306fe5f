//! How tasks talk to the SIP core: [`Command`]s in (respond, send a request
//! in a client transaction, send raw bytes, route a Call-ID to a task) and
//! [`LegEvent`]s out to the call task that owns a Call-ID.

use asterism_sip::message::Response;
use asterism_sip::transaction::{ClientKey, TsxKey};
use asterism_sip::transport::Flow;
use asterism_sip::validate::Checked;
use asterism_sip::Request;
use bytes::Bytes;
use tokio::sync::mpsc;

#[derive(Debug)]
pub enum Command {
    /// Answer the request of server transaction `key`.
    Respond { key: TsxKey, response: Response },
    /// Answer it once and end the transaction (no retransmissions): for
    /// refusals a spoofed request could provoke.
    RespondOnce { key: TsxKey, response: Response },
    /// Send a request in a new client transaction.
    Request {
        key: ClientKey,
        flow: Flow,
        request: Request,
    },
    /// Send bytes outside any transaction (ACK for a 2xx).
    Send { flow: Flow, bytes: Bytes },
    /// Deliver everything for `call_id` to `tx`.
    Route {
        call_id: String,
        tx: mpsc::Sender<LegEvent>,
    },
    /// Stop routing `call_id`, if it still goes to `tx` (a newer call task
    /// may have taken the Call-ID over, as after a 401 challenge).
    Unroute {
        call_id: String,
        tx: mpsc::Sender<LegEvent>,
    },
    /// An attended transfer's Replaces names dialog `call_id`: ask the
    /// call task that owns it for its other party ([`LegEvent::Replace`]);
    /// no such task here → [`LegEvent::Replaced`] (None) to `reply`.
    Replace {
        call_id: String,
        /// The sip.conf user asking (the transferer).
        by: String,
        reply: mpsc::Sender<LegEvent>,
    },
}

/// What the core hands to a call task.
#[derive(Debug)]
pub enum LegEvent {
    /// A request of one of the call's dialogs (or the CANCEL of its INVITE).
    Request {
        key: TsxKey,
        flow: Flow,
        request: Box<Request>,
        checked: Box<Checked>,
    },
    /// A response to one of the call's client transactions.
    Response {
        key: ClientKey,
        response: Box<Response>,
    },
    /// Timer B/F: no answer to one of the call's requests.
    Timeout { key: ClientKey },
    /// Another call wants the party this call's dialog `call_id` talks to
    /// (an attended transfer) for sip.conf user `by`, who must own that
    /// dialog: answered with `Replaced` on `reply`.
    Replace {
        call_id: String,
        by: String,
        reply: mpsc::Sender<LegEvent>,
    },
    /// The answer to a `Replace`: the party handed over, or None.
    Replaced(Option<Box<crate::call::Handed>>),
    /// `Pickup()` in another call wants this ringing call's caller: the
    /// Dial stops ringing and `PickupReply` says yes (with our task) or no.
    PickupAsk { reply: mpsc::Sender<LegEvent> },
    /// The ringing call's answer: its task, or None (nothing to pick up).
    PickupReply(Option<mpsc::Sender<LegEvent>>),
    /// The picker's answered leg, for the call that agreed (None: the
    /// picker left before it could be handed over).
    PickedUp(Option<Box<crate::call::Handed>>),
}

impl LegEvent {
    /// Dropped by a task that owns no call (a subscription, a qualify or
    /// registration probe): a `Replace` naming its Call-ID is answered
    /// None, so the asking call is not left waiting.
    pub fn decline(self) {
        match self {
            LegEvent::Replace { reply, .. } => {
                let _ = reply.try_send(LegEvent::Replaced(None));
            }
            LegEvent::PickupAsk { reply } => {
                let _ = reply.try_send(LegEvent::PickupReply(None));
            }
            _ => {}
        }
    }
}

/// A cheap handle for sending commands to the core.
#[derive(Clone)]
pub struct CoreHandle(pub mpsc::Sender<Command>);

impl CoreHandle {
    pub async fn send(&self, c: Command) {
        // The core only goes away at shutdown; nothing to do then.
        let _ = self.0.send(c).await;
    }

    pub async fn respond(&self, key: &TsxKey, response: Response) {
        self.send(Command::Respond {
            key: key.clone(),
            response,
        })
        .await
    }

    pub async fn respond_once(&self, key: &TsxKey, response: Response) {
        self.send(Command::RespondOnce {
            key: key.clone(),
            response,
        })
        .await
    }

    pub async fn request(&self, key: ClientKey, flow: Flow, request: Request) {
        self.send(Command::Request { key, flow, request }).await
    }
}
