//! Flow control beyond Goto and Gosub, as Asterisk's apps do it:
//! `ExecIf`/`ExecIfTime` (run another application on a condition),
//! `While`/`EndWhile`/`ExitWhile`/`ContinueWhile` (app_while.c: loops
//! found by scanning the extension for the matching `EndWhile`), and
//! `Macro`/`MacroExit` (app_macro.c: `s` of `macro-NAME` with `ARGn` and
//! `MACRO_*`, returning when its priorities run out; `MACRO_RESULT` read
//! on return).

use super::subst::expand;
use super::{Call, Frame};
use crate::dialplan::app::{split_args, Application};
use crate::dialplan::Timing;
use std::borrow::Cow;

/// How deep Gosub and Macro frames may nest before the call is ended
/// (Asterisk stops macros at 7 by default; Gosub at its stack size).
pub const MAX_FRAMES: usize = 100;
const MAX_MACRO_DEPTH: usize = 7;

/// What an `ExecIf`/`ExecIfTime` priority runs: the chosen application,
/// or nothing (`None`: go on to the next priority). Any other
/// application is returned as is.
pub fn resolve<'a>(call: &Call, app: &'a Application) -> Option<Cow<'a, Application>> {
    let (cond_true, branches) = match app.name.as_str() {
        "ExecIf" => {
            let (cond, rest) = split_top(&app.args, '?');
            let Some(rest) = rest else {
                // The old form: ExecIf(expr,app,args).
                let parts = split_args(&app.args, ',');
                let truthy = super::expr::truthy(&expand(&parts[0], call));
                if !truthy || parts.len() < 2 {
                    return None;
                }
                let data = parts[2.min(parts.len())..].join(",");
                return Some(Cow::Owned(Application::new(parts[1].trim(), &data)));
            };
            (super::expr::truthy(&expand(cond, call)), rest)
        }
        "ExecIfTime" => {
            let (spec, rest) = split_top(&app.args, '?');
            let mut warnings = Vec::new();
            let t = Timing::parse(&expand(spec, call), &mut warnings);
            (t.matches(call.now()), rest.unwrap_or(""))
        }
        _ => return Some(Cow::Borrowed(app)),
    };
    let (yes, no) = split_top(branches, ':');
    let chosen = if cond_true { Some(yes) } else { no }?;
    let chosen = chosen.trim();
    if chosen.is_empty() {
        return None;
    }
    let (name, data) = match chosen.find('(') {
        Some(open) => {
            let inner = &chosen[open + 1..];
            let data = inner.rfind(')').map(|c| &inner[..c]).unwrap_or(inner);
            (&chosen[..open], data)
        }
        None => (chosen, ""),
    };
    Some(Cow::Owned(Application::new(name.trim(), data)))
}

/// Split on the first `sep` outside brackets and quotes.
pub fn split_top(s: &str, sep: char) -> (&str, Option<&str>) {
    let (mut depth, mut quoted) = (0i32, false);
    for (i, c) in s.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '(' | '[' | '{' if !quoted => depth += 1,
            ')' | ']' | '}' if !quoted => depth -= 1,
            c if c == sep && depth <= 0 && !quoted => return (&s[..i], Some(&s[i + 1..])),
            _ => {}
        }
    }
    (s, None)
}

/// `While(expr)`.
pub fn while_(call: &mut Call, cond: &str) {
    let here = call.priority;
    let top = call.loops().last().copied();
    if super::expr::truthy(cond) {
        if top != Some(here) {
            call.loops().push(here);
        }
        call.priority += 1;
        return;
    }
    if top == Some(here) {
        call.loops().pop();
    }
    jump_past_end(call, here);
}

/// `EndWhile` and `ContinueWhile`: back to the loop's `While`.
pub fn end_while(call: &mut Call) {
    match call.loops().last().copied() {
        Some(start) => call.priority = start,
        None => {
            tracing::warn!("EndWhile or ContinueWhile without While");
            call.priority += 1;
        }
    }
}

/// `ExitWhile`: past the loop's `EndWhile`.
pub fn exit_while(call: &mut Call) {
    match call.loops().pop() {
        Some(start) => jump_past_end(call, start),
        None => {
            tracing::warn!("ExitWhile without While");
            call.priority += 1;
        }
    }
}

/// Go to the priority after the `EndWhile` matching the `While` at `start`.
fn jump_past_end(call: &mut Call, start: i32) {
    let plan = call.plan().clone();
    let q = call.query();
    let mut depth = 0;
    let mut n = start + 1;
    while let Some(p) = plan.priority_for(&call.context, &call.exten, n, &q) {
        match p.app.name.as_str() {
            "While" => depth += 1,
            "EndWhile" if depth == 0 => {
                call.priority = n + 1;
                return;
            }
            "EndWhile" => depth -= 1,
            _ => {}
        }
        n += 1;
    }
    tracing::warn!(start, "no EndWhile matches this While");
    call.finish(500, "While without EndWhile");
}

/// `Macro(name,args…)`.
pub fn macro_(call: &mut Call, args: &str) {
    let parts = split_args(args, ',');
    let name = parts[0].trim().to_owned();
    let context = format!("macro-{name}");
    let depth = call.stack.iter().filter(|f| f.macro_frame).count();
    if depth >= MAX_MACRO_DEPTH || call.stack.len() >= MAX_FRAMES {
        tracing::warn!(macro_name = %name, "macro nesting too deep");
        call.finish(500, "Macro nesting too deep");
        return;
    }
    if !call.plan().exists(&context, "s", &call.query()) {
        tracing::warn!(%context, "no such context for Macro");
        call.finish(500, "Macro context does not exist");
        return;
    }
    let mut locals: Vec<(String, String)> = vec![
        ("MACRO_EXTEN".into(), call.exten.clone()),
        ("MACRO_CONTEXT".into(), call.context.clone()),
        ("MACRO_PRIORITY".into(), call.priority.to_string()),
        ("MACRO_DEPTH".into(), (depth + 1).to_string()),
    ];
    for (i, a) in parts.iter().skip(1).enumerate() {
        locals.push((format!("ARG{}", i + 1), a.to_owned()));
    }
    let frame = Frame {
        context: call.context.clone(),
        exten: call.exten.clone(),
        priority: call.priority + 1,
        saved: locals
            .iter()
            .map(|(k, _)| (k.clone(), call.vars.get(k).cloned()))
            .collect(),
        macro_frame: true,
        loops: Vec::new(),
    };
    call.stack.push(frame);
    for (k, v) in locals {
        call.vars.insert(k, v);
    }
    call.vars.remove("MACRO_RESULT");
    call.context = context;
    call.exten = "s".into();
    call.priority = 1;
}

/// Leave the innermost Macro (its priorities ran out, or `MacroExit`).
/// False when no Macro is running.
pub fn macro_return(call: &mut Call) -> bool {
    let Some(at) = call.stack.iter().rposition(|f| f.macro_frame) else {
        return false;
    };
    // Gosubs left open inside the macro end with it.
    while call.stack.len() > at + 1 {
        pop_frame(call);
    }
    pop_frame(call);
    match call.vars.remove("MACRO_RESULT").as_deref() {
        Some("ABORT") => call.hang_up(0, "MACRO_RESULT=ABORT"),
        Some("BUSY") => call.hang_up(486, "MACRO_RESULT=BUSY"),
        Some("CONGESTION") => call.hang_up(503, "MACRO_RESULT=CONGESTION"),
        Some(r) if r.starts_with("GOTO:") => {
            let target = r[5..].replace('^', ",");
            if !super::apps::goto(call, &target) {
                tracing::warn!(target, "MACRO_RESULT GOTO target does not exist");
            }
        }
        _ => {}
    }
    true
}

/// Restore what a frame shadowed and continue where it was entered.
pub fn pop_frame(call: &mut Call) -> Option<Frame> {
    let frame = call.stack.pop()?;
    for (k, v) in &frame.saved {
        match v {
            Some(v) => call.vars.insert(k.clone(), v.clone()),
            None => call.vars.remove(k),
        };
    }
    call.context = frame.context.clone();
    call.exten = frame.exten.clone();
    call.priority = frame.priority;
    Some(frame)
}
