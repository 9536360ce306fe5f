//! `asterism sip show registry [--edge HOST:PORT]`: the outbound
//! registrations (`register =>`) as Asterisk's `sip show registry` lists
//! them, from an edge's admin service (default: the local one, on
//! `ASTERISM_EDGE_ADMIN_LISTEN` or 127.0.0.1:50053). Each line is held by
//! one edge: with several edges, ask each.

use asterism_proto::edge::edge_admin_client::EdgeAdminClient;
use asterism_proto::edge::ListRegistrationsRequest;
use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str = "usage: asterism sip show registry [--edge HOST:PORT]";
pub const DEFAULT_EDGE_ADMIN: &str = "127.0.0.1:50053";

pub async fn run(args: &[String]) -> ExitCode {
    let (what, rest) = args.split_at(args.len().min(2));
    if what != ["show", "registry"] {
        eprintln!("{USAGE}");
        return ExitCode::from(64);
    }
    let edge = match rest {
        [] => std::env::var("ASTERISM_EDGE_ADMIN_LISTEN")
            .unwrap_or_else(|_| DEFAULT_EDGE_ADMIN.into()),
        [flag, addr] if flag == "--edge" => addr.clone(),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(64);
        }
    };
    match list(&edge).await {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("asterism sip show registry: edge admin at {edge}: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn list(edge: &str) -> Result<String, String> {
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{edge}"))
        .map_err(|e| e.to_string())?
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(5));
    let channel = endpoint
        .connect()
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let regs = EdgeAdminClient::new(channel)
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
