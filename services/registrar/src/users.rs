//! The user directory, read from an Asterisk `sip.conf` as chan_sip reads
//! it: one section per peer (`type=friend|peer|user`; a section without a
//! type it knows is skipped with chan_sip's warning), with `secret` or
//! `md5secret`, `context`, `callerid`, `host`, `permit`/`deny`,
//! `call-limit`; templates as `main/config.c` builds them. `[general]` may
//! set `realm`, `context`, `allowguest`, `alwaysauthreject`; `register =>`
//! lines are parsed. Every other chan_sip key is warned about as not
//! supported, any other key as unknown (see [`crate::sip_keys`]), once per
//! line; malformed values fail with file:line.

use crate::acl::{Acl, Sense};
use crate::media_keys::MediaKeys;
use crate::phone_keys::PhoneKeys;
use crate::sip_keys;
use crate::trunks::Trunk;
use asterism_config::register_line::{self, Registration};
use asterism_config::{ConfError, ConfFile, Entry, Section};
use std::collections::{HashMap, HashSet};
use std::path::Path;

pub const DEFAULT_REALM: &str = "asterisk";
pub const DEFAULT_CONTEXT: &str = "default";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Secret {
    Plain(String),
    /// `md5secret`: MD5(user:realm:secret), already hashed.
    Md5Ha1(String),
    /// A trunk without a secret (an ITSP that knows us by address): no
    /// digest from it ever succeeds.
    None,
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
    /// Its calls' media goes through a media relay (`directmedia=no`,
    /// `nat=comedia`; see [`crate::media_keys`]).
    pub anchor_media: bool,
    /// A static `host=`: where calls to it go, how it is recognised.
    pub trunk: Option<Trunk>,
    /// `allow`/`disallow`: "PCMU"/"PCMA" in its order of preference
    /// (None: nothing said, so both in the offer's order; empty: neither).
    pub codecs: Option<Vec<String>>,
    /// `dtmfmode` is RFC 4733 (`rfc2833`, `auto`, the default).
    pub rfc2833: bool,
    /// `mohinterpret` (chan_sip's default: `default`) and `mohsuggest`.
    pub moh_interpret: String,
    pub moh_suggest: String,
    /// The phone features' keys: `mailbox=`, `vmexten=`, `allowsubscribe=`,
    /// `buggymwi=`, `allowtransfer=`, `callgroup=`, `pickupgroup=`.
    pub phone: PhoneKeys,
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
    /// `register =>` lines (outbound registrations to providers).
    pub registrations: Vec<Registration>,
    /// `[general]`'s `directmedia`/`nat`: what peers inherit.
    media: MediaKeys,
    /// `[general]`'s `vmexten`, `allowsubscribe`, `buggymwi`, `allowtransfer`.
    phone: PhoneKeys,
    /// `registertimeout=`: seconds before a failed registration is tried
    /// again (chan_sip's default 20).
    pub register_timeout: u32,
}

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
            register_timeout: 20,
            ..Default::default()
        };
        dir.warnings
            .extend(conf.warnings.iter().map(ToString::to_string));
        let is = |s: &Section, name: &str| s.name.eq_ignore_ascii_case(name);
        let mut warned = HashSet::new();
        for general in conf.sections.iter().filter(|s| is(s, "general")) {
            for e in &general.entries {
                if dir.media.take(e, &mut dir.warnings)
                    || dir.phone.take(e, false, &mut dir.warnings)?
                {
                    continue;
                }
                match e.key.to_ascii_lowercase().as_str() {
                    "realm" => dir.realm = non_empty(e)?.to_owned(),
                    "context" => dir.default_context = non_empty(e)?.to_owned(),
                    "allowguest" => dir.allow_guest = yes_no(e)?,
                    "alwaysauthreject" => dir.always_auth_reject = yes_no(e)?,
                    "register" => dir.register_line(e),
                    "registertimeout" => {
                        dir.register_timeout = e
                            .value
                            .trim()
                            .parse::<u32>()
                            .ok()
                            .filter(|&s| s > 0)
                            .ok_or_else(|| bad(e, "must be a number of seconds"))?
                    }
                    _ => dir.warn_key(e, "general", sip_keys::general(&e.key), &mut warned),
                }
            }
        }
        let default_context = dir.default_context.clone();
        // chan_sip: [authentication] holds outbound credentials, not a peer.
        for s in conf
            .sections
            .iter()
            .filter(|s| !is(s, "general") && !is(s, "authentication") && !s.is_template)
        {
            let user = dir.user_from(s, &default_context, &mut warned)?;
            if let Some(u) = user {
                dir.users.insert(u.name.clone(), u);
            }
        }
        // A template's line warns once, not once per peer built on it.
        let mut seen = HashSet::new();
        dir.warnings.retain(|w| seen.insert(w.clone()));
        Ok(dir)
    }

    /// A key chan_sip reads and Asterism does not act on, or no chan_sip
    /// key at all: warned once per line (template lines are shared).
    fn warn_key(
        &mut self,
        e: &Entry,
        section: &str,
        support: sip_keys::Support,
        warned: &mut HashSet<(std::path::PathBuf, usize)>,
    ) {
        let what = match support {
            sip_keys::Support::Implemented => return,
            sip_keys::Support::NotSupported { hint: None } => {
                "is not supported by Asterism".to_owned()
            }
            sip_keys::Support::NotSupported { hint: Some(h) } => {
                format!("is not supported by Asterism ({h})")
            }
            sip_keys::Support::Unknown => "is an unknown key".to_owned(),
        };
        if warned.insert((e.file.clone(), e.line)) {
            self.warnings.push(format!(
                "{}:{}: '{}' in [{section}] {what}: ignored",
                e.file.display(),
                e.line,
                e.key
            ));
        }
    }

    /// `register => …`: parsed as chan_sip parses it; Asterism does not
    /// register to providers yet, which is said.
    fn register_line(&mut self, e: &Entry) {
        let at = format!("{}:{}", e.file.display(), e.line);
        match register_line::parse(&e.value) {
            Ok((r, notices)) => {
                for n in notices {
                    self.warnings.push(format!("{at}: register => {n}"));
                }
                if r.transport != register_line::Transport::Udp {
                    self.warnings.push(format!(
                        "{at}: register => {}@{}: only UDP registrations are supported by Asterism: ignored",
                        r.user, r.host
                    ));
                    return;
                }
                if let Some(p) = &r.peer {
                    self.warnings.push(format!(
                        "{at}: register => {p}?…: the peer's settings are not applied to the registration by Asterism"
                    ));
                }
                self.registrations.push(r);
            }
            Err(why) => self
                .warnings
                .push(format!("{at}: register => {}: {why}: ignored", e.value)),
        }
    }

    fn user_from(
        &mut self,
        s: &Section,
        default_context: &str,
        warned: &mut HashSet<(std::path::PathBuf, usize)>,
    ) -> Result<Option<User>, ConfError> {
        // chan_sip skips a section without a type it knows, with a warning.
        match s
            .get("type")
            .map(|e| e.value.to_ascii_lowercase())
            .as_deref()
        {
            Some("friend" | "peer" | "user") => {}
            Some(other) => {
                self.warnings.push(format!(
                    "{}:{}: unknown type '{other}' for [{}]: section ignored, as Asterisk does",
                    s.file.display(),
                    s.line,
                    s.name
                ));
                return Ok(None);
            }
            None => {
                self.warnings.push(format!(
                    "{}:{}: section [{}] lacks type: ignored, as Asterisk does",
                    s.file.display(),
                    s.line,
                    s.name
                ));
                return Ok(None);
            }
        }
        let mut media = MediaKeys::default();
        let mut phone = PhoneKeys::default();
        if let (Some(e), false) = (s.get("qualify"), matches!(host_of(s), PeerHost::Static(_))) {
            if !matches!(
                e.value.trim().to_ascii_lowercase().as_str(),
                "no" | "0" | "off"
            ) {
                self.warnings.push(format!(
                    "{}:{}: 'qualify' in [{}] is only acted on for peers with a static host= by Asterism: ignored",
                    e.file.display(),
                    e.line,
                    s.name
                ));
            }
        }
        for e in &s.entries {
            if !media.take(e, &mut self.warnings) && !phone.take(e, true, &mut self.warnings)? {
                self.warn_key(e, &s.name, sip_keys::peer(&e.key), warned);
            }
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
            // A trunk may be known by its address only.
            (None, None) if matches!(host_of(s), PeerHost::Static(_)) => Secret::None,
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
            Some(e) => asterism_config::callerid::split(&e.value),
            None => (String::new(), s.name.clone()),
        };
        // This section's media keys over [general]'s.
        let own = media.over(&self.media);
        let codecs = media.allowed(&self.media);
        Ok(Some(User {
            name: s.name.clone(),
            secret,
            context: s
                .get("context")
                .map(|e| e.value.clone())
                .unwrap_or_else(|| default_context.to_owned()),
            callerid_name,
            callerid_num,
            trunk: match host_of(s) {
                PeerHost::Static(h) => Some(Trunk::from_section(s, &h, &mut self.warnings)?),
                _ => None,
            },
            host: host_of(s),
            acl: acl_of(s)?,
            call_limit: count(s, "call-limit")?,
            max_contacts: count(s, "max_contacts")?,
            anchor_media: own.anchored() || codecs.as_ref().is_some_and(|c| c.len() < 2),
            codecs,
            rfc2833: own.rfc2833.unwrap_or(true),
            moh_interpret: own.moh_interpret.unwrap_or_else(|| "default".to_owned()),
            moh_suggest: own.moh_suggest.unwrap_or_default(),
            phone: phone.over(&self.phone),
        }))
    }

    pub fn get(&self, name: &str) -> Option<&User> {
        self.users.get(name)
    }

    /// The trunk a request from `from` comes from (chan_sip's peer match by
    /// address: with `insecure=port` any port of its host, else its port).
    /// Every trunk, in name order.
    pub fn trunks(&self) -> Vec<&User> {
        let mut v: Vec<&User> = self.users.values().filter(|u| u.trunk.is_some()).collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    pub fn trunk_from(&self, from: std::net::SocketAddr) -> Option<&User> {
        let mut trunks = self
            .users
            .values()
            .filter(|u| u.trunk.as_ref().is_some_and(|t| t.is_source(from)));
        // The same address twice (two accounts at one ITSP) is ambiguous:
        // the one named first in name order, as a stable choice.
        let first = trunks.next()?;
        Some(trunks.fold(first, |a, b| if b.name < a.name { b } else { a }))
    }

    pub fn len(&self) -> usize {
        self.users.len()
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
}

/// `host=`: dynamic, an address or name, or not said.
fn host_of(s: &Section) -> PeerHost {
    match s.get("host") {
        Some(e) if e.value.eq_ignore_ascii_case("dynamic") => PeerHost::Dynamic,
        Some(e) if !e.value.trim().is_empty() => PeerHost::Static(e.value.trim().to_owned()),
        _ => PeerHost::Unset,
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

pub(crate) fn yes_no(e: &Entry) -> Result<bool, ConfError> {
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

/// `key=value: why`, at the entry's file and line.
pub(crate) fn bad(e: &Entry, why: &str) -> ConfError {
    ConfError {
        file: e.file.clone(),
        line: e.line,
        column: None,
        message: format!("{}={}: {why}", e.key, e.value),
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
        let e = Directory::parse(Path::new("sip.conf"), "[a]\ntype=friend\nmd5secret=abc\n")
            .unwrap_err();
        assert_eq!(e.line, 3);
    }

    #[test]
    fn sections_without_a_known_type_are_skipped_as_chan_sip_does() {
        let d = Directory::parse(
            Path::new("sip.conf"),
            "[a]\ntype=router\nsecret=x\n[b]\nsecret=y\n[authentication]\nauth=u:p@realm\n",
        )
        .unwrap();
        assert!(d.is_empty());
        assert_eq!(d.warnings.len(), 2, "{:?}", d.warnings);
        assert!(d.warnings[0].contains("sip.conf:1: unknown type 'router' for [a]"));
        assert!(d.warnings[1].contains("sip.conf:4: section [b] lacks type"));
    }

    #[test]
    fn templates_on_templates_give_every_key() {
        let d = Directory::parse(
            Path::new("sip.conf"),
            concat!(
                "[basic-options](!)\ntype=friend\ncontext=from-office\nlanguage=fr\n",
                "[natted-phone](!,Basic-Options)\nhost=dynamic\nnat=force_rport,comedia\n",
                "[alice](natted-phone)\nsecret=a\n",
                "[bob](natted-phone)\nsecret=b\ncontext=bobs\n",
            ),
        )
        .unwrap();
        let a = d.get("alice").unwrap();
        assert_eq!((a.context.as_str(), a.dynamic()), ("from-office", true));
        assert_eq!(d.get("bob").unwrap().context, "bobs");
        assert!(
            a.anchor_media,
            "nat=comedia from the template anchors media"
        );
        // The template's unsupported line is warned about once, not per peer.
        assert_eq!(
            d.warnings,
            ["sip.conf:4: 'language' in [alice] is not supported by Asterism: ignored"]
        );
    }

    #[test]
    fn directmedia_in_general_is_every_peers_default() {
        let d = Directory::parse(
            Path::new("sip.conf"),
            "[general]\ndirectmedia=no\n[a]\ntype=friend\nsecret=x\n[b]\ntype=friend\nsecret=y\ncanreinvite=yes\n",
        )
        .unwrap();
        assert!(d.get("a").unwrap().anchor_media);
        assert!(!d.get("b").unwrap().anchor_media);
        assert!(d.warnings.is_empty(), "{:?}", d.warnings);
        let d = Directory::parse(
            Path::new("sip.conf"),
            "[a]\ntype=friend\nsecret=x\ndisallow=all\nallow=alaw\ndtmfmode=info\n[b]\ntype=friend\nsecret=y\n",
        )
        .unwrap();
        let a = d.get("a").unwrap();
        assert_eq!(
            (a.codecs.as_deref(), a.rfc2833),
            (Some(&["PCMA".to_owned()][..]), false)
        );
        assert!(a.anchor_media, "one codec: the relay transcodes for it");
        let b = d.get("b").unwrap();
        assert!(b.codecs.is_none() && b.rfc2833 && !b.anchor_media);
    }

    #[test]
    fn every_chan_sip_key_is_acted_on_or_warned_about() {
        let d = Directory::parse(
            Path::new("sip.conf"),
            concat!(
                "[general]\nbindport=5062\nrelam=x\nregister => 1234:pw@provider.example/100\n",
                "register => broken\n",
                "[alice]\ntype=friend\nsecret=a\nqualify=yes\n",
            ),
        )
        .unwrap();
        let w = d.warnings.join("\n");
        assert!(w.contains("sip.conf:2: 'bindport' in [general] is not supported by Asterism (set ASTERISM_SIP_BIND): ignored"), "{w}");
        assert!(
            w.contains("sip.conf:3: 'relam' in [general] is an unknown key"),
            "{w}"
        );
        assert_eq!(d.registrations.len(), 1, "{w}");
        assert!(
            w.contains("sip.conf:5: register => broken: format for registration is"),
            "{w}"
        );
        assert!(
            w.contains(
                "sip.conf:9: 'qualify' in [alice] is only acted on for peers with a static host="
            ),
            "{w}"
        );
        assert_eq!(d.registrations.len(), 1);
        assert_eq!(d.registrations[0].extension, "100");
    }
}
