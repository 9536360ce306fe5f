//! The sip.conf keys of the phone features chan_sip serves over SIP, read
//! as chan_sip reads them: message waiting — `mailbox=` (a peer's
//! comma-separated mailboxes, each `box[@context]`), `vmexten=` (the
//! Message-Account user, `asterisk` by default), `allowsubscribe=` and
//! `buggymwi=` (in `[general]` for every peer, or per peer); a mailbox
//! without a context gets `@default`, the voicemail context Asterisk
//! assumes, so `61` and `61@default` are one box — `allowtransfer=` (may
//! the peer's REFERs transfer calls; a peer's own value wins over
//! `[general]`'s, unlike `allowsubscribe`), and `callgroup=`/`pickupgroup=`
//! (a peer's, `1,3-5` as `ast_get_group` reads them: groups 0–63, a bad
//! piece warned about and skipped).

use asterism_config::{ConfError, Entry};

/// chan_sip's `DEFAULT_VMEXTEN`.
pub const DEFAULT_VMEXTEN: &str = "asterisk";

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PhoneKeys {
    pub mailboxes: Vec<String>,
    pub vmexten: Option<String>,
    pub allow_subscribe: Option<bool>,
    pub buggy_mwi: Option<bool>,
    pub allow_transfer: Option<bool>,
    /// `callgroup=` and `pickupgroup=`: bit n for group n.
    pub call_group: u64,
    pub pickup_group: u64,
}

impl PhoneKeys {
    /// Take `e` when it is one of these keys (a bad yes/no is an error);
    /// `mailbox=` only in a peer's section, as chan_sip.
    pub fn take(
        &mut self,
        e: &Entry,
        peer: bool,
        warnings: &mut Vec<String>,
    ) -> Result<bool, ConfError> {
        let yes = || crate::users::yes_no(e);
        match e.key.to_ascii_lowercase().as_str() {
            "mailbox" if peer => {
                for m in e.value.split(',').filter_map(mailbox_id) {
                    if !self.mailboxes.contains(&m) {
                        self.mailboxes.push(m);
                    }
                }
            }
            "vmexten" => self.vmexten = Some(e.value.trim().to_owned()),
            "allowsubscribe" => self.allow_subscribe = Some(yes()?),
            "buggymwi" => self.buggy_mwi = Some(yes()?),
            "allowtransfer" => self.allow_transfer = Some(yes()?),
            "callgroup" if peer => self.call_group = group(e, warnings),
            "pickupgroup" if peer => self.pickup_group = group(e, warnings),
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// A peer's keys over `[general]`'s (mailboxes are a peer's own).
    pub fn over(&self, general: &PhoneKeys) -> PhoneKeys {
        PhoneKeys {
            mailboxes: self.mailboxes.clone(),
            vmexten: self.vmexten.clone().or(general.vmexten.clone()),
            // chan_sip checks [general]'s first: no there refuses every peer.
            allow_subscribe: match general.allow_subscribe {
                Some(false) => Some(false),
                g => self.allow_subscribe.or(g),
            },
            buggy_mwi: self.buggy_mwi.or(general.buggy_mwi),
            allow_transfer: self.allow_transfer.or(general.allow_transfer),
            call_group: self.call_group,
            pickup_group: self.pickup_group,
        }
    }

    pub fn vmexten(&self) -> String {
        self.vmexten
            .clone()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| DEFAULT_VMEXTEN.to_owned())
    }
}

/// A group list (`1,3-5`) as `ast_get_group` reads it: bit n for group n;
/// a piece that is no number or range, or a group past 63, is warned about
/// and skipped.
fn group(e: &Entry, warnings: &mut Vec<String>) -> u64 {
    let mut mask = 0u64;
    for piece in e.value.split(',') {
        let piece = piece.trim();
        let range = match piece.split_once('-') {
            Some((a, b)) => a
                .trim()
                .parse::<i64>()
                .ok()
                .zip(b.trim().parse::<i64>().ok()),
            None => piece.parse::<i64>().ok().map(|n| (n, n)),
        };
        let Some((from, to)) = range else {
            if !piece.is_empty() {
                warnings.push(warning(
                    e,
                    &format!(" '{piece}' is no group or range: ignored, as Asterisk does"),
                ));
            }
            continue;
        };
        for n in from..=to.min(from.saturating_add(64)) {
            match u32::try_from(n).ok().filter(|&n| n <= 63) {
                Some(n) => mask |= 1 << n,
                None => warnings.push(warning(
                    e,
                    &format!(" group {n} ignored (groups are 0 to 63), as Asterisk does"),
                )),
            }
        }
    }
    mask
}

/// `file:line: key` and `what` after it: a warning about entry `e`.
pub(crate) fn warning(e: &Entry, what: &str) -> String {
    format!("{}:{}: {}{what}", e.file.display(), e.line, e.key)
}

/// A mailbox as stored and watched: `box@context`, `@default` when no
/// context is given; `None` for an empty one.
pub fn mailbox_id(s: &str) -> Option<String> {
    let s = s.trim();
    let (mbox, context) = s.split_once('@').unwrap_or((s, ""));
    let (mbox, context) = (mbox.trim(), context.trim());
    if mbox.is_empty() {
        return None;
    }
    let context = if context.is_empty() {
        "default"
    } else {
        context
    };
    Some(format!("{mbox}@{context}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_from_sip_conf_as_chan_sip_reads_them() {
        let conf = "[general]\nvmexten=*97\nbuggymwi=yes\n\n\
            [alice]\ntype=friend\nsecret=a\nhost=dynamic\nmailbox=61, 70@sales,61\n\n\
            [bob]\ntype=friend\nsecret=b\nhost=dynamic\nvmexten=8500\nallowsubscribe=no\nbuggymwi=no\n";
        let d = crate::users::Directory::parse(std::path::Path::new("sip.conf"), conf).unwrap();
        let a = &d.get("alice").unwrap().phone;
        assert_eq!(a.mailboxes, ["61@default", "70@sales"]);
        assert_eq!(
            (a.vmexten(), a.allow_subscribe, a.buggy_mwi),
            ("*97".into(), None, Some(true))
        );
        let b = &d.get("bob").unwrap().phone;
        assert!(b.mailboxes.is_empty());
        assert_eq!(
            (b.vmexten(), b.allow_subscribe, b.buggy_mwi),
            ("8500".into(), Some(false), Some(false))
        );
        assert!(d.warnings.is_empty(), "{:?}", d.warnings);
        let off = "[general]\nallowsubscribe=no\n\n[carl]\ntype=friend\nsecret=c\nhost=dynamic\nallowsubscribe=yes\n";
        let d = crate::users::Directory::parse(std::path::Path::new("sip.conf"), off).unwrap();
        assert_eq!(
            d.get("carl").unwrap().phone.allow_subscribe,
            Some(false),
            "[general] wins"
        );
    }

    #[test]
    fn allowtransfer_of_a_peer_wins_over_general() {
        let conf = "[general]\nallowtransfer=no\n\n\
            [alice]\ntype=friend\nsecret=a\nhost=dynamic\n\n\
            [bob]\ntype=friend\nsecret=b\nhost=dynamic\nallowtransfer=yes\n";
        let d = crate::users::Directory::parse(std::path::Path::new("sip.conf"), conf).unwrap();
        assert_eq!(d.get("alice").unwrap().phone.allow_transfer, Some(false));
        assert_eq!(d.get("bob").unwrap().phone.allow_transfer, Some(true));
        assert!(d.warnings.is_empty(), "{:?}", d.warnings);
    }

    #[test]
    fn call_and_pickup_groups_are_read_as_ast_get_group_reads_them() {
        let conf = "[bob]\ntype=friend\nsecret=b\nhost=dynamic\ncallgroup=1,3-5\npickupgroup=0, 63 ,x,64\n";
        let d = crate::users::Directory::parse(std::path::Path::new("sip.conf"), conf).unwrap();
        let b = &d.get("bob").unwrap().phone;
        assert_eq!(b.call_group, 0b11_1010);
        assert_eq!(b.pickup_group, 1 | 1 << 63);
        assert_eq!(d.warnings.len(), 2, "{:?}", d.warnings);
        assert!(
            d.warnings[0].contains("sip.conf:6: pickupgroup 'x'"),
            "{:?}",
            d.warnings
        );
    }

    #[test]
    fn a_mailbox_gets_the_default_context() {
        assert_eq!(mailbox_id(" 61 "), Some("61@default".into()));
        assert_eq!(mailbox_id("61@sales"), Some("61@sales".into()));
        assert_eq!(mailbox_id("61@"), Some("61@default".into()));
        assert_eq!(mailbox_id(" "), None);
        assert_eq!(mailbox_id("@sales"), None);
    }
}
