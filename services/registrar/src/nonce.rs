//! Stateless nonces: `<issued, hex><random><HMAC>` signed with a secret the
//! replicas share, so any registrar validates a nonce any other issued, and
//! no process memory is needed. Replays are caught by the binding store
//! (each nonce/nc pair is accepted once).

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::time::Duration;

type HmacSha256 = Hmac<Sha256>;

#[derive(Debug, PartialEq, Eq)]
pub enum NonceCheck {
    Valid,
    /// Signed by us but too old: challenge again with `stale=true`.
    Stale,
    /// Not one of ours.
    Invalid,
}

#[derive(Clone)]
pub struct Nonces {
    secret: Vec<u8>,
    lifetime: Duration,
}

impl Nonces {
    pub fn new(secret: Vec<u8>, lifetime: Duration) -> Self {
        Nonces { secret, lifetime }
    }

    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    fn mac(&self, issued: &str, salt: &str, realm: &str) -> String {
        let Ok(mut m) = HmacSha256::new_from_slice(&self.secret) else {
            return String::new();
        };
        m.update(issued.as_bytes());
        m.update(b":");
        m.update(salt.as_bytes());
        m.update(b":");
        m.update(realm.as_bytes());
        hex::encode(&m.finalize().into_bytes()[..12])
    }

    /// A fresh nonce issued at `now_secs` (Unix time).
    pub fn issue(&self, realm: &str, now_secs: u64) -> String {
        let issued = format!("{now_secs:010x}");
        let salt = format!("{:08x}", rand::random::<u32>());
        let mac = self.mac(&issued, &salt, realm);
        format!("{issued}{salt}{mac}")
    }

    pub fn check(&self, nonce: &str, realm: &str, now_secs: u64) -> NonceCheck {
        if nonce.len() != 42 || !nonce.is_ascii() {
            return NonceCheck::Invalid;
        }
        let (issued, rest) = nonce.split_at(10);
        let (salt, mac) = rest.split_at(8);
        let expected = self.mac(issued, salt, realm);
        if expected.is_empty() || !asterism_sip::digest::digests_equal(&expected, mac) {
            return NonceCheck::Invalid;
        }
        let Ok(at) = u64::from_str_radix(issued, 16) else {
            return NonceCheck::Invalid;
        };
        if now_secs.saturating_sub(at) > self.lifetime.as_secs() || at > now_secs + 5 {
            NonceCheck::Stale
        } else {
            NonceCheck::Valid
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nonces(secret: &[u8]) -> Nonces {
        Nonces::new(secret.to_vec(), Duration::from_secs(30))
    }

    #[test]
    fn any_replica_with_the_secret_validates() {
        let n = nonces(b"shared").issue("asterisk", 1000);
        assert_eq!(
            nonces(b"shared").check(&n, "asterisk", 1010),
            NonceCheck::Valid
        );
        assert_eq!(
            nonces(b"other").check(&n, "asterisk", 1010),
            NonceCheck::Invalid
        );
        assert_eq!(
            nonces(b"shared").check(&n, "elsewhere", 1010),
            NonceCheck::Invalid
        );
    }

    #[test]
    fn old_nonces_are_stale() {
        let n = nonces(b"s").issue("r", 1000);
        assert_eq!(nonces(b"s").check(&n, "r", 1031), NonceCheck::Stale);
    }

    #[test]
    fn tampered_nonces_are_invalid() {
        let mut n = nonces(b"s").issue("r", 1000);
        n.replace_range(0..1, "1");
        assert_eq!(nonces(b"s").check(&n, "r", 1000), NonceCheck::Invalid);
        assert_eq!(
            nonces(b"s").check("47a5e6d5", "r", 1000),
            NonceCheck::Invalid
        );
    }
}
