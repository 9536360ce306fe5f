//! `Transfer([Tech/]destination)`, as chan_sip's `sip_transfer` runs it
//! for app_transfer: the caller's own phone is asked to go elsewhere.
//! Before the answer: `302 Moved Temporarily` with `Contact: Transfer
//! <sip:dest@host>` (the host of the INVITE's To, unless `dest` has one),
//! and the call is over (TRANSFERSTATUS=SUCCESS). Once answered: a REFER
//! (`Refer-To: <sip:dest@host>`, the host of the caller's From, and
//! `Referred-By` our Contact); a refusal of the REFER (≥ 300, or no answer)
//! is FAILURE with its code in TRANSFERSTATUSPROTOCOL; after the 202 the
//! phone's NOTIFYs tell how the transfer went: a 2xx sipfrag is SUCCESS
//! (protocol 0), a final failure FAILURE with its code. The phone then
//! usually hangs up, which ends the dialplan as any hang-up does.

use super::a_leg::{core, AState};
use super::machine::{CallState, Machine};
use super::steps::hung_up;
use crate::command::Command;
use crate::reply::Replier;
use asterism_proto::router::{StepResult, StepStatus};
use asterism_sip::message::Response;
use asterism_sip::transaction::{ClientKey, TsxKey};
use asterism_sip::{HeaderName, Method, Request};

/// The step's result: TRANSFERSTATUS and TRANSFERSTATUSPROTOCOL.
fn status(status: &str, protocol: u16) -> StepResult {
    StepResult {
        status: StepStatus::Ok as i32,
        variables: [
            ("TRANSFERSTATUS".to_owned(), status.to_owned()),
            ("TRANSFERSTATUSPROTOCOL".to_owned(), protocol.to_string()),
        ]
        .into(),
        ..Default::default()
    }
}

/// `host[:port]` of `u`.
fn host_port(u: &asterism_sip::Uri) -> String {
    match u.port {
        Some(p) => format!("{}:{p}", u.host),
        None => u.host.to_string(),
    }
}

/// `<sip:dest@host>`, or `<sip:dest>` when `dest` names its host.
fn target(dest: &str, host: &str) -> String {
    let dest = dest
        .strip_prefix("sip:")
        .or_else(|| dest.strip_prefix("sips:"))
        .unwrap_or(dest);
    if dest.contains('@') {
        format!("<sip:{dest}>")
    } else {
        format!("<sip:{dest}@{host}>")
    }
}

/// The status code of a `message/sipfrag` body's status line.
fn sipfrag_code(body: &[u8]) -> Option<u16> {
    let text = std::str::from_utf8(body).ok()?;
    let line = text.lines().next()?;
    let rest = line.trim().strip_prefix("SIP/2.0")?;
    rest.split_whitespace().next()?.parse().ok()
}

impl Machine {
    /// Run `Transfer(destination)` for the caller.
    pub(super) fn transfer_app(&mut self, dest: String) {
        let dest = dest.trim().to_owned();
        if dest.is_empty() {
            return self.result(status("FAILURE", 0));
        }
        match self.a.state {
            AState::Gone => self.result(hung_up()),
            AState::Early => {
                let host = host_port(&self.a.checked.to.uri);
                let contact = format!("Transfer {}", target(&dest, &host));
                tracing::info!(%contact, "Transfer(): 302 before the answer");
                let mut r = self.a.replier.reply_with(302, "Moved Temporarily");
                r.headers.push(HeaderName::Contact, contact);
                self.a.fail(&mut self.out, r);
                self.result(status("SUCCESS", 0));
            }
            AState::Answered => {
                let host = host_port(&self.a.checked.from.uri);
                let refer_to = target(&dest, &host);
                let referred_by = self.a.contact.to_string();
                let Some(d) = self.a.dialog.as_mut() else {
                    return self.result(status("FAILURE", 0));
                };
                let (key, mut req) = d.request(Method::REFER);
                req.headers.push(HeaderName::ReferTo, refer_to);
                req.headers.push(HeaderName::ReferredBy, referred_by);
                crate::trace::inject_via_peer(&mut req, &d.route_set, &tracing::Span::current());
                let flow = d.flow;
                let command = Command::Request {
                    key: key.clone(),
                    flow,
                    request: req,
                };
                core(&mut self.out, command);
                tracing::info!(%dest, "Transfer(): REFER to the caller");
                self.state = CallState::Referring { key };
            }
        }
    }

    /// Whether `key` is our REFER; if so, its answer (None: no answer).
    pub(super) fn refer_answered(&mut self, key: &ClientKey, r: Option<&Response>) -> bool {
        let CallState::Referring { key: k } = &self.state else {
            return false;
        };
        if k != key {
            return false;
        }
        match r.map_or(408, |r| r.code) {
            0..=199 => {}
            // Accepted: the NOTIFYs decide.
            200..=299 => {}
            code => {
                tracing::info!(code, "Transfer(): the phone refused the REFER");
                self.result(status("FAILURE", code));
            }
        }
        true
    }

    /// A NOTIFY from the caller while `Transfer()` waits: 200, and its
    /// sipfrag decides the step once final.
    pub(super) fn refer_notified(&mut self, key: TsxKey, replier: Replier, req: &Request) {
        let response = replier.reply(200);
        core(&mut self.out, Command::Respond { key, response });
        let is_refer = req
            .headers
            .get(&HeaderName::Event)
            .is_some_and(|e| e.trim().to_ascii_lowercase().starts_with("refer"));
        if !is_refer || !matches!(self.state, CallState::Referring { .. }) {
            return;
        }
        match sipfrag_code(&req.body) {
            Some(200..=299) => {
                tracing::info!("Transfer(): the phone was transferred");
                self.result(status("SUCCESS", 0));
            }
            Some(code @ 300..) => self.result(status("FAILURE", code)),
            _ => {}
        }
    }

    /// The caller hung up while `Transfer()` waited for the outcome.
    pub(super) fn referring_gone(&mut self) {
        self.result(hung_up());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_uri_and_the_sipfrag_are_read_as_chan_sip_does() {
        assert_eq!(target("63", "10.0.0.1:5060"), "<sip:63@10.0.0.1:5060>");
        assert_eq!(target("63@pbx.example", "h"), "<sip:63@pbx.example>");
        assert_eq!(target("sip:63@pbx.example", "h"), "<sip:63@pbx.example>");
        assert_eq!(sipfrag_code(b"SIP/2.0 200 OK\r\n"), Some(200));
        assert_eq!(sipfrag_code(b"SIP/2.0 100 Trying"), Some(100));
        assert_eq!(sipfrag_code(b"SIP/2.0 486 Busy Here\r\n"), Some(486));
        assert_eq!(sipfrag_code(b"hello"), None);
        assert_eq!(sipfrag_code(&[0xff, 0xfe]), None);
    }
}
