//! `extensions.conf` → [`Dialplan`], as `pbx_config.c` loads it, with every
//! problem reported as `file:line:column: message`. Only what makes
//! Asterisk refuse the file (its structure: a header without `]`, a line
//! before any section, a missing `#include`) is an error; everything
//! Asterisk logs and reads past (a bad priority, an unknown keyword, an
//! unknown application, an include of a context that does not exist) is a
//! warning, and the line is skipped or kept as Asterisk does.

mod exten;

use super::timing::Timing;
use super::{Context, Dialplan, Include, Location};
use crate::engine::subst;
use asterism_config::{ConfError, ConfFile, Entry, Section};
use exten::Globals;
use std::collections::HashMap;
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

/// `[general]` settings: what Asterisk's pbx_config reads. `static` and
/// `writeprotect` only matter to `dialplan save`, which Asterism does not
/// offer (as with `static=yes`); the pattern matcher choice gives the same
/// answers either way.
const GENERAL_KEYS: &[&str] = &[
    "static",
    "writeprotect",
    "autofallthrough",
    "clearglobalvars",
    "extenpatternmatchnew",
    "userscontext",
];

fn build(conf: ConfFile) -> Result<(Dialplan, Diagnostics), Diagnostics> {
    let mut diags = Diagnostics::default();
    let mut plan = Dialplan {
        autofallthrough: true,
        ..Default::default()
    };
    for w in &conf.warnings {
        diags.warn(w.clone());
    }
    let is = |s: &Section, name: &str| s.name.eq_ignore_ascii_case(name);
    for section in conf.sections.iter().filter(|s| is(s, "general")) {
        for e in &section.entries {
            if e.key.eq_ignore_ascii_case("autofallthrough") {
                plan.autofallthrough = is_true(&e.value);
            } else if e.key.eq_ignore_ascii_case("clearglobalvars") {
                plan.clear_globals = is_true(&e.value);
            } else if !GENERAL_KEYS.iter().any(|k| k.eq_ignore_ascii_case(&e.key)) {
                diags.warn(e.error_at(
                    0,
                    format!(
                        "[general] setting '{}' is not supported by Asterism: ignored",
                        e.key
                    ),
                ));
            }
        }
    }
    // Globals first, each expanded with those before it, as pbx_config does.
    let mut globals = HashMap::new();
    for section in conf.sections.iter().filter(|s| is(s, "globals")) {
        for e in &section.entries {
            let value = subst::expand(&e.value, &Globals(&globals));
            globals.insert(e.key.clone(), value.clone());
            plan.live_globals.set(&e.key, &value);
            plan.globals.push((e.key.clone(), value));
        }
    }
    let globals = Globals(&globals);
    let contexts = conf
        .sections
        .iter()
        .filter(|s| !s.is_template && !is(s, "general") && !is(s, "globals"));
    for (order, section) in contexts.enumerate() {
        let name = section.name.as_str();
        let location = Location {
            file: section.file.clone(),
            line: section.line,
        };
        let ctx = plan
            .contexts
            .entry(name.to_owned())
            .or_insert_with(|| Context::new(name, location, order));
        let mut last = exten::Last::default();
        for e in &section.entries {
            context_entry(ctx, e, &mut last, &globals, &mut diags);
        }
    }
    for ctx in plan.contexts.values_mut() {
        ctx.finish();
    }
    for ctx in plan.contexts.values() {
        for inc in &ctx.includes {
            if !plan.contexts.contains_key(&inc.context) {
                diags.warn(ConfError {
                    file: ctx.location.file.clone(),
                    line: ctx.location.line,
                    column: None,
                    message: format!(
                        "context '{}' tries to include nonexistent context '{}'",
                        ctx.name, inc.context
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

/// One line of a context. Nothing here refuses the file: Asterisk warns
/// and reads on, and so does Asterism.
fn context_entry(
    ctx: &mut Context,
    e: &Entry,
    last: &mut exten::Last,
    globals: &Globals,
    diags: &mut Diagnostics,
) {
    let key = e.key.to_ascii_lowercase();
    match key.as_str() {
        k if k.starts_with("same") => exten::line(ctx, e, true, last, globals, diags),
        "exten" => exten::line(ctx, e, false, last, globals, diags),
        "include" => include(ctx, e, globals, diags),
        "ignorepat" => {
            let pat = subst::expand(&e.value, globals);
            if ctx.ignorepats.contains(&pat) {
                diags.warn(e.error_at(
                    0,
                    format!("ignorepat '{pat}' already in context '{}'", ctx.name),
                ));
            } else {
                ctx.ignorepats.push(pat);
            }
        }
        "switch" | "eswitch" | "lswitch" => diags.warn(e.error_at(
            0,
            format!(
                "'{}' (alternative switches) is not supported by Asterism: ignored",
                e.key
            ),
        )),
        "autohints" => {
            diags.warn(e.error_at(0, "'autohints' is not supported by Asterism: ignored"))
        }
        _ => diags.warn(e.error_at(0, format!("unknown directive '{}': ignored", e.key))),
    }
}

/// `include => context[,timespec]` (or `|` before the time, the old way).
fn include(ctx: &mut Context, e: &Entry, globals: &Globals, diags: &mut Diagnostics) {
    let text = subst::expand(&e.value, globals);
    if ctx.includes.iter().any(|i| i.text == text) {
        diags.warn(e.error_at(
            0,
            format!(
                "context '{text}' already included in '{}' context",
                ctx.name
            ),
        ));
        return;
    }
    let (context, timing) = match text.find(['|', ',']) {
        Some(cut) => {
            let mut warnings = Vec::new();
            let t = Timing::parse(&text[cut + 1..], &mut warnings);
            for w in warnings {
                diags.warn(e.error_at(cut + 1, w));
            }
            (text[..cut].trim().to_owned(), Some(t))
        }
        None => (text.trim().to_owned(), None),
    };
    ctx.includes.push(Include {
        text,
        context,
        timing,
    });
}

#[cfg(test)]
pub(crate) mod tests;
