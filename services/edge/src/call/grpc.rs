//! The [`Backends`] the edge really uses: the registrar, router and media
//! services over gRPC, through the edge's balanced channels. Failures are
//! logged here, with the detail the call machine does not need.

use super::backends::*;
use crate::Ctx;
use asterism_proto::common::Transport as PbTransport;
use asterism_proto::media::{play_progress, CloseRequest, EchoRequest, PlayRequest};
use asterism_proto::registrar::{
    AcquireCallRequest, AuthFailure, Binding, LookupRequest, Outcome, RegisterRequest,
    RegisterResponse, ReleaseCallRequest, SignRequest,
};
use asterism_proto::router::CallStart;
use asterism_sip::transport::Flow;
use asterism_sip::transport::Kind;
use futures::StreamExt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

pub struct GrpcBackends(pub Arc<Ctx>);

/// One gRPC request with the edge's deadline, tried again on another
/// replica when the first never answered.
macro_rules! rpc {
    ($ctx:expr, $client:ident, $method:ident, $req:expr) => {{
        let ctx = $ctx.clone();
        let req = $req;
        let attempt = || {
            let mut client = ctx.$client.clone();
            let mut r = tonic::Request::new(req.clone());
            r.set_timeout(ctx.cfg.rpc_timeout);
            async move { client.$method(r).await.map(tonic::Response::into_inner) }
        };
        let method = asterism_telemetry::rpc::method_name(stringify!($method));
        attempted(&ctx, rpc_service(stringify!($client)), &method, attempt).await
    }};
}

/// `attempt` until a replica answers or the edge's deadline passes, in a
/// CLIENT span and counted in the gRPC latency histogram.
async fn attempted<T, F, Fut>(
    ctx: &Ctx,
    service: &'static str,
    method: &str,
    attempt: F,
) -> Result<T, tonic::Status>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, tonic::Status>>,
{
    let span = asterism_telemetry::rpc::client_span(service, method);
    let started = std::time::Instant::now();
    let answer = tracing::Instrument::instrument(
        crate::retry::until_answered(ctx.cfg.rpc_timeout, attempt),
        span,
    )
    .await;
    timed(ctx, service, method, started, answer.as_ref().err());
    answer
}

/// Count a gRPC request's time in `asterism_edge_grpc_client_duration_seconds`.
pub(super) fn timed(
    ctx: &Ctx,
    service: &str,
    method: &str,
    started: std::time::Instant,
    failed: Option<&tonic::Status>,
) {
    let short = service.rsplit('.').next().unwrap_or(service);
    let code = failed.map_or(tonic::Code::Ok, tonic::Status::code);
    ctx.metrics.latency.rpc_done(
        crate::metrics::rpc_method_label(short, method),
        code,
        started,
    );
}

/// The gRPC service a backend client calls.
fn rpc_service(client: &str) -> &'static str {
    match client {
        "registrar" => "asterism.registrar.v1.Registrar",
        "router" => "asterism.router.v1.Router",
        _ => "asterism.media.v1.Media",
    }
}

impl Backends for GrpcBackends {
    fn register(&self, req: RegisterRequest) -> BoxFuture<Result<RegisterResponse, BackendError>> {
        let ctx = self.0.clone();
        Box::pin(async move {
            // On the lanes (crate::lanes), timed and traced as the unary call.
            let timeout = ctx.cfg.rpc_timeout;
            let attempt = || ctx.registrar_lanes.register(req.clone(), timeout);
            let answer = attempted(&ctx, rpc_service("registrar"), "Register", attempt).await;
            answer.map_err(|status| {
                tracing::warn!(code = ?status.code(), message = status.message(), "registrar failed");
                BackendError::Unavailable
            })
        })
    }

    fn authenticate(&self, ask: AuthAsk) -> BoxFuture<Result<AuthAnswer, BackendError>> {
        let ctx = self.0.clone();
        Box::pin(async move {
            let mut req = ask.request;
            req.flow = Some(ctx.pb_flow(ask.flow));
            // On the lanes (crate::lanes), timed and traced as the unary call.
            let timeout = ctx.cfg.rpc_timeout;
            let attempt = || ctx.registrar_lanes.authenticate(req.clone(), timeout);
            let answer = match attempted(&ctx, rpc_service("registrar"), "Authenticate", attempt)
                .await
            {
                Ok(a) => a,
                Err(status) => {
                    tracing::warn!(code = ?status.code(), "registrar failed during INVITE authentication");
                    return Err(BackendError::Unavailable);
                }
            };
            let failure = AuthFailure::try_from(answer.failure).unwrap_or(AuthFailure::None);
            if failure != AuthFailure::None || answer.ban_secs > 0 {
                let account = req.credentials.as_ref().map(|c| c.username.as_str());
                let account = account.unwrap_or(&req.from_user);
                ctx.auth_failed(
                    crate::security::Attempt::Invite,
                    failure,
                    &ask.from,
                    account,
                    &ask.flow,
                    &req.call_id,
                    answer.ban_secs,
                );
            }
            Ok(
                match Outcome::try_from(answer.outcome).unwrap_or(Outcome::Unspecified) {
                    Outcome::Ok => {
                        let Some(user) = answer.user else {
                            return Err(BackendError::Failed("no user in the answer".into()));
                        };
                        // A guest (allowguest=yes) proved nothing about its connection.
                        if !user.guest {
                            ctx.transport.authenticated(&ask.flow);
                        }
                        AuthAnswer::Ok(Box::new(user))
                    }
                    Outcome::Challenge => AuthAnswer::Challenge(
                        answer
                            .challenge
                            .map(|ch| crate::register::challenge_text(&ch))
                            .unwrap_or_default(),
                    ),
                    _ => AuthAnswer::Refused,
                },
            )
        })
    }

    fn acquire_slot(
        &self,
        user: &str,
        limit: u32,
        call_id: &str,
    ) -> BoxFuture<Result<Slot, SlotRefused>> {
        let (ctx, user, call_id) = (self.0.clone(), user.to_owned(), call_id.to_owned());
        Box::pin(async move { acquire(&ctx, &user, limit, &call_id).await })
    }

    fn resolve(&self, targets: Vec<String>, call_id: &str) -> BoxFuture<Vec<Resolved>> {
        let (ctx, call_id) = (self.0.clone(), call_id.to_owned());
        Box::pin(async move {
            let mut out = Vec::new();
            for target in targets {
                let req = LookupRequest {
                    aor: target.clone(),
                };
                let timeout = ctx.cfg.rpc_timeout;
                let attempt = || ctx.registrar_lanes.lookup(req.clone(), timeout);
                let lookup = attempted(&ctx, rpc_service("registrar"), "Lookup", attempt).await;
                let (user, bindings, trunk) = match lookup {
                    Ok(r) => (r.user, r.bindings, r.trunk),
                    Err(status) => {
                        tracing::warn!(code = ?status.code(), aor = %target, "registrar lookup failed");
                        (None, Vec::new(), None)
                    }
                };
                let mut contacts: Vec<Contact> = bindings
                    .iter()
                    .filter_map(|b| contact(&ctx, &target, b))
                    .collect();
                // qualify= says it does not answer: CHANUNAVAIL at once.
                if ctx.peers.unreachable(&target) {
                    tracing::info!(peer = %target, "trunk UNREACHABLE: not dialled");
                } else {
                    contacts.extend(trunk.as_ref().and_then(trunk_contact));
                }
                let trunk = trunk.map(|t| TrunkFrom {
                    fromuser: t.fromuser,
                    fromdomain: t.fromdomain,
                    can_sign: t.can_sign,
                });
                let anchor = user.as_ref().is_some_and(|u| u.anchor_media);
                let prefs = user.as_ref().map(MediaPrefs::of).unwrap_or_default();
                let limit = user.as_ref().map(|u| u.call_limit).unwrap_or(0);
                let mut slot = None;
                if limit > 0 && !contacts.is_empty() {
                    match acquire(&ctx, &target, limit, &call_id).await {
                        Ok(s) => slot = Some(s),
                        // Asterisk does not ring a peer at its call-limit.
                        Err(_) => continue,
                    }
                }
                out.push(Resolved {
                    target,
                    contacts,
                    anchor,
                    prefs,
                    trunk,
                    slot,
                    user,
                });
            }
            out
        })
    }

    fn sign(
        &self,
        peer: &str,
        method: &str,
        uri: &str,
        challenge: &str,
    ) -> BoxFuture<Result<String, BackendError>> {
        let ctx = self.0.clone();
        let req = SignRequest {
            peer: peer.to_owned(),
            method: method.to_owned(),
            uri: uri.to_owned(),
            challenge: challenge.to_owned(),
            registration: String::new(),
        };
        Box::pin(async move {
            match rpc!(ctx, registrar, sign, req) {
                Ok(r) => Ok(r.authorization),
                Err(s) if s.code() == tonic::Code::Unavailable => Err(BackendError::Unavailable),
                Err(s) => Err(BackendError::Failed(s.message().to_owned())),
            }
        })
    }

    fn execute(&self, start: CallStart) -> BoxFuture<Result<Dialplan, BackendError>> {
        let ctx = self.0.clone();
        Box::pin(async move {
            // On the lanes (crate::router_lanes); a lane that breaks
            // before the router took the call is left for another.
            let attempt = || ctx.router_lanes.open(&start);
            let span = asterism_telemetry::rpc::client_span("asterism.router.v1.Router", "Execute");
            let started = std::time::Instant::now();
            let opened = tracing::Instrument::instrument(
                crate::retry::until_answered(ctx.cfg.rpc_timeout, attempt),
                span,
            )
            .await;
            let router = "asterism.router.v1.Router";
            timed(&ctx, router, "Execute", started, opened.as_ref().err());
            match opened {
                Ok(plan) => Ok(plan),
                Err(status) => {
                    tracing::warn!(code = ?status.code(), "router unavailable");
                    Err(BackendError::Unavailable)
                }
            }
        })
    }

    fn open_media(&self, ask: MediaAsk) -> BoxFuture<Result<(MediaSession, String), BackendError>> {
        Box::pin(super::media_rpc::open(self.0.clone(), ask))
    }

    fn open_relay(
        &self,
        ask: MediaAsk,
    ) -> BoxFuture<Result<(MediaSession, RelaySdp), BackendError>> {
        Box::pin(super::media_rpc::open_relay(self.0.clone(), ask))
    }

    fn update_relay(
        &self,
        s: &MediaSession,
        side: super::bridge::Side,
        sdp: String,
        offer: bool,
    ) -> BoxFuture<Result<String, BackendError>> {
        let (ctx, s) = (self.0.clone(), s.clone());
        Box::pin(super::media_rpc::update_relay(ctx, s, side, sdp, offer))
    }

    fn relay_music(
        &self,
        s: &MediaSession,
        side: super::bridge::Side,
        class: Option<String>,
        seq: u64,
    ) -> BoxFuture<Result<bool, BackendError>> {
        let (ctx, s) = (self.0.clone(), s.clone());
        Box::pin(super::media_rpc::relay_music(ctx, s, side, class, seq))
    }

    fn swap_legs(&self, s: &MediaSession) -> BoxFuture<Result<(), BackendError>> {
        Box::pin(super::features_rpc::swap_legs(self.0.clone(), s.clone()))
    }

    fn dtmf(&self, s: &MediaSession) -> super::backends::BoxStream<(super::bridge::Side, char)> {
        super::features_rpc::dtmf(s)
    }

    fn match_extension(
        &self,
        context: &str,
        exten: &str,
        caller: &str,
    ) -> BoxFuture<Result<(bool, bool), BackendError>> {
        let (c, e, who) = (context.to_owned(), exten.to_owned(), caller.to_owned());
        Box::pin(super::features_rpc::match_extension(
            self.0.clone(),
            c,
            e,
            who,
        ))
    }

    fn relay_prompts(
        &self,
        s: &MediaSession,
        side: super::bridge::Side,
        files: Vec<String>,
        seq: u64,
        wait: bool,
    ) -> BoxFuture<Result<bool, BackendError>> {
        let (ctx, s) = (self.0.clone(), s.clone());
        Box::pin(super::media_rpc::relay_prompts(
            ctx, s, side, files, seq, wait,
        ))
    }

    fn play(&self, s: &MediaSession, files: Vec<String>) -> BoxFuture<Result<(), BackendError>> {
        let (session_id, instance) = (s.id.clone(), s.instance.clone());
        Box::pin(async move {
            let Some(instance) = instance else {
                return Err(BackendError::Failed("no media instance".into()));
            };
            let mut client = instance.client.clone();
            let req = PlayRequest {
                session_id,
                files,
                language: String::new(),
            };
            let mut progress = client
                .play(req)
                .await
                .map_err(|e| BackendError::Failed(e.message().to_owned()))?
                .into_inner();
            while let Some(p) = progress.next().await {
                match p {
                    Ok(p) => {
                        if let Some(play_progress::Event::Missing(f)) = p.event {
                            tracing::warn!(file = %f, "Playback: file does not exist");
                        }
                    }
                    Err(e) => return Err(BackendError::Failed(e.message().to_owned())),
                }
            }
            Ok(())
        })
    }

    fn echo(&self, s: &MediaSession) -> BoxFuture<Result<EchoEnd, BackendError>> {
        let (session_id, instance) = (s.id.clone(), s.instance.clone());
        Box::pin(async move {
            let Some(instance) = instance else {
                return Err(BackendError::Failed("no media instance".into()));
            };
            let mut client = instance.client.clone();
            let r = client
                .echo(EchoRequest { session_id })
                .await
                .map_err(|e| BackendError::Failed(e.message().to_owned()))?
                .into_inner();
            use asterism_proto::media::EchoEnd as Pb;
            Ok(match Pb::try_from(r.reason).unwrap_or(Pb::Closed) {
                Pb::RtpTimeout => EchoEnd::RtpTimeout,
                _ if !r.digit.is_empty() => EchoEnd::Digit(r.digit),
                _ => EchoEnd::Closed,
            })
        })
    }

    fn media_lost(&self, s: &MediaSession) -> BoxFuture<()> {
        let instance = s.instance.clone();
        Box::pin(async move {
            match instance {
                Some(i) => i.until_lost().await,
                None => std::future::pending().await,
            }
        })
    }

    fn close_media(&self, s: MediaSession) -> BoxFuture<()> {
        Box::pin(async move {
            if let Some(i) = s.instance {
                let mut client = i.client.clone();
                let _ = client.close(CloseRequest { session_id: s.id }).await;
            }
        })
    }
}

/// Take a slot of `user`'s `limit`; its release is an RPC when dropped.
async fn acquire(
    ctx: &Arc<Ctx>,
    user: &str,
    limit: u32,
    call_id: &str,
) -> Result<Slot, SlotRefused> {
    let req = AcquireCallRequest {
        user: user.to_owned(),
        call_id: call_id.to_owned(),
        edge_id: ctx.cfg.edge_id.clone(),
        limit,
    };
    match rpc!(ctx, registrar, acquire_call, req) {
        Ok(a) if a.granted => {
            let release = ReleaseCallRequest {
                user: user.to_owned(),
                call_id: call_id.to_owned(),
                edge_id: ctx.cfg.edge_id.clone(),
            };
            let ctx = ctx.clone();
            Ok(Slot::new(move || {
                tokio::spawn(async move {
                    if let Err(status) = rpc!(ctx, registrar, release_call, release.clone()) {
                        // Freed anyway once this edge stops reporting
                        // alive, or at the lease's end.
                        tracing::warn!(code = ?status.code(), user = %release.user, "call-limit slot not released");
                    }
                });
            }))
        }
        Ok(a) => {
            tracing::info!(%user, limit, calls = a.calls, "call rejected due to call-limit");
            Err(SlotRefused::Full)
        }
        Err(status) => {
            tracing::warn!(code = ?status.code(), %user, "registrar failed taking a call-limit slot");
            Err(SlotRefused::Backend(BackendError::Unavailable))
        }
    }
}

/// Where to send a B leg's INVITE for binding `b`: the phone, or — when
/// another edge holds its flow — that edge, with a signed Route to it.
fn contact(ctx: &Ctx, aor: &str, b: &Binding) -> Option<Contact> {
    // This edge is alive whatever its last heartbeat said (the first
    // may not have reached the registrar yet).
    let ours = b
        .flow
        .as_ref()
        .is_some_and(|f| f.edge_id == ctx.cfg.edge_id);
    if b.edge_gone && !ours {
        tracing::info!(%aor, contact = %b.contact, "not dialled: the edge holding its flow is gone");
        return None;
    }
    let phone = target_flow(b)?;
    let (flow, route) = match b.flow.as_ref() {
        Some(f) if !f.edge_id.is_empty() && !ours && !f.edge_sip_addr.is_empty() => {
            let Some(peer) = crate::relay::peer_flow(&f.edge_sip_addr) else {
                tracing::warn!(edge = %f.edge_sip_addr, "owning edge has no address literal");
                return None;
            };
            let route = crate::relay::route_via(ctx, &f.edge_sip_addr, &phone);
            (peer, Some(route))
        }
        _ => (phone, None),
    };
    Some(Contact {
        behind_nat: behind_nat(b),
        uri: b.contact.clone(),
        flow,
        route,
    })
}

/// Where a trunk is called: `sip:[defaultuser@]host:port`, sent to its
/// resolved address (or outbound proxy); none when its name did not resolve.
fn trunk_contact(t: &asterism_proto::registrar::Trunk) -> Option<Contact> {
    let Ok(to) = t.send_to.parse::<SocketAddr>() else {
        tracing::info!(host = %t.host, "trunk not called: its host did not resolve");
        return None;
    };
    let host = if t.host.contains(':') && !t.host.starts_with('[') {
        format!("[{}]", t.host)
    } else {
        t.host.clone()
    };
    let user = if t.defaultuser.is_empty() {
        String::new()
    } else {
        format!("{}@", t.defaultuser)
    };
    Some(Contact {
        uri: format!("sip:{user}{host}:{}", t.port),
        flow: Flow {
            kind: Kind::Udp,
            remote: to,
        },
        route: None,
        behind_nat: false,
    })
}

/// Whether the phone of binding `b` is behind NAT: its Contact names
/// another address than the one its REGISTER came from.
fn behind_nat(b: &Binding) -> bool {
    let Some(source) = b
        .flow
        .as_ref()
        .and_then(|f| f.source_ip.parse::<IpAddr>().ok())
    else {
        return false;
    };
    let Ok(uri) = asterism_sip::Uri::parse(&b.contact) else {
        return false;
    };
    let host = match &uri.host {
        asterism_sip::Host::Name(n) => n.parse::<IpAddr>().ok(),
        asterism_sip::Host::V6(a) => a.parse::<IpAddr>().ok(),
    };
    host != Some(source)
}

/// Where to send a callee's INVITE, as Asterisk's nat=auto_force_rport
/// does: over TCP, the phone's own connection; over UDP, the Contact when it
/// names the address the REGISTER came from (no NAT in between), else the
/// address the REGISTER came from (the NAT's pinhole).
pub(crate) fn target_flow(b: &Binding) -> Option<Flow> {
    let pb = b.flow.as_ref()?;
    let ip: IpAddr = pb.source_ip.parse().ok()?;
    let source = SocketAddr::new(ip, pb.source_port as u16);
    if pb.transport == PbTransport::Tcp as i32 {
        return Some(Flow {
            kind: Kind::Tcp,
            remote: source,
        });
    }
    let contact = asterism_sip::Uri::parse(&b.contact).ok();
    let direct = contact.and_then(|u| {
        let host = match &u.host {
            asterism_sip::Host::Name(n) => n.parse::<IpAddr>().ok()?,
            asterism_sip::Host::V6(a) => a.parse::<IpAddr>().ok()?,
        };
        (host == ip).then(|| SocketAddr::new(host, u.port.unwrap_or(5060)))
    });
    Some(Flow {
        kind: Kind::Udp,
        remote: direct.unwrap_or(source),
    })
}
