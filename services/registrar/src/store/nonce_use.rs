//! A nonce used once, in Redis: the nonce use remembers the request that
//! made it (so the very same request retried on another replica passes)
//! and is refused, in the same script, while the request's source is
//! banned ([`super::bans`]) — but in a cluster, where the ban key lives in
//! another slot and is read first.

use super::redis::RedisStore;
use super::sentinel::Target;
use super::{NonceUse, StoreError};

/// A nonce use (KEYS[1]) by request ARGV[1] for ARGV[2] seconds, refused
/// while the source's ban (KEYS[2], when given) lasts: 0 first use, -1 the
/// same request again, -2 a replay, else the ban's seconds left.
pub(super) const USE_NONCE_LUA: &str = r#"
if KEYS[2] then
  local left = redis.call('TTL', KEYS[2])
  if left > 0 then return left end
end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', tonumber(ARGV[2])) then return 0 end
if redis.call('GET', KEYS[1]) == ARGV[1] then return -1 end
return -2
"#;

impl RedisStore {
    pub(super) async fn nonce_use(
        &self,
        aor: &str,
        key: &str,
        owner: &str,
        ttl_secs: u64,
        source_ip: Option<&str>,
    ) -> Result<NonceUse, StoreError> {
        let key = self.aor_key(aor, &format!("nonce:{key}"));
        let cluster = matches!(self.target, Target::Cluster(_));
        if let (Some(ip), true) = (source_ip, cluster) {
            if let Some(left) = self.ban_left(ip).await? {
                return Ok(NonceUse::Banned(left));
            }
        }
        let mut conn = self.conn().await?;
        let mut inv = self.use_nonce.prepare_invoke();
        inv.key(&key).arg(owner).arg(ttl_secs.max(1));
        if let (Some(ip), false) = (source_ip, cluster) {
            inv.key(self.ban_key(ip));
        }
        let verdict: i64 = match inv.invoke_async(&mut conn).await {
            Ok(r) => r,
            Err(e) => return Err(self.fail(e).await),
        };
        Ok(match verdict {
            0 => {
                self.replicate(&mut conn).await?;
                NonceUse::Accepted
            }
            // Used before by this same request (a retry).
            -1 => NonceUse::Accepted,
            -2 => NonceUse::Replay,
            left => NonceUse::Banned(left.max(1) as u64),
        })
    }
}
