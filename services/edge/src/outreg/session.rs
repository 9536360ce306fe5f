//! One `register =>` line kept registered, as chan_sip's
//! `transmit_register` does it: REGISTER (one Call-ID, CSeq counting up),
//! the provider's 401/407 answered once with a signature from the
//! registrar (which holds the secret), 423 answered with its Min-Expires,
//! refreshed before the granted expiry runs out (15 s before, or at 80 %
//! for short ones), and after a failure tried again after `registertimeout`,
//! doubled per failure up to ten minutes. The provider's name is looked up
//! for every attempt, so a provider that moves or restarts is found again.

use super::{State, Status};
use crate::command::{Command, CoreHandle, LegEvent};
use crate::Ctx;
use asterism_proto::registrar::{OutboundRegistration, SignRequest};
use asterism_sip::header::{NameAddr, Via};
use asterism_sip::message::Response;
use asterism_sip::request::new_request;
use asterism_sip::response::random_token;
use asterism_sip::transaction::ClientKey;
use asterism_sip::transport::{Flow, Kind};
use asterism_sip::{HeaderName, Method, Uri};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// The longest wait between attempts.
const MAX_RETRY: Duration = Duration::from_secs(600);

/// A line's first status.
pub fn initial(r: &OutboundRegistration) -> Status {
    Status {
        user: r.user.clone(),
        host: r.host.clone(),
        port: u16::try_from(r.port).unwrap_or(5060),
        state: State::Unregistered,
        expires: 0,
        registered: 0,
        last_code: 0,
        since: std::time::SystemTime::now(),
    }
}

/// When to refresh a registration granted for `expires` seconds (chan_sip's
/// EXPIRY_GUARD rules).
pub fn refresh_in(expires: u32) -> Duration {
    let ms = u64::from(expires) * 1000;
    Duration::from_millis(
        if expires > 30 {
            ms - 15_000
        } else {
            ms * 4 / 5
        }
        .max(500),
    )
}

/// How one attempt ended.
enum Outcome {
    Registered(u32),
    Failed(State, u16),
}

struct Session {
    ctx: Arc<Ctx>,
    core: CoreHandle,
    reg: OutboundRegistration,
    call_id: String,
    from: NameAddr,
    to: NameAddr,
    contact: String,
    cseq: u32,
    expiry: u32,
    rx: mpsc::Receiver<LegEvent>,
}

/// Keep `reg` registered until the task is aborted.
pub async fn run(ctx: Arc<Ctx>, core: CoreHandle, reg: OutboundRegistration) {
    let host = ctx.advertise.clone();
    let call_id = format!("{}@{host}", random_token());
    let (tx, rx) = mpsc::channel(8);
    core.send(Command::Route {
        call_id: call_id.clone(),
        tx,
    })
    .await;
    let (Some(aor), Some(contact)) = (
        Uri::sip(&reg.user, &reg.domain),
        Uri::sip(&reg.contact_user, &host),
    ) else {
        tracing::warn!(registration = %reg.id, "registration cannot be written as SIP URIs");
        return ctx.outregs.update(&reg.id, |s| s.state = State::Failed);
    };
    let mut s = Session {
        from: NameAddr::new(None, aor.clone()).with_tag(&random_token()),
        to: NameAddr::new(None, aor),
        contact: format!("<{}>", contact.raw),
        call_id,
        cseq: 0,
        expiry: reg.expiry.max(1),
        ctx,
        core,
        reg,
        rx,
    };
    let mut failures = 0u32;
    loop {
        let wait = match s.attempt().await {
            Outcome::Registered(expires) => {
                failures = 0;
                s.set(State::Registered, 200, |st| {
                    st.expires = expires;
                    st.registered += 1;
                });
                tracing::info!(registration = %s.reg.id, expires, "registered at the provider");
                refresh_in(expires)
            }
            Outcome::Failed(state, code) => {
                failures += 1;
                s.set(state, code, |st| st.expires = 0);
                let base = Duration::from_secs(u64::from(s.reg.retry_secs.max(1)));
                let wait = base
                    .saturating_mul(1 << (failures - 1).min(10))
                    .min(MAX_RETRY);
                tracing::warn!(registration = %s.reg.id, state = state.as_str(), code, retry_in = ?wait, "registration failed");
                wait
            }
        };
        tokio::time::sleep(wait).await;
    }
}

impl Session {
    fn set(&self, state: State, code: u16, f: impl FnOnce(&mut Status)) {
        self.ctx.outregs.update(&self.reg.id, |st| {
            if st.state != state {
                st.since = std::time::SystemTime::now();
            }
            st.state = state;
            st.last_code = code;
            f(st);
        });
        let registered = self.ctx.outregs.registered() as i64;
        self.ctx.metrics.trunk_registered.set(registered);
    }

    /// One registration, with its challenge answered once.
    async fn attempt(&mut self) -> Outcome {
        let port = u16::try_from(self.reg.port).unwrap_or(5060);
        let to: Option<SocketAddr> = tokio::net::lookup_host((self.reg.host.as_str(), port))
            .await
            .ok()
            .and_then(|mut a| a.next());
        let Some(to) = to else {
            tracing::warn!(host = %self.reg.host, "provider's host does not resolve");
            return Outcome::Failed(State::Failed, 0);
        };
        let flow = Flow {
            kind: Kind::Udp,
            remote: to,
        };
        let mut credentials: Option<(HeaderName, String)> = None;
        let mut signed = false;
        loop {
            let state = if signed {
                State::AuthSent
            } else {
                State::RequestSent
            };
            self.set(state, 0, |_| {});
            let Some(r) = self.send(flow, credentials.take()).await else {
                return Outcome::Failed(State::Timeout, 408);
            };
            match r.code {
                200..=299 => return Outcome::Registered(self.granted(&r)),
                401 | 407 if !signed => {
                    signed = true;
                    match self.sign(&r).await {
                        Some(c) => credentials = Some(c),
                        None => return Outcome::Failed(State::NoAuthentication, r.code),
                    }
                }
                401 | 407 => return Outcome::Failed(State::NoAuthentication, r.code),
                423 => {
                    let min = r.headers.get(&HeaderName::MinExpires);
                    match min.and_then(|m| m.trim().parse::<u32>().ok()) {
                        Some(m) if m > self.expiry && m <= 86_400 => self.expiry = m,
                        _ => return Outcome::Failed(State::Rejected, 423),
                    }
                }
                code => return Outcome::Failed(State::Rejected, code),
            }
        }
    }

    /// Send one REGISTER; its final response (None: no answer in time).
    async fn send(&mut self, flow: Flow, auth: Option<(HeaderName, String)>) -> Option<Response> {
        self.cseq += 1;
        let key = ClientKey::new(Method::REGISTER);
        let uri = self.request_uri();
        let via = Via::new(flow.kind.as_str(), &self.ctx.advertise, &key.branch);
        let mut req = new_request(
            Method::REGISTER,
            &uri,
            &via,
            &self.from,
            &self.to,
            &self.call_id,
            self.cseq,
            70,
        );
        let h = &mut req.headers;
        h.push(HeaderName::Contact, self.contact.clone());
        h.push(HeaderName::Expires, self.expiry.to_string());
        h.push(HeaderName::UserAgent, asterism_sip::response::SERVER);
        if let Some((name, value)) = auth {
            h.push(name, value);
        }
        self.core
            .send(Command::Request {
                key: key.clone(),
                flow,
                request: req,
            })
            .await;
        while let Some(ev) = self.rx.recv().await {
            match ev {
                LegEvent::Response { key: k, response } if k == key && response.code >= 200 => {
                    return Some(*response)
                }
                LegEvent::Timeout { key: k } if k == key => return None,
                other => other.decline(),
            }
        }
        None
    }

    fn request_uri(&self) -> String {
        format!("sip:{}:{}", self.reg.host, self.reg.port)
    }

    /// The provider's challenge, answered by the registrar.
    async fn sign(&self, r: &Response) -> Option<(HeaderName, String)> {
        let (challenge, answer) = if r.code == 407 {
            (
                HeaderName::ProxyAuthenticate,
                HeaderName::ProxyAuthorization,
            )
        } else {
            (HeaderName::WwwAuthenticate, HeaderName::Authorization)
        };
        let mut req = tonic::Request::new(SignRequest {
            peer: String::new(),
            method: "REGISTER".into(),
            uri: self.request_uri(),
            challenge: r.headers.get(&challenge)?.to_owned(),
            registration: self.reg.id.clone(),
        });
        req.set_timeout(self.ctx.cfg.rpc_timeout);
        let mut client = self.ctx.registrar.clone();
        match client.sign(req).await {
            Ok(s) => Some((answer, s.into_inner().authorization)),
            Err(status) => {
                tracing::warn!(registration = %self.reg.id, code = ?status.code(), "provider's challenge not answered: {}", status.message());
                None
            }
        }
    }

    /// The expiry the provider granted: our Contact's `expires`, else the
    /// Expires header, else what we asked.
    fn granted(&self, r: &Response) -> u32 {
        let ours = self.contact.trim_matches(['<', '>']);
        let from_contact = r
            .headers
            .get_all(&HeaderName::Contact)
            .flat_map(|v| v.split(','))
            .filter(|c| c.contains(ours))
            .find_map(|c| {
                let (_, rest) = c.split_once("expires=")?;
                rest.trim_matches(|ch: char| !ch.is_ascii_digit())
                    .split(|ch: char| !ch.is_ascii_digit())
                    .next()?
                    .parse()
                    .ok()
            });
        let header = r
            .headers
            .get(&HeaderName::Expires)
            .and_then(|e| e.trim().parse().ok());
        from_contact.or(header).unwrap_or(self.expiry).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refreshes_before_expiry_as_chan_sip() {
        assert_eq!(refresh_in(120), Duration::from_secs(105));
        assert_eq!(refresh_in(10), Duration::from_secs(8));
        assert_eq!(refresh_in(1), Duration::from_millis(800));
    }
}
