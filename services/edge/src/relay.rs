//! The hop between edges. A phone's NAT pinhole or TCP connection lives on
//! the edge it registered through (the binding names that edge), so a call
//! entering through another edge sends the callee's INVITE to the owning
//! edge with a pre-loaded Route naming it and the phone's flow (RFC 3327
//! Path style, the flow carried like an RFC 5626 flow token), never straight
//! from its own address.
//!
//! The owning edge forwards such requests statelessly (RFC 3261 §16.11):
//! towards the phone when they come from elsewhere, onward by Route or
//! Request-URI when they come from the phone itself. It Record-Routes
//! dialog-creating requests with the same URI, so in-dialog requests take
//! the same path both ways, and sends responses back by their Via.

use crate::Ctx;
use asterism_sip::header::Via;
use asterism_sip::message::Response;
use asterism_sip::transport::{Flow, Kind};
use asterism_sip::validate::Checked;
use asterism_sip::{HeaderName, Host, Method, Request, Uri};
use bytes::Bytes;
use std::hash::{Hash, Hasher};
use std::net::{IpAddr, SocketAddr};

/// The Route/Record-Route URI parameter that names the phone's flow.
pub const FLOW_PARAM: &str = "asterism-flow";
/// Branches of the Vias this edge adds as a relay (its own transactions use
/// [`crate::LOOP_MARK`]), so their responses are recognised and passed on.
pub const RELAY_BRANCH: &str = "z9hG4bK-asr-";

/// `udp-10.0.0.7-5060`: transport, address and port of a phone's flow.
pub fn flow_token(f: &Flow) -> String {
    let kind = match f.kind {
        Kind::Udp => "udp",
        Kind::Tcp => "tcp",
    };
    format!("{kind}-{}-{}", f.remote.ip(), f.remote.port())
}

pub fn parse_flow_token(token: &str) -> Option<Flow> {
    let (kind, rest) = token.split_once('-')?;
    let (ip, port) = rest.rsplit_once('-')?;
    let kind = match kind {
        "udp" => Kind::Udp,
        "tcp" => Kind::Tcp,
        _ => return None,
    };
    let ip: IpAddr = ip.parse().ok()?;
    Some(Flow {
        kind,
        remote: SocketAddr::new(ip, port.parse().ok()?),
    })
}

/// The Route that sends a request through edge `peer` (its host:port) to
/// the phone on `phone`.
pub fn route_via(peer: &str, phone: &Flow) -> String {
    format!("<sip:{peer};lr;{FLOW_PARAM}={}>", flow_token(phone))
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

/// The phone flow named by the request's top Route, when that Route is this
/// edge's relay hop.
pub fn relayed_flow(ctx: &Ctx, req: &Request) -> Option<Flow> {
    route_flow(ctx, req.headers.get(&HeaderName::Route)?)
}

/// The phone flow of one Route value naming this edge (by its internal or
/// its advertised address).
fn route_flow(ctx: &Ctx, route: &str) -> Option<Flow> {
    let na = asterism_sip::header::NameAddr::parse(route, "Route").ok()?;
    let uri = Uri::parse(&na.uri.raw).ok()?;
    let token = uri
        .params
        .iter()
        .find(|(k, _)| k == FLOW_PARAM)
        .and_then(|(_, v)| v.as_deref())?;
    let port = uri.port.unwrap_or(5060);
    let hostport = format!("{}:{port}", uri.host);
    let ours = hostport == ctx.internal
        || if ctx.advertise_is_wildcard {
            port == ctx.cfg.sip_bind.port()
        } else {
            hostport == ctx.advertise
        };
    ours.then(|| parse_flow_token(token)).flatten()
}

/// What to do with a relayed request.
pub enum Relay {
    Forward(Flow, Bytes),
    /// Answer it here (483, 502), statelessly, where it came from.
    Refuse(Response),
    /// Nothing to do (an ACK that cannot go on).
    Drop,
}

/// Forward a request whose top Route is our hop (see [`relayed_flow`]).
pub fn forward_request(
    ctx: &Ctx,
    inbound: Flow,
    phone: Flow,
    mut req: Request,
    checked: &Checked,
) -> Relay {
    let is_ack = req.method == Method::ACK;
    let hops = checked.max_forwards.unwrap_or(70);
    if hops == 0 {
        return if is_ack {
            Relay::Drop
        } else {
            refuse(req, 483)
        };
    }
    req.headers
        .set(HeaderName::MaxForwards, (hops - 1).to_string());
    if req.headers.pop_first(&HeaderName::Route).is_none() {
        return Relay::Drop;
    }
    // Double record-routing (RFC 5658) put both our addresses in the set.
    while req
        .headers
        .get(&HeaderName::Route)
        .is_some_and(|r| route_flow(ctx, r).is_some())
    {
        req.headers.pop_first(&HeaderName::Route);
    }
    let from_phone = inbound == phone;
    let out = if from_phone {
        next_hop(&req)
    } else {
        Some(phone)
    };
    let Some(out) = out else {
        return if is_ack {
            Relay::Drop
        } else {
            refuse(req, 502)
        };
    };
    let mut top = checked.vias[0].clone();
    top.stamp_received(inbound.remote.ip(), inbound.remote.port(), true);
    req.headers.replace_first(&HeaderName::Via, top.to_string());
    if req.method == Method::INVITE && checked.to.tag().is_none() {
        record_route(ctx, &mut req, &phone);
    }
    let branch = relay_branch(&checked.vias[0]);
    // Responses come back to the address the next hop reaches us at.
    let sent_by = if from_phone || ctx.advertise_is_wildcard {
        &ctx.internal
    } else {
        &ctx.advertise
    };
    req.headers.push_front(
        HeaderName::Via,
        asterism_sip::request::via(out.kind.as_str(), sent_by, &branch),
    );
    Relay::Forward(out, Bytes::from(req.to_bytes()))
}

/// Stay on the dialog's path. When phones and edges reach us at different
/// addresses, both go in (RFC 5658 double record-routing): the phone's route
/// set starts with the advertised one, the other edge's with the internal one.
fn record_route(ctx: &Ctx, req: &mut Request, phone: &Flow) {
    req.headers
        .push_front(HeaderName::RecordRoute, route_via(&ctx.internal, phone));
    if !ctx.advertise_is_wildcard && ctx.advertise != ctx.internal {
        req.headers
            .push_front(HeaderName::RecordRoute, route_via(&ctx.advertise, phone));
    }
}

/// Where a request from the phone goes next: the next Route, else the
/// Request-URI (both address literals: edges advertise addresses).
fn next_hop(req: &Request) -> Option<Flow> {
    let target = match req.headers.get(&HeaderName::Route) {
        Some(r) => {
            asterism_sip::header::NameAddr::parse(r, "Route")
                .ok()?
                .uri
                .raw
        }
        None => req.uri.clone(),
    };
    let uri = Uri::parse(&target).ok()?;
    let tcp = uri.params.iter().any(|(k, v)| {
        k == "transport" && v.as_deref().is_some_and(|t| t.eq_ignore_ascii_case("tcp"))
    });
    Some(Flow {
        kind: if tcp { Kind::Tcp } else { Kind::Udp },
        remote: SocketAddr::new(host_ip(&uri.host)?, uri.port.unwrap_or(5060)),
    })
}

/// The same incoming branch always gives the same outgoing one, so a CANCEL
/// or a non-2xx ACK matches the INVITE it belongs to at the phone.
fn relay_branch(incoming: &Via) -> String {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    match incoming.branch() {
        Some(b) => b.hash(&mut h),
        None => incoming.to_string().hash(&mut h),
    }
    format!("{RELAY_BRANCH}{:016x}", h.finish())
}

/// A response to a request this edge relayed ([`is_relayed`]): pops our
/// Via and says where the next one wants it.
pub fn forward_response(ctx: &Ctx, r: &mut Response) -> Option<(Flow, Bytes)> {
    r.headers.pop_first(&HeaderName::Via);
    let next = match r.headers.get(&HeaderName::Via).map(Via::parse) {
        Some(Ok(v)) => v,
        _ => {
            tracing::debug!(edge = %ctx.advertise, "relayed response without a Via to return to");
            return None;
        }
    };
    Some((via_flow(&next)?, Bytes::from(r.to_bytes())))
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
    let kind = if v.transport == "TCP" {
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

/// Whether a response belongs to a request this edge relayed.
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
    fn flow_tokens_round_trip() {
        for (kind, addr) in [
            (Kind::Udp, "10.0.0.7:5060"),
            (Kind::Tcp, "[2001:db8::1]:5070"),
        ] {
            let f = Flow {
                kind,
                remote: addr.parse().unwrap(),
            };
            assert_eq!(parse_flow_token(&flow_token(&f)), Some(f));
        }
        assert_eq!(parse_flow_token("sctp-1.2.3.4-5"), None);
        assert_eq!(parse_flow_token("udp-nonsense-5"), None);
        assert_eq!(parse_flow_token("udp-1.2.3.4-99999"), None);
    }

    #[test]
    fn route_names_the_peer_and_the_flow() {
        let f = Flow {
            kind: Kind::Udp,
            remote: "192.0.2.9:5062".parse().unwrap(),
        };
        let r = route_via("10.1.0.2:5060", &f);
        assert_eq!(r, "<sip:10.1.0.2:5060;lr;asterism-flow=udp-192.0.2.9-5062>");
        let na = asterism_sip::header::NameAddr::parse(&r, "Route").unwrap();
        let uri = Uri::parse(&na.uri.raw).unwrap();
        assert_eq!(uri.port, Some(5060));
        assert_eq!(peer_flow("10.1.0.2:5060").unwrap().remote.port(), 5060);
        assert!(peer_flow("edge.example.com:5060").is_none());
        assert!(
            peer_flow("0.0.0.0:5060").is_none(),
            "a wildcard is no address"
        );
    }

    #[test]
    fn relay_branch_is_stable_per_incoming_branch() {
        let a = Via::parse("SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK-asm-1").unwrap();
        let b = Via::parse("SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK-asm-2").unwrap();
        assert_eq!(relay_branch(&a), relay_branch(&a.clone()));
        assert_ne!(relay_branch(&a), relay_branch(&b));
        assert!(relay_branch(&a).starts_with(RELAY_BRANCH));
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
