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
    pub const SUBSCRIBE: Method = Method::Known(rsip::Method::Subscribe);
    pub const NOTIFY: Method = Method::Known(rsip::Method::Notify);
    pub const REFER: Method = Method::Known(rsip::Method::Refer);

    /// Parse a method token exactly as written.
    pub fn parse(s: &str) -> Method {
        KNOWN
            .iter()
            .find(|(_, name)| *name == s)
            .map(|(m, _)| Method::Known(*m))
            .unwrap_or_else(|| Method::Extension(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        match self {
            Method::Known(m) => name(*m),
            Method::Extension(s) => s,
        }
    }
}

/// rsip's methods and their tokens. rsip spells a method by upper-casing
/// its variant's name into a new `String` each time (and parses by trying
/// them all, case-insensitively): every message parsed and every
/// transaction key hashed paid for a dozen allocations. The table is
/// checked against rsip's own spelling in the tests.
const KNOWN: [(rsip::Method, &str); 14] = [
    (rsip::Method::Ack, "ACK"),
    (rsip::Method::Bye, "BYE"),
    (rsip::Method::Cancel, "CANCEL"),
    (rsip::Method::Info, "INFO"),
    (rsip::Method::Invite, "INVITE"),
    (rsip::Method::Message, "MESSAGE"),
    (rsip::Method::Notify, "NOTIFY"),
    (rsip::Method::Options, "OPTIONS"),
    (rsip::Method::PRack, "PRACK"),
    (rsip::Method::Publish, "PUBLISH"),
    (rsip::Method::Refer, "REFER"),
    (rsip::Method::Register, "REGISTER"),
    (rsip::Method::Subscribe, "SUBSCRIBE"),
    (rsip::Method::Update, "UPDATE"),
];

fn name(m: rsip::Method) -> &'static str {
    match m {
        rsip::Method::Ack => "ACK",
        rsip::Method::Bye => "BYE",
        rsip::Method::Cancel => "CANCEL",
        rsip::Method::Info => "INFO",
        rsip::Method::Invite => "INVITE",
        rsip::Method::Message => "MESSAGE",
        rsip::Method::Notify => "NOTIFY",
        rsip::Method::Options => "OPTIONS",
        rsip::Method::PRack => "PRACK",
        rsip::Method::Publish => "PUBLISH",
        rsip::Method::Refer => "REFER",
        rsip::Method::Register => "REGISTER",
        rsip::Method::Subscribe => "SUBSCRIBE",
        rsip::Method::Update => "UPDATE",
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
            Method::Known(m) => f.write_str(name(*m)),
            Method::Extension(s) => f.write_str(s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_spells_every_method_as_rsip_does() {
        let all = rsip::Method::all();
        assert_eq!(all.len(), KNOWN.len());
        for m in all {
            assert_eq!(name(m), m.to_string());
            assert_eq!(Method::parse(&m.to_string()), Method::Known(m));
            assert!(KNOWN.iter().any(|(k, n)| *k == m && *n == m.to_string()));
        }
    }

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
