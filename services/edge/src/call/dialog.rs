//! One side of a B2BUA call as a SIP dialog (RFC 3261 §12): the identifiers,
//! the remote target and route set, our CSeq counter, and the flow the
//! other party is reached on. Builds in-dialog requests and 2xx ACKs.

use asterism_sip::header::NameAddr;
use asterism_sip::message::Response;
use asterism_sip::request::{new_request, via};
use asterism_sip::transaction::ClientKey;
use asterism_sip::transport::Flow;
use asterism_sip::validate::Checked;
use asterism_sip::{HeaderName, Method, Request};

#[derive(Debug, Clone)]
pub struct Dialog {
    pub call_id: String,
    /// Our From/To header value, with our tag.
    pub local: String,
    /// The peer's, with its tag.
    pub remote: String,
    pub remote_target: String,
    pub route_set: Vec<String>,
    pub local_cseq: u32,
    pub flow: Flow,
    /// host:port we put in Via and Contact.
    pub host: String,
    pub contact: String,
}

impl Dialog {
    /// A request in this dialog, in a new client transaction.
    pub fn request(&mut self, method: Method) -> (ClientKey, Request) {
        self.local_cseq += 1;
        let key = ClientKey::new(method.clone());
        let mut r = new_request(
            method,
            &self.remote_target,
            via(self.flow.kind.as_str(), &self.host, &key.branch),
            &self.local,
            &self.remote,
            &self.call_id,
            self.local_cseq,
            70,
        );
        for route in &self.route_set {
            r.headers.push(HeaderName::Route, route.clone());
        }
        r.headers.push(HeaderName::Contact, self.contact.clone());
        (key, r)
    }

    /// The ACK of a 2xx to our INVITE with CSeq `cseq` (RFC 3261 §13.2.2.4):
    /// a new branch, no transaction.
    pub fn ack(&self, cseq: u32) -> Request {
        let branch = ClientKey::new(Method::ACK).branch;
        let mut r = new_request(
            Method::ACK,
            &self.remote_target,
            via(self.flow.kind.as_str(), &self.host, &branch),
            &self.local,
            &self.remote,
            &self.call_id,
            cseq,
            70,
        );
        for route in &self.route_set {
            r.headers.push(HeaderName::Route, route.clone());
        }
        r
    }

    /// Learn the remote target and route set from a 2xx/1xx with To tag
    /// (UAC side: Record-Route reversed).
    pub fn confirm_from(&mut self, response: &Response) {
        if let Some(to) = response.headers.get(&HeaderName::To) {
            self.remote = to.to_owned();
        }
        if let Some(target) = contact_uri(response.headers.get(&HeaderName::Contact)) {
            self.remote_target = target;
        }
        let mut rr: Vec<String> = response
            .headers
            .get_all(&HeaderName::RecordRoute)
            .map(str::to_owned)
            .collect();
        rr.reverse();
        // A UAS must echo Record-Route (RFC 3261 §12.1.1); when one does
        // not, keep the route we pre-loaded (the hop through the edge that
        // holds the phone's flow), the only way to reach it.
        if !rr.is_empty() {
            self.route_set = rr;
        }
    }
}

impl Dialog {
    /// Whether a request belongs to this dialog (RFC 3261 §12.2.2): its
    /// Call-ID, the peer's tag in From and ours in To. Anything else must
    /// change nothing (481).
    pub fn matches(&self, c: &Checked) -> bool {
        c.call_id == self.call_id
            && c.from.tag().is_some()
            && c.from.tag() == tag_of(&self.remote).as_deref()
            && c.to.tag() == tag_of(&self.local).as_deref()
    }
}

/// The tag of a From/To header value.
pub fn tag_of(value: &str) -> Option<String> {
    NameAddr::parse(value, "To").ok()?.tag().map(str::to_owned)
}

/// The URI of a Contact header value.
pub fn contact_uri(contact: Option<&str>) -> Option<String> {
    NameAddr::parse(contact?, "Contact").ok().map(|n| n.uri.raw)
}

/// CSeq number of a message.
pub fn cseq_of(h: &asterism_sip::message::Headers) -> u32 {
    h.get(&HeaderName::CSeq)
        .and_then(|c| c.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(1)
}
