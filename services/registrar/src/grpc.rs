//! The tonic face of the registrar: decode, call [`crate::register`], map
//! store errors to `UNAVAILABLE` (the edge answers 503 + Retry-After).

use crate::register::Registrar;
use crate::store::{CallSlot, StoreError};
use asterism_proto::registrar::registrar_server::Registrar as RegistrarRpc;
use asterism_proto::registrar::*;
use asterism_telemetry::propagation::continue_trace;
use std::sync::Arc;
use tonic::{Request, Response, Status};
use tracing::Instrument;

pub struct RegistrarService(pub Arc<Registrar>);

impl From<StoreError> for Status {
    fn from(e: StoreError) -> Status {
        match e {
            StoreError::Unavailable(m) => Status::unavailable(m),
            StoreError::Corrupt(m) | StoreError::Config(m) => Status::internal(m),
        }
    }
}

#[tonic::async_trait]
impl RegistrarRpc for RegistrarService {
    async fn register(
        &self,
        req: Request<RegisterRequest>,
    ) -> Result<Response<RegisterResponse>, Status> {
        let span = traced(
            "Register",
            &req,
            || tracing::info_span!("registrar.register", aor = %req.get_ref().aor),
        );
        Ok(Response::new(
            self.0.register(req.get_ref()).instrument(span).await?,
        ))
    }

    type RegisterStreamStream =
        tokio_stream::wrappers::ReceiverStream<Result<RegisterResult, Status>>;

    async fn register_stream(
        &self,
        req: Request<tonic::Streaming<RegisterCall>>,
    ) -> Result<Response<Self::RegisterStreamStream>, Status> {
        Ok(Response::new(crate::stream::serve(
            self.0.clone(),
            req.into_inner(),
        )))
    }

    async fn authenticate(
        &self,
        req: Request<AuthenticateRequest>,
    ) -> Result<Response<AuthenticateResponse>, Status> {
        let span = traced(
            "Authenticate",
            &req,
            || tracing::info_span!("registrar.authenticate", user = %req.get_ref().from_user),
        );
        Ok(Response::new(
            self.0.authenticate(req.get_ref()).instrument(span).await?,
        ))
    }

    async fn lookup(
        &self,
        req: Request<LookupRequest>,
    ) -> Result<Response<LookupResponse>, Status> {
        let span = traced(
            "Lookup",
            &req,
            || tracing::info_span!("registrar.lookup", aor = %req.get_ref().aor),
        );
        Ok(Response::new(
            self.0.lookup(&req.get_ref().aor).instrument(span).await?,
        ))
    }

    async fn sign(&self, req: Request<SignRequest>) -> Result<Response<SignResponse>, Status> {
        let r = req.get_ref();
        let signed = if r.registration.is_empty() {
            let peer = self
                .0
                .auth
                .directory
                .get(&r.peer)
                .ok_or_else(|| Status::not_found(format!("no peer {}", r.peer)))?;
            crate::trunks::sign(peer, &r.method, &r.uri, &r.challenge)
        } else {
            self.0
                .sign_registration(&r.registration, &r.method, &r.uri, &r.challenge)
        };
        match signed {
            Ok(authorization) => Ok(Response::new(SignResponse { authorization })),
            Err(e) => {
                tracing::warn!(peer = %r.peer, error = ?e, "cannot answer the trunk's challenge");
                Err(Status::failed_precondition(format!("{e:?}")))
            }
        }
    }

    async fn trunks(
        &self,
        _req: Request<TrunksRequest>,
    ) -> Result<Response<TrunksResponse>, Status> {
        let trunks = self
            .0
            .auth
            .directory
            .trunks()
            .into_iter()
            .filter_map(|u| Some(crate::trunks::pb(u, u.trunk.as_ref()?)))
            .collect();
        Ok(Response::new(TrunksResponse { trunks }))
    }

    async fn registrations(
        &self,
        req: Request<RegistrationsRequest>,
    ) -> Result<Response<RegistrationsResponse>, Status> {
        let r = req.get_ref();
        if r.edge_id.is_empty() {
            return Err(Status::invalid_argument("edge_id is empty"));
        }
        Ok(Response::new(
            self.0.registrations(&r.edge_id, r.lease_secs).await?,
        ))
    }

    async fn edge_alive(
        &self,
        req: Request<EdgeAliveRequest>,
    ) -> Result<Response<EdgeAliveResponse>, Status> {
        let r = req.get_ref();
        if r.edge_id.is_empty() {
            return Err(Status::invalid_argument("edge_id is empty"));
        }
        let ttl = u64::from(r.ttl_secs.clamp(1, 300));
        self.0
            .store
            .edge_alive(&r.edge_id, &r.sip_addr, ttl)
            .await?;
        Ok(Response::new(EdgeAliveResponse {}))
    }

    async fn acquire_call(
        &self,
        req: Request<AcquireCallRequest>,
    ) -> Result<Response<AcquireCallResponse>, Status> {
        let r = req.get_ref();
        if r.user.is_empty() || r.call_id.is_empty() || r.edge_id.contains(' ') {
            return Err(Status::invalid_argument(
                "user, call_id and a space-free edge_id",
            ));
        }
        let slot = CallSlot {
            edge_id: r.edge_id.clone(),
            call_id: r.call_id.clone(),
        };
        let now = crate::clock::now_ms();
        let (granted, calls) = match self
            .0
            .store
            .acquire_call(&r.user, &slot, r.limit, now)
            .await?
        {
            Ok(n) => (true, n),
            Err(n) => (false, n),
        };
        Ok(Response::new(AcquireCallResponse { granted, calls }))
    }

    async fn release_call(
        &self,
        req: Request<ReleaseCallRequest>,
    ) -> Result<Response<ReleaseCallResponse>, Status> {
        let r = req.get_ref();
        let slot = CallSlot {
            edge_id: r.edge_id.clone(),
            call_id: r.call_id.clone(),
        };
        self.0.store.release_call(&r.user, &slot).await?;
        Ok(Response::new(ReleaseCallResponse {}))
    }

    async fn set_mailbox(
        &self,
        req: Request<SetMailboxRequest>,
    ) -> Result<Response<SetMailboxResponse>, Status> {
        let m = req.into_inner().mailbox.unwrap_or_default();
        let version = crate::mwi::set(self.0.store.as_ref(), &m).await?;
        Ok(Response::new(SetMailboxResponse { version }))
    }

    async fn mailboxes(
        &self,
        req: Request<MailboxesRequest>,
    ) -> Result<Response<MailboxesResponse>, Status> {
        let r = req.get_ref();
        let wait = std::time::Duration::from_millis(u64::from(r.wait_ms));
        Ok(Response::new(
            crate::mwi::mailboxes(self.0.store.as_ref(), r.after, wait).await?,
        ))
    }

    async fn list_bindings(
        &self,
        _req: Request<ListBindingsRequest>,
    ) -> Result<Response<ListBindingsResponse>, Status> {
        let aors = self
            .0
            .store
            .list(crate::clock::now_ms())
            .await?
            .into_iter()
            .map(|(aor, bindings)| AorBindings { aor, bindings })
            .collect();
        Ok(Response::new(ListBindingsResponse { aors }))
    }
}

/// `span`, continuing the caller's trace (set before the span is entered).
/// The SERVER span of `method` (continuing the caller's trace) and, inside
/// it, the registrar's own span `make` builds.
fn traced<T>(
    method: &str,
    req: &Request<T>,
    make: impl FnOnce() -> tracing::Span,
) -> tracing::Span {
    let server = asterism_telemetry::rpc::server_span("asterism.registrar.v1.Registrar", method);
    continue_trace(&server, req.metadata());
    server.in_scope(make)
}
