//! `asterism database show|get|put|del|deltree …`: Asterisk's `database`
//! CLI commands, with its words, on the AstDB of a running router (its
//! `Router.Database` RPC at `--router URL`, else `ASTERISM_ROUTER_ADDR`,
//! else the standalone router's default address).

use asterism_proto::router::router_client::RouterClient;
use asterism_proto::router::DatabaseRequest;
use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str = "usage: asterism database [--router URL] show [family [keytree]]
       asterism database [--router URL] get family key
       asterism database [--router URL] put family key value
       asterism database [--router URL] del family key
       asterism database [--router URL] deltree family [keytree]";

const DEFAULT_ROUTER: &str = "http://127.0.0.1:50052";

pub async fn run(args: &[String]) -> ExitCode {
    let (router, args) = match args {
        [flag, url, rest @ ..] if flag == "--router" => (url.clone(), rest),
        rest => (
            std::env::var("ASTERISM_ROUTER_ADDR")
                .ok()
                .and_then(|a| a.split(',').next().map(str::to_owned))
                .unwrap_or_else(|| DEFAULT_ROUTER.to_owned()),
            rest,
        ),
    };
    let arg = |i: usize| args.get(i).cloned().unwrap_or_default();
    let request = match (args.first().map(String::as_str), args.len()) {
        (Some("show"), 1..=3) | (Some("deltree"), 2..=3) | (Some("get" | "del"), 3) => {
            DatabaseRequest {
                op: arg(0),
                family: arg(1),
                key: arg(2),
                value: String::new(),
            }
        }
        (Some("put"), 4) => DatabaseRequest {
            op: arg(0),
            family: arg(1),
            key: arg(2),
            value: arg(3),
        },
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(64);
        }
    };
    let channel = match tonic::transport::Endpoint::from_shared(router.clone()) {
        Ok(e) => e
            .connect_timeout(Duration::from_secs(3))
            .timeout(Duration::from_secs(10)),
        Err(e) => {
            eprintln!("asterism database: {router}: {e}");
            return ExitCode::from(64);
        }
    };
    let mut client = match channel.connect().await {
        Ok(c) => RouterClient::new(c),
        Err(e) => {
            eprintln!("asterism database: cannot reach the router at {router}: {e}");
            return ExitCode::from(69);
        }
    };
    let op = request.op.clone();
    let reply = match client.database(request).await {
        Ok(r) => r.into_inner(),
        Err(s) => {
            eprintln!("asterism database: {}", s.message());
            return ExitCode::from(1);
        }
    };
    // Asterisk's own words (main/db.c).
    match op.as_str() {
        "show" => {
            for e in &reply.entries {
                println!("{:<50}: {:<25}", e.key, e.value);
            }
            println!("{} results found.", reply.entries.len());
        }
        "get" => match reply.entries.first() {
            Some(e) => println!("Value: {}", e.value),
            None => {
                println!("Database entry not found.");
                return ExitCode::from(1);
            }
        },
        "put" => println!("Updated database successfully"),
        "del" if reply.found => println!("Database entry removed."),
        "del" => {
            println!("Database entry does not exist.");
            return ExitCode::from(1);
        }
        _ if reply.removed > 0 => println!("{} database entries removed.", reply.removed),
        _ => {
            println!("Database entries do not exist.");
            return ExitCode::from(1);
        }
    }
    ExitCode::SUCCESS
}
