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
//!
//! `allow`/`disallow` lines apply in order over what `[general]` allows
//! (chan_sip's default: all); Asterism carries `ulaw` and `alaw`, so the
//! peer's codecs are those two in its order of preference, and a peer
//! restricted to one of them has its calls anchored, where the relay
//! transcodes. `dtmfmode=rfc2833|auto` offers RFC 4733 events;
//! `info`/`inband`/`shortinfo` do not (events then cannot be carried).

use asterism_config::conf::Entry;

/// What a section (or `[general]`) says; `None`: not said there.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MediaKeys {
    pub direct_media: Option<bool>,
    pub comedia: Option<bool>,
    /// `allow`/`disallow` lines in order: (allow?, codec name or "all").
    pub codec_ops: Vec<(bool, String)>,
    /// `dtmfmode=` said RFC 4733 (`rfc2833`, `auto`) or not.
    pub rfc2833: Option<bool>,
    /// `mohinterpret=`, `mohsuggest=`: music on hold classes.
    pub moh_interpret: Option<String>,
    pub moh_suggest: Option<String>,
}

/// Codec names chan_sip knows (`allow=`), besides `all`.
const KNOWN_CODECS: &[&str] = &[
    "ulaw", "alaw", "gsm", "g722", "g729", "g726", "g726aal2", "g723", "ilbc", "speex", "speex16",
    "speex32", "lpc10", "adpcm", "slin", "slin16", "opus", "silk", "siren7", "siren14", "g719",
    "testlaw", "h261", "h263", "h263p", "h264", "h265", "vp8", "vp9", "mpeg4", "t140", "t140red",
    "jpeg", "png", "codec2",
];

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
            "allow" | "disallow" => {
                let allow = key == "allow";
                for name in value
                    .split([',', '&'])
                    .map(str::trim)
                    .filter(|n| !n.is_empty())
                {
                    let bare = name.split(':').next().unwrap_or(name);
                    if bare != "all" && !KNOWN_CODECS.contains(&bare) {
                        warnings.push(crate::phone_keys::warning(
                            e,
                            &format!(": unknown codec '{name}': ignored, as Asterisk does"),
                        ));
                        continue;
                    }
                    self.codec_ops.push((allow, bare.to_owned()));
                }
                true
            }
            "mohinterpret" => {
                self.moh_interpret = Some(e.value.trim().to_owned());
                true
            }
            "mohsuggest" => {
                self.moh_suggest = Some(e.value.trim().to_owned());
                true
            }
            "dtmfmode" => {
                self.rfc2833 = match value.as_str() {
                    "rfc2833" | "auto" => Some(true),
                    "info" | "shortinfo" | "inband" => Some(false),
                    other => {
                        unknown(other);
                        None
                    }
                };
                true
            }
            _ => false,
        }
    }

    /// The codecs allowed ([`MediaKeys::codecs`]) when `allow`/`disallow`
    /// said anything here or in `general`; None: nothing said.
    pub fn allowed(&self, general: &MediaKeys) -> Option<Vec<String>> {
        let said = !self.codec_ops.is_empty() || !general.codec_ops.is_empty();
        said.then(|| self.codecs(general))
    }

    /// The G.711 codecs allowed, in order of preference, as names the media
    /// service takes ("PCMU", "PCMA"); `general` is what `[general]` said.
    pub fn codecs(&self, general: &MediaKeys) -> Vec<String> {
        let mut list: Vec<&str> = vec!["ulaw", "alaw"];
        for (allow, name) in general.codec_ops.iter().chain(&self.codec_ops) {
            let names: Vec<&str> = match name.as_str() {
                "all" => vec!["ulaw", "alaw"],
                n => vec![n],
            };
            for n in names {
                match allow {
                    // Appended once: one allowed already keeps its place.
                    true if !list.contains(&n) => list.push(n),
                    true => {}
                    false => list.retain(|c| *c != n),
                }
            }
        }
        list.iter()
            .filter_map(|c| match *c {
                "ulaw" => Some("PCMU".to_owned()),
                "alaw" => Some("PCMA".to_owned()),
                _ => None,
            })
            .collect()
    }

    /// This section's keys over the `[general]` defaults.
    pub fn over(&self, general: &MediaKeys) -> MediaKeys {
        MediaKeys {
            direct_media: self.direct_media.or(general.direct_media),
            comedia: self.comedia.or(general.comedia),
            codec_ops: Vec::new(),
            rfc2833: self.rfc2833.or(general.rfc2833),
            moh_interpret: self.moh_interpret.clone().or(general.moh_interpret.clone()),
            moh_suggest: self.moh_suggest.clone().or(general.moh_suggest.clone()),
        }
    }

    /// Whether calls of this peer go through a media relay (chan_sip's
    /// default is direct media, nat=force_rport).
    pub fn anchored(&self) -> bool {
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
        assert!(MediaKeys::default().over(&general).anchored());
        assert!(!read(&[("directmedia", "yes")]).0.over(&general).anchored());
    }

    #[test]
    fn allow_and_disallow_in_order_over_general() {
        let none = MediaKeys::default();
        assert_eq!(none.codecs(&none), ["PCMU", "PCMA"], "chan_sip allows all");
        let (k, _) = read(&[("disallow", "all"), ("allow", "alaw,ulaw")]);
        assert_eq!(k.codecs(&none), ["PCMA", "PCMU"], "in allow order");
        let (k, _) = read(&[("disallow", "all"), ("allow", "g729&ulaw")]);
        assert_eq!(k.codecs(&none), ["PCMU"]);
        let general = read(&[("disallow", "all"), ("allow", "alaw")]).0;
        assert_eq!(
            none.codecs(&general),
            ["PCMA"],
            "[general]'s list is inherited"
        );
        let (k, _) = read(&[("allow", "ulaw")]);
        assert_eq!(
            k.codecs(&general),
            ["PCMA", "PCMU"],
            "a peer's allow adds to it"
        );
        let (k, w) = read(&[("allow", "ulaw:20,nosuch"), ("dtmfmode", "info")]);
        assert_eq!(
            k.codecs(&none),
            ["PCMU", "PCMA"],
            "allowed already: same place"
        );
        assert_eq!(k.rfc2833, Some(false));
        assert!(w[0].contains("unknown codec 'nosuch'"), "{w:?}");
    }
}
