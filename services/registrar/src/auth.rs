//! Digest authentication as Asterisk does it for REGISTER and INVITE: no or
//! unusable credentials → challenge; a stale nonce → challenge with
//! `stale=true`; wrong password, unknown user, or credentials for another
//! user → forbidden (the same answer, so user names cannot be probed).

use crate::nonce::{NonceCheck, Nonces};
use crate::users::{Directory, Secret, User};
use asterism_proto::registrar::AuthFailure;
use asterism_sip::digest::{self, Algorithm, Challenge, Credentials};

#[derive(Debug, PartialEq, Eq)]
pub enum AuthResult<'a> {
    /// Credentials are right. `replay_key` identifies this nonce use: the
    /// store must accept it only once.
    Ok {
        user: &'a User,
        replay_key: String,
    },
    Challenge(Challenge),
    /// 403, and why (for the security log; the phone is told nothing more).
    Forbidden(AuthFailure),
}

/// The request being authenticated.
#[derive(Debug, Clone, Copy)]
pub struct Attempt<'r> {
    pub method: &'r str,
    pub request_uri: &'r str,
    /// The To user of a REGISTER, the From user of other requests.
    pub claimed_user: &'r str,
}

/// Whether the digest `uri` names the Request-URI (RFC 3261 §22.4): same
/// scheme, user, host (any case) and port (5060 when absent); parameters
/// aside, as phones differ in which they repeat. Unparsable ones must be
/// the same text.
pub fn uri_matches(digest_uri: &str, request_uri: &str) -> bool {
    use asterism_sip::Uri;
    match (Uri::parse(digest_uri), Uri::parse(request_uri)) {
        (Ok(d), Ok(r)) => {
            d.scheme.eq_ignore_ascii_case(&r.scheme)
                && d.user == r.user
                && d.host.to_string().eq_ignore_ascii_case(&r.host.to_string())
                && d.port.unwrap_or(5060) == r.port.unwrap_or(5060)
        }
        _ => digest_uri == request_uri,
    }
}

pub struct Authenticator {
    pub directory: Directory,
    pub nonces: Nonces,
}

impl Authenticator {
    pub fn challenge(&self, stale: bool, now_secs: u64) -> Challenge {
        Challenge {
            realm: self.directory.realm.clone(),
            nonce: self.nonces.issue(&self.directory.realm, now_secs),
            algorithm: Algorithm::Md5,
            qop: Some("auth".to_owned()),
            opaque: None,
            stale,
        }
    }

    /// Check `creds` for a request.
    pub fn check(
        &self,
        at: Attempt<'_>,
        creds: Option<&Credentials>,
        now_secs: u64,
    ) -> AuthResult<'_> {
        let Some(c) = creds else {
            return AuthResult::Challenge(self.challenge(false, now_secs));
        };
        let realm = &self.directory.realm;
        let Some(alg) = Algorithm::parse(c.algorithm.as_deref()) else {
            return AuthResult::Challenge(self.challenge(false, now_secs));
        };
        if c.realm != *realm {
            return AuthResult::Challenge(self.challenge(false, now_secs));
        }
        match self.nonces.check(&c.nonce, realm, now_secs) {
            NonceCheck::Valid => {}
            NonceCheck::Stale => return AuthResult::Challenge(self.challenge(true, now_secs)),
            NonceCheck::Invalid => return AuthResult::Challenge(self.challenge(false, now_secs)),
        }
        if c.qop.is_some() && (c.nc.is_none() || c.cnonce.is_none()) {
            return AuthResult::Forbidden(AuthFailure::Malformed);
        }
        // nc is 8 hex digits (RFC 2617 §3.2.2); it becomes part of a store
        // key, so nothing else is let through.
        if c.nc
            .as_deref()
            .is_some_and(|nc| nc.len() != 8 || !nc.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            return AuthResult::Forbidden(AuthFailure::Malformed);
        }
        if asterism_sip::Uri::parse(&c.uri).is_err() {
            return AuthResult::Forbidden(AuthFailure::Malformed);
        }
        let Some(user) = self.directory.get(&c.username) else {
            return AuthResult::Forbidden(AuthFailure::UnknownUser);
        };
        if c.username != at.claimed_user {
            return AuthResult::Forbidden(AuthFailure::UsernameMismatch);
        }
        let ha1 = match (&user.secret, alg) {
            (Secret::Plain(p), _) => digest::ha1(alg, &user.name, realm, p),
            (Secret::Md5Ha1(h), Algorithm::Md5 | Algorithm::Md5Sess) => h.clone(),
            // An MD5 HA1 cannot answer a SHA-256 challenge.
            (Secret::Md5Ha1(_), _) | (Secret::None, _) => {
                return AuthResult::Forbidden(AuthFailure::WrongPassword)
            }
        };
        let expected = digest::expected_response(alg, &ha1, at.method, c);
        if !digest::digests_equal(&expected, &c.response) {
            return AuthResult::Forbidden(AuthFailure::WrongPassword);
        }
        // Right credentials for another request (captured, then replayed
        // to another number): refused, after the digest so the answer
        // tells nothing to whoever lacks the password.
        if !uri_matches(&c.uri, at.request_uri) {
            tracing::info!(digest_uri = %c.uri, request_uri = %at.request_uri, user = %c.username, "digest uri does not name the Request-URI");
            return AuthResult::Forbidden(AuthFailure::UriMismatch);
        }
        let replay_key = format!("{}:{}", c.nonce, c.nc.as_deref().unwrap_or("-"));
        AuthResult::Ok { user, replay_key }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use std::time::Duration;

    fn auth() -> Authenticator {
        Authenticator {
            directory: Directory::parse(
                Path::new("sip.conf"),
                "[alice]\ntype=friend\nsecret=pw\n[bob]\ntype=friend\nmd5secret=c6d1bd29d0a3ab1ab8a6a7c1d9a1d0e4\n",
            )
            .unwrap(),
            nonces: Nonces::new(b"k".to_vec(), Duration::from_secs(30)),
        }
    }

    fn at(user: &str) -> Attempt<'_> {
        Attempt {
            method: "REGISTER",
            request_uri: "sip:127.0.0.1:5060",
            claimed_user: user,
        }
    }

    fn creds(a: &Authenticator, user: &str, pw: &str, qop: bool, now: u64) -> Credentials {
        let nonce = a.nonces.issue("asterisk", now);
        let mut c = Credentials {
            username: user.into(),
            realm: "asterisk".into(),
            nonce,
            uri: "sip:127.0.0.1:5060".into(),
            algorithm: Some("MD5".into()),
            ..Default::default()
        };
        if qop {
            c.qop = Some("auth".into());
            c.nc = Some("00000001".into());
            c.cnonce = Some("abc".into());
        }
        let ha1 = digest::ha1(Algorithm::Md5, user, "asterisk", pw);
        c.response = digest::expected_response(Algorithm::Md5, &ha1, "REGISTER", &c);
        c
    }

    #[test]
    fn rfc2069_and_qop_auth_both_work() {
        let a = auth();
        for qop in [false, true] {
            let c = creds(&a, "alice", "pw", qop, 100);
            assert!(matches!(
                a.check(at("alice"), Some(&c), 101),
                AuthResult::Ok { .. }
            ));
        }
    }

    #[test]
    fn wrong_password_unknown_user_and_other_user_are_forbidden() {
        let a = auth();
        let c = creds(&a, "alice", "nope", false, 100);
        assert_eq!(
            a.check(at("alice"), Some(&c), 100),
            AuthResult::Forbidden(AuthFailure::WrongPassword)
        );
        let c = creds(&a, "mallory", "pw", false, 100);
        assert_eq!(
            a.check(at("mallory"), Some(&c), 100),
            AuthResult::Forbidden(AuthFailure::UnknownUser)
        );
        let c = creds(&a, "alice", "pw", false, 100);
        assert_eq!(
            a.check(at("bob"), Some(&c), 100),
            AuthResult::Forbidden(AuthFailure::UsernameMismatch)
        );
    }

    #[test]
    fn md5secret_is_used_as_ha1() {
        let a = auth();
        let mut c = creds(&a, "bob", "", false, 100);
        c.response = digest::expected_response(
            Algorithm::Md5,
            "c6d1bd29d0a3ab1ab8a6a7c1d9a1d0e4",
            "REGISTER",
            &c,
        );
        assert!(matches!(
            a.check(at("bob"), Some(&c), 100),
            AuthResult::Ok { .. }
        ));
    }

    #[test]
    fn missing_and_stale_credentials_are_challenged() {
        let a = auth();
        let AuthResult::Challenge(ch) = a.check(at("alice"), None, 100) else {
            panic!()
        };
        assert!(!ch.stale);
        let c = creds(&a, "alice", "pw", false, 100);
        let AuthResult::Challenge(ch) = a.check(at("alice"), Some(&c), 200) else {
            panic!()
        };
        assert!(ch.stale);
    }

    #[test]
    fn credentials_for_another_request_uri_are_forbidden() {
        let a = auth();
        let c = creds(&a, "alice", "pw", true, 100);
        let other = Attempt {
            request_uri: "sip:0900123456@127.0.0.1:5060",
            ..at("alice")
        };
        assert_eq!(
            a.check(other, Some(&c), 100),
            AuthResult::Forbidden(AuthFailure::UriMismatch)
        );
    }

    #[test]
    fn a_nonce_count_must_be_eight_hex_digits() {
        let a = auth();
        let mut c = creds(&a, "alice", "pw", true, 100);
        c.nc = Some("1".repeat(4096));
        assert_eq!(
            a.check(at("alice"), Some(&c), 100),
            AuthResult::Forbidden(AuthFailure::Malformed)
        );
    }

    #[test]
    fn digest_uris_compare_as_uris() {
        assert!(uri_matches("sip:62@10.0.0.1:5060", "sip:62@10.0.0.1:5060"));
        assert!(uri_matches("sip:10.0.0.1;transport=UDP", "sip:10.0.0.1"));
        assert!(uri_matches("sip:62@PBX.example", "sip:62@pbx.example:5060"));
        assert!(!uri_matches("sip:62@10.0.0.1", "sip:63@10.0.0.1"));
        assert!(!uri_matches("sip:62@10.0.0.1", "sip:62@10.0.0.2"));
        assert!(!uri_matches("sip:62@10.0.0.1:5062", "sip:62@10.0.0.1"));
    }
}
