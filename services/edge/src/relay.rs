//! The hop between edges. A phone's NAT pinhole or TCP connection lives on
//! the edge it registered through (the binding names that edge), so a call
//! entering through another edge sends the callee's INVITE to the owning
//! edge with a pre-loaded Route naming it and the phone's flow (RFC 3327
//! Path style, the flow carried as a signed RFC 5626 flow token), never
//! straight from its own address.
//!
//! The owning edge forwards such requests statelessly (RFC 3261 §16.11):
//! towards the phone when they come from a peer edge, back to the peer edge
//! the dialog came from when they come from the phone itself. It
//! Record-Routes dialog-creating requests with a token naming both, so
//! in-dialog requests take the same path both ways, and sends responses
//! back by their Via.
//!
//! Nobody else can use the hop: a token must carry the cluster's signature
//! for this very edge ([`crate::seal`]); requests towards a phone must come
//! in on the internal listener when the edge has one (`ASTERISM_SIP_INTERNAL`
//! on its own port, kept internal by the network policy); a phone's own
//! requests go only to the peer its token names, never to a Request-URI of
//! its choosing; responses are passed on only when their branch is one we
//! signed for the address they go back to. Everything else gets 403 (or,
//! for responses and ACKs, is dropped) and nothing leaves the edge.

use crate::seal::{FlowToken, RELAY_BRANCH};
use crate::Ctx;
use asterism_sip::header::{NameAddr, Via};
use asterism_sip::message::Response;
use asterism_sip::transport::{Flow, Kind};
use asterism_sip::validate::Checked;
use asterism_sip::{HeaderName, Host, Method, Request, Uri};
use bytes::Bytes;
use std::net::{IpAddr, SocketAddr};

/// The Route/Record-Route URI parameter that carries the flow token.
pub const FLOW_PARAM: &str = "asterism-flow";

/// The Route that sends a request through edge `peer` (its internal
/// host:port) to the phone on `phone`.
pub fn route_via(ctx: &Ctx, peer: &str, phone: &Flow) -> String {
    format!(
        "<sip:{peer};lr;{FLOW_PARAM}={}>",
        ctx.seal.token(peer, phone, None)
    )
}

/// How this edge reaches edge `peer` (host:port, an address literal).
pub fn peer_flow(peer: &str) -> Option<Flow> {
    let uri = Uri::parse(&format!("sip:{peer}")).ok()?;
    let ip = host_ip(&uri.host).filter(|ip| !ip.is_unspecified())?;
    Some(Flow {
        kind: Kind::Udp,
        remote: SocketAddr::new(ip, uri.port.unwrap_or(5060)),
    })
}

fn host_ip(h: &Host) -> Option<IpAddr> {
    match h {
        Host::Name(n) => n.parse().ok(),
        Host::V6(a) => a.parse().ok(),
    }
}

/// What the top Route of a request says about the hop.
#[derive(Debug, PartialEq, Eq)]
pub enum Hop {
    /// Not a Route to our hop: an ordinary request.
    None,
    /// Our hop, with a token signed for this edge.
    Token(FlowToken),
    /// Our hop with a token we did not sign (or none at all).
    Forged,
}

/// Whether the request's top Route is this edge's relay hop.
pub fn hop_of(ctx: &Ctx, req: &Request) -> Hop {
    match req.headers.get(&HeaderName::Route) {
        Some(r) => route_hop(ctx, r),
        None => Hop::None,
    }
}

/// One Route value: does it name this edge (by its internal or advertised
/// address) with a flow token, and is the token ours?
fn route_hop(ctx: &Ctx, route: &str) -> Hop {
    let Some(uri) = NameAddr::parse(route, "Route")
        .ok()
        .and_then(|na| Uri::parse(&na.uri.raw).ok())
    else {
        return Hop::None;
    };
    let Some((_, token)) = uri.params.iter().find(|(k, _)| k == FLOW_PARAM) else {
        return Hop::None;
    };
    let port = uri.port.unwrap_or(5060);
    let hostport = format!("{}:{port}", uri.host);
    let ours = hostport == ctx.internal
        || if ctx.advertise_is_wildcard {
            port == ctx.cfg.sip_bind.port()
        } else {
            hostport == ctx.advertise
        };
    if !ours {
        return Hop::None;
    }
    match token
        .as_deref()
        .and_then(|t| ctx.seal.open(&ctx.internal, t))
    {
        Some(t) => Hop::Token(t),
        None => Hop::Forged,
    }
}

/// What to do with a relayed request.
#[derive(Debug)]
pub enum Relay {
    Forward(Flow, Bytes),
    /// Answer it here (403, 482, 483), statelessly, where it came from.
    Refuse(Response),
    /// Nothing to do (an ACK that cannot go on).
    Drop,
}

/// Where a request on the hop came from.
#[derive(Debug, Clone, Copy)]
pub struct Arrival {
    pub flow: Flow,
    /// On the internal listener (only peer edges can reach it).
    pub internal: bool,
}

/// Forward a request whose top Route is our hop with a valid `token`.
pub fn forward_request(
    ctx: &Ctx,
    arrival: Arrival,
    token: FlowToken,
    mut req: Request,
    checked: &Checked,
) -> Relay {
    let is_ack = req.method == Method::ACK;
    let refuse_or_drop = |req: Request, code| {
        if is_ack {
            Relay::Drop
        } else {
            refuse(req, code)
        }
    };
    let inbound = arrival.flow;
    // A phone's own request goes back only to the edge its dialog came
    // from; a request to the phone only from a peer edge.
    let from_phone = match ctx.hop_listener {
        true if arrival.internal => false,
        true => same_host(&inbound, &token.phone),
        false => inbound == token.phone,
    };
    let out = if from_phone {
        match token.peer {
            Some(peer) => peer,
            None => return refuse_or_drop(req, 403),
        }
    } else if ctx.hop_listener && !arrival.internal {
        tracing::info!(from = %inbound.remote, "relay towards a phone from outside the internal listener refused");
        return refuse_or_drop(req, 403);
    } else {
        token.phone
    };
    if ctx.is_own_address(&out.remote) {
        return refuse_or_drop(req, 482);
    }
    // The sending edge's trace continues here; the header goes no further.
    let span = crate::trace::relay_span(&mut req, checked, &inbound, !from_phone);
    let _in_trace = span.enter();
    let hops = checked.max_forwards.unwrap_or(70);
    if hops == 0 {
        return refuse_or_drop(req, 483);
    }
    req.headers
        .set(HeaderName::MaxForwards, (hops - 1).to_string());
    // Our own Routes go (both of them after double record-routing).
    while req
        .headers
        .get(&HeaderName::Route)
        .is_some_and(|r| route_hop(ctx, r) != Hop::None)
    {
        req.headers.pop_first(&HeaderName::Route);
    }
    let mut top = checked.vias[0].clone();
    top.stamp_received(inbound.remote.ip(), inbound.remote.port(), true);
    let Some(back) = via_flow(&top) else {
        return refuse_or_drop(req, 400);
    };
    let branch = ctx
        .seal
        .relay_branch(top.branch().unwrap_or_default(), &back);
    req.headers.replace_first(&HeaderName::Via, top.to_string());
    if req.method == Method::INVITE && checked.to.tag().is_none() {
        record_route(ctx, &mut req, &token.phone, &inbound);
    }
    // Responses come back to the address the next hop reaches us at.
    let sent_by = if from_phone || ctx.advertise_is_wildcard {
        &ctx.internal
    } else {
        &ctx.advertise
    };
    req.headers.push_front(
        HeaderName::Via,
        asterism_sip::header::Via::new(out.kind.as_str(), sent_by, &branch).to_string(),
    );
    Relay::Forward(out, Bytes::from(req.to_bytes()))
}

/// The phone itself: its connection over TCP; over UDP its address (a phone
/// may send from another port than the one its Contact names).
fn same_host(inbound: &Flow, phone: &Flow) -> bool {
    match phone.kind {
        Kind::Tcp => inbound == phone,
        Kind::Udp => inbound.kind == Kind::Udp && inbound.remote.ip() == phone.remote.ip(),
    }
}

/// Stay on the dialog's path, with a token that sends the phone's requests
/// back to `peer`. When phones and edges reach us at different addresses,
/// both go in (RFC 5658 double record-routing): the phone's route set
/// starts with the advertised one, the other edge's with the internal one.
fn record_route(ctx: &Ctx, req: &mut Request, phone: &Flow, peer: &Flow) {
    let token = ctx.seal.token(&ctx.internal, phone, Some(peer));
    let rr = |host: &str| format!("<sip:{host};lr;{FLOW_PARAM}={token}>");
    req.headers
        .push_front(HeaderName::RecordRoute, rr(&ctx.internal));
    if !ctx.advertise_is_wildcard && ctx.advertise != ctx.internal {
        req.headers
            .push_front(HeaderName::RecordRoute, rr(&ctx.advertise));
    }
}

/// A response whose top Via carries a relay branch: passed on to the next
/// Via when the branch is the one we signed for it, else dropped (a forged
/// response must not make us a reflector, nor loop through us).
pub fn forward_response(ctx: &Ctx, r: &mut Response) -> Option<(Flow, Bytes)> {
    let ours = r.headers.pop_first(&HeaderName::Via)?;
    let ours = Via::parse(&ours).ok()?;
    let next = match r.headers.get(&HeaderName::Via).map(Via::parse) {
        Some(Ok(v)) => v,
        _ => return None,
    };
    let to = via_flow(&next)?;
    let signed = ctx.seal.relay_branch_ok(
        ours.branch().unwrap_or_default(),
        next.branch().unwrap_or_default(),
        &to,
    );
    if !signed || ctx.is_own_address(&to.remote) {
        tracing::debug!(to = %to.remote, signed, "relayed response dropped");
        return None;
    }
    Some((to, Bytes::from(r.to_bytes())))
}

/// Where a response for Via `v` goes (RFC 3261 §18.2.2 with RFC 3581).
fn via_flow(v: &Via) -> Option<Flow> {
    let ip = match v.params.value("received") {
        Some(r) => r.parse().ok()?,
        None => host_ip(&v.host)?,
    };
    let port = v
        .params
        .value("rport")
        .and_then(|p| p.parse().ok())
        .or(v.port)
        .unwrap_or(5060);
    let kind = if v.transport.eq_ignore_ascii_case("TCP") {
        Kind::Tcp
    } else {
        Kind::Udp
    };
    Some(Flow {
        kind,
        remote: SocketAddr::new(ip, port),
    })
}

/// A stateless answer to a relayed request we cannot forward.
fn refuse(req: Request, code: u16) -> Relay {
    Relay::Refuse(crate::reply::Replier::new(req.headers, None).reply(code))
}

/// Whether a response claims to belong to a request this edge relayed.
pub fn is_relayed(r: &Response) -> bool {
    // The top Via is its own header entry; no parse on every response.
    r.headers
        .get(&HeaderName::Via)
        .is_some_and(|v| v.contains(RELAY_BRANCH))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_flows_need_an_address_literal() {
        assert_eq!(peer_flow("10.1.0.2:5060").unwrap().remote.port(), 5060);
        assert!(peer_flow("edge.example.com:5060").is_none());
        assert!(
            peer_flow("0.0.0.0:5060").is_none(),
            "a wildcard is no address"
        );
    }

    #[test]
    fn responses_follow_received_and_rport() {
        let v = Via::parse(
            "SIP/2.0/UDP phone.local:5060;rport=40000;received=192.0.2.4;branch=z9hG4bKx",
        )
        .unwrap();
        let f = via_flow(&v).unwrap();
        assert_eq!(f.remote, "192.0.2.4:40000".parse().unwrap());
        let v = Via::parse("SIP/2.0/TCP 10.0.0.3:5070;branch=z9hG4bKy").unwrap();
        assert_eq!(via_flow(&v).unwrap().kind, Kind::Tcp);
    }
}
