//! Header names: canonical spelling, compact forms (RFC 3261 §7.3.3 and later
//! RFCs), case-insensitive comparison, and which headers may carry a list.

use std::fmt;

macro_rules! header_names {
    ($($variant:ident => $canon:literal $(, compact $c:literal)?;)*) => {
        /// A header name. Known names are variants; any other is kept as sent.
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum HeaderName {
            $($variant,)*
            Other(String),
        }

        impl HeaderName {
            /// Canonical spelling, as we print it.
            pub fn as_str(&self) -> &str {
                match self {
                    $(HeaderName::$variant => $canon,)*
                    HeaderName::Other(s) => s,
                }
            }

            /// Parse a name as it appeared on the wire (any case, compact or long).
            pub fn parse(raw: &str) -> HeaderName {
                if raw.len() == 1 {
                    let c = raw.as_bytes()[0].to_ascii_lowercase();
                    $($(if c == $c { return HeaderName::$variant; })?)*
                }
                $(if raw.eq_ignore_ascii_case($canon) { return HeaderName::$variant; })*
                HeaderName::Other(raw.to_owned())
            }
        }
    };
}

header_names! {
    Via => "Via", compact b'v';
    From => "From", compact b'f';
    To => "To", compact b't';
    CallId => "Call-ID", compact b'i';
    CSeq => "CSeq";
    Contact => "Contact", compact b'm';
    ContentLength => "Content-Length", compact b'l';
    ContentType => "Content-Type", compact b'c';
    ContentEncoding => "Content-Encoding", compact b'e';
    Subject => "Subject", compact b's';
    Supported => "Supported", compact b'k';
    Event => "Event", compact b'o';
    ReferTo => "Refer-To", compact b'r';
    ReferredBy => "Referred-By", compact b'b';
    AllowEvents => "Allow-Events", compact b'u';
    AcceptContact => "Accept-Contact", compact b'a';
    RejectContact => "Reject-Contact", compact b'j';
    RequestDisposition => "Request-Disposition", compact b'd';
    SessionExpires => "Session-Expires", compact b'x';
    Identity => "Identity", compact b'y';
    MaxForwards => "Max-Forwards";
    Expires => "Expires";
    MinExpires => "Min-Expires";
    SubscriptionState => "Subscription-State";
    Route => "Route";
    RecordRoute => "Record-Route";
    Path => "Path";
    Allow => "Allow";
    Accept => "Accept";
    Require => "Require";
    ProxyRequire => "Proxy-Require";
    Unsupported => "Unsupported";
    Authorization => "Authorization";
    ProxyAuthorization => "Proxy-Authorization";
    WwwAuthenticate => "WWW-Authenticate";
    ProxyAuthenticate => "Proxy-Authenticate";
    UserAgent => "User-Agent";
    Server => "Server";
    Date => "Date";
    RetryAfter => "Retry-After";
    Warning => "Warning";
}

impl HeaderName {
    /// Headers whose value is a comma-separated list (RFC 3261 §7.3.1) that we
    /// split into one entry per element. Others (Date, Authorization…) keep
    /// their commas.
    pub fn is_list(&self) -> bool {
        matches!(
            self,
            HeaderName::Via
                | HeaderName::Contact
                | HeaderName::Route
                | HeaderName::RecordRoute
                | HeaderName::Path
                | HeaderName::Allow
                | HeaderName::Accept
                | HeaderName::Supported
                | HeaderName::Require
                | HeaderName::ProxyRequire
                | HeaderName::Unsupported
                | HeaderName::AllowEvents
                | HeaderName::ContentEncoding
        )
    }

    /// Headers that may appear only once (RFC 3261 §7.3.1 and §20): a request
    /// carrying two of them is malformed.
    pub fn is_single(&self) -> bool {
        matches!(
            self,
            HeaderName::From
                | HeaderName::To
                | HeaderName::CallId
                | HeaderName::CSeq
                | HeaderName::MaxForwards
                | HeaderName::ContentLength
                | HeaderName::ContentType
                | HeaderName::Expires
        )
    }

    /// Whether an empty element in a list is a syntax error for this header.
    pub fn forbids_empty_elements(&self) -> bool {
        matches!(
            self,
            HeaderName::Via | HeaderName::Contact | HeaderName::Route | HeaderName::RecordRoute
        )
    }
}

impl fmt::Display for HeaderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for HeaderName {
    fn eq(&self, other: &&str) -> bool {
        self.as_str().eq_ignore_ascii_case(other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_forms_expand() {
        for (c, long) in [
            ("v", "Via"),
            ("f", "From"),
            ("t", "To"),
            ("i", "Call-ID"),
            ("m", "Contact"),
            ("l", "Content-Length"),
            ("k", "Supported"),
            ("s", "Subject"),
            ("V", "Via"),
        ] {
            assert_eq!(HeaderName::parse(c).as_str(), long);
        }
    }

    #[test]
    fn long_names_are_case_insensitive() {
        assert_eq!(HeaderName::parse("MaX-fOrWaRdS"), HeaderName::MaxForwards);
        assert_eq!(HeaderName::parse("call-id"), HeaderName::CallId);
    }

    #[test]
    fn unknown_names_kept_verbatim() {
        assert_eq!(HeaderName::parse("X-Foo").as_str(), "X-Foo");
        assert!(HeaderName::parse("x-foo") == "X-FOO");
    }
}
