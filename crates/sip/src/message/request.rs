//! Requests the edge originates (RFC 3261 §8.1.1, §12.2.1.1, §17.1.1.3,
//! §9.1): new INVITEs of a B2BUA leg, in-dialog requests, the ACK of a
//! non-2xx final response and CANCEL, each with the headers RFC 3261 wants.

use crate::header::name::HeaderName;
use crate::header::{CSeq, NameAddr, Via};
use crate::message::{Headers, Request, Response};
use crate::method::Method;
use bytes::Bytes;

/// A new request with the mandatory headers in RFC 3261's order.
#[allow(clippy::too_many_arguments)]
pub fn new_request(
    method: Method,
    uri: &str,
    via: &Via,
    from: &NameAddr,
    to: &NameAddr,
    call_id: &str,
    cseq: u32,
    max_forwards: u32,
) -> Request {
    let mut headers = Headers::new();
    headers.push(HeaderName::Via, via.to_string());
    headers.push(HeaderName::MaxForwards, max_forwards.to_string());
    headers.push(HeaderName::From, from.to_string());
    headers.push(HeaderName::To, to.to_string());
    headers.push(HeaderName::CallId, call_id);
    headers.push(HeaderName::CSeq, CSeq::new(cseq, &method).to_string());
    Request {
        method,
        uri: uri.to_owned(),
        version: "SIP/2.0".to_owned(),
        headers,
        body: Bytes::new(),
    }
}

/// The ACK for a non-2xx final response (RFC 3261 §17.1.1.3): same
/// Request-URI, top Via, From, Call-ID, Route and CSeq number as the INVITE,
/// the To of the response.
pub fn ack_for_non2xx(invite: &Request, response: &Response) -> Request {
    let h = &invite.headers;
    let mut headers = Headers::new();
    if let Some(v) = h.get(&HeaderName::Via) {
        headers.push(HeaderName::Via, v);
    }
    headers.push(HeaderName::MaxForwards, "70");
    for name in [HeaderName::From, HeaderName::CallId] {
        if let Some(v) = h.get(&name) {
            headers.push(name, v);
        }
    }
    let to = response
        .headers
        .get(&HeaderName::To)
        .or_else(|| h.get(&HeaderName::To))
        .unwrap_or_default();
    headers.push(HeaderName::To, to);
    let seq = CSeq::of(h).map_or(1, |c| c.seq);
    headers.push(HeaderName::CSeq, CSeq::new(seq, &Method::ACK).to_string());
    for r in h.get_all(&HeaderName::Route) {
        headers.push(HeaderName::Route, r);
    }
    Request {
        method: Method::ACK,
        uri: invite.uri.clone(),
        version: "SIP/2.0".to_owned(),
        headers,
        body: Bytes::new(),
    }
}

/// CANCEL for a pending INVITE (RFC 3261 §9.1): same Request-URI, Call-ID,
/// To, From, CSeq number and top Via (so the same branch).
pub fn cancel_for(invite: &Request) -> Request {
    let h = &invite.headers;
    let mut headers = Headers::new();
    if let Some(v) = h.get(&HeaderName::Via) {
        headers.push(HeaderName::Via, v);
    }
    headers.push(HeaderName::MaxForwards, "70");
    for name in [HeaderName::From, HeaderName::To, HeaderName::CallId] {
        if let Some(v) = h.get(&name) {
            headers.push(name, v);
        }
    }
    let seq = CSeq::of(h).map_or(1, |c| c.seq);
    headers.push(
        HeaderName::CSeq,
        CSeq::new(seq, &Method::CANCEL).to_string(),
    );
    for r in h.get_all(&HeaderName::Route) {
        headers.push(HeaderName::Route, r);
    }
    Request {
        method: Method::CANCEL,
        uri: invite.uri.clone(),
        version: "SIP/2.0".to_owned(),
        headers,
        body: Bytes::new(),
    }
}

/// The branch of a message's top Via.
pub fn top_branch(h: &Headers) -> Option<String> {
    let v = crate::header::Via::parse(h.get(&HeaderName::Via)?).ok()?;
    v.branch().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invite() -> Request {
        let mut r = new_request(
            Method::INVITE,
            "sip:nlys@10.213.0.154:52210;transport=UDP",
            &Via::new("UDP", "10.255.150.110:5060", "z9hG4bK3235a974"),
            &NameAddr::parse("<sip:62@10.255.150.110>;tag=as66b0dd74", "From").unwrap(),
            &NameAddr::parse("<sip:nlys@10.255.150.110;transport=UDP>", "To").unwrap(),
            "sQqFlazjSWXiECsSwEVt6g..",
            102,
            70,
        );
        r.headers.push(HeaderName::Route, "<sip:proxy;lr>");
        r
    }

    #[test]
    fn cancel_copies_the_invite() {
        let c = cancel_for(&invite());
        assert_eq!(c.uri, "sip:nlys@10.213.0.154:52210;transport=UDP");
        assert_eq!(c.headers.get(&HeaderName::CSeq), Some("102 CANCEL"));
        assert_eq!(top_branch(&c.headers).as_deref(), Some("z9hG4bK3235a974"));
        assert_eq!(c.headers.get(&HeaderName::Route), Some("<sip:proxy;lr>"));
    }

    #[test]
    fn ack_takes_the_responses_to_tag() {
        let resp = Response {
            code: 486,
            reason: "Busy Here".into(),
            headers: {
                let mut h = Headers::new();
                h.push(
                    HeaderName::To,
                    "<sip:nlys@10.255.150.110;transport=UDP>;tag=bfa36807",
                );
                h
            },
            body: Bytes::new(),
        };
        let a = ack_for_non2xx(&invite(), &resp);
        assert_eq!(a.method, Method::ACK);
        assert_eq!(a.headers.get(&HeaderName::CSeq), Some("102 ACK"));
        assert!(a
            .headers
            .get(&HeaderName::To)
            .unwrap()
            .ends_with("tag=bfa36807"));
        assert_eq!(top_branch(&a.headers).as_deref(), Some("z9hG4bK3235a974"));
    }
}
