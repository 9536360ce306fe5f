//! Request methods: rsip's enum for the standard ones, and extension methods
//! kept verbatim. Methods are case-sensitive (RFC 3261 §7.1), so `invite` is
//! an extension method, not INVITE.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    Known(rsip::Method),
    Extension(String),
}

impl Method {
    pub const REGISTER: Method = Method::Known(rsip::Method::Register);
    pub const INVITE: Method = Method::Known(rsip::Method::Invite);
    pub const ACK: Method = Method::Known(rsip::Method::Ack);
    pub const CANCEL: Method = Method::Known(rsip::Method::Cancel);
    pub const OPTIONS: Method = Method::Known(rsip::Method::Options);
    pub const BYE: Method = Method::Known(rsip::Method::Bye);
    pub const INFO: Method = Method::Known(rsip::Method::Info);
    pub const UPDATE: Method = Method::Known(rsip::Method::Update);

    /// Parse a method token exactly as written.
    pub fn parse(s: &str) -> Method {
        rsip::Method::all()
            .into_iter()
            .find(|m| m.to_string() == s)
            .map(Method::Known)
            .unwrap_or_else(|| Method::Extension(s.to_owned()))
    }

    pub fn as_str(&self) -> std::borrow::Cow<'_, str> {
        match self {
            Method::Known(m) => m.to_string().into(),
            Method::Extension(s) => s.as_str().into(),
        }
    }
}

impl std::hash::Hash for Method {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state)
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Method::Known(m) => write!(f, "{m}"),
            Method::Extension(s) => f.write_str(s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_and_extension() {
        assert_eq!(Method::parse("REGISTER"), Method::REGISTER);
        assert_eq!(Method::parse("PRACK").to_string(), "PRACK");
        assert!(matches!(Method::parse("register"), Method::Extension(_)));
        assert!(matches!(
            Method::parse("RE%47IST%45R"),
            Method::Extension(_)
        ));
    }
}
