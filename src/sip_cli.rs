//! `asterism sip show registry|peers [--edge HOST:PORT]`: the outbound
//! registrations (`register =>`) and the qualified trunks as Asterisk's
//! `sip show registry` and `sip show peers` list them, from an edge's admin
//! service (default: the local one, on `ASTERISM_EDGE_ADMIN_LISTEN` or
//! 127.0.0.1:50053). Each registration is held by one edge and each edge
//! qualifies trunks itself: with several edges, ask each.

use asterism_proto::edge::edge_admin_client::EdgeAdminClient;
use asterism_proto::edge::{ListPeersRequest, ListRegistrationsRequest};
use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str = "usage: asterism sip show registry|peers [--edge HOST:PORT]";
pub const DEFAULT_EDGE_ADMIN: &str = "127.0.0.1:50053";

pub async fn run(args: &[String]) -> ExitCode {
    let (what, rest) = args.split_at(args.len().min(2));
    let peers = match what {
        [show, w] if show == "show" && w == "registry" => false,
        [show, w] if show == "show" && w == "peers" => true,
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(64);
        }
    };
    let edge = match rest {
        [] => std::env::var("ASTERISM_EDGE_ADMIN_LISTEN")
            .unwrap_or_else(|_| DEFAULT_EDGE_ADMIN.into()),
        [flag, addr] if flag == "--edge" => addr.clone(),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(64);
        }
    };
    let listed = match peers {
        true => list_peers(&edge).await,
        false => list(&edge).await,
    };
    match listed {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("asterism sip: edge admin at {edge}: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn client(edge: &str) -> Result<EdgeAdminClient<tonic::transport::Channel>, String> {
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{edge}"))
        .map_err(|e| e.to_string())?
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(5));
    let channel = endpoint
        .connect()
        .await
        .map_err(|e| format!("connect: {e}"))?;
    Ok(EdgeAdminClient::new(channel))
}

async fn list_peers(edge: &str) -> Result<String, String> {
    let peers = client(edge)
        .await?
        .list_peers(ListPeersRequest {})
        .await
        .map_err(|e| e.message().to_owned())?
        .into_inner()
        .peers;
    let mut out = format!(
        "{:<25} {:<39} {:<8} {}\n",
        "Name/username", "Host", "Port", "Status"
    );
    let up = |s: &str| s.starts_with("OK") || s.starts_with("LAGGED");
    let online = peers.iter().filter(|p| up(&p.status)).count();
    for p in &peers {
        out.push_str(&format!(
            "{:<25} {:<39} {:<8} {}\n",
            p.name, p.host, p.port, p.status
        ));
    }
    out.push_str(&format!(
        "{} sip peers [Monitored: {online} online, {} offline]\n",
        peers.len(),
        peers.len() - online
    ));
    Ok(out)
}

async fn list(edge: &str) -> Result<String, String> {
    let regs = client(edge)
        .await?
        .list_registrations(ListRegistrationsRequest {})
        .await
        .map_err(|e| e.message().to_owned())?
        .into_inner()
        .registrations;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let mut out = format!(
        "{:<39} {:<6} {:<14} {:>7} {:<20} {}\n",
        "Host", "dnsmgr", "Username", "Refresh", "State", "Since"
    );
    for r in &regs {
        out.push_str(&format!(
            "{:<39} {:<6} {:<14} {:>7} {:<20} {}s ago\n",
            format!("{}:{}", r.host, r.port),
            "N",
            r.user,
            r.expires,
            r.state,
            (now - r.since).max(0)
        ));
    }
    out.push_str(&format!("{} SIP registrations.\n", regs.len()));
    Ok(out)
}
