//! Dial's `L(x[:y][:z])` once the callee answers: the bridged call lasts
//! `x` ms at most, then the callee is hung up and the Dial ends with
//! ANSWER (the router hangs the caller up, or goes on with `g`), as
//! app_dial's bridge limits do. Warnings `y` ms before the end (again
//! every `z` ms) and the connect and timeout files are played by the
//! relay to the legs `LIMIT_PLAYAUDIO_CALLER`/`_CALLEE` name — Asterisk
//! takes such calls off native bridging, and so a Dial whose limit plays
//! anything has its media anchored. `timeleft` says the time left.

use super::bridge::Side;

use super::machine::{CallState, Machine};
use super::steps::with_status;
use asterism_proto::router::{DialLimit, StepStatus};
use std::time::Duration;
use tokio::time::Instant;

/// A bridged call's limit, running.
pub struct Running {
    end: Instant,
    next_warning: Option<Instant>,
    spec: DialLimit,
    /// The timeout file plays: the hang-up follows its end.
    ending: bool,
}

/// Whether the limit plays anything (then the call's media is anchored).
pub fn needs_relay(l: &DialLimit) -> bool {
    l.warning_ms > 0 || !l.connect_file.is_empty() || !l.timeout_file.is_empty()
}

impl Machine {
    /// The callee answered: the limit starts, the connect file plays.
    pub(super) fn start_limit(&mut self, now: Instant) {
        let Some(spec) = self.dial_limit.take() else {
            return;
        };
        let end = now + Duration::from_millis(spec.limit_ms);
        let next_warning = (spec.warning_ms > 0 && spec.warning_ms < spec.limit_ms)
            .then(|| end - Duration::from_millis(spec.warning_ms));
        tracing::debug!(limit_ms = spec.limit_ms, "Dial's L: the call is timed");
        if !spec.connect_file.is_empty() {
            let files = vec![spec.connect_file.clone()];
            self.limit_prompts(&spec, files, false);
        }
        self.limit = Some(Running {
            end,
            next_warning,
            spec,
            ending: false,
        });
    }

    /// When the limit next needs the machine.
    pub(super) fn limit_deadline(&self) -> Option<Instant> {
        let l = self.limit.as_ref().filter(|l| !l.ending)?;
        if self.state != CallState::Bridged {
            return None;
        }
        Some(l.next_warning.map_or(l.end, |w| w.min(l.end)))
    }

    /// The limit's time came: a warning, or the end.
    pub(super) fn on_limit_timer(&mut self, now: Instant) {
        if self.limit_deadline().is_none_or(|at| now < at) {
            return;
        }
        let Some(mut l) = self.limit.take() else {
            return;
        };
        if now >= l.end {
            if l.spec.timeout_file.is_empty() || self.media.is_none() {
                return self.limit_reached();
            }
            // The timeout file first; the hang-up once it is over.
            l.ending = true;
            let files = vec![l.spec.timeout_file.clone()];
            self.limit_prompts(&l.spec, files, true);
            self.limit = Some(l);
            return;
        }
        if let Some(w) = l.next_warning.filter(|w| now >= *w) {
            let left = (l.end - now + Duration::from_millis(500)).as_secs();
            let files = match l.spec.warning_file.as_str() {
                "timeleft" => super::say::time_left(left),
                f => vec![f.to_owned()],
            };
            self.limit_prompts(&l.spec, files, false);
            let repeat = Duration::from_millis(l.spec.repeat_ms);
            l.next_warning = (l.spec.repeat_ms > 0)
                .then(|| w + repeat)
                .filter(|next| *next < l.end);
        }
        self.limit = Some(l);
    }

    /// The limit is reached: the callee is hung up, the Dial is over.
    pub(super) fn limit_reached(&mut self) {
        self.limit = None;
        if self.state != CallState::Bridged {
            return;
        }
        tracing::info!("Dial's L: time limit reached, the callee is hung up");
        self.hang_up_callee();
        self.result(with_status(StepStatus::Ok, "ANSWER"));
    }

    /// `files` to the legs the limit plays to; `wait`: answered when over
    /// (to the caller's leg, else the callee's).
    fn limit_prompts(&mut self, spec: &DialLimit, files: Vec<String>, wait: bool) {
        let sides = [
            (spec.to_caller, Side::Caller),
            (spec.to_callee, Side::Callee),
        ];
        let mut waited = false;
        for side in sides.iter().filter(|(on, _)| *on).map(|(_, s)| *s) {
            if !self.leg_prompts(side, files.clone(), wait && !waited) {
                return tracing::warn!("Dial's L: no relay to play the limit's sounds");
            }
            waited = true;
        }
    }
}
