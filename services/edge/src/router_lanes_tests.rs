//! The call lanes against a real router over loopback gRPC: calls ride a
//! few streams and get their own steps, an older router (no `ExecuteLane`)
//! gets an `Execute` stream per call, a lane cut under a call ends that
//! call's dialplan, and a router's refusal is sent elsewhere or final as
//! its code says.

use super::*;
use crate::test_gate::{forwarder, serve as serve_gate, Gate, Named};
use asterism_proto::router::{step, StepResult, StepStatus};
use futures::StreamExt;

const PLAN: &str = "[default]\nexten => 3666,1,Answer()\n same => n,Playback(demo-echotest)\n same => n,Hangup()\nexten => 61,1,Wait(30)\n";

/// The router's name, for its gate.
struct RouterName;

impl Named for RouterName {
    const NAME: &'static str = "asterism.router.v1.Router";
}

struct Served {
    addr: std::net::SocketAddr,
    seen: Arc<Mutex<Vec<String>>>,
}

async fn serve(refuse_lanes: bool) -> Served {
    let dir = std::env::temp_dir().join(format!(
        "asterism-router-lanes-{}-{refuse_lanes}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("extensions.conf");
    std::fs::write(&path, PLAN).unwrap();
    let (router, _) = asterism_router::Router::load(Some(&path)).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let refuse = refuse_lanes.then_some("ExecuteLane");
    let gate: Gate<_, RouterName> =
        Gate::new(asterism_router::grpc::service(Arc::new(router)), refuse);
    let seen = gate.seen.clone();
    let addr = serve_gate(gate).await;
    Served { addr, seen }
}

fn lanes_to(addr: std::net::SocketAddr) -> RouterLanes {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_lazy();
    RouterLanes::new(RouterClient::with_interceptor(
        channel,
        asterism_telemetry::propagation::Inject,
    ))
}

fn start(exten: &str, n: usize) -> CallStart {
    CallStart {
        call_id: format!("lane-call-{n}"),
        context: "default".into(),
        extension: exten.into(),
        callerid_num: "62".into(),
        ..Default::default()
    }
}

/// Run a call to its end, answering every step OK; the applications seen
/// and the Finished's SIP code.
async fn run(mut plan: Dialplan) -> (Vec<String>, u32) {
    let mut apps = Vec::new();
    while let Some(s) = plan.steps.next().await {
        let s = s.expect("a step");
        match s.app.expect("an application") {
            step::App::Finished(f) => return (apps, f.sip_code),
            app => apps.push(asterism_router::engine::app_name(&app).to_owned()),
        }
        let result = CallEvent {
            event: Some(call_event::Event::Result(StepResult {
                step_id: s.step_id,
                status: StepStatus::Ok as i32,
                ..Default::default()
            })),
        };
        assert!(plan.results.send(result).await, "the lane takes the result");
    }
    panic!("the dialplan ended without Finished after {apps:?}");
}

#[tokio::test]
async fn calls_ride_a_few_streams() {
    let s = serve(false).await;
    let lanes = Arc::new(lanes_to(s.addr));
    let mut calls = tokio::task::JoinSet::new();
    for n in 0..40 {
        let lanes = lanes.clone();
        calls.spawn(async move {
            let exten = if n % 2 == 0 { "3666" } else { "4444" };
            let plan = lanes
                .open(&start(exten, n))
                .await
                .expect("the call is taken");
            (n, run(plan).await)
        });
    }
    while let Some(done) = calls.join_next().await {
        let (n, (apps, code)) = done.unwrap();
        if n % 2 == 0 {
            assert_eq!(
                (apps, code),
                (vec!["Answer".into(), "Playback".into(), "Hangup".into()], 0)
            );
        } else {
            assert_eq!((apps, code), (vec![], 404), "call {n}");
        }
    }
    let seen = lock(&s.seen).clone();
    assert_eq!(
        seen,
        vec!["ExecuteLane"; LANES],
        "one stream per lane, no Execute"
    );
    // Every call's place on its lane is given back.
    for slot in &lanes.slots {
        let lane = slot.lock().await.clone().expect("a lane");
        assert!(lock(&lane.calls).is_empty());
    }
}

#[tokio::test]
async fn an_older_router_gets_a_stream_per_call() {
    let s = serve(true).await;
    let lanes = lanes_to(s.addr);
    for n in 0..3 {
        let plan = lanes.open(&start("3666", n)).await.unwrap();
        assert_eq!(run(plan).await.0.len(), 3);
    }
    let seen = lock(&s.seen).clone();
    assert_eq!(
        seen,
        ["ExecuteLane", "Execute", "Execute", "Execute"],
        "tried once"
    );
}

#[tokio::test]
async fn a_lane_cut_under_calls_ends_their_dialplans() {
    let s = serve(false).await;
    let (via, cut) = forwarder(s.addr).await;
    let lanes = lanes_to(via);
    let mut plans = Vec::new();
    for n in 0..(2 * LANES) {
        // 61 waits 30 s: the calls are mid-step when the lane is cut.
        let mut plan = lanes.open(&start("61", n)).await.unwrap();
        let first = plan.steps.next().await.unwrap().unwrap();
        assert!(matches!(first.app, Some(step::App::Wait(_))), "{first:?}");
        plans.push(plan);
    }
    cut.abort();
    for mut plan in plans {
        let next = tokio::time::timeout(Duration::from_secs(5), plan.steps.next())
            .await
            .expect("the cut is noticed");
        assert!(
            !matches!(next, Some(Ok(_))),
            "no step after the cut: {next:?}"
        );
    }
    // New calls open new lanes (here: fail, as never answered, to retry).
    let again = lanes
        .open(&start("3666", 99))
        .await
        .err()
        .expect("no router");
    assert!(crate::retry::never_answered(&again), "{again:?}");
}

#[test]
fn refusals_are_retried_or_final_as_their_code_says() {
    let calls: Calls = Arc::default();
    let mut answers = Vec::new();
    for (id, code) in [
        (1u64, tonic::Code::Unavailable),
        (2, tonic::Code::InvalidArgument),
    ] {
        let (taken, rx) = oneshot::channel();
        let (steps, _) = mpsc::channel(1);
        lock(&calls).insert(
            id,
            Waiter {
                taken: Some(taken),
                steps,
            },
        );
        let refusal = LaneStep {
            call: id,
            answer: None,
            error_code: code as i32,
            error_message: "no".into(),
        };
        deliver(&calls, refusal);
        answers.push(rx);
    }
    let mut it = answers.into_iter();
    let shutting_down = it.next().unwrap().try_recv().unwrap().unwrap_err();
    assert!(crate::retry::never_answered(&shutting_down));
    let bad = it.next().unwrap().try_recv().unwrap().unwrap_err();
    assert!(!crate::retry::never_answered(&bad));
    assert!(lock(&calls).is_empty(), "refused calls leave the lane");
    // A step for a call not yet taken, or one too many, ends that call.
    let (steps, mut rx) = mpsc::channel(1);
    lock(&calls).insert(3, Waiter { taken: None, steps });
    let step = |call| LaneStep {
        call,
        answer: Some(lane_step::Answer::Step(Step::default())),
        ..Default::default()
    };
    deliver(&calls, step(3));
    assert!(lock(&calls).contains_key(&3));
    deliver(&calls, step(3));
    assert!(
        !lock(&calls).contains_key(&3),
        "a second step unanswered: the call ends"
    );
    assert!(rx.try_recv().is_ok());
}
