//! `asterism mwi set|show …`: message-waiting counts, as res_mwi_external's
//! `MWIUpdate`/`MWIGet` set and read them in Asterisk, on the registrars'
//! store (`Registrar.SetMailbox`/`Mailboxes` at `--registrar URL`, else
//! `ASTERISM_REGISTRAR_ADDR`, else the standalone registrar's default
//! address, which the all-in-one also answers on when it is free). Every
//! phone subscribed to a mailbox, on any edge, gets a NOTIFY.

use asterism_proto::registrar::registrar_client::RegistrarClient;
use asterism_proto::registrar::{Mailbox, MailboxesRequest, SetMailboxRequest};
use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str = "usage: asterism mwi [--registrar URL] set mailbox[@context] new[/old]
       asterism mwi [--registrar URL] show [mailbox[@context]]";

pub const DEFAULT_REGISTRAR: &str = "http://127.0.0.1:50051";

/// `2/1` or `2`: new and old messages.
fn counts(s: &str) -> Option<(u32, u32)> {
    let (new, old) = s.split_once('/').unwrap_or((s, "0"));
    Some((new.trim().parse().ok()?, old.trim().parse().ok()?))
}

pub async fn run(args: &[String]) -> ExitCode {
    let (registrar, args) = match args {
        [flag, url, rest @ ..] if flag == "--registrar" => (url.clone(), rest),
        rest => (
            std::env::var("ASTERISM_REGISTRAR_ADDR")
                .ok()
                .and_then(|a| a.split(',').next().map(str::trim).map(str::to_owned))
                .filter(|a| a.starts_with("http"))
                .unwrap_or_else(|| DEFAULT_REGISTRAR.to_owned()),
            rest,
        ),
    };
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    let set = match words.as_slice() {
        ["set", mailbox, n] => match counts(n) {
            Some((new, old)) => Some(Mailbox {
                id: with_context(mailbox),
                new_messages: new,
                old_messages: old,
            }),
            None => return usage(),
        },
        ["show"] | ["show", _] => None,
        _ => return usage(),
    };
    let endpoint = match tonic::transport::Endpoint::from_shared(registrar.clone()) {
        Ok(e) => e
            .connect_timeout(Duration::from_secs(3))
            .timeout(Duration::from_secs(10)),
        Err(e) => {
            eprintln!("asterism mwi: {registrar}: {e}");
            return ExitCode::from(64);
        }
    };
    let mut client = match endpoint.connect().await {
        Ok(c) => RegistrarClient::new(c),
        Err(e) => {
            eprintln!("asterism mwi: cannot reach the registrar at {registrar}: {e}");
            return ExitCode::from(69);
        }
    };
    if let Some(m) = set {
        let request = SetMailboxRequest {
            mailbox: Some(m.clone()),
        };
        return match client.set_mailbox(request).await {
            Ok(_) => {
                println!(
                    "Mailbox {} set: {} new, {} old",
                    m.id, m.new_messages, m.old_messages
                );
                ExitCode::SUCCESS
            }
            Err(s) => {
                eprintln!("asterism mwi: {}", s.message());
                ExitCode::from(1)
            }
        };
    }
    let all = match client
        .mailboxes(MailboxesRequest {
            after: u64::MAX,
            wait_ms: 0,
        })
        .await
    {
        Ok(r) => r.into_inner().mailboxes,
        Err(s) => {
            eprintln!("asterism mwi: {}", s.message());
            return ExitCode::from(1);
        }
    };
    let only = words.get(1).map(|m| with_context(m));
    let shown: Vec<&Mailbox> = all
        .iter()
        .filter(|m| only.as_ref().is_none_or(|o| *o == m.id))
        .collect();
    for m in &shown {
        println!(
            "{:<40} {:>6} new {:>6} old",
            m.id, m.new_messages, m.old_messages
        );
    }
    println!("{} mailboxes.", shown.len());
    ExitCode::SUCCESS
}

/// A mailbox as the registrar keeps it: `@default` when no context is given.
fn with_context(m: &str) -> String {
    match m.contains('@') {
        true => m.to_owned(),
        false => format!("{m}@default"),
    }
}

fn usage() -> ExitCode {
    eprintln!("{USAGE}");
    ExitCode::from(64)
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_as_written() {
        assert_eq!(super::counts("2/1"), Some((2, 1)));
        assert_eq!(super::counts("3"), Some((3, 0)));
        assert_eq!(super::counts("x/1"), None);
    }
}
