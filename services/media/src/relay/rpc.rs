//! The relay RPCs (`OpenRelay`, `UpdateRelay`, `PlayOnRelay`): SDP in, a
//! relay task ([`super::start`]) and SDP out.

use super::leg::{callee_codecs, Leg};
use super::{Handover, LegPlay, Origin, Start, CALLEE, CALLER};
use crate::grpc::{new_id, sdp_status, MediaService};
use crate::play::Stream;
use crate::sdp;
use crate::session::Command;
use asterism_proto::media::{
    OpenRelayRequest, OpenRelayResponse, RelayLeg, RelayPlayRequest, RelayPlayResponse,
    UpdateRelayRequest, UpdateRelayResponse,
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
        let origin = Origin {
            session: rand::random::<u32>().into(),
            addr: self.our_addr(&r.reached_at),
        };
        // What can fail is done before a session's caller is taken over.
        let callee_allowed = sdp::allowed(&r.callee_codecs);
        if callee_allowed.as_ref().is_some_and(|a| a.is_empty()) {
            return Err(sdp_status(sdp::SdpError::NoCommonCodec));
        }
        let io_b = self.bind().await?;
        let caller = self.caller_side(&r, origin).await?;
        let first = caller.leg.send;
        let callee = Leg::offered(
            callee_codecs(first.0, callee_allowed.as_deref()),
            caller.leg.dtmf_pt.is_some() && !r.callee_no_rfc2833,
            caller.leg.cn_pt.is_some(),
        )
        .ok_or_else(|| sdp_status(sdp::SdpError::NoCommonCodec))?;
        let caller_answer = caller.leg.describe(
            caller.sdp_session,
            caller.version,
            origin.addr,
            caller.io.port,
        );
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
        let callee = Start {
            io: io_b,
            leg: callee,
            stream: Stream::default(),
            sdp_session: origin.session,
            version: 1,
            hold_music: r.callee_hold_music.clone(),
        };
        let id = new_id();
        let codec = first.0.name().to_owned();
        span.record("codec", codec.as_str());
        self.metrics.session_opened();
        let end = self.on_end(&id);
        let ports = (caller.io.port, callee.io.port);
        let handle = super::start(
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

    /// The caller's side: taken over from `from_session`, or new from
    /// the caller's offer.
    async fn caller_side(&self, r: &OpenRelayRequest, origin: Origin) -> Result<Start, Status> {
        if !r.from_session.is_empty() {
            let h: Handover = self
                .ask(&r.from_session, |reply| Command::Handover { reply })
                .await?;
            return Ok(Start {
                io: h.io,
                leg: h.leg,
                stream: h.stream,
                sdp_session: h.sdp_session,
                version: h.version,
                hold_music: r.caller_hold_music.clone(),
            });
        }
        let mut offer = sdp::parse_media(&r.caller_offer).map_err(sdp_status)?;
        let first = sdp::choose(&offer, sdp::allowed(&r.caller_codecs).as_deref())
            .ok_or_else(|| sdp_status(sdp::SdpError::NoCommonCodec))?;
        if r.caller_no_rfc2833 {
            offer.dtmf_pt = None;
        }
        Ok(Start {
            io: self.bind().await?,
            leg: Leg::from_sdp(&offer, first),
            stream: Stream::default(),
            sdp_session: origin.session,
            version: 1,
            hold_music: r.caller_hold_music.clone(),
        })
    }

    pub(crate) async fn play_on_relay_leg(
        &self,
        r: RelayPlayRequest,
    ) -> Result<Response<RelayPlayResponse>, Status> {
        let leg = leg_index(r.leg)?;
        let (progress, mut over) = tokio::sync::mpsc::channel(8);
        let what = if r.stop {
            LegPlay::Stop
        } else if !r.files.is_empty() {
            LegPlay::Prompts {
                files: r.files,
                language: r.language,
                progress,
            }
        } else {
            LegPlay::Music(r.music_class)
        };
        let seq = r.seq;
        let playing = self
            .ask(&r.session_id, |reply| Command::PlayLeg {
                leg,
                what,
                seq,
                reply,
            })
            .await?;
        // The prompts' player holds the sender: closed when they are over.
        if r.wait {
            while over.recv().await.is_some() {}
        }
        Ok(Response::new(RelayPlayResponse { playing }))
    }

    pub(crate) async fn swap_relay_legs(&self, id: &str) -> Result<(), Status> {
        match self.ask(id, |reply| Command::Swap { reply }).await? {
            true => Ok(()),
            false => Err(Status::failed_precondition("not a relay session")),
        }
    }

    /// Send session `id` the command `make` builds around a reply
    /// channel; the reply.
    async fn ask<T>(
        &self,
        id: &str,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, Status> {
        let commands = self.command(id)?;
        let (tx, rx) = oneshot::channel();
        let gone = || Status::not_found("session closed");
        commands.send(make(tx)).await.map_err(|_| gone())?;
        rx.await.map_err(|_| gone())
    }

    pub(crate) async fn update_relay_leg(
        &self,
        r: UpdateRelayRequest,
    ) -> Result<Response<UpdateRelayResponse>, Status> {
        let leg = leg_index(r.leg)?;
        let sdp = sdp::parse_media(&r.sdp).map_err(sdp_status)?;
        let offer = r.offer;
        let update = |reply| Command::Update {
            leg,
            sdp,
            offer,
            reply,
        };
        match self.ask(&r.session_id, update).await? {
            Ok(sdp_answer) => Ok(Response::new(UpdateRelayResponse { sdp_answer })),
            Err(e) => Err(Status::failed_precondition(e)),
        }
    }
}

fn leg_index(leg: i32) -> Result<usize, Status> {
    match RelayLeg::try_from(leg) {
        Ok(RelayLeg::Caller) => Ok(CALLER),
        Ok(RelayLeg::Callee) => Ok(CALLEE),
        _ => Err(Status::invalid_argument("leg must be CALLER or CALLEE")),
    }
}
