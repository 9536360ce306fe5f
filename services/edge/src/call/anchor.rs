//! Anchored media for a Dial: when the caller or a target wants it
//! (sip.conf `directmedia=no`, `nat=comedia`) or sits behind NAT (its SDP
//! or Contact names another address than its packets come from), the call
//! opens a relay on a media instance before the B legs ring; the callees
//! are offered the relay, the caller is answered with the relay, the
//! callee's answers (18x, 2xx) go to the relay, and each leg's re-INVITE or
//! UPDATE (hold, resume, a new address) is answered by the relay, not
//! passed to the other phone (which hears music while held). Otherwise
//! media flows phone to phone.
//!
//! A Dial is always anchored when the caller already has a media session
//! (a Dial after Answer or Playback: the relay takes that session over, so
//! the caller keeps the SDP it has) or asks for music while ringing
//! (Dial's `m`: the caller gets the relay's SDP in a 183 and its music).
//! Once the caller has the relay's SDP, the relay is the caller's media
//! for the rest of the call, answered or not by a callee.

use super::a_leg::{core, AState};
use super::backends::{BackendError, MediaAsk, MediaPrefs, RelaySdp, Resolved};
use super::bridge::Side;
use super::events::{Action, Answer, Ask, Reoffer};
use super::machine::{CallState, Machine};
use super::steps::with_status;
use crate::command::Command;
use crate::reply::Replier;
use asterism_proto::router::StepStatus;
use asterism_sip::transaction::TsxKey;
use asterism_sip::{HeaderName, Method, Request};
use bytes::Bytes;
use std::net::IpAddr;
use std::time::Duration;
use tokio::time::Instant;

const SDP: &str = "application/sdp";

/// A Dial's relay: what it last said to each leg.
pub struct Anchor {
    pub to_caller: String,
    pub to_callee: String,
    /// The caller has the relay's SDP (in a 18x or 200, or taken over
    /// from its session): the relay outlives the Dial as its media.
    pub caller_has_it: bool,
}

impl Anchor {
    fn to(&mut self, side: Side) -> &mut String {
        match side {
            Side::Caller => &mut self.to_caller,
            Side::Callee => &mut self.to_callee,
        }
    }
}

/// The address an SDP's first `c=` line names.
fn sdp_address(body: &[u8]) -> Option<IpAddr> {
    let text = std::str::from_utf8(body).ok()?;
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("c="))
        .find_map(|c| c.split_whitespace().nth(2)?.split('/').next()?.parse().ok())
}

impl Machine {
    /// Whether this Dial's media goes through a relay.
    fn needs_anchor(&self, targets: &[Resolved]) -> bool {
        if self.user.as_ref().is_some_and(|u| u.anchor_media) {
            return true;
        }
        let source = self.a.flow.remote.ip();
        let offered = self.a.offer().and_then(|(_, b)| sdp_address(&b));
        if offered.is_some_and(|ip| !ip.is_unspecified() && ip != source) {
            tracing::debug!(%source, "caller behind NAT: media anchored");
            return true;
        }
        // A side restricted to one codec (allow=) or without RFC 4733
        // needs the relay to transcode or drop what the other sends.
        let restricted = |p: &MediaPrefs| p.no_rfc2833 || p.codecs.len() == 1;
        if self
            .user
            .as_ref()
            .is_some_and(|u| restricted(&MediaPrefs::of(u)))
        {
            return true;
        }
        targets
            .iter()
            .any(|t| t.anchor || restricted(&t.prefs) || t.contacts.iter().any(|c| c.behind_nat))
    }

    /// The Dial's targets are known: ring them now, or first open the
    /// relay they will be offered.
    pub(super) fn start_forks(&mut self, targets: Vec<Resolved>, timeout: Duration, now: Instant) {
        let from = self.media.clone();
        let plays = self.dial_music.is_some()
            || self.transfers.is_some()
            || self
                .dial_limit
                .as_ref()
                .is_some_and(super::limit::needs_relay);
        let anchored = from.is_some() || plays || self.needs_anchor(&targets);
        let offer = self
            .a
            .offer()
            .map(|(_, b)| String::from_utf8_lossy(&b).into_owned());
        match offer {
            offer if from.is_some() || (anchored && offer.is_some()) => {
                // The callees' side: the first target that restricts
                // codecs or events, else the first (its music on hold).
                let callee = targets
                    .iter()
                    .map(|t| &t.prefs)
                    .find(|p| p.restricts())
                    .or(targets.first().map(|t| &t.prefs))
                    .cloned()
                    .unwrap_or_default();
                self.anchoring = targets;
                self.ask(Ask::OpenRelay(MediaAsk {
                    call_id: self.a.checked.call_id.clone(),
                    offer: offer.unwrap_or_default(),
                    host: self.a.host.clone(),
                    caller: self.user.as_ref().map(MediaPrefs::of).unwrap_or_default(),
                    callee,
                    from,
                }));
                self.state = CallState::Anchoring { timeout };
            }
            _ => {
                if anchored {
                    tracing::info!("INVITE without SDP: media cannot be anchored, left direct");
                }
                self.dial_music = None;
                let offer = self.a.offer();
                self.fork_all(targets, timeout, now, offer)
            }
        }
    }

    /// The relay answered (or not): ring the targets with its offer.
    pub(super) fn relay_opened(
        &mut self,
        r: Result<(super::backends::MediaSession, RelaySdp), BackendError>,
        timeout: Duration,
        now: Instant,
    ) {
        let targets = std::mem::take(&mut self.anchoring);
        match r {
            Ok((session, sdp)) => {
                self.out
                    .push(Action::Ask(0, Ask::WatchMedia(session.clone())));
                // A session taken over is gone: the relay is the caller's media.
                let taken_over = self.media.replace(session).is_some();
                let offer = (SDP.to_owned(), Bytes::from(sdp.callee_offer.clone()));
                self.anchor = Some(Anchor {
                    to_caller: sdp.caller_answer,
                    to_callee: sdp.callee_offer,
                    caller_has_it: taken_over,
                });
                if let Some(class) = self.dial_music.clone() {
                    self.music(Side::Caller, Some(class));
                    let ours = self.anchor.as_ref().map(|a| a.to_caller.clone());
                    if let Some(sdp) = ours.filter(|_| self.a.state == AState::Early) {
                        self.caller_gets_relay();
                        let sdp = (SDP.to_owned(), Bytes::from(sdp));
                        self.a.provisional(&mut self.out, 183, Some(sdp));
                    }
                }
                self.fork_all(targets, timeout, now, Some(offer))
            }
            Err(e) => {
                // Asterisk: no RTP for the outgoing channel, no call.
                tracing::warn!(error = e.text(), "no media relay for an anchored Dial");
                drop(targets);
                self.result(with_status(StepStatus::Ok, "CHANUNAVAIL"))
            }
        }
    }

    /// The callee's SDP in a 18x or the 2xx, turned into what the caller
    /// gets: unchanged with direct media; anchored, the relay learns it
    /// and the caller gets the relay's answer (always in a 2xx).
    pub(super) fn for_caller(
        &mut self,
        sdp: Option<(String, Bytes)>,
        final_answer: bool,
    ) -> Option<(String, Bytes)> {
        let Some(anchor) = &self.anchor else {
            return sdp;
        };
        let ours = (SDP.to_owned(), Bytes::from(anchor.to_caller.clone()));
        let (Some((_, body)), Some(session)) = (&sdp, &self.media) else {
            if final_answer {
                self.caller_gets_relay();
            }
            return final_answer.then_some(ours);
        };
        let ask = Ask::UpdateRelay {
            session: session.clone(),
            side: Side::Callee,
            sdp: String::from_utf8_lossy(body).into_owned(),
            reply: None,
        };
        self.out.push(Action::Ask(0, ask));
        self.caller_gets_relay();
        Some(ours)
    }

    /// Whether the relay answers `req` (a re-INVITE or UPDATE while
    /// media is anchored) rather than the other leg.
    pub(super) fn relay_answers(&self, req: &Request) -> bool {
        self.anchor.is_some()
            && self.media.is_some()
            && (req.method == Method::INVITE || req.method == Method::UPDATE)
    }

    /// A leg's re-INVITE or UPDATE while anchored ([`Machine::relay_answers`]):
    /// its offer goes to the relay, whose answer it gets.
    pub(super) fn reoffer(&mut self, side: Side, key: TsxKey, replier: Replier, req: &Request) {
        let invite = req.method == Method::INVITE;
        let (Some(anchor), Some(session)) = (self.anchor.as_mut(), self.media.as_ref()) else {
            return;
        };
        if req.body.is_empty() {
            // No offer: a session refresh (UPDATE) or an offer asked of
            // us (INVITE), given the one the leg has.
            let sdp = invite.then(|| anchor.to(side).clone());
            return self.answer_reoffer(side, key, replier, sdp);
        }
        let ask = Ask::UpdateRelay {
            session: session.clone(),
            side,
            sdp: String::from_utf8_lossy(&req.body).into_owned(),
            reply: Some(Box::new(Reoffer { side, key, replier })),
        };
        self.out.push(Action::Ask(0, ask));
    }

    /// The relay took a leg's SDP; a waiting re-INVITE/UPDATE gets its answer.
    pub(super) fn relay_updated(
        &mut self,
        reply: Option<Box<Reoffer>>,
        r: Result<String, BackendError>,
    ) {
        let Some(re) = reply else {
            if let Err(e) = r {
                tracing::warn!(error = e.text(), "the relay did not take the callee's SDP");
            }
            return;
        };
        match r {
            Ok(sdp) => {
                if let Some(a) = self.anchor.as_mut() {
                    *a.to(re.side) = sdp.clone();
                }
                self.answer_reoffer(re.side, re.key, re.replier, Some(sdp));
            }
            Err(e) => {
                let code = match e {
                    BackendError::NoCodec(_) => 488,
                    _ => 500,
                };
                tracing::info!(error = e.text(), code, "leg's new offer refused");
                let response = re.replier.reply(code);
                core(
                    &mut self.out,
                    Command::Respond {
                        key: re.key,
                        response,
                    },
                );
            }
        }
    }

    fn answer_reoffer(&mut self, side: Side, key: TsxKey, replier: Replier, sdp: Option<String>) {
        let contact = match (side, &self.callee) {
            (Side::Callee, Some(c)) => c.dialog.contact.to_string(),
            _ => self.a.contact.to_string(),
        };
        let mut r = replier.reply(200);
        r.headers.push(HeaderName::Contact, contact);
        r.headers.push(HeaderName::Allow, crate::reply::ALLOW);
        if let Some(sdp) = sdp {
            r.headers.push(HeaderName::ContentType, SDP);
            r.body = Bytes::from(sdp);
        }
        core(&mut self.out, Command::Respond { key, response: r });
    }

    /// The caller is sent the relay's SDP: the relay is its media now.
    pub(super) fn caller_gets_relay(&mut self) {
        if let Some(a) = self.anchor.as_mut() {
            a.caller_has_it = true;
        }
    }

    /// Music on hold `class` to the relay's `side` (None: stop).
    pub(super) fn music(&mut self, side: Side, class: Option<String>) {
        if let Some(session) = self.media.clone().filter(|_| self.anchor.is_some()) {
            self.music_to(session, side, class);
        }
    }

    /// Music `class` to `side` of `session` (None: stop), in order among
    /// the call's music requests; no answer comes (a failure is logged).
    pub(super) fn music_to(
        &mut self,
        session: super::backends::MediaSession,
        side: Side,
        class: Option<String>,
    ) {
        self.music_seq += 1;
        let seq = self.music_seq;
        let ask = Ask::RelayMusic {
            session,
            side,
            class,
            seq,
        };
        self.out.push(Action::Ask(0, ask));
    }

    /// `files` to the relay's `side` instead of the other side's audio;
    /// with `wait`, answered ([`super::events::Answer::Prompted`], this
    /// op) once over. False without a relay.
    pub(super) fn leg_prompts(&mut self, side: Side, files: Vec<String>, wait: bool) -> bool {
        let Some(session) = self.media.clone().filter(|_| self.anchor.is_some()) else {
            return false;
        };
        self.music_seq += 1;
        let ask = Ask::RelayPrompts {
            session,
            side,
            files,
            seq: self.music_seq,
            wait,
        };
        if wait {
            self.ask(ask);
        } else {
            self.out.push(Action::Ask(0, ask));
        }
        true
    }

    /// The Dial's ringing ended (answered or not): Dial's `m` music stops.
    pub(super) fn stop_dial_music(&mut self) {
        if self.dial_music.take().is_some() {
            self.music(Side::Caller, None);
        }
    }

    /// The Dial ended without a callee: its relay is closed, unless the
    /// caller has its SDP (then it stays the caller's media).
    pub(super) fn drop_relay(&mut self) {
        self.stop_dial_music();
        match self.anchor.take() {
            Some(a) if a.caller_has_it => self.anchor = Some(a),
            Some(_) => {
                if let Some(s) = self.media.take() {
                    self.out.push(Action::Ask(0, Ask::CloseMedia(s)));
                }
            }
            None => {}
        }
    }
}

/// A relay opened for a Dial nobody waits for any more: closed.
pub(super) fn stale_relay(answer: &Answer, out: &mut Vec<Action>) {
    if let Answer::Relay(Ok((session, _))) = answer {
        out.push(Action::Ask(0, Ask::CloseMedia(session.clone())));
    }
}
