//! The tonic face of the router: `Execute` drives one [`Call`] per stream
//! and `ExecuteLane` many ([`crate::drive`] runs each), `ShowDialplan`
//! and `Reload` expose the dialplan, `Database` the AstDB.

use crate::astdb::full_key;
use crate::drive::{drive, Out};
use crate::engine::Call;
use crate::service::Router;
use asterism_proto::router::router_server::Router as RouterRpc;
use asterism_proto::router::*;
use std::pin::Pin;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

pub struct RouterService(pub Arc<Router>, pub StepMetrics, pub LaneLimit);

/// Calls one lane may carry at once ([`crate::lanes::CALLS_PER_LANE`]).
#[derive(Clone, Copy)]
pub struct LaneLimit(pub usize);

impl Default for LaneLimit {
    fn default() -> Self {
        LaneLimit(crate::lanes::CALLS_PER_LANE)
    }
}

/// Dialplan steps sent to the edge, by application.
pub type StepMetrics = prometheus_client::metrics::family::Family<
    AppLabel,
    prometheus_client::metrics::counter::Counter,
>;

/// A dialplan application (`Dial`, `Playback`, …): a static name, so
/// counting a step allocates nothing.
#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
pub struct AppLabel {
    pub application: &'static str,
}

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
            drive(call, events, Out::Stream(tx), steps, db),
            span,
        ));
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    type ExecuteLaneStream = ReceiverStream<Result<LaneStep, Status>>;

    async fn execute_lane(
        &self,
        req: Request<Streaming<LaneEvent>>,
    ) -> Result<Response<Self::ExecuteLaneStream>, Status> {
        let inbound = req.into_inner();
        Ok(Response::new(crate::lanes::serve(
            self.0.clone(),
            self.1.clone(),
            inbound,
            self.2 .0,
        )))
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

/// The gRPC service to mount on a tonic server.
pub fn service(router: Arc<Router>) -> router_server::RouterServer<RouterService> {
    service_with_metrics(router, StepMetrics::default())
}

/// The service, counting steps into `steps` (registered on an admin registry).
pub fn service_with_metrics(
    router: Arc<Router>,
    steps: StepMetrics,
) -> router_server::RouterServer<RouterService> {
    router_server::RouterServer::new(RouterService(router, steps, LaneLimit::default()))
}
