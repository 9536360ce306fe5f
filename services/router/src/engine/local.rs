//! `Dial(Local/exten@context[/n])`: a Local channel runs that extension
//! of the dialplan and is bridged with the caller. The router runs the
//! extension as a call of its own (its Set, GotoIf, Gosub, Macro, DB…)
//! until it dials; the phones it dials join the caller's Dial, so the
//! caller is bridged with whichever answers, as through Asterisk's Local
//! channel (optimised away). Ringing/Progress on the way are fine; an
//! extension that would answer or play something itself before dialling
//! (media on the Local channel) does not ring, with a warning. Local
//! channels dialling Local channels are followed [`MAX_DEPTH`] deep, and
//! [`MAX_LOCALS`] in all for one call. The
//! caller's `_X` variables reach the Local channel, `__X` ones every
//! channel after it, as Asterisk's variable inheritance.

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
}

pub enum Progress {
    /// A Local extension needs the AstDB first.
    Db(DbRequest),
    /// The Dial, every Local target replaced by what it dials.
    Ready(Step),
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
        Ok(Expansion { step, queue })
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
                Next::Step(s) => match s.app {
                    Some(step::App::Dial(d)) => {
                        if let Some(step::App::Dial(outer)) = self.step.app.as_mut() {
                            outer.targets.extend(d.targets);
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
                    other => {
                        let what = other.as_ref().map(super::app_name).unwrap_or("nothing");
                        tracing::warn!(
                            context = %sub.context,
                            exten = %sub.exten,
                            app = what,
                            "a Local channel that runs {what} before dialling is not supported by Asterism: it does not ring"
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
