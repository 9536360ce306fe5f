//! SIP messages: parsing a framed message into start line, headers and body,
//! and printing it back. Parsing is tolerant where RFC 3261 and RFC 4475 say
//! so (folded lines, compact names, LWS before `:`, header lists on one line)
//! and records the first hard error together with whatever headers it could
//! read, so the edge can still build a `400` that matches the request.

use crate::error::ParseError;
use crate::framing::Frame;
use crate::header::name::HeaderName;
use crate::method::Method;
use crate::text::{is_token, split_outside, trim_lws};
use bytes::Bytes;

/// Headers in arrival order. List headers hold one entry per element.
/// The values live in one text buffer, each entry a range of it: parsing a
/// message or cloning its headers (a B2BUA copies them for every reply and
/// relayed request) costs two allocations, not one per header.
#[derive(Clone, Default)]
pub struct Headers {
    text: String,
    items: Vec<(HeaderName, usize, usize)>,
}

impl PartialEq for Headers {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for Headers {}

impl std::fmt::Debug for Headers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl Headers {
    pub fn new() -> Self {
        Headers::with_capacity(256)
    }

    /// Room for `bytes` of values (a parsed message's header block).
    pub fn with_capacity(bytes: usize) -> Self {
        Headers {
            text: String::with_capacity(bytes),
            items: Vec::with_capacity(12),
        }
    }

    fn value(&self, start: usize, end: usize) -> &str {
        &self.text[start..end]
    }

    /// Store `value` at the end of the text; its range.
    fn store(&mut self, value: &str) -> (usize, usize) {
        let start = self.text.len();
        self.text.push_str(value);
        (start, self.text.len())
    }

    pub fn get(&self, name: &HeaderName) -> Option<&str> {
        self.items
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|&(_, s, e)| self.value(s, e))
    }

    pub fn get_all<'a>(&'a self, name: &'a HeaderName) -> impl Iterator<Item = &'a str> + 'a {
        self.items
            .iter()
            .filter(move |(n, _, _)| n == name)
            .map(|&(_, s, e)| self.value(s, e))
    }

    pub fn count(&self, name: &HeaderName) -> usize {
        self.items.iter().filter(|(n, _, _)| n == name).count()
    }

    pub fn push(&mut self, name: HeaderName, value: impl AsRef<str>) {
        let (s, e) = self.store(value.as_ref());
        self.items.push((name, s, e));
    }

    /// Replace every value of `name` with one value (appended if absent).
    pub fn set(&mut self, name: HeaderName, value: impl AsRef<str>) {
        match self.items.iter().position(|(n, _, _)| *n == name) {
            Some(i) => {
                let (s, e) = self.store(value.as_ref());
                self.items[i].1 = s;
                self.items[i].2 = e;
                let mut seen = false;
                self.items.retain(|(n, _, _)| {
                    if *n != name {
                        return true;
                    }
                    let keep = !seen;
                    seen = true;
                    keep
                });
            }
            None => self.push(name, value),
        }
    }

    pub fn remove(&mut self, name: &HeaderName) {
        self.items.retain(|(n, _, _)| n != name);
    }

    pub fn iter(&self) -> impl Iterator<Item = (&HeaderName, &str)> {
        self.items.iter().map(|(n, s, e)| (n, self.value(*s, *e)))
    }

    /// Take the first value of `name` out (a proxy popping its Route or Via).
    pub fn pop_first(&mut self, name: &HeaderName) -> Option<String> {
        let i = self.items.iter().position(|(n, _, _)| n == name)?;
        let (_, s, e) = self.items.remove(i);
        Some(self.value(s, e).to_owned())
    }

    /// Put a value before every other value of `name` (a proxy's Via or
    /// Record-Route), or first of all headers when there is none.
    pub fn push_front(&mut self, name: HeaderName, value: impl AsRef<str>) {
        let i = self
            .items
            .iter()
            .position(|(n, _, _)| *n == name)
            .unwrap_or(0);
        let (s, e) = self.store(value.as_ref());
        self.items.insert(i, (name, s, e));
    }

    /// Replace the first value of `name` (e.g. the top Via).
    pub fn replace_first(&mut self, name: &HeaderName, value: String) {
        if let Some(i) = self.items.iter().position(|(n, _, _)| n == name) {
            let (s, e) = self.store(&value);
            self.items[i].1 = s;
            self.items[i].2 = e;
        }
    }

    fn write(&self, out: &mut Vec<u8>) {
        for (n, v) in self.iter() {
            if *n == HeaderName::ContentLength {
                continue;
            }
            out.extend_from_slice(n.as_str().as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(v.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    /// Request-URI as written; [`crate::validate`] checks it.
    pub uri: String,
    pub version: String,
    pub headers: Headers,
    pub body: Bytes,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub code: u16,
    pub reason: String,
    pub headers: Headers,
    pub body: Bytes,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SipMessage {
    Request(Request),
    Response(Response),
}

/// What kind of message a malformed one claimed to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Request,
    Response,
}

/// A message that could not be parsed, with what was readable of it.
#[derive(Debug, Clone)]
pub struct Malformed {
    pub error: ParseError,
    pub kind: Kind,
    pub headers: Headers,
}

impl SipMessage {
    /// Parse one whole message (a datagram): what tests and tools that
    /// write SIP by hand use.
    pub fn parse_datagram(buf: &[u8]) -> Option<SipMessage> {
        let frame = crate::framing::frame_datagram(buf).ok()?;
        SipMessage::parse(buf, frame).ok()
    }

    /// Parse the message `frame` describes at the start of `buf`.
    pub fn parse(buf: &[u8], frame: Frame) -> Result<SipMessage, Box<Malformed>> {
        let head = &buf[..frame.head_len];
        let body = Bytes::copy_from_slice(&buf[frame.head_len..frame.total()]);
        let head = String::from_utf8_lossy(head);
        let mut lines = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
        let start = lines.next().unwrap_or_default();
        let kind = if start.starts_with("SIP/") {
            Kind::Response
        } else {
            Kind::Request
        };
        let (headers, header_error) = parse_headers(lines, frame.head_len);
        let fail = |error: ParseError, headers: Headers| {
            Err(Box::new(Malformed {
                error,
                kind,
                headers,
            }))
        };
        let msg = match kind {
            Kind::Response => match parse_status_line(start) {
                Ok((code, reason)) => SipMessage::Response(Response {
                    code,
                    reason,
                    headers,
                    body,
                }),
                Err(e) => return fail(e, headers),
            },
            Kind::Request => match parse_request_line(start) {
                Ok((method, uri, version)) => SipMessage::Request(Request {
                    method,
                    uri,
                    version,
                    headers,
                    body,
                }),
                Err(e) => return fail(e, headers),
            },
        };
        match header_error {
            Some(e) => fail(e, msg.into_headers()),
            None => Ok(msg),
        }
    }

    pub fn headers(&self) -> &Headers {
        match self {
            SipMessage::Request(r) => &r.headers,
            SipMessage::Response(r) => &r.headers,
        }
    }

    fn into_headers(self) -> Headers {
        match self {
            SipMessage::Request(r) => r.headers,
            SipMessage::Response(r) => r.headers,
        }
    }
}

fn parse_request_line(line: &str) -> Result<(Method, String, String), ParseError> {
    const E: &str = "Request-Line";
    let mut parts = line.split(' ');
    let (Some(m), Some(uri), Some(v), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ParseError::new(
            E,
            "expected Method SP Request-URI SP SIP-Version",
        ));
    };
    if !is_token(m) {
        return Err(ParseError::new(E, "bad method"));
    }
    if uri.is_empty() || v.is_empty() {
        return Err(ParseError::new(E, "empty element"));
    }
    let ok_version = v
        .strip_prefix("SIP/")
        .and_then(|n| n.split_once('.'))
        .is_some_and(|(a, b)| {
            !a.is_empty()
                && !b.is_empty()
                && (a.bytes().chain(b.bytes())).all(|c| c.is_ascii_digit())
        });
    if !ok_version {
        return Err(ParseError::new(E, "bad SIP-Version"));
    }
    Ok((Method::parse(m), uri.to_owned(), v.to_owned()))
}

fn parse_status_line(line: &str) -> Result<(u16, String), ParseError> {
    const E: &str = "Status-Line";
    let (version, rest) = line
        .split_once(' ')
        .ok_or(ParseError::new(E, "no status code"))?;
    if version != "SIP/2.0" {
        return Err(ParseError::new(E, "bad SIP-Version"));
    }
    let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
    let code = (code.len() == 3)
        .then(|| code.parse::<u16>().ok())
        .flatten()
        .filter(|c| (100..700).contains(c))
        .ok_or(ParseError::new(E, "bad status code"))?;
    Ok((code, reason.to_owned()))
}

/// Unfold continuation lines, split name from value, expand compact names and
/// split list headers. Returns the headers read and the first error met.
/// Lines are read in place; only a folded header is copied to unfold it.
fn parse_headers<'a>(
    lines: impl Iterator<Item = &'a str>,
    size: usize,
) -> (Headers, Option<ParseError>) {
    let mut headers = Headers::with_capacity(size);
    let mut error = None;
    let mut pending: Option<std::borrow::Cow<'a, str>> = None;
    let mut finish = |line: &str, headers: &mut Headers| {
        if let Err(e) = parse_header_line(line, headers) {
            error.get_or_insert(e);
        }
    };
    for line in lines {
        if line.is_empty() {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            if let Some(prev) = pending.as_mut() {
                let prev = prev.to_mut();
                prev.push(' ');
                prev.push_str(trim_lws(line));
                continue;
            }
        }
        if let Some(prev) = pending.replace(std::borrow::Cow::Borrowed(line)) {
            finish(&prev, &mut headers);
        }
    }
    if let Some(prev) = pending {
        finish(&prev, &mut headers);
    }
    (headers, error)
}

fn parse_header_line(line: &str, headers: &mut Headers) -> Result<(), ParseError> {
    const E: &str = "header";
    let (name, value) = line
        .split_once(':')
        .ok_or(ParseError::new(E, "line without colon"))?;
    let name = trim_lws(name);
    if !is_token(name) {
        return Err(ParseError::new(E, "bad header name"));
    }
    let name = HeaderName::parse(name);
    let value = trim_lws(value);
    if !name.is_list() {
        headers.push(name, value);
        return Ok(());
    }
    let elements = split_outside(value, b',').map_err(|r| ParseError::new(E, r))?;
    for el in elements {
        let el = trim_lws(el);
        if el.is_empty() {
            if name.forbids_empty_elements() {
                return Err(ParseError::new(E, "empty list element"));
            }
            continue;
        }
        headers.push(name.clone(), el);
    }
    Ok(())
}

fn write_message(start: &str, headers: &Headers, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(512 + body.len());
    out.extend_from_slice(start.as_bytes());
    out.extend_from_slice(b"\r\n");
    headers.write(&mut out);
    out.extend_from_slice(b"Content-Length: ");
    out.extend_from_slice(body.len().to_string().as_bytes());
    out.extend_from_slice(b"\r\n\r\n");
    out.extend_from_slice(body);
    out
}

impl Request {
    pub fn to_bytes(&self) -> Vec<u8> {
        let start = format!("{} {} {}", self.method, self.uri, self.version);
        write_message(&start, &self.headers, &self.body)
    }
}

impl Response {
    pub fn to_bytes(&self) -> Vec<u8> {
        let start = format!("SIP/2.0 {} {}", self.code, self.reason);
        write_message(&start, &self.headers, &self.body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framing::frame_datagram;

    fn parse(s: &[u8]) -> Result<SipMessage, Box<Malformed>> {
        SipMessage::parse(s, frame_datagram(s).unwrap())
    }

    #[test]
    fn a_proxy_pops_and_pushes_in_front() {
        let mut h = Headers::new();
        h.push(HeaderName::Via, "v1");
        h.push(HeaderName::Route, "r1");
        h.push(HeaderName::Route, "r2");
        assert_eq!(h.pop_first(&HeaderName::Route).as_deref(), Some("r1"));
        assert_eq!(h.get_all(&HeaderName::Route).collect::<Vec<_>>(), ["r2"]);
        h.push_front(HeaderName::Via, "v0");
        h.push_front(HeaderName::RecordRoute, "rr");
        let order: Vec<_> = h.iter().map(|(_, v)| v).collect();
        assert_eq!(order, ["rr", "v0", "v1", "r2"]);
        assert_eq!(h.pop_first(&HeaderName::Path), None);
    }

    #[test]
    fn replaced_values_read_back_and_headers_compare_by_content() {
        let mut a = Headers::new();
        a.push(HeaderName::Via, "v1");
        a.push(HeaderName::To, "t");
        a.push(HeaderName::Via, "v2");
        a.set(HeaderName::Via, "v9");
        assert_eq!(a.get_all(&HeaderName::Via).collect::<Vec<_>>(), ["v9"]);
        a.replace_first(&HeaderName::To, "t2".to_owned());
        a.set(HeaderName::CallId, "c");
        let mut b = Headers::new();
        b.push(HeaderName::Via, "v9");
        b.push(HeaderName::To, "t2");
        b.push(HeaderName::CallId, "c");
        // Same headers, though `a`'s text still holds the replaced values.
        assert_eq!(a, b);
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
        b.remove(&HeaderName::CallId);
        assert_ne!(a, b);
    }

    #[test]
    fn folded_compact_and_listed_headers() {
        let m = parse(
            b"OPTIONS sip:a@b SIP/2.0\r\nv: SIP/2.0/UDP h1;branch=z9hG4bK1 ,\r\n SIP/2.0/TCP h2;branch=z9hG4bK2\r\nTO :\r\n <sip:x@y>\r\ni: abc\r\nl: 0\r\n\r\n",
        )
        .unwrap();
        let h = m.headers();
        let vias: Vec<_> = h.get_all(&HeaderName::Via).collect();
        assert_eq!(
            vias,
            vec![
                "SIP/2.0/UDP h1;branch=z9hG4bK1",
                "SIP/2.0/TCP h2;branch=z9hG4bK2"
            ]
        );
        assert_eq!(h.get(&HeaderName::To), Some("<sip:x@y>"));
        assert_eq!(h.get(&HeaderName::CallId), Some("abc"));
    }

    #[test]
    fn request_round_trip() {
        let raw = b"REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\nCall-ID: a\r\nContent-Length: 0\r\n\r\n";
        let SipMessage::Request(r) = parse(raw).unwrap() else {
            panic!("not a request")
        };
        assert_eq!(r.method, Method::REGISTER);
        assert_eq!(r.to_bytes(), raw.to_vec());
    }

    #[test]
    fn bad_request_line_keeps_headers() {
        let e = parse(b"INVITE  sip:a@b SIP/2.0\r\nCall-ID: x\r\n\r\n").unwrap_err();
        assert_eq!(e.kind, Kind::Request);
        assert_eq!(e.headers.get(&HeaderName::CallId), Some("x"));
    }

    #[test]
    fn response_with_empty_reason() {
        let SipMessage::Response(r) = parse(b"SIP/2.0 100 \r\nCall-ID: x\r\n\r\n").unwrap() else {
            panic!()
        };
        assert_eq!(r.code, 100);
    }

    #[test]
    fn huge_status_code_is_malformed() {
        let e = parse(b"SIP/2.0 4294967301 better not break the receiver\r\n\r\n").unwrap_err();
        assert_eq!(e.kind, Kind::Response);
    }
}
