//! The edge's admin gRPC service (`asterism.edge.v1.EdgeAdmin`): the calls
//! in progress, the outbound registrations this edge holds and the
//! qualified trunks.

use crate::calls::CallRegistry;
use crate::outreg::Table;
use crate::qualify::Peers;
use asterism_proto::edge::edge_admin_server::{EdgeAdmin, EdgeAdminServer};
use asterism_proto::edge::{
    ListCallsRequest, ListCallsResponse, ListPeersRequest, ListPeersResponse,
    ListRegistrationsRequest, ListRegistrationsResponse, PeerInfo, RegistrationInfo,
};
use tonic::{Request, Response, Status};

pub struct Admin {
    calls: CallRegistry,
    outregs: Table,
    peers: Peers,
}

#[tonic::async_trait]
impl EdgeAdmin for Admin {
    async fn list_calls(
        &self,
        _r: Request<ListCallsRequest>,
    ) -> Result<Response<ListCallsResponse>, Status> {
        Ok(Response::new(ListCallsResponse {
            calls: self.calls.list(),
        }))
    }

    async fn list_registrations(
        &self,
        _r: Request<ListRegistrationsRequest>,
    ) -> Result<Response<ListRegistrationsResponse>, Status> {
        let registrations = self
            .outregs
            .list()
            .into_iter()
            .map(|(id, s)| RegistrationInfo {
                id,
                host: s.host,
                port: u32::from(s.port),
                user: s.user,
                state: s.state.as_str().to_owned(),
                expires: s.expires,
                registered: s.registered,
                last_code: u32::from(s.last_code),
                since: s
                    .since
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs() as i64),
            })
            .collect();
        Ok(Response::new(ListRegistrationsResponse { registrations }))
    }

    async fn list_peers(
        &self,
        _r: Request<ListPeersRequest>,
    ) -> Result<Response<ListPeersResponse>, Status> {
        let peers = self
            .peers
            .list()
            .into_iter()
            .map(|(name, p)| PeerInfo {
                name,
                host: p.host,
                port: u32::from(p.port),
                status: p.reach.text(),
                qualify_ms: p.qualify_ms,
            })
            .collect();
        Ok(Response::new(ListPeersResponse { peers }))
    }
}

pub fn service(calls: CallRegistry, outregs: Table, peers: Peers) -> EdgeAdminServer<Admin> {
    EdgeAdminServer::new(Admin {
        calls,
        outregs,
        peers,
    })
}
