//! A real softphone: baresip (headless, `ctrl_tcp`) registers against the
//! all-in-one `asterism` binary and reports the registration OK; an account
//! with a wrong password does not.

mod common;

use asterism_testkit::{free_port, Service};
use common::TempDir;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Baresip(Child);

impl Drop for Baresip {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A free port whose successor is free too, for UDP and TCP (baresip also
/// binds port + 1).
fn free_pair() -> u16 {
    asterism_testkit::free_ports(2)
}

fn start_baresip(dir: &std::path::Path, ctrl_port: u16, accounts: &str) -> Baresip {
    // A sine source at 48 kHz stereo (what ausine supports), media on
    // loopback only.
    let config = format!(
        "poll_method epoll\nsip_listen 127.0.0.1:{}\nsip_transports udp\nnet_interface 127.0.0.1\naudio_player aufile,/dev/null\naudio_source ausine,440\nausrc_srate 48000\nauplay_srate 48000\nausrc_channels 2\nauplay_channels 2\nmodule_path /usr/lib/baresip/modules\nmodule g711.so\nmodule ausine.so\nmodule aufile.so\nmodule_app account.so\nmodule_app menu.so\nmodule ctrl_tcp.so\nctrl_tcp_listen 127.0.0.1:{ctrl_port}\n",
        free_pair()
    );
    std::fs::write(dir.join("config"), config).unwrap();
    std::fs::write(dir.join("accounts"), accounts).unwrap();
    let child = Command::new("baresip")
        .arg("-f")
        .arg(dir)
        .stdin(Stdio::null())
        // Kept in the test's directory: a failure message shows it.
        .stdout(log_file(dir))
        .stderr(log_file(dir))
        .spawn()
        .expect("baresip must be installed (Debian package baresip)");
    Baresip(child)
}

fn log_file(dir: &std::path::Path) -> Stdio {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("baresip.log"))
        .map(Stdio::from)
        .unwrap_or_else(|_| Stdio::null())
}

/// What baresip printed, for failure messages.
fn baresip_log(dir: &std::path::Path) -> String {
    std::fs::read_to_string(dir.join("baresip.log")).unwrap_or_default()
}

/// One ctrl_tcp command (netstring-framed JSON); returns the `data` text.
fn ctrl(port: u16, command: &str, params: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    let body = format!("{{\"command\":\"{command}\",\"params\":\"{params}\",\"token\":\"t\"}}");
    s.write_all(format!("{}:{body},", body.len()).as_bytes())
        .ok()?;
    // Events may come first on the connection; read until the response.
    let mut got = Vec::new();
    let mut buf = vec![0u8; 16384];
    while !String::from_utf8_lossy(&got).contains("\"response\":true") {
        let n = s.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&got);
    let response = &text[text.find("\"response\":true").unwrap_or(0)..];
    // The data is a JSON string: undo its escapes for line-wise reading.
    Some(response.replace("\\n", "\n"))
}

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
    let ctrl_port = free_pair();
    let accounts = format!(
        "<sip:alice@127.0.0.1:{sip_port}>;auth_pass=alice61;regint=60\n<sip:bob@127.0.0.1:{sip_port}>;auth_pass=not-bobs;regint=60\n"
    );
    let _phone = start_baresip(&dir.0, ctrl_port, &accounts);
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
        baresip_log(&dir.0)
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
    let (ctrl_a, ctrl_b) = (free_pair(), free_pair());
    let account = |user: &str, pw: &str| {
        format!("<sip:{user}@127.0.0.1:{sip_port}>;auth_pass={pw};regint=60;answermode=auto\n")
    };
    let _alice = start_baresip(&dir_a.0, ctrl_a, &account("alice", "alice61"));
    let _bob = start_baresip(&dir_b.0, ctrl_b, &account("bob", "bob62"));
    for port in [ctrl_a, ctrl_b] {
        let registered = common::wait_until(Duration::from_secs(10), || {
            ctrl(port, "reginfo", "").is_some_and(|r| r.contains("OK"))
        });
        assert!(registered, "phone on {port} did not register");
    }
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

/// An 8 kHz 16-bit mono WAV of a sine.
fn sine_wav(path: &std::path::Path, freq: f64, secs: f64) {
    let n = (secs * 8000.0) as usize;
    let data: Vec<u8> = (0..n)
        .flat_map(|i| {
            (((2.0 * std::f64::consts::PI * freq * i as f64 / 8000.0).sin() * 8000.0) as i16)
                .to_le_bytes()
        })
        .collect();
    let mut w = Vec::new();
    w.extend_from_slice(b"RIFF");
    w.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    w.extend_from_slice(b"WAVEfmt ");
    w.extend_from_slice(&16u32.to_le_bytes());
    w.extend_from_slice(&[1, 0, 1, 0]);
    w.extend_from_slice(&8000u32.to_le_bytes());
    w.extend_from_slice(&16000u32.to_le_bytes());
    w.extend_from_slice(&[2, 0, 16, 0]);
    w.extend_from_slice(b"data");
    w.extend_from_slice(&(data.len() as u32).to_le_bytes());
    w.extend_from_slice(&data);
    std::fs::write(path, w).unwrap();
}

/// Samples of a 16-bit PCM WAV.
fn wav_samples(path: &std::path::Path) -> Vec<i16> {
    let b = std::fs::read(path).unwrap();
    let mut i = 12;
    while i + 8 <= b.len() {
        let len = u32::from_le_bytes([b[i + 4], b[i + 5], b[i + 6], b[i + 7]]) as usize;
        if &b[i..i + 4] == b"data" {
            let end = (i + 8 + len).min(b.len());
            return b[i + 8..end]
                .chunks_exact(2)
                .map(|c| i16::from_le_bytes([c[0], c[1]]))
                .collect();
        }
        i += 8 + len + (len & 1);
    }
    Vec::new()
}

/// Dominant frequency of 100 ms windows, from zero crossings.
fn tones(samples: &[i16]) -> Vec<u32> {
    samples
        .chunks_exact(800)
        .map(|w| w.windows(2).filter(|p| (p[0] < 0) != (p[1] < 0)).count() as u32 * 10 / 2)
        .collect()
}

#[test]
fn baresip_echo_test_hears_the_prompt_then_its_own_voice() {
    let dir = TempDir::new("bs-echo");
    let sounds = dir.0.join("sounds/en");
    std::fs::create_dir_all(&sounds).unwrap();
    sine_wav(&sounds.join("demo-echotest.wav"), 440.0, 1.0);
    let phone = dir.0.join("phone");
    std::fs::create_dir_all(phone.join("rec")).unwrap();
    sine_wav(&phone.join("mic.wav"), 1000.0, 8.0);
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
    let ctrl_port = free_pair();
    // The microphone is a WAV file (1 kHz); sndfile records what is heard.
    let config = format!(
        "poll_method epoll\nsip_listen 127.0.0.1:{}\nsip_transports udp\nnet_interface 127.0.0.1\naudio_source aufile,{}\nausrc_srate 8000\nauplay_srate 8000\nausrc_channels 1\nauplay_channels 1\nmodule_path /usr/lib/baresip/modules\nmodule g711.so\nmodule aufile.so\nmodule sndfile.so\nsnd_path {}\nmodule_app account.so\nmodule_app menu.so\nmodule ctrl_tcp.so\nctrl_tcp_listen 127.0.0.1:{ctrl_port}\n",
        free_pair(),
        phone.join("mic.wav").display(),
        phone.join("rec").display()
    );
    std::fs::write(phone.join("config"), config).unwrap();
    std::fs::write(
        phone.join("accounts"),
        format!("<sip:bob@127.0.0.1:{sip_port}>;auth_pass=bob62;regint=60\n"),
    )
    .unwrap();
    let mut child = Command::new("baresip")
        .arg("-f")
        .arg(&phone)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("baresip");
    let registered = common::wait_until(Duration::from_secs(10), || {
        ctrl(ctrl_port, "reginfo", "").is_some_and(|r| r.contains("OK"))
    });
    assert!(registered, "phone did not register");
    ctrl(ctrl_port, "dial", "3666").unwrap();
    std::thread::sleep(Duration::from_millis(3500));
    ctrl(ctrl_port, "hangup", "").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let _ = ctrl(ctrl_port, "quit", "");
    let _ = child.wait();
    let heard = std::fs::read_dir(phone.join("rec"))
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.to_string_lossy().ends_with("-dec.wav"))
        .expect("baresip recorded what it heard");
    let t = tones(&wav_samples(&heard));
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
