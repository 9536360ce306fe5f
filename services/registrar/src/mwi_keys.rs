//! The sip.conf keys of message waiting and subscriptions, read as chan_sip
//! reads them: `mailbox=` (a peer's comma-separated mailboxes, each
//! `box[@context]`), `vmexten=` (the Message-Account user, `asterisk` by
//! default), `allowsubscribe=` and `buggymwi=` (in `[general]` for every
//! peer, or per peer). A mailbox without a context gets `@default`, the
//! voicemail context Asterisk assumes, so `61` and `61@default` are one box.

use asterism_config::{ConfError, Entry};

/// chan_sip's `DEFAULT_VMEXTEN`.
pub const DEFAULT_VMEXTEN: &str = "asterisk";

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MwiKeys {
    pub mailboxes: Vec<String>,
    pub vmexten: Option<String>,
    pub allow_subscribe: Option<bool>,
    pub buggy_mwi: Option<bool>,
}

impl MwiKeys {
    /// Take `e` when it is one of these keys (a bad yes/no is an error);
    /// `mailbox=` only in a peer's section, as chan_sip.
    pub fn take(&mut self, e: &Entry, peer: bool) -> Result<bool, ConfError> {
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
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// A peer's keys over `[general]`'s (mailboxes are a peer's own).
    pub fn over(&self, general: &MwiKeys) -> MwiKeys {
        MwiKeys {
            mailboxes: self.mailboxes.clone(),
            vmexten: self.vmexten.clone().or(general.vmexten.clone()),
            // chan_sip checks [general]'s first: no there refuses every peer.
            allow_subscribe: match general.allow_subscribe {
                Some(false) => Some(false),
                g => self.allow_subscribe.or(g),
            },
            buggy_mwi: self.buggy_mwi.or(general.buggy_mwi),
        }
    }

    pub fn vmexten(&self) -> String {
        self.vmexten
            .clone()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| DEFAULT_VMEXTEN.to_owned())
    }
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
    fn a_mailbox_gets_the_default_context() {
        assert_eq!(mailbox_id(" 61 "), Some("61@default".into()));
        assert_eq!(mailbox_id("61@sales"), Some("61@sales".into()));
        assert_eq!(mailbox_id("61@"), Some("61@default".into()));
        assert_eq!(mailbox_id(" "), None);
        assert_eq!(mailbox_id("@sales"), None);
    }
}
