//! One call's dialplan, driven: send a step, wait for its result, until the
//! dialplan ends or the edge goes away; the AstDB reads and writes and the
//! `System()` commands the call asks for run here. Shared by the two ways a
//! call reaches the router: its own `Execute` stream, or a lane carrying
//! many calls ([`crate::lanes`]); [`Out`] is where its steps go.

use crate::astdb::AstDb;
use crate::engine::db::{DbOp, DbRequest};
use crate::engine::{Call, Next};
use crate::grpc::{AppLabel, StepMetrics};
use asterism_proto::router::{call_event, lane_step, step, CallEvent, LaneStep, Step};
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_stream::{Stream, StreamExt};
use tonic::Status;

/// Where a call's steps go.
pub enum Out {
    /// Its own `Execute` stream.
    Stream(mpsc::Sender<Result<Step, Status>>),
    /// A lane: each step tagged with the edge's number for the call.
    Lane(u64, mpsc::Sender<Result<LaneStep, Status>>),
}

impl Out {
    /// Whether the edge can still be reached.
    async fn send(&self, step: Result<Step, Status>) -> bool {
        match self {
            Out::Stream(tx) => tx.send(step).await.is_ok(),
            Out::Lane(call, tx) => tx.send(Ok(lane_message(*call, step))).await.is_ok(),
        }
    }
}

/// A step, or a call's failure, as a lane carries it.
pub fn lane_message(call: u64, step: Result<Step, Status>) -> LaneStep {
    match step {
        Ok(s) => LaneStep {
            call,
            answer: Some(lane_step::Answer::Step(s)),
            ..Default::default()
        },
        Err(status) => LaneStep {
            call,
            answer: None,
            error_code: status.code() as i32,
            error_message: status.message().to_owned(),
        },
    }
}

/// One call: send a step, wait for its result, until the dialplan ends.
/// Each step is a span from sending it to its result. When the edge goes
/// away, `h` runs without it (its AstDB work and commands only).
pub async fn drive<E>(
    mut call: Call,
    mut events: E,
    tx: Out,
    steps: StepMetrics,
    db: Arc<dyn AstDb>,
) where
    E: Stream<Item = Result<CallEvent, Status>> + Unpin,
{
    // The edge went away: `h` runs without it.
    let mut gone = false;
    loop {
        match call.advance() {
            Next::Db(request) => database(&mut call, &*db, request).await,
            Next::System(command) => {
                let must = call.pending_system.as_ref().is_some_and(|(_, m)| *m);
                let exit = run_system(&command).await;
                call.system_done(exit, must);
            }
            Next::Step(_) if gone => {}
            Next::Step(step) => {
                let span = step_span(&step);
                if let Some(app) = &step.app {
                    let application = crate::engine::app_name(app);
                    steps.get_or_create(&AppLabel { application }).inc();
                }
                let reply = tracing::Instrument::instrument(
                    async {
                        if !tx.send(Ok(step)).await {
                            return None;
                        }
                        events.next().await
                    },
                    span,
                )
                .await;
                match reply {
                    Some(Ok(CallEvent {
                        event: Some(call_event::Event::Result(r)),
                    })) => call.result(&r),
                    Some(Ok(_)) => {
                        tx.send(Err(Status::invalid_argument("expected a StepResult")))
                            .await;
                        return;
                    }
                    Some(Err(_)) | None => {
                        call.leave();
                        gone = true;
                    }
                }
            }
            Next::Finished(_) if gone => return,
            Next::Finished(f) => {
                let step = Step {
                    step_id: 0,
                    location: None,
                    app: Some(step::App::Finished(f)),
                    hangup_at_unix_ms: 0,
                };
                tx.send(Ok(step)).await;
                return;
            }
        }
    }
}

/// How long a `System()` command may run before it is killed.
const SYSTEM_LIMIT: std::time::Duration = std::time::Duration::from_secs(60);

/// `sh -c command`, waited for (without blocking the runtime); its exit
/// code, None when it could not run or ran past [`SYSTEM_LIMIT`].
async fn run_system(command: &str) -> Option<i32> {
    let child = tokio::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(command)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .status();
    match tokio::time::timeout(SYSTEM_LIMIT, child).await {
        Ok(Ok(status)) => status.code(),
        Ok(Err(e)) => {
            tracing::warn!(command, "System(): {e}");
            None
        }
        Err(_) => {
            tracing::warn!(command, "System(): still running after 60 s: killed");
            None
        }
    }
}

/// The AstDB work a call asked for. Asterisk's DB() reads an unreachable
/// database as empty and logs; so does the router, and the call goes on.
async fn database(call: &mut Call, db: &dyn AstDb, request: DbRequest) {
    match request {
        DbRequest::Get(keys) => {
            let values = match db.get(&keys).await {
                Ok(v) => v,
                Err(e) => {
                    tracing::warn!("DB: {e}");
                    vec![None; keys.len()]
                }
            };
            call.db_values(keys.into_iter().zip(values));
        }
        DbRequest::Write(ops) => {
            for op in ops {
                let result = match &op {
                    DbOp::Put(k, v) => db.put(k, v).await,
                    DbOp::Del(k) => db.del(k).await.map(|_| ()),
                    DbOp::DelTree(t) => db.deltree(t).await.map(|_| ()),
                };
                if let Err(e) = result {
                    tracing::warn!(?op, "DB write failed: {e}");
                }
            }
        }
    }
}

/// A span for one dialplan step: where it is and what it runs.
fn step_span(step: &Step) -> tracing::Span {
    // Fields are formatted only when a layer records the span.
    let loc = step.location.as_ref();
    let context = loc.map_or("", |l| l.context.as_str());
    let extension = loc.map_or("", |l| l.extension.as_str());
    let priority = loc.map_or(0, |l| l.priority);
    let app = step.app.as_ref().map_or("", crate::engine::app_name);
    tracing::info_span!(
        "router.step",
        context,
        extension,
        priority,
        application = app,
        arguments = step.app.as_ref().map(tracing::field::debug)
    )
}
