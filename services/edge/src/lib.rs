//! The edge service: the only part of Asterism that speaks SIP. It owns the
//! transports and transactions ([`core`]), answers what it can itself
//! (OPTIONS, errors), and asks the registrar, router and media services over
//! gRPC for everything else: REGISTER ([`register`]) and the calls, one
//! state machine each ([`call`]).

pub mod admin;
pub mod alive;
pub mod call;
pub mod calls;
pub mod command;
pub mod config;
pub mod core;
pub mod dispatch;
pub mod lanes;
pub mod metrics;
pub mod mwi;
pub mod outreg;
pub mod pickups;
pub mod placement;
pub mod qualify;
pub mod readiness;
pub mod register;
pub mod relay;
pub mod reply;
pub mod retry;
pub mod router_lanes;
pub mod seal;
pub mod security;
#[cfg(test)]
mod test_gate;
pub mod trace;

use crate::config::EdgeConfig;
use asterism_proto::media::media_client::MediaClient;
use asterism_proto::registrar::registrar_client::RegistrarClient;
use asterism_proto::router::router_client::RouterClient;
use asterism_sip::transport::Transport;
use std::net::SocketAddr;
use std::sync::Arc;
use tonic::transport::{Channel, Endpoint};

/// A backend channel whose requests carry the current trace context.
pub type Rpc = tonic::service::interceptor::InterceptedService<
    Channel,
    asterism_telemetry::propagation::Inject,
>;

/// What request handlers share.
pub struct Ctx {
    pub cfg: EdgeConfig,
    pub registrar: RegistrarClient<Rpc>,
    /// REGISTERs on long-lived streams to the registrars.
    pub registrar_lanes: lanes::Lanes,
    pub router: RouterClient<Rpc>,
    /// Calls' dialplans on long-lived streams to the routers.
    pub router_lanes: router_lanes::RouterLanes,
    /// Media instances and their load (new sessions go to the least loaded).
    pub media: placement::Pool,
    /// host:port of this edge as others reach it.
    pub advertise: String,
    /// Bound to 0.0.0.0/:: with no ASTERISM_SIP_ADVERTISE.
    pub advertise_is_wildcard: bool,
    /// host:port other edges reach this one at (recorded in bindings).
    pub internal: String,
    /// The internal address is a listener of its own: only requests that
    /// came in on it are relayed towards phones.
    pub hop_listener: bool,
    /// Local addresses of our listeners (a relay never sends to itself).
    pub own_addrs: Vec<SocketAddr>,
    /// Signs and checks flow tokens and relay branches.
    pub seal: seal::Sealer,
    /// The public listener (to tell it a TCP connection authenticated).
    pub transport: Transport,
    /// Sources the registrars banned: dropped at the door until then.
    pub bans: security::Bans,
    /// Room for requests waiting on a backend (`ASTERISM_MAX_PENDING`):
    /// a flood of REGISTERs or INVITEs is shed with 503, not queued without end.
    pub pending: Arc<tokio::sync::Semaphore>,
    pub security: security::SecurityLog,
    pub calls: calls::CallRegistry,
    /// Calls whose Dial rings, for `Pickup()`.
    pub ringing: pickups::Ringing,
    pub metrics: metrics::EdgeMetrics,
    /// Challenged transactions' spans, for their retries to join.
    pub joins: asterism_telemetry::join::Joins,
    /// The `register =>` lines this edge keeps registered.
    pub outregs: outreg::Table,
    /// Trunks with `qualify=`, and whether they answer.
    pub peers: qualify::Peers,
    /// Every mailbox's message counts, as the registrars last said.
    pub mwi: tokio::sync::watch::Receiver<mwi::watch::Boxes>,
    /// Contacts with mailboxes registered here (unsolicited NOTIFYs).
    pub mwi_contacts: mwi::unsolicited::Table,
    /// Room for subscriptions ([`MAX_SUBSCRIPTIONS`]); none left: 503.
    pub subscriptions: Arc<tokio::sync::Semaphore>,
}

/// Subscriptions one edge serves at once.
pub const MAX_SUBSCRIPTIONS: usize = 10_000;

/// Every branch we generate starts so: a request that comes back through
/// this edge with it in a lower Via is a loop (482).
pub const LOOP_MARK: &str = asterism_sip::transaction::OUR_BRANCH_PREFIX;

impl Ctx {
    /// An authentication failure the registrar reported: logged as Asterisk
    /// would, counted, and the source remembered if it is now banned.
    #[allow(clippy::too_many_arguments)]
    pub fn auth_failed(
        &self,
        attempt: security::Attempt,
        failure: asterism_proto::registrar::AuthFailure,
        header: &str,
        account: &str,
        flow: &asterism_sip::transport::Flow,
        call_id: &str,
        ban_secs: u32,
    ) {
        use asterism_proto::registrar::AuthFailure;
        if failure != AuthFailure::None {
            self.metrics
                .auth_failures
                .get_or_create(&vec![("reason", security::reason_label(failure).into())])
                .inc();
        }
        let local = self.own_addrs[0];
        if let Some((level, text)) =
            security::line(attempt, failure, header, account, flow, &local, call_id)
        {
            self.security.write(level, &text);
        }
        if ban_secs > 0 {
            tracing::warn!(target: "security", source = %flow.remote.ip(), secs = ban_secs, "source banned: its requests are dropped");
            self.bans.ban(flow.remote.ip(), ban_secs);
            self.transport.close(flow);
        }
    }

    /// Whether `addr` is one of this edge's own listeners.
    pub fn is_own_address(&self, addr: &SocketAddr) -> bool {
        self.own_addrs.iter().any(|own| {
            own.port() == addr.port()
                && (own.ip() == addr.ip()
                    || (own.ip().is_unspecified()
                        && (addr.ip().is_loopback() || addr.ip().is_unspecified())))
        })
    }

    /// host:port for our Via and Contact: the advertised address, else the
    /// bound one, else (bound to a wildcard) the address the phone used to
    /// reach us in its Request-URI.
    pub fn sip_host(&self, request: &asterism_sip::Request) -> String {
        if !self.advertise_is_wildcard {
            return self.advertise.clone();
        }
        let port = self.cfg.sip_bind.port();
        match asterism_sip::Uri::parse(&request.uri) {
            Ok(u) => format!("{}:{}", u.host, u.port.unwrap_or(port)),
            Err(_) => self.advertise.clone(),
        }
    }
}

/// gRPC service names, as `grpc.health.v1` knows them.
pub const REGISTRAR: &str = "asterism.registrar.v1.Registrar";
pub const ROUTER: &str = "asterism.router.v1.Router";
pub const MEDIA: &str = "asterism.media.v1.Media";

/// The addresses of a backend setting: comma-separated replicas.
pub fn replicas(addrs: &str) -> Vec<String> {
    addrs
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(|a| {
            if a.contains("://") {
                a.to_owned()
            } else {
                format!("http://{a}")
            }
        })
        .collect()
}

/// A channel to a backend: one replica, or several balanced over the ones
/// whose `grpc.health.v1` says SERVING (checked every second, so a replica
/// that dies stops getting requests within about a second, and comes back
/// when it answers again).
fn channel(
    addrs: &str,
    timeout: std::time::Duration,
    service: &'static str,
) -> Result<Channel, EdgeError> {
    if asterism_telemetry::inproc::is_inproc(addrs) {
        // The all-in-one: a service in this very process.
        return asterism_telemetry::inproc::channel(addrs.trim()).ok_or_else(|| {
            EdgeError::Backend {
                addr: addrs.to_owned(),
                reason: "not an in-process address".into(),
            }
        });
    }
    let sources = replicas(addrs);
    if sources.iter().any(|s| s.starts_with(placement::DNS_SCHEME)) {
        // Replicas found by name (a headless Service): resolved again and again.
        let (channel, changes) = Channel::balance_channel(16);
        tokio::spawn(readiness::balance_resolving(
            sources, timeout, changes, service,
        ));
        return Ok(channel);
    }
    let endpoints = sources
        .into_iter()
        .map(|a| {
            Endpoint::from_shared(a.clone())
                .map(|e| e.connect_timeout(timeout).tcp_nodelay(true))
                .map_err(|e| EdgeError::Backend {
                    addr: a,
                    reason: e.to_string(),
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    match endpoints.as_slice() {
        [] => Err(EdgeError::Backend {
            addr: addrs.to_owned(),
            reason: "no address".into(),
        }),
        [one] => Ok(one.clone().connect_lazy()),
        _ => {
            let (channel, changes) = Channel::balance_channel(endpoints.len().max(4));
            tokio::spawn(readiness::balance(endpoints, changes, service));
            Ok(channel)
        }
    }
}

/// The internal address, when it is a socket of its own (an address
/// literal that the public listener does not already serve).
fn hop_listener_addr(cfg: &EdgeConfig, public: SocketAddr) -> Option<SocketAddr> {
    let addr: SocketAddr = cfg.sip_internal.as_deref()?.parse().ok()?;
    let shared =
        addr.port() == public.port() && (public.ip().is_unspecified() || public.ip() == addr.ip());
    (!shared).then_some(addr)
}

#[derive(Debug, thiserror::Error)]
pub enum EdgeError {
    #[error("cannot bind SIP on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("bad backend address {addr}: {reason}")]
    Backend { addr: String, reason: String },
    #[error("cannot open the security log {}: {source}", path.display())]
    SecurityLog {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

/// A bound edge, ready to run.
pub struct Edge {
    pub local_addr: SocketAddr,
    /// Active calls, for the admin service.
    pub calls: calls::CallRegistry,
    /// Outbound registrations, for the admin service.
    pub outregs: outreg::Table,
    /// Qualified trunks, for the admin service.
    pub peers: qualify::Peers,
    run: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
}

impl Edge {
    /// Bind the SIP transports and prepare the registrar channel (connected
    /// lazily, and re-connected by tonic whenever it drops).
    pub async fn bind(
        cfg: EdgeConfig,
        metrics: metrics::EdgeMetrics,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<Edge, EdgeError> {
        use asterism_telemetry::propagation::Inject;
        let registrar = RegistrarClient::with_interceptor(
            channel(&cfg.registrar_addr, cfg.rpc_timeout, REGISTRAR)?,
            Inject,
        );
        let router = RouterClient::with_interceptor(
            channel(&cfg.router_addr, cfg.rpc_timeout, ROUTER)?,
            Inject,
        );
        let timeout = cfg.rpc_timeout;
        let media = placement::Pool::new(Arc::new(move |a: &str| {
            channel(a, timeout, MEDIA)
                .ok()
                .map(|c| MediaClient::with_interceptor(c, Inject))
        }));
        media.set_listed(&placement::resolve_all(&cfg.media_addrs).await);
        let (transport, inbound) =
            Transport::bind_with(cfg.sip_bind, cfg.tcp)
                .await
                .map_err(|source| EdgeError::Bind {
                    addr: cfg.sip_bind,
                    source,
                })?;
        let local_addr = transport.local_addr();
        let advertise = cfg
            .sip_advertise
            .clone()
            .unwrap_or_else(|| local_addr.to_string());
        let advertise_is_wildcard = cfg.sip_advertise.is_none() && local_addr.ip().is_unspecified();
        let internal = cfg
            .sip_internal
            .clone()
            .unwrap_or_else(|| advertise.clone());
        if relay::peer_flow(&internal).is_none() && !cfg.alone {
            tracing::warn!(%internal, "no address other edges can reach this one at (set ASTERISM_SIP_INTERNAL): calls entering through another edge cannot reach phones registered here");
        }
        let hop = match hop_listener_addr(&cfg, local_addr) {
            Some(addr) => {
                let (t, rx) = Transport::bind_udp(addr)
                    .await
                    .map_err(|source| EdgeError::Bind { addr, source })?;
                tracing::info!(%addr, "internal listener for the hop between edges");
                Some((t, rx))
            }
            None => {
                if !cfg.alone {
                    tracing::warn!(%internal, "the internal address shares the public listener: the hop between edges is protected by its signatures alone (give ASTERISM_SIP_INTERNAL a port of its own)");
                }
                None
            }
        };
        let seal = match &cfg.cluster_secret {
            Some(s) => seal::Sealer::new(s.as_bytes()),
            None => {
                if !cfg.alone {
                    tracing::warn!("no ASTERISM_CLUSTER_SECRET: calls through other edges to phones registered here (and back) will be refused");
                }
                seal::Sealer::random()
            }
        };
        let security =
            security::SecurityLog::new(cfg.security_log.as_deref()).map_err(|source| {
                EdgeError::SecurityLog {
                    path: cfg.security_log.clone().unwrap_or_default(),
                    source,
                }
            })?;
        let mut own_addrs = vec![local_addr];
        own_addrs.extend(hop.as_ref().map(|(t, _)| t.local_addr()));
        let max_pending = cfg.max_pending.max(1);
        let (mwi_tx, mwi_rx) = mwi::watch::channel();
        let ctx = Arc::new(Ctx {
            cfg,
            registrar_lanes: lanes::Lanes::new(registrar.clone()),
            registrar,
            router_lanes: router_lanes::RouterLanes::new(router.clone()),
            router,
            media,
            advertise,
            advertise_is_wildcard,
            internal,
            hop_listener: hop.is_some(),
            own_addrs,
            seal,
            transport: transport.clone(),
            bans: security::Bans::default(),
            pending: Arc::new(tokio::sync::Semaphore::new(max_pending)),
            security,
            calls: calls::CallRegistry::default(),
            ringing: pickups::Ringing::default(),
            metrics,
            joins: asterism_telemetry::join::Joins::new(trace::JOIN_CAPACITY, trace::JOIN_TTL),
            outregs: outreg::Table::default(),
            peers: qualify::Peers::default(),
            mwi: mwi_rx,
            mwi_contacts: mwi::unsolicited::Table::default(),
            subscriptions: Arc::new(tokio::sync::Semaphore::new(MAX_SUBSCRIPTIONS)),
        });
        tokio::spawn(mwi::watch::follow(ctx.clone(), mwi_tx));
        let calls = ctx.calls.clone();
        let outregs = ctx.outregs.clone();
        let peers = ctx.peers.clone();
        tokio::spawn(ctx.media.clone().watch(ctx.cfg.media_addrs.clone()));
        tokio::spawn(alive::heartbeat(ctx.clone()));
        tokio::spawn(ctx.metrics.clone().watch_tcp(ctx.transport.clone()));
        let (cmd_tx, cmd_rx) = tokio::sync::mpsc::channel(4096);
        tokio::spawn(outreg::supervise(
            ctx.clone(),
            command::CoreHandle(cmd_tx.clone()),
        ));
        tokio::spawn(qualify::supervise(
            ctx.clone(),
            command::CoreHandle(cmd_tx.clone()),
        ));
        tokio::spawn(mwi::unsolicited::serve(
            ctx.clone(),
            command::CoreHandle(cmd_tx.clone()),
        ));
        let core = core::Core::new(transport, ctx, command::CoreHandle(cmd_tx));
        let hop_inbound = hop.map(|(_, rx)| rx);
        Ok(Edge {
            local_addr,
            calls,
            outregs,
            peers,
            run: Box::pin(core.run(inbound, hop_inbound, cmd_rx, shutdown)),
        })
    }

    pub async fn run(self) {
        self.run.await
    }
}
