//! Message waiting for the edges: counts are set here (`SetMailbox`, from
//! `asterism mwi set` today and the voicemail service later) and kept in
//! the store, so every registrar replica answers the same. Each edge keeps
//! one `Mailboxes` question open: answered at once when the store's
//! version is not the one the edge has, otherwise held until it moves (the
//! store's version is read every [`POLL`]) or `wait_ms` passes; a
//! registrar shutting down answers what it has.

use crate::phone_keys::mailbox_id;
use crate::store::BindingStore;
use asterism_proto::registrar::{Mailbox, MailboxesResponse};
use std::time::Duration;
use tonic::Status;

/// How often a held question reads the store's version.
pub const POLL: Duration = Duration::from_millis(250);
/// The longest a question is held.
pub const MAX_WAIT: Duration = Duration::from_secs(25);
/// Counts above this are refused (a typo, not a mailbox).
const MAX_COUNT: u32 = 1_000_000;

/// Set one mailbox's counts; its id gets `@default` when it has no context.
pub async fn set(store: &dyn BindingStore, m: &Mailbox) -> Result<u64, Status> {
    let id = mailbox_id(&m.id)
        .filter(|id| id.len() <= 128 && !id.chars().any(char::is_whitespace))
        .ok_or_else(|| Status::invalid_argument("a mailbox is box[@context], no spaces"))?;
    if m.new_messages > MAX_COUNT || m.old_messages > MAX_COUNT {
        return Err(Status::invalid_argument("message counts above a million"));
    }
    tracing::info!(mailbox = %id, new = m.new_messages, old = m.old_messages, "mailbox counts set");
    Ok(store
        .set_mailbox(&id, m.new_messages, m.old_messages)
        .await?)
}

/// Every mailbox, once the version differs from `after` (or the wait ends).
pub async fn mailboxes(
    store: &dyn BindingStore,
    after: u64,
    wait: Duration,
) -> Result<MailboxesResponse, Status> {
    let until = tokio::time::Instant::now() + wait.min(MAX_WAIT);
    let shutdown = asterism_config::shutdown::signal();
    tokio::pin!(shutdown);
    while store.mailbox_version().await? == after && tokio::time::Instant::now() < until {
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = &mut shutdown => break,
        }
    }
    let (version, all) = store.mailboxes().await?;
    Ok(MailboxesResponse {
        version,
        mailboxes: all
            .into_iter()
            .map(|(id, new_messages, old_messages)| Mailbox {
                id,
                new_messages,
                old_messages,
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;

    fn mailbox(id: &str, new: u32, old: u32) -> Mailbox {
        Mailbox {
            id: id.into(),
            new_messages: new,
            old_messages: old,
        }
    }

    #[tokio::test]
    async fn a_held_question_is_answered_by_the_next_change() {
        let store = std::sync::Arc::new(MemoryStore::new());
        let v = set(store.as_ref(), &mailbox("61", 2, 0)).await.unwrap();
        let now = mailboxes(store.as_ref(), 0, MAX_WAIT).await.unwrap();
        assert_eq!(now.version, v);
        assert_eq!(now.mailboxes, vec![mailbox("61@default", 2, 0)]);
        let held = {
            let store = store.clone();
            tokio::spawn(async move { mailboxes(store.as_ref(), v, MAX_WAIT).await })
        };
        tokio::time::sleep(POLL * 2).await;
        assert!(!held.is_finished(), "no change yet: the question waits");
        set(store.as_ref(), &mailbox("61@default", 0, 2))
            .await
            .unwrap();
        let after = held.await.unwrap().unwrap();
        assert_eq!(after.mailboxes, vec![mailbox("61@default", 0, 2)]);
        assert!(after.version > v);
    }

    #[tokio::test]
    async fn bad_mailboxes_are_refused() {
        let store = MemoryStore::new();
        for bad in ["", "@ctx", "6 1", &"9".repeat(200)] {
            let e = set(&store, &mailbox(bad, 1, 0)).await.unwrap_err();
            assert_eq!(e.code(), tonic::Code::InvalidArgument, "{bad:?}");
        }
        let e = set(&store, &mailbox("61", 2_000_000, 0)).await.unwrap_err();
        assert_eq!(e.code(), tonic::Code::InvalidArgument);
    }
}
