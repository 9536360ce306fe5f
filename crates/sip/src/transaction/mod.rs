//! RFC 3261 §17 server transactions, sans-IO: the [`Layer`] takes requests,
//! responses from the transaction user and the current time, and returns
//! [`Action`]s (bytes to send, timeouts to report). A thin tokio task in the
//! edge drives it; tests drive it with paused time.
//!
//! Each machine is its own type with a private state enum
//! ([`non_invite::NonInviteServer`], [`invite::InviteServer`]); the layer
//! keeps them by [`TsxKey`] and runs their timers, named after the RFC.

mod client_invite;
mod client_non_invite;
mod invite;
mod key;
mod layer;
mod non_invite;
mod shards;
mod timers;

pub use key::{ClientKey, TsxKey, OUR_BRANCH_PREFIX};
pub use layer::{Action, Layer, Received};
pub use timers::{Timer, TimerConfig};

#[cfg(test)]
mod tests;

/// What one event did to a machine: at most one message to send, timers to
/// start, and whether the transaction ended (and why).
#[derive(Debug, Default)]
pub(crate) struct Effects {
    pub send: Option<bytes::Bytes>,
    pub start: Vec<(Timer, std::time::Duration)>,
    pub terminated: bool,
    pub timed_out: bool,
}
