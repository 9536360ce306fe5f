//! Real softphones for the end-to-end tests: baresip, headless, driven over
//! `ctrl_tcp` (netstring JSON), with a WAV file as microphone and `sndfile`
//! recording what it hears; plus the audio helpers that read what it heard.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Baresip {
    child: Child,
    pub ctrl: u16,
    pub dir: PathBuf,
    /// The network namespace it runs in (None: the test's own).
    netns: Option<String>,
}

impl Drop for Baresip {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free port whose successor is free too, for UDP and TCP (baresip also
/// binds port + 1).
pub fn free_pair() -> u16 {
    asterism_testkit::free_ports(2)
}

/// How a test phone sounds.
pub enum Mic<'a> {
    /// ausine at this frequency (48 kHz stereo, what ausine supports).
    Sine(u32),
    /// This 8 kHz mono WAV; what is heard is recorded into `<dir>/rec`.
    Wav(&'a Path),
}

/// Start baresip in `dir` with `accounts`; SIP and media on loopback only.
pub fn start(dir: &Path, mic: Mic, accounts: &str) -> Baresip {
    start_at(None, "127.0.0.1", dir, mic, accounts)
}

/// Start baresip in network namespace `netns` (see [`super::netns`]),
/// SIP and media on address `ip` there.
pub fn start_at(netns: Option<&str>, ip: &str, dir: &Path, mic: Mic, accounts: &str) -> Baresip {
    let ctrl = free_pair();
    let audio = match mic {
        Mic::Sine(f) => format!(
            "audio_player aufile,/dev/null\naudio_source ausine,{f}\nausrc_srate 48000\nauplay_srate 48000\nausrc_channels 2\nauplay_channels 2\nmodule ausine.so\nmodule aufile.so\n"
        ),
        Mic::Wav(wav) => {
            std::fs::create_dir_all(dir.join("rec")).unwrap();
            format!(
                "audio_source aufile,{}\nausrc_srate 8000\nauplay_srate 8000\nausrc_channels 1\nauplay_channels 1\nmodule aufile.so\nmodule sndfile.so\nsnd_path {}\n",
                wav.display(),
                dir.join("rec").display()
            )
        }
    };
    let config = format!(
        "poll_method epoll\nsip_listen {ip}:{}\nsip_transports udp\nnet_interface {ip}\n{audio}module_path /usr/lib/baresip/modules\nmodule g711.so\nmodule_app account.so\nmodule_app menu.so\nmodule ctrl_tcp.so\nctrl_tcp_listen 127.0.0.1:{ctrl}\n",
        free_pair()
    );
    std::fs::write(dir.join("config"), config).unwrap();
    std::fs::write(dir.join("accounts"), accounts).unwrap();
    let spawn = || {
        Command::new("baresip")
            .arg("-f")
            .arg(dir)
            .stdin(Stdio::null())
            // Kept in the test's directory: a failure message shows it.
            .stdout(log_file(dir))
            .stderr(log_file(dir))
            .spawn()
            .expect("baresip must be installed (Debian package baresip)")
    };
    let child = match netns {
        Some(ns) => super::netns::within(ns, spawn),
        None => spawn(),
    };
    Baresip {
        child,
        ctrl,
        dir: dir.to_path_buf(),
        netns: netns.map(str::to_owned),
    }
}

fn log_file(dir: &Path) -> Stdio {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("baresip.log"))
        .map(Stdio::from)
        .unwrap_or_else(|_| Stdio::null())
}

impl Baresip {
    /// What baresip printed, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("baresip.log")).unwrap_or_default()
    }

    pub fn ctrl(&self, command: &str, params: &str) -> Option<String> {
        match &self.netns {
            Some(ns) => super::netns::within(ns, || ctrl(self.ctrl, command, params)),
            None => ctrl(self.ctrl, command, params),
        }
    }

    pub fn registered(&self) -> bool {
        super::wait_until(Duration::from_secs(10), || {
            self.ctrl("reginfo", "").is_some_and(|r| r.contains("OK"))
        })
    }

    pub fn calls(&self) -> String {
        self.ctrl("listcalls", "").unwrap_or_default()
    }

    /// Quit, then the samples of what it heard (`Mic::Wav` phones): every
    /// recording in order (a re-INVITE starts a new one).
    pub fn heard(mut self) -> Vec<i16> {
        let _ = self.ctrl("quit", "");
        let _ = self.child.wait();
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.dir.join("rec"))
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.to_string_lossy().ends_with("-dec.wav"))
            .collect();
        assert!(!files.is_empty(), "baresip recorded what it heard");
        files.sort();
        files.iter().flat_map(|f| wav_samples(f)).collect()
    }
}

/// A phone registered as `user` (password `pw`) with the edge on
/// 127.0.0.1:`sip_port`, its microphone a `freq` Hz tone of `secs`
/// seconds, `params` (`answermode=auto;audio_codecs=PCMU`…) on its account.
pub fn tone_phone(
    dir: &Path,
    sip_port: u16,
    (user, pw): (&str, &str),
    (freq, secs): (f64, f64),
    params: &str,
) -> Baresip {
    let home = dir.join(user);
    std::fs::create_dir_all(&home).unwrap();
    let mic = home.join("mic.wav");
    sine_wav(&mic, freq, secs);
    let accounts = format!("<sip:{user}@127.0.0.1:{sip_port}>;auth_pass={pw};regint=60;{params}\n");
    let p = start(&home, Mic::Wav(&mic), &accounts);
    assert!(p.registered(), "{user} did not register:\n{}", p.log());
    p
}

/// How many 100 ms windows of `t` (from [`tones`]) are near `freq`.
pub fn near(t: &[u32], freq: u32) -> usize {
    t.iter().filter(|&&f| f.abs_diff(freq) <= 60).count()
}

/// Poll until `p`'s call list satisfies `check` (10 s at most).
pub fn until_one(p: &Baresip, what: &str, check: impl Fn(&str) -> bool) {
    let ok = super::wait_until(Duration::from_secs(10), || check(&p.calls()));
    assert!(ok, "{what}: {}\n{}", p.calls(), p.log());
}

/// Poll until both phones' call lists satisfy `check` (10 s at most).
pub fn until(a: &Baresip, b: &Baresip, what: &str, check: impl Fn(&str) -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let (mut la, mut lb) = (String::new(), String::new());
    while std::time::Instant::now() < deadline {
        (la, lb) = (a.calls(), b.calls());
        if check(&la) && check(&lb) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "{what}: A says\n{la}\nB says\n{lb}\nA's log:\n{}\nB's log:\n{}",
        a.log(),
        b.log()
    );
}

/// One ctrl_tcp command (netstring-framed JSON); returns the `data` text.
pub fn ctrl(port: u16, command: &str, params: &str) -> Option<String> {
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

/// An 8 kHz 16-bit mono WAV of a sine.
pub fn sine_wav(path: &Path, freq: f64, secs: f64) {
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
pub fn wav_samples(path: &Path) -> Vec<i16> {
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
pub fn tones(samples: &[i16]) -> Vec<u32> {
    samples
        .chunks_exact(800)
        .map(|w| w.windows(2).filter(|p| (p[0] < 0) != (p[1] < 0)).count() as u32 * 10 / 2)
        .collect()
}
