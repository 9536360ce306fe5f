//! The tonic face of the router: `Execute` drives one [`Call`] per stream
//! (doing the AstDB reads and writes the call asks for), `ShowDialplan`
//! and `Reload` expose the dialplan, `Database` the AstDB.

use crate::astdb::{full_key, AstDb};
use crate::engine::db::{DbOp, DbRequest};
use crate::engine::{Call, Next};
use crate::service::Router;
use asterism_proto::router::router_server::Router as RouterRpc;
use asterism_proto::router::*;
use std::pin::Pin;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

pub struct RouterService(pub Arc<Router>, pub StepMetrics);

/// Dialplan steps sent to the edge, by application.
pub type StepMetrics = prometheus_client::metrics::family::Family<
    Vec<(&'static str, String)>,
    prometheus_client::metrics::counter::Counter,
>;

type StepStream = Pin<Box<dyn Stream<Item = Result<Step, Status>> + Send>>;

#[tonic::async_trait]
impl RouterRpc for RouterService {
    type ExecuteStream = StepStream;

    async fn execute(
        &self,
        req: Request<Streaming<CallEvent>>,
    ) -> Result<Response<Self::ExecuteStream>, Status> {
        let metadata = req.metadata().clone();
        let mut events = req.into_inner();
        let start = match events.next().await {
            Some(Ok(CallEvent {
                event: Some(call_event::Event::Start(s)),
            })) => s,
            Some(Err(e)) => return Err(e),
            _ => {
                return Err(Status::invalid_argument(
                    "the first event must be CallStart",
                ))
            }
        };
        let plan = self.0.current();
        let (tx, rx) = mpsc::channel(4);
        let server = asterism_telemetry::rpc::server_span("asterism.router.v1.Router", "Execute");
        asterism_telemetry::propagation::continue_trace(&server, &metadata);
        let span = server.in_scope(|| tracing::info_span!("router.call", call_id = %start.call_id, context = %start.context, extension = %start.extension));
        let steps = self.1.clone();
        let db = self.0.db();
        let call = Call::new(plan, &start).allow_system(self.0.allow_system());
        tokio::spawn(tracing::Instrument::instrument(
            drive(call, events, tx, steps, db),
            span,
        ));
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn show_dialplan(
        &self,
        req: Request<ShowDialplanRequest>,
    ) -> Result<Response<ShowDialplanResponse>, Status> {
        let ctx = req.get_ref().context.trim();
        let plan = self.0.current();
        let only = (!ctx.is_empty()).then_some(ctx);
        match crate::dialplan::show::show(&plan, only) {
            Ok(text) => Ok(Response::new(ShowDialplanResponse { text })),
            Err(e) => Err(Status::not_found(e)),
        }
    }

    async fn match_extension(
        &self,
        req: Request<MatchRequest>,
    ) -> Result<Response<MatchResponse>, Status> {
        let r = req.into_inner();
        let plan = self.0.current();
        let q = crate::dialplan::Query {
            caller: &r.caller,
            now: jiff::Timestamp::now(),
        };
        Ok(Response::new(MatchResponse {
            exists: plan.exists(&r.context, &r.extension, &q),
            can_match_more: plan.can_match_more(&r.context, &r.extension, &q),
        }))
    }

    async fn database(
        &self,
        req: Request<DatabaseRequest>,
    ) -> Result<Response<DatabaseResponse>, Status> {
        let r = req.into_inner();
        let db = self.0.db();
        let fail = |e: crate::astdb::DbError| Status::unavailable(e.to_string());
        let path = match (r.family.trim(), r.key.trim()) {
            ("", _) => String::new(),
            (f, "") => full_key(f),
            (f, k) => full_key(&format!("{f}/{k}")),
        };
        let mut out = DatabaseResponse::default();
        match r.op.as_str() {
            "show" => {
                out.entries = db
                    .show(&path)
                    .await
                    .map_err(fail)?
                    .into_iter()
                    .map(|(key, value)| DbEntry { key, value })
                    .collect();
            }
            "get" => {
                if let Some(Some(value)) = db.get(std::slice::from_ref(&path)).await.map_err(fail)?.pop() {
                    out.found = true;
                    out.entries.push(DbEntry { key: path, value });
                }
            }
            "put" if !r.key.trim().is_empty() => {
                db.put(&path, &r.value).await.map_err(fail)?;
                out.found = true;
            }
            "del" if !r.key.trim().is_empty() => out.found = db.del(&path).await.map_err(fail)?,
            "deltree" if !path.is_empty() => out.removed = db.deltree(&path).await.map_err(fail)?,
            other => {
                return Err(Status::invalid_argument(format!(
                    "database {other}: expected show [family [keytree]], get|put|del family key [value], deltree family [keytree]"
                )))
            }
        }
        Ok(Response::new(out))
    }

    async fn reload(
        &self,
        _req: Request<ReloadRequest>,
    ) -> Result<Response<ReloadResponse>, Status> {
        let router = self.0.clone();
        let result = tokio::task::spawn_blocking(move || router.reload())
            .await
            .map_err(|e| Status::internal(e.to_string()))?;
        Ok(Response::new(match result {
            Ok(_) => ReloadResponse {
                ok: true,
                errors: vec![],
            },
            Err(d) => ReloadResponse {
                ok: false,
                errors: d.0.iter().map(|x| x.to_string()).collect(),
            },
        }))
    }
}

/// One call: send a step, wait for its result, until the dialplan ends or
/// the edge goes away. Each step is a span from sending it to its result.
async fn drive(
    mut call: Call,
    mut events: Streaming<CallEvent>,
    tx: mpsc::Sender<Result<Step, Status>>,
    steps: StepMetrics,
    db: Arc<dyn AstDb>,
) {
    loop {
        match call.advance() {
            Next::Db(request) => database(&mut call, &*db, request).await,
            Next::System(command) => {
                let must = call.pending_system.as_ref().is_some_and(|(_, m)| *m);
                let exit = run_system(&command).await;
                call.system_done(exit, must);
            }
            Next::Step(step) => {
                let span = step_span(&step);
                if let Some(app) = &step.app {
                    steps
                        .get_or_create(&vec![(
                            "application",
                            crate::engine::app_name(app).to_owned(),
                        )])
                        .inc();
                }
                let reply = tracing::Instrument::instrument(
                    async {
                        if tx.send(Ok(step)).await.is_err() {
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
                        let _ = tx
                            .send(Err(Status::invalid_argument("expected a StepResult")))
                            .await;
                        return;
                    }
                    Some(Err(_)) | None => {
                        call.abandon();
                        return;
                    }
                }
            }
            Next::Finished(f) => {
                let step = Step {
                    step_id: 0,
                    location: None,
                    app: Some(step::App::Finished(f)),
                    hangup_at_unix_ms: 0,
                };
                let _ = tx.send(Ok(step)).await;
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
    let loc = step.location.clone().unwrap_or_default();
    let (app, args) = match &step.app {
        Some(a) => (crate::engine::app_name(a), format!("{a:?}")),
        None => ("", String::new()),
    };
    tracing::info_span!("router.step", context = %loc.context, extension = %loc.extension, priority = loc.priority, application = app, arguments = %args)
}

/// The gRPC service to mount on a tonic server.
pub fn service(router: Arc<Router>) -> router_server::RouterServer<RouterService> {
    service_with_metrics(router, StepMetrics::default())
}

/// The service, counting steps into `steps` (registered on an admin registry).
pub fn service_with_metrics(
    router: Arc<Router>,
    steps: StepMetrics,
) -> router_server::RouterServer<RouterService> {
    router_server::RouterServer::new(RouterService(router, steps))
}
