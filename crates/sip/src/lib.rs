//! The SIP stack of Asterism, in layers that each depend only on the ones
//! below:
//!
//! * [`message`]: framing, parsing and printing of SIP messages, typed
//!   headers, URIs, digest credentials, validation.
//! * [`transport`]: UDP and TCP on one port, replies on the flow a request
//!   came in on, with limits on everything a stranger can open.
//! * [`transaction`]: the RFC 3261 §17 client and server transactions and
//!   their timers, as a sans-IO layer the edge's core drives.
//! * [`dialog`]: RFC 3261 §12 dialogs, as the edge's B2BUA legs keep them.
//!
//! The message layer's modules are re-exported at the root
//! (`asterism_sip::header`, `asterism_sip::uri`…), where the rest of the
//! code names them.

pub mod dialog;
pub mod message;
pub mod transaction;
pub mod transport;

pub use message::{
    digest, digest_client, error, framing, header, method, request, response, status, text, triage,
    uri, validate,
};

pub use error::{FrameError, ParseError};
pub use header::name::HeaderName;
pub use message::{Headers, Request, Response, SipMessage};
pub use method::Method;
pub use status::reason_phrase;
pub use uri::{Host, Uri};
