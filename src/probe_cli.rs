//! `asterism probe TARGET…`: is a deployed Asterism answering? For the
//! chart's `helm test` and for an operator's shell. Each target is
//! `grpc://host:port` (the `grpc.health.v1` check must say SERVING) or
//! `sip://host:port` (a SIP OPTIONS over UDP must get 200). One line per
//! target; exit 0 only when all answer.

use std::net::{ToSocketAddrs, UdpSocket};
use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str = "usage: asterism probe grpc://HOST:PORT|sip://HOST:PORT ...";
const WAIT: Duration = Duration::from_secs(5);

pub async fn run(args: &[String]) -> ExitCode {
    if args.is_empty() || args.iter().any(|a| a == "-h" || a == "--help") {
        eprintln!("{USAGE}");
        return ExitCode::from(64);
    }
    let mut all = true;
    for target in args {
        let verdict = if let Some(addr) = target.strip_prefix("grpc://") {
            grpc(addr).await
        } else if let Some(addr) = target.strip_prefix("sip://") {
            let addr = addr.to_owned();
            tokio::task::spawn_blocking(move || sip(&addr))
                .await
                .unwrap_or_else(|e| Err(e.to_string()))
        } else {
            Err(format!("not grpc:// or sip:// ({USAGE})"))
        };
        match verdict {
            Ok(what) => println!("ok   {target}: {what}"),
            Err(why) => {
                all = false;
                println!("FAIL {target}: {why}");
            }
        }
    }
    match all {
        true => ExitCode::SUCCESS,
        false => ExitCode::FAILURE,
    }
}

async fn grpc(addr: &str) -> Result<String, String> {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::{health_client::HealthClient, HealthCheckRequest};
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .map_err(|e| e.to_string())?
        .connect_timeout(WAIT)
        .timeout(WAIT);
    let channel = endpoint
        .connect()
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let answer = HealthClient::new(channel)
        .check(HealthCheckRequest::default())
        .await
        .map_err(|e| format!("health check: {}", e.message()))?;
    match answer.into_inner().status() {
        ServingStatus::Serving => Ok("SERVING".to_owned()),
        other => Err(format!("{other:?}")),
    }
}

fn sip(addr: &str) -> Result<String, String> {
    let to = addr
        .to_socket_addrs()
        .map_err(|e| format!("{addr}: {e}"))?
        .next()
        .ok_or_else(|| format!("{addr}: no address"))?;
    let bind = if to.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" };
    let sock = UdpSocket::bind(bind).map_err(|e| e.to_string())?;
    sock.connect(to).map_err(|e| e.to_string())?;
    sock.set_read_timeout(Some(WAIT))
        .map_err(|e| e.to_string())?;
    let local = sock.local_addr().map_err(|e| e.to_string())?;
    let tag: u64 = rand::random();
    let options = format!(
        "OPTIONS sip:{addr} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-probe{tag:x};rport\r\nMax-Forwards: 70\r\nFrom: <sip:probe@{local}>;tag={tag:x}\r\nTo: <sip:{addr}>\r\nCall-ID: probe-{tag:x}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    );
    sock.send(options.as_bytes()).map_err(|e| e.to_string())?;
    let mut buf = [0u8; 4096];
    let n = sock.recv(&mut buf).map_err(|e| format!("no answer: {e}"))?;
    let answer = String::from_utf8_lossy(&buf[..n]);
    let status = answer.lines().next().unwrap_or_default().to_owned();
    match status.starts_with("SIP/2.0 200") {
        true => Ok(status),
        false => Err(status),
    }
}
