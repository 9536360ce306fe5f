//! REGISTER at the edge: turn the request into a `Registrar.Register` call
//! and the registrar's verdict into the response Asterisk would send (401
//! with a challenge, 403, 423 with Min-Expires, 200 listing every contact
//! with its expiry, 503 with Retry-After when the registrar is unreachable).

use crate::call::backends::Backends;
use crate::reply::Replier;
use crate::Ctx;
use asterism_proto::common::{Flow as PbFlow, Transport as PbTransport};
use asterism_proto::registrar::{
    AuthFailure, ContactSpec, DigestCredentials, Outcome, RegisterRequest,
};
use asterism_sip::digest::{parse_authorization, Credentials};
use asterism_sip::header::NameAddr;
use asterism_sip::message::Response;
use asterism_sip::transport::{Flow, Kind};
use asterism_sip::validate::Checked;
use asterism_sip::{HeaderName, Request};
use std::sync::Arc;

pub async fn handle(
    ctx: &Arc<Ctx>,
    flow: Flow,
    req: &Request,
    c: &Checked,
    replier: &Replier,
) -> Response {
    let started = std::time::Instant::now();
    let r = answer(ctx, flow, req, c, replier).await;
    ctx.metrics.register_answered(r.code);
    let took = started.elapsed().as_secs_f64();
    ctx.metrics.latency.register.observe(took);
    r
}

async fn answer(
    ctx: &Arc<Ctx>,
    flow: Flow,
    req: &Request,
    c: &Checked,
    replier: &Replier,
) -> Response {
    let rpc = match build(ctx, flow, req, c) {
        Ok(r) => r,
        Err(reason) => return replier.reply_with(400, reason),
    };
    // Bounded by the budget, retried while no replica answered (crate::retry).
    let backends = crate::call::grpc::GrpcBackends(ctx.clone());
    let answer = match backends.register(rpc).await {
        Ok(a) => a,
        Err(e) => return e.response(replier, ctx.cfg.retry_after),
    };
    let failure = AuthFailure::try_from(answer.failure).unwrap_or(AuthFailure::None);
    if failure != AuthFailure::None || answer.ban_secs > 0 {
        let to = req.headers.get(&HeaderName::To).unwrap_or_default();
        let account = c.to.uri.user.as_deref().unwrap_or_default();
        let attempt = crate::security::Attempt::Register;
        ctx.auth_failed(
            attempt,
            failure,
            to,
            account,
            &flow,
            &c.call_id,
            answer.ban_secs,
        );
    }
    match Outcome::try_from(answer.outcome).unwrap_or(Outcome::Unspecified) {
        Outcome::Ok => {
            // A phone's TCP connection is no stranger's any more.
            ctx.transport.authenticated(&flow);
            if let Some(mwi) = &answer.mwi {
                remember_for_mwi(ctx, flow, req, c, mwi, &answer.bindings);
            }
            let mut r = replier.reply(200);
            for b in &answer.bindings {
                r.headers.push(
                    HeaderName::Contact,
                    format!("<{}>;expires={}", b.contact, b.expires_in),
                );
            }
            r.headers
                .push(HeaderName::Expires, answer.expires.to_string());
            r.headers.push(
                HeaderName::Date,
                httpdate::fmt_http_date(std::time::SystemTime::now()),
            );
            r
        }
        Outcome::Challenge => {
            let mut r = replier.reply(401);
            if let Some(ch) = answer.challenge {
                r.headers
                    .push(HeaderName::WwwAuthenticate, challenge_text(&ch));
            }
            r
        }
        Outcome::Forbidden if !answer.reason.is_empty() => replier.reply_with(403, &answer.reason),
        Outcome::Forbidden => replier.reply(403),
        Outcome::NotFound => replier.reply(404),
        Outcome::IntervalTooBrief => {
            let mut r = replier.reply(423);
            r.headers
                .push(HeaderName::MinExpires, answer.min_expires.to_string());
            r
        }
        Outcome::OutOfOrder | Outcome::BadRequest => replier.reply_with(400, &answer.reason),
        Outcome::Unspecified => replier.reply(500),
    }
}

pub fn challenge_text(ch: &asterism_proto::registrar::Challenge) -> String {
    let mut s = format!(
        "Digest realm=\"{}\", nonce=\"{}\", algorithm={}",
        ch.realm, ch.nonce, ch.algorithm
    );
    if !ch.qop.is_empty() {
        s.push_str(&format!(", qop=\"{}\"", ch.qop));
    }
    if !ch.opaque.is_empty() {
        s.push_str(&format!(", opaque=\"{}\"", ch.opaque));
    }
    if ch.stale {
        s.push_str(", stale=true");
    }
    s
}

/// The gRPC request, or the reason for a 400.
/// A user with mailboxes registered: its contacts from this flow, for
/// the unsolicited NOTIFYs ([`crate::mwi::unsolicited`]).
fn remember_for_mwi(
    ctx: &Ctx,
    flow: Flow,
    req: &Request,
    c: &Checked,
    mwi: &asterism_proto::registrar::Mwi,
    bindings: &[asterism_proto::registrar::Binding],
) {
    let from_here = |b: &&asterism_proto::registrar::Binding| {
        b.flow.as_ref().is_some_and(|f| {
            f.edge_id == ctx.cfg.edge_id
                && f.source_port == u32::from(flow.remote.port())
                && f.source_ip == flow.remote.ip().to_string()
        })
    };
    let contacts: Vec<(&str, u32, Flow)> = bindings
        .iter()
        .filter(from_here)
        .filter_map(|b| {
            Some((
                b.contact.as_str(),
                b.expires_in,
                crate::call::grpc::target_flow(b)?,
            ))
        })
        .collect();
    let user = c.to.uri.user.as_deref().unwrap_or_default();
    let host = ctx.sip_host(req);
    ctx.mwi_contacts
        .registered(user, flow.remote, &host, mwi, &contacts);
}

fn build(
    ctx: &Ctx,
    flow: Flow,
    req: &Request,
    c: &Checked,
) -> Result<RegisterRequest, &'static str> {
    let aor = match (&c.to.uri.user, c.to.uri.is_sip()) {
        (Some(u), true) => u.clone(),
        _ => return Err("To must be a SIP URI with a user part"),
    };
    let mut contacts = Vec::new();
    let mut wildcard = false;
    for v in req.headers.get_all(&HeaderName::Contact) {
        if v == "*" {
            wildcard = true;
            continue;
        }
        let na = NameAddr::parse(v, "Contact").map_err(|_| "bad Contact")?;
        let expires = na
            .params
            .value("expires")
            .and_then(|e| e.parse::<u64>().ok())
            .map(|e| e.min(u64::from(u32::MAX)) as u32);
        let q_milli = na
            .params
            .value("q")
            .and_then(|q| q.parse::<f32>().ok())
            .map(|q| (q.clamp(0.0, 1.0) * 1000.0) as u32);
        contacts.push(ContactSpec {
            uri: na.uri.raw,
            expires,
            q_milli,
        });
    }
    let mut credentials = None;
    for v in req.headers.get_all(&HeaderName::Authorization) {
        match parse_authorization(v) {
            Ok(Some(cr)) => {
                credentials = Some(pb_credentials(cr));
                break;
            }
            Ok(None) => {}
            Err(_) => return Err("malformed Authorization"),
        }
    }
    Ok(RegisterRequest {
        aor,
        contacts,
        wildcard,
        expires: c.expires,
        call_id: c.call_id.clone(),
        cseq: c.cseq.seq,
        credentials,
        flow: Some(ctx.pb_flow(flow)),
        user_agent: req
            .headers
            .get(&HeaderName::UserAgent)
            .unwrap_or_default()
            .to_owned(),
        method: req.method.to_string(),
        request_uri: req.uri.clone(),
    })
}

/// Digest parameters as the registrar's gRPC carries them.
pub fn pb_credentials(c: Credentials) -> DigestCredentials {
    DigestCredentials {
        username: c.username,
        realm: c.realm,
        nonce: c.nonce,
        uri: c.uri,
        response: c.response,
        algorithm: c.algorithm.unwrap_or_default(),
        cnonce: c.cnonce.unwrap_or_default(),
        qop: c.qop.unwrap_or_default(),
        nc: c.nc.unwrap_or_default(),
        opaque: c.opaque.unwrap_or_default(),
    }
}

impl Ctx {
    pub fn pb_flow(&self, flow: Flow) -> PbFlow {
        PbFlow {
            transport: match flow.kind {
                Kind::Udp => PbTransport::Udp,
                Kind::Tcp => PbTransport::Tcp,
            } as i32,
            source_ip: flow.remote.ip().to_string(),
            source_port: u32::from(flow.remote.port()),
            edge_id: self.cfg.edge_id.clone(),
            edge_sip_addr: self.internal.clone(),
        }
    }

    /// 503 with Retry-After: a backend is down, try again later.
    pub fn unavailable(&self, replier: &Replier) -> Response {
        let mut r = replier.reply(503);
        r.headers
            .push(HeaderName::RetryAfter, self.cfg.retry_after.to_string());
        r
    }
}
