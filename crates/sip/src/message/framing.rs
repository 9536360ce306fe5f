//! Cutting bytes into SIP messages (RFC 3261 §18.3). A UDP datagram holds one
//! message whose body is bounded by Content-Length (extra octets are ignored,
//! a short body is an error); a TCP stream holds back-to-back messages that
//! must each carry a Content-Length, with CRLF keep-alives between them.

use crate::error::FrameError;

/// Largest header section a stream may accumulate before we give up on it.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;
/// Largest body we accept: SIP bodies (SDP, a MESSAGE, a NOTIFY's
/// dialog-info) are a few KiB; a connection holds at most a header section
/// and one body, so this bounds what each TCP peer can make us keep.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Where one message lies in a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    /// Bytes of start line and headers, including the blank line.
    pub head_len: usize,
    /// Bytes of body.
    pub body_len: usize,
}

impl Frame {
    pub fn total(&self) -> usize {
        self.head_len + self.body_len
    }
}

/// Number of leading CR/LF bytes (RFC 5626 keep-alives, or stray line ends
/// before a message, which RFC 3261 §7.5 says to ignore).
pub fn leading_crlf(buf: &[u8]) -> usize {
    buf.iter()
        .take_while(|&&b| b == b'\r' || b == b'\n')
        .count()
}

/// End of the header section: index just past the blank line.
fn head_end(buf: &[u8]) -> Option<usize> {
    let mut i = 0;
    while i < buf.len() {
        if buf[i] == b'\n' {
            if buf.get(i + 1) == Some(&b'\n') {
                return Some(i + 2);
            }
            if buf.get(i + 1) == Some(&b'\r') && buf.get(i + 2) == Some(&b'\n') {
                return Some(i + 3);
            }
        }
        i += 1;
    }
    None
}

/// The Content-Length of a header section, if present. Repeated values must
/// agree; a negative or non-numeric value is an error.
pub fn content_length(head: &[u8]) -> Result<Option<usize>, FrameError> {
    let mut found: Option<usize> = None;
    for line in head.split(|&b| b == b'\n') {
        if matches!(line.first(), Some(b' ' | b'\t') | None) {
            continue;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = trim(&line[..colon]);
        if !(name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l")) {
            continue;
        }
        let value = trim(&line[colon + 1..]);
        if value.first() == Some(&b'-') {
            return Err(FrameError::BadContentLength("negative"));
        }
        if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
            return Err(FrameError::BadContentLength("not a number"));
        }
        let n = std::str::from_utf8(value)
            .ok()
            .and_then(|s| s.parse::<usize>().ok())
            .filter(|&n| n <= MAX_BODY_BYTES)
            .ok_or(FrameError::BadContentLength("too large"))?;
        match found {
            Some(prev) if prev != n => {
                return Err(FrameError::BadContentLength("conflicting values"))
            }
            _ => found = Some(n),
        }
    }
    Ok(found)
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t' | b'\r', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t' | b'\r'] = s {
        s = rest;
    }
    s
}

/// Frame a datagram (already stripped of leading CRLFs). Without a blank line
/// the whole datagram is the header section; without Content-Length the body
/// runs to the end of the datagram.
pub fn frame_datagram(buf: &[u8]) -> Result<Frame, FrameError> {
    let head_len = head_end(buf).unwrap_or(buf.len());
    let available = buf.len() - head_len;
    match content_length(&buf[..head_len])? {
        Some(n) if n > available => Err(FrameError::TruncatedBody),
        Some(n) => Ok(Frame {
            head_len,
            body_len: n,
        }),
        None => Ok(Frame {
            head_len,
            body_len: available,
        }),
    }
}

/// Frame the next message of a stream (already stripped of leading CRLFs).
pub fn frame_stream(buf: &[u8]) -> Result<Frame, FrameError> {
    let Some(head_len) = head_end(buf) else {
        return if buf.len() > MAX_HEADER_BYTES {
            Err(FrameError::TooLarge)
        } else {
            Err(FrameError::Incomplete)
        };
    };
    let body_len = content_length(&buf[..head_len])?.ok_or(FrameError::BadContentLength(
        "missing on a stream transport",
    ))?;
    if buf.len() < head_len + body_len {
        return Err(FrameError::Incomplete);
    }
    Ok(Frame { head_len, body_len })
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQ: &[u8] = b"OPTIONS sip:a SIP/2.0\r\nl: 4\r\n\r\nbody";

    #[test]
    fn datagram_with_compact_length() {
        let f = frame_datagram(REQ).unwrap();
        assert_eq!(f.body_len, 4);
        assert_eq!(f.total(), REQ.len());
    }

    #[test]
    fn datagram_ignores_octets_past_content_length() {
        let mut d = b"REGISTER sip:a SIP/2.0\r\nContent-Length: 0\r\n\r\n".to_vec();
        d.extend_from_slice(b"INVITE sip:b SIP/2.0\r\n\r\n");
        let f = frame_datagram(&d).unwrap();
        assert_eq!(f.body_len, 0);
        assert!(f.total() < d.len());
    }

    #[test]
    fn datagram_short_body_is_an_error() {
        let d = b"INVITE sip:a SIP/2.0\r\nContent-Length: 10\r\n\r\nabc";
        assert_eq!(frame_datagram(d), Err(FrameError::TruncatedBody));
    }

    #[test]
    fn datagram_without_length_takes_the_rest() {
        let d = b"INVITE sip:a SIP/2.0\r\nTo: x\r\n\r\nabc";
        assert_eq!(frame_datagram(d).unwrap().body_len, 3);
    }

    #[test]
    fn negative_and_conflicting_lengths() {
        assert!(matches!(
            frame_datagram(b"A sip:a SIP/2.0\r\nContent-Length: -5\r\n\r\n"),
            Err(FrameError::BadContentLength(_))
        ));
        assert!(matches!(
            frame_datagram(b"A sip:a SIP/2.0\r\nContent-Length: 5\r\nl: 6\r\n\r\nabcdef"),
            Err(FrameError::BadContentLength(_))
        ));
    }

    #[test]
    fn stream_two_messages_in_one_buffer() {
        let mut s = REQ.to_vec();
        s.extend_from_slice(REQ);
        let f = frame_stream(&s).unwrap();
        assert_eq!(f.total(), REQ.len());
        let f2 = frame_stream(&s[f.total()..]).unwrap();
        assert_eq!(f2.total(), REQ.len());
    }

    #[test]
    fn stream_waits_for_short_body_and_head() {
        assert_eq!(
            frame_stream(&REQ[..REQ.len() - 1]),
            Err(FrameError::Incomplete)
        );
        assert_eq!(frame_stream(&REQ[..10]), Err(FrameError::Incomplete));
    }

    #[test]
    fn stream_requires_content_length() {
        assert!(matches!(
            frame_stream(b"OPTIONS sip:a SIP/2.0\r\nTo: x\r\n\r\n"),
            Err(FrameError::BadContentLength(_))
        ));
    }

    #[test]
    fn keepalives_are_counted() {
        assert_eq!(leading_crlf(b"\r\n\r\nOPTIONS"), 4);
    }
}
