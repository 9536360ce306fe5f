//! A caller on a raw UDP socket, for tests that must know (and forge) what
//! sipp keeps to itself: the Call-ID, the tags, the digest of a call.

use super::sip::{md5_hex, nonce_of, status_code};
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

pub struct RawCaller {
    pub sock: UdpSocket,
    pub edge: SocketAddr,
    pub user: String,
    pub password: String,
    pub call_id: String,
    pub from_tag: String,
    /// The edge's tag, once it answered.
    pub to_tag: Option<String>,
    pub cseq: u32,
    /// The RTP port the SDP offer names.
    pub rtp_port: u16,
}

/// The value of `tag=` in a header line's value.
pub fn tag_in(value: &str) -> Option<String> {
    let t = value.split(";tag=").nth(1)?;
    Some(t.split([';', '>', ' ']).next()?.to_owned())
}

impl RawCaller {
    pub fn new(edge: SocketAddr, user: &str, password: &str, call_id: &str) -> RawCaller {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        RawCaller {
            sock,
            edge,
            user: user.into(),
            password: password.into(),
            call_id: call_id.into(),
            from_tag: format!("raw{}", super::sip::rand_u32()),
            to_tag: None,
            cseq: 1,
            rtp_port: 0,
        }
    }

    pub fn port(&self) -> u16 {
        self.sock.local_addr().unwrap().port()
    }

    /// The digest line answering `nonce` for `method` on `uri`.
    pub fn authorization(&self, method: &str, uri: &str, nonce: &str) -> String {
        let ha1 = md5_hex(&format!("{}:asterisk:{}", self.user, self.password));
        let ha2 = md5_hex(&format!("{method}:{uri}"));
        let resp = md5_hex(&format!("{ha1}:{nonce}:00000001:cafe:auth:{ha2}"));
        format!("Authorization: Digest username=\"{}\", realm=\"asterisk\", nonce=\"{nonce}\", uri=\"{uri}\", response=\"{resp}\", algorithm=MD5, qop=auth, nc=00000001, cnonce=\"cafe\"\r\n", self.user)
    }

    /// An INVITE for `number` with this caller's identity, `extra` headers
    /// and a PCMU offer.
    pub fn invite(&self, number: &str, branch: &str, extra: &str) -> String {
        let port = self.port();
        let rtp = if self.rtp_port == 0 {
            port + 2
        } else {
            self.rtp_port
        };
        let sdp = format!("v=0\r\no=raw 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {rtp} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n");
        format!(
            "INVITE sip:{number}@{edge} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch={branch};rport\r\nFrom: <sip:{u}@127.0.0.1>;tag={tag}\r\nTo: <sip:{number}@127.0.0.1>\r\nCall-ID: {cid}\r\nCSeq: {cseq} INVITE\r\nContact: <sip:{u}@127.0.0.1:{port}>\r\nMax-Forwards: 70\r\n{extra}Content-Type: application/sdp\r\nContent-Length: {len}\r\n\r\n{sdp}",
            edge = self.edge,
            u = self.user,
            tag = self.from_tag,
            cid = self.call_id,
            cseq = self.cseq,
            len = sdp.len()
        )
    }

    pub fn send(&self, msg: &str) {
        self.sock.send_to(msg.as_bytes(), self.edge).unwrap();
    }

    /// The next message within `wait`, if any.
    pub fn recv(&self, wait: Duration) -> Option<String> {
        self.sock.set_read_timeout(Some(wait)).ok()?;
        let mut buf = vec![0u8; 65535];
        let (n, _) = self.sock.recv_from(&mut buf).ok()?;
        Some(String::from_utf8_lossy(&buf[..n]).into_owned())
    }

    /// Messages until one with a final status (≥ 200) or `wait` passes.
    pub fn final_response(&self, wait: Duration) -> Option<String> {
        let until = Instant::now() + wait;
        while let Some(left) = until.checked_duration_since(Instant::now()) {
            let m = self.recv(left)?;
            if status_code(&m).is_some_and(|c| c >= 200) {
                return Some(m);
            }
        }
        None
    }

    /// An ACK for a final response `r` to INVITE `cseq`.
    pub fn ack(&self, r: &str, branch: &str, cseq: u32) -> String {
        let to = super::sip::header(r, "To").unwrap_or_default();
        format!(
            "ACK sip:{}@{} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{};branch={branch};rport\r\nFrom: <sip:{}@127.0.0.1>;tag={}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {cseq} ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
            self.user, self.edge, self.port(), self.user, self.from_tag, self.call_id
        )
    }

    /// INVITE, 401 (ACKed), then the INVITE with a digest for `uri` (the
    /// Request-URI unless given): the final answer to that one, and the
    /// INVITE as sent.
    pub fn invite_with_digest(&mut self, number: &str, uri: Option<&str>) -> (String, String) {
        let tag = self.call_id.replace(['@', '.'], "-");
        let b1 = format!("z9hG4bK-{tag}-1");
        self.send(&self.invite(number, &b1, ""));
        let r = self.final_response(Duration::from_secs(5)).expect("401");
        assert_eq!(status_code(&r), Some(401), "{r}");
        self.send(&self.ack(&r, &b1, self.cseq));
        let ruri = format!("sip:{number}@{}", self.edge);
        let auth = self.authorization("INVITE", uri.unwrap_or(&ruri), &nonce_of(&r).unwrap());
        self.cseq += 1;
        let invite = self.invite(number, &format!("z9hG4bK-{tag}-2"), &auth);
        self.send(&invite);
        let r = self.final_response(Duration::from_secs(10)).expect("final");
        (r, invite)
    }

    /// INVITE, 401, INVITE with digest, until the 200 (ACKed): the call is up.
    pub fn call(&mut self, number: &str) -> String {
        let (ok, _) = self.invite_with_digest(number, None);
        assert_eq!(status_code(&ok), Some(200), "{ok}");
        self.to_tag = super::sip::header(&ok, "To").and_then(tag_in);
        self.send(&self.ack(&ok, "z9hG4bK-raw-3", self.cseq));
        ok
    }

    /// An in-dialog request of this call from `sock`, with these tags.
    pub fn in_dialog(
        &self,
        method: &str,
        from_tag: &str,
        to_tag: &str,
        cseq: u32,
        port: u16,
    ) -> String {
        format!(
            "{method} sip:{}@{} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-raw-{method}-{cseq}-{};rport\r\nFrom: <sip:{}@127.0.0.1>;tag={from_tag}\r\nTo: <sip:61@127.0.0.1>;tag={to_tag}\r\nCall-ID: {}\r\nCSeq: {cseq} {method}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
            self.user, self.edge, super::sip::rand_u32(), self.user, self.call_id
        )
    }
}
