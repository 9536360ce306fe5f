//! `dialplan show [context]`, laid out like Asterisk's CLI command.

use super::Dialplan;
use std::fmt::Write;

pub fn show(plan: &Dialplan, only: Option<&str>) -> Result<String, String> {
    let mut names: Vec<&String> = plan.contexts.keys().collect();
    names.sort();
    if let Some(c) = only {
        if !plan.contexts.contains_key(c) {
            return Err(format!("There is no existence of '{c}' context"));
        }
    }
    let mut out = String::new();
    let (mut contexts, mut extensions, mut priorities) = (0, 0, 0);
    for name in names
        .into_iter()
        .filter(|n| only.is_none_or(|c| c == n.as_str()))
    {
        let ctx = &plan.contexts[name];
        contexts += 1;
        let _ = writeln!(out, "[ Context '{name}' created by 'pbx_config' ]");
        for ext in &ctx.extensions {
            extensions += 1;
            for (i, p) in ext.priorities.values().enumerate() {
                priorities += 1;
                let head = if i == 0 {
                    format!("'{}' =>", ext.pattern)
                } else {
                    String::new()
                };
                let label = p
                    .label
                    .as_ref()
                    .map(|l| format!("({l})"))
                    .unwrap_or_default();
                let step = format!("{}.{label} {}", p.number, p.app);
                let _ = writeln!(
                    out,
                    "  {head:<20}{step:<45}[{}:{}]",
                    p.location.file.display(),
                    p.location.line
                );
            }
        }
        for inc in &ctx.includes {
            let _ = writeln!(
                out,
                "  {:<20}{:<45}[pbx_config]",
                "Include =>",
                format!("'{inc}'")
            );
        }
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "-= {extensions} extensions ({priorities} priorities) in {contexts} contexts. =-"
    );
    Ok(out)
}
