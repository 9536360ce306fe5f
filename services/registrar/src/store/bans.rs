//! Password guessing, stopped the way Kamailio's pike/htable and fail2ban
//! stop it: every authentication failure (a wrong digest, an unknown user,
//! a replayed nonce, a refused ACL — never a first challenge) is counted
//! per source address and per user, in the store every registrar replica
//! shares, over a window; past the source threshold the address is banned
//! for a while. A user failing from everywhere (a distributed guess) past
//! its own threshold gets each further failing source banned at once.
//! Correct authentications are never counted, so a thousand phones behind
//! one NAT address that know their passwords are never slowed.
//!
//! In Redis: `<prefix>fail:ip:{<ip>}` and `<prefix>ban:{<ip>}` share their
//! address's slot (one script), `<prefix>fail:user:{<user>}` has its own.

use super::redis::RedisStore;
use super::StoreError;
use redis::Script;
use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BanPolicy {
    /// Failures from one address within the window that ban it; 0: off.
    pub threshold: u32,
    /// Failures for one user within the window after which every source
    /// failing for it is banned at its first failure.
    pub user_threshold: u32,
    pub window_secs: u64,
    pub ban_secs: u64,
}

impl BanPolicy {
    pub fn enabled(&self) -> bool {
        self.threshold > 0
    }

    /// Whether these counts (this failure included) ban the source.
    pub fn bans(&self, source_failures: u64, user_failures: u64) -> bool {
        self.enabled()
            && (source_failures >= u64::from(self.threshold)
                || (self.user_threshold > 0 && user_failures > u64::from(self.user_threshold)))
    }
}

/// Failure counts and bans inside one process (the embedded store), with
/// the same windows; entries past their time are pruned as the maps grow.
#[derive(Default)]
pub struct LocalBans {
    /// source → (failures, window ends at ms)
    sources: HashMap<String, (u64, u64)>,
    users: HashMap<String, (u64, u64)>,
    /// source → banned until ms
    bans: HashMap<String, u64>,
}

/// Entries each map of [`LocalBans`] holds at most.
const LOCAL_MAX: usize = 100_000;

/// Count one more in a fixed window starting at the first failure. Past
/// [`LOCAL_MAX`] live entries a new key is not counted (the map stays
/// bounded under a flood from more addresses than that; known ones still
/// count and still get banned).
fn bump(map: &mut HashMap<String, (u64, u64)>, key: &str, now_ms: u64, window_ms: u64) -> u64 {
    if map.len() >= LOCAL_MAX {
        map.retain(|_, (_, until)| *until > now_ms);
        if map.len() >= LOCAL_MAX && !map.contains_key(key) {
            return 0;
        }
    }
    let e = map.entry(key.to_owned()).or_insert((0, now_ms + window_ms));
    if e.1 <= now_ms {
        *e = (0, now_ms + window_ms);
    }
    e.0 += 1;
    e.0
}

impl LocalBans {
    pub fn failure(&mut self, ip: &str, user: &str, p: &BanPolicy, now_ms: u64) -> Option<u64> {
        let window = p.window_secs * 1000;
        let by_user = match user {
            "" => 0,
            u => bump(&mut self.users, u, now_ms, window),
        };
        let by_source = bump(&mut self.sources, ip, now_ms, window);
        if !p.bans(by_source, by_user) {
            return None;
        }
        if self.bans.len() >= LOCAL_MAX {
            self.bans.retain(|_, until| *until > now_ms);
            if self.bans.len() >= LOCAL_MAX {
                return None;
            }
        }
        self.bans.insert(ip.to_owned(), now_ms + p.ban_secs * 1000);
        Some(p.ban_secs)
    }

    /// Seconds left of `ip`'s ban.
    pub fn left(&self, ip: &str, now_ms: u64) -> Option<u64> {
        let until = *self.bans.get(ip)?;
        (until > now_ms).then(|| (until - now_ms).div_ceil(1000))
    }
}

/// Count a failure of the source (KEYS[1]) and ban it (KEYS[2]) when the
/// counts say so. ARGV: window, source threshold, ban seconds, whether the
/// user's count already says so (1/0).
const FAIL_LUA: &str = r#"
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
if n >= tonumber(ARGV[2]) or ARGV[4] == '1' then
  redis.call('SET', KEYS[2], '1', 'EX', ARGV[3])
  return tonumber(ARGV[3])
end
return 0
"#;

impl RedisStore {
    pub(super) fn ban_key(&self, ip: &str) -> String {
        format!("{}ban:{{{ip}}}", self.prefix())
    }

    pub(super) async fn count_failure(
        &self,
        ip: &str,
        user: &str,
        p: &BanPolicy,
    ) -> Result<Option<u64>, StoreError> {
        let mut conn = self.conn().await?;
        let user_failures = if user.is_empty() {
            0
        } else {
            self.count_user(&mut conn, user, p).await?
        };
        let user_says = p.user_threshold > 0 && user_failures > u64::from(p.user_threshold);
        let banned: u64 = match Script::new(FAIL_LUA)
            .key(format!("{}fail:ip:{{{ip}}}", self.prefix()))
            .key(self.ban_key(ip))
            .arg(p.window_secs)
            .arg(p.threshold.max(1))
            .arg(p.ban_secs)
            .arg(if user_says { "1" } else { "0" })
            .invoke_async(&mut conn)
            .await
        {
            Ok(r) => r,
            Err(e) => return Err(self.fail(e).await),
        };
        Ok((banned > 0).then_some(banned))
    }

    /// One more failure for `user` in its window: the count now.
    async fn count_user(
        &self,
        conn: &mut super::cluster::Conn,
        user: &str,
        p: &BanPolicy,
    ) -> Result<u64, StoreError> {
        let user_key = format!("{}fail:user:{{{user}}}", self.prefix());
        let (n,): (u64,) = match redis::pipe()
            .cmd("SET")
            .arg(&user_key)
            .arg(0)
            .arg("EX")
            .arg(p.window_secs)
            .arg("NX")
            .ignore()
            .incr(&user_key, 1)
            .query_async(conn)
            .await
        {
            Ok(r) => r,
            Err(e) => return Err(self.fail(e).await),
        };
        Ok(n)
    }

    pub(super) async fn ban_left(&self, ip: &str) -> Result<Option<u64>, StoreError> {
        let mut conn = self.conn().await?;
        let ttl: i64 = match redis::cmd("TTL")
            .arg(self.ban_key(ip))
            .query_async(&mut conn)
            .await
        {
            Ok(r) => r,
            Err(e) => return Err(self.fail(e).await),
        };
        Ok((ttl > 0).then_some(ttl as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds() {
        let p = BanPolicy {
            threshold: 3,
            user_threshold: 10,
            window_secs: 60,
            ban_secs: 600,
        };
        assert!(!p.bans(2, 10));
        assert!(p.bans(3, 1));
        assert!(p.bans(1, 11), "a user under attack: every failing source");
        let off = BanPolicy { threshold: 0, ..p };
        assert!(!off.bans(1000, 1000));
    }

    #[test]
    fn the_local_counts_stay_bounded_under_a_flood_of_addresses() {
        let p = BanPolicy {
            threshold: 2,
            user_threshold: 0,
            window_secs: 60,
            ban_secs: 600,
        };
        let mut b = LocalBans::default();
        for i in 0..LOCAL_MAX as u32 {
            b.failure(&format!("ip{i}"), "", &p, 0);
        }
        assert_eq!(b.sources.len(), LOCAL_MAX);
        assert_eq!(b.failure("newcomer", "", &p, 1), None);
        assert_eq!(b.sources.len(), LOCAL_MAX, "no new key past the cap");
        assert_eq!(
            b.failure("ip7", "", &p, 1),
            Some(600),
            "known ones still count"
        );
        // Once the windows are over, room again.
        b.failure("later", "", &p, 61_000);
        assert!(b.sources.contains_key("later"));
    }
}
