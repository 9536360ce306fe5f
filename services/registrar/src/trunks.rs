//! Trunks: sip.conf peers with a static `host=` (an ITSP, another PBX).
//! Calls go to them at `host`/`port` (or through `outboundproxy`), with
//! `fromuser`/`fromdomain` in the From, and their challenges answered with
//! `defaultuser` (else the peer's name) and `remotesecret` (else `secret`).
//! Their INVITEs are recognised by source address (`insecure=port`: any
//! port of theirs; else the `port` too) and, with `insecure=invite`, taken
//! without a challenge, as chan_sip does. Names are resolved when sip.conf
//! loads.

use crate::users::bad;
use asterism_config::{ConfError, Section};
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trunk {
    /// `host=` as written: the Request-URI's host.
    pub host: String,
    pub port: u16,
    /// The host's addresses (from DNS when it is a name).
    pub addrs: Vec<IpAddr>,
    /// Where requests go: the outbound proxy's address, else the host's.
    pub send_to: Option<SocketAddr>,
    /// `insecure=port`: its requests may come from any port.
    pub insecure_port: bool,
    /// `insecure=invite`: its INVITEs are not challenged.
    pub insecure_invite: bool,
    pub defaultuser: Option<String>,
    pub fromuser: Option<String>,
    pub fromdomain: Option<String>,
    pub remotesecret: Option<String>,
    /// `qualify=`: the longest answer time (ms) to an OPTIONS before the
    /// peer counts as LAGGED; 0: not qualified.
    pub qualify_ms: u32,
    /// `qualifyfreq=`: seconds between OPTIONS (chan_sip's default 60).
    pub qualify_freq: u32,
}

/// chan_sip's DEFAULT_MAXMS: `qualify=yes`.
pub const QUALIFY_DEFAULT_MS: u32 = 2000;

fn first_addr(host: &str, port: u16) -> Option<SocketAddr> {
    (host, port).to_socket_addrs().ok()?.next()
}

/// `host[:port]`, with or without `sip:`, for `outboundproxy=`.
fn host_port(v: &str) -> (String, u16) {
    let v = v.trim().trim_start_matches("sip:");
    let v = v.split(';').next().unwrap_or(v);
    match v.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') || h.ends_with(']') => (
            h.trim_matches(['[', ']']).to_owned(),
            p.parse().unwrap_or(5060),
        ),
        _ => (v.trim_matches(['[', ']']).to_owned(), 5060),
    }
}

impl Trunk {
    /// The trunk of section `s` with `host=<host>`; warnings for names that
    /// do not resolve and `insecure` words chan_sip does not know.
    pub fn from_section(
        s: &Section,
        host: &str,
        warnings: &mut Vec<String>,
    ) -> Result<Trunk, ConfError> {
        let text = |k: &str| {
            s.get(k)
                .map(|e| e.value.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let port = match s.get("port") {
            Some(e) => e
                .value
                .trim()
                .parse()
                .map_err(|_| bad(e, "port must be 1-65535"))?,
            None => 5060,
        };
        let (mut insecure_port, mut insecure_invite) = (false, false);
        if let Some(e) = s.get("insecure") {
            for w in e.value.split(',').map(|w| w.trim().to_ascii_lowercase()) {
                match w.as_str() {
                    "port" => insecure_port = true,
                    "invite" => insecure_invite = true,
                    "very" => (insecure_port, insecure_invite) = (true, true),
                    "no" | "" => {}
                    other => warnings.push(format!(
                        "{}:{}: unknown insecure mode '{other}': ignored, as Asterisk does",
                        e.file.display(),
                        e.line
                    )),
                }
            }
        }
        let addrs: Vec<IpAddr> = match host.parse::<IpAddr>() {
            Ok(ip) => vec![ip],
            Err(_) => (host, port)
                .to_socket_addrs()
                .map(|a| a.map(|a| a.ip()).collect())
                .unwrap_or_default(),
        };
        let at = |k: &str| {
            s.get(k)
                .or(s.get("host"))
                .map_or(format!("[{}]", s.name), |e| {
                    format!("{}:{}", e.file.display(), e.line)
                })
        };
        if addrs.is_empty() {
            warnings.push(format!(
                "{}: host '{host}' of [{}] does not resolve: calls to it fail (CHANUNAVAIL) until sip.conf is loaded again",
                at("host"),
                s.name
            ));
        }
        let send_to = match text("outboundproxy") {
            Some(p) => {
                let (h, pp) = host_port(&p);
                let a = first_addr(&h, pp);
                if a.is_none() {
                    warnings.push(format!(
                        "{}: outboundproxy '{p}' of [{}] does not resolve",
                        at("outboundproxy"),
                        s.name
                    ));
                }
                a
            }
            None => addrs.first().map(|ip| SocketAddr::new(*ip, port)),
        };
        let qualify_ms = match s.get("qualify") {
            None => 0,
            Some(e) => match e.value.trim().to_ascii_lowercase().as_str() {
                "yes" | "true" | "on" | "y" | "1" => QUALIFY_DEFAULT_MS,
                "no" | "false" | "off" | "n" | "0" => 0,
                v => v
                    .parse()
                    .map_err(|_| bad(e, "must be yes, no or milliseconds"))?,
            },
        };
        let qualify_freq = match s.get("qualifyfreq") {
            None => 60,
            Some(e) => e
                .value
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|&f| f > 0)
                .ok_or_else(|| bad(e, "must be a number of seconds"))?,
        };
        Ok(Trunk {
            qualify_ms,
            qualify_freq,
            host: host.to_owned(),
            port,
            addrs,
            send_to,
            insecure_port,
            insecure_invite,
            defaultuser: text("defaultuser").or_else(|| text("username")),
            fromuser: text("fromuser"),
            fromdomain: text("fromdomain"),
            remotesecret: text("remotesecret"),
        })
    }

    /// Whether a request from `from` comes from this trunk.
    pub fn is_source(&self, from: SocketAddr) -> bool {
        self.addrs.contains(&from.ip()) && (self.insecure_port || from.port() == self.port)
    }
}

/// What the edge needs of trunk `t` (peer `u`) to call it.
pub fn pb(u: &crate::users::User, t: &Trunk) -> asterism_proto::registrar::Trunk {
    asterism_proto::registrar::Trunk {
        host: t.host.clone(),
        port: u32::from(t.port),
        send_to: t.send_to.map(|a| a.to_string()).unwrap_or_default(),
        defaultuser: t.defaultuser.clone().unwrap_or_default(),
        fromuser: t.fromuser.clone().unwrap_or_default(),
        fromdomain: t.fromdomain.clone().unwrap_or_default(),
        can_sign: t.remotesecret.is_some() || matches!(u.secret, crate::users::Secret::Plain(_)),
        name: u.name.clone(),
        qualify_ms: t.qualify_ms,
        qualify_freq: t.qualify_freq,
    }
}

/// Why a challenge could not be answered.
#[derive(Debug, PartialEq, Eq)]
pub enum SignError {
    NotATrunk,
    NoCredentials,
    Unanswerable(String),
}

/// The Authorization answering `challenge` for `method` on `uri` as trunk
/// `u`: `defaultuser` (else the peer's name) and `remotesecret` (else
/// `secret`), as chan_sip answers a provider.
pub fn sign(
    u: &crate::users::User,
    method: &str,
    uri: &str,
    challenge: &str,
) -> Result<String, SignError> {
    let t = u.trunk.as_ref().ok_or(SignError::NotATrunk)?;
    let secret = match (&t.remotesecret, &u.secret) {
        (Some(s), _) => s.as_str(),
        (None, crate::users::Secret::Plain(s)) => s.as_str(),
        _ => return Err(SignError::NoCredentials),
    };
    let user = t.defaultuser.as_deref().unwrap_or(&u.name);
    sign_as((user, secret), method, uri, challenge)
}

/// The Authorization answering `challenge` as `user` with `secret`.
pub fn sign_as(
    (user, secret): (&str, &str),
    method: &str,
    uri: &str,
    challenge: &str,
) -> Result<String, SignError> {
    let bad = |e: asterism_sip::ParseError| SignError::Unanswerable(e.to_string());
    let ch = asterism_sip::digest_client::parse_challenge(challenge)
        .map_err(bad)?
        .ok_or_else(|| SignError::Unanswerable("not a Digest challenge".into()))?;
    let cnonce = format!("{:016x}", rand::random::<u64>());
    asterism_sip::digest_client::authorize(&ch, (user, secret), (method, uri), &cnonce).map_err(bad)
}

#[cfg(test)]
mod tests {
    use super::*;
    use asterism_config::ConfFile;
    use std::path::Path;

    fn trunk(text: &str) -> (Trunk, Vec<String>) {
        let conf = ConfFile::parse(Path::new("sip.conf"), text).unwrap();
        let s = &conf.sections[0];
        let host = s.get("host").unwrap().value.clone();
        let mut w = Vec::new();
        (Trunk::from_section(s, &host, &mut w).unwrap(), w)
    }

    #[test]
    fn a_provider_by_address() {
        let (t, w) = trunk("[itsp]\ntype=peer\nhost=192.0.2.10\nport=5080\ninsecure=invite\ndefaultuser=4930123\nfromuser=4930123\nfromdomain=sip.itsp.example\n");
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(t.send_to, Some("192.0.2.10:5080".parse().unwrap()));
        assert!(t.is_source("192.0.2.10:5080".parse().unwrap()));
        assert!(
            !t.is_source("192.0.2.10:5060".parse().unwrap()),
            "insecure=port not set"
        );
        assert!(!t.is_source("192.0.2.11:5080".parse().unwrap()));
        assert_eq!(t.fromdomain.as_deref(), Some("sip.itsp.example"));
        let (t, _) = trunk(
            "[itsp]\nhost=192.0.2.10\ninsecure=port,invite\noutboundproxy=sip:192.0.2.99:5070;lr\n",
        );
        assert!(t.is_source("192.0.2.10:40000".parse().unwrap()));
        assert_eq!(t.send_to, Some("192.0.2.99:5070".parse().unwrap()));
        assert!(t.insecure_invite);
    }

    #[test]
    fn names_that_do_not_resolve_and_unknown_words_are_warned() {
        let (t, w) = trunk("[itsp]\nhost=no-such-host.invalid\ninsecure=sometimes\n");
        assert!(t.addrs.is_empty() && t.send_to.is_none());
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w[0].contains("unknown insecure mode 'sometimes'"), "{w:?}");
        assert!(w[1].contains("does not resolve"), "{w:?}");
        let (t, _) = trunk("[local]\nhost=localhost\n");
        assert!(t.addrs.iter().any(|a| a.is_loopback()), "{t:?}");
    }
}
