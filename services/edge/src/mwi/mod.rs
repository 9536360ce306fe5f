//! Message waiting indication (RFC 3842): phones subscribe to
//! `message-summary` and their lamp follows the counts of their sip.conf
//! `mailbox=`. The counts live in the registrars' store (set by `asterism
//! mwi set`, later by voicemail); each edge follows them ([`watch`]) and
//! each subscription ([`subscription`]) is a task of the edge that took
//! it, routed by its Call-ID as a call is, sending NOTIFYs ([`body`])
//! through the core's transactions. Phones that register without
//! subscribing get unsolicited NOTIFYs ([`unsolicited`]).

pub mod body;
pub mod subscription;
pub mod unsolicited;
pub mod watch;
