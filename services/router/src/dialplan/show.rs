//! `dialplan show [[exten@]context]`, laid out as Asterisk's CLI prints it
//! (`show_dialplan_helper` in pbx.c): contexts newest first, each
//! extension's first line `'name' =>` then its priorities with `[label]`,
//! hints as `hint:`, includes and ignore patterns, the same column widths
//! and the same footer, so eyes and scripts find what they expect.

use super::{Context, Dialplan, Extension, Pattern};
use std::fmt::Write;

pub fn show(plan: &Dialplan, what: Option<&str>) -> Result<String, String> {
    let (exten, context) = match what {
        Some(w) => match w.split_once('@') {
            Some((e, c)) => (Some(e).filter(|e| !e.is_empty()), Some(c)),
            None => (None, Some(w)),
        },
        None => (None, None),
    };
    let context = context.filter(|c| !c.is_empty());
    let mut contexts: Vec<&Context> = plan
        .contexts
        .values()
        .filter(|c| context.is_none_or(|n| n == c.name))
        .collect();
    if let Some(c) = context {
        if contexts.is_empty() {
            return Err(format!("There is no existence of '{c}' context"));
        }
    }
    contexts.sort_by_key(|c| std::cmp::Reverse(c.order));
    let mut out = String::new();
    let mut n = Counters::default();
    for ctx in contexts {
        context_lines(&mut out, ctx, exten, &mut n);
    }
    if let (Some(e), 0) = (exten, n.extensions) {
        return Err(match context {
            Some(c) => format!("There is no existence of {e}@{c} extension"),
            None => format!("There is no existence of '{e}' extension in all contexts"),
        });
    }
    let plural = |n: usize, one: &'static str, many: &'static str| if n == 1 { one } else { many };
    let _ = writeln!(
        out,
        "-= {} {} ({} {}) in {} {}. =-",
        n.extensions,
        plural(n.extensions, "extension", "extensions"),
        n.priorities,
        plural(n.priorities, "priority", "priorities"),
        n.contexts,
        plural(n.contexts, "context", "contexts"),
    );
    Ok(out)
}

#[derive(Default)]
struct Counters {
    contexts: usize,
    extensions: usize,
    priorities: usize,
}

fn context_lines(out: &mut String, ctx: &Context, exten: Option<&str>, n: &mut Counters) {
    let mut printed = false;
    let header = |out: &mut String, printed: &mut bool, n: &mut Counters| {
        if !*printed {
            n.contexts += 1;
            let _ = writeln!(out, "[ Context '{}' created by 'pbx_config' ]", ctx.name);
            *printed = true;
        }
    };
    if exten.is_none() {
        header(out, &mut printed, n);
    }
    for ext in &ctx.extensions {
        if exten.is_some_and(|x| !ext.pattern.matches(x)) {
            continue;
        }
        header(out, &mut printed, n);
        n.extensions += 1;
        extension_lines(out, ext, n);
    }
    for inc in &ctx.includes {
        if exten.is_none() {
            let _ = writeln!(
                out,
                "  Include =>        {:<45} [pbx_config]",
                format!("'{}'", inc.text)
            );
        }
    }
    for pat in &ctx.ignorepats {
        let shown =
            exten.is_none_or(|x| Pattern::parse(&format!("_{pat}.")).is_ok_and(|p| p.matches(x)));
        if !shown {
            continue;
        }
        let _ = writeln!(
            out,
            "  Ignore pattern => {:<45} [pbx_config]",
            format!("'{pat}'")
        );
    }
    if printed {
        out.push('\n');
    }
}

fn extension_lines(out: &mut String, ext: &Extension, n: &mut Counters) {
    let name = match &ext.cid {
        Some(cid) => format!("'{}' (CID match '{}') => ", ext.pattern, cid),
        None => format!("'{}' =>", ext.pattern),
    };
    let file = |p: &std::path::Path| {
        p.file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let mut first = Some(name);
    if let Some((hint, at)) = &ext.hint {
        n.priorities += 1;
        let head = first.take().unwrap_or_default();
        let _ = writeln!(
            out,
            "  {head:<17} {:<45} [{}:{}]",
            format!("hint: {hint}"),
            file(&at.file),
            at.line
        );
    }
    for p in ext.priorities.values() {
        n.priorities += 1;
        let head = match (first.take(), &p.label) {
            (Some(name), _) => name,
            (None, Some(l)) => format!("   [{l}]"),
            (None, None) => String::new(),
        };
        let _ = writeln!(
            out,
            "  {head:<17} {:<45} [{}:{}]",
            format!("{}. {}({})", p.number, p.app.name, p.app.args),
            file(&p.location.file),
            p.location.line
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialplan::parse_str;
    use std::path::Path;

    const PLAN: &str = "[default]
exten => 61,1,Dial(SIP/alice)
exten => 100,hint,SIP/100
exten => 100,1,NoOp()
 same => n(loop),Playback(x)
exten => _1XX/555,1,NoOp(cid)
include => echo
ignorepat => 9
[echo]
exten => 3666,1,Answer
";

    #[test]
    fn laid_out_like_asterisk() {
        // Expected lines built from pbx.c's printf formats, not from ours.
        let expected = [
            "[ Context 'echo' created by 'pbx_config' ]",
            "  '3666' =>         1. Answer()                                   [extensions.conf:10]",
            "",
            "[ Context 'default' created by 'pbx_config' ]",
            "  '100' =>          hint: SIP/100                                 [extensions.conf:3]",
            "                    1. NoOp()                                     [extensions.conf:4]",
            "     [loop]         2. Playback(x)                                [extensions.conf:5]",
            "  '61' =>           1. Dial(SIP/alice)                            [extensions.conf:2]",
            "  '_1XX' (CID match '555') =>  1. NoOp(cid)                                  [extensions.conf:6]",
            "  Include =>        'echo'                                        [pbx_config]",
            "  Ignore pattern => '9'                                           [pbx_config]",
            "",
            "-= 4 extensions (6 priorities) in 2 contexts. =-",
        ];
        let (plan, _) = parse_str(Path::new("/etc/asterisk/extensions.conf"), PLAN).unwrap();
        let out = show(&plan, None).unwrap();
        assert_eq!(out.lines().collect::<Vec<_>>(), expected);
    }

    #[test]
    fn one_context_one_extension_and_what_is_missing() {
        let (plan, _) = parse_str(Path::new("extensions.conf"), PLAN).unwrap();
        let out = show(&plan, Some("61@default")).unwrap();
        assert!(out.contains("'61' =>") && !out.contains("'100'"), "{out}");
        assert!(
            out.ends_with("-= 1 extension (1 priority) in 1 context. =-\n"),
            "{out}"
        );
        let out = show(&plan, Some("echo")).unwrap();
        assert!(out.starts_with("[ Context 'echo'") && !out.contains("default"));
        assert_eq!(
            show(&plan, Some("nowhere")).unwrap_err(),
            "There is no existence of 'nowhere' context"
        );
        assert_eq!(
            show(&plan, Some("7@default")).unwrap_err(),
            "There is no existence of 7@default extension"
        );
    }
}
