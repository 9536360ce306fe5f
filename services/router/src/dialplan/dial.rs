//! `Dial()` strings as chan_sip and app_dial read them: targets joined by
//! `&`, each `TECH/resource` — `SIP/peer`, `SIP/peer/number`,
//! `SIP/number@peer`, the same for `PJSIP`, `Local/exten@context[/n]` — and
//! the options (letters, some with `(arguments)`). What Asterism cannot
//! carry out is said at load with file:line: technologies other than SIP,
//! PJSIP and Local (run by the router, see `engine::local`), and options
//! other than those the edge implements.

/// Options Asterism carries out (`g` the router, `L`, `m`, `r`, `t`, `T` the edge).
pub const SUPPORTED_OPTIONS: &[char] = &['g', 'L', 'm', 'r', 't', 'T'];

/// app_dial's options (Asterisk 20), for telling "not supported" from "unknown".
const ASTERISK_OPTIONS: &str = "AaBbCcDdEeFfGgHhIijKkLMmNnOoPpQRrSsTtUuWwXxz";

/// Technologies Asterisk has that Asterism does not.
const OTHER_TECHNOLOGIES: &[&str] = &[
    "Local",
    "IAX2",
    "DAHDI",
    "Zap",
    "MGCP",
    "SCCP",
    "Skinny",
    "H323",
    "OOH323",
    "Motif",
    "Console",
    "Multicast",
    "UNISTIM",
    "Agent",
    "Bridge",
    "Announcer",
    "Recorder",
    "CBAnn",
    "CBRec",
    "ConfBridge",
    "WebRTC",
    "Rtp",
    "AudioSocket",
    "Dongle",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub technology: String,
    pub resource: String,
    pub number: String,
}

/// `SIP/peer`, `SIP/peer/number`, `SIP/number@peer`; other technologies
/// keep their resource whole.
pub fn target(text: &str) -> Target {
    let text = text.trim();
    let (tech, rest) = text.split_once('/').unwrap_or(("", text));
    let sip = tech.eq_ignore_ascii_case("SIP") || tech.eq_ignore_ascii_case("PJSIP");
    let (resource, number) = match (sip, rest.split_once('/'), rest.rsplit_once('@')) {
        (true, Some((peer, number)), _) => (peer, number),
        (true, None, Some((number, peer))) => (peer, number),
        _ => (rest, ""),
    };
    Target {
        technology: tech.to_owned(),
        resource: resource.to_owned(),
        number: number.to_owned(),
    }
}

/// The option letters of a Dial option string, arguments skipped
/// (`L(60000:30000)tr` → `L`, `t`, `r`).
pub fn option_letters(options: &str) -> Vec<char> {
    let mut out = Vec::new();
    let mut depth = 0;
    for c in options.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            c if depth == 0 && c.is_ascii_alphabetic() => out.push(c),
            _ => {}
        }
    }
    out
}

/// What a Dial's raw arguments ask that Asterism cannot do, as warnings
/// (variables, resolved only when the call runs, are not checked).
pub fn check(targets: &str, options: &str) -> Vec<String> {
    let mut warnings = Vec::new();
    for t in targets
        .split('&')
        .map(str::trim)
        .filter(|t| !t.is_empty() && !t.contains('$'))
    {
        let tech = t.split_once('/').map(|(tech, _)| tech).unwrap_or("");
        if ["SIP", "PJSIP", "Local"]
            .iter()
            .any(|k| tech.eq_ignore_ascii_case(k))
        {
            continue;
        }
        let known = OTHER_TECHNOLOGIES
            .iter()
            .any(|o| o.eq_ignore_ascii_case(tech));
        warnings.push(match (tech, known) {
            ("", _) => format!("Dial target '{t}' names no technology (SIP/…): it cannot ring"),
            (_, true) => format!(
                "Dial technology '{tech}' is not supported by Asterism: '{t}' will not ring"
            ),
            (_, false) => format!("Dial technology '{tech}' is unknown: '{t}' will not ring"),
        });
    }
    if !options.contains('$') {
        for c in option_letters(options) {
            if SUPPORTED_OPTIONS.contains(&c) {
                continue;
            }
            warnings.push(if ASTERISK_OPTIONS.contains(c) {
                format!("Dial option '{c}' is not supported by Asterism: ignored")
            } else {
                format!("unknown Dial option '{c}': ignored")
            });
        }
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> (String, String, String) {
        let t = target(s);
        (t.technology, t.resource, t.number)
    }

    #[test]
    fn target_forms() {
        let s = |a: &str, b: &str, c: &str| (a.to_owned(), b.to_owned(), c.to_owned());
        assert_eq!(t("SIP/alice"), s("SIP", "alice", ""));
        assert_eq!(t("SIP/alice/1234"), s("SIP", "alice", "1234"));
        assert_eq!(t("SIP/1234@alice"), s("SIP", "alice", "1234"));
        assert_eq!(t("PJSIP/bob"), s("PJSIP", "bob", ""));
        assert_eq!(t("Local/100@default/n"), s("Local", "100@default/n", ""));
    }

    #[test]
    fn load_time_checks() {
        assert!(check("SIP/a&PJSIP/b", "r").is_empty());
        let w = check(
            "SIP/a&IAX2/box/100&DAHDI/g1/5551234&Local/1@x&Foo/1&plain",
            "tTL(60000:30000)q",
        );
        assert_eq!(w.len(), 5, "{w:?}: Local is run by the router");
        assert!(w[0].contains("'IAX2' is not supported by Asterism"));
        assert!(w[2].contains("'Foo' is unknown"));
        assert!(w[3].contains("names no technology"));
        assert!(w[4].contains("unknown Dial option 'q'"));
        assert!(
            check("${TRUNK}/1", "${OPTS}").is_empty(),
            "variables are checked when the call runs"
        );
        assert_eq!(
            option_letters("L(60000:30000:5000)M(m^a)tr"),
            ['L', 'M', 't', 'r']
        );
    }
}
