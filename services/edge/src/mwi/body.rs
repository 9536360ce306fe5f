//! The `application/simple-message-summary` body (RFC 3842) as chan_sip
//! writes it (`transmit_notify_with_mwi`): `Messages-Waiting`, the
//! `Message-Account` (the peer's `vmexten` at our address, with the
//! transport when not UDP) and `Voice-Message: new/old (0/0)`, the urgent
//! counts left out for `buggymwi=yes` phones.

use asterism_sip::transport::Kind;

pub const CONTENT_TYPE: &str = "application/simple-message-summary";

/// New and old messages over a peer's mailboxes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub new: u32,
    pub old: u32,
}

pub struct Account<'a> {
    pub vmexten: &'a str,
    /// host[:port] of this edge as the phone reaches it.
    pub host: &'a str,
    pub transport: Kind,
    pub buggy_mwi: bool,
}

pub fn summary(counts: Counts, account: &Account<'_>) -> String {
    let waiting = if counts.new > 0 { "yes" } else { "no" };
    let transport = match account.transport {
        Kind::Udp => String::new(),
        other => format!(";transport={}", other.as_str().to_ascii_lowercase()),
    };
    let urgent = if account.buggy_mwi { "" } else { " (0/0)" };
    format!(
        "Messages-Waiting: {waiting}\r\nMessage-Account: sip:{}@{}{transport}\r\nVoice-Message: {}/{}{urgent}\r\n",
        account.vmexten, account.host, counts.new, counts.old
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn as_chan_sip_writes_it() {
        let a = Account {
            vmexten: "asterisk",
            host: "192.0.2.1:5070",
            transport: Kind::Udp,
            buggy_mwi: false,
        };
        assert_eq!(
            summary(Counts { new: 2, old: 1 }, &a),
            "Messages-Waiting: yes\r\nMessage-Account: sip:asterisk@192.0.2.1:5070\r\nVoice-Message: 2/1 (0/0)\r\n"
        );
        let b = Account {
            transport: Kind::Tcp,
            buggy_mwi: true,
            vmexten: "*97",
            ..a
        };
        assert_eq!(
            summary(Counts { new: 0, old: 3 }, &b),
            "Messages-Waiting: no\r\nMessage-Account: sip:*97@192.0.2.1:5070;transport=tcp\r\nVoice-Message: 0/3\r\n"
        );
    }
}
