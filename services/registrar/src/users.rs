//! The user directory, read from an Asterisk `sip.conf`: one section per
//! peer (`type=friend|peer|user`), with `secret` or `md5secret`, `context`,
//! `callerid` and `host=dynamic`. `[general]` may set `realm` and `context`.
//! Unknown keys are warned about; malformed values fail with file:line.

use crate::acl::{Acl, Sense};
use asterism_config::{ConfError, ConfFile, Entry, Section};
use std::collections::HashMap;
use std::path::Path;

pub const DEFAULT_REALM: &str = "asterisk";
pub const DEFAULT_CONTEXT: &str = "default";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Secret {
    Plain(String),
    /// `md5secret`: MD5(user:realm:secret), already hashed.
    Md5Ha1(String),
}

/// Where a peer is: `host=dynamic` (it registers), an address or name
/// (it does not register), or not said (Asterisk: not dynamic either).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerHost {
    Dynamic,
    Static(String),
    Unset,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub secret: Secret,
    pub context: String,
    pub callerid_name: String,
    pub callerid_num: String,
    pub host: PeerHost,
    /// `permit=`/`deny=`: where the peer may register and call from.
    pub acl: Acl,
    /// `call-limit=`: calls in and out at once (None: no limit).
    pub call_limit: Option<u32>,
    /// `max_contacts=` (from pjsip.conf's AOR option): registered contacts
    /// at once (None: the registrar's default).
    pub max_contacts: Option<u32>,
}

impl User {
    /// Whether it may REGISTER (Asterisk: `host=dynamic` only).
    pub fn dynamic(&self) -> bool {
        self.host == PeerHost::Dynamic
    }
}

#[derive(Debug, Clone, Default)]
pub struct Directory {
    pub realm: String,
    users: HashMap<String, User>,
    /// `[general]` `context=`: where guests' calls start.
    pub default_context: String,
    /// `allowguest=`: calls from unknown users enter the dialplan unchallenged
    /// (Asterism's default: no; Asterisk's: yes).
    pub allow_guest: bool,
    /// `alwaysauthreject=`: unknown users are refused like wrong passwords
    /// (default yes); with no, a REGISTER for one gets 404 as in Asterisk.
    pub always_auth_reject: bool,
    /// Warnings met while loading (unknown keys), for the log.
    pub warnings: Vec<String>,
}

/// Peer keys Asterism acts on.
const KNOWN_KEYS: &[&str] = &[
    "type",
    "secret",
    "md5secret",
    "context",
    "callerid",
    "host",
    "permit",
    "deny",
    "call-limit",
    "max_contacts",
];

/// Peer keys of chan_sip Asterism reads but does not act on yet: each one
/// met is warned about (its setting makes no difference here).
const NOT_IMPLEMENTED: &[&str] = &[
    "allow",
    "disallow",
    "nat",
    "qualify",
    "dtmfmode",
    "insecure",
    "canreinvite",
    "directmedia",
    "username",
    "fromuser",
    "fromdomain",
    "defaultuser",
    "mailbox",
    "language",
    "transport",
    "port",
    "accountcode",
    "description",
];

impl Directory {
    pub fn load(path: &Path) -> Result<Directory, ConfError> {
        Self::from_conf(ConfFile::load(path)?)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Directory, ConfError> {
        Self::from_conf(ConfFile::parse(path, text)?)
    }

    fn from_conf(conf: ConfFile) -> Result<Directory, ConfError> {
        let mut dir = Directory {
            realm: DEFAULT_REALM.to_owned(),
            default_context: DEFAULT_CONTEXT.to_owned(),
            allow_guest: false,
            always_auth_reject: true,
            ..Default::default()
        };
        dir.warnings
            .extend(conf.warnings.iter().map(ToString::to_string));
        if let Some(general) = conf.section("general") {
            for e in &general.entries {
                match e.key.to_ascii_lowercase().as_str() {
                    "realm" => dir.realm = non_empty(e)?.to_owned(),
                    "context" => dir.default_context = non_empty(e)?.to_owned(),
                    "allowguest" => dir.allow_guest = yes_no(e)?,
                    "alwaysauthreject" => dir.always_auth_reject = yes_no(e)?,
                    // Any other [general] key is warned about.
                    _ => dir.warnings.push(format!(
                        "{}:{}: '{}' in [general] is not implemented by Asterism: ignored",
                        e.file.display(),
                        e.line,
                        e.key
                    )),
                }
            }
        }
        let default_context = dir.default_context.clone();
        for s in conf
            .sections
            .iter()
            .filter(|s| !s.name.eq_ignore_ascii_case("general") && !s.is_template)
        {
            let user = dir.user_from(s, &default_context)?;
            if let Some(u) = user {
                dir.users.insert(u.name.clone(), u);
            }
        }
        Ok(dir)
    }

    fn user_from(&mut self, s: &Section, default_context: &str) -> Result<Option<User>, ConfError> {
        for e in &s.entries {
            let is = |keys: &[&str]| keys.iter().any(|k| k.eq_ignore_ascii_case(&e.key));
            if is(KNOWN_KEYS) {
                continue;
            }
            let what = if is(NOT_IMPLEMENTED) {
                "is not implemented by Asterism"
            } else {
                "is an unknown key"
            };
            self.warnings.push(format!(
                "{}:{}: '{}' in [{}] {what}: ignored",
                e.file.display(),
                e.line,
                e.key,
                s.name
            ));
        }
        let kind = s.get("type").map(|e| e.value.to_ascii_lowercase());
        match (kind.as_deref(), s.get("type")) {
            (Some("friend" | "peer" | "user"), _) | (None, None) => {}
            (_, Some(e)) => return Err(bad(e, "type must be friend, peer or user")),
            (_, None) => {}
        }
        let secret = match (s.get("secret"), s.get("md5secret")) {
            (_, Some(e)) => {
                let v = non_empty(e)?;
                if v.len() != 32 || !v.bytes().all(|c| c.is_ascii_hexdigit()) {
                    return Err(bad(e, "md5secret must be 32 hex digits"));
                }
                Secret::Md5Ha1(v.to_ascii_lowercase())
            }
            (Some(e), None) => Secret::Plain(e.value.clone()),
            (None, None) => {
                self.warnings.push(format!(
                    "{}:{}: [{}] has no secret: it cannot register",
                    s.file.display(),
                    s.line,
                    s.name
                ));
                return Ok(None);
            }
        };
        let (callerid_name, callerid_num) = match s.get("callerid") {
            Some(e) => parse_callerid(&e.value),
            None => (String::new(), s.name.clone()),
        };
        Ok(Some(User {
            name: s.name.clone(),
            secret,
            context: s
                .get("context")
                .map(|e| e.value.clone())
                .unwrap_or_else(|| default_context.to_owned()),
            callerid_name,
            callerid_num,
            host: match s.get("host") {
                Some(e) if e.value.eq_ignore_ascii_case("dynamic") => PeerHost::Dynamic,
                Some(e) => PeerHost::Static(non_empty(e)?.to_owned()),
                None => PeerHost::Unset,
            },
            acl: acl_of(s)?,
            call_limit: count(s, "call-limit")?,
            max_contacts: count(s, "max_contacts")?,
        }))
    }

    pub fn get(&self, name: &str) -> Option<&User> {
        self.users.get(name)
    }

    pub fn len(&self) -> usize {
        self.users.len()
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
}

/// `permit=` and `deny=` lines in order.
fn acl_of(s: &Section) -> Result<Acl, ConfError> {
    let mut acl = Acl::default();
    for e in &s.entries {
        let sense = match e.key.to_ascii_lowercase().as_str() {
            "permit" => Sense::Permit,
            "deny" => Sense::Deny,
            _ => continue,
        };
        acl.push(sense, &e.value).map_err(|why| bad(e, &why))?;
    }
    Ok(acl)
}

/// A positive count (`call-limit=2`); absent or 0: no limit.
fn count(s: &Section, key: &str) -> Result<Option<u32>, ConfError> {
    match s.get(key) {
        None => Ok(None),
        Some(e) => e
            .value
            .trim()
            .parse::<u32>()
            .map(|n| (n > 0).then_some(n))
            .map_err(|_| bad(e, "must be a whole number")),
    }
}

fn yes_no(e: &Entry) -> Result<bool, ConfError> {
    match e.value.trim().to_ascii_lowercase().as_str() {
        "yes" | "true" | "y" | "t" | "1" | "on" => Ok(true),
        "no" | "false" | "n" | "f" | "0" | "off" => Ok(false),
        _ => Err(bad(e, "must be yes or no")),
    }
}

fn non_empty(e: &Entry) -> Result<&str, ConfError> {
    if e.value.is_empty() {
        Err(bad(e, "value must not be empty"))
    } else {
        Ok(&e.value)
    }
}

fn bad(e: &Entry, why: &str) -> ConfError {
    ConfError {
        file: e.file.clone(),
        line: e.line,
        column: None,
        message: format!("{}={}: {why}", e.key, e.value),
    }
}

/// `"Alice Smith" <61>` → ("Alice Smith", "61"); `61` → ("", "61").
fn parse_callerid(v: &str) -> (String, String) {
    match (v.find('<'), v.rfind('>')) {
        (Some(l), Some(r)) if l < r => (
            v[..l].trim().trim_matches('"').to_owned(),
            v[l + 1..r].trim().to_owned(),
        ),
        _ => (String::new(), v.trim().to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONF: &str = "[general]\nrealm=asterisk\n\n[alice]\ntype=friend\nsecret=alicepw\ncontext=default\ncallerid=\"Alice\" <61>\nhost=dynamic\nfoo=bar\n\n[bob]\ntype=peer\nmd5secret=0123456789abcdef0123456789ABCDEF\n";

    #[test]
    fn reads_users() {
        let d = Directory::parse(Path::new("sip.conf"), CONF).unwrap();
        let a = d.get("alice").unwrap();
        assert_eq!(a.secret, Secret::Plain("alicepw".into()));
        assert_eq!(
            (a.callerid_name.as_str(), a.callerid_num.as_str()),
            ("Alice", "61")
        );
        assert!(a.dynamic());
        let b = d.get("bob").unwrap();
        assert_eq!(
            b.secret,
            Secret::Md5Ha1("0123456789abcdef0123456789abcdef".into())
        );
        assert_eq!(b.context, "default");
        assert_eq!(d.warnings.len(), 1, "{:?}", d.warnings);
        assert!(d.warnings[0].contains("sip.conf:10: 'foo' in [alice] is an unknown key"));
    }

    #[test]
    fn bad_values_name_the_line() {
        let e =
            Directory::parse(Path::new("sip.conf"), "[a]\ntype=router\nsecret=x\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "sip.conf:2: type=router: type must be friend, peer or user"
        );
        let e = Directory::parse(Path::new("sip.conf"), "[a]\nmd5secret=abc\n").unwrap_err();
        assert_eq!(e.line, 2);
    }
}
