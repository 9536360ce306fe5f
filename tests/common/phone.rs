//! A scripted phone for media tests: real SIP over a UDP socket (INVITE with
//! digest auth, ACK, BYE handling) and real RTP on another socket.

use super::sip::{header, md5_hex, nonce_of, rand_u32, status_code};
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

pub struct Phone {
    pub sip: UdpSocket,
    pub rtp: UdpSocket,
    pub target: SocketAddr,
    pub user: String,
    pub password: String,
    call_id: String,
    to_tag: String,
    /// Where the PBX wants our RTP.
    pub remote_rtp: Option<SocketAddr>,
}

pub fn sdp(rtp_port: u16, codecs: &str, rtpmaps: &str) -> String {
    format!("v=0\r\no=phone 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {rtp_port} RTP/AVP {codecs}\r\n{rtpmaps}a=ptime:20\r\n")
}

pub fn pcmu_offer(rtp_port: u16) -> String {
    sdp(
        rtp_port,
        "0 101",
        "a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n",
    )
}

impl Phone {
    pub fn new(target: SocketAddr, user: &str, password: &str) -> Phone {
        let sip = UdpSocket::bind("127.0.0.1:0").unwrap();
        sip.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
        rtp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        Phone {
            sip,
            rtp,
            target,
            user: user.into(),
            password: password.into(),
            call_id: format!("phone-{}@test", rand_u32()),
            to_tag: String::new(),
            remote_rtp: None,
        }
    }

    pub fn call_id(&self) -> &str {
        &self.call_id
    }

    pub fn rtp_port(&self) -> u16 {
        self.rtp.local_addr().unwrap().port()
    }

    fn sip_port(&self) -> u16 {
        self.sip.local_addr().unwrap().port()
    }

    fn invite(&self, number: &str, cseq: u32, auth: Option<&str>, body: &str) -> String {
        let uri = format!("sip:{number}@{}", self.target);
        let mut m = format!(
            "INVITE {uri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{p};branch=z9hG4bK-ph{}-{cseq};rport\r\nMax-Forwards: 70\r\nFrom: <sip:{u}@127.0.0.1>;tag=ph{p}\r\nTo: <sip:{number}@127.0.0.1>\r\nCall-ID: {}\r\nCSeq: {cseq} INVITE\r\nContact: <sip:{u}@127.0.0.1:{p}>\r\nContent-Type: application/sdp\r\n",
            rand_u32(),
            self.call_id,
            p = self.sip_port(),
            u = self.user
        );
        if let Some(nonce) = auth {
            let ha1 = md5_hex(&format!("{}:asterisk:{}", self.user, self.password));
            let ha2 = md5_hex(&format!("INVITE:{uri}"));
            let resp = md5_hex(&format!("{ha1}:{nonce}:{ha2}"));
            m.push_str(&format!("Authorization: Digest username=\"{}\",realm=\"asterisk\",nonce=\"{nonce}\",uri=\"{uri}\",response=\"{resp}\",algorithm=MD5\r\n", self.user));
        }
        m.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
        m
    }

    pub fn recv_sip(&self) -> Option<String> {
        let mut buf = vec![0u8; 65535];
        let (n, _) = self.sip.recv_from(&mut buf).ok()?;
        Some(String::from_utf8_lossy(&buf[..n]).into_owned())
    }

    fn send_sip(&self, m: &str) {
        self.sip.send_to(m.as_bytes(), self.target).unwrap();
    }

    fn ack(&self, cseq: u32, to: &str, branch_hint: &str) {
        let m = format!(
            "ACK sip:{}@{} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{p};branch=z9hG4bK-ack{branch_hint};rport\r\nMax-Forwards: 70\r\nFrom: <sip:{u}@127.0.0.1>;tag=ph{p}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {cseq} ACK\r\nContent-Length: 0\r\n\r\n",
            "x",
            self.target,
            self.call_id,
            p = self.sip_port(),
            u = self.user
        );
        self.send_sip(&m);
    }

    /// Call `number` with `offer`; returns the final status code (after
    /// ACKing it) and, for 200, the answer's SDP.
    pub fn call(&mut self, number: &str, offer: &str) -> (u16, String) {
        self.send_sip(&self.invite(number, 1, None, offer));
        let mut cseq = 1;
        loop {
            let r = self.recv_sip().expect("a response");
            let code = status_code(&r).unwrap_or(0);
            if code < 200 {
                continue;
            }
            let to = header(&r, "To").unwrap_or_default().to_owned();
            if code == 401 && cseq == 1 {
                self.ack(1, &to, "401");
                let nonce = nonce_of(&r).unwrap();
                cseq = 2;
                self.send_sip(&self.invite(number, 2, Some(&nonce), offer));
                continue;
            }
            self.ack(cseq, &to, "final");
            if code == 200 {
                self.to_tag = to;
                let body = r.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
                let port = body
                    .lines()
                    .find_map(|l| l.strip_prefix("m=audio "))
                    .and_then(|l| l.split_whitespace().next())
                    .and_then(|p| p.parse::<u16>().ok());
                let addr = body
                    .lines()
                    .find_map(|l| l.strip_prefix("c=IN IP4 "))
                    .map(|a| a.trim().to_owned());
                if let (Some(port), Some(addr)) = (port, addr) {
                    self.remote_rtp = Some(SocketAddr::new(addr.parse().unwrap(), port));
                }
                return (code, body);
            }
            return (code, String::new());
        }
    }

    /// Hang up the answered call (BYE); the status of the answer.
    pub fn hang_up(&self) -> Option<u16> {
        let m = format!(
            "BYE sip:x@{} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{p};branch=z9hG4bK-bye{};rport\r\nMax-Forwards: 70\r\nFrom: <sip:{u}@127.0.0.1>;tag=ph{p}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: 9 BYE\r\nContent-Length: 0\r\n\r\n",
            self.target,
            rand_u32(),
            self.to_tag,
            self.call_id,
            p = self.sip_port(),
            u = self.user
        );
        self.send_sip(&m);
        self.sip
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        while let Some(r) = self.recv_sip() {
            if r.contains("CSeq: 9 BYE") && !r.starts_with("SIP/2.0 1") {
                return status_code(&r);
            }
        }
        None
    }

    /// Wait for the PBX's BYE and answer it.
    pub fn expect_bye(&self, within: Duration) -> bool {
        self.sip.set_read_timeout(Some(within)).unwrap();
        while let Some(m) = self.recv_sip() {
            if m.starts_with("BYE ") {
                let via = header(&m, "Via").unwrap_or_default();
                let resp = format!(
                    "SIP/2.0 200 OK\r\nVia: {via}\r\nFrom: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {}\r\nContent-Length: 0\r\n\r\n",
                    header(&m, "From").unwrap_or_default(),
                    header(&m, "To").unwrap_or_default(),
                    header(&m, "Call-ID").unwrap_or_default(),
                    header(&m, "CSeq").unwrap_or_default()
                );
                self.send_sip(&resp);
                return true;
            }
        }
        false
    }

    /// Send one RTP packet to the PBX.
    pub fn send_rtp(&self, pt: u8, seq: u16, ts: u32, marker: bool, payload: &[u8]) {
        let mut p = vec![0x80, (u8::from(marker) << 7) | pt];
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&ts.to_be_bytes());
        p.extend_from_slice(&0x1234_5678u32.to_be_bytes());
        p.extend_from_slice(payload);
        self.rtp
            .send_to(&p, self.remote_rtp.expect("answered"))
            .unwrap();
    }

    /// Receive one RTP packet: (seq, timestamp, ssrc, payload).
    pub fn recv_rtp(&self) -> Option<(u16, u32, u32, Vec<u8>)> {
        let mut buf = [0u8; 2048];
        let (n, _) = self.rtp.recv_from(&mut buf).ok()?;
        if n < 12 {
            return None;
        }
        Some((
            u16::from_be_bytes([buf[2], buf[3]]),
            u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]),
            u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]),
            buf[12..n].to_vec(),
        ))
    }
}
