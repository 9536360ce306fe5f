//! `Dial(Local/exten@context[/n])`: a Local channel runs that extension
//! of the dialplan and is bridged with the caller. The router runs the
//! extension as a call of its own (its Set, GotoIf, Gosub, Macro, DB…)
//! until it dials; the phones it dials join the caller's Dial, so the
//! caller is bridged with whichever answers, as through Asterisk's Local
//! channel (optimised away). Ringing/Progress on the way are fine. An
//! extension that does something else first (Answer, Playback, Wait…),
//! or that is the Dial's one target, answers or holds the caller's Dial
//! by itself, as Asterisk's Local channel does: the caller's Dial is then
//! [`Delegate`]d to it — its
//! steps run on the caller's channel (its prompts heard, its own Dial
//! ringing the phones), its variables its own, and when it ends the
//! caller's Dial is over: ANSWER if the caller was answered on the way,
//! else the Local channel's BUSY, CONGESTION, NOANSWER or CHANUNAVAIL.
//! Local channels dialling Local channels are followed [`MAX_DEPTH`]
//! deep, and [`MAX_LOCALS`] in all for one call. The caller's `_X`
//! variables reach the Local channel, `__X` ones every channel after it,
//! as Asterisk's variable inheritance.

use super::db::DbRequest;
use super::{Call, Next};
use asterism_proto::router::{step, CallStart, DialTarget, Step, StepResult, StepStatus};
use std::collections::VecDeque;
use std::sync::atomic::Ordering;

/// How deep Local channels may dial Local channels.
pub const MAX_DEPTH: u8 = 4;

/// How many Local channels one call may run in all (its Local channels'
/// Local channels included), whatever their fan-out.
pub const MAX_LOCALS: u32 = 64;

/// A Dial waiting for its Local targets to be run down to phones.
pub struct Expansion {
    step: Step,
    queue: VecDeque<Call>,
    /// The Dial has this one Local target and nothing else.
    alone: bool,
}

pub enum Progress {
    /// A Local extension needs the AstDB first.
    Db(DbRequest),
    /// The Dial, every Local target replaced by what it dials.
    Ready(Step),
    /// A Local extension runs something before dialling (its first such
    /// step given): the caller's Dial is its.
    TakeOver(Box<Call>, Step),
}

/// A Local channel the caller's Dial was handed to, and whether the
/// caller was answered on its way.
pub struct Delegate {
    pub call: Box<Call>,
    pub answered: bool,
    /// The kind of the step under way (its result tells the answer).
    pending: Option<&'static str>,
    /// The caller hung up (or its absolute timeout came): what the caller's
    /// call takes once the Local channel has run its `h`.
    pub caller_end: Option<StepResult>,
}

/// A Local channel's Dial run for the caller's: the caller's ringing
/// (`r`) or music (`m`) and its timeout bound it too, as the caller's Dial
/// of the Local channel would.
fn with_outer_options(mut inner: Step, outer: &Step) -> Step {
    let (Some(step::App::Dial(i)), Some(step::App::Dial(o))) =
        (inner.app.as_mut(), outer.app.as_ref())
    else {
        return inner;
    };
    for c in ['r', 'm'] {
        let has = |opts: &str| asterism_config::dial_options::has_option(opts, c);
        if has(&o.options) && !has(&i.options) {
            match asterism_config::dial_options::argument(&o.options, c) {
                Some(arg) if !arg.is_empty() => i.options.push_str(&format!("{c}({arg})")),
                _ => i.options.push(c),
            }
        }
    }
    if o.timeout_secs > 0 && (i.timeout_secs == 0 || o.timeout_secs < i.timeout_secs) {
        i.timeout_secs = o.timeout_secs;
    }
    inner
}

/// Whether a step answers the channel it runs on.
fn answers(app: &step::App) -> bool {
    matches!(
        app,
        step::App::Answer(_)
            | step::App::Playback(_)
            | step::App::SayDigits(_)
            | step::App::Echo(_)
    )
}

/// `exten@context[/options]` → (exten, context).
fn local_target(resource: &str) -> Option<(&str, &str)> {
    let spec = resource.split('/').next().unwrap_or(resource);
    let (exten, context) = spec.split_once('@')?;
    (!exten.is_empty() && !context.is_empty()).then_some((exten, context))
}

impl Expansion {
    /// The step back (`Err`) when the Dial has no Local target: it goes
    /// out as it is.
    pub fn start(parent: &Call, mut step: Step) -> Result<Expansion, Box<Step>> {
        let Some(step::App::Dial(dial)) = step.app.as_mut() else {
            return Err(Box::new(step));
        };
        let is_local = |t: &DialTarget| t.technology.eq_ignore_ascii_case("Local");
        if !dial.targets.iter().any(is_local) {
            return Err(Box::new(step));
        }
        let mut queue = VecDeque::new();
        let (locals, others): (Vec<DialTarget>, Vec<DialTarget>) =
            std::mem::take(&mut dial.targets)
                .into_iter()
                .partition(is_local);
        let alone = locals.len() == 1 && others.is_empty();
        dial.targets = others;
        for (i, t) in locals.iter().enumerate() {
            let Some((exten, context)) = local_target(&t.resource) else {
                tracing::warn!(target = %t.resource, "Local target is not exten@context: it does not ring");
                continue;
            };
            if parent.depth >= MAX_DEPTH {
                tracing::warn!(target = %t.resource, "Local channels nested too deep: it does not ring");
                continue;
            }
            let take = |n: u32| n.checked_sub(1);
            let left = &parent.locals_left;
            if left
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, take)
                .is_err()
            {
                tracing::warn!(target = %t.resource, "more than {MAX_LOCALS} Local channels for one call: it does not ring");
                continue;
            }
            // `_X` and `__X` variables go with it, as to any new channel.
            let variables = parent
                .inherited
                .keys()
                .filter_map(|k| Some((k.clone(), parent.vars.get(k)?.clone())))
                .collect();
            let start = CallStart {
                call_id: format!("{};{}", parent.call_id, i + 1),
                context: context.to_owned(),
                extension: exten.to_owned(),
                callerid_num: parent.callerid_num.clone(),
                callerid_name: parent.callerid_name.clone(),
                variables,
            };
            let mut sub = Call::new(parent.plan().clone(), &start);
            let resource = format!("{exten}@{context}");
            sub.set_channel(format!("{};2", super::channels::name("Local", &resource)));
            sub.inherited = parent
                .inherited
                .iter()
                .filter(|(_, forever)| **forever)
                .map(|(k, f)| (k.clone(), *f))
                .collect();
            sub.depth = parent.depth + 1;
            sub.locals_left = parent.locals_left.clone();
            sub.clock = parent.clock;
            queue.push_back(sub);
        }
        Ok(Expansion { step, queue, alone })
    }

    /// Run the Local extensions on until each dials, needs the database,
    /// or gives up.
    pub fn advance(&mut self) -> Progress {
        while let Some(sub) = self.queue.front_mut() {
            match sub.advance() {
                Next::Db(r) => return Progress::Db(r),
                Next::System(_) => sub.system_done(None, true),
                Next::Finished(_) => {
                    self.queue.pop_front();
                }
                Next::Step(s) => match &s.app {
                    // The Dial's one target: its Dial (and what follows it,
                    // its voicemail say) runs on the caller's channel.
                    Some(step::App::Dial(_)) if self.alone => {
                        let Some(sub) = self.queue.pop_front() else {
                            break;
                        };
                        let s = with_outer_options(s, &self.step);
                        return Progress::TakeOver(Box::new(sub), s);
                    }
                    Some(step::App::Dial(d)) => {
                        if let Some(step::App::Dial(outer)) = self.step.app.as_mut() {
                            outer.targets.extend(d.targets.iter().cloned());
                        }
                        self.queue.pop_front();
                    }
                    Some(step::App::Ringing(_) | step::App::Progress(_)) => {
                        sub.result(&StepResult {
                            step_id: s.step_id,
                            status: StepStatus::Ok as i32,
                            ..Default::default()
                        });
                    }
                    // Hung up before answering: that target does not ring.
                    Some(step::App::Hangup(_) | step::App::Busy(_) | step::App::Congestion(_))
                    | None => {
                        self.queue.pop_front();
                    }
                    // Answering takes the Dial whatever else it rings (the
                    // Local channel answers first); anything else (Wait)
                    // only when it is the Dial's one target.
                    Some(app) if self.alone || answers(app) => {
                        let Some(sub) = self.queue.pop_front() else {
                            break;
                        };
                        tracing::debug!(context = %sub.context, exten = %sub.exten, "a Local channel takes the caller's Dial");
                        return Progress::TakeOver(Box::new(sub), s);
                    }
                    Some(app) => {
                        let what = super::app_name(app);
                        tracing::warn!(
                            context = %sub.context,
                            exten = %sub.exten,
                            app = what,
                            "a Local channel that runs {what} before dialling, beside other Dial targets, is not supported by Asterism: it does not ring"
                        );
                        self.queue.pop_front();
                    }
                },
            }
        }
        Progress::Ready(self.step.clone())
    }

    /// Values fetched for the Local extension that asked.
    pub fn db_values(&mut self, values: Vec<(String, Option<String>)>) {
        if let Some(sub) = self.queue.front_mut() {
            sub.db_values(values);
        }
    }
}

impl Delegate {
    pub fn new(mut call: Box<Call>, hangup_at_ms: i64) -> Delegate {
        call.hangup_at_ms = hangup_at_ms;
        Delegate {
            call,
            answered: false,
            pending: None,
            caller_end: None,
        }
    }

    /// The first step, taken when the Dial was handed over.
    pub fn started(&mut self, s: &Step) {
        self.pending = s.app.as_ref().map(super::app_name);
    }

    /// What the caller's channel does next for the Local channel: a step,
    /// or (`Err`) the DIALSTATUS of the caller's Dial, the Local channel
    /// being over (its Busy, Congestion and Hangup end it rather than the
    /// caller, as they hang up the Local channel only).
    pub fn advance(&mut self) -> Result<Next, &'static str> {
        let next = self.call.advance();
        let Next::Step(s) = &next else {
            if let Next::Finished(_) = next {
                return Err(self.status(None));
            }
            return Ok(next);
        };
        let ends = match &s.app {
            Some(step::App::Busy(_)) => Some("BUSY"),
            Some(step::App::Congestion(_)) => Some("CONGESTION"),
            Some(step::App::Hangup(h)) => Some(match h.cause {
                17 => "BUSY",
                18 | 19 => "NOANSWER",
                34 | 38 | 42 => "CONGESTION",
                _ => "CHANUNAVAIL",
            }),
            _ => None,
        };
        if let Some(status) = ends {
            return Err(self.status(Some(status)));
        }
        self.pending = s.app.as_ref().map(super::app_name);
        Ok(next)
    }

    /// The caller's Dial's DIALSTATUS as the Local channel leaves it.
    fn status(&self, hung_up_with: Option<&'static str>) -> &'static str {
        if self.answered {
            return "ANSWER";
        }
        if let Some(s) = hung_up_with {
            return s;
        }
        match self.call.vars.get("DIALSTATUS").map(String::as_str) {
            Some("BUSY") => "BUSY",
            Some("NOANSWER") => "NOANSWER",
            Some("CONGESTION") => "CONGESTION",
            _ => "CHANUNAVAIL",
        }
    }

    /// The edge's result of the Local channel's step on the caller's channel.
    pub fn result(&mut self, r: &StepResult) {
        let caller_gone = r.status == StepStatus::CallerHungUp as i32;
        if caller_gone || r.status == StepStatus::AbsoluteTimeout as i32 {
            // The Local channel is hung up with the caller (its `h` runs).
            self.caller_end = Some(r.clone());
            return self.call.result(&StepResult {
                status: StepStatus::CallerHungUp as i32,
                ..r.clone()
            });
        }
        let ok = r.status == StepStatus::Ok as i32;
        let answered = matches!(
            self.pending.take(),
            Some("Answer" | "Playback" | "SayDigits" | "Echo" | "MusicOnHold")
        );
        if (ok && answered) || r.dial_status == "ANSWER" {
            self.answered = true;
        }
        self.call.result(r);
    }
}
