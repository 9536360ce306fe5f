//! Transaction behaviour under paused time: retransmissions absorbed and
//! answered, Timer J/G/H/I at their RFC values.

use super::*;
use crate::method::Method;
use crate::transport::{Flow, Kind};
use bytes::Bytes;
use std::time::Duration;
use tokio::time::{advance, Instant};

fn flow(kind: Kind) -> Flow {
    Flow {
        kind,
        remote: "127.0.0.1:5070".parse().unwrap(),
    }
}

fn key(method: Method) -> TsxKey {
    TsxKey::Rfc3261 {
        branch: "z9hG4bK-1".into(),
        sent_by: "127.0.0.1:5070".into(),
        method,
    }
}

fn sends(actions: &[Action]) -> usize {
    actions
        .iter()
        .filter(|a| matches!(a, Action::Send { .. }))
        .count()
}

/// Drive the layer's timers up to `until`, counting sends and time-outs.
async fn run_until(layer: &mut Layer, until: Duration) -> (usize, usize) {
    let end = Instant::now() + until;
    let (mut sent, mut timed_out) = (0, 0);
    while let Some(at) = layer.poll_timeout() {
        if at > end {
            break;
        }
        advance(at.saturating_duration_since(Instant::now())).await;
        let actions = layer.on_timeout(Instant::now());
        sent += sends(&actions);
        timed_out += actions
            .iter()
            .filter(|a| matches!(a, Action::TimedOut { .. }))
            .count();
    }
    (sent, timed_out)
}

#[tokio::test(start_paused = true)]
async fn non_invite_absorbs_retransmissions_and_replays_the_answer() {
    let mut layer = Layer::new(TimerConfig::default());
    let k = key(Method::REGISTER);
    let f = flow(Kind::Udp);
    let (r, _) = layer.on_request(&k, false, f, Instant::now());
    assert_eq!(r, Received::New);
    // A retransmission before the TU answered: absorbed silently (Trying).
    let (r, a) = layer.on_request(&k, false, f, Instant::now());
    assert_eq!(r, Received::Retransmission);
    assert!(a.is_empty());
    let a = layer.respond(&k, 200, Bytes::from_static(b"200"), Instant::now());
    assert_eq!(sends(&a), 1);
    // After the answer, a retransmission gets the same bytes again.
    let (r, a) = layer.on_request(&k, false, f, Instant::now());
    assert_eq!(r, Received::Retransmission);
    assert_eq!(
        a,
        vec![Action::Send {
            flow: f,
            bytes: Bytes::from_static(b"200")
        }]
    );
}

#[tokio::test(start_paused = true)]
async fn timer_j_is_64_t1_on_udp_and_zero_on_tcp() {
    let cfg = TimerConfig::default();
    let mut layer = Layer::new(cfg);
    let k = key(Method::REGISTER);
    layer.on_request(&k, false, flow(Kind::Udp), Instant::now());
    layer.respond(&k, 200, Bytes::from_static(b"200"), Instant::now());
    advance(cfg.t1 * 64 - Duration::from_millis(1)).await;
    layer.on_timeout(Instant::now());
    assert_eq!(layer.len(), 1, "still Completed just before Timer J");
    advance(Duration::from_millis(1)).await;
    layer.on_timeout(Instant::now());
    assert!(layer.is_empty(), "Timer J ended it");

    layer.on_request(&k, false, flow(Kind::Tcp), Instant::now());
    layer.respond(&k, 200, Bytes::from_static(b"200"), Instant::now());
    layer.on_timeout(Instant::now());
    assert!(layer.is_empty(), "Timer J is zero on TCP");
}

#[tokio::test(start_paused = true)]
async fn invite_error_response_retransmits_with_timer_g_until_timer_h() {
    let cfg = TimerConfig::default();
    let mut layer = Layer::new(cfg);
    let k = key(Method::INVITE);
    layer.on_request(&k, false, flow(Kind::Udp), Instant::now());
    let a = layer.respond(&k, 486, Bytes::from_static(b"486"), Instant::now());
    assert_eq!(sends(&a), 1);
    // G doubles from T1 to T2: 0.5, 1, 2, 4, 4, 4… until H at 32 s.
    let (sent, timed_out) = run_until(&mut layer, cfg.t1 * 64).await;
    assert_eq!(sent, 10, "retransmissions at 0.5,1.5,3.5,7.5,11.5,…,31.5 s");
    assert_eq!(timed_out, 1, "Timer H reports the missing ACK");
    assert!(layer.is_empty());
}

#[tokio::test(start_paused = true)]
async fn ack_stops_retransmissions_and_timer_i_ends_it() {
    let cfg = TimerConfig::default();
    let mut layer = Layer::new(cfg);
    let k = key(Method::INVITE);
    let f = flow(Kind::Udp);
    layer.on_request(&k, false, f, Instant::now());
    layer.respond(&k, 501, Bytes::from_static(b"501"), Instant::now());
    let (r, _) = layer.on_request(&k, true, f, Instant::now());
    assert_eq!(r, Received::AckAbsorbed);
    let (sent, timed_out) = run_until(&mut layer, cfg.t4).await;
    assert_eq!((sent, timed_out), (0, 0));
    assert!(layer.is_empty(), "Timer I (T4) ended it");
}

#[tokio::test(start_paused = true)]
async fn ack_of_2xx_goes_to_the_tu() {
    let mut layer = Layer::new(TimerConfig::default());
    let k = key(Method::INVITE);
    let f = flow(Kind::Udp);
    layer.on_request(&k, false, f, Instant::now());
    layer.respond(&k, 200, Bytes::from_static(b"200"), Instant::now());
    let (r, _) = layer.on_request(&k, true, f, Instant::now());
    assert_eq!(r, Received::AckForTu);
    // INVITE retransmissions in Accepted are absorbed, not answered.
    let (r, a) = layer.on_request(&k, false, f, Instant::now());
    assert_eq!(r, Received::Retransmission);
    assert!(a.is_empty());
}

#[tokio::test(start_paused = true)]
async fn custom_t1_scales_the_timers() {
    let cfg = TimerConfig {
        t1: Duration::from_millis(100),
        ..TimerConfig::default()
    };
    let mut layer = Layer::new(cfg);
    let k = key(Method::OPTIONS);
    layer.on_request(&k, false, flow(Kind::Udp), Instant::now());
    layer.respond(&k, 200, Bytes::from_static(b"200"), Instant::now());
    advance(Duration::from_millis(6400)).await;
    layer.on_timeout(Instant::now());
    assert!(layer.is_empty());
}

fn invite_request(branch: &str) -> crate::Request {
    crate::request::new_request(
        Method::INVITE,
        "sip:bob@127.0.0.1:5070",
        &crate::header::Via::new("UDP", "127.0.0.1:5060", branch),
        &crate::header::NameAddr::parse("<sip:62@127.0.0.1>;tag=a", "From").unwrap(),
        &crate::header::NameAddr::parse("<sip:bob@127.0.0.1>", "To").unwrap(),
        "call-1",
        102,
        70,
    )
}

fn response(code: u16) -> crate::Response {
    let mut headers = crate::message::Headers::new();
    headers.push(crate::HeaderName::To, "<sip:bob@127.0.0.1>;tag=b");
    crate::Response {
        code,
        reason: String::new(),
        headers,
        body: Bytes::new(),
    }
}

#[tokio::test(start_paused = true)]
async fn invite_client_retransmits_with_timer_a_until_timer_b() {
    let cfg = TimerConfig::default();
    let mut layer = Layer::new(cfg);
    let key = ClientKey::new(Method::INVITE);
    let a = layer.send_request(
        key.clone(),
        flow(Kind::Udp),
        invite_request(&key.branch),
        Instant::now(),
    );
    assert_eq!(sends(&a), 1);
    // A doubles from T1 with no cap: 0.5, 1, 2, 4, 8, 16 s → 6 resends before B at 32 s.
    let end = Instant::now() + cfg.t1 * 64;
    let (mut sent, mut timeouts) = (0, 0);
    while let Some(at) = layer.poll_timeout() {
        if at > end {
            break;
        }
        advance(at.saturating_duration_since(Instant::now())).await;
        for act in layer.on_timeout(Instant::now()) {
            match act {
                Action::Send { .. } => sent += 1,
                Action::ClientTimedOut { call_id, .. } => {
                    assert_eq!(call_id, "call-1");
                    timeouts += 1
                }
                _ => {}
            }
        }
    }
    assert_eq!((sent, timeouts), (6, 1));
    assert!(layer.is_empty());
}

#[tokio::test(start_paused = true)]
async fn non_2xx_is_acked_by_the_transaction_and_retransmissions_absorbed() {
    let mut layer = Layer::new(TimerConfig::default());
    let key = ClientKey::new(Method::INVITE);
    layer.send_request(
        key.clone(),
        flow(Kind::Udp),
        invite_request(&key.branch),
        Instant::now(),
    );
    let (deliver, acts) = layer.on_response(&key, &response(180), Instant::now());
    assert!(deliver && acts.is_empty());
    assert!(layer.invite_proceeding(&key));
    let (deliver, acts) = layer.on_response(&key, &response(486), Instant::now());
    assert!(deliver, "the TU learns the final answer");
    let Action::Send { bytes, .. } = &acts[0] else {
        panic!("{acts:?}")
    };
    let ack = String::from_utf8_lossy(bytes);
    assert!(
        ack.starts_with("ACK sip:bob@127.0.0.1:5070 SIP/2.0"),
        "{ack}"
    );
    assert!(
        ack.contains("CSeq: 102 ACK") && ack.contains("tag=b") && ack.contains(&key.branch),
        "{ack}"
    );
    // A retransmitted 486 is ACKed again, not delivered.
    let (deliver, acts) = layer.on_response(&key, &response(486), Instant::now());
    assert!(!deliver);
    assert_eq!(sends(&acts), 1);
}

#[tokio::test(start_paused = true)]
async fn non_invite_client_timer_e_caps_at_t2_and_k_ends_it() {
    let cfg = TimerConfig::default();
    let mut layer = Layer::new(cfg);
    let key = ClientKey::new(Method::BYE);
    let mut bye = invite_request(&key.branch);
    bye.method = Method::BYE;
    layer.send_request(key.clone(), flow(Kind::Udp), bye, Instant::now());
    // E: 0.5, 1, 2, 4, 4, 4 … until F at 32 s.
    let (sent, _) = run_until(&mut layer, Duration::from_millis(7600)).await;
    assert_eq!(sent, 4, "at 0.5, 1.5, 3.5 and 7.5 s");
    let (deliver, _) = layer.on_response(&key, &response(200), Instant::now());
    assert!(deliver);
    let (deliver, _) = layer.on_response(&key, &response(200), Instant::now());
    assert!(!deliver, "retransmission absorbed in Completed");
    let (sent, _) = run_until(&mut layer, cfg.t4).await;
    assert_eq!(sent, 0);
    assert!(layer.is_empty(), "Timer K ended it");
}

#[tokio::test(start_paused = true)]
async fn an_answer_sent_once_keeps_no_state_and_no_timer() {
    let mut layer = Layer::new(TimerConfig::default());
    let k = key(Method::INVITE);
    let f = flow(Kind::Udp);
    layer.on_request(&k, false, f, Instant::now());
    let a = layer.respond_once(&k, Bytes::from_static(b"SIP/2.0 401 Unauthorized\r\n\r\n"));
    assert_eq!(sends(&a), 1);
    assert!(layer.is_empty(), "nothing kept");
    let (sent, _) = run_until(&mut layer, Duration::from_secs(64)).await;
    assert_eq!(sent, 0, "no Timer G retransmission");
    // The request again is a new transaction, answered afresh.
    let (r, _) = layer.on_request(&k, false, f, Instant::now());
    assert_eq!(r, Received::New);
    assert!(layer
        .respond_once(&key(Method::BYE), Bytes::new())
        .is_empty());
}

#[tokio::test(start_paused = true)]
async fn transactions_the_tu_never_answers_end_within_their_lifetime() {
    let cfg = TimerConfig::default();
    let mut layer = Layer::new(cfg);
    let f = flow(Kind::Udp);
    layer.on_request(&key(Method::BYE), false, f, Instant::now());
    layer.on_request(&key(Method::INVITE), false, f, Instant::now());
    // A non-INVITE one is gone once its client gave up (64·T1).
    let (_, timed_out) = run_until(&mut layer, cfg.lifetime(false)).await;
    assert_eq!(timed_out, 1);
    assert_eq!(layer.len(), 1, "the INVITE rings on");
    let (_, timed_out) = run_until(&mut layer, cfg.lifetime(true)).await;
    assert_eq!(timed_out, 1);
    assert!(layer.is_empty());
    assert_eq!(layer.poll_timeout(), None, "no timer while nothing is left");
}

#[tokio::test(start_paused = true)]
async fn an_answered_transaction_leaves_no_lifetime_timer() {
    let cfg = TimerConfig::default();
    let mut layer = Layer::new(cfg);
    // Over TCP a final answer ends a non-INVITE transaction at once (Timer
    // J fires at 0): nothing may be left to fire, not even its lifetime.
    let k = key(Method::REGISTER);
    layer.on_request(&k, false, flow(Kind::Tcp), Instant::now());
    assert!(
        layer.poll_timeout().is_some(),
        "the lifetime runs while unanswered"
    );
    let a = layer.respond(
        &k,
        200,
        Bytes::from_static(b"SIP/2.0 200 OK\r\n\r\n"),
        Instant::now(),
    );
    assert_eq!(sends(&a), 1);
    run_until(&mut layer, Duration::from_millis(1)).await;
    assert!(layer.is_empty());
    assert_eq!(layer.poll_timeout(), None);
    // Over UDP only Timer J is left: it ends at 64·T1, and then nothing.
    layer.on_request(&k, false, flow(Kind::Udp), Instant::now());
    let _ = layer.respond(
        &k,
        200,
        Bytes::from_static(b"SIP/2.0 200 OK\r\n\r\n"),
        Instant::now(),
    );
    let (sent, timed_out) = run_until(&mut layer, cfg.sixty_four_t1()).await;
    assert_eq!((sent, timed_out), (0, 0));
    assert!(layer.is_empty());
    assert_eq!(layer.poll_timeout(), None);
    // An INVITE answered once (respond_once) leaves nothing either.
    let inv = key(Method::INVITE);
    layer.on_request(&inv, false, flow(Kind::Udp), Instant::now());
    let _ = layer.respond_once(
        &inv,
        Bytes::from_static(b"SIP/2.0 401 Unauthorized\r\n\r\n"),
    );
    assert_eq!(layer.poll_timeout(), None);
}
