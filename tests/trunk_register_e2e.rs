//! `register =>` end to end against a sipp provider registrar that
//! challenges every REGISTER and checks the digest: Asterism registers,
//! refreshes before each 2-second registration runs out, survives the
//! provider's restart (times out, then registers again), shows it all in
//! `asterism sip show registry`; with two edges exactly one holds the
//! line, and the other takes it over when the holder dies.

mod common;

use asterism_proto::edge::edge_admin_client::EdgeAdminClient;
use asterism_proto::edge::{ListRegistrationsRequest, RegistrationInfo};
use common::calls::scenario;
use common::{wait_until, Topology};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Provider(Child);

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn provider(port: u16) -> Provider {
    let child = Command::new("sipp")
        .args(["-sf"])
        .arg(scenario("provider_registrar.xml"))
        .args(["-i", "127.0.0.1", "-p", &port.to_string(), "-nostdin"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sipp");
    Provider(child)
}

/// What the edge whose admin gRPC is on `port` holds.
fn registrations(port: u16) -> Vec<RegistrationInfo> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let Ok(mut c) = EdgeAdminClient::connect(format!("http://127.0.0.1:{port}")).await else {
            return Vec::new();
        };
        c.list_registrations(ListRegistrationsRequest {})
            .await
            .map(|r| r.into_inner().registrations)
            .unwrap_or_default()
    })
}

fn general(port: u16) -> String {
    format!("registertimeout=1\nregister => 4930123:regpw@127.0.0.1:{port}/4930123~2\n")
}

#[test]
fn registers_refreshes_and_comes_back_after_the_provider_restarts() {
    let port = asterism_testkit::free_port();
    let mut itsp = provider(port);
    // Short SIP timers: a REGISTER to a dead provider times out in 3.2 s.
    let t = Topology::start_full(&[("ASTERISM_SIP_T1_MS", "50")], None, (&general(port), ""));
    let state = || registrations(t.admin_port).into_iter().next();
    let refreshed = wait_until(Duration::from_secs(15), || {
        state().is_some_and(|r| r.state == "Registered" && r.registered >= 3)
    });
    assert!(refreshed, "registered and refreshed twice: {:?}", state());
    let (_, m) = common::http_get(t.edge_http, "/metrics").unwrap();
    assert!(
        m.contains("asterism_edge_trunk_registrations_registered 1"),
        "{m}"
    );
    // The CLI shows it as Asterisk's `sip show registry` does.
    let out = Command::new(asterism_testkit::bin_path("asterism"))
        .args([
            "sip",
            "show",
            "registry",
            "--edge",
            &format!("127.0.0.1:{}", t.admin_port),
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains(&format!("127.0.0.1:{port}")) && text.contains("4930123"),
        "{text}"
    );
    assert!(
        text.contains("Registered") && text.contains("1 SIP registrations."),
        "{text}"
    );
    // The provider goes away: the next refresh times out.
    drop(itsp);
    let down = wait_until(Duration::from_secs(15), || {
        state().is_some_and(|r| r.state == "Timeout" || r.state == "Request Sent")
    });
    assert!(down, "the dead provider is noticed: {:?}", state());
    let before = state().map_or(0, |r| r.registered);
    itsp = provider(port);
    let back = wait_until(Duration::from_secs(20), || {
        state().is_some_and(|r| r.state == "Registered" && r.registered > before)
    });
    assert!(back, "registered again after the restart: {:?}", state());
    drop(itsp);
}

#[test]
fn exactly_one_edge_holds_a_registration_and_another_takes_over() {
    let port = asterism_testkit::free_port();
    let _itsp = provider(port);
    let mut t = Topology::start_full(&[], None, (&general(port), ""));
    let admin2 = asterism_testkit::free_port();
    let (mut edge2, _, _) = t.another_edge_with(
        "edge-2",
        &[("ASTERISM_EDGE_ADMIN_LISTEN", &format!("127.0.0.1:{admin2}"))],
    );
    let held = |p: u16| registrations(p).iter().any(|r| r.state == "Registered");
    assert!(
        wait_until(Duration::from_secs(15), || held(t.admin_port)
            || held(admin2)),
        "one edge registers"
    );
    // Several polls later, still exactly one.
    std::thread::sleep(Duration::from_secs(6));
    let (one, two) = (
        registrations(t.admin_port).len(),
        registrations(admin2).len(),
    );
    assert_eq!(one + two, 1, "edge-1 holds {one}, edge-2 holds {two}");
    // The holder dies: the other takes the line over once the lease lapses.
    let other = if two == 1 {
        edge2.kill();
        t.admin_port
    } else {
        t.edge.kill();
        admin2
    };
    let taken = wait_until(Duration::from_secs(30), || held(other));
    assert!(taken, "the surviving edge takes the line over");
}
