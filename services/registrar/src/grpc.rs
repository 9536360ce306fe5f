//! The tonic face of the registrar: decode, call [`crate::register`], map
//! store errors to `UNAVAILABLE` (the edge answers 503 + Retry-After).

use crate::register::Registrar;
use crate::store::StoreError;
use asterism_proto::registrar::registrar_server::Registrar as RegistrarRpc;
use asterism_proto::registrar::*;
use std::sync::Arc;
use tonic::{Request, Response, Status};

pub struct RegistrarService(pub Arc<Registrar>);

impl From<StoreError> for Status {
    fn from(e: StoreError) -> Status {
        match e {
            StoreError::Unavailable(m) => Status::unavailable(m),
            StoreError::Corrupt(m) => Status::internal(m),
        }
    }
}

#[tonic::async_trait]
impl RegistrarRpc for RegistrarService {
    #[tracing::instrument(name = "registrar.register", skip_all, fields(aor = %req.get_ref().aor))]
    async fn register(
        &self,
        req: Request<RegisterRequest>,
    ) -> Result<Response<RegisterResponse>, Status> {
        Ok(Response::new(self.0.register(req.get_ref()).await?))
    }

    #[tracing::instrument(name = "registrar.authenticate", skip_all, fields(user = %req.get_ref().from_user))]
    async fn authenticate(
        &self,
        req: Request<AuthenticateRequest>,
    ) -> Result<Response<AuthenticateResponse>, Status> {
        Ok(Response::new(self.0.authenticate(req.get_ref()).await?))
    }

    #[tracing::instrument(name = "registrar.lookup", skip_all, fields(aor = %req.get_ref().aor))]
    async fn lookup(
        &self,
        req: Request<LookupRequest>,
    ) -> Result<Response<LookupResponse>, Status> {
        Ok(Response::new(self.0.lookup(&req.get_ref().aor).await?))
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
