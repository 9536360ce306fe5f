//! A few raw SIP exchanges over sockets, for checks sipp cannot express
//! (exact headers, retransmissions, malformed input).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

pub fn options(branch: &str, port: u16, transport: &str) -> String {
    format!(
        "OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/{transport} 127.0.0.1:{port};branch={branch};rport\r\nFrom: <sip:probe@127.0.0.1>;tag=p1\r\nTo: <sip:127.0.0.1>\r\nCall-ID: {branch}@probe\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
}

/// Send one datagram, wait up to `wait` for one answer.
pub fn udp_exchange(target: SocketAddr, bytes: &[u8], wait: Duration) -> Option<String> {
    let s = UdpSocket::bind("127.0.0.1:0").ok()?;
    udp_exchange_on(&s, target, bytes, wait)
}

/// [`udp_exchange`] from a socket the caller keeps: while it is open no
/// later socket gets its port, and so none hears the retransmissions (Timer
/// G, for 32 s) of a final INVITE response that was meant for it.
pub fn udp_exchange_on(
    s: &UdpSocket,
    target: SocketAddr,
    bytes: &[u8],
    wait: Duration,
) -> Option<String> {
    s.set_read_timeout(Some(wait)).ok()?;
    s.send_to(bytes, target).ok()?;
    let mut buf = vec![0u8; 65535];
    let (n, _) = s.recv_from(&mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf[..n]).into_owned())
}

/// Write bytes on a new TCP connection, read what comes back within `wait`.
pub fn tcp_exchange(target: SocketAddr, bytes: &[u8], wait: Duration) -> Option<String> {
    let mut s = TcpStream::connect(target).ok()?;
    s.set_read_timeout(Some(wait)).ok()?;
    s.write_all(bytes).ok()?;
    let mut buf = vec![0u8; 65535];
    let mut got = Vec::new();
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                got.extend_from_slice(&buf[..n]);
                if got.windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    (!got.is_empty()).then(|| String::from_utf8_lossy(&got).into_owned())
}

pub fn options_udp(target: SocketAddr) -> Option<String> {
    let r = udp_exchange(
        target,
        options(&format!("z9hG4bK-ready{}", rand_u32()), 5999, "UDP").as_bytes(),
        Duration::from_millis(300),
    )?;
    r.starts_with("SIP/2.0 200").then_some(r)
}

pub fn status_code(response: &str) -> Option<u16> {
    response.split(' ').nth(1)?.parse().ok()
}

pub fn header<'a>(response: &'a str, name: &str) -> Option<&'a str> {
    response.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

pub fn rand_u32() -> u32 {
    use std::time::{SystemTime, UNIX_EPOCH};
    let n = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    n ^ std::process::id().rotate_left(16)
}

pub fn md5_hex(s: &str) -> String {
    use md5::{Digest, Md5};
    hex::encode(Md5::digest(s.as_bytes()))
}

/// The nonce of a 401's WWW-Authenticate.
pub fn nonce_of(response: &str) -> Option<String> {
    let ch = header(response, "WWW-Authenticate")?;
    Some(ch.split("nonce=\"").nth(1)?.split('"').next()?.to_owned())
}

/// A REGISTER-sending UA on its own UDP socket.
pub struct Ua {
    pub sock: UdpSocket,
    pub target: SocketAddr,
    pub user: String,
    pub password: String,
}

pub struct Register<'a> {
    pub call_id: &'a str,
    pub cseq: u32,
    /// Contact header values; empty for a fetch.
    pub contacts: Vec<String>,
    pub expires: Option<u32>,
    /// (nonce, nc) to answer with qop=auth, or (nonce, "") for RFC 2069 style.
    pub auth: Option<(String, String)>,
    pub branch: String,
}

impl Ua {
    pub fn new(target: SocketAddr, user: &str, password: &str) -> Ua {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        Ua {
            sock,
            target,
            user: user.into(),
            password: password.into(),
        }
    }

    pub fn port(&self) -> u16 {
        self.sock.local_addr().unwrap().port()
    }

    pub fn build(&self, r: &Register) -> String {
        let uri = format!("sip:{}", self.target);
        let mut m = format!(
            "REGISTER {uri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{};branch={};rport\r\nFrom: <sip:{u}@127.0.0.1>;tag=ua{}\r\nTo: <sip:{u}@127.0.0.1>\r\nCall-ID: {}\r\nCSeq: {} REGISTER\r\nMax-Forwards: 70\r\nUser-Agent: asterism-test\r\n",
            self.port(),
            r.branch,
            self.port(),
            r.call_id,
            r.cseq,
            u = self.user
        );
        for c in &r.contacts {
            m.push_str(&format!("Contact: {c}\r\n"));
        }
        if let Some(e) = r.expires {
            m.push_str(&format!("Expires: {e}\r\n"));
        }
        if let Some((nonce, nc)) = &r.auth {
            let ha1 = md5_hex(&format!("{}:asterisk:{}", self.user, self.password));
            let ha2 = md5_hex(&format!("REGISTER:{uri}"));
            if nc.is_empty() {
                let resp = md5_hex(&format!("{ha1}:{nonce}:{ha2}"));
                m.push_str(&format!("Authorization: Digest username=\"{}\",realm=\"asterisk\",nonce=\"{nonce}\",uri=\"{uri}\",response=\"{resp}\",algorithm=MD5\r\n", self.user));
            } else {
                let resp = md5_hex(&format!("{ha1}:{nonce}:{nc}:c0ffee:auth:{ha2}"));
                m.push_str(&format!("Authorization: Digest username=\"{}\", realm=\"asterisk\", nonce=\"{nonce}\", uri=\"{uri}\", response=\"{resp}\", algorithm=MD5, qop=auth, nc={nc}, cnonce=\"c0ffee\"\r\n", self.user));
            }
        }
        m.push_str("Content-Length: 0\r\n\r\n");
        m
    }

    pub fn send_raw(&self, msg: &str) -> String {
        self.sock.send_to(msg.as_bytes(), self.target).unwrap();
        let mut buf = vec![0u8; 65535];
        let (n, _) = self.sock.recv_from(&mut buf).expect("an answer");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    pub fn send(&self, r: &Register) -> String {
        self.send_raw(&self.build(r))
    }

    /// 401 then answer with qop=auth (nc 00000001): the final response.
    pub fn register(
        &self,
        call_id: &str,
        cseq: u32,
        contacts: Vec<String>,
        expires: Option<u32>,
    ) -> String {
        let mut r = Register {
            call_id,
            cseq,
            contacts,
            expires,
            auth: None,
            branch: format!("z9hG4bK-{}", rand_u32()),
        };
        let first = self.send(&r);
        assert_eq!(status_code(&first), Some(401), "{first}");
        r.cseq += 1;
        r.branch = format!("z9hG4bK-{}", rand_u32());
        r.auth = Some((nonce_of(&first).unwrap(), "00000001".into()));
        self.send(&r)
    }
}

pub fn contacts_of(response: &str) -> Vec<String> {
    response
        .lines()
        .filter_map(|l| l.strip_prefix("Contact: "))
        .map(str::to_owned)
        .collect()
}
