//! The checks a server makes before acting on a request (RFC 3261 §8.2 and
//! §16.3, RFC 4475): mandatory headers present once, parseable Via/From/To/
//! CSeq/Contact, a matching CSeq method, a Request-URI we can serve. Each
//! failure carries the status code RFC 3261 asks for.

use crate::header::name::HeaderName;
use crate::header::{CSeq, NameAddr, Via};
use crate::message::Request;
use crate::method::Method;
use crate::uri::Uri;

/// Option tags we implement (answering `Require` with 420 for any other).
pub const SUPPORTED_EXTENSIONS: &[&str] = &[];

/// The typed core of a request that passed the checks.
#[derive(Debug, Clone)]
pub struct Checked {
    pub vias: Vec<Via>,
    pub from: NameAddr,
    pub to: NameAddr,
    pub call_id: String,
    pub cseq: CSeq,
    pub max_forwards: Option<u32>,
    pub uri: Uri,
    pub expires: Option<u32>,
}

/// Why a request is refused, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    pub code: u16,
    /// Reason phrase, more precise than the generic one where it helps.
    pub reason: String,
    /// For 420: the `Unsupported` header value.
    pub unsupported: Option<String>,
}

impl Reject {
    fn new(code: u16, reason: impl Into<String>) -> Self {
        Reject {
            code,
            reason: reason.into(),
            unsupported: None,
        }
    }

    fn bad(what: &str, why: &str) -> Self {
        Reject::new(400, format!("Bad {what}: {why}"))
    }
}

const MANDATORY: [HeaderName; 5] = [
    HeaderName::Via,
    HeaderName::From,
    HeaderName::To,
    HeaderName::CallId,
    HeaderName::CSeq,
];

pub fn check_request(req: &Request) -> Result<Checked, Reject> {
    if !req.version.eq_ignore_ascii_case("SIP/2.0") {
        return Err(Reject::new(505, "Version Not Supported"));
    }
    let h = &req.headers;
    for name in &MANDATORY {
        if h.get(name).is_none() {
            return Err(Reject::new(400, format!("Missing {name}")));
        }
    }
    for (name, _) in h.iter() {
        if name.is_single() && h.count(name) > 1 {
            return Err(Reject::new(400, format!("Multiple {name} values")));
        }
    }
    let vias = h
        .get_all(&HeaderName::Via)
        .map(Via::parse)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Reject::bad("Via", e.reason))?;
    let value = |n: &HeaderName| h.get(n).unwrap_or_default();
    let from = NameAddr::parse(value(&HeaderName::From), "From")
        .map_err(|e| Reject::bad("From", e.reason))?;
    let to =
        NameAddr::parse(value(&HeaderName::To), "To").map_err(|e| Reject::bad("To", e.reason))?;
    for c in h.get_all(&HeaderName::Contact) {
        if c != "*" {
            NameAddr::parse(c, "Contact").map_err(|e| Reject::bad("Contact", e.reason))?;
        }
    }
    let call_id = value(&HeaderName::CallId);
    if call_id.is_empty() || call_id.bytes().any(|c| c.is_ascii_whitespace()) {
        return Err(Reject::bad("Call-ID", "empty or contains white space"));
    }
    let cseq = CSeq::parse(value(&HeaderName::CSeq)).map_err(|e| Reject::bad("CSeq", e.reason))?;
    if cseq.method != *req.method.as_str() {
        return Err(match req.method {
            Method::Extension(_) => Reject::new(501, "Not Implemented"),
            _ => Reject::bad("CSeq", "method does not match the request"),
        });
    }
    let max_forwards = number(h.get(&HeaderName::MaxForwards), 255, "Max-Forwards")?;
    let expires = number(h.get(&HeaderName::Expires), u32::MAX as u64, "Expires")?;
    if req.uri.starts_with('<') {
        return Err(Reject::bad("Request-URI", "enclosed in <>"));
    }
    let uri = Uri::parse(&req.uri).map_err(|e| Reject::bad("Request-URI", e.reason))?;
    if !uri.is_sip() {
        return Err(Reject::new(416, "Unsupported URI Scheme"));
    }
    if uri.headers.is_some() {
        return Err(Reject::bad("Request-URI", "headers are not allowed"));
    }
    if req.method != Method::ACK && req.method != Method::CANCEL {
        let unknown: Vec<&str> = h
            .get_all(&HeaderName::Require)
            .filter(|t| {
                !SUPPORTED_EXTENSIONS
                    .iter()
                    .any(|s| s.eq_ignore_ascii_case(t))
            })
            .collect();
        if !unknown.is_empty() {
            let mut r = Reject::new(420, "Bad Extension");
            r.unsupported = Some(unknown.join(", "));
            return Err(r);
        }
    }
    Ok(Checked {
        vias,
        from,
        to,
        call_id: call_id.to_owned(),
        cseq,
        max_forwards: max_forwards.map(|n| n as u32),
        uri,
        expires: expires.map(|n| n as u32),
    })
}

fn number(v: Option<&str>, max: u64, what: &str) -> Result<Option<u64>, Reject> {
    let Some(v) = v else { return Ok(None) };
    if v.is_empty() || !v.bytes().all(|c| c.is_ascii_digit()) {
        return Err(Reject::bad(what, "not a number"));
    }
    v.parse::<u64>()
        .ok()
        .filter(|&n| n <= max)
        .map(Some)
        .ok_or_else(|| Reject::bad(what, "out of range"))
}
