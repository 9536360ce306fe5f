//! `asterism-rtpload`: how many echo calls a media process holds.
//!
//! * `asterism-rtpload echo-server PORT`: the ceiling, a bare UDP echo loop.
//! * `asterism-rtpload udp ADDR CALLS SECONDS`: CALLS phones each sending
//!   one 172-byte RTP packet (PCMU, 20 ms) every 20 ms to ADDR.
//! * `asterism-rtpload media GRPC_URL CALLS SECONDS`: the same phones, each
//!   with its own media session (Open + Echo over gRPC).
//!
//! * `asterism-rtpload forwarder BASE CALLS`: the relay ceiling, a bare UDP
//!   forwarder on ports BASE.. (a pair per call).
//! * `asterism-rtpload forwarded BASE CALLS SECONDS`: CALLS calls of two
//!   phones through that forwarder, each phone 50 packets/s.
//! * `asterism-rtpload relay GRPC_URL CALLS SECONDS`: the same calls through
//!   media relays (OpenRelay).
//!
//! Prints one line: calls, packets sent, received, lost, and the added delay
//! between a packet out and its echo back, or its arrival at the other phone
//! (p50/p99/max, microseconds).

mod load;
mod relay;

use anyhow::{bail, Context, Result};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["echo-server", port] => load::echo_server(port.parse().context("port")?).await,
        ["udp", addr, calls, secs] => {
            let addr: std::net::SocketAddr = addr.parse().context("address")?;
            let targets = vec![addr; calls.parse().context("calls")?];
            load::run(targets, secs.parse().context("seconds")?).await?.print();
            Ok(())
        }
        ["media", url, calls, secs] => {
            let (targets, sessions) = load::open_sessions(url, calls.parse().context("calls")?).await?;
            load::run(targets, secs.parse().context("seconds")?).await?.print();
            load::close_sessions(sessions).await;
            Ok(())
        }
        ["forwarder", base, calls] => {
            relay::forwarder(base.parse().context("base")?, calls.parse().context("calls")?).await
        }
        ["forwarded", base, calls, secs] => {
            let n: u16 = calls.parse().context("calls")?;
            let legs = relay::forwarder_legs(base.parse().context("base")?, n).await?;
            let mut r = load::run(legs, secs.parse().context("seconds")?).await?;
            r.calls = usize::from(n);
            r.print();
            Ok(())
        }
        ["relay", url, calls, secs] => {
            let n: usize = calls.parse().context("calls")?;
            let (legs, ids) = relay::open_relays(url, n).await?;
            let mut r = load::run(legs, secs.parse().context("seconds")?).await?;
            r.calls = n;
            r.print();
            relay::close_relays(url, ids).await;
            Ok(())
        }
        _ => bail!("usage: asterism-rtpload echo-server PORT | udp ADDR CALLS SECONDS | media GRPC_URL CALLS SECONDS | forwarder BASE CALLS | forwarded BASE CALLS SECONDS | relay GRPC_URL CALLS SECONDS"),
    }
}
