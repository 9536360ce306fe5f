//! SIP and SIPS URIs (RFC 3261 §19.1) with IPv6 references (RFC 5118). Other
//! schemes (tel:, soap.beep:…) are kept as opaque text so the edge can answer
//! 416 rather than 400.

use crate::error::ParseError;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// Domain name or IPv4 address, as written.
    Name(String),
    /// IPv6 reference, without the brackets.
    V6(String),
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Name(n) => f.write_str(n),
            Host::V6(a) => write!(f, "[{a}]"),
        }
    }
}

impl Host {
    /// Parse `host` of `hostport`: `[v6]`, IPv4 or a domain name.
    pub fn parse(s: &str) -> Result<Host, ParseError> {
        const E: &str = "host";
        if let Some(inner) = s.strip_prefix('[') {
            let inner = inner
                .strip_suffix(']')
                .ok_or(ParseError::new(E, "unterminated IPv6 reference"))?;
            // Tolerates the RFC 3261 ABNF bug (three colons, RFC 5118 §4.10).
            if inner.is_empty()
                || !inner.contains(':')
                || !inner
                    .bytes()
                    .all(|c| c.is_ascii_hexdigit() || c == b':' || c == b'.')
            {
                return Err(ParseError::new(E, "bad IPv6 reference"));
            }
            return Ok(Host::V6(inner.to_owned()));
        }
        if s.is_empty()
            || !s
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'.')
        {
            return Err(ParseError::new(E, "bad host name"));
        }
        Ok(Host::Name(s.to_owned()))
    }
}

/// Split `host[:port]`, honouring IPv6 brackets.
pub fn parse_hostport(s: &str) -> Result<(Host, Option<u16>), ParseError> {
    let (host, port) = if s.starts_with('[') {
        let close = s
            .find(']')
            .ok_or(ParseError::new("host", "unterminated IPv6 reference"))?;
        let rest = &s[close + 1..];
        let port = match rest.strip_prefix(':') {
            Some(p) => Some(p),
            None if rest.is_empty() => None,
            None => return Err(ParseError::new("host", "junk after IPv6 reference")),
        };
        (&s[..=close], port)
    } else {
        match s.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    let port = match port {
        Some(p) => Some(
            p.parse::<u16>()
                .map_err(|_| ParseError::new("host", "bad port"))?,
        ),
        None => None,
    };
    Ok((Host::parse(host)?, port))
}

/// A parsed URI. For non-SIP schemes only `scheme` and `raw` are meaningful.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uri {
    pub scheme: String,
    pub user: Option<String>,
    pub host: Host,
    pub port: Option<u16>,
    /// URI parameters in order, names lower-cased.
    pub params: Vec<(String, Option<String>)>,
    /// The `?headers` part, if any.
    pub headers: Option<String>,
    /// The URI exactly as received.
    pub raw: String,
}

impl Uri {
    /// `sip:user@host[:port]`, for the URIs we originate (None if
    /// `hostport` is not one).
    pub fn sip(user: &str, hostport: &str) -> Option<Uri> {
        let (host, port) = parse_hostport(hostport).ok()?;
        // RFC 3261 §25.1 `user`: unreserved and user-unreserved as they
        // are, anything else escaped (a caller ID with a space, say).
        let mut escaped = String::with_capacity(user.len());
        for b in user.bytes() {
            if b.is_ascii_alphanumeric() || b"-_.!~*'()&=+$,;?/".contains(&b) {
                escaped.push(b as char);
            } else {
                escaped.push_str(&format!("%{b:02X}"));
            }
        }
        let raw = format!("sip:{escaped}@{hostport}");
        Some(Uri {
            scheme: "sip".into(),
            user: Some(escaped),
            host,
            port,
            params: Vec::new(),
            headers: None,
            raw,
        })
    }

    pub fn is_sip(&self) -> bool {
        self.scheme.eq_ignore_ascii_case("sip") || self.scheme.eq_ignore_ascii_case("sips")
    }

    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        self.params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_deref())
    }

    /// Parse a URI. Whitespace anywhere is an error; a SIP URI must have a valid
    /// host. Unknown schemes are accepted opaquely.
    pub fn parse(s: &str) -> Result<Uri, ParseError> {
        const E: &str = "URI";
        if s.is_empty() || s.bytes().any(|c| c.is_ascii_whitespace() || c < 0x20) {
            return Err(ParseError::new(E, "empty or contains white space"));
        }
        let (scheme, rest) = s
            .split_once(':')
            .ok_or(ParseError::new(E, "missing scheme"))?;
        if scheme.is_empty()
            || !scheme.as_bytes()[0].is_ascii_alphabetic()
            || !scheme
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || b"+-.".contains(&c))
        {
            return Err(ParseError::new(E, "bad scheme"));
        }
        let mut uri = Uri {
            scheme: scheme.to_owned(),
            user: None,
            host: Host::Name(String::new()),
            port: None,
            params: Vec::new(),
            headers: None,
            raw: s.to_owned(),
        };
        if !uri.is_sip() {
            return Ok(uri);
        }
        // A raw '@' may only end the userinfo: params and headers escape it.
        let (user, hostpart) = match rest.rfind('@') {
            Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
            None => (None, rest),
        };
        if let Some(u) = user {
            if u.is_empty() {
                return Err(ParseError::new(E, "empty user part"));
            }
            uri.user = Some(u.to_owned());
        }
        let (before_headers, headers) = match hostpart.split_once('?') {
            Some((a, h)) => (a, Some(h)),
            None => (hostpart, None),
        };
        uri.headers = headers.map(str::to_owned);
        let mut pieces = before_headers.split(';');
        let hostport = pieces.next().unwrap_or_default();
        let (host, port) = parse_hostport(hostport)?;
        uri.host = host;
        uri.port = port;
        for p in pieces {
            if p.is_empty() {
                return Err(ParseError::new(E, "empty parameter"));
            }
            let (k, v) = match p.split_once('=') {
                Some((k, v)) => (k, Some(v.to_owned())),
                None => (p, None),
            };
            uri.params.push((k.to_ascii_lowercase(), v));
        }
        Ok(uri)
    }

    /// `user@host[:port]` without scheme or parameters.
    pub fn user_host(&self) -> String {
        let mut s = String::new();
        if let Some(u) = &self.user {
            s.push_str(u);
            s.push('@');
        }
        s.push_str(&self.host.to_string());
        if let Some(p) = self.port {
            s.push(':');
            s.push_str(&p.to_string());
        }
        s
    }
}

impl fmt::Display for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sip_uris_we_build_parse_back_and_escape_the_user() {
        let u = Uri::sip("+1 555", "127.0.0.1:5060").unwrap();
        assert_eq!(u.raw, "sip:+1%20555@127.0.0.1:5060");
        let back = Uri::parse(&u.raw).unwrap();
        assert_eq!((back.user, back.host, back.port), (u.user, u.host, u.port));
        assert!(Uri::sip("bob", "[::1").is_none());
    }

    #[test]
    fn sip_uri_parts() {
        let u = Uri::parse("sip:nlys@10.213.0.154:52210;rinstance=2b32;transport=UDP").unwrap();
        assert_eq!(u.user.as_deref(), Some("nlys"));
        assert_eq!(u.host, Host::Name("10.213.0.154".into()));
        assert_eq!(u.port, Some(52210));
        assert_eq!(u.param("transport"), Some(Some("UDP")));
    }

    #[test]
    fn ipv6_with_and_without_port() {
        let u = Uri::parse("sip:[2001:db8::10]:5070").unwrap();
        assert_eq!(u.host, Host::V6("2001:db8::10".into()));
        assert_eq!(u.port, Some(5070));
        let u = Uri::parse("sip:[2001:db8::10:5070]").unwrap();
        assert_eq!(u.port, None);
    }

    #[test]
    fn unbracketed_ipv6_is_an_error() {
        assert!(Uri::parse("sip:user@2001:db8::10").is_err());
    }

    #[test]
    fn user_with_semicolons_and_escaped_at() {
        let u = Uri::parse("sip:user;par=u%40example.net@example.com").unwrap();
        assert_eq!(u.user.as_deref(), Some("user;par=u%40example.net"));
        assert_eq!(u.host, Host::Name("example.com".into()));
    }

    #[test]
    fn other_schemes_are_opaque() {
        let u = Uri::parse("soap.beep://192.0.2.103:3002").unwrap();
        assert!(!u.is_sip());
    }

    #[test]
    fn whitespace_is_an_error() {
        assert!(Uri::parse("sip:a b@c").is_err());
    }
}
