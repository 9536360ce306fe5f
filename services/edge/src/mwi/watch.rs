//! This edge's copy of every mailbox's counts, kept by one question always
//! open to the registrars (`Registrar.Mailboxes`, answered when the store's
//! version moves): subscriptions watch it rather than asking themselves.
//! A registrar that cannot answer is asked again a second later; the copy
//! keeps the last counts meanwhile.

use super::body::Counts;
use crate::Ctx;
use asterism_proto::registrar::MailboxesRequest;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Mailbox id (`61@default`) → counts.
pub type Boxes = Arc<HashMap<String, Counts>>;

/// How long the registrar may hold a question.
const WAIT: Duration = Duration::from_secs(20);
/// Before asking again after a failure.
const BACKOFF: Duration = Duration::from_secs(1);

pub fn channel() -> (watch::Sender<Boxes>, watch::Receiver<Boxes>) {
    watch::channel(Boxes::default())
}

/// Keep `tx` up to date until the edge (and so every receiver) is gone.
pub async fn follow(ctx: Arc<Ctx>, tx: watch::Sender<Boxes>) {
    let mut version = 0;
    loop {
        let mut client = ctx.registrar.clone();
        let mut req = tonic::Request::new(MailboxesRequest {
            after: version,
            wait_ms: WAIT.as_millis() as u32,
        });
        req.set_timeout(WAIT + ctx.cfg.rpc_timeout);
        let asked = tokio::select! {
            r = client.mailboxes(req) => r,
            () = tx.closed() => return,
        };
        match asked {
            Ok(r) => {
                let r = r.into_inner();
                if r.version != version {
                    version = r.version;
                    let boxes = r
                        .mailboxes
                        .into_iter()
                        .map(|m| {
                            let counts = Counts {
                                new: m.new_messages,
                                old: m.old_messages,
                            };
                            (m.id, counts)
                        })
                        .collect();
                    tx.send_replace(Arc::new(boxes));
                }
            }
            Err(status) => {
                tracing::debug!(code = ?status.code(), "mailbox counts: registrar did not answer");
                tokio::time::sleep(BACKOFF).await;
            }
        }
    }
}

/// The counts over `mailboxes` (a peer's `mailbox=`), as chan_sip sums them.
pub fn sum(boxes: &Boxes, mailboxes: &[String]) -> Counts {
    mailboxes
        .iter()
        .filter_map(|m| boxes.get(m))
        .fold(Counts::default(), |a, c| Counts {
            new: a.new.saturating_add(c.new),
            old: a.old.saturating_add(c.old),
        })
}
