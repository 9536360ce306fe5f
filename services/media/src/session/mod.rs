//! One RTP session: a task owning the RTP socket (and the RTCP one beside
//! it), paced output (one 20 ms packet per 20 ms, continuous sequence
//! numbers and timestamps, one SSRC), symmetric RTP (answer where the
//! phone's packets come from), playback, echo, RFC 4733 DTMF, statistics
//! and the RTP time-out. Commands arrive on a channel; the task ends on
//! Close, when the handle is dropped, or long after the phone went silent.

pub mod stats;
pub mod strict;

use crate::g711;
use crate::rtp::{self, Header};
use crate::sdp::{Codec, Offer};
use crate::sounds;
use stats::Stats;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use strict::{StrictRtp, Verdict};
use tokio::net::UdpSocket;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::time::{Instant, MissedTickBehavior};

pub const FRAME: Duration = Duration::from_millis(20);
pub const SAMPLES_PER_FRAME: usize = 160;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    Started(String),
    Finished(String),
    Missing(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EchoEnd {
    Dtmf(char),
    Closed,
    RtpTimeout,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Dtmf(char),
    RtpTimeout,
}

pub enum Command {
    Play {
        files: Vec<String>,
        language: String,
        progress: mpsc::Sender<Progress>,
    },
    Echo {
        done: oneshot::Sender<EchoEnd>,
    },
    /// A relay leg's new SDP (see [`crate::relay`]); plain sessions refuse.
    Update {
        leg: usize,
        sdp: crate::sdp::Media,
        offer: bool,
        reply: oneshot::Sender<Result<String, String>>,
    },
    Close,
}

pub struct Settings {
    pub sounds: PathBuf,
    pub rtp_timeout: Duration,
    /// The service's live RTP counters.
    pub live: crate::metrics::Live,
}

/// What the service keeps of a session.
pub struct Handle {
    pub commands: mpsc::Sender<Command>,
    pub stats: Arc<Mutex<Stats>>,
    /// A relay's second leg (the first is `stats`).
    pub callee: Option<Arc<Mutex<Stats>>>,
    pub events: broadcast::Sender<Event>,
    pub codec: Codec,
}

enum Mode {
    Idle,
    Play {
        queue: VecDeque<String>,
        language: String,
        samples: Vec<i16>,
        pos: usize,
        current: String,
        progress: mpsc::Sender<Progress>,
    },
    Echo {
        done: Option<oneshot::Sender<EchoEnd>>,
    },
}

struct Session {
    rtp: UdpSocket,
    _rtcp: UdpSocket,
    /// Where RTP goes, and which source is answered (strict RTP).
    strict: StrictRtp,
    offer: Offer,
    settings: Arc<Settings>,
    stats: Arc<Mutex<Stats>>,
    events: broadcast::Sender<Event>,
    mode: Mode,
    ssrc: u32,
    seq: u16,
    timestamp: u32,
    marker: bool,
    last_rx: Instant,
    epoch: Instant,
    timed_out: bool,
    last_dtmf_ts: Option<u32>,
    out: Vec<u8>,
}

/// Start a session on the bound `rtp`/`rtcp` sockets.
/// `span` covers the session's life and gets its final counters.
pub fn start(
    rtp: UdpSocket,
    rtcp: UdpSocket,
    offer: Offer,
    settings: Arc<Settings>,
    span: tracing::Span,
    on_exit: impl FnOnce(&Stats) + Send + 'static,
) -> Handle {
    let (tx, rx) = mpsc::channel(8);
    let (events, _) = broadcast::channel(16);
    let stats = Arc::new(Mutex::new(Stats::counting_into(settings.live.clone())));
    let now = Instant::now();
    let s = Session {
        rtp,
        _rtcp: rtcp,
        strict: StrictRtp::new(SocketAddr::new(offer.addr, offer.port)),
        offer: offer.clone(),
        settings,
        stats: stats.clone(),
        events: events.clone(),
        mode: Mode::Idle,
        ssrc: rand::random(),
        seq: rand::random(),
        timestamp: rand::random(),
        marker: true,
        last_rx: now,
        epoch: now,
        timed_out: false,
        last_dtmf_ts: None,
        out: Vec::with_capacity(12 + SAMPLES_PER_FRAME),
    };
    let counters = stats.clone();
    tokio::spawn(async move {
        tracing::Instrument::instrument(s.run(rx), span.clone()).await;
        let st = counters.lock().map(|s| s.clone()).unwrap_or_default();
        span.record("packets_in", st.packets_in);
        span.record("packets_out", st.packets_out);
        span.record("lost", st.lost);
        span.record("jitter_ms", st.jitter_ms());
        drop(span);
        on_exit(&st);
    });
    Handle {
        commands: tx,
        stats,
        callee: None,
        events,
        codec: offer.codec,
    }
}

impl Session {
    async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        let mut tick = tokio::time::interval(FRAME);
        tick.set_missed_tick_behavior(MissedTickBehavior::Burst);
        let mut buf = vec![0u8; 2048];
        loop {
            tokio::select! {
                r = self.rtp.recv_from(&mut buf) => {
                    if let Ok((n, from)) = r {
                        self.on_packet(&buf[..n], from).await;
                    }
                }
                _ = tick.tick() => {
                    self.on_tick().await;
                    // Silent for twice the time-out with no one asking: give up.
                    if self.last_rx.elapsed() > self.settings.rtp_timeout * 2 + Duration::from_secs(60) {
                        return;
                    }
                }
                c = commands.recv() => match c {
                    Some(Command::Close) | None => {
                        self.finish_echo(EchoEnd::Closed);
                        return;
                    }
                    Some(Command::Play { files, language, progress }) => {
                        self.mode = Mode::Play { queue: files.into(), language, samples: Vec::new(), pos: 0, current: String::new(), progress };
                        self.next_file().await;
                    }
                    Some(Command::Update { reply, .. }) => {
                        let _ = reply.send(Err("not a relay session".into()));
                    }
                    Some(Command::Echo { done }) => {
                        if self.timed_out {
                            let _ = done.send(EchoEnd::RtpTimeout);
                        } else {
                            self.mode = Mode::Echo { done: Some(done) };
                        }
                    }
                },
            }
        }
    }

    async fn on_packet(&mut self, p: &[u8], from: SocketAddr) {
        let Some((h, range)) = rtp::parse(p) else {
            return;
        };
        // Symmetric RTP, strictly: answer where the phone's packets really
        // come from, once that source is learnt; nobody else.
        if self.strict.on_packet(from, h.seq) == Verdict::Drop {
            return;
        }
        let now = Instant::now();
        self.last_rx = now;
        if let Ok(mut s) = self.stats.lock() {
            s.on_receive(h.seq, h.timestamp, p.len(), now, self.epoch);
        }
        let payload = &p[range];
        if Some(h.payload_type) == self.offer.dtmf_pt {
            if let Some((event, end)) = rtp::telephone_event(payload) {
                if end && self.last_dtmf_ts != Some(h.timestamp) {
                    self.last_dtmf_ts = Some(h.timestamp);
                    if let Some(digit) = rtp::dtmf_char(event) {
                        let _ = self.events.send(Event::Dtmf(digit));
                        if digit == '#' {
                            self.finish_echo(EchoEnd::Dtmf('#'));
                        }
                    }
                }
            }
            return;
        }
        if h.payload_type != self.offer.codec_pt {
            return;
        }
        if matches!(self.mode, Mode::Echo { .. }) {
            // Echo: the frame goes straight back, in our own stream.
            let samples = payload.len() as u32;
            let payload = payload.to_vec();
            self.send(&payload, samples).await;
        }
    }

    async fn on_tick(&mut self) {
        if !self.timed_out && self.last_rx.elapsed() >= self.settings.rtp_timeout {
            self.timed_out = true;
            let _ = self.events.send(Event::RtpTimeout);
            self.finish_echo(EchoEnd::RtpTimeout);
        }
        let Mode::Play { samples, pos, .. } = &mut self.mode else {
            return;
        };
        if *pos >= samples.len() {
            return;
        }
        let end = (*pos + SAMPLES_PER_FRAME).min(samples.len());
        let codec = self.offer.codec;
        let mut frame: Vec<u8> = samples[*pos..end]
            .iter()
            .map(|&s| match codec {
                Codec::Pcmu => g711::linear_to_ulaw(s),
                Codec::Pcma => g711::linear_to_alaw(s),
            })
            .collect();
        let silence = match codec {
            Codec::Pcmu => 0xFF,
            Codec::Pcma => 0xD5,
        };
        frame.resize(SAMPLES_PER_FRAME, silence);
        *pos = end;
        let done = *pos >= samples.len();
        self.send(&frame, SAMPLES_PER_FRAME as u32).await;
        if done {
            if let Mode::Play {
                current, progress, ..
            } = &self.mode
            {
                let _ = progress.send(Progress::Finished(current.clone())).await;
            }
            self.next_file().await;
        }
    }

    /// Start the next file of the playlist (missing ones are reported and skipped).
    async fn next_file(&mut self) {
        loop {
            let Mode::Play {
                queue,
                language,
                samples,
                pos,
                current,
                progress,
            } = &mut self.mode
            else {
                return;
            };
            let Some(name) = queue.pop_front() else {
                self.mode = Mode::Idle;
                return;
            };
            match sounds::load(&self.settings.sounds, language, &name) {
                Ok(s) if !s.is_empty() => {
                    *samples = s;
                    *pos = 0;
                    *current = name.clone();
                    let _ = progress.send(Progress::Started(name)).await;
                    return;
                }
                Ok(_) | Err(_) => {
                    tracing::warn!(file = %name, dir = %self.settings.sounds.display(), "sound file missing or unreadable");
                    let _ = progress.send(Progress::Missing(name)).await;
                }
            }
        }
    }

    async fn send(&mut self, payload: &[u8], samples: u32) {
        let h = Header {
            marker: std::mem::take(&mut self.marker),
            payload_type: self.offer.codec_pt,
            seq: self.seq,
            timestamp: self.timestamp,
            ssrc: self.ssrc,
        };
        self.seq = self.seq.wrapping_add(1);
        self.timestamp = self.timestamp.wrapping_add(samples);
        rtp::build(&h, payload, &mut self.out);
        if self
            .rtp
            .send_to(&self.out, self.strict.remote)
            .await
            .is_ok()
        {
            if let Ok(mut s) = self.stats.lock() {
                s.on_send(self.out.len());
            }
        }
    }

    fn finish_echo(&mut self, end: EchoEnd) {
        if let Mode::Echo { done } = &mut self.mode {
            if let Some(d) = done.take() {
                let _ = d.send(end);
            }
            self.mode = Mode::Idle;
        }
    }
}
