//! The client side of Digest (RFC 2617, RFC 7616, RFC 3261 §22.2): read a
//! provider's `WWW-Authenticate`/`Proxy-Authenticate` challenge and write
//! the `Authorization` that answers it, as a trunk registering or calling
//! out does. `qop=auth` is used when offered (a fresh cnonce, nc 1);
//! `auth-int` alone or an unknown algorithm cannot be answered.

use super::digest::{digest_params, params, Algorithm, Challenge};
use crate::error::ParseError;
use crate::text::trim_lws;

/// Read a challenge. `Ok(None)` for a scheme other than Digest.
pub fn parse_challenge(value: &str) -> Result<Option<Challenge>, ParseError> {
    const E: &str = "WWW-Authenticate";
    let Some(rest) = digest_params(value) else {
        return Ok(None);
    };
    let (mut realm, mut nonce, mut algorithm, mut qop, mut opaque, mut stale) =
        (None, None, None, None, None, false);
    for (k, v) in params(rest, E)? {
        match k.to_ascii_lowercase().as_str() {
            "realm" => realm = Some(v),
            "nonce" => nonce = Some(v),
            "algorithm" => algorithm = Some(v),
            "qop" => qop = Some(v),
            "opaque" => opaque = Some(v),
            "stale" => stale = v.eq_ignore_ascii_case("true"),
            _ => {}
        }
    }
    let algorithm = Algorithm::parse(algorithm.as_deref())
        .ok_or(ParseError::new(E, "unsupported algorithm"))?;
    Ok(Some(Challenge {
        realm: realm.ok_or(ParseError::new(E, "no realm"))?,
        nonce: nonce.ok_or(ParseError::new(E, "no nonce"))?,
        algorithm,
        qop,
        opaque,
        stale,
    }))
}

/// The `Authorization` value answering `ch` for `method` on `uri` as
/// `username` with `password`; `cnonce` is the caller's fresh random.
pub fn authorize(
    ch: &Challenge,
    (username, password): (&str, &str),
    (method, uri): (&str, &str),
    cnonce: &str,
) -> Result<String, ParseError> {
    let qop = match &ch.qop {
        None => None,
        Some(list) if list.split(',').any(|q| trim_lws(q) == "auth") => Some("auth"),
        Some(_) => {
            return Err(ParseError::new(
                "WWW-Authenticate",
                "only qop=auth-int offered",
            ))
        }
    };
    let alg = ch.algorithm;
    let mut ha1 = alg.hash(&[username, &ch.realm, password]);
    if alg.is_sess() {
        ha1 = alg.hash(&[&ha1, &ch.nonce, cnonce]);
    }
    let ha2 = alg.hash(&[method, uri]);
    let nc = "00000001";
    let response = match qop {
        Some(q) => alg.hash(&[&ha1, &ch.nonce, nc, cnonce, q, &ha2]),
        None => alg.hash(&[&ha1, &ch.nonce, &ha2]),
    };
    let quote = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
    let mut v = format!(
        "Digest username=\"{}\", realm=\"{}\", nonce=\"{}\", uri=\"{}\", response=\"{response}\", algorithm={}",
        quote(username),
        quote(&ch.realm),
        quote(&ch.nonce),
        quote(uri),
        alg.as_str()
    );
    if let Some(q) = qop {
        v.push_str(&format!(", qop={q}, nc={nc}, cnonce=\"{}\"", quote(cnonce)));
    }
    if let Some(o) = &ch.opaque {
        v.push_str(&format!(", opaque=\"{}\"", quote(o)));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::{expected_response, ha1, parse_authorization};

    #[test]
    fn answers_what_a_server_checks() {
        let ch = parse_challenge(
            "Digest realm=\"sip.provider.example\", nonce=\"abc123\", qop=\"auth,auth-int\", opaque=\"xyz\", algorithm=MD5",
        )
        .unwrap()
        .unwrap();
        let v = authorize(
            &ch,
            ("4930123", "s3cret"),
            ("INVITE", "sip:100@p.example"),
            "c0ffee",
        )
        .unwrap();
        let c = parse_authorization(&v).unwrap().unwrap();
        assert_eq!(
            (c.qop.as_deref(), c.nc.as_deref(), c.opaque.as_deref()),
            (Some("auth"), Some("00000001"), Some("xyz"))
        );
        let h = ha1(Algorithm::Md5, "4930123", "sip.provider.example", "s3cret");
        assert_eq!(
            c.response,
            expected_response(Algorithm::Md5, &h, "INVITE", &c)
        );
        // Without qop (RFC 2069 style), and SHA-256.
        let ch = parse_challenge("Digest realm=\"r\", nonce=\"n\", algorithm=SHA-256")
            .unwrap()
            .unwrap();
        let c =
            parse_authorization(&authorize(&ch, ("u", "p"), ("REGISTER", "sip:r"), "x").unwrap())
                .unwrap()
                .unwrap();
        let h = ha1(Algorithm::Sha256, "u", "r", "p");
        assert_eq!(
            c.response,
            expected_response(Algorithm::Sha256, &h, "REGISTER", &c)
        );
        assert!(c.qop.is_none());
    }

    #[test]
    fn what_cannot_be_answered() {
        assert_eq!(parse_challenge("Basic realm=\"x\"").unwrap(), None);
        assert!(parse_challenge("Digest realm=\"x\"").is_err(), "no nonce");
        assert!(parse_challenge("Digest realm=\"x\", nonce=\"n\", algorithm=AKAv1-MD5").is_err());
        let ch = parse_challenge("Digest realm=\"x\", nonce=\"n\", qop=\"auth-int\"")
            .unwrap()
            .unwrap();
        assert!(authorize(&ch, ("u", "p"), ("INVITE", "sip:x"), "c").is_err());
    }
}
