//! The router as its own process (`asterism-router`) over gRPC: the lab's
//! echo program, SIGHUP reloads (a broken file keeps the old dialplan), and
//! the offline `asterism dialplan check|show` tools; a draining router's
//! lanes refuse new calls and serve the ones they have.

mod common;

use asterism_proto::router::router_client::RouterClient;
use asterism_proto::router::{
    call_event, lane_event, lane_step, step, CallEvent, CallStart, LaneEvent, LaneStep,
    ShowDialplanRequest, StepResult, StepStatus,
};
use asterism_testkit::{bin_path, free_port, Service};
use common::TempDir;
use std::process::Command;
use std::time::Duration;
use tokio_stream::wrappers::ReceiverStream;

async fn steps_for(addr: &str, ctx: &str, exten: &str) -> (Vec<&'static str>, u32) {
    let mut c = RouterClient::connect(addr.to_owned()).await.unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tx.send(CallEvent {
        event: Some(call_event::Event::Start(CallStart {
            context: ctx.into(),
            extension: exten.into(),
            ..Default::default()
        })),
    })
    .await
    .unwrap();
    let mut s = c
        .execute(ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    let mut names = Vec::new();
    while let Some(step) = s.message().await.unwrap() {
        let app = step.app.unwrap();
        if let step::App::Finished(f) = app {
            return (names, f.sip_code);
        }
        names.push(asterism_router::engine::app_name(&app));
        tx.send(CallEvent {
            event: Some(call_event::Event::Result(StepResult {
                step_id: step.step_id,
                status: StepStatus::Ok as i32,
                ..Default::default()
            })),
        })
        .await
        .unwrap();
    }
    panic!("no Finished");
}

async fn show(addr: &str) -> String {
    let mut c = RouterClient::connect(addr.to_owned()).await.unwrap();
    c.show_dialplan(ShowDialplanRequest::default())
        .await
        .unwrap()
        .into_inner()
        .text
}

#[tokio::test]
async fn standalone_router_runs_the_lab_dialplan_and_reloads_on_sighup() {
    let dir = TempDir::new("router");
    let conf = dir.0.join("extensions.conf");
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/examples/extensions.conf"),
        &conf,
    )
    .unwrap();
    let port = free_port();
    let router = Service::start(
        "asterism-router",
        &[
            ("ASTERISM_CONFIG_DIR", dir.0.display().to_string()),
            ("ASTERISM_ROUTER_LISTEN", format!("127.0.0.1:{port}")),
            ("ASTERISM_DIALPLAN_POLL_SECS", "0".into()),
        ],
    );
    common::wait_tcp(port);
    let addr = format!("http://127.0.0.1:{port}");
    let channel = tonic::transport::Endpoint::from_shared(addr.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    let status = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "asterism.router.v1.Router".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .status;
    assert_eq!(
        status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
    assert_eq!(
        steps_for(&addr, "default", "3666").await,
        (vec!["Answer", "Playback", "Echo"], 0)
    );

    std::fs::write(&conf, "[default]\nexten => 3666,1,Answer()\n[broken\n").unwrap();
    router.signal("HUP");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        show(&addr).await.contains("Playback(demo-echotest)"),
        "old dialplan kept"
    );

    std::fs::write(
        &conf,
        "[default]\nexten => 3666,1,Answer\n same => n,SayDigits(42)\n",
    )
    .unwrap();
    router.signal("HUP");
    let mut reloaded = false;
    for _ in 0..50 {
        if show(&addr).await.contains("SayDigits(42)") {
            reloaded = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(reloaded, "SIGHUP reloads a good file");
    assert_eq!(
        steps_for(&addr, "default", "3666").await,
        (vec!["Answer", "SayDigits"], 0)
    );
}

#[test]
fn broken_dialplan_refuses_to_start_with_file_line_column() {
    let dir = TempDir::new("router-bad");
    std::fs::write(
        dir.0.join("extensions.conf"),
        "[default]\nexten => 61,1,Dial(SIP/alice)\n[broken\n",
    )
    .unwrap();
    let out = Command::new(bin_path("asterism-router"))
        .env("ASTERISM_CONFIG_DIR", &dir.0)
        .env("ASTERISM_ROUTER_LISTEN", "127.0.0.1:0")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("extensions.conf:3:1: error: no closing ']' in section header"),
        "{stderr}"
    );
}

#[test]
fn dialplan_check_and_show_tools() {
    let asterism = bin_path("asterism");
    let good = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/extensions.conf");
    let out = Command::new(&asterism)
        .args(["dialplan", "check", good])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("OK: 2 contexts, 4 extensions, 6 priorities")
    );

    let dir = TempDir::new("check");
    let bad = dir.0.join("bad.conf");
    std::fs::write(&bad, "[a]\nexten => 1,1,Dial(SIP/x)\nexten 2,1,Frob\n[b\n").unwrap();
    let out = Command::new(&asterism)
        .arg("dialplan")
        .arg("check")
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{}:4:1: error: no closing ']'", bad.display())),
        "{stderr}"
    );

    let out = Command::new(&asterism)
        .args(["dialplan", "show", good, "echo"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("1. Playback(demo-echotest)") && !text.contains("'61'"),
        "{text}"
    );
    let _ = free_port();
}

#[test]
fn all_in_one_serves_the_router_too() {
    // The all-in-one refuses a broken dialplan at start, like the router.
    let dir = TempDir::new("aio-bad");
    common::write_config(&dir.0, 0);
    std::fs::write(
        dir.0.join("extensions.conf"),
        "[default]\nexten => 1,1,Goto(1)\n#include missing.conf\n",
    )
    .unwrap();
    let out = Command::new(bin_path("asterism"))
        .env("ASTERISM_CONFIG_DIR", &dir.0)
        .env("ASTERISM_SIP_BIND", "127.0.0.1:0")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("extensions.conf:3:1: error: cannot read"),
        "{stderr}"
    );
}

/// One message from the lane, in time.
async fn lane_next(rx: &mut tonic::Streaming<LaneStep>) -> LaneStep {
    tokio::time::timeout(Duration::from_secs(5), rx.message())
        .await
        .expect("the router answers")
        .unwrap()
        .expect("the lane goes on")
}

fn lane_start(call: u64) -> LaneEvent {
    LaneEvent {
        call,
        event: Some(lane_event::Event::Start(CallStart {
            context: "default".into(),
            extension: "1".into(),
            ..Default::default()
        })),
        traceparent: String::new(),
    }
}

#[tokio::test]
async fn a_draining_router_refuses_new_calls_on_its_lanes_and_ends_its_own() {
    let dir = TempDir::new("router-drain");
    std::fs::write(
        dir.0.join("extensions.conf"),
        "[default]\nexten => 1,1,Wait(1)\n same => n,Hangup()\n",
    )
    .unwrap();
    let port = free_port();
    let router = Service::start(
        "asterism-router",
        &[
            ("ASTERISM_CONFIG_DIR", dir.0.display().to_string()),
            ("ASTERISM_ROUTER_LISTEN", format!("127.0.0.1:{port}")),
            (
                "ASTERISM_ADMIN_LISTEN",
                format!("127.0.0.1:{}", free_port()),
            ),
            ("ASTERISM_DRAIN_SECS", "10".into()),
        ],
    );
    common::wait_tcp(port);
    let mut c = RouterClient::connect(format!("http://127.0.0.1:{port}"))
        .await
        .unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    let mut lane = c
        .execute_lane(ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    tx.send(lane_start(1)).await.unwrap();
    assert!(matches!(
        lane_next(&mut lane).await.answer,
        Some(lane_step::Answer::Accepted(_))
    ));
    let wait = lane_next(&mut lane).await;
    router.signal("TERM");
    tokio::time::sleep(Duration::from_millis(300)).await;
    // A new call is refused as "go elsewhere"…
    tx.send(lane_start(2)).await.unwrap();
    let refused = lane_next(&mut lane).await;
    assert_eq!(
        (refused.call, refused.error_code),
        (2, tonic::Code::Unavailable as i32),
        "{refused:?}"
    );
    // …and the call it has runs to its end.
    let Some(lane_step::Answer::Step(wait)) = wait.answer else {
        panic!("expected the Wait step: {wait:?}");
    };
    let result = StepResult {
        step_id: wait.step_id,
        status: StepStatus::Ok as i32,
        ..Default::default()
    };
    tx.send(LaneEvent {
        call: 1,
        event: Some(lane_event::Event::Result(result)),
        traceparent: String::new(),
    })
    .await
    .unwrap();
    let hangup = lane_next(&mut lane).await;
    assert!(
        matches!(&hangup.answer, Some(lane_step::Answer::Step(s)) if matches!(s.app, Some(step::App::Hangup(_)))),
        "{hangup:?}"
    );
}
