//! Digest authentication as Asterisk does it for REGISTER and INVITE: no or
//! unusable credentials → challenge; a stale nonce → challenge with
//! `stale=true`; wrong password, unknown user, or credentials for another
//! user → forbidden (the same answer, so user names cannot be probed).

use crate::nonce::{NonceCheck, Nonces};
use crate::users::{Directory, Secret, User};
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
    Forbidden,
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

    /// Check `creds` for a request `method` on behalf of `claimed_user` (the
    /// To user of a REGISTER, the From user of other requests).
    pub fn check(
        &self,
        method: &str,
        claimed_user: &str,
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
            return AuthResult::Forbidden;
        }
        if asterism_sip::Uri::parse(&c.uri).is_err() {
            return AuthResult::Forbidden;
        }
        let Some(user) = self.directory.get(&c.username) else {
            return AuthResult::Forbidden;
        };
        if c.username != claimed_user {
            return AuthResult::Forbidden;
        }
        let ha1 = match (&user.secret, alg) {
            (Secret::Plain(p), _) => digest::ha1(alg, &user.name, realm, p),
            (Secret::Md5Ha1(h), Algorithm::Md5 | Algorithm::Md5Sess) => h.clone(),
            // An MD5 HA1 cannot answer a SHA-256 challenge.
            (Secret::Md5Ha1(_), _) => return AuthResult::Forbidden,
        };
        let expected = digest::expected_response(alg, &ha1, method, c);
        if !digest::digests_equal(&expected, &c.response) {
            return AuthResult::Forbidden;
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
                a.check("REGISTER", "alice", Some(&c), 101),
                AuthResult::Ok { .. }
            ));
        }
    }

    #[test]
    fn wrong_password_unknown_user_and_other_user_are_forbidden() {
        let a = auth();
        let c = creds(&a, "alice", "nope", false, 100);
        assert_eq!(
            a.check("REGISTER", "alice", Some(&c), 100),
            AuthResult::Forbidden
        );
        let c = creds(&a, "mallory", "pw", false, 100);
        assert_eq!(
            a.check("REGISTER", "mallory", Some(&c), 100),
            AuthResult::Forbidden
        );
        let c = creds(&a, "alice", "pw", false, 100);
        assert_eq!(
            a.check("REGISTER", "bob", Some(&c), 100),
            AuthResult::Forbidden
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
            a.check("REGISTER", "bob", Some(&c), 100),
            AuthResult::Ok { .. }
        ));
    }

    #[test]
    fn missing_and_stale_credentials_are_challenged() {
        let a = auth();
        let AuthResult::Challenge(ch) = a.check("REGISTER", "alice", None, 100) else {
            panic!()
        };
        assert!(!ch.stale);
        let c = creds(&a, "alice", "pw", false, 100);
        let AuthResult::Challenge(ch) = a.check("REGISTER", "alice", Some(&c), 200) else {
            panic!()
        };
        assert!(ch.stale);
    }
}
