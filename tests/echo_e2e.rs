//! The 3666 echo test with the lab report's dialplan, through separate edge,
//! registrar, router and media processes with Redis: the prompt arrives as
//! paced RTP, then what the phone sends comes back; `#` ends the echo; a
//! missing prompt does not break the call; a silent phone is hung up; an
//! offer with no common codec gets 488; ten callers each get their own audio.

mod common;

use common::phone::{pcmu_offer, sdp, Phone};
use common::Topology;
use std::time::{Duration, Instant};

const LAB: &str = "[general]
static=yes
writeprotect=no

[default]
exten => 3666,1,Answer
exten => 3666,2,Goto(echo,3666,1)

[echo]
exten => 3666,1,Playback(demo-echotest)
exten => 3666,n,Echo
; exten => 3666,n,Playback(demo-echodone)
";

/// A 0.5 s 440 Hz prompt as 8 kHz 16-bit mono WAV: 25 RTP packets.
fn write_prompt(t: &Topology) {
    let dir = t.dir.0.join("sounds/en");
    std::fs::create_dir_all(&dir).unwrap();
    let samples: Vec<i16> = (0..4000)
        .map(|i| ((i as f64 * 440.0 * 2.0 * std::f64::consts::PI / 8000.0).sin() * 8000.0) as i16)
        .collect();
    let data_len = (samples.len() * 2) as u32;
    let mut wav = Vec::new();
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + data_len).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    for v in [
        16u32.to_le_bytes().to_vec(),
        1u16.to_le_bytes().to_vec(),
        1u16.to_le_bytes().to_vec(),
        8000u32.to_le_bytes().to_vec(),
        16000u32.to_le_bytes().to_vec(),
        2u16.to_le_bytes().to_vec(),
        16u16.to_le_bytes().to_vec(),
    ] {
        wav.extend_from_slice(&v);
    }
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        wav.extend_from_slice(&s.to_le_bytes());
    }
    std::fs::write(dir.join("demo-echotest.wav"), wav).unwrap();
}

fn lab(extra: &[(&'static str, &str)], prompt: bool) -> Topology {
    let t = Topology::start_with(extra, Some(LAB));
    if prompt {
        write_prompt(&t);
    }
    t
}

/// Receive the prompt: 25 packets of 160 bytes, continuous seq/ts, one SSRC.
fn expect_prompt(p: &Phone) -> (u16, u32, u32) {
    let first_at = Instant::now();
    let mut last: Option<(u16, u32, u32)> = None;
    let mut arrivals = Vec::new();
    for i in 0..25 {
        let (seq, ts, ssrc, payload) = p.recv_rtp().expect("prompt packet");
        assert_eq!(payload.len(), 160, "packet {i}: 20 ms of PCMU");
        if let Some((ls, lts, lssrc)) = last {
            assert_eq!(seq, ls.wrapping_add(1), "continuous sequence numbers");
            assert_eq!(
                ts,
                lts.wrapping_add(160),
                "timestamps advance 160 per packet"
            );
            assert_eq!(ssrc, lssrc, "one SSRC");
        }
        last = Some((seq, ts, ssrc));
        arrivals.push(first_at.elapsed());
    }
    // Paced, not burst: 25 packets 20 ms apart span at least ~480 ms.
    let span = arrivals[24] - arrivals[0];
    assert!(
        span >= Duration::from_millis(400),
        "prompt arrived in {span:?}: not paced"
    );
    last.unwrap()
}

/// Send a frame every 20 ms, as a phone does, until Echo has started and
/// sends it back; returns the echo's (seq, ts, ssrc).
fn prime(p: &Phone) -> (u16, u32, u32) {
    p.rtp
        .set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let frame = [0x33u8; 160];
    for i in 0..250u16 {
        p.send_rtp(0, 500 + i, 160 * u32::from(i), i == 0, &frame);
        while let Some((s, ts, ssrc, back)) = p.recv_rtp() {
            if back == frame {
                // Drain echoes of the other priming frames still in flight.
                while p.recv_rtp().is_some() {}
                p.rtp
                    .set_read_timeout(Some(Duration::from_secs(5)))
                    .unwrap();
                return (s, ts, ssrc);
            }
        }
    }
    panic!("Echo never started");
}

/// Send `n` distinct frames and check each comes back, payload intact, in
/// the session's own stream (sequence continuing from `after`).
fn expect_echo(p: &Phone, tag: u8, n: u16, prompt_end: (u16, u32, u32)) {
    let primed = prime(p);
    assert_eq!(primed.2, prompt_end.2, "the echo uses the prompt's SSRC");
    let (_, _, ssrc) = primed;
    let mut seq: Option<u16> = None;
    for i in 0..n {
        let payload: Vec<u8> = (0..160)
            .map(|k| tag ^ (i as u8).wrapping_mul(31) ^ k as u8)
            .collect();
        p.send_rtp(0, 1000 + i, 160 * u32::from(i), i == 0, &payload);
        let (s, _, sr, back) = p.recv_rtp().expect("echoed packet");
        assert_eq!(back, payload, "frame {i} comes back unchanged");
        assert_eq!(sr, ssrc, "same SSRC as the prompt");
        if let Some(prev) = seq {
            assert_eq!(s, prev.wrapping_add(1), "sequence continues");
        }
        seq = Some(s);
    }
}

fn send_hash(p: &Phone) {
    for k in 0..3u16 {
        // RFC 4733: event 11 ('#'), end bit, volume 10, duration 800.
        p.send_rtp(101, 2000 + k, 50_000, k == 0, &[11, 0x80 | 10, 0x03, 0x20]);
    }
}

#[test]
fn echo_test_plays_the_prompt_then_echoes_and_hash_ends_it() {
    let t = lab(&[], true);
    let mut p = Phone::new(t.sip_addr(), "bob", "bob62");
    let (code, answer) = p.call("3666", &pcmu_offer(p.rtp_port()));
    assert_eq!(code, 200, "{answer}");
    assert!(
        answer.contains("m=audio ") && answer.contains("RTP/AVP 0 101"),
        "{answer}"
    );
    // The phone's first packet latches symmetric RTP; then the prompt.
    p.send_rtp(0, 999, 0, true, &[0xFF; 160]);
    let after = expect_prompt(&p);
    expect_echo(&p, 0x5A, 20, after);
    // Counted while the call lasts, not only when it ends.
    let (_, live) = common::http_get(t.media_http, "/metrics").unwrap();
    assert!(live.contains("asterism_media_sessions_active 1"), "{live}");
    let received = metric(&live, "asterism_media_rtp_packets_total{direction=\"in\"}");
    assert!(
        received >= 20.0,
        "{received} packets in while the call lasts:\n{live}"
    );
    assert!(metric(&live, "asterism_media_rtp_bytes_total{direction=\"out\"}") > 0.0);
    send_hash(&p);
    // '#' ends Echo; the dialplan runs out and the PBX hangs up.
    assert!(p.expect_bye(Duration::from_secs(5)), "BYE after #");
    // The metrics saw it: steps by application, the media session and its packets.
    let (_, router) = common::http_get(t.router_http, "/metrics").unwrap();
    for app in ["Answer", "Playback", "Echo"] {
        assert!(
            router.contains(&format!(
                "asterism_router_steps_total{{application=\"{app}\"}} 1"
            )),
            "{router}"
        );
    }
    // INVITE to answer, and each backend request, timed in seconds.
    let (_, edge) = common::http_get(t.edge_http, "/metrics").unwrap();
    for sample in [
        "asterism_edge_call_answer_seconds_count 1",
        "asterism_edge_grpc_client_duration_seconds_count{rpc_method=\"Router/Execute\",code=\"Ok\"} 1",
        "asterism_edge_grpc_client_duration_seconds_count{rpc_method=\"Media/Open\",code=\"Ok\"} 1",
        "asterism_edge_grpc_client_duration_seconds_count{rpc_method=\"Registrar/Authenticate\",code=\"Ok\"} 2",
    ] {
        assert!(edge.contains(sample), "{sample}:\n{edge}");
    }
    let mut media = String::new();
    common::wait_until(Duration::from_millis(2500), || {
        media = common::http_get(t.media_http, "/metrics").unwrap().1;
        media.contains("asterism_media_sessions_active 0")
    });
    assert!(
        media.contains("asterism_media_sessions_active 0"),
        "{media}"
    );
    assert!(
        media.contains("asterism_media_rtp_packets_total{direction=\"out\"}"),
        "{media}"
    );
    assert!(
        media.contains("asterism_media_jitter_seconds_count 1"),
        "{media}"
    );
    // Loss is its own counter (this phone's sequence numbers jump).
    assert!(
        metric(&media, "asterism_media_rtp_packets_lost_total") > 0.0,
        "{media}"
    );
}

/// The value of the sample named exactly `name` (with its labels).
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or(-1.0)
}

#[test]
fn a_missing_prompt_is_skipped_and_echo_still_runs() {
    let t = lab(&[], false);
    let mut p = Phone::new(t.sip_addr(), "bob", "bob62");
    assert_eq!(p.call("3666", &pcmu_offer(p.rtp_port())).0, 200);
    // No prompt: Echo starts at once and our audio comes back.
    prime(&p);
    let payload = vec![0x42u8; 160];
    p.send_rtp(0, 2000, 160, false, &payload);
    assert_eq!(
        p.recv_rtp().map(|r| r.3),
        Some(payload),
        "our audio came back"
    );
    send_hash(&p);
    assert!(p.expect_bye(Duration::from_secs(5)));
}

#[test]
fn a_silent_phone_is_hung_up_after_the_rtp_timeout() {
    let t = lab(&[("ASTERISM_RTP_TIMEOUT", "2")], true);
    let mut p = Phone::new(t.sip_addr(), "bob", "bob62");
    assert_eq!(p.call("3666", &pcmu_offer(p.rtp_port())).0, 200);
    // Never send RTP: the PBX gives up and sends BYE.
    assert!(
        p.expect_bye(Duration::from_secs(10)),
        "BYE after the RTP time-out"
    );
}

#[test]
fn an_offer_without_a_common_codec_gets_488() {
    let t = lab(&[], true);
    let mut p = Phone::new(t.sip_addr(), "bob", "bob62");
    let g729 = sdp(p.rtp_port(), "18", "a=rtpmap:18 G729/8000\r\n");
    assert_eq!(p.call("3666", &g729).0, 488);
}

#[test]
fn ten_concurrent_echo_calls_each_get_their_own_audio() {
    let t = lab(&[], false);
    let handles: Vec<_> = (0..10u8)
        .map(|n| {
            let addr = t.sip_addr();
            std::thread::spawn(move || {
                let mut p = Phone::new(addr, "bob", "bob62");
                assert_eq!(p.call("3666", &pcmu_offer(p.rtp_port())).0, 200);
                prime(&p);
                for i in 0..30u16 {
                    let payload: Vec<u8> = (0..160)
                        .map(|k| n.wrapping_mul(17) ^ (i as u8) ^ k as u8)
                        .collect();
                    p.send_rtp(0, i, 160 * u32::from(i), i == 0, &payload);
                    let (_, _, _, back) = p.recv_rtp().expect("echo");
                    assert_eq!(
                        back, payload,
                        "caller {n} frame {i}: its own audio, nobody else's"
                    );
                }
                send_hash(&p);
                assert!(p.expect_bye(Duration::from_secs(5)));
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

#[test]
fn sipp_calls_the_echo_test_with_a_pcmu_stream_and_hangs_up() {
    let t = lab(&[], true);
    // 2 s of PCMU for sipp's rtpstream, in the directory sipp runs in.
    std::fs::write(
        t.dir.0.join("echo-audio.ulaw"),
        (0..16_000)
            .map(|i| if i % 16 < 8 { 0x1F } else { 0x9F })
            .collect::<Vec<u8>>(),
    )
    .unwrap();
    let csv = t.dir.0.join("bob.csv");
    std::fs::write(
        &csv,
        "SEQUENTIAL\nbob;bob62;[authentication username=bob password=bob62];x\n",
    )
    .unwrap();
    let out = std::process::Command::new("sipp")
        .arg(t.sip_addr().to_string())
        .arg("-sf")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/sipp/caller_echo.xml"
        ))
        .arg("-inf")
        .arg(&csv)
        .args(["-auth_uri", &format!("3666@{}", t.sip_addr())])
        .args([
            "-s",
            "3666",
            "-d",
            "2000",
            "-m",
            "1",
            "-i",
            "127.0.0.1",
            "-mi",
            "127.0.0.1",
        ])
        .args([
            "-p",
            &asterism_testkit::free_port().to_string(),
            "-mp",
            // sipp's RTP, RTCP and video ports: mp to mp + 3.
            &asterism_testkit::free_ports(4).to_string(),
        ])
        .args(["-timeout", "30s", "-timeout_error", "-nostdin"])
        .current_dir(&t.dir.0)
        .output()
        .expect("sipp");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
