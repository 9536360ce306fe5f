//! HTTP Digest for SIP (RFC 2617, RFC 7616, RFC 3261 §22): reading the
//! Authorization header with its values kept raw (`nc=0000000a` stays a
//! string, unknown algorithms are reported, not guessed), computing the
//! expected response, and printing a WWW-Authenticate challenge.

use crate::error::ParseError;
use crate::text::{split_outside, trim_lws};
use md5::{Digest as _, Md5};
use sha2::Sha256;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Md5,
    Md5Sess,
    Sha256,
    Sha256Sess,
}

impl Algorithm {
    /// Absent means MD5 (RFC 2617 §3.2.1).
    pub fn parse(s: Option<&str>) -> Option<Algorithm> {
        match s {
            None => Some(Algorithm::Md5),
            Some(a) if a.eq_ignore_ascii_case("MD5") => Some(Algorithm::Md5),
            Some(a) if a.eq_ignore_ascii_case("MD5-sess") => Some(Algorithm::Md5Sess),
            Some(a) if a.eq_ignore_ascii_case("SHA-256") => Some(Algorithm::Sha256),
            Some(a) if a.eq_ignore_ascii_case("SHA-256-sess") => Some(Algorithm::Sha256Sess),
            Some(_) => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Md5Sess => "MD5-sess",
            Algorithm::Sha256 => "SHA-256",
            Algorithm::Sha256Sess => "SHA-256-sess",
        }
    }

    pub(crate) fn hash(self, parts: &[&str]) -> String {
        fn run<D: md5::Digest>(mut d: D, parts: &[&str]) -> String {
            for (i, p) in parts.iter().enumerate() {
                if i > 0 {
                    d.update(b":");
                }
                d.update(p.as_bytes());
            }
            hex::encode(d.finalize())
        }
        match self {
            Algorithm::Md5 | Algorithm::Md5Sess => run(Md5::new(), parts),
            Algorithm::Sha256 | Algorithm::Sha256Sess => run(Sha256::new(), parts),
        }
    }

    pub(crate) fn is_sess(self) -> bool {
        matches!(self, Algorithm::Md5Sess | Algorithm::Sha256Sess)
    }
}

/// Digest parameters as the client sent them (quotes removed, nothing else).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub realm: String,
    pub nonce: String,
    pub uri: String,
    pub response: String,
    pub algorithm: Option<String>,
    pub cnonce: Option<String>,
    pub qop: Option<String>,
    pub nc: Option<String>,
    pub opaque: Option<String>,
}

/// Parse an Authorization / Proxy-Authorization value. `Ok(None)` for a
/// scheme other than Digest (RFC 4475 regaut01: ignore it, challenge again).
pub fn parse_authorization(value: &str) -> Result<Option<Credentials>, ParseError> {
    const E: &str = "Authorization";
    let Some(rest) = digest_params(value) else {
        return Ok(None);
    };
    let mut c = Credentials::default();
    for (k, v) in params(rest, E)? {
        match k.to_ascii_lowercase().as_str() {
            "username" => c.username = v,
            "realm" => c.realm = v,
            "nonce" => c.nonce = v,
            "uri" => c.uri = v,
            "response" => c.response = v,
            "algorithm" => c.algorithm = Some(v),
            "cnonce" => c.cnonce = Some(v),
            "qop" => c.qop = Some(v),
            "nc" => c.nc = Some(v),
            "opaque" => c.opaque = Some(v),
            _ => {}
        }
    }
    if c.username.is_empty() || c.nonce.is_empty() || c.response.is_empty() {
        return Err(ParseError::new(E, "missing username, nonce or response"));
    }
    Ok(Some(c))
}

/// What follows the `Digest` scheme of a header value (None: another scheme).
pub(crate) fn digest_params(value: &str) -> Option<&str> {
    let value = trim_lws(value);
    let (scheme, rest) = value
        .split_once(|c: char| c.is_ascii_whitespace())
        .unwrap_or((value, ""));
    scheme.eq_ignore_ascii_case("Digest").then_some(rest)
}

/// The `k=v` parameters of a Digest header after its scheme, quotes
/// removed (`header`: for the error).
pub(crate) fn params(
    rest: &str,
    header: &'static str,
) -> Result<Vec<(String, String)>, ParseError> {
    let mut out = Vec::new();
    for item in split_outside(rest, b',').map_err(|r| ParseError::new(header, r))? {
        let item = trim_lws(item);
        if item.is_empty() {
            continue;
        }
        let (k, v) = item
            .split_once('=')
            .ok_or(ParseError::new(header, "parameter without ="))?;
        let v = trim_lws(v);
        let v = match v.strip_prefix('"') {
            Some(inner) => inner
                .strip_suffix('"')
                .ok_or(ParseError::new(header, "unterminated quote"))?
                .replace("\\\"", "\"")
                .replace("\\\\", "\\"),
            None => v.to_owned(),
        };
        out.push((trim_lws(k).to_owned(), v));
    }
    Ok(out)
}

/// HA1 = H(username:realm:password) (what sip.conf's `md5secret` stores for MD5).
pub fn ha1(alg: Algorithm, username: &str, realm: &str, password: &str) -> String {
    alg.hash(&[username, realm, password])
}

/// The response the client must have computed, from a stored HA1.
pub fn expected_response(alg: Algorithm, ha1: &str, method: &str, c: &Credentials) -> String {
    let cnonce = c.cnonce.as_deref().unwrap_or_default();
    let ha1 = if alg.is_sess() {
        alg.hash(&[ha1, &c.nonce, cnonce])
    } else {
        ha1.to_owned()
    };
    let ha2 = alg.hash(&[method, &c.uri]);
    match c.qop.as_deref() {
        Some(qop) => alg.hash(&[
            &ha1,
            &c.nonce,
            c.nc.as_deref().unwrap_or_default(),
            cnonce,
            qop,
            &ha2,
        ]),
        None => alg.hash(&[&ha1, &c.nonce, &ha2]),
    }
}

/// Compare two hex digests without leaking where they differ.
pub fn digests_equal(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| {
            acc | (x.to_ascii_lowercase() ^ y.to_ascii_lowercase())
        }) == 0
}

/// A WWW-Authenticate challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub realm: String,
    pub nonce: String,
    pub algorithm: Algorithm,
    pub qop: Option<String>,
    pub opaque: Option<String>,
    pub stale: bool,
}

impl fmt::Display for Challenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Digest realm=\"{}\", nonce=\"{}\", algorithm={}",
            self.realm,
            self.nonce,
            self.algorithm.as_str()
        )?;
        if let Some(q) = &self.qop {
            write!(f, ", qop=\"{q}\"")?;
        }
        if let Some(o) = &self.opaque {
            write!(f, ", opaque=\"{o}\"")?;
        }
        if self.stale {
            f.write_str(", stale=true")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 2617 §3.5: the worked example (HTTP GET, qop=auth, MD5).
    #[test]
    fn rfc2617_worked_example() {
        let c = parse_authorization(
            r#"Digest username="Mufasa", realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", qop=auth, nc=00000001, cnonce="0a4f113b", response="6629fae49393a05397450978507c4ef1", opaque="5ccc069c403ebaf9f0171e9517f40e41""#,
        )
        .unwrap()
        .unwrap();
        assert_eq!(c.nc.as_deref(), Some("00000001"));
        let h = ha1(
            Algorithm::Md5,
            "Mufasa",
            "testrealm@host.com",
            "Circle Of Life",
        );
        assert_eq!(
            expected_response(Algorithm::Md5, &h, "GET", &c),
            "6629fae49393a05397450978507c4ef1"
        );
    }

    /// RFC 7616 §3.9.1: the SHA-256 example.
    #[test]
    fn rfc7616_sha256_example() {
        let c = Credentials {
            username: "Mufasa".into(),
            realm: "http-auth@example.org".into(),
            nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v".into(),
            uri: "/dir/index.html".into(),
            qop: Some("auth".into()),
            nc: Some("00000001".into()),
            cnonce: Some("f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ".into()),
            ..Default::default()
        };
        let h = ha1(
            Algorithm::Sha256,
            "Mufasa",
            "http-auth@example.org",
            "Circle of Life",
        );
        assert_eq!(
            expected_response(Algorithm::Sha256, &h, "GET", &c),
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
    }

    #[test]
    fn raw_values_and_unquoted_params() {
        let c = parse_authorization(
            "Digest username=\"bob\",realm=\"asterisk\",nonce=\"n\",uri=\"sip:h\",response=\"r\",algorithm=SHA-256,nc=0000000a,qop=auth",
        )
        .unwrap()
        .unwrap();
        assert_eq!(c.nc.as_deref(), Some("0000000a"));
        assert_eq!(
            Algorithm::parse(c.algorithm.as_deref()),
            Some(Algorithm::Sha256)
        );
    }

    #[test]
    fn other_schemes_are_not_digest() {
        assert_eq!(
            parse_authorization("NoOneKnowsThisScheme opaque-data=here").unwrap(),
            None
        );
    }

    #[test]
    fn challenge_text() {
        let ch = Challenge {
            realm: "asterisk".into(),
            nonce: "47a5e6d5".into(),
            algorithm: Algorithm::Md5,
            qop: Some("auth".into()),
            opaque: None,
            stale: true,
        };
        assert_eq!(
            ch.to_string(),
            "Digest realm=\"asterisk\", nonce=\"47a5e6d5\", algorithm=MD5, qop=\"auth\", stale=true"
        );
    }
}
