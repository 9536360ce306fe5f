//! The edge's security log: every authentication failure said the way
//! Asterisk says it (chan_sip's "Registration from '…' failed for
//! 'IP:port' - Wrong password", res_security_log's `SecurityEvent=` lines
//! with the `RemoteAddress`), so the fail2ban filters written for Asterisk
//! read it unchanged; counted by reason on `/metrics`; and the bans the
//! registrars decide, remembered here so a banned source is dropped at the
//! door without asking again.

use asterism_proto::registrar::AuthFailure;
use asterism_sip::transport::{Flow, Kind};
use std::collections::HashMap;
use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;
use tokio::time::{Duration, Instant};

/// Sources banned by the registrars, until when. Bounded: past the cap
/// the oldest are forgotten first (the registrars still refuse them).
#[derive(Clone, Default)]
pub struct Bans {
    inner: Arc<Mutex<HashMap<IpAddr, Instant>>>,
    /// Entries now: lets the hot path skip the lock when nobody is banned.
    count: Arc<AtomicUsize>,
}

const MAX_BANS: usize = 100_000;

impl Bans {
    pub fn ban(&self, ip: IpAddr, secs: u32) {
        let Ok(mut m) = self.inner.lock() else {
            return;
        };
        let now = Instant::now();
        if m.len() >= MAX_BANS {
            m.retain(|_, until| *until > now);
        }
        if m.len() >= MAX_BANS {
            // Still full of live bans: make room for the newest.
            if let Some(oldest) = m.iter().min_by_key(|(_, u)| **u).map(|(ip, _)| *ip) {
                m.remove(&oldest);
            }
        }
        m.insert(ip, now + Duration::from_secs(u64::from(secs)));
        self.count.store(m.len(), Ordering::Relaxed);
    }

    /// Whether `ip` is banned now.
    pub fn is_banned(&self, ip: IpAddr) -> bool {
        if self.count.load(Ordering::Relaxed) == 0 {
            return false;
        }
        let Ok(mut m) = self.inner.lock() else {
            return false;
        };
        match m.get(&ip) {
            Some(until) if *until > Instant::now() => true,
            Some(_) => {
                m.remove(&ip);
                self.count.store(m.len(), Ordering::Relaxed);
                false
            }
            None => false,
        }
    }
}

/// What was being authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    Register,
    Invite,
}

/// The metric label of a failure.
pub fn reason_label(f: AuthFailure) -> &'static str {
    match f {
        AuthFailure::WrongPassword => "wrong_password",
        AuthFailure::UnknownUser => "unknown_user",
        AuthFailure::UsernameMismatch => "username_mismatch",
        AuthFailure::UriMismatch => "uri_mismatch",
        AuthFailure::Replay => "replay",
        AuthFailure::Malformed => "malformed",
        AuthFailure::Acl => "acl",
        AuthFailure::NotDynamic => "not_dynamic",
        AuthFailure::Banned => "banned",
        AuthFailure::None => "none",
    }
}

/// chan_sip's words for a failed REGISTER (those fail2ban's asterisk filter
/// knows); None for failures chan_sip does not log (a replay is re-challenged).
fn register_reason(f: AuthFailure) -> Option<&'static str> {
    Some(match f {
        AuthFailure::WrongPassword | AuthFailure::UriMismatch | AuthFailure::Malformed => {
            "Wrong password"
        }
        AuthFailure::UnknownUser => "No matching peer found",
        AuthFailure::UsernameMismatch => "Username/auth name mismatch",
        AuthFailure::Acl => "Device does not match ACL",
        AuthFailure::NotDynamic => "Peer is not supposed to register",
        AuthFailure::Replay | AuthFailure::Banned | AuthFailure::None => return None,
    })
}

/// res_security_log's event for a failed INVITE.
fn security_event(f: AuthFailure) -> Option<&'static str> {
    Some(match f {
        AuthFailure::WrongPassword
        | AuthFailure::UriMismatch
        | AuthFailure::Malformed
        | AuthFailure::UsernameMismatch => "InvalidPassword",
        AuthFailure::UnknownUser => "InvalidAccountID",
        AuthFailure::Acl | AuthFailure::NotDynamic => "FailedACL",
        AuthFailure::Replay | AuthFailure::Banned | AuthFailure::None => return None,
    })
}

fn ip_version(a: &SocketAddr) -> &'static str {
    if a.is_ipv4() {
        "IPV4"
    } else {
        "IPV6"
    }
}

/// The line Asterisk would log (without its date and level prefix).
pub fn line(
    attempt: Attempt,
    failure: AuthFailure,
    header: &str,
    account: &str,
    flow: &Flow,
    local: &SocketAddr,
    call_id: &str,
) -> Option<(&'static str, String)> {
    let remote = flow.remote;
    match attempt {
        Attempt::Register => register_reason(failure).map(|why| {
            (
                "NOTICE",
                format!(
                    "chan_sip.c: Registration from '{header}' failed for '{}:{}' - {why}",
                    remote.ip(),
                    remote.port()
                ),
            )
        }),
        Attempt::Invite => security_event(failure).map(|event| {
            let transport = match flow.kind {
                Kind::Udp => "UDP",
                Kind::Tcp => "TCP",
            };
            let tv = format!("{}+0000", time_text().replace(' ', "T"));
            (
                "SECURITY",
                format!(
                    "res_security_log.c: SecurityEvent=\"{event}\",EventTV=\"{tv}\",Severity=\"Error\",Service=\"SIP\",EventVersion=\"2\",AccountID=\"{account}\",SessionID=\"{call_id}\",LocalAddress=\"{}/{transport}/{}/{}\",RemoteAddress=\"{}/{transport}/{}/{}\"",
                    ip_version(local),
                    local.ip(),
                    local.port(),
                    ip_version(&remote),
                    remote.ip(),
                    remote.port()
                ),
            )
        }),
    }
}

/// Where security lines go: the service log always, and a file of their
/// own in Asterisk's format when `ASTERISM_SECURITY_LOG` names one (written
/// by a task of its own; lines beyond a full queue are dropped, counted).
#[derive(Clone)]
pub struct SecurityLog {
    file: Option<mpsc::Sender<String>>,
}

impl SecurityLog {
    pub fn new(path: Option<&std::path::Path>) -> std::io::Result<SecurityLog> {
        let Some(path) = path else {
            return Ok(SecurityLog { file: None });
        };
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        let (tx, mut rx) = mpsc::channel::<String>(4096);
        std::thread::Builder::new()
            .name("security-log".into())
            .spawn(move || {
                while let Some(l) = rx.blocking_recv() {
                    if f.write_all(l.as_bytes()).is_err() {
                        break;
                    }
                }
            })?;
        Ok(SecurityLog { file: Some(tx) })
    }

    /// Log one line at Asterisk level `level` ("NOTICE", "SECURITY").
    pub fn write(&self, level: &str, text: &str) {
        tracing::warn!(target: "security", "{text}");
        if let Some(tx) = &self.file {
            let now = time_text();
            let _ = tx.try_send(format!("[{now}] {level}[{}] {text}\n", std::process::id()));
        }
    }
}

/// `2026-12-01 17:10:25`, UTC (Asterisk's log date format).
fn time_text() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_civil() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_423), (2025, 12, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn lines_read_like_asterisks() {
        let flow = Flow {
            kind: Kind::Udp,
            remote: "203.0.113.7:5062".parse().unwrap(),
        };
        let local: SocketAddr = "192.0.2.1:5060".parse().unwrap();
        let (lvl, l) = line(
            Attempt::Register,
            AuthFailure::WrongPassword,
            "<sip:alice@pbx>",
            "alice",
            &flow,
            &local,
            "c1",
        )
        .unwrap();
        assert_eq!(lvl, "NOTICE");
        assert_eq!(
            l,
            "chan_sip.c: Registration from '<sip:alice@pbx>' failed for '203.0.113.7:5062' - Wrong password"
        );
        let (lvl, l) = line(
            Attempt::Invite,
            AuthFailure::UnknownUser,
            "",
            "mallory",
            &flow,
            &local,
            "c1",
        )
        .unwrap();
        assert_eq!(lvl, "SECURITY");
        assert!(l.starts_with("res_security_log.c: SecurityEvent=\"InvalidAccountID\""));
        assert!(l.contains("RemoteAddress=\"IPV4/UDP/203.0.113.7/5062\""));
        assert!(line(
            Attempt::Register,
            AuthFailure::Replay,
            "",
            "",
            &flow,
            &local,
            ""
        )
        .is_none());
    }

    #[tokio::test]
    async fn bans_expire_and_stay_bounded() {
        let b = Bans::default();
        let ip: IpAddr = "198.51.100.1".parse().unwrap();
        assert!(!b.is_banned(ip));
        b.ban(ip, 600);
        assert!(b.is_banned(ip));
        assert!(!b.is_banned("198.51.100.2".parse().unwrap()));
        b.ban(ip, 0);
        assert!(!b.is_banned(ip), "a ban of 0 s is over");
    }
}
