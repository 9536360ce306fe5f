//! features.conf, checked rather than read: Asterism runs the call features
//! it implements with Asterisk's defaults — `blindxfer` `#`,
//! `transferdigittimeout` 3 s, `pickupexten` `*8` — so a features.conf that
//! says anything else (another code, `atxfer`, `disconnect`, `parkcall`,
//! `automon`, application maps, parking lots) is warned about with
//! `file:line` when the router loads, never silently taken for done. A
//! line that repeats a default is fine.

use crate::dialplan::parse::Severity;
use crate::dialplan::Diagnostic;
use asterism_config::{ConfError, ConfFile};
use std::path::Path;

/// (section, key, the value Asterism runs with).
const DEFAULTS: &[(&str, &str, &str)] = &[
    ("general", "transferdigittimeout", "3"),
    ("general", "pickupexten", "*8"),
    ("featuremap", "blindxfer", "#"),
];

/// Warnings for `features.conf` in `dir`, if there is one.
pub fn check(dir: &Path) -> Vec<Diagnostic> {
    let path = dir.join("features.conf");
    if !path.exists() {
        return Vec::new();
    }
    match ConfFile::load(&path) {
        Ok(conf) => warnings(&conf),
        Err(e) => vec![warning(e)],
    }
}

fn warning(error: ConfError) -> Diagnostic {
    Diagnostic {
        severity: Severity::Warning,
        error,
    }
}

/// Every line of `conf` that is not one of Asterism's defaults.
fn warnings(conf: &ConfFile) -> Vec<Diagnostic> {
    let mut out: Vec<Diagnostic> = conf.warnings.iter().cloned().map(warning).collect();
    for s in conf.sections.iter().filter(|s| !s.is_template) {
        for e in &s.entries {
            let (key, value) = (e.key.trim(), e.value.trim());
            let ours = DEFAULTS.iter().find(|(sec, k, _)| {
                s.name.eq_ignore_ascii_case(sec) && key.eq_ignore_ascii_case(k)
            });
            let message = match ours {
                Some((_, _, v)) if value == *v => continue,
                Some((_, k, v)) => {
                    format!("features.conf is not read: {k} stays {v} in Asterism (here {value})")
                }
                None => format!(
                    "features.conf is not read: [{}] {key} = {value} is not done by Asterism",
                    s.name
                ),
            };
            out.push(warning(ConfError {
                file: e.file.clone(),
                line: e.line,
                column: None,
                message,
            }));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_other_than_asterisms_defaults_are_warned_about() {
        let text = "[general]\ntransferdigittimeout => 3\npickupexten = *9\n\n\
            [featuremap]\nblindxfer => #\natxfer => *2\n\n[applicationmap]\nx => *7,self,Playback(beep)\n";
        let conf = ConfFile::parse(Path::new("features.conf"), text).unwrap();
        let w: Vec<String> = warnings(&conf).iter().map(|d| d.to_string()).collect();
        assert_eq!(w.len(), 3, "{w:?}");
        assert!(
            w[0].contains("features.conf:3") && w[0].contains("pickupexten stays *8"),
            "{w:?}"
        );
        assert!(
            w[1].contains("features.conf:7") && w[1].contains("atxfer"),
            "{w:?}"
        );
        assert!(w[2].contains("[applicationmap] x"), "{w:?}");
        assert!(check(Path::new("/nonexistent")).is_empty());
    }
}
