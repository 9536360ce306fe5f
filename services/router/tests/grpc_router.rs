//! The router over real gRPC (a tonic server on a loopback port, a tonic
//! client): a call's steps stream one at a time, results steer the
//! dialplan; ShowDialplan; Reload keeps the old dialplan when the new file
//! is broken and reports file:line; a changed file is picked up by itself;
//! a lane carries many calls, and the calls its edge leaves run `h`.

use asterism_proto::router::router_client::RouterClient;
use asterism_proto::router::router_server;
use asterism_proto::router::{
    call_event, lane_event, lane_step, step, CallEvent, CallStart, DatabaseRequest, LaneEnd,
    LaneEvent, LaneStep, ReloadRequest, ShowDialplanRequest, StepResult, StepStatus,
};
use asterism_router::grpc::{LaneLimit, RouterService, StepMetrics};
use asterism_router::service::Router;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;

struct Tmp(PathBuf);

impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn serve(text: &str) -> (RouterClient<Channel>, Arc<Router>, Tmp, PathBuf) {
    serve_limited(text, LaneLimit::default()).await
}

async fn serve_limited(
    text: &str,
    limit: LaneLimit,
) -> (RouterClient<Channel>, Arc<Router>, Tmp, PathBuf) {
    let dir = std::env::temp_dir().join(format!(
        "asterism-router-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("extensions.conf");
    std::fs::write(&path, text).unwrap();
    let (router, _) = Router::load(Some(&path)).unwrap();
    let router = Arc::new(router);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(router_server::RouterServer::new(RouterService(
                router.clone(),
                StepMetrics::default(),
                limit,
            )))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    let client = RouterClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    (client, router, Tmp(dir.clone()), path)
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// Run one call over the stream; `dial_status` answers Dial steps.
async fn call(
    client: &mut RouterClient<Channel>,
    ctx: &str,
    exten: &str,
    dial_status: &str,
) -> (Vec<String>, u32) {
    let (tx, rx) = mpsc::channel(4);
    tx.send(CallEvent {
        event: Some(call_event::Event::Start(CallStart {
            call_id: "grpc-1".into(),
            context: ctx.into(),
            extension: exten.into(),
            callerid_num: "62".into(),
            ..Default::default()
        })),
    })
    .await
    .unwrap();
    let mut steps = client
        .execute(ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    let mut names = Vec::new();
    while let Some(s) = steps.message().await.unwrap() {
        let app = s.app.unwrap();
        if let step::App::Finished(f) = app {
            return (names, f.sip_code);
        }
        names.push(asterism_router::engine::app_name(&app).to_owned());
        let dial = matches!(app, step::App::Dial(_));
        tx.send(CallEvent {
            event: Some(call_event::Event::Result(StepResult {
                step_id: s.step_id,
                status: StepStatus::Ok as i32,
                dial_status: if dial {
                    dial_status.into()
                } else {
                    String::new()
                },
                ..Default::default()
            })),
        })
        .await
        .unwrap();
    }
    panic!("stream ended without Finished: {names:?}");
}

const LAB: &str = include_str!("../../../examples/extensions.conf");

#[tokio::test]
async fn echo_program_streams_step_by_step() {
    let (mut c, _, _tmp, _) = serve(LAB).await;
    assert_eq!(
        call(&mut c, "default", "3666", "").await,
        (vec!["Answer".into(), "Playback".into(), "Echo".into()], 0)
    );
    assert_eq!(call(&mut c, "default", "4444", "").await, (vec![], 404));
}

#[tokio::test]
async fn dial_results_steer_the_dialplan() {
    let (mut c, _, _tmp, _) =
        serve("[default]\nexten => 61,1,Dial(SIP/alice,20)\n same => n,GotoIf($[${DIALSTATUS} = BUSY]?b)\n same => n,Hangup(19)\n same => n(b),Busy\n").await;
    assert_eq!(
        call(&mut c, "default", "61", "BUSY").await,
        (vec!["Dial".into(), "Busy".into()], 486)
    );
    assert_eq!(
        call(&mut c, "default", "61", "NOANSWER").await,
        (vec!["Dial".into(), "Hangup".into()], 480)
    );
}

#[tokio::test]
async fn show_dialplan_like_asterisk() {
    let (mut c, _, _tmp, _) = serve(LAB).await;
    let text = c
        .show_dialplan(ShowDialplanRequest {
            context: "echo".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .text;
    assert!(
        text.contains("[ Context 'echo' created by 'pbx_config' ]"),
        "{text}"
    );
    assert!(text.contains("'3666' =>"), "{text}");
    assert!(text.contains("1. Playback(demo-echotest)"), "{text}");
    assert!(text.contains("2. Echo()"), "{text}");
    assert!(
        text.contains("-= 1 extension (2 priorities) in 1 context. =-"),
        "{text}"
    );
    let missing = c
        .show_dialplan(ShowDialplanRequest {
            context: "nope".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), tonic::Code::NotFound);
}

#[tokio::test]
async fn broken_reload_keeps_the_old_dialplan_and_reports_the_line() {
    let (mut c, _, _tmp, path) = serve(LAB).await;
    std::fs::write(
        &path,
        "[default]\nexten => 3666,1,Answer\n[echo\nexten => 3666,2,Goto(echo,3666,1)\n",
    )
    .unwrap();
    let r = c.reload(ReloadRequest {}).await.unwrap().into_inner();
    assert!(!r.ok);
    assert!(r.errors[0].contains("extensions.conf:3:"), "{:?}", r.errors);
    // Calls still run the old dialplan.
    assert_eq!(
        call(&mut c, "default", "3666", "").await.0,
        vec!["Answer", "Playback", "Echo"]
    );
    std::fs::write(
        &path,
        "[default]\nexten => 3666,1,Answer\n same => n,Hangup\n",
    )
    .unwrap();
    let r = c.reload(ReloadRequest {}).await.unwrap().into_inner();
    assert!(r.ok, "{:?}", r.errors);
    assert_eq!(
        call(&mut c, "default", "3666", "").await.0,
        vec!["Answer", "Hangup"]
    );
}

#[tokio::test]
async fn a_changed_file_is_picked_up_and_running_calls_keep_their_dialplan() {
    let (mut c, router, _tmp, path) =
        serve("[default]\nexten => 1,1,Answer\n same => n,Echo\n").await;
    tokio::spawn(router.clone().watch(Duration::from_millis(50)));
    // Start a call and take its first step.
    let (tx, rx) = mpsc::channel(4);
    tx.send(CallEvent {
        event: Some(call_event::Event::Start(CallStart {
            context: "default".into(),
            extension: "1".into(),
            ..Default::default()
        })),
    })
    .await
    .unwrap();
    let mut steps = c
        .execute(ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    let first = steps.message().await.unwrap().unwrap();
    // Change the file; the watcher reloads it.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    std::fs::write(&path, "[default]\nexten => 1,1,Busy\n").unwrap();
    for _ in 0..100 {
        if router.current().priority("default", "1", 2).is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        router.current().priority("default", "1", 2).is_none(),
        "new dialplan loaded"
    );
    // The running call goes on with the dialplan it started with.
    tx.send(CallEvent {
        event: Some(call_event::Event::Result(StepResult {
            step_id: first.step_id,
            status: StepStatus::Ok as i32,
            ..Default::default()
        })),
    })
    .await
    .unwrap();
    let second = steps.message().await.unwrap().unwrap();
    assert!(matches!(second.app, Some(step::App::Echo(_))), "{second:?}");
    // A new call gets the new one.
    assert_eq!(
        call(&mut c, "default", "1", "").await,
        (vec!["Busy".into()], 486)
    );
}

/// A lane's messages for the test to send, and what comes back.
struct Lane {
    tx: mpsc::Sender<LaneEvent>,
    rx: tonic::Streaming<LaneStep>,
}

impl Lane {
    async fn open(c: &mut RouterClient<Channel>) -> Lane {
        let (tx, rx) = mpsc::channel(16);
        let rx = c
            .execute_lane(ReceiverStream::new(rx))
            .await
            .unwrap()
            .into_inner();
        Lane { tx, rx }
    }

    async fn send(&self, call: u64, event: lane_event::Event) {
        let traceparent = String::new();
        let m = LaneEvent {
            call,
            event: Some(event),
            traceparent,
        };
        self.tx.send(m).await.unwrap();
    }

    async fn start(&self, call: u64, exten: &str, caller: &str) {
        let start = CallStart {
            call_id: format!("lane-{call}"),
            context: "default".into(),
            extension: exten.into(),
            callerid_num: caller.into(),
            ..Default::default()
        };
        self.send(call, lane_event::Event::Start(start)).await;
    }

    async fn ok(&self, call: u64, step_id: u64) {
        let r = StepResult {
            step_id,
            status: StepStatus::Ok as i32,
            ..Default::default()
        };
        self.send(call, lane_event::Event::Result(r)).await;
    }

    async fn next(&mut self) -> LaneStep {
        tokio::time::timeout(Duration::from_secs(5), self.rx.message())
            .await
            .expect("the router answers")
            .unwrap()
            .expect("the lane goes on")
    }
}

#[tokio::test]
async fn a_lane_carries_interleaved_calls() {
    let (mut c, _, _tmp, _) = serve(LAB).await;
    let mut lane = Lane::open(&mut c).await;
    for (call, exten) in [(1, "3666"), (2, "4444"), (3, "3666")] {
        lane.start(call, exten, "62").await;
    }
    let mut apps: std::collections::HashMap<u64, Vec<String>> = Default::default();
    let mut finished = std::collections::HashMap::new();
    while finished.len() < 3 {
        let m = lane.next().await;
        let seen = apps.entry(m.call).or_default();
        match m.answer {
            Some(lane_step::Answer::Accepted(_)) => {
                assert!(seen.is_empty(), "taken before its steps");
                seen.push("taken".into());
            }
            Some(lane_step::Answer::Step(s)) => match s.app.unwrap() {
                step::App::Finished(f) => {
                    finished.insert(m.call, f.sip_code);
                }
                app => {
                    seen.push(asterism_router::engine::app_name(&app).to_owned());
                    lane.ok(m.call, s.step_id).await;
                }
            },
            None => panic!("call {} failed: {}", m.call, m.error_message),
        }
    }
    let echo: Vec<String> = ["taken", "Answer", "Playback", "Echo"]
        .map(String::from)
        .into();
    assert_eq!(apps[&1], echo);
    assert_eq!(apps[&3], echo);
    assert_eq!(apps[&2], ["taken"]);
    assert_eq!((finished[&1], finished[&2], finished[&3]), (0, 404, 0));
    // A number in use is refused, the lane goes on.
    lane.start(9, "1", "62").await;
    lane.start(9, "1", "62").await;
    assert!(matches!(
        lane.next().await.answer,
        Some(lane_step::Answer::Accepted(_))
    ));
    let refused = lane.next().await;
    assert_eq!(
        (refused.call, refused.error_code),
        (9, tonic::Code::InvalidArgument as i32)
    );
}

/// What `h` stored for caller `who` (polled: it runs after the call goes).
async fn hung_up(c: &mut RouterClient<Channel>, who: &str) -> bool {
    for _ in 0..100 {
        let get = DatabaseRequest {
            op: "get".into(),
            family: "hung".into(),
            key: who.into(),
            value: String::new(),
        };
        if c.database(get).await.unwrap().into_inner().found {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test]
async fn calls_the_edge_leaves_are_abandoned_and_run_h() {
    let plan =
        "[default]\nexten => 1,1,Wait(30)\nexten => h,1,Set(DB(hung/${CALLERID(num)})=yes)\n";
    let (mut c, _, _tmp, _) = serve(plan).await;
    let mut lane = Lane::open(&mut c).await;
    let first_step = |m: LaneStep| match m.answer {
        Some(lane_step::Answer::Step(s)) => s.step_id,
        other => panic!("expected a step for call {}: {other:?}", m.call),
    };
    // One ended by the edge mid-step.
    lane.start(1, "1", "101").await;
    assert!(matches!(
        lane.next().await.answer,
        Some(lane_step::Answer::Accepted(_))
    ));
    first_step(lane.next().await);
    lane.send(1, lane_event::Event::End(LaneEnd {})).await;
    assert!(hung_up(&mut c, "101").await, "h ran for the ended call");
    // Results and ends of calls it does not have are let go.
    lane.ok(77, 1).await;
    lane.send(78, lane_event::Event::End(LaneEnd {})).await;
    // The lane going away abandons what is left on it.
    lane.start(3, "1", "103").await;
    lane.next().await;
    first_step(lane.next().await);
    drop(lane);
    assert!(hung_up(&mut c, "103").await, "h ran when the lane ended");
}

#[tokio::test]
async fn a_full_lane_refuses_new_calls_until_one_ends() {
    let plan = "[default]\nexten => 1,1,Wait(30)\n";
    let (mut c, _, _tmp, _) = serve_limited(plan, LaneLimit(2)).await;
    let mut lane = Lane::open(&mut c).await;
    for call in [1, 2, 3] {
        lane.start(call, "1", "62").await;
    }
    let mut refused = Vec::new();
    for _ in 0..5 {
        let m = lane.next().await;
        if m.error_code != 0 {
            refused.push((m.call, m.error_code));
        }
    }
    let full = tonic::Code::ResourceExhausted as i32;
    assert_eq!(refused, [(3, full)], "the third call is refused");
    // A call that ends makes room.
    lane.send(1, lane_event::Event::End(LaneEnd {})).await;
    lane.start(4, "1", "62").await;
    let taken = lane.next().await;
    assert_eq!(taken.call, 4);
    assert!(
        matches!(taken.answer, Some(lane_step::Answer::Accepted(_))),
        "{taken:?}"
    );
}
