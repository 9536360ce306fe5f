//! The first layer: SIP messages as text. Framing (datagrams, streams),
//! parsing and printing (tolerant where RFC 3261 and RFC 4475 say so),
//! typed views of the headers the edge reasons about, URIs, digest
//! credentials, request validation, and building the requests and
//! responses we originate. Method and status enums come from `rsip`; the
//! text grammar is ours, because rsip 0.4 rejects or misreads much of what
//! real phones and the RFC 4475/5118 torture tests send (compact names,
//! folded lines, header lists, LWS, IPv6, raw digest values).

pub mod digest;
pub mod digest_client;
pub mod error;
pub mod framing;
pub mod header;
pub mod method;
pub mod request;
pub mod response;
mod sip;
pub mod status;
pub mod text;
pub mod triage;
pub mod uri;
pub mod validate;

pub use sip::{Headers, Kind, Malformed, Request, Response, SipMessage};
