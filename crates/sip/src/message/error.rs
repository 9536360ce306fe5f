//! Error types of the message layer. Cheap to build: they sit on the hot path of
//! every malformed datagram, so they carry static reasons, not formatted strings.

use thiserror::Error;

/// Why a byte buffer could not be cut into one SIP message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum FrameError {
    /// More bytes are needed (stream transports only).
    #[error("incomplete message")]
    Incomplete,
    /// Content-Length is missing on a stream, negative, not a number or repeated
    /// with different values: the stream cannot be re-synchronised.
    #[error("bad Content-Length: {0}")]
    BadContentLength(&'static str),
    /// The datagram is shorter than its Content-Length (RFC 3261 §18.3: 400).
    #[error("body shorter than Content-Length")]
    TruncatedBody,
    /// The header section is larger than we accept.
    #[error("header section too large")]
    TooLarge,
}

/// Why a framed message is not well-formed SIP. `header` names the header
/// that was wrong (or the start line), so a 400's reason phrase can say it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{what}: {reason}")]
pub struct ParseError {
    pub what: &'static str,
    pub reason: &'static str,
}

impl ParseError {
    pub const fn new(what: &'static str, reason: &'static str) -> Self {
        Self { what, reason }
    }
}
