//! `qualify=` for trunks, as chan_sip's `sip_poke_peer`: an OPTIONS at
//! start and every `qualifyfreq` seconds (every 10 s while unreachable); an
//! answer (any status) within the `qualify` time is OK, a slower one
//! LAGGED, none within twice that time UNREACHABLE — and a Dial to an
//! unreachable trunk fails at once (CHANUNAVAIL) instead of waiting for
//! its INVITE to time out. Each edge qualifies the trunks itself: what
//! matters is whether this edge's INVITEs would get through.

use crate::command::{Command, CoreHandle, LegEvent};
use crate::Ctx;
use asterism_proto::registrar::{Trunk, TrunksRequest};
use asterism_sip::header::{NameAddr, Via};
use asterism_sip::request::new_request;
use asterism_sip::response::random_token;
use asterism_sip::transaction::ClientKey;
use asterism_sip::transport::{Flow, Kind};
use asterism_sip::{HeaderName, Method, Uri};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// How often the trunk list is read again.
const RELOAD: Duration = Duration::from_secs(60);
/// How soon it is asked again when the registrar did not answer (it may
/// still be starting, as at a cluster's first start).
const RETRY: Duration = Duration::from_secs(2);
/// chan_sip's DEFAULT_FREQ_NOTOK: an unreachable peer is asked more often.
const FREQ_NOT_OK: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    Unknown,
    Ok(u32),
    Lagged(u32),
    Unreachable,
}

impl Reach {
    /// As `sip show peers` prints it.
    pub fn text(self) -> String {
        match self {
            Reach::Unknown => "UNKNOWN".into(),
            Reach::Ok(ms) => format!("OK ({ms} ms)"),
            Reach::Lagged(ms) => format!("LAGGED ({ms} ms)"),
            Reach::Unreachable => "UNREACHABLE".into(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct PeerStatus {
    pub host: String,
    pub port: u16,
    pub qualify_ms: u32,
    pub reach: Reach,
}

/// The qualified trunks of this edge, by name.
#[derive(Clone, Default)]
pub struct Peers(Arc<Mutex<BTreeMap<String, PeerStatus>>>);

impl Peers {
    pub fn list(&self) -> Vec<(String, PeerStatus)> {
        self.0
            .lock()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default()
    }

    /// Whether `name` is qualified and did not answer its last OPTIONS.
    pub fn unreachable(&self, name: &str) -> bool {
        self.0
            .lock()
            .map(|m| m.get(name).is_some_and(|p| p.reach == Reach::Unreachable))
            .unwrap_or(false)
    }

    fn set(&self, name: &str, reach: Reach) {
        if let Ok(mut m) = self.0.lock() {
            if let Some(p) = m.get_mut(name) {
                if p.reach != reach {
                    log_change(name, p.reach, reach, p.qualify_ms);
                }
                p.reach = reach;
            }
        }
    }
}

/// Said as chan_sip says it, when reachability changes.
fn log_change(name: &str, was: Reach, now: Reach, max: u32) {
    let reachable = |r: Reach| matches!(r, Reach::Ok(_) | Reach::Lagged(_));
    match now {
        Reach::Ok(ms) | Reach::Lagged(ms) if !reachable(was) => {
            tracing::info!("Peer 'SIP/{name}' is now Reachable. ({ms}ms / {max}ms)")
        }
        Reach::Lagged(ms) => tracing::warn!("Peer 'SIP/{name}' is now Lagged. ({ms}ms / {max}ms)"),
        Reach::Unreachable => {
            tracing::warn!("Peer 'SIP/{name}' is now UNREACHABLE!  Last qualify: {max}")
        }
        _ => {}
    }
}

/// Qualify the trunks sip.conf asks for, for ever (the list read again
/// every minute: a reload's changes are picked up).
pub async fn supervise(ctx: Arc<Ctx>, core: CoreHandle) {
    let mut running: HashMap<String, (Trunk, JoinHandle<()>)> = HashMap::new();
    loop {
        let mut req = tonic::Request::new(TrunksRequest {});
        req.set_timeout(ctx.cfg.rpc_timeout);
        let mut client = ctx.registrar.clone();
        let answer = client.trunks(req).await;
        let next = if answer.is_ok() { RELOAD } else { RETRY };
        if let Ok(r) = answer {
            let wanted: Vec<Trunk> = r
                .into_inner()
                .trunks
                .into_iter()
                .filter(|t| t.qualify_ms > 0)
                .collect();
            running.retain(|name, (t, task)| {
                let keep = wanted.iter().any(|w| w == t);
                if !keep {
                    task.abort();
                    if let Ok(mut m) = ctx.peers.0.lock() {
                        m.remove(name);
                    }
                }
                keep
            });
            for t in wanted {
                if running.contains_key(&t.name) {
                    continue;
                }
                if let Ok(mut m) = ctx.peers.0.lock() {
                    let status = PeerStatus {
                        host: t.host.clone(),
                        port: u16::try_from(t.port).unwrap_or(5060),
                        qualify_ms: t.qualify_ms,
                        reach: Reach::Unknown,
                    };
                    m.insert(t.name.clone(), status);
                }
                let task = tokio::spawn(poke(ctx.clone(), core.clone(), t.clone()));
                running.insert(t.name.clone(), (t, task));
            }
        }
        tokio::time::sleep(next).await;
    }
}

/// OPTIONS to trunk `t` every `qualifyfreq`, its reachability recorded.
async fn poke(ctx: Arc<Ctx>, core: CoreHandle, t: Trunk) {
    let Ok(to) = t.send_to.parse::<SocketAddr>() else {
        return ctx.peers.set(&t.name, Reach::Unreachable);
    };
    let host = ctx.advertise.clone();
    let call_id = format!("{}@{host}", random_token());
    let (tx, mut rx) = mpsc::channel(8);
    let route = Command::Route {
        call_id: call_id.clone(),
        tx,
    };
    core.send(route).await;
    let target = Uri::parse(&format!("sip:{}:{}", t.host, t.port));
    let (Ok(target), Some(me)) = (target, Uri::sip("asterisk", &host)) else {
        return ctx.peers.set(&t.name, Reach::Unreachable);
    };
    let from = NameAddr::new(None, me.clone()).with_tag(&random_token());
    let to_hdr = NameAddr::new(None, target.clone());
    let flow = Flow {
        kind: Kind::Udp,
        remote: to,
    };
    let wait = Duration::from_millis(u64::from(t.qualify_ms) * 2);
    let mut cseq = 0;
    loop {
        cseq += 1;
        let key = ClientKey::new(Method::OPTIONS);
        let via = Via::new("UDP", &host, &key.branch);
        let mut req = new_request(
            Method::OPTIONS,
            &target.raw,
            &via,
            &from,
            &to_hdr,
            &call_id,
            cseq,
            70,
        );
        req.headers
            .push(HeaderName::Contact, format!("<{}>", me.raw));
        req.headers
            .push(HeaderName::UserAgent, asterism_sip::response::SERVER);
        let sent = Instant::now();
        core.send(Command::Request {
            key: key.clone(),
            flow,
            request: req,
        })
        .await;
        let answered = tokio::time::timeout(wait, async {
            while let Some(ev) = rx.recv().await {
                match ev {
                    LegEvent::Response { key: k, .. } if k == key => return true,
                    LegEvent::Timeout { key: k } if k == key => return false,
                    other => other.decline(),
                }
            }
            false
        })
        .await
        .unwrap_or(false);
        let ms = sent.elapsed().as_millis().min(u128::from(u32::MAX)) as u32;
        let reach = match answered {
            true if ms <= t.qualify_ms => Reach::Ok(ms),
            true => Reach::Lagged(ms),
            false => Reach::Unreachable,
        };
        ctx.peers.set(&t.name, reach);
        let freq = Duration::from_secs(u64::from(t.qualify_freq.max(1)));
        let next = match reach {
            Reach::Unreachable => FREQ_NOT_OK.min(freq),
            _ => freq,
        };
        tokio::time::sleep(next.saturating_sub(sent.elapsed())).await;
    }
}
