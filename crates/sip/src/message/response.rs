//! Building responses to requests (RFC 3261 §8.2.6): Via, From, To, Call-ID
//! and CSeq copied from the request, a To tag added on anything but 100, and
//! the top Via stamped with `received`/`rport` (RFC 3581).

use crate::header::name::HeaderName;
use crate::message::{Headers, Response};
use crate::status::reason_phrase;
use bytes::Bytes;

/// The product token we put in `Server` and `User-Agent`.
pub const SERVER: &str = concat!("Asterism PBX ", env!("CARGO_PKG_VERSION"));

/// Copy the dialog-identifying headers of `request` into a new response.
/// `top_via` replaces the first Via (already stamped by the caller);
/// `to_tag` is added to To when the request had none and `code > 100`.
pub fn response_to(
    request: &Headers,
    code: u16,
    top_via: Option<String>,
    to_tag: Option<&str>,
) -> Response {
    let mut headers = Headers::new();
    let mut first = true;
    for v in request.get_all(&HeaderName::Via) {
        match (&top_via, first) {
            (Some(top), true) => headers.push(HeaderName::Via, top.clone()),
            _ => headers.push(HeaderName::Via, v),
        }
        first = false;
    }
    for name in [
        HeaderName::From,
        HeaderName::To,
        HeaderName::CallId,
        HeaderName::CSeq,
    ] {
        let Some(v) = request.get(&name) else {
            continue;
        };
        if name == HeaderName::To && code > 100 && !has_tag(v) {
            if let Some(tag) = to_tag {
                headers.push(name, format!("{v};tag={tag}"));
                continue;
            }
        }
        headers.push(name, v);
    }
    if code > 100 {
        headers.push(HeaderName::Server, SERVER);
    }
    Response {
        code,
        reason: reason_phrase(code).to_owned(),
        headers,
        body: Bytes::new(),
    }
}

fn has_tag(to: &str) -> bool {
    // The tag is a header parameter: after the closing '>' when there is one.
    let params = match to.rfind('>') {
        Some(i) => &to[i..],
        None => to,
    };
    params
        .split(';')
        .skip(1)
        .any(|p| p.trim().to_ascii_lowercase().starts_with("tag"))
}

/// A random token for tags and branches: 16 hex digits.
pub fn random_token() -> String {
    format!("{:016x}", rand::random::<u64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_and_tags() {
        let mut req = Headers::new();
        req.push(HeaderName::Via, "SIP/2.0/UDP a;branch=z9hG4bK1");
        req.push(HeaderName::Via, "SIP/2.0/UDP b;branch=z9hG4bK2");
        req.push(HeaderName::From, "<sip:a@b>;tag=1");
        req.push(HeaderName::To, "<sip:a@b>");
        req.push(HeaderName::CallId, "c");
        req.push(HeaderName::CSeq, "1 REGISTER");
        let r = response_to(
            &req,
            200,
            Some("SIP/2.0/UDP a;branch=z9hG4bK1;received=1.2.3.4".into()),
            Some("xyz"),
        );
        let vias: Vec<_> = r.headers.get_all(&HeaderName::Via).collect();
        assert_eq!(vias[0], "SIP/2.0/UDP a;branch=z9hG4bK1;received=1.2.3.4");
        assert_eq!(vias[1], "SIP/2.0/UDP b;branch=z9hG4bK2");
        assert_eq!(r.headers.get(&HeaderName::To), Some("<sip:a@b>;tag=xyz"));
        assert_eq!(r.reason, "OK");
    }

    #[test]
    fn existing_tag_kept() {
        assert!(has_tag("<sip:a@b>;tag=1"));
        assert!(!has_tag("<sip:a@b;tag=1>"));
        assert!(has_tag("sip:a@b;tag=1"));
    }
}
