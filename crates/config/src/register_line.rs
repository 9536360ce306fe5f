//! sip.conf's `register =>` lines, read as chan_sip's
//! `sip_parse_register_line` reads them:
//! `[peer?][transport://]user[@domain][:secret[:authuser]]@host[:port][/extension][~expiry]`,
//! and the form with a domain port,
//! `user@domain:domainport:secret:authuser@host…`. What chan_sip only
//! notices (a bad port, an unknown transport) comes back as notices with
//! the value it falls back to; what it refuses is an error.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
    Tls,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// `peer?`: the peer whose settings the registration uses.
    pub peer: Option<String>,
    pub transport: Transport,
    pub user: String,
    /// `user@domain`: the domain registered in (else the host).
    pub domain: Option<String>,
    pub domain_port: Option<u16>,
    pub secret: String,
    pub auth_user: String,
    pub host: String,
    /// The host's port (5060, or 5061 over TLS, when not given).
    pub port: u16,
    /// Where calls the provider sends to this registration start (`s`).
    pub extension: String,
    /// `~expiry` in seconds, when given (else `defaultexpiry`).
    pub expiry: Option<u32>,
}

pub const FORMAT: &str =
    "[peer?][transport://]user[@domain][:secret[:authuser]]@host[:port][/extension][~expiry]";

/// Split on `sep` into at most `n` parts (the last keeps the rest).
fn parts(s: &str, sep: char, n: usize) -> Vec<&str> {
    s.splitn(n, sep).collect()
}

fn unquote(s: &str) -> String {
    let s = s.trim();
    s.strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .unwrap_or(s)
        .to_owned()
}

fn port_number(s: &str) -> Option<u16> {
    s.trim().parse::<u16>().ok().filter(|&p| p > 0)
}

/// Parse a `register =>` value; notices are what chan_sip would log and
/// read past.
pub fn parse(value: &str) -> Result<(Registration, Vec<String>), String> {
    let bad = || format!("format for registration is {FORMAT}");
    let (user_part, host_part) = value.rsplit_once('@').ok_or_else(bad)?;
    if user_part.is_empty() || host_part.is_empty() {
        return Err(bad());
    }
    let mut notices = Vec::new();
    let (peer, rest) = match parts(user_part, '?', 2)[..] {
        [p, r] if !r.is_empty() => (Some(unquote(p)), r),
        _ => (None, user_part),
    };
    let (transport_text, rest) = match parts(rest, '/', 3)[..] {
        [t, blank, r] if !r.is_empty() => {
            if !blank.is_empty() {
                return Err(bad());
            }
            (Some(t.strip_suffix(':').unwrap_or(t)), r)
        }
        [t, blank] if !blank.is_empty() => {
            let _ = t;
            return Err(bad());
        }
        _ => (None, rest),
    };
    let user1 = parts(rest, ':', 3);
    let mut secret = user1.get(1).copied().unwrap_or("");
    let mut auth_user = user1.get(2).copied().unwrap_or("");
    let mut domain_port_text = None;
    // `user@domain:domainport:secret:authuser`: chan_sip reorders.
    if let [a, b] = parts(auth_user, ':', 2)[..] {
        domain_port_text = Some(secret);
        secret = a;
        auth_user = b;
    }
    let (user, domain) = match parts(user1[0], '@', 2)[..] {
        [u, d] => (u, Some(unquote(d))),
        _ => (user1[0], None),
    };
    let (host_part, expiry) = match parts(host_part, '~', 2)[..] {
        [h, e] => (
            h,
            Some(e.trim().trim_matches('"').parse::<u32>().unwrap_or(0)),
        ),
        _ => (host_part, None),
    };
    let (host_part, extension) = match parts(host_part, '/', 2)[..] {
        [h, x] => (h, unquote(x)),
        _ => (host_part, "s".to_owned()),
    };
    let (host, port_text) = match parts(host_part, ':', 2)[..] {
        [h, p] => (h, Some(p)),
        _ => (host_part, None),
    };
    let transport = match transport_text.map(|t| t.get(..3).unwrap_or(t).to_ascii_lowercase()) {
        None => Transport::Udp,
        Some(t) if t == "tcp" => Transport::Tcp,
        Some(t) if t == "tls" => Transport::Tls,
        Some(t) if t == "udp" => Transport::Udp,
        Some(t) => {
            notices.push(format!("'{t}' is not a valid transport type: udp is used"));
            Transport::Udp
        }
    };
    let default_port = if transport == Transport::Tls {
        5061
    } else {
        5060
    };
    let port = match port_text {
        None => default_port,
        Some(p) => port_number(p).unwrap_or_else(|| {
            notices.push(format!(
                "'{p}' is not a valid port number: {default_port} is used"
            ));
            default_port
        }),
    };
    let domain_port = domain_port_text.and_then(|p| {
        let n = port_number(p);
        if n.is_none() {
            notices.push(format!("'{p}' is not a valid domain port number: ignored"));
        }
        n
    });
    Ok((
        Registration {
            peer,
            transport,
            user: unquote(user),
            domain,
            domain_port,
            secret: unquote(secret),
            auth_user: unquote(auth_user),
            host: unquote(host),
            port,
            extension,
            expiry,
        },
        notices,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(v: &str) -> Registration {
        let (r, n) = parse(v).unwrap();
        assert!(n.is_empty(), "{n:?}");
        r
    }

    #[test]
    fn the_forms_of_sip_conf_sample() {
        let r = ok("1234:password@mysipprovider.com");
        assert_eq!(
            (r.user.as_str(), r.secret.as_str(), r.host.as_str(), r.port),
            ("1234", "password", "mysipprovider.com", 5060)
        );
        assert_eq!(
            (r.extension.as_str(), r.expiry, r.transport),
            ("s", None, Transport::Udp)
        );
        let r = ok("2345:password@sip_proxy/1234");
        assert_eq!(r.extension, "1234");
        let r = ok("tls://username:xxxxxx@sip-tls-proxy.example.org");
        assert_eq!((r.transport, r.port), (Transport::Tls, 5061));
        let r = ok("3456@mydomain:5082::@mysipprovider.com");
        assert_eq!(
            (
                r.user.as_str(),
                r.domain.as_deref(),
                r.domain_port,
                r.secret.as_str()
            ),
            ("3456", Some("mydomain"), Some(5082), "")
        );
        let r = ok("trunk?tcp://user@example.com:secret:auth@10.0.0.1:5070/100~600");
        assert_eq!(r.peer.as_deref(), Some("trunk"));
        assert_eq!(r.transport, Transport::Tcp);
        assert_eq!(
            (
                r.user.as_str(),
                r.domain.as_deref(),
                r.secret.as_str(),
                r.auth_user.as_str()
            ),
            ("user", Some("example.com"), "secret", "auth")
        );
        assert_eq!(
            (r.host.as_str(), r.port, r.extension.as_str(), r.expiry),
            ("10.0.0.1", 5070, "100", Some(600))
        );
    }

    #[test]
    fn what_chan_sip_refuses_or_notices() {
        assert!(parse("no-at-sign").is_err());
        assert!(parse("@host").is_err());
        let (r, n) = parse("sctp://u:p@h:99999").unwrap();
        assert_eq!((r.transport, r.port), (Transport::Udp, 5060));
        assert_eq!(n.len(), 2, "{n:?}");
    }
}
