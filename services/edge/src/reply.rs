//! Responses to one request: the request's identifying headers, the top Via
//! stamped with `received`/`rport`, one To tag for the transaction, and the
//! headers every Asterism response carries.

use asterism_sip::message::{Headers, Response};
use asterism_sip::response::{random_token, response_to};
use asterism_sip::HeaderName;

/// Methods the edge implements (the `Allow` header).
pub const ALLOW: &str =
    "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, INFO, UPDATE, MESSAGE, NOTIFY, SUBSCRIBE, REFER";
/// Bodies we accept (the `Accept` header).
pub const ACCEPT: &str = "application/sdp";

pub struct Replier {
    headers: Headers,
    top_via: Option<String>,
    to_tag: String,
}

impl Replier {
    pub fn new(headers: Headers, top_via: Option<String>) -> Self {
        Replier {
            headers,
            top_via,
            to_tag: random_token(),
        }
    }

    pub fn request_headers(&self) -> &Headers {
        &self.headers
    }

    /// The To tag this transaction's responses carry (our dialog tag).
    pub fn to_tag(&self) -> &str {
        &self.to_tag
    }

    pub fn reply(&self, code: u16) -> Response {
        response_to(
            &self.headers,
            code,
            self.top_via.clone(),
            Some(&self.to_tag),
        )
    }

    /// A reply with a specific reason phrase.
    pub fn reply_with(&self, code: u16, reason: &str) -> Response {
        let mut r = self.reply(code);
        r.reason = reason.to_owned();
        r
    }

    /// 405/501 and OPTIONS carry what we allow.
    pub fn with_allow(&self, code: u16) -> Response {
        let mut r = self.reply(code);
        r.headers.push(HeaderName::Allow, ALLOW);
        r
    }
}

/// The replier for a request that came on `flow`: answers go back where
/// it came from, like Asterisk's nat=force_rport (received and rport in
/// the top Via).
pub fn replier_for(
    flow: asterism_sip::transport::Flow,
    req: &asterism_sip::Request,
    checked: &asterism_sip::validate::Checked,
) -> Replier {
    let mut top = checked.vias[0].clone();
    top.stamp_received(flow.remote.ip(), flow.remote.port(), true);
    Replier::new(req.headers.clone(), Some(top.to_string()))
}
