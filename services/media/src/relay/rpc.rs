//! The relay RPCs (`OpenRelay`, `UpdateRelay`): SDP in, a relay task
//! ([`super::start`]) and SDP out.

use super::leg::{callee_codecs, Leg};
use super::{Origin, CALLEE, CALLER};
use crate::grpc::{new_id, sdp_status, MediaService};
use crate::sdp;
use crate::session::Command;
use asterism_proto::media::{
    OpenRelayRequest, OpenRelayResponse, RelayLeg, UpdateRelayRequest, UpdateRelayResponse,
};
use tokio::sync::oneshot;
use tonic::{Response, Status};

impl MediaService {
    pub(crate) async fn open_relay_session(
        &self,
        req: tonic::Request<OpenRelayRequest>,
    ) -> Result<Response<OpenRelayResponse>, Status> {
        let span = tracing::info_span!(
            "media.session",
            call_id = %req.get_ref().call_id,
            relay = true,
            codec = tracing::field::Empty,
            packets_in = tracing::field::Empty,
            packets_out = tracing::field::Empty,
            lost = tracing::field::Empty,
            jitter_ms = tracing::field::Empty,
            caller_packets_in = tracing::field::Empty,
            callee_packets_in = tracing::field::Empty,
            caller_lost = tracing::field::Empty,
            callee_lost = tracing::field::Empty,
        );
        asterism_telemetry::propagation::continue_trace(&span, req.metadata());
        let r = req.into_inner();
        let mut offer = sdp::parse_media(&r.caller_offer).map_err(sdp_status)?;
        let first = sdp::choose(&offer, sdp::allowed(&r.caller_codecs).as_deref())
            .ok_or_else(|| sdp_status(sdp::SdpError::NoCommonCodec))?;
        if r.caller_no_rfc2833 {
            offer.dtmf_pt = None;
        }
        let caller = Leg::from_sdp(&offer, first);
        let callee_allowed = sdp::allowed(&r.callee_codecs);
        let callee = Leg::offered(
            callee_codecs(first.0, callee_allowed.as_deref()),
            offer.dtmf_pt.is_some() && !r.callee_no_rfc2833,
            offer.cn_pt.is_some(),
        )
        .ok_or_else(|| sdp_status(sdp::SdpError::NoCommonCodec))?;
        let (io_a, io_b) = (self.bind().await?, self.bind().await?);
        let origin = Origin {
            session: rand::random::<u32>().into(),
            addr: self.our_addr(&r.reached_at),
        };
        let caller_answer = caller.describe(origin.session, 1, origin.addr, io_a.port);
        let callee_offer = sdp::describe(&sdp::Describe {
            session: origin.session,
            version: 1,
            addr: origin.addr,
            port: io_b.port,
            codecs: &callee.codecs,
            dtmf_pt: callee.dtmf_pt,
            cn_pt: callee.cn_pt,
            direction: sdp::Direction::SendRecv,
        });
        let id = new_id();
        let codec = first.0.name().to_owned();
        span.record("codec", codec.as_str());
        self.metrics.session_opened();
        let end = self.on_end(&id);
        let ports = (io_a.port, io_b.port);
        let handle = super::start(
            [io_a, io_b],
            [caller, callee],
            origin,
            self.settings(),
            span,
            move |a, b| {
                let mut both = a.clone();
                both.lost += b.lost;
                end(&both)
            },
        );
        self.keep(&id, handle);
        tracing::debug!(session = %id, %codec, ?ports, "relay opened");
        Ok(Response::new(OpenRelayResponse {
            session_id: id,
            caller_answer,
            callee_offer,
            codec,
        }))
    }

    pub(crate) async fn update_relay_leg(
        &self,
        r: UpdateRelayRequest,
    ) -> Result<Response<UpdateRelayResponse>, Status> {
        let leg = match RelayLeg::try_from(r.leg) {
            Ok(RelayLeg::Caller) => CALLER,
            Ok(RelayLeg::Callee) => CALLEE,
            _ => return Err(Status::invalid_argument("leg must be CALLER or CALLEE")),
        };
        let sdp = sdp::parse_media(&r.sdp).map_err(sdp_status)?;
        let commands = self.command(&r.session_id)?;
        let (tx, rx) = oneshot::channel();
        let update = Command::Update {
            leg,
            sdp,
            offer: r.offer,
            reply: tx,
        };
        commands
            .send(update)
            .await
            .map_err(|_| Status::not_found("session closed"))?;
        match rx.await {
            Ok(Ok(sdp_answer)) => Ok(Response::new(UpdateRelayResponse { sdp_answer })),
            Ok(Err(e)) => Err(Status::failed_precondition(e)),
            Err(_) => Err(Status::not_found("session closed")),
        }
    }
}
