//! CSeq (RFC 3261 §20.16): a sequence number below 2^31 and a method.

use crate::error::ParseError;
use crate::text::is_token;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CSeq {
    pub seq: u32,
    pub method: String,
}

impl CSeq {
    pub const NAME: &'static str = "CSeq";

    pub fn new(seq: u32, method: &crate::Method) -> CSeq {
        CSeq {
            seq,
            method: method.to_string(),
        }
    }

    /// The CSeq of a message's headers, if it has a valid one.
    pub fn of(h: &crate::message::Headers) -> Option<CSeq> {
        CSeq::parse(h.get(&crate::HeaderName::CSeq)?).ok()
    }

    pub fn parse(s: &str) -> Result<CSeq, ParseError> {
        let mut it = s.split_ascii_whitespace();
        let (Some(n), Some(m), None) = (it.next(), it.next(), it.next()) else {
            return Err(ParseError::new(Self::NAME, "expected number and method"));
        };
        let seq = n
            .parse::<u32>()
            .ok()
            .filter(|&n| n < 1 << 31)
            .ok_or(ParseError::new(Self::NAME, "sequence number out of range"))?;
        if !is_token(m) {
            return Err(ParseError::new(Self::NAME, "bad method"));
        }
        Ok(CSeq {
            seq,
            method: m.to_owned(),
        })
    }
}

impl fmt::Display for CSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.seq, self.method)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let c = CSeq::parse("0009 \t INVITE").unwrap();
        assert_eq!(c.seq, 9);
        assert_eq!(c.to_string(), "9 INVITE");
    }

    #[test]
    fn overlarge_sequence_is_an_error() {
        assert!(CSeq::parse("36893488147419103232 REGISTER").is_err());
        assert!(CSeq::parse("2147483648 REGISTER").is_err());
    }
}
