//! The sip.conf keys that decide whether a call's media is anchored on a
//! media instance, read as chan_sip reads them (`handle_common_options`):
//! `directmedia` (old name `canreinvite`) is `yes`, `no`, or words among
//! `nonat`, `update`, `outgoing`; `nat` is `no`, `yes` (= `force_rport,comedia`)
//! or words among `force_rport`, `comedia`, `auto_force_rport`,
//! `auto_comedia`. `[general]` gives the defaults peers inherit.
//!
//! Anchored: `directmedia=no`, or `comedia` (media must go where the
//! phone's RTP comes from, which only a relay can see). `nonat` and the
//! `auto_` forms need nothing more: the edge anchors every call whose
//! phone it sees behind NAT.

use asterism_config::conf::Entry;

/// What a section (or `[general]`) says; `None`: not said there.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MediaKeys {
    pub direct_media: Option<bool>,
    pub comedia: Option<bool>,
}

impl MediaKeys {
    /// Take `e` if it is one of ours; a warning for words chan_sip would
    /// not know either. False: not one of ours.
    pub fn take(&mut self, e: &Entry, warnings: &mut Vec<String>) -> bool {
        let key = e.key.to_ascii_lowercase();
        let value = e.value.trim().to_ascii_lowercase();
        let mut unknown = |w: &str| {
            warnings.push(format!(
                "{}:{}: unknown {} mode '{w}': ignored, as Asterisk does",
                e.file.display(),
                e.line,
                e.key
            ))
        };
        match key.as_str() {
            "directmedia" | "canreinvite" => {
                self.direct_media = Some(match value.as_str() {
                    "yes" | "true" | "y" | "t" | "1" | "on" => true,
                    "no" | "false" | "n" | "f" | "0" | "off" => false,
                    words => {
                        for w in words.split(',').map(str::trim) {
                            if !matches!(w, "nonat" | "update" | "outgoing") {
                                unknown(w);
                            }
                        }
                        true
                    }
                });
                true
            }
            "nat" => {
                let mut comedia = false;
                for w in value.split(',').map(str::trim) {
                    match w {
                        "yes" | "comedia" => comedia = true,
                        "no" | "never" | "force_rport" | "auto_force_rport" | "auto_comedia" => {}
                        w => unknown(w),
                    }
                }
                self.comedia = Some(comedia);
                true
            }
            _ => false,
        }
    }

    /// This section's keys over the `[general]` defaults.
    pub fn over(self, general: MediaKeys) -> MediaKeys {
        MediaKeys {
            direct_media: self.direct_media.or(general.direct_media),
            comedia: self.comedia.or(general.comedia),
        }
    }

    /// Whether calls of this peer go through a media relay (chan_sip's
    /// default is direct media, nat=force_rport).
    pub fn anchored(self) -> bool {
        self.direct_media == Some(false) || self.comedia == Some(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(lines: &[(&str, &str)]) -> (MediaKeys, Vec<String>) {
        let mut k = MediaKeys::default();
        let mut w = Vec::new();
        for (i, (key, value)) in lines.iter().enumerate() {
            let e = Entry {
                key: (*key).into(),
                value: (*value).into(),
                file: "sip.conf".into(),
                line: i + 1,
                arrow: false,
                value_col: 1,
            };
            assert!(k.take(&e, &mut w));
        }
        (k, w)
    }

    #[test]
    fn chan_sip_words() {
        assert!(read(&[("directmedia", "no")]).0.anchored());
        assert!(read(&[("canreinvite", "no")]).0.anchored());
        assert!(!read(&[("directmedia", "yes")]).0.anchored());
        assert!(!read(&[("directmedia", "nonat,update")]).0.anchored());
        assert!(read(&[("nat", "force_rport,comedia")]).0.anchored());
        assert!(read(&[("nat", "yes")]).0.anchored());
        assert!(!read(&[("nat", "force_rport")]).0.anchored());
        assert!(!MediaKeys::default().anchored());
        let (k, w) = read(&[("directmedia", "sometimes"), ("nat", "route")]);
        assert!(!k.anchored());
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(
            w[0].starts_with("sip.conf:1: unknown directmedia mode 'sometimes'"),
            "{w:?}"
        );
    }

    #[test]
    fn a_peer_overrides_general() {
        let general = read(&[("directmedia", "no")]).0;
        assert!(MediaKeys::default().over(general).anchored());
        assert!(!read(&[("directmedia", "yes")]).0.over(general).anchored());
    }
}
