//! One call's run through the dialplan. [`Call::advance`] executes the
//! router's own applications (Goto, GotoIf, Set, Gosub…) until it reaches
//! one the edge must carry out, which it returns as a [`Step`]; the edge's
//! [`StepResult`] comes back through [`Call::result`] and the run goes on,
//! as Asterisk's pbx_exec loop does. When priorities run out the call is
//! hung up (autofallthrough); after hang-up the `h` extension runs.

pub mod apps;
pub use apps::app_name;
pub mod channels;
pub mod db;
mod dial_limit;
pub mod expr;
mod flow;
pub mod functions;
pub mod local;
pub mod subst;

use crate::dialplan::{AppKind, Dialplan, Query};
use asterism_proto::router::{CallStart, Finished, Location, Step, StepResult, StepStatus};
use jiff::Timestamp;
use std::collections::HashMap;
use std::sync::Arc;

/// Internal applications one `next()` may run before we call it a loop.
pub const MAX_INTERNAL_STEPS: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Frame {
    context: String,
    exten: String,
    priority: i32,
    /// Variables the frame made local (ARGn, `LOCAL()`, a Macro's
    /// `MACRO_*`) with the values they shadowed, restored on return.
    saved: Vec<(String, Option<String>)>,
    /// A Macro frame: returns when its priorities run out (or MacroExit).
    macro_frame: bool,
    /// `While` loops open in this frame (their priorities).
    loops: Vec<i32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Running,
    /// Hung up: running `h` (only router-side applications).
    Hangup,
    Done,
}

/// What the call does next.
#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    Step(Step),
    Finished(Finished),
    /// The AstDB is needed: fetch (then [`Call::db_values`]) or write, then
    /// `advance` again.
    Db(db::DbRequest),
    /// `System(command)`, enabled: run it with `sh -c`, then
    /// [`Call::system_done`] and `advance` again.
    System(String),
}

pub struct Call {
    plan: Arc<Dialplan>,
    pub(crate) call_id: String,
    /// The number first dialled (`CALLERID(dnid)`).
    pub(crate) dialled: String,
    pub(crate) globals: crate::dialplan::LiveGlobals,
    pub(crate) context: String,
    pub(crate) exten: String,
    pub(crate) priority: i32,
    pub(crate) vars: HashMap<String, String>,
    pub(crate) callerid_num: String,
    pub(crate) callerid_name: String,
    stack: Vec<Frame>,
    /// `While` loops open outside any Gosub/Macro.
    loops: Vec<i32>,
    phase: Phase,
    step_id: u64,
    /// Final SIP status decided when the call ended (0: normal clearing).
    final_code: u32,
    final_reason: String,
    /// Set when the last step ends the call once done (Hangup, Busy…).
    pub(crate) ending: Option<(u32, &'static str)>,
    /// A fixed "now" (tests); the real time when `None`.
    pub(crate) clock: Option<Timestamp>,
    /// The AstDB as this call has read and written it.
    pub(crate) db: db::DbCache,
    /// Whether `System()` may run commands (else it is refused).
    pub(crate) allow_system: bool,
    /// A command `System()` waits for, and whether it must succeed.
    pub(crate) pending_system: Option<(String, bool)>,
    /// How many Local channels deep this call runs (0: a real caller).
    pub(crate) depth: u8,
    /// Local channels this call and those it creates may still run (shared).
    pub(crate) locals_left: std::sync::Arc<std::sync::atomic::AtomicU32>,
    /// Variables set as `_X` (false: one level) or `__X` (true: every
    /// level), which the channels this call creates inherit.
    pub(crate) inherited: HashMap<String, bool>,
    /// A Dial whose Local targets are being run down to phones.
    local: Option<Box<local::Expansion>>,
    /// A Local channel the caller's Dial was handed to (it answered or
    /// played before dialling): its steps run on this call's channel.
    delegate: Option<local::Delegate>,
    /// The step under way is a Dial: whether it had the `g` option (go on
    /// in the dialplan when the called party hangs up).
    pub(crate) dial_goes_on: Option<bool>,
    /// `TIMEOUT(absolute)`: when the call must stop (Unix ms; 0: never).
    pub(crate) hangup_at_ms: i64,
    /// Its channel name (`${CHANNEL}`) and `SHARED()` variables.
    pub(crate) channel: String,
    pub(crate) shared: channels::Shared,
    /// The step under way is a Dial with `t`/`T`: where a blind
    /// transfer's extension is.
    pub(crate) dial_transfer: Option<String>,
}

impl Call {
    pub fn new(plan: Arc<Dialplan>, start: &CallStart) -> Call {
        let vars: HashMap<String, String> = start.variables.clone().into_iter().collect();
        let exten = if start.extension.is_empty() {
            "s".to_owned()
        } else {
            start.extension.clone()
        };
        let mut call = Call {
            globals: plan.live_globals.clone(),
            plan,
            call_id: start.call_id.clone(),
            dialled: exten.clone(),
            context: start.context.clone(),
            exten,
            priority: 1,
            vars,
            callerid_num: start.callerid_num.clone(),
            callerid_name: start.callerid_name.clone(),
            stack: Vec::new(),
            loops: Vec::new(),
            phase: Phase::Running,
            step_id: 0,
            final_code: 0,
            final_reason: String::new(),
            ending: None,
            clock: None,
            db: db::DbCache::default(),
            allow_system: false,
            pending_system: None,
            dial_goes_on: None,
            hangup_at_ms: 0,
            channel: String::new(),
            shared: channels::Shared::default(),
            dial_transfer: None,
            depth: 0,
            locals_left: std::sync::Arc::new(local::MAX_LOCALS.into()),
            inherited: HashMap::new(),
            local: None,
            delegate: None,
        };
        let peer = match call.vars.get("CHANNEL(peername)") {
            Some(p) if !p.is_empty() => p.clone(),
            _ => call.callerid_num.clone(),
        };
        call.set_channel(channels::name("SIP", &peer));
        // As chan_sip: a number that is no extension is refused before the
        // dialplan runs (the `i` extension is not used), 484 when more
        // digits could still make it one (overlap dialling), else 404.
        let plan = call.plan.clone();
        if !plan.exists(&call.context, &call.exten, &call.query()) {
            if plan.can_match_more(&call.context, &call.exten, &call.query()) {
                call.finish(484, "address incomplete");
            } else {
                call.finish(404, "no matching extension");
            }
        }
        call
    }

    fn location(&self) -> Location {
        Location {
            context: self.context.clone(),
            extension: self.exten.clone(),
            priority: self.priority,
        }
    }

    /// End the call with `code` (used when nothing was answered) and run `h`.
    pub(crate) fn hang_up(&mut self, code: u32, reason: &str) {
        if self.phase != Phase::Running {
            return;
        }
        self.final_code = code;
        self.final_reason = reason.to_owned();
        self.vars
            .entry("HANGUPCAUSE".into())
            .or_insert_with(|| "16".into());
        if self.plan.exists(&self.context, "h", &self.query()) {
            self.phase = Phase::Hangup;
            self.exten = "h".into();
            self.priority = 1;
        } else {
            self.phase = Phase::Done;
        }
    }

    /// End immediately, without `h` (the call never started or failed).
    pub(crate) fn finish(&mut self, code: u32, reason: &str) {
        self.final_code = code;
        self.final_reason = reason.to_owned();
        self.phase = Phase::Done;
    }

    pub fn is_done(&self) -> bool {
        self.phase == Phase::Done
    }

    /// Run until the next step for the edge, or the end.
    pub fn advance(&mut self) -> Next {
        for _ in 0..MAX_INTERNAL_STEPS {
            // Writes go out before anything else the call does (or its end).
            let ops = self.db.take_ops();
            if !ops.is_empty() {
                return Next::Db(db::DbRequest::Write(ops));
            }
            if let Some(v) = self.db.result.take() {
                self.vars.insert("DB_RESULT".into(), v);
            }
            if let Some((command, _)) = &self.pending_system {
                return Next::System(command.clone());
            }
            if let Some(exp) = self.local.as_mut() {
                match exp.advance() {
                    local::Progress::Db(r) => return Next::Db(r),
                    local::Progress::Ready(step) => {
                        self.local = None;
                        return Next::Step(step);
                    }
                    local::Progress::TakeOver(sub, step) => {
                        self.local = None;
                        let mut d = local::Delegate::new(sub, self.hangup_at_ms);
                        d.started(&step);
                        self.delegate = Some(d);
                        return Next::Step(step);
                    }
                }
            }
            if let Some(d) = self.delegate.as_mut() {
                match d.advance() {
                    Ok(next) => return next,
                    Err(status) => {
                        let end = self.delegate.take().and_then(|d| d.caller_end);
                        match end {
                            Some(r) => self.result(&StepResult {
                                step_id: self.step_id,
                                ..r
                            }),
                            None => self.local_dial_over(status),
                        }
                        continue;
                    }
                }
            }
            if self.phase == Phase::Done {
                return Next::Finished(Finished {
                    sip_code: self.final_code,
                    reason: self.final_reason.clone(),
                });
            }
            let plan = self.plan.clone();
            let Some(p) =
                plan.priority_for(&self.context, &self.exten, self.priority, &self.query())
            else {
                self.end_of_priorities();
                continue;
            };
            if let Some(keys) = self.db_keys_needed(&p.app) {
                return Next::Db(db::DbRequest::Get(keys));
            }
            let Some(app) = flow::resolve(self, &p.app) else {
                self.priority += 1;
                continue;
            };
            match app.kind {
                AppKind::Unknown => {
                    tracing::warn!(app = %app.name, file = %p.location.file.display(), line = p.location.line, "unknown application reached");
                    self.finish(500, "unknown application");
                }
                AppKind::Internal => apps::run_internal(self, &app),
                AppKind::External if self.phase == Phase::Hangup => self.priority += 1,
                AppKind::External => {
                    let location = self.location();
                    let app = apps::external_step(self, &app);
                    self.priority += 1;
                    self.step_id += 1;
                    tracing::debug!(context = %location.context, exten = %location.extension, priority = location.priority, app = %p.app.name, "dialplan step");
                    let step = Step {
                        step_id: self.step_id,
                        location: Some(location),
                        app: Some(app),
                        hangup_at_unix_ms: self.hangup_at_ms,
                    };
                    match local::Expansion::start(self, step) {
                        Err(step) => return Next::Step(*step),
                        Ok(exp) => self.local = Some(Box::new(exp)),
                    }
                }
            }
        }
        self.finish(500, "dialplan loop");
        Next::Finished(Finished {
            sip_code: 500,
            reason: "dialplan loop".into(),
        })
    }

    /// The keys a priority reads that the call has not fetched yet (at
    /// most [`db::MAX_FETCH_ROUNDS`] rounds per priority).
    fn db_keys_needed(&mut self, app: &crate::dialplan::Application) -> Option<Vec<String>> {
        if !db::mentions_db(&app.args) && !db::mentions_db(&app.name) {
            return None;
        }
        let rounds = self.db.rounds.get();
        if rounds < db::MAX_FETCH_ROUNDS {
            self.db.dry.set(true);
            let _ = subst::expand(&app.args, self);
            self.db.dry.set(false);
            let _ = self.db.result.take();
            let keys = self.db.take_misses();
            if !keys.is_empty() {
                self.db.rounds.set(rounds + 1);
                return Some(keys);
            }
        }
        self.db.rounds.set(0);
        None
    }

    /// Name the channel `name` (a Local channel's), live for the others.
    pub(crate) fn set_channel(&mut self, name: String) {
        if !self.channel.is_empty() {
            channels::unregister(&self.channel);
        }
        channels::register(&name, &self.shared);
        self.channel = name;
    }

    /// Let `System()` run commands (`ASTERISM_ROUTER_SYSTEM=yes`).
    pub fn allow_system(mut self, yes: bool) -> Call {
        self.allow_system = yes;
        self
    }

    /// How the `System()` command ended: its exit code, or None when it
    /// could not run (or was refused). As app_system.c: 127 or not run is
    /// FAILURE (System hangs up, TrySystem goes on), another non-zero code
    /// APPERROR, 0 SUCCESS.
    pub fn system_done(&mut self, exit: Option<i32>, must: bool) {
        if let Some(d) = self.delegate.as_mut() {
            let must = d.call.pending_system.as_ref().is_some_and(|(_, m)| *m);
            return d.call.system_done(exit, must);
        }
        self.pending_system = None;
        let status = match exit {
            None | Some(127) => "FAILURE",
            Some(0) => "SUCCESS",
            Some(_) => "APPERROR",
        };
        self.vars.insert("SYSTEMSTATUS".into(), status.into());
        if status == "FAILURE" && must {
            self.hang_up(500, "System() failed");
        } else {
            self.priority += 1;
        }
    }

    /// Values fetched for a [`db::DbRequest::Get`] (None: absent).
    pub fn db_values(&mut self, values: impl IntoIterator<Item = (String, Option<String>)>) {
        if let Some(d) = self.delegate.as_mut() {
            return d.call.db_values(values);
        }
        match self.local.as_mut() {
            Some(exp) => exp.db_values(values.into_iter().collect()),
            None => self.db.loaded(values),
        }
    }

    /// The Local channel the caller's Dial was handed to is over: the
    /// Dial's result, and without `g` an answered caller is hung up.
    fn local_dial_over(&mut self, status: &str) {
        self.vars.insert("DIALSTATUS".into(), status.to_owned());
        if self.dial_goes_on.take() == Some(false) && status == "ANSWER" {
            self.vars.insert("HANGUPCAUSE".into(), "16".into());
            self.hang_up(0, "called party hung up");
        }
    }

    fn end_of_priorities(&mut self) {
        if flow::macro_return(self) {
            return;
        }
        match self.phase {
            Phase::Hangup => self.phase = Phase::Done,
            _ if !self.plan.autofallthrough => self.hang_up(0, "dialplan ended"),
            _ => {
                let code = match self.vars.get("DIALSTATUS").map(String::as_str) {
                    Some("BUSY") => 486,
                    Some("NOANSWER") | Some("CHANUNAVAIL") => 480,
                    Some("CONGESTION") => 503,
                    Some("CANCEL") => 487,
                    _ => 0,
                };
                self.hang_up(code, "dialplan ended");
            }
        }
    }

    /// The edge's answer to the last step.
    pub fn result(&mut self, r: &StepResult) {
        if let Some(d) = self.delegate.as_mut() {
            return d.result(r);
        }
        if r.step_id != self.step_id {
            tracing::warn!(
                expected = self.step_id,
                got = r.step_id,
                "result for another step ignored"
            );
            return;
        }
        for (k, v) in &r.variables {
            self.vars.insert(k.clone(), v.clone());
        }
        if !r.dial_status.is_empty() {
            self.vars.insert("DIALSTATUS".into(), r.dial_status.clone());
        }
        let dial_goes_on = self.dial_goes_on.take();
        let transfer = self.dial_transfer.take();
        let named = (!r.transfer_context.is_empty()).then(|| r.transfer_context.clone());
        if let Some(context) = named.or(transfer).filter(|_| !r.transfer_to.is_empty()) {
            // Blind-transferred by the called party: the caller goes on
            // there, as Asterisk's async goto of the transferee.
            tracing::info!(%context, exten = %r.transfer_to, "caller transferred");
            (self.context, self.exten, self.priority) = (context, r.transfer_to.clone(), 1);
            return;
        }
        if r.status == StepStatus::CallerHungUp as i32 {
            self.vars.insert("HANGUPCAUSE".into(), "16".into());
            self.hang_up(0, "caller hung up");
        } else if let Some((code, reason)) = self.ending.take() {
            self.hang_up(code, reason);
        } else if r.status == StepStatus::AbsoluteTimeout as i32 {
            self.absolute_timeout();
        } else if dial_goes_on == Some(false) && r.dial_status == "ANSWER" {
            // Dial without `g`: the called party hung up, so the caller is
            // hung up too (Asterisk's Dial returns -1).
            self.vars.insert("HANGUPCAUSE".into(), "16".into());
            self.hang_up(0, "called party hung up");
        }
    }

    /// TIMEOUT(absolute) ran out: the `T` extension of the context if it
    /// has one (Asterisk), else the call is hung up.
    fn absolute_timeout(&mut self) {
        self.hangup_at_ms = 0;
        let plan = self.plan.clone();
        if plan
            .priority_for(&self.context, "T", 1, &self.query())
            .is_some()
        {
            self.exten = "T".into();
            self.priority = 1;
        } else {
            self.vars.insert("HANGUPCAUSE".into(), "16".into());
            self.hang_up(0, "absolute timeout");
        }
    }

    /// The edge went away mid-call: run `h` with no more steps (and
    /// without its AstDB work: see [`Call::leave`] for that).
    pub fn abandon(&mut self) -> Finished {
        self.leave();
        loop {
            if let Next::Finished(f) = self.advance() {
                return f;
            }
        }
    }

    /// The edge went away mid-call: from here the call runs `h`, whose
    /// steps no edge will run (the caller skips them) but whose AstDB work
    /// and `System()` commands still happen, as on an Asterisk channel hung
    /// up under its application.
    pub fn leave(&mut self) {
        // A Local channel holding the Dial goes first (its `h` runs).
        if let Some(mut d) = self.delegate.take() {
            let _ = d.call.abandon();
        }
        self.local = None;
        self.hang_up(0, "caller hung up");
    }

    pub(crate) fn plan(&self) -> &Arc<Dialplan> {
        &self.plan
    }

    /// Who calls and when, for caller-ID matches and timed includes.
    pub(crate) fn query(&self) -> Query<'_> {
        Query {
            caller: &self.callerid_num,
            now: self.now(),
        }
    }

    pub(crate) fn now(&self) -> Timestamp {
        self.clock.unwrap_or_else(Timestamp::now)
    }

    /// A variable as `${NAME}` reads it: the built-in ones, the call's
    /// own, then the globals.
    pub(crate) fn lookup(&self, name: &str) -> Option<String> {
        match name {
            "EXTEN" => Some(self.exten.clone()),
            "CONTEXT" => Some(self.context.clone()),
            "PRIORITY" => Some(self.priority.to_string()),
            "EPOCH" => Some(self.now().as_second().to_string()),
            "UNIQUEID" => Some(self.call_id.clone()),
            "CHANNEL" => Some(self.channel.clone()),
            "CALLERID(num)" => Some(self.callerid_num.clone()),
            // DB_EXISTS sets it at once, for the rest of the same line.
            "DB_RESULT" if self.db.result.borrow().is_some() => self.db.result.borrow().clone(),
            _ => self
                .vars
                .get(name)
                .cloned()
                .or_else(|| self.globals.get(name)),
        }
    }

    /// `Set(LOCAL(name)=value)`: the current Gosub frame gets it back on
    /// return; outside any Gosub it is an ordinary variable.
    pub(crate) fn set_local(&mut self, name: &str, value: &str) {
        if let Some(frame) = self.stack.last_mut() {
            if !frame.saved.iter().any(|(k, _)| k == name) {
                frame
                    .saved
                    .push((name.to_owned(), self.vars.get(name).cloned()));
            }
        }
        self.vars.insert(name.to_owned(), value.to_owned());
    }

    /// The `While` loops of the current frame.
    pub(crate) fn loops(&mut self) -> &mut Vec<i32> {
        match self.stack.last_mut() {
            Some(f) => &mut f.loops,
            None => &mut self.loops,
        }
    }

    #[cfg(test)]
    pub(crate) fn step_id(&self) -> u64 {
        self.step_id
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        channels::unregister(&self.channel);
    }
}

/// Variables and functions as the dialplan sees them.
impl subst::Scope for Call {
    fn var(&self, name: &str) -> Option<String> {
        self.lookup(name)
    }

    fn function(&self, name: &str, args: &str) -> Option<String> {
        let value = functions::read(self, name, args);
        if value.is_none() {
            tracing::warn!(function = name, "function not registered");
        }
        value
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod flow_tests;
