//! Bad configuration stops a service with `file:line` and exit code 64,
//! and `--help` lists every setting; a features.conf line Asterism does
//! not follow is warned about with `file:line`.

mod common;

use asterism_testkit::bin_path;
use common::TempDir;
use std::process::Command;

#[test]
fn broken_sip_conf_names_file_and_line_and_exits_64() {
    let dir = TempDir::new("badconf");
    std::fs::write(
        dir.0.join("sip.conf"),
        "[general]\nrealm=asterisk\n\n[alice]\ntype=friend\n[bob\nsecret=bob62\n",
    )
    .unwrap();
    for bin in ["asterism-registrar", "asterism"] {
        let out = Command::new(bin_path(bin))
            .env("ASTERISM_CONFIG_DIR", &dir.0)
            .env("ASTERISM_SIP_BIND", "127.0.0.1:0")
            .env("ASTERISM_REGISTRAR_LISTEN", "127.0.0.1:0")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(64), "{bin}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let want = format!(
            "{}:6: no closing ']' in section header",
            dir.0.join("sip.conf").display()
        );
        assert!(stderr.contains(&want), "{bin} said: {stderr}");
    }
}

#[test]
fn invalid_settings_exit_64_and_help_lists_them_all() {
    let out = Command::new(bin_path("asterism-edge"))
        .env("ASTERISM_SIP_BIND", "not-an-address")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ASTERISM_SIP_BIND"));

    let out = Command::new(bin_path("asterism"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for var in [
        "ASTERISM_CONFIG_DIR",
        "ASTERISM_SIP_BIND",
        "ASTERISM_REDIS_URL",
        "ASTERISM_REGISTRAR_ADDR",
        "ASTERISM_MIN_EXPIRES",
        "ASTERISM_SIP_T1_MS",
    ] {
        assert!(help.contains(var), "--help lacks {var}");
    }
    let out = Command::new(bin_path("asterism"))
        .arg("--bogus")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
}

#[test]
fn malformed_redis_urls_exit_64_saying_what_is_wrong() {
    for (url, why) in [
        (
            "redis+sentinel://h:1",
            "expected redis+sentinel://host:port,.../master",
        ),
        ("redis+cluster://h:1/3", "Redis Cluster has no databases"),
        ("http://h:1", "bad Redis URL"),
    ] {
        let out = Command::new(bin_path("asterism-registrar"))
            .env(
                "ASTERISM_CONFIG_DIR",
                concat!(env!("CARGO_MANIFEST_DIR"), "/examples"),
            )
            .env("ASTERISM_REDIS_URL", url)
            .env("ASTERISM_REGISTRAR_LISTEN", "127.0.0.1:0")
            .env("ASTERISM_ADMIN_LISTEN", "127.0.0.1:0")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(64), "{url}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(why), "{url}: {stderr}");
        assert!(!stderr.contains("unavailable"), "{url}: {stderr}");
    }
}

/// Every binary sizes its runtime from `ASTERISM_WORKER_THREADS` (or
/// `--worker-threads`), refuses a bad value with exit 64 instead of a
/// panic, and checks tokio's own `TOKIO_WORKER_THREADS` the same way.
#[test]
fn worker_threads_setting_is_checked_and_applied() {
    let bins = [
        "asterism",
        "asterism-edge",
        "asterism-registrar",
        "asterism-router",
        "asterism-media",
    ];
    for bin in bins {
        for (var, value) in [
            ("ASTERISM_WORKER_THREADS", "0"),
            ("ASTERISM_WORKER_THREADS", "two"),
            ("TOKIO_WORKER_THREADS", "many"),
        ] {
            let out = Command::new(bin_path(bin))
                .env_remove("ASTERISM_WORKER_THREADS")
                .env_remove("TOKIO_WORKER_THREADS")
                .env(var, value)
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(64), "{bin} {var}={value}: {stderr}");
            assert!(
                stderr.contains(&format!("{var}=\"{value}\"")),
                "{bin}: {stderr}"
            );
            assert!(!stderr.contains("panicked"), "{bin}: {stderr}");
        }
        let out = Command::new(bin_path(bin))
            .args(["--worker-threads", "-3"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(64), "{bin}");
    }
    // A good value is what the process runs with (it says so on start).
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/examples");
    for (how, args, env) in [
        ("flag", vec!["--worker-threads", "3"], None),
        ("variable", vec![], Some("3")),
    ] {
        let mut cmd = Command::new(bin_path("asterism-registrar"));
        cmd.args(&args)
            .env("ASTERISM_CONFIG_DIR", examples)
            .env("ASTERISM_REGISTRAR_LISTEN", "127.0.0.1:0")
            .env("ASTERISM_ADMIN_LISTEN", "127.0.0.1:0")
            .env_remove("ASTERISM_REDIS_URL")
            .env("TOKIO_WORKER_THREADS", "1")
            .env("ASTERISM_LOG_FORMAT", "json")
            .stderr(std::process::Stdio::piped());
        if let Some(v) = env {
            cmd.env("ASTERISM_WORKER_THREADS", v);
        }
        let mut child = cmd.spawn().unwrap();
        let line = first_line_with(&mut child, "async runtime");
        let _ = child.kill();
        let _ = child.wait();
        assert!(line.contains("\"worker_threads\":3"), "{how}: {line}");
    }
}

/// The first line of the child's stderr holding `needle` (empty if it
/// exits or stays silent for 20 s).
fn first_line_with(child: &mut std::process::Child, needle: &str) -> String {
    use std::io::BufRead;
    let stderr = child.stderr.take().expect("piped stderr");
    let needle = needle.to_owned();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if line.contains(&needle) {
                let _ = tx.send(line);
                return;
            }
        }
    });
    rx.recv_timeout(std::time::Duration::from_secs(20))
        .unwrap_or_default()
}

#[test]
fn a_features_conf_asterism_does_not_follow_is_warned_about() {
    let dir = TempDir::new("features-conf");
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/examples");
    std::fs::copy(
        format!("{examples}/extensions.conf"),
        dir.0.join("extensions.conf"),
    )
    .unwrap();
    std::fs::write(
        dir.0.join("features.conf"),
        "[general]\npickupexten = *8\n\n[featuremap]\natxfer => *2\n",
    )
    .unwrap();
    let mut child = Command::new(bin_path("asterism-router"))
        .env("ASTERISM_CONFIG_DIR", &dir.0)
        .env("ASTERISM_ROUTER_LISTEN", "127.0.0.1:0")
        .env("ASTERISM_ADMIN_LISTEN", "127.0.0.1:0")
        .env_remove("ASTERISM_REDIS_URL")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let line = first_line_with(&mut child, "features.conf");
    let _ = child.kill();
    let _ = child.wait();
    assert!(line.contains("features.conf:5"), "{line}");
    assert!(line.contains("atxfer"), "{line}");
}
