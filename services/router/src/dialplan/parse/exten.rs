//! `exten =>` and `same =>` lines, read as `pbx_config.c` reads them: the
//! name up to the first `,` outside `[…]`, `${VAR}` in it replaced from
//! `[globals]`, `/callerid` split off; the priority (`N`, `n`, `s`, `hint`,
//! a label, each with `(label)` and `+N`); the application up to its first
//! `(` and its data up to the last `)` of the line. What Asterisk skips
//! with a warning (a bad priority, `n` on the first line) is skipped with
//! the same warning here, never refused.

use super::Diagnostics;
use crate::dialplan::app::{split_args, AppKind, Application};
use crate::dialplan::pattern::Pattern;
use crate::dialplan::{Context, Extension, Location, Priority};
use crate::engine::functions;
use crate::engine::subst::{self, Scope};
use asterism_config::Entry;
use std::collections::{BTreeMap, HashMap};

/// Asterisk's priority of a hint.
const HINT: i32 = -1;
/// `lastpri` before any line of the context (pbx_config.c).
const NONE: i32 = -2;

/// What a line of a context leaves for the next: `same =>` repeats the
/// extension, `n` counts from the priority.
pub struct Last {
    ext: Option<String>,
    pri: i32,
}

impl Default for Last {
    fn default() -> Self {
        Last {
            ext: None,
            pri: NONE,
        }
    }
}

/// `[globals]` as load-time substitution sees them (`${VAR}`, `${GLOBAL(VAR)}`).
pub struct Globals<'a>(pub &'a HashMap<String, String>);

impl Scope for Globals<'_> {
    fn var(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }

    fn function(&self, name: &str, args: &str) -> Option<String> {
        name.eq_ignore_ascii_case("GLOBAL")
            .then(|| self.0.get(args.trim()).cloned())
            .flatten()
    }
}

/// An `exten =>` (`same` false) or `same =>` line.
pub fn line(
    ctx: &mut Context,
    e: &Entry,
    same: bool,
    last: &mut Last,
    globals: &Globals,
    diags: &mut Diagnostics,
) {
    let (realext, rest, rest_at) = if same {
        let Some(ext) = last.ext.clone() else {
            diags.warn(e.error_at(
                0,
                format!(
                    "no previous extension in context '{}' for 'same =>': line ignored",
                    ctx.name
                ),
            ));
            return;
        };
        (ext, e.value.as_str(), 0)
    } else {
        let cut = name_end(&e.value);
        let ext = subst::expand(e.value[..cut].trim(), globals);
        last.ext = Some(ext.clone());
        let at = (cut + 1).min(e.value.len());
        (ext, &e.value[at..], at)
    };
    let (name, cid) = match realext.split_once('/') {
        Some((n, c)) => (n.to_owned(), Some(shrink_phone_number(c))),
        None => (realext.clone(), None),
    };
    let (pri_text, app_text) = rest.split_once(',').unwrap_or((rest, ""));
    let app_at = rest_at + pri_text.len() + 1;
    let pri_text = pri_text.trim();
    let Some(number) = priority(ctx, e, pri_text, &name, cid.as_deref(), last, diags) else {
        return;
    };
    let (_, label) = split_label(pri_text);
    if number == 0 {
        // An `n` right after a hint: Asterisk drops it without a word.
        return;
    }
    last.pri = number;
    if name.is_empty() {
        diags.warn(e.error_at(0, "empty extension name: line ignored"));
        return;
    }
    if name == "_." || name == "_!" {
        diags.warn(e.error_at(0, format!("the use of '{name}' for an extension is strongly discouraged and can have unexpected behavior; use '_X{}' instead", &name[1..])));
    }
    let pattern = match Pattern::parse(&name) {
        Ok(p) => p,
        Err(p) => return diags.warn(e.error_at(p.offset, format!("{}: line ignored", p.message))),
    };
    let cid = match cid.as_deref().map(Pattern::parse) {
        None => None,
        Some(Ok(c)) => Some(c),
        Some(Err(p)) => {
            return diags.warn(e.error_at(
                0,
                format!(
                    "caller ID '{}': {}: line ignored",
                    cid.unwrap_or_default(),
                    p.message
                ),
            ))
        }
    };
    let location = Location {
        file: e.file.clone(),
        line: e.line,
    };
    let lead = app_text.len() - app_text.trim_start().len();
    let app_at = app_at + lead;
    let (app, data) = application(app_text.trim(), e, app_at, diags);
    let ext = extension(ctx, pattern, cid);
    if number == HINT {
        let hint = match ext.pattern.is_pattern() {
            true => app,
            false => subst::expand(&app, &HintScope(globals, ext.pattern.as_str())),
        };
        match &ext.hint {
            Some((_, old)) => diags.warn(e.error_at(
                0,
                format!(
                    "hint of extension {} already defined at {}:{}: this one is ignored",
                    ext.pattern,
                    old.file.display(),
                    old.line
                ),
            )),
            None => ext.hint = Some((hint, location)),
        }
        return;
    }
    let app = Application::new(&app, &data);
    if app.kind == AppKind::Unknown {
        diags.warn(e.error_at(app_at, format!("unknown application '{}'", app.name)));
    }
    for name in unknown_functions(&app) {
        diags.warn(e.error_at(app_at, format!("unknown function '{name}'")));
    }
    if app.name == "Dial" {
        let args = split_args(&app.args, ',');
        let arg = |i: usize| args.get(i).map(String::as_str).unwrap_or("");
        for w in crate::dialplan::dial::check(arg(0), arg(2)) {
            diags.warn(e.error_at(app_at, w));
        }
    }
    if let Some(old) = ext.priorities.get(&number) {
        // Asterisk keeps the first ("Unable to register extension").
        diags.warn(e.error_at(
            0,
            format!(
                "priority {number} of extension {} already defined at {}:{}: this one is ignored",
                ext.pattern,
                old.location.file.display(),
                old.location.line
            ),
        ));
        return;
    }
    let label = match label {
        Some(l) if ext.label(&l).is_some() => {
            diags.warn(e.error_at(
                0,
                format!(
                    "label '{l}' already used in extension {}: label dropped",
                    ext.pattern
                ),
            ));
            None
        }
        other => other,
    };
    ext.priorities.insert(
        number,
        Priority {
            number,
            label,
            app,
            location,
        },
    );
}

/// Hints see `${EXTEN}` besides the globals (Asterisk expands them with a
/// dummy channel on that extension).
struct HintScope<'a>(&'a Globals<'a>, &'a str);

impl Scope for HintScope<'_> {
    fn var(&self, name: &str) -> Option<String> {
        match name {
            "EXTEN" => Some(self.1.to_owned()),
            _ => self.0.var(name),
        }
    }

    fn function(&self, name: &str, args: &str) -> Option<String> {
        self.0.function(name, args)
    }
}

/// The extension of that name and caller-ID match, created if new.
fn extension(ctx: &mut Context, pattern: Pattern, cid: Option<Pattern>) -> &mut Extension {
    let key = name_key(&pattern, cid.as_ref());
    let i = match ctx.building.get(&key) {
        Some(&i) => i,
        None => {
            ctx.extensions.push(Extension {
                pattern,
                cid,
                hint: None,
                priorities: BTreeMap::new(),
            });
            ctx.building.insert(key, ctx.extensions.len() - 1);
            ctx.extensions.len() - 1
        }
    };
    &mut ctx.extensions[i]
}

/// What makes two lines the same extension: the name and the caller-ID
/// match, without fluff.
fn name_key(pattern: &Pattern, cid: Option<&Pattern>) -> (String, String) {
    (
        pattern.key().to_owned(),
        cid.map(|c| c.key().to_owned()).unwrap_or_default(),
    )
}

/// Where the extension name ends: the first `,` outside `[…]`, skipping
/// what a `\` escapes (`pbx_strsep`).
fn name_end(value: &str) -> usize {
    let b = value.as_bytes();
    let (mut square, mut i) = (0, 0);
    while i < b.len() {
        match b[i] {
            b'[' => square += 1,
            b']' => square = (square - 1).max(0),
            b'\\' => i += 1,
            b',' if square == 0 => return i,
            _ => {}
        }
        i += 1;
    }
    value.len()
}

/// `ast_shrink_phone_number`: no `(`, `)`, spaces, dashes outside `[…]`,
/// dots except a final one.
fn shrink_phone_number(n: &str) -> String {
    let mut out = String::with_capacity(n.len());
    let mut bracketed = 0;
    let chars: Vec<char> = n.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        match c {
            '[' => {
                bracketed += 1;
                out.push(c);
            }
            ']' => {
                bracketed -= 1;
                out.push(c);
            }
            '-' if bracketed > 0 => out.push(c),
            '-' => {}
            '.' if i + 1 == chars.len() => out.push(c),
            '.' | '(' | ')' | ' ' => {}
            _ => out.push(c),
        }
    }
    out
}

/// `text(label)` → (`text`, label); `None` label when there is none (or
/// it is empty).
fn split_label(pri: &str) -> (&str, Option<String>) {
    match pri.split_once('(') {
        Some((n, rest)) => {
            let label = rest.split(')').next().unwrap_or("");
            (n, (!label.is_empty()).then(|| label.to_owned()))
        }
        None => (pri, None),
    }
}

/// The priority number of a line; `None` when Asterisk skips the line.
/// 0 is an `n` after a hint (skipped without a word, as Asterisk does).
fn priority(
    ctx: &Context,
    e: &Entry,
    pri: &str,
    name: &str,
    cid: Option<&str>,
    last: &Last,
    diags: &mut Diagnostics,
) -> Option<i32> {
    if let Some((_, rest)) = pri.split_once('(') {
        if !rest.contains(')') {
            diags.warn(e.error_at(0, "label missing trailing ')': line ignored"));
            return None;
        }
    }
    let (pri, _) = split_label(pri);
    let (base, plus) = match pri.split_once('+') {
        Some((b, p)) => (b, atoi(p)),
        None => (pri, 0),
    };
    let n = match base {
        "hint" => HINT,
        "next" | "n" | "same" | "s" if last.pri == NONE => {
            let word = if base.starts_with('n') {
                "next"
            } else {
                "same"
            };
            diags.warn(e.error_at(
                0,
                format!("can't use '{word}' priority on the first entry: line ignored"),
            ));
            return None;
        }
        "next" | "n" => last.pri + 1,
        "same" | "s" => last.pri,
        _ => match sscanf_int(base) {
            Some(n) if n < 1 => {
                diags.warn(e.error_at(0, format!("invalid priority '{base}': line ignored")));
                return None;
            }
            Some(n) => n,
            None => {
                let label = label_in(ctx, base, name, cid);
                match label {
                    Some(n) => n,
                    None => {
                        diags.warn(
                            e.error_at(0, format!("invalid priority/label '{base}': line ignored")),
                        );
                        return None;
                    }
                }
            }
        },
    };
    Some(if n == 0 { 0 } else { n + plus })
}

/// A label of the extension already read (`exten => 100,start+1,…`).
fn label_in(ctx: &Context, label: &str, name: &str, cid: Option<&str>) -> Option<i32> {
    let pattern = Pattern::parse(name).ok()?;
    let cid = cid.and_then(|c| Pattern::parse(c).ok());
    let &i = ctx.building.get(&name_key(&pattern, cid.as_ref()))?;
    ctx.extensions[i].label(label).filter(|&n| n >= 1)
}

/// `%d` as sscanf reads it: optional blanks and sign, then digits; what
/// follows is ignored.
fn sscanf_int(s: &str) -> Option<i32> {
    let t = s.trim_start();
    let (sign, digits) = match t.strip_prefix('-') {
        Some(r) => (-1, r),
        None => (1, t.strip_prefix('+').unwrap_or(t)),
    };
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    digits[..end].parse::<i32>().ok().map(|n| sign * n)
}

/// `atoi`: 0 when there is no number.
fn atoi(s: &str) -> i32 {
    sscanf_int(s).unwrap_or(0)
}

/// The application and its data: the name up to the first `(` (the whole
/// text when that name holds `${`/`$[`, as in hints), the data up to the
/// last `)`; without `(` there is no data.
fn application(text: &str, e: &Entry, at: usize, diags: &mut Diagnostics) -> (String, String) {
    let Some(open) = text.find('(') else {
        return (text.to_owned(), String::new());
    };
    let name = &text[..open];
    if name.contains("${") || name.contains("$[") {
        return (text.to_owned(), String::new());
    }
    let data = &text[open + 1..];
    let data = match data.rfind(')') {
        Some(close) => &data[..close],
        None => {
            diags.warn(e.error_at(at, format!("no closing parenthesis found? '{name}({data}'")));
            data
        }
    };
    (name.trim().to_owned(), data.to_owned())
}

/// Functions the application's data calls (`${NAME(…)}`, and the target
/// of `Set(NAME(…)=…)`) that the router does not have.
fn unknown_functions(app: &Application) -> Vec<String> {
    let mut names = Vec::new();
    let text = &app.args;
    let mut from = 0;
    while let Some(at) = text[from..].find("${").map(|i| from + i + 2) {
        from = at;
        let name: String = text[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() && text[at + name.len()..].starts_with('(') {
            names.push(name);
        }
    }
    let assignments = match app.name.as_str() {
        "Set" => vec![text.to_owned()],
        "MSet" => split_args(text, ','),
        _ => Vec::new(),
    };
    for a in &assignments {
        let target = a.split_once('=').map(|(t, _)| t.trim()).unwrap_or("");
        if let Some((name, _)) = target.split_once('(') {
            if !name.contains('$') {
                names.push(name.trim().to_owned());
            }
        }
    }
    names.retain(|n| !functions::known(n));
    names.dedup();
    names
}
