//! SIP dialogs (RFC 3261 §12) as a B2BUA leg keeps them: the identifiers
//! (Call-ID and both tags), the remote target and route set, both CSeq
//! counters with the §12.2.2 ordering check, and the flow the peer is
//! reached on. Builds in-dialog requests and 2xx ACKs from typed headers,
//! so the edge never assembles a dialog header by hand.

use crate::header::{CSeq, NameAddr, Via};
use crate::message::{Request, Response};
use crate::request::new_request;
use crate::transaction::ClientKey;
use crate::transport::Flow;
use crate::validate::Checked;
use crate::{HeaderName, Method};

/// What names a dialog (RFC 3261 §12): Call-ID, our tag, the peer's tag.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DialogId {
    pub call_id: String,
    pub local_tag: String,
    pub remote_tag: String,
}

#[derive(Debug, Clone)]
pub struct Dialog {
    pub call_id: String,
    /// Our From (as UAC) or To (as UAS), with our tag.
    pub local: NameAddr,
    /// The peer's, with its tag once it gave one.
    pub remote: NameAddr,
    pub remote_target: String,
    pub route_set: Vec<String>,
    /// The CSeq of our last request in the dialog.
    pub local_cseq: u32,
    /// The CSeq of the peer's last request, once it sent one.
    pub remote_cseq: Option<u32>,
    pub flow: Flow,
    /// host:port we put in Via.
    pub host: String,
    /// Our Contact.
    pub contact: NameAddr,
}

/// Whether a request in a dialog is in order (RFC 3261 §12.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    InOrder,
    /// Its CSeq is below the peer's last: answer 500, change nothing.
    Stale,
}

impl Dialog {
    /// The dialog a UAS gets by answering `invite` with `local_tag`
    /// (RFC 3261 §12.1.1): the peer's Contact as target, Record-Route as is.
    pub fn uas(
        invite: &Request,
        checked: &Checked,
        local_tag: &str,
        flow: Flow,
        host: &str,
        contact: NameAddr,
    ) -> Dialog {
        let h = &invite.headers;
        let remote_target = contact_uri(h.get(&HeaderName::Contact))
            .unwrap_or_else(|| checked.from.uri.raw.clone());
        Dialog {
            call_id: checked.call_id.clone(),
            local: checked.to.clone().with_tag(local_tag),
            remote: checked.from.clone(),
            remote_target,
            route_set: h
                .get_all(&HeaderName::RecordRoute)
                .map(str::to_owned)
                .collect(),
            local_cseq: 1000 + u32::from(rand::random::<u16>()),
            remote_cseq: Some(checked.cseq.seq),
            flow,
            host: host.to_owned(),
            contact,
        }
    }

    pub fn id(&self) -> DialogId {
        DialogId {
            call_id: self.call_id.clone(),
            local_tag: self.local.tag().unwrap_or_default().to_owned(),
            remote_tag: self.remote.tag().unwrap_or_default().to_owned(),
        }
    }

    /// Whether a request belongs to this dialog (RFC 3261 §12.2.2): its
    /// Call-ID, the peer's tag in From and ours in To. Anything else must
    /// change nothing (481).
    pub fn matches(&self, c: &Checked) -> bool {
        c.call_id == self.call_id
            && c.from.tag().is_some()
            && c.from.tag() == self.remote.tag()
            && c.to.tag().is_some()
            && c.to.tag() == self.local.tag()
    }

    /// Check a request of the peer against its CSeq and remember it. ACK
    /// and CANCEL carry their INVITE's number and are never stale.
    pub fn check_order(&mut self, method: &Method, cseq: &CSeq) -> Order {
        if *method == Method::ACK || *method == Method::CANCEL {
            return Order::InOrder;
        }
        match self.remote_cseq {
            Some(last) if cseq.seq < last => Order::Stale,
            _ => {
                self.remote_cseq = Some(cseq.seq);
                Order::InOrder
            }
        }
    }

    /// A request in this dialog, in a new client transaction.
    pub fn request(&mut self, method: Method) -> (ClientKey, Request) {
        self.local_cseq += 1;
        let key = ClientKey::new(method.clone());
        let mut r = self.build(method, &key.branch, self.local_cseq);
        r.headers
            .push(HeaderName::Contact, self.contact.to_string());
        (key, r)
    }

    /// The ACK of a 2xx to our INVITE with CSeq `seq` (RFC 3261
    /// §13.2.2.4): a branch of its own, no transaction.
    pub fn ack(&self, seq: u32) -> Request {
        let branch = ClientKey::new(Method::ACK).branch;
        self.build(Method::ACK, &branch, seq)
    }

    fn build(&self, method: Method, branch: &str, seq: u32) -> Request {
        let via = Via::new(self.flow.kind.as_str(), &self.host, branch);
        let mut r = new_request(
            method,
            &self.remote_target,
            &via,
            &self.local,
            &self.remote,
            &self.call_id,
            seq,
            70,
        );
        for route in &self.route_set {
            r.headers.push(HeaderName::Route, route.clone());
        }
        r
    }

    /// As UAC: learn the peer's tag, target and route set from a 1xx/2xx
    /// of our INVITE (Record-Route reversed, RFC 3261 §12.1.2).
    pub fn confirm_from(&mut self, response: &Response) {
        let to = response.headers.get(&HeaderName::To);
        if let Some(to) = to.and_then(|t| NameAddr::parse(t, "To").ok()) {
            self.remote = to;
        }
        self.refresh_target(response);
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

    /// A target refresh (a 2xx to a re-INVITE, say) moves the remote target.
    pub fn refresh_target(&mut self, response: &Response) {
        if let Some(target) = contact_uri(response.headers.get(&HeaderName::Contact)) {
            self.remote_target = target;
        }
    }
}

/// The URI of a Contact header value.
pub fn contact_uri(contact: Option<&str>) -> Option<String> {
    NameAddr::parse(contact?, "Contact").ok().map(|n| n.uri.raw)
}

#[cfg(test)]
mod tests;
