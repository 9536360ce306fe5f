//! Dialling a trunk: its From, its challenge answered once with the
//! registrar's signature, and what a second challenge or a cancel does.

use super::fake::{phone, Fake};
use super::*;
use crate::call::backends::TrunkFrom;

fn itsp(can_sign: bool) -> Fake {
    let mut fake = Fake::new(vec![dial(&["itsp"], 20)]);
    fake.contacts
        .insert("itsp".into(), vec![phone("4930123", 5080)]);
    fake.trunks.insert(
        "itsp".into(),
        TrunkFrom {
            fromuser: "4930123".into(),
            fromdomain: "sip.itsp.example".into(),
            can_sign,
        },
    );
    fake
}

fn challenge(sent: &Sent, code: u16) -> Response {
    let mut r = callee_response(sent, code, "itsptag");
    let name = if code == 407 {
        HeaderName::ProxyAuthenticate
    } else {
        HeaderName::WwwAuthenticate
    };
    r.headers
        .push(name, "Digest realm=\"itsp\", nonce=\"n1\", qop=\"auth\"");
    r
}

#[tokio::test(start_paused = true)]
async fn a_trunks_challenge_is_answered_once_in_the_same_dialog() {
    let mut h = H::start(itsp(true)).await;
    let first = requests(&h.drain().await, Method::INVITE).remove(0);
    let c1 = check_request(&first.request).unwrap();
    assert_eq!(c1.from.uri.user.as_deref(), Some("4930123"), "fromuser");
    assert!(
        first
            .request
            .headers
            .get(&HeaderName::From)
            .unwrap()
            .contains("@sip.itsp.example"),
        "fromdomain"
    );
    h.respond_with(&first, challenge(&first, 407)).await;
    let cmds = h.drain().await;
    let second = requests(&cmds, Method::INVITE).remove(0);
    let c2 = check_request(&second.request).unwrap();
    assert_eq!(c2.call_id, c1.call_id, "the same dialog");
    assert_eq!(c2.from.tag(), c1.from.tag());
    assert_eq!(c2.cseq.seq, c1.cseq.seq + 1);
    assert_ne!(second.key, first.key, "a new transaction");
    assert_eq!(
        second.request.headers.get(&HeaderName::ProxyAuthorization),
        Some("Digest username=\"itsp\", response=\"signed\"")
    );
    assert_eq!(second.request.body, first.request.body, "the same offer");
    let signed = h.fake.signed.lock().unwrap().clone();
    assert_eq!(signed.len(), 1);
    assert_eq!(signed[0].1, first.request.uri);
    assert!(h.fake.results().is_empty(), "still dialling");
    // A second challenge is the answer: wrong credentials.
    h.respond_with(&second, challenge(&second, 407)).await;
    h.drain().await;
    assert_eq!(status(&h.fake.results()[0]), (StepStatus::Ok, "CONGESTION"));
    assert_eq!(h.fake.signed.lock().unwrap().len(), 1, "answered once");
}

#[tokio::test(start_paused = true)]
async fn the_signed_invite_can_be_answered() {
    let mut h = H::start(itsp(true)).await;
    let first = requests(&h.drain().await, Method::INVITE).remove(0);
    h.respond_with(&first, challenge(&first, 401)).await;
    let second = requests(&h.drain().await, Method::INVITE).remove(0);
    assert!(second
        .request
        .headers
        .get(&HeaderName::Authorization)
        .is_some());
    h.respond(&second, 200, "itsptag").await;
    let cmds = h.drain().await;
    assert!(
        response_of(&cmds, &h.a_key, 200).is_some(),
        "the caller is answered"
    );
    assert_eq!(acks(&cmds).len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_trunk_without_credentials_is_not_signed_for() {
    let mut h = H::start(itsp(false)).await;
    let first = requests(&h.drain().await, Method::INVITE).remove(0);
    h.respond_with(&first, challenge(&first, 401)).await;
    let cmds = h.drain().await;
    assert!(requests(&cmds, Method::INVITE).is_empty());
    assert!(h.fake.signed.lock().unwrap().is_empty());
    assert_eq!(status(&h.fake.results()[0]).1, "CONGESTION");
}
