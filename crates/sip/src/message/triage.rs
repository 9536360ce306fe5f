//! The first decision on every received message, before any transaction:
//! drop it (responses we are not waiting for, malformed responses), refuse it
//! with the status RFC 3261 asks for (400, 416, 420, 501, 505…), or accept it
//! as a request with its typed core.

use crate::header::name::HeaderName;
use crate::message::{Headers, Kind, Request, Response, SipMessage};
use crate::transport::InboundEvent;
use crate::validate::{check_request, Checked, Reject};

#[derive(Debug)]
pub enum Triage {
    /// Say nothing: RFC 3261 §18.1.2/§16.7 (malformed or stray responses,
    /// requests so broken that no reply can be addressed).
    Drop,
    /// A response for the client side (handled by the calls layer later).
    Response(Response),
    /// Answer with `reject`, copying the request's readable `headers`.
    Refuse { reject: Reject, headers: Headers },
    /// A well-formed request.
    Accept(Box<(Request, Checked)>),
}

pub fn triage(event: InboundEvent) -> Triage {
    match event {
        InboundEvent::Malformed(m) => {
            if m.kind == Kind::Response || m.headers.get(&HeaderName::Via).is_none() {
                return Triage::Drop;
            }
            let reject = Reject {
                code: 400,
                reason: format!("Bad Request ({})", m.error),
                unsupported: None,
            };
            Triage::Refuse {
                reject,
                headers: m.headers,
            }
        }
        InboundEvent::Message(SipMessage::Response(r)) => Triage::Response(r),
        InboundEvent::Message(SipMessage::Request(r)) => match check_request(&r) {
            Ok(c) => Triage::Accept(Box::new((r, c))),
            Err(reject) => {
                if r.method == crate::Method::ACK {
                    // An ACK is never answered (RFC 3261 §17.2.1).
                    return Triage::Drop;
                }
                Triage::Refuse {
                    reject,
                    headers: r.headers,
                }
            }
        },
    }
}
