//! RTP packets (RFC 3550 §5.1): the fixed header, CSRCs and extension
//! skipped on read, and RFC 4733 telephone-event payloads.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub marker: bool,
    pub payload_type: u8,
    pub seq: u16,
    pub timestamp: u32,
    pub ssrc: u32,
}

/// Parse a packet; returns the header and the payload's byte range.
pub fn parse(p: &[u8]) -> Option<(Header, std::ops::Range<usize>)> {
    if p.len() < 12 || p[0] >> 6 != 2 {
        return None;
    }
    let cc = usize::from(p[0] & 0x0F);
    let mut start = 12 + 4 * cc;
    if p[0] & 0x10 != 0 {
        let ext = p.get(start + 2..start + 4)?;
        start += 4 + 4 * usize::from(u16::from_be_bytes([ext[0], ext[1]]));
    }
    let mut end = p.len();
    if p[0] & 0x20 != 0 {
        end = end.checked_sub(usize::from(*p.last()?))?;
    }
    if start > end {
        return None;
    }
    let h = Header {
        marker: p[1] & 0x80 != 0,
        payload_type: p[1] & 0x7F,
        seq: u16::from_be_bytes([p[2], p[3]]),
        timestamp: u32::from_be_bytes([p[4], p[5], p[6], p[7]]),
        ssrc: u32::from_be_bytes([p[8], p[9], p[10], p[11]]),
    };
    Some((h, start..end))
}

/// Write a header and payload into `out` (cleared first).
pub fn build(h: &Header, payload: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.push(0x80);
    out.push((u8::from(h.marker) << 7) | (h.payload_type & 0x7F));
    out.extend_from_slice(&h.seq.to_be_bytes());
    out.extend_from_slice(&h.timestamp.to_be_bytes());
    out.extend_from_slice(&h.ssrc.to_be_bytes());
    out.extend_from_slice(payload);
}

/// An RFC 4733 event: (event code, end of event).
pub fn telephone_event(payload: &[u8]) -> Option<(u8, bool)> {
    (payload.len() >= 4).then(|| (payload[0], payload[1] & 0x80 != 0))
}

/// The digit an RFC 4733 packet ends, once per event (its end packets
/// are sent three times, with one timestamp).
pub fn digit_ended(payload: &[u8], timestamp: u32, last: &mut Option<u32>) -> Option<char> {
    let (event, end) = telephone_event(payload)?;
    if !end || *last == Some(timestamp) {
        return None;
    }
    *last = Some(timestamp);
    dtmf_char(event)
}

/// The DTMF character of an RFC 4733 event code.
pub fn dtmf_char(event: u8) -> Option<char> {
    match event {
        0..=9 => Some((b'0' + event) as char),
        10 => Some('*'),
        11 => Some('#'),
        12..=15 => Some((b'A' + event - 12) as char),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let h = Header {
            marker: true,
            payload_type: 0,
            seq: 7,
            timestamp: 160,
            ssrc: 42,
        };
        let mut out = Vec::new();
        build(&h, &[1, 2, 3], &mut out);
        let (back, range) = parse(&out).unwrap();
        assert_eq!(back, h);
        assert_eq!(&out[range], &[1, 2, 3]);
    }

    #[test]
    fn junk_is_rejected() {
        assert!(parse(&[0u8; 5]).is_none());
        assert!(parse(&[0x40; 20]).is_none(), "version 1");
    }

    #[test]
    fn dtmf_events() {
        assert_eq!(telephone_event(&[11, 0x80, 0, 160]), Some((11, true)));
        assert_eq!(dtmf_char(11), Some('#'));
        assert_eq!(dtmf_char(5), Some('5'));
    }
}
