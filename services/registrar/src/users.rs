//! The user directory, read from an Asterisk `sip.conf`: one section per
//! peer (`type=friend|peer|user`), with `secret` or `md5secret`, `context`,
//! `callerid` and `host=dynamic`. `[general]` may set `realm` and `context`.
//! Unknown keys are warned about; malformed values fail with file:line.

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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub secret: Secret,
    pub context: String,
    pub callerid_name: String,
    pub callerid_num: String,
    pub dynamic: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Directory {
    pub realm: String,
    users: HashMap<String, User>,
    /// Warnings met while loading (unknown keys), for the log.
    pub warnings: Vec<String>,
}

const KNOWN_KEYS: &[&str] = &[
    "type",
    "secret",
    "md5secret",
    "context",
    "callerid",
    "host",
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
    "permit",
    "deny",
    "call-limit",
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
            ..Default::default()
        };
        let mut default_context = DEFAULT_CONTEXT.to_owned();
        if let Some(general) = conf.section("general") {
            if let Some(e) = general.get("realm") {
                dir.realm = non_empty(e)?.to_owned();
            }
            if let Some(e) = general.get("context") {
                default_context = non_empty(e)?.to_owned();
            }
        }
        for s in conf
            .sections
            .iter()
            .filter(|s| s.name != "general" && !s.is_template)
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
            if !KNOWN_KEYS.iter().any(|k| k.eq_ignore_ascii_case(&e.key)) {
                self.warnings.push(format!(
                    "{}:{}: unknown key '{}' in [{}] ignored",
                    e.file.display(),
                    e.line,
                    e.key,
                    s.name
                ));
            }
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
            dynamic: s
                .get("host")
                .is_some_and(|e| e.value.eq_ignore_ascii_case("dynamic")),
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
        assert!(a.dynamic);
        let b = d.get("bob").unwrap();
        assert_eq!(
            b.secret,
            Secret::Md5Ha1("0123456789abcdef0123456789abcdef".into())
        );
        assert_eq!(b.context, "default");
        assert_eq!(d.warnings.len(), 1, "{:?}", d.warnings);
        assert!(d.warnings[0].contains("sip.conf:10: unknown key 'foo'"));
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
