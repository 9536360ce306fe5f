//! Playing to a relay leg instead of relaying the other side to it: music
//! on hold when the other side holds (its new SDP is `sendonly`,
//! `inactive` or `c=0.0.0.0`, as chan_sip reads a hold) until it takes the
//! call back, music while the callee is dialled (Dial's `m`, asked by the
//! edge), prompts to the caller once the callee is gone (a Playback after
//! the Dial). While a leg is played to, the other side's packets to it are
//! dropped; our frames go in a stream of our own (SSRC, sequence).

use super::{Relay, CALLEE, CALLER};
use crate::play::Player;
use crate::sdp::Media;
use crate::session::FRAME;
use tokio::time::{Interval, MissedTickBehavior};

/// What the edge asks a leg to be played.
#[derive(Debug)]
pub enum LegPlay {
    /// A music on hold class, in a loop.
    Music(String),
    /// Prompts once, their progress reported.
    Prompts {
        files: Vec<String>,
        language: String,
        progress: tokio::sync::mpsc::Sender<crate::session::Progress>,
    },
    /// Back to hearing the other side.
    Stop,
}

/// The next 20 ms tick, never while nothing plays.
pub(super) async fn tick(frames: &mut Option<Interval>) {
    match frames {
        Some(i) => {
            i.tick().await;
        }
        None => std::future::pending().await,
    }
}

impl Relay {
    /// Leg `i` is played `player` (None: hears the other side again);
    /// `held`: it is hold music, stopped when the other side resumes.
    pub(super) fn play(&mut self, i: usize, player: Option<Player>, held: bool) {
        let side = &mut self.sides[i];
        side.held = held && player.is_some();
        side.player = player;
        self.arm();
    }

    /// The 20 ms ticks run while some leg is played to, only then.
    fn arm(&mut self) {
        let playing = self.sides.iter().any(|s| s.player.is_some());
        if playing && self.frames.is_none() {
            let mut i = tokio::time::interval(FRAME);
            i.set_missed_tick_behavior(MissedTickBehavior::Delay);
            self.frames = Some(i);
        } else if !playing {
            self.frames = None;
        }
    }

    /// The edge's request `seq` for leg `i`; false when the class is
    /// unknown. A request older than one taken is stale: ignored.
    pub(super) fn play_leg(&mut self, i: usize, what: LegPlay, seq: u64) -> bool {
        let side = &mut self.sides[i];
        if seq != 0 && seq < side.music_seq {
            tracing::debug!(leg = i, seq, "stale music request ignored");
            return true;
        }
        side.music_seq = seq;
        let player = match what {
            LegPlay::Music(class) => match Player::music(&class, &self.settings.moh) {
                Some(p) => Some(p),
                None => return false,
            },
            LegPlay::Prompts {
                files,
                language,
                progress,
            } => Some(Player::prompts(files, language, progress)),
            LegPlay::Stop => None,
        };
        self.play(i, player, false);
        true
    }

    /// A tick: each played leg gets its next frame (a finished player is
    /// dropped and the leg hears the other side again).
    pub(super) async fn on_frame(&mut self) {
        let settings = self.settings.clone();
        for i in [CALLER, CALLEE] {
            let side = &mut self.sides[i];
            let Some(player) = side.player.as_mut() else {
                continue;
            };
            let Some(frame) = player.frame(&settings.sounds).await else {
                side.player = None;
                side.held = false;
                continue;
            };
            let Some(to) = side.leg.rtp_target() else {
                continue;
            };
            let (codec, pt) = side.leg.send;
            let packet = side.stream.frame(codec, pt, &frame);
            if side.io.rtp.send_to(packet, to).await.is_ok() {
                if let Ok(mut s) = side.stats.lock() {
                    s.on_send(packet.len());
                }
            }
        }
        self.arm();
    }

    /// Leg `i`'s new SDP holds the other side, or takes it back: the
    /// other side's hold music starts or stops.
    pub(super) fn on_hold_change(&mut self, i: usize, m: &Media) {
        let holds = m.addr.is_unspecified() || !m.direction.receives();
        let j = if i == CALLER { CALLEE } else { CALLER };
        let other = &self.sides[j];
        if holds && other.player.is_none() && !other.hold_music.is_empty() {
            tracing::debug!(leg = j, class = %other.hold_music, "held: music on hold");
            let player = Player::music(&other.hold_music, &self.settings.moh);
            self.play(j, player, true);
        } else if !holds && other.held {
            tracing::debug!(leg = j, "taken off hold: music stopped");
            self.play(j, None, false);
        }
    }
}
