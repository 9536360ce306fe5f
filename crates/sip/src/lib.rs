//! The SIP stack of Asterism, in layers that each depend only on the one below:
//!
//! * [`message`]: framing, parsing and printing of SIP messages. Method and status
//!   enums come from `rsip`; the text grammar is ours, because rsip 0.4 rejects or
//!   misreads much of what real phones and the RFC 4475/5118 torture tests send
//!   (compact names, folded lines, header lists, LWS, IPv6, raw digest values).
//! * [`header`]: typed views of the headers the edge reasons about.
//! * [`transport`]: UDP and TCP on one port, replies on the flow a request came in on.
//! * [`transaction`]: the RFC 3261 §17 server transactions and their timers.

pub mod dialog;
pub mod digest;
pub mod error;
pub mod framing;
pub mod header;
pub mod message;
pub mod method;
pub mod request;
pub mod response;
pub mod status;
pub mod text;
pub mod transaction;
pub mod transport;
pub mod triage;
pub mod uri;
pub mod validate;

pub use error::{FrameError, ParseError};
pub use header::name::HeaderName;
pub use message::{Headers, Request, Response, SipMessage};
pub use method::Method;
pub use status::reason_phrase;
pub use uri::{Host, Uri};
