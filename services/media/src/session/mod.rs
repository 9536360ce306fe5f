//! One RTP session: a task owning the RTP socket (and the RTCP one beside
//! it), paced output (one 20 ms packet per 20 ms, continuous sequence
//! numbers and timestamps, one SSRC), symmetric RTP (answer where the
//! phone's packets come from), playback, echo, RFC 4733 DTMF, statistics
//! and the RTP time-out. Commands arrive on a channel; the task ends on
//! Close, when the handle is dropped, or long after the phone went silent.

pub mod stats;
pub mod strict;

use crate::play::{Player, Stream};
use crate::rtp;
use crate::sdp::{Codec, Offer};
use stats::Stats;
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
    /// An RFC 4733 digit ended, from `leg` (a relay's; a session's are
    /// [`crate::relay::CALLER`]'s).
    Dtmf {
        digit: char,
        leg: usize,
    },
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
    /// Music (or silence again) for a relay leg, or a plain session's
    /// caller; the answer says whether it plays.
    PlayLeg {
        leg: usize,
        what: crate::relay::LegPlay,
        /// The request's order ([`crate::relay`] ignores stale ones).
        seq: u64,
        reply: oneshot::Sender<bool>,
    },
    /// A relay's callee becomes its caller (plain sessions refuse).
    Swap {
        reply: oneshot::Sender<bool>,
    },
    /// Give the caller's sockets and stream to a relay; the task ends.
    Handover {
        reply: oneshot::Sender<crate::relay::Handover>,
    },
    Close,
}

pub struct Settings {
    pub sounds: PathBuf,
    /// Music on hold classes (`musiconhold.conf`).
    pub moh: crate::moh::Classes,
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
    Play(Player),
    Echo {
        done: Option<oneshot::Sender<EchoEnd>>,
    },
}

struct Session {
    rtp: UdpSocket,
    rtcp: UdpSocket,
    /// Where RTP goes, and which source is answered (strict RTP).
    strict: StrictRtp,
    offer: Offer,
    settings: Arc<Settings>,
    stats: Arc<Mutex<Stats>>,
    events: broadcast::Sender<Event>,
    mode: Mode,
    stream: Stream,
    last_rx: Instant,
    epoch: Instant,
    timed_out: bool,
    last_dtmf_ts: Option<u32>,
    /// The o= session id of our SDP answer.
    sdp_session: u64,
}

/// Start a session on the bound `rtp`/`rtcp` sockets.
/// `span` covers the session's life and gets its final counters.
pub fn start(
    rtp: UdpSocket,
    rtcp: UdpSocket,
    offer: Offer,
    sdp_session: u64,
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
        rtcp,
        strict: StrictRtp::new(SocketAddr::new(offer.addr, offer.port)),
        offer: offer.clone(),
        settings,
        stats: stats.clone(),
        events: events.clone(),
        mode: Mode::Idle,
        stream: Stream::default(),
        last_rx: now,
        epoch: now,
        timed_out: false,
        last_dtmf_ts: None,
        sdp_session,
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
                        self.mode = Mode::Play(Player::prompts(files, language, progress));
                    }
                    Some(Command::Update { reply, .. }) => {
                        let _ = reply.send(Err("not a relay session".into()));
                    }
                    Some(Command::Swap { reply }) => {
                        let _ = reply.send(false);
                    }
                    Some(Command::PlayLeg { leg, what, reply, .. }) => {
                        let _ = reply.send(self.play_leg(leg, what));
                    }
                    Some(Command::Handover { reply }) => {
                        self.finish_echo(EchoEnd::Closed);
                        let _ = reply.send(self.handover());
                        return;
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
            if let Some(digit) = rtp::digit_ended(payload, h.timestamp, &mut self.last_dtmf_ts) {
                let leg = crate::relay::CALLER;
                let _ = self.events.send(Event::Dtmf { digit, leg });
                if digit == '#' {
                    self.finish_echo(EchoEnd::Dtmf('#'));
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
        let Mode::Play(player) = &mut self.mode else {
            return;
        };
        let Some(frame) = player.frame(&self.settings.sounds).await else {
            self.mode = Mode::Idle;
            return;
        };
        let (codec, pt) = (self.offer.codec, self.offer.codec_pt);
        let packet = self.stream.frame(codec, pt, &frame);
        if self.rtp.send_to(packet, self.strict.remote).await.is_ok() {
            if let Ok(mut s) = self.stats.lock() {
                s.on_send(packet.len());
            }
        }
    }

    async fn send(&mut self, payload: &[u8], samples: u32) {
        let packet = self.stream.packet(self.offer.codec_pt, payload, samples);
        if self.rtp.send_to(packet, self.strict.remote).await.is_ok() {
            if let Ok(mut s) = self.stats.lock() {
                s.on_send(packet.len());
            }
        }
    }

    /// Music for the caller (a plain session has no other leg).
    fn play_leg(&mut self, leg: usize, what: crate::relay::LegPlay) -> bool {
        if leg != crate::relay::CALLER {
            return false;
        }
        match what {
            crate::relay::LegPlay::Music(class) => {
                match Player::music(&class, &self.settings.moh) {
                    Some(p) => self.mode = Mode::Play(p),
                    None => return false,
                }
            }
            crate::relay::LegPlay::Prompts {
                files,
                language,
                progress,
            } => self.mode = Mode::Play(Player::prompts(files, language, progress)),
            crate::relay::LegPlay::Stop => {
                if matches!(&self.mode, Mode::Play(p) if p.is_music()) {
                    self.mode = Mode::Idle;
                }
            }
        }
        true
    }

    /// Our caller side as a relay takes it over: its sockets, what we
    /// know of it, our stream's numbering and SDP version.
    fn handover(self) -> crate::relay::Handover {
        let port = self.rtp.local_addr().map_or(0, |a| a.port());
        let remote = self.strict.remote;
        let leg = crate::relay::leg::Leg::from_session(&self.offer, self.strict, remote);
        crate::relay::Handover {
            io: crate::relay::Sockets {
                rtp: self.rtp,
                rtcp: self.rtcp,
                port,
            },
            leg,
            stream: self.stream,
            sdp_session: self.sdp_session,
            version: 1,
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
