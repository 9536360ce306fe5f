//! `extensions.conf` → [`Dialplan`], with every problem reported as
//! `file:line:column: message`: syntax errors refuse the file, unknown
//! applications and dangling includes are warnings (Asterisk loads those and
//! fails the call only if it gets there).

use super::app::{AppKind, Application};
use super::pattern::Pattern;
use super::{Context, Dialplan, Extension, Location, Priority};
use asterism_config::{ConfError, ConfFile, Entry};
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub error: ConfError,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = &self.error;
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(
            f,
            "{}:{}:{}: {sev}: {}",
            e.file.display(),
            e.line,
            e.column.unwrap_or(1),
            e.message
        )
    }
}

/// Everything a load found, errors and warnings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn has_errors(&self) -> bool {
        self.0.iter().any(|d| d.severity == Severity::Error)
    }

    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.severity == Severity::Error)
    }

    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.severity == Severity::Warning)
    }

    fn error(&mut self, e: ConfError) {
        self.0.push(Diagnostic {
            severity: Severity::Error,
            error: e,
        });
    }

    fn warn(&mut self, e: ConfError) {
        self.0.push(Diagnostic {
            severity: Severity::Warning,
            error: e,
        });
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.0 {
            writeln!(f, "{d}")?;
        }
        Ok(())
    }
}

/// Load a file (following `#include`). `Err` when any error was found.
pub fn load(path: &Path) -> Result<(Dialplan, Diagnostics), Diagnostics> {
    match ConfFile::load(path) {
        Ok(conf) => build(conf),
        Err(e) => Err(Diagnostics(vec![Diagnostic {
            severity: Severity::Error,
            error: e,
        }])),
    }
}

/// Parse text as the file `path`.
pub fn parse_str(path: &Path, text: &str) -> Result<(Dialplan, Diagnostics), Diagnostics> {
    match ConfFile::parse(path, text) {
        Ok(conf) => build(conf),
        Err(e) => Err(Diagnostics(vec![Diagnostic {
            severity: Severity::Error,
            error: e,
        }])),
    }
}

const GENERAL_KEYS: &[&str] = &[
    "static",
    "writeprotect",
    "autofallthrough",
    "clearglobalvars",
    "extenpatternmatchnew",
    "priorityjumping",
    "userscontext",
];

fn build(conf: ConfFile) -> Result<(Dialplan, Diagnostics), Diagnostics> {
    let mut diags = Diagnostics::default();
    let mut plan = Dialplan {
        autofallthrough: true,
        ..Default::default()
    };
    for section in &conf.sections {
        match section.name.as_str() {
            "general" => {
                for e in &section.entries {
                    if !GENERAL_KEYS.iter().any(|k| k.eq_ignore_ascii_case(&e.key)) {
                        diags.warn(e.error_at(0, format!("unknown [general] setting '{}'", e.key)));
                    } else if e.key.eq_ignore_ascii_case("autofallthrough") {
                        plan.autofallthrough = is_true(&e.value);
                    }
                }
            }
            "globals" => {
                for e in &section.entries {
                    plan.globals.push((e.key.clone(), e.value.clone()));
                }
            }
            name => {
                let ctx = plan
                    .contexts
                    .entry(name.to_owned())
                    .or_insert_with(|| Context {
                        name: name.to_owned(),
                        extensions: Vec::new(),
                        includes: Vec::new(),
                        location: Location {
                            file: section.file.clone(),
                            line: section.line,
                        },
                        literals: Default::default(),
                        first_pattern: 0,
                    });
                let mut last: Option<(String, i32)> = None;
                for e in &section.entries {
                    if let Err(err) = context_entry(ctx, e, &mut last, &mut diags) {
                        diags.error(err);
                    }
                }
            }
        }
    }
    for ctx in plan.contexts.values_mut() {
        ctx.finish();
    }
    for ctx in plan.contexts.values() {
        for inc in &ctx.includes {
            if !plan.contexts.contains_key(inc) {
                diags.warn(ConfError {
                    file: ctx.location.file.clone(),
                    line: ctx.location.line,
                    column: None,
                    message: format!(
                        "context '{}' includes '{inc}', which does not exist",
                        ctx.name
                    ),
                });
            }
        }
    }
    if diags.has_errors() {
        Err(diags)
    } else {
        Ok((plan, diags))
    }
}

fn is_true(v: &str) -> bool {
    matches!(
        v.to_ascii_lowercase().as_str(),
        "yes" | "true" | "y" | "t" | "1" | "on"
    )
}

fn context_entry(
    ctx: &mut Context,
    e: &Entry,
    last: &mut Option<(String, i32)>,
    diags: &mut Diagnostics,
) -> Result<(), ConfError> {
    match e.key.to_ascii_lowercase().as_str() {
        "include" => {
            ctx.includes.push(e.value.trim().to_owned());
            Ok(())
        }
        "exten" => {
            let comma = e
                .value
                .find(',')
                .ok_or_else(|| e.error_at(0, "expected 'extension,priority,application'"))?;
            let ext = e.value[..comma].trim();
            if ext.contains('/') && !ext.starts_with('_') {
                return Err(e.error_at(
                    ext.find('/').unwrap_or(0),
                    "caller-ID matching (ext/cid) is not supported",
                ));
            }
            let pattern = Pattern::parse(ext).map_err(|p| e.error_at(p.offset, p.message))?;
            add_priority(ctx, e, pattern, comma + 1, last, diags)
        }
        "same" => {
            let Some((ext, _)) = last.clone() else {
                return Err(e.error_at(0, "'same =>' without a preceding 'exten =>'"));
            };
            let pattern = Pattern::parse(&ext).map_err(|p| e.error_at(p.offset, p.message))?;
            add_priority(ctx, e, pattern, 0, last, diags)
        }
        "ignorepat" | "switch" | "eswitch" | "lswitch" => {
            diags.warn(e.error_at(0, format!("'{}' is not supported and is ignored", e.key)));
            Ok(())
        }
        other => Err(e.error_at(0, format!("unknown dialplan keyword '{other}'"))),
    }
}

/// Parse `priority,application` starting at byte `start` of the value.
fn add_priority(
    ctx: &mut Context,
    e: &Entry,
    pattern: Pattern,
    start: usize,
    last: &mut Option<(String, i32)>,
    diags: &mut Diagnostics,
) -> Result<(), ConfError> {
    let rest = &e.value[start..];
    let comma = rest
        .find(',')
        .ok_or_else(|| e.error_at(start, "expected 'priority,application'"))?;
    let prio_text = rest[..comma].trim();
    let app_at = start + comma + 1;
    let app_text = e.value[app_at..].trim();
    let lead = e.value[app_at..].len() - e.value[app_at..].trim_start().len();
    if prio_text.eq_ignore_ascii_case("hint") {
        // Device-state hints do not route calls; as in pbx_config.c the
        // hint is the context's last priority (-1) for a following 'n'.
        *last = Some((pattern.as_str().to_owned(), -1));
        return Ok(());
    }
    let (prio_text, label) = match prio_text.split_once('(') {
        Some((n, l)) => {
            let l = l
                .strip_suffix(')')
                .ok_or_else(|| e.error_at(start, "unterminated priority label"))?;
            (n.trim(), Some(l.trim().to_owned()))
        }
        None => (prio_text, None),
    };
    // `n`, `s`, a number or a label, then an optional `+N` (pbx_config.c).
    let (base, plus) = match prio_text.split_once('+') {
        Some((b, n)) => (b.trim(), n.trim().parse::<i32>().unwrap_or(0)),
        None => (prio_text, 0),
    };
    // The previous line's priority, whatever its extension: Asterisk
    // numbers 'n' from it, and FreePBX-written dialplans rely on it.
    let previous = last.as_ref().map(|(_, p)| *p);
    let number = if base.eq_ignore_ascii_case("n") || base.eq_ignore_ascii_case("next") {
        previous.map(|p| p + 1).ok_or_else(|| {
            e.error_at(
                start,
                "priority 'n' needs a previous priority in this context",
            )
        })?
    } else if base.eq_ignore_ascii_case("s") || base.eq_ignore_ascii_case("same") {
        previous.ok_or_else(|| {
            e.error_at(
                start,
                "priority 's' needs a previous priority in this context",
            )
        })?
    } else if let Ok(n) = base.parse::<i32>() {
        n
    } else {
        let found = ctx
            .extensions
            .iter()
            .find(|x| x.pattern == pattern)
            .and_then(|x| x.label(base));
        match found {
            Some(n) => n,
            None => return Err(e.error_at(start, format!("bad priority '{base}'"))),
        }
    } + plus;
    if number < 1 {
        // Asterisk skips such a line (an 'n' right after a hint gets 0).
        *last = Some((pattern.as_str().to_owned(), number));
        diags.warn(e.error_at(
            start,
            format!("priority {number} is not a priority: line ignored, as Asterisk does"),
        ));
        return Ok(());
    }
    let app = parse_application(app_text).map_err(|(off, m)| e.error_at(app_at + lead + off, m))?;
    if app.kind == AppKind::Unknown {
        diags.warn(e.error_at(app_at + lead, format!("unknown application '{}'", app.name)));
    }
    let text = pattern.as_str().to_owned();
    let ext = match ctx.extensions.iter_mut().position(|x| x.pattern == pattern) {
        Some(i) => &mut ctx.extensions[i],
        None => {
            ctx.extensions.push(Extension {
                pattern,
                priorities: BTreeMap::new(),
            });
            let n = ctx.extensions.len() - 1;
            &mut ctx.extensions[n]
        }
    };
    if let Some(label) = &label {
        if ext.label(label).is_some() {
            return Err(e.error_at(
                start,
                format!("label '{label}' already used in extension {text}"),
            ));
        }
    }
    *last = Some((text.clone(), number));
    if let Some(old) = ext.priorities.get(&number) {
        // Asterisk keeps the first and warns ("Unable to register extension").
        diags.warn(e.error_at(
            start,
            format!(
                "priority {number} of extension {text} already defined at {}:{}: this one is ignored",
                old.location.file.display(),
                old.location.line
            ),
        ));
        return Ok(());
    }
    ext.priorities.insert(
        number,
        Priority {
            number,
            label,
            app,
            location: Location {
                file: e.file.clone(),
                line: e.line,
            },
        },
    );
    Ok(())
}

/// `Name(args)`, `Name`, or the old `Name,args`. Errors carry a byte offset.
fn parse_application(text: &str) -> Result<Application, (usize, String)> {
    if text.is_empty() {
        return Err((0, "missing application".into()));
    }
    let name_end = text.find(['(', ',']).unwrap_or(text.len());
    let name = text[..name_end].trim();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err((0, format!("bad application name '{name}'")));
    }
    let args = match text[name_end..].chars().next() {
        None => "",
        Some('(') => {
            let inner = &text[name_end + 1..];
            let close = inner.rfind(')').ok_or((
                name_end,
                "missing ')' after application arguments".to_owned(),
            ))?;
            if !inner[close + 1..].trim().is_empty() {
                return Err((name_end + 2 + close, "text after ')'".into()));
            }
            &inner[..close]
        }
        Some(_) => &text[name_end + 1..],
    };
    Ok(Application::new(name, args))
}

#[cfg(test)]
pub(crate) mod tests;
