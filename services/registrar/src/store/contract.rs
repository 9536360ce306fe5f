//! Behaviour every [`BindingStore`] must have; run against the memory store
//! in unit tests and against a real `redis-server` in the Redis tests.

use super::bans::BanPolicy;
use super::{BindingStore, Change, NonceUse, Update, UpdateOutcome};
use asterism_proto::registrar::Binding;

fn change(contact: &str, expires: u32, now_ms: u64) -> Change {
    Change {
        contact: contact.into(),
        expires_secs: expires,
        record: Binding {
            aor: "alice".into(),
            contact: contact.into(),
            expires_at: (now_ms / 1000) as i64 + i64::from(expires),
            call_id: "c1".into(),
            ..Default::default()
        },
    }
}

fn update(cseq: u32, changes: Vec<Change>, now_ms: u64) -> Update {
    Update {
        call_id: "c1".into(),
        cseq,
        changes,
        now_ms,
        ..Default::default()
    }
}

fn contacts(o: UpdateOutcome) -> Vec<String> {
    match o {
        UpdateOutcome::Applied(b) => b.into_iter().map(|b| b.contact).collect(),
        other => panic!("not applied: {other:?}"),
    }
}

pub async fn run(store: &dyn BindingStore) {
    mailboxes(store).await;
    let t0 = 1_700_000_000_000u64;
    // Two phones, one user.
    let o = store
        .update(
            "alice",
            &update(
                1,
                vec![change("sip:a@1", 60, t0), change("sip:a@2", 30, t0)],
                t0,
            ),
        )
        .await
        .unwrap();
    assert_eq!(contacts(o), vec!["sip:a@1", "sip:a@2"]);
    // Older or equal CSeq for the same Call-ID is refused (RFC 3261 §10.3),
    // and nothing of the request is applied.
    let refused = update(
        1,
        vec![change("sip:a@9", 60, t0), change("sip:a@1", 60, t0)],
        t0,
    );
    assert_eq!(
        store.update("alice", &refused).await.unwrap(),
        UpdateOutcome::OutOfOrder
    );
    assert_eq!(store.lookup("alice", t0).await.unwrap().len(), 2);
    // A fetch (no contacts) is never out of order.
    let fetch = store.update("alice", &update(1, vec![], t0)).await.unwrap();
    assert!(matches!(fetch, UpdateOutcome::Applied(_)));
    // Another Call-ID replaces the binding whatever its CSeq.
    let mut other = update(1, vec![change("sip:a@1", 60, t0)], t0);
    other.call_id = "c2".into();
    let o = store.update("alice", &other).await.unwrap();
    assert!(matches!(o, UpdateOutcome::Applied(_)));
    // Expires 0 removes one contact.
    let o = store
        .update(
            "alice",
            &update(
                2,
                vec![change("sip:a@3", 60, t0), change("sip:a@1", 0, t0)],
                t0 + 1000,
            ),
        )
        .await
        .unwrap();
    assert_eq!(contacts(o), vec!["sip:a@2", "sip:a@3"]);
    // Expiry: after 30 s the 30 s contact is gone; the other has ~31 s left.
    let b = store.lookup("alice", t0 + 30_001).await.unwrap();
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].contact, "sip:a@3");
    assert!(b[0].expires_in <= 31);
    // A fetch then forgets the expired one and reports what is alive.
    let o = store
        .update("alice", &update(3, vec![], t0 + 30_500))
        .await
        .unwrap();
    assert_eq!(contacts(o), vec!["sip:a@3"]);
    // `*` removes all.
    let mut all = update(3, vec![], t0 + 31_000);
    all.remove_all = true;
    assert_eq!(
        contacts(store.update("alice", &all).await.unwrap()),
        Vec::<String>::new()
    );
    // A nonce use is accepted once.
    let mut u = update(4, vec![change("sip:a@3", 60, t0)], t0 + 32_000);
    u.replay_key = Some("n1:00000001".into());
    u.replay_ttl_secs = 60;
    assert!(matches!(
        store.update("alice", &u).await.unwrap(),
        UpdateOutcome::Applied(_)
    ));
    // The same request again (a retry after its replica died) gets the
    // bindings it left; another request with that nonce use is a replay.
    let Ok(UpdateOutcome::Applied(again)) = store.update("alice", &u).await else {
        panic!("a retry is answered");
    };
    assert_eq!(contacts(UpdateOutcome::Applied(again)), vec!["sip:a@3"]);
    u.cseq = 5;
    assert_eq!(
        store.update("alice", &u).await.unwrap(),
        UpdateOutcome::Replay
    );
    // Once a later request changed the binding, the old one is a replay.
    let mut v = update(6, vec![change("sip:a@3", 60, t0)], t0 + 32_500);
    v.replay_key = Some("n1:00000002".into());
    assert!(matches!(
        store.update("alice", &v).await.unwrap(),
        UpdateOutcome::Applied(_)
    ));
    u.cseq = 4;
    assert_eq!(
        store.update("alice", &u).await.unwrap(),
        UpdateOutcome::Replay
    );
    let ok = NonceUse::Accepted;
    assert_eq!(
        store
            .use_nonce("bob", "n2:-", "1 c", 60, None)
            .await
            .unwrap(),
        ok
    );
    assert_eq!(
        store
            .use_nonce("bob", "n2:-", "1 c", 60, None)
            .await
            .unwrap(),
        ok
    );
    assert_eq!(
        store
            .use_nonce("bob", "n2:-", "2 c", 60, None)
            .await
            .unwrap(),
        NonceUse::Replay
    );
    // Failures: the third from one source bans it; a user failing from
    // everywhere gets each further source banned at its first failure.
    let p = BanPolicy {
        threshold: 3,
        user_threshold: 4,
        window_secs: 60,
        ban_secs: 600,
    };
    assert_eq!(
        store.auth_failure("192.0.2.1", "eve", &p).await.unwrap(),
        None
    );
    assert_eq!(
        store.auth_failure("192.0.2.1", "eve2", &p).await.unwrap(),
        None
    );
    assert_eq!(store.banned("192.0.2.1").await.unwrap(), None);
    assert_eq!(
        store.auth_failure("192.0.2.1", "eve3", &p).await.unwrap(),
        Some(600)
    );
    assert!(store
        .banned("192.0.2.1")
        .await
        .unwrap()
        .is_some_and(|s| s > 590));
    assert_eq!(
        store
            .use_nonce("bob", "n3:-", "1 c", 60, Some("192.0.2.1"))
            .await
            .unwrap(),
        NonceUse::Banned(600)
    );
    assert_eq!(
        store
            .use_nonce("bob", "n3:-", "1 c", 60, Some("192.0.2.2"))
            .await
            .unwrap(),
        ok
    );
    let mut b = update(1, vec![change("sip:b@1", 60, t0)], t0);
    b.source_ip = Some("192.0.2.1".into());
    assert!(matches!(
        store.update("banned", &b).await.unwrap(),
        UpdateOutcome::Banned(_)
    ));
    assert!(store.lookup("banned", t0).await.unwrap().is_empty());
    for (i, ip) in [
        "198.51.100.1",
        "198.51.100.2",
        "198.51.100.3",
        "198.51.100.4",
    ]
    .iter()
    .enumerate()
    {
        assert_eq!(
            store.auth_failure(ip, "alice", &p).await.unwrap(),
            None,
            "{i}"
        );
    }
    assert_eq!(
        store
            .auth_failure("198.51.100.5", "alice", &p)
            .await
            .unwrap(),
        Some(600),
        "alice is under attack: the fifth source is banned at once"
    );
    // max_contacts: a refresh and a replacement fit, one more does not, and
    // a refused request changes nothing.
    let mut m = update(
        1,
        vec![change("sip:m@1", 60, t0), change("sip:m@2", 60, t0)],
        t0,
    );
    m.call_id = "cm".into();
    m.max_contacts = 2;
    assert!(matches!(
        store.update("max", &m).await.unwrap(),
        UpdateOutcome::Applied(_)
    ));
    m.cseq = 2;
    m.changes = vec![
        change("sip:m@1", 60, t0),
        change("sip:m@3", 60, t0),
        change("sip:m@2", 0, t0),
    ];
    assert_eq!(
        contacts(store.update("max", &m).await.unwrap()),
        vec!["sip:m@1", "sip:m@3"]
    );
    m.cseq = 3;
    m.changes = vec![change("sip:m@4", 60, t0)];
    assert_eq!(
        store.update("max", &m).await.unwrap(),
        UpdateOutcome::TooManyContacts
    );
    assert_eq!(store.lookup("max", t0).await.unwrap().len(), 2);
    // call-limit slots: two of two taken, the same call again is no third,
    // a release frees one, a dead edge's slots are freed.
    let slot = |edge: &str, call: &str| super::CallSlot {
        edge_id: edge.into(),
        call_id: call.into(),
    };
    store
        .edge_alive("edge-c", "10.0.0.9:5060", 60)
        .await
        .unwrap();
    let now = crate::clock::now_ms();
    let take = |edge: &'static str, call: &'static str, limit| {
        let s = slot(edge, call);
        async move { store.acquire_call("carol", &s, limit, now).await.unwrap() }
    };
    let free = |call: &'static str| {
        let s = slot("edge-c", call);
        async move { store.release_call("carol", &s).await.unwrap() }
    };
    assert_eq!(take("edge-c", "1", 2).await, Ok(1));
    assert_eq!(take("edge-c", "2", 2).await, Ok(2));
    assert_eq!(take("edge-c", "2", 2).await, Ok(2), "the same call again");
    assert_eq!(take("edge-c", "3", 2).await, Err(2));
    free("1").await;
    assert_eq!(take("edge-c", "3", 2).await, Ok(2));
    free("2").await;
    free("3").await;
    assert_eq!(take("edge-dead", "4", 1).await, Ok(1));
    assert_eq!(
        take("edge-c", "5", 1).await,
        Ok(1),
        "the slot of an edge that never reported alive is freed"
    );
    // Listing shows AORs with live bindings.
    let l = store.list(t0 + 33_000).await.unwrap();
    assert_eq!(l.len(), 2);
    assert!(l.iter().any(|(aor, _)| aor == "alice"));
    // Edges: alive while they report, gone after their TTL.
    store
        .edge_alive("edge-a", "10.0.0.1:5060", 1)
        .await
        .unwrap();
    let ids = ["edge-a".to_owned(), "edge-never".to_owned()];
    assert_eq!(store.edges_alive(&ids).await.unwrap(), vec![true, false]);
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_eq!(store.edges_alive(&ids).await.unwrap(), vec![false, false]);
}

/// Message-waiting counts: every change moves the version, the last
/// counts set are the ones read.
async fn mailboxes(store: &dyn BindingStore) {
    let v0 = store.mailbox_version().await.unwrap();
    let v1 = store.set_mailbox("61@default", 2, 0).await.unwrap();
    assert!(v1 > v0);
    let v2 = store.set_mailbox("62@sales", 0, 5).await.unwrap();
    let v3 = store.set_mailbox("61@default", 1, 1).await.unwrap();
    assert!(v3 > v2 && v2 > v1);
    assert_eq!(store.mailbox_version().await.unwrap(), v3);
    let (v, mut all) = store.mailboxes().await.unwrap();
    all.sort();
    assert_eq!(v, v3);
    assert_eq!(
        all,
        vec![("61@default".into(), 1, 1), ("62@sales".into(), 0, 5)]
    );
}
