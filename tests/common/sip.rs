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
