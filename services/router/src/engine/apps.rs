//! The applications: the router's own (Goto, GotoIf(Time), Set with
//! variables or functions, Gosub/Return, Log, the CDR no-ops; loops,
//! macros and ExecIf in `flow`) run here; the others become steps for the
//! edge, their arguments expanded.

use super::subst::expand;
use super::{flow, functions, Call};
use crate::dialplan::app::split_args;
use crate::dialplan::Application;
use crate::dialplan::Timing;
use asterism_proto::router::{self as pb, step};

/// Run a router-side application; advances or jumps the call.
pub fn run_internal(call: &mut Call, app: &Application) {
    if app.name == "While" {
        // The condition is read afresh at each turn of the loop.
        let cond = expand(&app.args, call);
        return flow::while_(call, &cond);
    }
    let args = expand(&app.args, call);
    match app.name.as_str() {
        "EndWhile" | "ContinueWhile" => flow::end_while(call),
        "ExitWhile" => flow::exit_while(call),
        "Macro" => flow::macro_(call, &args),
        "MacroExit" => {
            if !flow::macro_return(call) {
                call.priority += 1;
            }
        }
        "GotoIfTime" => {
            let (spec, branches) = split_once_top(&args, '?');
            let (yes, no) = split_once_top(branches.unwrap_or(""), ':');
            let mut warnings = Vec::new();
            let now = Timing::parse(spec, &mut warnings).matches(call.now());
            for w in warnings {
                tracing::warn!("GotoIfTime: {w}");
            }
            match if now { Some(yes) } else { no }
                .map(str::trim)
                .filter(|t| !t.is_empty())
            {
                None => call.priority += 1,
                Some(t) => {
                    if !goto(call, t) {
                        missing_target(call, t);
                    }
                }
            }
        }
        "NoCDR" | "ResetCDR" => call.priority += 1, // Asterism keeps no CDRs.
        "DBdel" => {
            call.db.delete(args.trim());
            call.priority += 1;
        }
        "DBdeltree" => {
            call.db.delete_tree(args.trim());
            call.priority += 1;
        }
        "System" | "TrySystem" => {
            let must = app.name == "System";
            if call.allow_system {
                // The service runs it and reports with `system_done`.
                call.pending_system = Some((args, must));
            } else {
                tracing::warn!(command = %args, "System() is not enabled (ASTERISM_ROUTER_SYSTEM): refused");
                call.system_done(None, must);
            }
        }
        "Goto" => {
            if !goto(call, &args) {
                missing_target(call, &args);
            }
        }
        "GotoIf" | "GosubIf" => {
            let (cond, branches) = split_once_top(&args, '?');
            let (yes, no) = split_once_top(branches.unwrap_or(""), ':');
            let chosen = if super::expr::truthy(cond) {
                Some(yes)
            } else {
                no
            };
            match chosen.map(str::trim).filter(|t| !t.is_empty()) {
                None => call.priority += 1,
                Some(t) if app.name == "GosubIf" => gosub(call, t),
                Some(t) => {
                    if !goto(call, t) {
                        missing_target(call, t);
                    }
                }
            }
        }
        "Set" => {
            set(call, &args);
            call.priority += 1;
        }
        "MSet" => {
            for a in split_args(&args, ',') {
                set(call, &a);
            }
            call.priority += 1;
        }
        "NoOp" => call.priority += 1,
        "Verbose" => {
            // Verbose([level,]message): a leading number is the level.
            let message = match args.split_once(',') {
                Some((level, m)) if level.trim().parse::<u32>().is_ok() => m,
                _ => args.as_str(),
            };
            tracing::info!(context = %call.context, exten = %call.exten, priority = call.priority, "{message}");
            call.priority += 1;
        }
        "Log" => {
            let (level, message) = args.split_once(',').unwrap_or(("NOTICE", &args));
            let (c, e, p) = (&call.context, &call.exten, call.priority);
            match level.trim().to_ascii_uppercase().as_str() {
                "ERROR" => tracing::error!(context = %c, exten = %e, priority = p, "{message}"),
                "WARNING" => tracing::warn!(context = %c, exten = %e, priority = p, "{message}"),
                "DEBUG" | "DTMF" => {
                    tracing::debug!(context = %c, exten = %e, priority = p, "{message}")
                }
                _ => tracing::info!(context = %c, exten = %e, priority = p, "{message}"),
            }
            call.priority += 1;
        }
        "Gosub" => gosub(call, &args),
        "Return" => {
            if flow::pop_frame(call).is_none() {
                tracing::warn!("Return without Gosub");
                call.finish(500, "Return without Gosub");
                return;
            }
            call.vars.insert("GOSUB_RETVAL".into(), args);
        }
        other => {
            tracing::warn!(app = other, "application not runnable in the router");
            call.priority += 1;
        }
    }
}

/// Split on the first `sep` outside brackets.
fn split_once_top(s: &str, sep: char) -> (&str, Option<&str>) {
    let mut depth = 0i32;
    for (i, c) in s.char_indices() {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth -= 1,
            c if c == sep && depth <= 0 => return (&s[..i], Some(&s[i + 1..])),
            _ => {}
        }
    }
    (s, None)
}

/// `NAME=value` or `FUNC(args)=value` (a function written).
fn set(call: &mut Call, assignment: &str) {
    let Some((name, value)) = assignment.split_once('=') else {
        tracing::warn!("Set without '=': {assignment}");
        return;
    };
    let name = name.trim();
    if let Some((func, rest)) = name.split_once('(') {
        let args = rest.strip_suffix(')').unwrap_or(rest);
        if !functions::write(call, func.trim(), args, value) {
            tracing::warn!(function = func, "function cannot be written");
        }
        return;
    }
    // `_X` is inherited by the channels this one creates (one level),
    // `__X` by theirs too; a plain `X` is not.
    let (name, inherit) = match (name.strip_prefix("__"), name.strip_prefix('_')) {
        (Some(n), _) => (n, Some(true)),
        (None, Some(n)) => (n, Some(false)),
        (None, None) => (name, None),
    };
    match inherit {
        Some(forever) => call.inherited.insert(name.to_owned(), forever),
        None => call.inherited.remove(name),
    };
    call.vars.insert(name.to_owned(), value.to_owned());
}

/// `[[context,]extension,]priority` → (context, extension, priority or label).
fn target(call: &Call, spec: &str) -> (String, String, String) {
    let parts: Vec<String> = split_args(spec, ',')
        .into_iter()
        .map(|p| p.trim().to_owned())
        .collect();
    match parts.as_slice() {
        [p] => (call.context.clone(), call.exten.clone(), p.clone()),
        [e, p] => (call.context.clone(), e.clone(), p.clone()),
        [c, e, p, ..] => (c.clone(), e.clone(), p.clone()),
        [] => (call.context.clone(), call.exten.clone(), String::new()),
    }
}

/// Jump; false when the target does not exist.
pub(crate) fn goto(call: &mut Call, spec: &str) -> bool {
    let (ctx, ext, prio) = target(call, spec);
    match call.plan().target_for(&ctx, &ext, &prio, &call.query()) {
        Some(n) => {
            call.context = ctx;
            call.exten = ext;
            call.priority = n;
            true
        }
        None => false,
    }
}

/// A Goto to nowhere: `i` of the current context, or the call fails.
fn missing_target(call: &mut Call, spec: &str) {
    tracing::warn!(target = spec, "Goto target does not exist");
    if call.exten != "i" && call.plan().exists(&call.context, "i", &call.query()) {
        call.vars.insert("INVALID_EXTEN".into(), call.exten.clone());
        call.exten = "i".into();
        call.priority = 1;
    } else {
        call.finish(404, "Goto target does not exist");
    }
}

/// `Gosub([[context,]exten,]priority[(arg1[,…])])`.
fn gosub(call: &mut Call, spec: &str) {
    let (place, args) = match spec.find('(') {
        Some(p) if spec.trim_end().ends_with(')') => {
            let inner = &spec[p + 1..spec.trim_end().len() - 1];
            (&spec[..p], split_args(inner, ','))
        }
        _ => (spec, Vec::new()),
    };
    if call.stack.len() >= flow::MAX_FRAMES {
        tracing::warn!("Gosub nesting too deep");
        call.finish(500, "Gosub nesting too deep");
        return;
    }
    let ret = super::Frame {
        context: call.context.clone(),
        exten: call.exten.clone(),
        priority: call.priority + 1,
        saved: (1..=args.len().max(1))
            .map(|i| {
                let k = format!("ARG{i}");
                let old = call.vars.get(&k).cloned();
                (k, old)
            })
            .collect(),
        macro_frame: false,
        loops: Vec::new(),
    };
    if !goto(call, place) {
        missing_target(call, place);
        return;
    }
    for (i, a) in args.into_iter().enumerate() {
        call.vars.insert(format!("ARG{}", i + 1), a);
    }
    call.stack.push(ret);
}

/// The step for an edge-side application, arguments expanded.
pub fn external_step(call: &mut Call, app: &Application) -> step::App {
    let args = expand(&app.args, call);
    let parts = split_args(&args, ',');
    let arg = |i: usize| parts.get(i).map(|s| s.trim()).unwrap_or("");
    match app.name.as_str() {
        "Answer" => step::App::Answer(pb::Answer {}),
        "Ringing" => step::App::Ringing(pb::Ringing {}),
        "Progress" => step::App::Progress(pb::Progress {}),
        "Playback" | "Background" => step::App::Playback(pb::Playback {
            files: arg(0)
                .split('&')
                .filter(|f| !f.is_empty())
                .map(str::to_owned)
                .collect(),
        }),
        "Echo" => step::App::Echo(pb::Echo {}),
        "Dial" => {
            call.dial_goes_on = Some(asterism_config::dial_options::has_option(arg(2), 'g'));
            let limit = super::dial_limit::limit(arg(2), call);
            // Any answered Dial may end in a blind transfer (DTMF with t/T,
            // or a REFER from either phone): where its extension is.
            let context = call
                .lookup("TRANSFER_CONTEXT")
                .filter(|c| !c.is_empty())
                .unwrap_or_else(|| call.context.clone());
            call.dial_transfer = Some(context.clone());
            let mut step = dial_step(&parts, limit);
            if let step::App::Dial(d) = &mut step {
                d.transfer_context = context;
            }
            step
        }
        // app_musiconhold's MusicOnHold(class[,duration]).
        "MusicOnHold" => step::App::MusicOnHold(pb::MusicOnHold {
            class: arg(0).trim().to_owned(),
            seconds: arg(1)
                .trim()
                .parse::<f64>()
                .map(|s| s.max(0.0).ceil() as u32)
                .unwrap_or(0),
        }),
        // app_transfer: a technology other than the caller's (SIP, and
        // PJSIP as Asterism runs it) fails without a try.
        "Transfer" => {
            let dest = arg(0);
            let dest = match dest.split_once('/') {
                Some((tech, rest)) if !tech.is_empty() => {
                    let ours = ["SIP", "PJSIP"]
                        .iter()
                        .any(|t| t.eq_ignore_ascii_case(tech));
                    if ours {
                        rest
                    } else {
                        ""
                    }
                }
                _ => dest,
            };
            step::App::Transfer(pb::Transfer {
                destination: dest.to_owned(),
            })
        }
        // app_directed_pickup: `exten[@context]` joined by `&`.
        "Pickup" => {
            let targets = args
                .split('&')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .filter_map(|t| {
                    let (exten, context) = t.split_once('@').unwrap_or((t, ""));
                    if context.eq_ignore_ascii_case("PICKUPMARK") {
                        tracing::warn!(exten, "Pickup by PICKUPMARK is not supported: skipped");
                        return None;
                    }
                    let context = if context.is_empty() {
                        call.context.clone()
                    } else {
                        context.to_owned()
                    };
                    Some(pb::PickupTarget {
                        extension: exten.to_owned(),
                        context,
                    })
                })
                .collect();
            step::App::Pickup(pb::Pickup { targets })
        }
        "Wait" => step::App::Wait(pb::Wait {
            millis: arg(0)
                .parse::<f64>()
                .map(|s| (s.max(0.0) * 1000.0) as u32)
                .unwrap_or(0),
        }),
        "Hangup" => {
            let cause = arg(0).parse::<u32>().unwrap_or(16);
            call.ending = Some((sip_code_for_cause(cause), "Hangup"));
            call.vars.insert("HANGUPCAUSE".into(), cause.to_string());
            step::App::Hangup(pb::Hangup { cause })
        }
        "Busy" => {
            call.ending = Some((486, "Busy"));
            step::App::Busy(pb::Busy {})
        }
        "Congestion" => {
            call.ending = Some((503, "Congestion"));
            step::App::Congestion(pb::Congestion {})
        }
        "SayDigits" => step::App::SayDigits(pb::SayDigits {
            digits: arg(0).to_owned(),
        }),
        _ => step::App::Hangup(pb::Hangup { cause: 16 }),
    }
}

/// The Dial step for `Dial(targets,timeout,options)` (arguments expanded).
fn dial_step(parts: &[String], limit: Option<pb::DialLimit>) -> step::App {
    let arg = |i: usize| parts.get(i).map(|s| s.trim()).unwrap_or("");
    step::App::Dial(pb::Dial {
        targets: arg(0)
            .split('&')
            .filter(|t| !t.is_empty())
            .map(|t| {
                let t = crate::dialplan::dial::target(t);
                pb::DialTarget {
                    technology: t.technology,
                    resource: t.resource,
                    number: t.number,
                }
            })
            .collect(),
        timeout_secs: arg(1)
            .parse::<f64>()
            .map(|s| s.max(0.0) as u32)
            .unwrap_or(0),
        options: arg(2).to_owned(),
        limit: limit.map(Box::new),
        transfer_context: String::new(),
    })
}

/// Q.850 cause → SIP status for an unanswered call (as chan_sip maps them).
pub fn sip_code_for_cause(cause: u32) -> u32 {
    match cause {
        1 => 404,
        17 => 486,
        18 => 408,
        19 | 20 => 480,
        21 => 403,
        27 | 38 | 41 | 42 | 34 => 503,
        28 => 484,
        _ => 0,
    }
}

/// The step kinds, for metrics and tests.
pub fn app_name(app: &step::App) -> &'static str {
    match app {
        step::App::Answer(_) => "Answer",
        step::App::Ringing(_) => "Ringing",
        step::App::Progress(_) => "Progress",
        step::App::Playback(_) => "Playback",
        step::App::Echo(_) => "Echo",
        step::App::Dial(_) => "Dial",
        step::App::Wait(_) => "Wait",
        step::App::Hangup(_) => "Hangup",
        step::App::Busy(_) => "Busy",
        step::App::Congestion(_) => "Congestion",
        step::App::SayDigits(_) => "SayDigits",
        step::App::MusicOnHold(_) => "MusicOnHold",
        step::App::Transfer(_) => "Transfer",
        step::App::Pickup(_) => "Pickup",
        step::App::Finished(_) => "Finished",
    }
}
