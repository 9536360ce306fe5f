//! A real softphone: baresip (headless, `ctrl_tcp`) registers against the
//! all-in-one `asterism` binary and reports the registration OK; an account
//! with a wrong password does not.

mod common;

use asterism_testkit::{free_port, Service};
use common::baresip::{self, ctrl, sine_wav, tones, Mic};
use common::TempDir;
use std::time::{Duration, Instant};

#[test]
fn baresip_registers_against_the_all_in_one() {
    let dir = TempDir::new("baresip");
    let sip_port = free_port();
    let _pbx = Service::start(
        "asterism",
        &[
            ("ASTERISM_SIP_BIND", format!("127.0.0.1:{sip_port}")),
            (
                "ASTERISM_CONFIG_DIR",
                concat!(env!("CARGO_MANIFEST_DIR"), "/examples").to_string(),
            ),
        ],
    );
    let accounts = format!(
        "<sip:alice@127.0.0.1:{sip_port}>;auth_pass=alice61;regint=60\n<sip:bob@127.0.0.1:{sip_port}>;auth_pass=not-bobs;regint=60\n"
    );
    let phone = baresip::start(&dir.0, Mic::Sine(440), &accounts);
    let ctrl_port = phone.ctrl;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = String::new();
    while Instant::now() < deadline {
        if let Some(info) = ctrl(ctrl_port, "reginfo", "") {
            last = info;
            let alice = last.lines().find(|l| l.contains("sip:alice@"));
            let bob = last.lines().find(|l| l.contains("sip:bob@"));
            if let (Some(a), Some(b)) = (alice, bob) {
                if a.contains("OK") && !b.contains("OK") && b.contains("ERR") {
                    eprintln!("{last}");
                    assert!(a.contains("Asterism PBX"), "{a}");
                    return;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!(
        "alice should be registered and bob refused; baresip says:\n{last}\nlog:\n{}",
        phone.log()
    );
}

fn calls(port: u16) -> String {
    ctrl(port, "listcalls", "").unwrap_or_default()
}

/// Poll until `check` holds for what `listcalls` says on both phones.
fn until(a: u16, b: u16, what: &str, check: impl Fn(&str) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let (mut la, mut lb) = (String::new(), String::new());
    while Instant::now() < deadline {
        la = calls(a);
        lb = calls(b);
        if check(&la) && check(&lb) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{what}: phone A says\n{la}\nphone B says\n{lb}");
}

#[test]
fn two_baresip_phones_call_each_other_and_either_hangs_up() {
    let dir_a = TempDir::new("bs-alice");
    let dir_b = TempDir::new("bs-bob");
    let sip_port = free_port();
    let _pbx = Service::start(
        "asterism",
        &[
            ("ASTERISM_SIP_BIND", format!("127.0.0.1:{sip_port}")),
            (
                "ASTERISM_CONFIG_DIR",
                concat!(env!("CARGO_MANIFEST_DIR"), "/examples").to_string(),
            ),
        ],
    );
    let account = |user: &str, pw: &str| {
        format!("<sip:{user}@127.0.0.1:{sip_port}>;auth_pass={pw};regint=60;answermode=auto\n")
    };
    let alice = baresip::start(&dir_a.0, Mic::Sine(440), &account("alice", "alice61"));
    let bob = baresip::start(&dir_b.0, Mic::Sine(440), &account("bob", "bob62"));
    for phone in [&alice, &bob] {
        assert!(
            phone.registered(),
            "phone did not register:\n{}",
            phone.log()
        );
    }
    let (ctrl_a, ctrl_b) = (alice.ctrl, bob.ctrl);
    // 62 dials 61; 61 answers by itself; the callee hangs up.
    ctrl(ctrl_b, "dial", "61").unwrap();
    until(ctrl_a, ctrl_b, "call 62 → 61 established on both", |c| {
        c.contains("ESTABLISHED")
    });
    ctrl(ctrl_a, "hangup", "").unwrap();
    until(ctrl_a, ctrl_b, "both see 62 → 61 closed", |c| {
        c.contains("Active calls (0)")
    });
    // And the other way round, the caller hanging up.
    ctrl(ctrl_a, "dial", "62").unwrap();
    until(ctrl_a, ctrl_b, "call 61 → 62 established on both", |c| {
        c.contains("ESTABLISHED")
    });
    ctrl(ctrl_a, "hangup", "").unwrap();
    until(ctrl_a, ctrl_b, "both see 61 → 62 closed", |c| {
        c.contains("Active calls (0)")
    });
}

#[test]
fn baresip_echo_test_hears_the_prompt_then_its_own_voice() {
    let dir = TempDir::new("bs-echo");
    let sounds = dir.0.join("sounds/en");
    std::fs::create_dir_all(&sounds).unwrap();
    sine_wav(&sounds.join("demo-echotest.wav"), 440.0, 1.0);
    let phone = dir.0.join("phone");
    std::fs::create_dir_all(&phone).unwrap();
    let sip_port = free_port();
    let _pbx = Service::start(
        "asterism",
        &[
            ("ASTERISM_SIP_BIND", format!("127.0.0.1:{sip_port}")),
            (
                "ASTERISM_CONFIG_DIR",
                concat!(env!("CARGO_MANIFEST_DIR"), "/examples").to_string(),
            ),
            (
                "ASTERISM_SOUNDS_DIR",
                dir.0.join("sounds").display().to_string(),
            ),
            ("ASTERISM_MEDIA_ADVERTISE", "127.0.0.1".into()),
            ("ASTERISM_RTP_BIND", "127.0.0.1".into()),
        ],
    );
    let accounts = format!("<sip:bob@127.0.0.1:{sip_port}>;auth_pass=bob62;regint=60\n");
    let mic = dir.0.join("mic.wav");
    sine_wav(&mic, 1000.0, 8.0);
    let phone = baresip::start(&phone, Mic::Wav(&mic), &accounts);
    assert!(phone.registered(), "phone did not register");
    phone.ctrl("dial", "3666").unwrap();
    std::thread::sleep(Duration::from_millis(3500));
    phone.ctrl("hangup", "").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let t = tones(&phone.heard());
    // First the prompt (440 Hz, 1 s), then the microphone's own 1 kHz back.
    let prompt = t.iter().take_while(|&&f| (400..480).contains(&f)).count();
    let echo = t
        .iter()
        .skip(prompt)
        .filter(|&&f| (950..1050).contains(&f))
        .count();
    assert!(prompt >= 8, "the prompt was heard first: {t:?}");
    assert!(echo >= 10, "then the phone's own audio came back: {t:?}");
}
