//! The tonic face of the media service: sessions by id, each a task
//! ([`crate::session`]); Open answers the SDP offer (no common codec →
//! FAILED_PRECONDITION, which the edge turns into 488).

use crate::ports::Ports;
use crate::relay;
use crate::sdp::{self, SdpError};
use crate::session::{self, Command, EchoEnd, Event, Handle, Progress, Settings};
use asterism_proto::media::media_server::{Media, MediaServer};
use asterism_proto::media::*;
use std::collections::HashMap;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status};

type Sessions = Arc<Mutex<HashMap<String, Handle>>>;

pub struct MediaService {
    sessions: Sessions,
    ports: Ports,
    settings: Arc<Settings>,
    advertise: Option<IpAddr>,
    pub metrics: crate::metrics::MediaMetrics,
    capacity: u32,
    /// Set on SIGTERM: Load says draining, Open refuses.
    pub draining: Arc<std::sync::atomic::AtomicBool>,
}

impl MediaService {
    pub fn new(ports: Ports, settings: Settings, advertise: Option<IpAddr>, capacity: u32) -> Self {
        let metrics = crate::metrics::MediaMetrics::default();
        metrics.capacity.set(i64::from(capacity));
        let live = metrics.live();
        MediaService {
            sessions: Arc::default(),
            ports,
            settings: Arc::new(Settings { live, ..settings }),
            advertise,
            metrics,
            capacity,
            draining: Arc::default(),
        }
    }

    /// Sessions alive now (for metrics and tests).
    pub fn session_count(&self) -> usize {
        self.sessions.lock().map(|m| m.len()).unwrap_or(0)
    }

    /// [`MediaService::session_count`] for whoever outlives a borrow (the
    /// admin port's `/drain`).
    pub fn session_counter(&self) -> impl Fn() -> usize + Send + Sync + 'static {
        let sessions = self.sessions.clone();
        move || sessions.lock().map(|m| m.len()).unwrap_or(0)
    }

    async fn open_session(
        &self,
        req: Request<OpenRequest>,
    ) -> Result<Response<OpenResponse>, Status> {
        let session_span = tracing::info_span!(
            "media.session",
            call_id = %req.get_ref().call_id,
            codec = tracing::field::Empty,
            packets_in = tracing::field::Empty,
            packets_out = tracing::field::Empty,
            lost = tracing::field::Empty,
            jitter_ms = tracing::field::Empty,
        );
        asterism_telemetry::propagation::continue_trace(&session_span, req.metadata());
        let r = req.into_inner();
        let prefs = sdp::allowed(&r.codecs);
        let offer = sdp::parse_offer_for(&r.sdp_offer, prefs.as_deref(), !r.no_rfc2833)
            .map_err(sdp_status)?;
        let io = self.bind().await?;
        let addr = self.our_addr(&r.reached_at);
        let id = new_id();
        let origin: u64 = rand::random::<u32>().into();
        let answer = sdp::answer(origin, addr, io.port, &offer);
        let codec = offer.codec.name().to_owned();
        let sessions = self.sessions.clone();
        let gone = id.clone();
        let metrics = self.metrics.clone();
        self.metrics.session_opened();
        session_span.record("codec", codec.as_str());
        let handle = session::start(
            io.rtp,
            io.rtcp,
            offer,
            origin,
            self.settings.clone(),
            session_span,
            move |st: &session::stats::Stats| {
                metrics.session_ended(st);
                if let Ok(mut m) = sessions.lock() {
                    m.remove(&gone);
                }
            },
        );
        self.keep(&id, handle);
        tracing::debug!(session = %id, %codec, port = io.port, "media session opened");
        Ok(Response::new(OpenResponse {
            session_id: id,
            sdp_answer: answer,
            codec,
        }))
    }

    /// A port pair from the range.
    pub(crate) async fn bind(&self) -> Result<relay::Sockets, Status> {
        let (rtp, rtcp) = self
            .ports
            .bind()
            .await
            .map_err(|e| Status::resource_exhausted(e.to_string()))?;
        let port = rtp
            .local_addr()
            .map_err(|e| Status::internal(e.to_string()))?
            .port();
        Ok(relay::Sockets { rtp, rtcp, port })
    }

    /// The address our SDP names: the advertised one, else where the
    /// phone reached the edge.
    pub(crate) fn our_addr(&self, reached_at: &str) -> IpAddr {
        let hint = reached_at.parse::<IpAddr>().ok().or_else(|| {
            reached_at
                .rsplit_once(':')
                .and_then(|(h, _)| h.trim_matches(['[', ']']).parse().ok())
        });
        self.advertise
            .or(hint)
            .unwrap_or(IpAddr::from([127, 0, 0, 1]))
    }

    pub(crate) fn settings(&self) -> Arc<Settings> {
        self.settings.clone()
    }

    pub(crate) fn keep(&self, id: &str, handle: Handle) {
        if let Ok(mut m) = self.sessions.lock() {
            m.insert(id.to_owned(), handle);
        }
    }

    /// What a session ending must do: metrics, and out of the table.
    pub(crate) fn on_end(&self, id: &str) -> impl FnOnce(&session::stats::Stats) + Send + 'static {
        let (sessions, gone, metrics) =
            (self.sessions.clone(), id.to_owned(), self.metrics.clone());
        move |st| {
            metrics.session_ended(st);
            if let Ok(mut m) = sessions.lock() {
                m.remove(&gone);
            }
        }
    }

    pub(crate) fn command(&self, id: &str) -> Result<mpsc::Sender<Command>, Status> {
        self.sessions
            .lock()
            .map_err(|_| Status::internal("session table poisoned"))?
            .get(id)
            .map(|h| h.commands.clone())
            .ok_or_else(|| Status::not_found(format!("no media session {id}")))
    }
}

/// An unguessable session id: a session id is all a Play, Echo or Close names.
pub(crate) fn new_id() -> String {
    format!("m{:032x}", rand::random::<u128>())
}

/// An SDP we cannot serve: no common codec → FAILED_PRECONDITION (488),
/// anything else INVALID_ARGUMENT.
pub(crate) fn sdp_status(e: SdpError) -> Status {
    match e {
        SdpError::NoCommonCodec => Status::failed_precondition(e.to_string()),
        other => Status::invalid_argument(other.to_string()),
    }
}

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

#[tonic::async_trait]
impl Media for MediaService {
    async fn open(&self, req: Request<OpenRequest>) -> Result<Response<OpenResponse>, Status> {
        if self.draining.load(Ordering::Relaxed) {
            return Err(Status::unavailable("draining: no new sessions"));
        }
        let server = asterism_telemetry::rpc::server_span("asterism.media.v1.Media", "Open");
        asterism_telemetry::propagation::continue_trace(&server, req.metadata());
        let span =
            server.in_scope(|| tracing::info_span!("media.open", call_id = %req.get_ref().call_id));
        tracing::Instrument::instrument(self.open_session(req), span).await
    }

    type PlayStream = BoxStream<PlayProgress>;

    async fn play(&self, req: Request<PlayRequest>) -> Result<Response<Self::PlayStream>, Status> {
        let r = req.into_inner();
        let commands = self.command(&r.session_id)?;
        let (tx, rx) = mpsc::channel(16);
        commands
            .send(Command::Play {
                files: r.files,
                language: r.language,
                progress: tx,
            })
            .await
            .map_err(|_| Status::not_found("session closed"))?;
        let stream = ReceiverStream::new(rx).map(|p| {
            Ok(PlayProgress {
                event: Some(match p {
                    Progress::Started(f) => play_progress::Event::Started(f),
                    Progress::Finished(f) => play_progress::Event::Finished(f),
                    Progress::Missing(f) => play_progress::Event::Missing(f),
                }),
            })
        });
        Ok(Response::new(Box::pin(stream)))
    }

    async fn echo(&self, req: Request<EchoRequest>) -> Result<Response<EchoResult>, Status> {
        let commands = self.command(&req.get_ref().session_id)?;
        let (tx, rx) = oneshot::channel();
        commands
            .send(Command::Echo { done: tx })
            .await
            .map_err(|_| Status::not_found("session closed"))?;
        let end = rx.await.unwrap_or(EchoEnd::Closed);
        Ok(Response::new(match end {
            EchoEnd::Dtmf(d) => EchoResult {
                reason: asterism_proto::media::EchoEnd::Dtmf as i32,
                digit: d.to_string(),
            },
            EchoEnd::Closed => EchoResult {
                reason: asterism_proto::media::EchoEnd::Closed as i32,
                digit: String::new(),
            },
            EchoEnd::RtpTimeout => EchoResult {
                reason: asterism_proto::media::EchoEnd::RtpTimeout as i32,
                digit: String::new(),
            },
        }))
    }

    async fn load(&self, _req: Request<LoadRequest>) -> Result<Response<LoadResponse>, Status> {
        Ok(Response::new(LoadResponse {
            sessions: self.session_count() as u32,
            capacity: self.capacity,
            draining: self.draining.load(Ordering::Relaxed),
        }))
    }

    async fn close(&self, req: Request<CloseRequest>) -> Result<Response<CloseResponse>, Status> {
        let handle = self
            .sessions
            .lock()
            .ok()
            .and_then(|mut m| m.remove(&req.get_ref().session_id));
        if let Some(h) = handle {
            let _ = h.commands.send(Command::Close).await;
        }
        Ok(Response::new(CloseResponse {}))
    }

    async fn stats(&self, req: Request<StatsRequest>) -> Result<Response<SessionStats>, Status> {
        let m = self
            .sessions
            .lock()
            .map_err(|_| Status::internal("poisoned"))?;
        let h = m
            .get(&req.get_ref().session_id)
            .ok_or_else(|| Status::not_found("no such session"))?;
        let of = |s: &Arc<Mutex<session::stats::Stats>>| {
            let s = s.lock().map_err(|_| Status::internal("poisoned"))?.clone();
            Ok::<_, Status>(SessionStats {
                packets_in: s.packets_in,
                packets_out: s.packets_out,
                bytes_in: s.bytes_in,
                bytes_out: s.bytes_out,
                lost: s.lost,
                jitter_ms: s.jitter_ms(),
                codec: h.codec.name().to_owned(),
                callee: None,
            })
        };
        let mut stats = of(&h.stats)?;
        if let Some(c) = &h.callee {
            stats.callee = Some(Box::new(of(c)?));
        }
        Ok(Response::new(stats))
    }

    async fn open_relay(
        &self,
        req: Request<OpenRelayRequest>,
    ) -> Result<Response<OpenRelayResponse>, Status> {
        // A relay from a session already here is that call going on.
        if self.draining.load(Ordering::Relaxed) && req.get_ref().from_session.is_empty() {
            return Err(Status::unavailable("draining: no new sessions"));
        }
        let server = asterism_telemetry::rpc::server_span("asterism.media.v1.Media", "OpenRelay");
        asterism_telemetry::propagation::continue_trace(&server, req.metadata());
        let span = server
            .in_scope(|| tracing::info_span!("media.open_relay", call_id = %req.get_ref().call_id));
        tracing::Instrument::instrument(self.open_relay_session(req), span).await
    }

    async fn update_relay(
        &self,
        req: Request<UpdateRelayRequest>,
    ) -> Result<Response<UpdateRelayResponse>, Status> {
        self.update_relay_leg(req.into_inner()).await
    }

    async fn swap_legs(
        &self,
        req: Request<SwapLegsRequest>,
    ) -> Result<Response<SwapLegsResponse>, Status> {
        self.swap_relay_legs(&req.get_ref().session_id).await?;
        Ok(Response::new(SwapLegsResponse {}))
    }

    async fn play_on_relay(
        &self,
        req: Request<RelayPlayRequest>,
    ) -> Result<Response<RelayPlayResponse>, Status> {
        self.play_on_relay_leg(req.into_inner()).await
    }

    type EventsStream = BoxStream<MediaEvent>;

    async fn events(
        &self,
        req: Request<EventsRequest>,
    ) -> Result<Response<Self::EventsStream>, Status> {
        let mut sub = {
            let m = self
                .sessions
                .lock()
                .map_err(|_| Status::internal("poisoned"))?;
            m.get(&req.get_ref().session_id)
                .ok_or_else(|| Status::not_found("no such session"))?
                .events
                .subscribe()
        };
        let (tx, rx) = mpsc::channel(16);
        tokio::spawn(async move {
            while let Ok(e) = sub.recv().await {
                let (event, leg) = match e {
                    Event::Dtmf { digit, leg } => {
                        (media_event::Event::Dtmf(digit.to_string()), leg)
                    }
                    Event::RtpTimeout => (media_event::Event::RtpTimeout(true), relay::CALLER),
                };
                let leg = match leg {
                    relay::CALLEE => RelayLeg::Callee,
                    _ => RelayLeg::Caller,
                } as i32;
                if tx
                    .send(Ok(MediaEvent {
                        event: Some(event),
                        leg,
                    }))
                    .await
                    .is_err()
                {
                    break;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}

pub fn service(s: MediaService) -> MediaServer<MediaService> {
    MediaServer::new(s)
}
