//! Via (RFC 3261 §20.42) with LWS anywhere the grammar allows it, IPv6
//! sent-by (RFC 5118) and the RFC 3581 `rport`/`received` parameters.

use super::params::Params;
use crate::error::ParseError;
use crate::text::{is_token, split_outside, trim_lws};
use crate::uri::{parse_hostport, Host};
use std::fmt;

/// The magic cookie that marks an RFC 3261 branch.
pub const BRANCH_COOKIE: &str = "z9hG4bK";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    /// `UDP`, `TCP`, `TLS`… upper-cased.
    pub transport: String,
    pub host: Host,
    pub port: Option<u16>,
    pub params: Params,
}

impl Via {
    pub const NAME: &'static str = "Via";

    pub fn parse(s: &str) -> Result<Via, ParseError> {
        const E: &str = Via::NAME;
        let parts = split_outside(s, b';').map_err(|r| ParseError::new(E, r))?;
        let head = parts[0];
        let mut proto = head.splitn(3, '/');
        let (Some(name), Some(version), Some(rest)) = (proto.next(), proto.next(), proto.next())
        else {
            return Err(ParseError::new(E, "bad sent-protocol"));
        };
        if !trim_lws(name).eq_ignore_ascii_case("SIP") || trim_lws(version) != "2.0" {
            return Err(ParseError::new(E, "bad sent-protocol"));
        }
        let rest = trim_lws(rest);
        let split = rest
            .find(|c: char| c.is_ascii_whitespace())
            .ok_or(ParseError::new(E, "missing sent-by"))?;
        let transport = &rest[..split];
        if !is_token(transport) {
            return Err(ParseError::new(E, "bad transport"));
        }
        // SWS is allowed around the sent-by's colon.
        let sent_by = crate::text::strip_ws(&rest[split..]);
        let (host, port) = parse_hostport(&sent_by)?;
        let params = if parts.len() > 1 {
            Params::parse(&s[head.len() + 1..], E)?
        } else {
            Params::default()
        };
        Ok(Via {
            transport: transport.to_ascii_uppercase(),
            host,
            port,
            params,
        })
    }

    /// Our own Via: `SIP/2.0/<transport> <sent-by>;branch=<branch>;rport`
    /// (rport asks the next hop to answer where the request came from,
    /// RFC 3581). A sent-by that does not parse is kept as a host name.
    pub fn new(transport: &str, sent_by: &str, branch: &str) -> Via {
        let (host, port) =
            parse_hostport(sent_by).unwrap_or_else(|_| (Host::Name(sent_by.to_owned()), None));
        let mut params = Params::default();
        params.set("branch", Some(branch.to_owned()));
        params.set("rport", None);
        Via {
            transport: transport.to_ascii_uppercase(),
            host,
            port,
            params,
        }
    }

    pub fn branch(&self) -> Option<&str> {
        self.params.value("branch")
    }

    /// Whether the branch carries the RFC 3261 magic cookie.
    pub fn is_rfc3261(&self) -> bool {
        self.branch()
            .is_some_and(|b| b.starts_with(BRANCH_COOKIE) && b.len() > BRANCH_COOKIE.len())
    }

    /// `host[:port]` as sent.
    pub fn sent_by(&self) -> String {
        match self.port {
            Some(p) => format!("{}:{p}", self.host),
            None => self.host.to_string(),
        }
    }

    /// Fill in `received` and, when the client asked (or `force`), `rport`
    /// (RFC 3581 §4), from the address the request really came from.
    pub fn stamp_received(&mut self, ip: std::net::IpAddr, port: u16, force_rport: bool) {
        let ip_text = ip.to_string();
        let host_matches = match &self.host {
            Host::Name(n) => *n == ip_text,
            Host::V6(a) => a.parse::<std::net::IpAddr>().ok() == Some(ip),
        };
        let wants_rport = self.params.has("rport") || force_rport;
        if !host_matches || wants_rport {
            self.params.set("received", Some(ip_text));
        }
        if wants_rport {
            // After `received`, as Asterisk writes it.
            self.params.remove("rport");
            self.params.set("rport", Some(port.to_string()));
        }
    }
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SIP/2.0/{} {}{}",
            self.transport,
            self.sent_by(),
            self.params
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zoiper_via_round_trip() {
        let s = "SIP/2.0/UDP 10.213.0.154:52210;branch=z9hG4bK-524287-1---2c2184ae638ec89f;rport";
        let v = Via::parse(s).unwrap();
        assert_eq!(v.transport, "UDP");
        assert_eq!(v.port, Some(52210));
        assert_eq!(v.branch(), Some("z9hG4bK-524287-1---2c2184ae638ec89f"));
        assert_eq!(v.to_string(), s);
    }

    #[test]
    fn stamps_received_and_rport_like_the_capture() {
        let mut v = Via::parse("SIP/2.0/UDP 10.213.0.154:52210;branch=z9hG4bK-1;rport").unwrap();
        v.stamp_received("10.213.0.154".parse().unwrap(), 52210, false);
        assert_eq!(
            v.to_string(),
            "SIP/2.0/UDP 10.213.0.154:52210;branch=z9hG4bK-1;received=10.213.0.154;rport=52210"
        );
    }

    #[test]
    fn tortuous_lws() {
        let v = Via::parse("SIP  /   2.0 /UDP    192.0.2.2;branch=390skdjuw").unwrap();
        assert_eq!(v.host, Host::Name("192.0.2.2".into()));
        let v =
            Via::parse("SIP  / 2.0  / TCP     spindle.example.com   ; branch  =   z9hG4bK9ikj8  ")
                .unwrap();
        assert_eq!(v.branch(), Some("z9hG4bK9ikj8"));
        assert!(v.is_rfc3261());
    }

    #[test]
    fn ipv6_sent_by_and_received() {
        let v = Via::parse(
            "SIP/2.0/UDP [2001:db8::9:1]:6050;branch=z9hG4bKas3-111;received=2001:db8::9:255",
        )
        .unwrap();
        assert_eq!(v.host, Host::V6("2001:db8::9:1".into()));
        assert_eq!(v.params.value("received"), Some("2001:db8::9:255"));
    }

    #[test]
    fn new_prints_like_a_phone_would() {
        let v = Via::new("udp", "127.0.0.1:5060", "z9hG4bK-asm-1");
        assert_eq!(
            v.to_string(),
            "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-asm-1;rport"
        );
        assert_eq!(Via::parse(&v.to_string()).unwrap(), v);
    }

    #[test]
    fn empty_params_are_errors() {
        assert!(Via::parse("SIP/2.0/UDP 192.0.2.15;;").is_err());
    }

    #[test]
    fn bare_cookie_is_not_rfc3261() {
        let v = Via::parse("SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK").unwrap();
        assert!(!v.is_rfc3261());
    }
}
