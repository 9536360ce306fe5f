//! What the transports hand upward: a parsed message, or a malformed one with
//! whatever headers could be read (so a 400 can still be addressed).

use super::Flow;
use crate::error::FrameError;
use crate::framing::Frame;
use crate::message::{Kind, Malformed, SipMessage};
use crate::ParseError;

#[derive(Debug)]
pub struct Inbound {
    pub flow: Flow,
    pub event: InboundEvent,
}

#[derive(Debug)]
pub enum InboundEvent {
    Message(SipMessage),
    Malformed(Box<Malformed>),
}

impl InboundEvent {
    /// Parse one framed message.
    pub fn parse_frame(buf: &[u8], frame: Frame) -> InboundEvent {
        match SipMessage::parse(buf, frame) {
            Ok(m) => InboundEvent::Message(m),
            Err(e) => InboundEvent::Malformed(e),
        }
    }

    /// A framing error: read the header section anyway for the 400.
    pub fn frame_error(buf: &[u8], err: FrameError) -> InboundEvent {
        let head_len = head_len(buf);
        let frame = Frame {
            head_len,
            body_len: 0,
        };
        let reason = match err {
            FrameError::TruncatedBody => "body shorter than Content-Length",
            FrameError::BadContentLength(r) => r,
            FrameError::TooLarge => "header section too large",
            FrameError::Incomplete => "incomplete",
        };
        let error = ParseError::new("Content-Length", reason);
        let (kind, headers) = match SipMessage::parse(buf, frame) {
            Ok(m) => {
                let kind = match &m {
                    SipMessage::Request(_) => Kind::Request,
                    SipMessage::Response(_) => Kind::Response,
                };
                (kind, m.headers().clone())
            }
            Err(m) => (m.kind, m.headers),
        };
        InboundEvent::Malformed(Box::new(Malformed {
            error,
            kind,
            headers,
        }))
    }
}

/// Index just past the header section, or the whole buffer.
pub(crate) fn head_len(buf: &[u8]) -> usize {
    buf.windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 4)
        .unwrap_or(buf.len())
}
