//! Anchored media: a call's two legs each talk RTP to a port pair of ours,
//! and one task forwards between them. Why: a phone behind NAT can only
//! be reached where it sends from (symmetric RTP, latched under the strict
//! rules of [`crate::session::strict`]), two phones may not share a codec
//! (PCMU↔PCMA transcoded, see [`leg`]), and `directmedia=no` asks for it.
//! RTCP goes along on the odd ports. A leg's new SDP (the callee's answer,
//! a re-INVITE for hold or a new address) arrives as
//! [`Command::Update`] while packets keep flowing the other way.
//!
//! A leg can be played to instead of hearing the other ([`playing`]):
//! music on hold when the other side holds or while the callee is being
//! dialled (Dial's `m`), prompts once the callee is gone. A relay can also
//! start from a caller's plain session, or a relay's caller leg, taking
//! over its sockets ([`Handover`]): a Dial after Answer or Playback keeps
//! the caller on the port its SDP already names.

pub mod leg;
mod playing;
mod rpc;

pub use playing::LegPlay;

use crate::play::{Player, Stream};
use crate::rtp;
use crate::sdp::Media;
use crate::session::stats::Stats;
use crate::session::{Command, Handle, Settings};
use leg::{translate, Leg};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::sync::{broadcast, mpsc};
use tokio::time::Instant;

/// Which leg of a relay.
pub const CALLER: usize = 0;
pub const CALLEE: usize = 1;

/// A leg's sockets (RTP on `port`, RTCP on `port + 1`).
pub struct Sockets {
    pub rtp: UdpSocket,
    pub rtcp: UdpSocket,
    pub port: u16,
}

/// Who we say we are in the SDP we write.
#[derive(Debug, Clone, Copy)]
pub struct Origin {
    pub session: u64,
    pub addr: IpAddr,
}

/// A caller side taken over from a session or relay (see [`Command::Handover`]).
pub struct Handover {
    pub io: Sockets,
    pub leg: Leg,
    pub stream: Stream,
    /// The o= session id and version of the SDP the caller has.
    pub sdp_session: u64,
    pub version: u64,
}

/// What opens a relay side: its sockets and SDP state, and the music on
/// hold class it hears when the other side holds (empty: none).
pub struct Start {
    pub io: Sockets,
    pub leg: Leg,
    pub stream: Stream,
    pub sdp_session: u64,
    pub version: u64,
    pub hold_music: String,
}

struct Side {
    io: Sockets,
    leg: Leg,
    stats: Arc<Mutex<Stats>>,
    /// Our SDP's o= session id and version for this leg, the version
    /// bumped per new answer.
    sdp_session: u64,
    version: u64,
    last_rx: Instant,
    /// What it is played instead of the other side's audio.
    player: Option<Player>,
    /// The player is hold music started because the other side held.
    held: bool,
    hold_music: String,
    /// The timestamp of its last RFC 4733 event reported (one per digit).
    last_dtmf_ts: Option<u32>,
    /// The latest music request taken for it (see [`Relay::play_leg`]).
    music_seq: u64,
    /// Our own stream to it, for what it is played.
    stream: Stream,
}

struct Relay {
    sides: [Side; 2],
    /// Each leg's RFC 4733 digits, for the edge (Dial's t/T).
    events: broadcast::Sender<crate::session::Event>,
    origin: Origin,
    settings: Arc<Settings>,
    epoch: Instant,
    /// 20 ms ticks while a side is played to.
    frames: Option<tokio::time::Interval>,
}

/// Start relaying between `caller` and `callee`.
pub fn start(
    sides: [Start; 2],
    origin: Origin,
    settings: Arc<Settings>,
    span: tracing::Span,
    on_exit: impl FnOnce(&Stats, &Stats) + Send + 'static,
) -> Handle {
    let (tx, rx) = mpsc::channel(8);
    let (events, _) = broadcast::channel(4);
    let now = Instant::now();
    let stats = || Arc::new(Mutex::new(Stats::counting_into(settings.live.clone())));
    let [a, b] = sides;
    let codec = a.leg.send.0;
    let side = |s: Start| Side {
        io: s.io,
        leg: s.leg,
        stats: stats(),
        sdp_session: s.sdp_session,
        version: s.version,
        last_rx: now,
        player: None,
        held: false,
        hold_music: s.hold_music,
        last_dtmf_ts: None,
        music_seq: 0,
        stream: s.stream,
    };
    let relay = Relay {
        sides: [side(a), side(b)],
        events: events.clone(),
        origin,
        settings,
        epoch: now,
        frames: None,
    };
    let counters = [relay.sides[0].stats.clone(), relay.sides[1].stats.clone()];
    let handle = Handle {
        commands: tx,
        stats: counters[0].clone(),
        callee: Some(counters[1].clone()),
        events,
        codec,
    };
    tokio::spawn(async move {
        tracing::Instrument::instrument(relay.run(rx), span.clone()).await;
        let snap = |s: &Arc<Mutex<Stats>>| s.lock().map(|s| s.clone()).unwrap_or_default();
        let (a, b) = (snap(&counters[0]), snap(&counters[1]));
        span.record("packets_in", a.packets_in + b.packets_in);
        span.record("packets_out", a.packets_out + b.packets_out);
        span.record("lost", a.lost + b.lost);
        span.record("jitter_ms", a.jitter_ms().max(b.jitter_ms()));
        span.record("caller_packets_in", a.packets_in);
        span.record("callee_packets_in", b.packets_in);
        span.record("caller_lost", a.lost);
        span.record("callee_lost", b.lost);
        drop(span);
        on_exit(&a, &b);
    });
    handle
}

impl Relay {
    async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let (mut buf_a, mut buf_b) = (vec![0u8; 2048], vec![0u8; 2048]);
        let (mut ctl_a, mut ctl_b) = (vec![0u8; 1500], vec![0u8; 1500]);
        loop {
            tokio::select! {
                r = self.sides[0].io.rtp.recv_from(&mut buf_a) => {
                    if let Ok((n, from)) = r {
                        self.on_rtp(CALLER, &mut buf_a[..n], from).await;
                    }
                }
                r = self.sides[1].io.rtp.recv_from(&mut buf_b) => {
                    if let Ok((n, from)) = r {
                        self.on_rtp(CALLEE, &mut buf_b[..n], from).await;
                    }
                }
                r = self.sides[0].io.rtcp.recv_from(&mut ctl_a) => {
                    if let Ok((n, from)) = r {
                        self.on_rtcp(CALLER, &ctl_a[..n], from).await;
                    }
                }
                r = self.sides[1].io.rtcp.recv_from(&mut ctl_b) => {
                    if let Ok((n, from)) = r {
                        self.on_rtcp(CALLEE, &ctl_b[..n], from).await;
                    }
                }
                _ = tick.tick() => {
                    // Both legs silent far past the RTP time-out, nobody
                    // closing: the call is long gone.
                    let limit = self.settings.rtp_timeout * 2 + Duration::from_secs(60);
                    if self.sides.iter().all(|s| s.last_rx.elapsed() > limit) {
                        tracing::info!("relay silent on both legs: closed");
                        return;
                    }
                }
                _ = playing::tick(&mut self.frames) => self.on_frame().await,
                c = commands.recv() => match c {
                    Some(Command::Close) | None => return,
                    Some(Command::Update { leg, sdp, offer, reply }) => {
                        let _ = reply.send(self.update(leg, &sdp, offer));
                    }
                    Some(Command::Play { files, language, progress }) => {
                        self.play(CALLER, Some(Player::prompts(files, language, progress)), false);
                    }
                    Some(Command::PlayLeg { leg, what, seq, reply }) => {
                        let _ = reply.send(self.play_leg(leg, what, seq));
                    }
                    Some(Command::Echo { done }) => {
                        let _ = done.send(crate::session::EchoEnd::Closed);
                    }
                    Some(Command::Swap { reply }) => {
                        self.sides.swap(CALLER, CALLEE);
                        tracing::debug!("relay legs swapped: the callee is the caller now");
                        let _ = reply.send(true);
                    }
                    Some(Command::Handover { reply }) => {
                        let [caller, _] = self.sides;
                        let _ = reply.send(Handover {
                            io: caller.io,
                            leg: caller.leg,
                            stream: caller.stream,
                            sdp_session: caller.sdp_session,
                            version: caller.version,
                        });
                        return;
                    }
                },
            }
        }
    }

    /// A packet from leg `i`: taken if strict RTP takes its source, then
    /// sent on to the other leg as that leg takes it.
    async fn on_rtp(&mut self, i: usize, p: &mut [u8], from: SocketAddr) {
        let Some((h, range)) = rtp::parse(p) else {
            return;
        };
        let now = Instant::now();
        let (side, other) = pair(&mut self.sides, i);
        if side.leg.strict.on_packet(from, h.seq) == crate::session::strict::Verdict::Drop {
            return;
        }
        side.last_rx = now;
        if let Ok(mut s) = side.stats.lock() {
            s.on_receive(h.seq, h.timestamp, p.len(), now, self.epoch);
        }
        if side.leg.dtmf_pt == Some(h.payload_type) {
            if let Some(digit) =
                rtp::digit_ended(&p[range.clone()], h.timestamp, &mut side.last_dtmf_ts)
            {
                let _ = self
                    .events
                    .send(crate::session::Event::Dtmf { digit, leg: i });
            }
        }
        let Some(to) = other.leg.rtp_target().filter(|_| other.player.is_none()) else {
            return;
        };
        if !translate(p, h.payload_type, range, &side.leg, &other.leg) {
            return;
        }
        if other.io.rtp.send_to(p, to).await.is_ok() {
            if let Ok(mut s) = other.stats.lock() {
                s.on_send(p.len());
            }
        }
    }

    /// RTCP from leg `i`: only from the host its RTP is latched on, sent
    /// on unchanged to the other leg's RTCP port (learnt the same way).
    async fn on_rtcp(&mut self, i: usize, p: &[u8], from: SocketAddr) {
        let (side, other) = pair(&mut self.sides, i);
        if p.len() < 8 || p[0] >> 6 != 2 || from.ip() != side.leg.strict.remote.ip() {
            return;
        }
        side.leg.rtcp_remote = from;
        let to = other.leg.rtcp_remote;
        if other.leg.receives && !to.ip().is_unspecified() && to.port() != 0 {
            let _ = other.io.rtcp.send_to(p, to).await;
        }
    }

    /// Leg `i`'s new SDP. An offer (re-INVITE or UPDATE) gets our answer
    /// for that leg; an answer (the callee's, to our offer) gets nothing.
    fn update(&mut self, i: usize, m: &Media, offer: bool) -> Result<String, String> {
        let side = self.sides.get_mut(i).ok_or("no such leg")?;
        if !side.leg.update(m) {
            return Err("no codec in common (PCMU, PCMA)".into());
        }
        tracing::debug!(leg = i, addr = %m.addr, port = m.port, direction = ?m.direction, "relay leg updated");
        if !offer {
            self.on_hold_change(i, m);
            return Ok(String::new());
        }
        side.version += 1;
        let answer = side.leg.describe(
            side.sdp_session,
            side.version,
            self.origin.addr,
            side.io.port,
        );
        self.on_hold_change(i, m);
        Ok(answer)
    }
}

/// Leg `i` and the other one, both mutable.
fn pair(sides: &mut [Side; 2], i: usize) -> (&mut Side, &mut Side) {
    let [a, b] = sides;
    if i == CALLER {
        (a, b)
    } else {
        (b, a)
    }
}
