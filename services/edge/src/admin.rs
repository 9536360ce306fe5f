//! The edge's admin gRPC service (`asterism.edge.v1.EdgeAdmin`).

use crate::calls::CallRegistry;
use asterism_proto::edge::edge_admin_server::{EdgeAdmin, EdgeAdminServer};
use asterism_proto::edge::{ListCallsRequest, ListCallsResponse};
use tonic::{Request, Response, Status};

pub struct Admin(pub CallRegistry);

#[tonic::async_trait]
impl EdgeAdmin for Admin {
    async fn list_calls(
        &self,
        _r: Request<ListCallsRequest>,
    ) -> Result<Response<ListCallsResponse>, Status> {
        Ok(Response::new(ListCallsResponse {
            calls: self.0.list(),
        }))
    }
}

pub fn service(calls: CallRegistry) -> EdgeAdminServer<Admin> {
    EdgeAdminServer::new(Admin(calls))
}
