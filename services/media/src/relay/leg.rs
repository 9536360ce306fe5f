//! One side of a relayed call as its SDP describes it, and what a packet
//! from one side becomes for the other: the payload type renumbered to the
//! receiver's, PCMU↔PCMA transcoded when the two sides settled on different
//! codecs (byte for byte, in place), RFC 4733 events and RFC 3389 comfort
//! noise passed when the receiver takes them. Sequence numbers, timestamps
//! and SSRC go through untouched, as rtpengine's plain relay does.

use crate::g711;
use crate::sdp::{Codec, Describe, Direction, Media};
use crate::session::strict::StrictRtp;
use std::net::{IpAddr, SocketAddr};

/// What a payload type carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Audio(Codec),
    Dtmf,
    Cn,
}

/// What we know of one side.
#[derive(Debug, Clone)]
pub struct Leg {
    /// Where its RTP goes and whose RTP is taken (strict RTP).
    pub strict: StrictRtp,
    pub rtcp_remote: SocketAddr,
    /// The G.711 codecs it may send, with its payload types.
    pub codecs: Vec<(Codec, u8)>,
    /// The codec it is sent, and the payload type it has for it.
    pub send: (Codec, u8),
    pub dtmf_pt: Option<u8>,
    pub cn_pt: Option<u8>,
    /// Its SDP says it wants media (not on hold).
    pub receives: bool,
    /// Its SDP's direction, for the answer to a new offer.
    pub direction: Direction,
}

/// The payload types we offer a callee: fixed ones for G.711 and CN, 101
/// for telephone-event, as Asterisk offers them.
pub const OFFER_DTMF_PT: u8 = 101;
pub const OFFER_CN_PT: u8 = 13;

fn remote(m: &Media) -> SocketAddr {
    SocketAddr::new(m.addr, m.port)
}

fn rtcp_of(m: &Media) -> SocketAddr {
    SocketAddr::new(m.addr, m.port.wrapping_add(1))
}

impl Leg {
    /// A side from the SDP it sent; it is sent `send` (one of its codecs).
    pub fn from_sdp(m: &Media, send: (Codec, u8)) -> Leg {
        Leg {
            strict: StrictRtp::new(remote(m)),
            rtcp_remote: rtcp_of(m),
            codecs: m.codecs.clone(),
            send,
            dtmf_pt: m.dtmf_pt,
            cn_pt: m.cn_pt,
            receives: m.direction.receives(),
            direction: m.direction,
        }
    }

    /// The caller of a plain session a relay takes over: the codec it
    /// was answered with, the source its RTP is locked on.
    pub fn from_session(offer: &crate::sdp::Offer, strict: StrictRtp, remote: SocketAddr) -> Leg {
        let send = (offer.codec, offer.codec_pt);
        Leg {
            strict,
            rtcp_remote: SocketAddr::new(remote.ip(), remote.port().wrapping_add(1)),
            codecs: vec![send],
            send,
            dtmf_pt: offer.dtmf_pt,
            cn_pt: None,
            receives: true,
            direction: Direction::SendRecv,
        }
    }

    /// The callee before its answer: it will use the payload types we
    /// offered it; its address is learnt from its first packets (strict
    /// RTP's probation) until its SDP comes. None without a codec to offer.
    pub fn offered(codecs: Vec<(Codec, u8)>, dtmf: bool, cn: bool) -> Option<Leg> {
        let nowhere = SocketAddr::new(IpAddr::from([0, 0, 0, 0]), 0);
        Some(Leg {
            strict: StrictRtp::new(nowhere),
            rtcp_remote: nowhere,
            send: *codecs.first()?,
            codecs,
            dtmf_pt: dtmf.then_some(OFFER_DTMF_PT),
            cn_pt: cn.then_some(OFFER_CN_PT),
            receives: true,
            direction: Direction::SendRecv,
        })
    }

    /// Its new SDP (an answer to our offer, or a new offer of its own):
    /// learn its address again, and its payload types. Whether it still
    /// has a codec we can send it.
    pub fn update(&mut self, m: &Media) -> bool {
        // c=0.0.0.0 puts it on hold; its address stays what it was.
        if !m.addr.is_unspecified() {
            self.strict.relearn(remote(m));
            self.rtcp_remote = rtcp_of(m);
        }
        self.receives = m.direction.receives();
        self.direction = m.direction;
        self.dtmf_pt = m.dtmf_pt;
        self.cn_pt = m.cn_pt;
        let keep = m.codecs.iter().find(|(c, _)| *c == self.send.0).copied();
        match keep.or_else(|| m.codecs.first().copied()) {
            Some(send) => {
                self.send = send;
                self.codecs = m.codecs.clone();
                true
            }
            None => false,
        }
    }

    /// Where its RTP goes, if known yet and it wants media.
    pub fn rtp_target(&self) -> Option<SocketAddr> {
        let to = self.strict.remote;
        (self.receives && !to.ip().is_unspecified() && to.port() != 0).then_some(to)
    }

    pub fn kind_of(&self, pt: u8) -> Option<Kind> {
        if let Some(&(c, _)) = self.codecs.iter().find(|(_, p)| *p == pt) {
            return Some(Kind::Audio(c));
        }
        if Some(pt) == self.dtmf_pt {
            return Some(Kind::Dtmf);
        }
        (Some(pt) == self.cn_pt).then_some(Kind::Cn)
    }

    /// Our SDP for this side, at `addr:port`: the codec it is sent, its
    /// events and comfort noise, the direction answering its own.
    pub fn describe(&self, session: u64, version: u64, addr: IpAddr, port: u16) -> String {
        crate::sdp::describe(&Describe {
            session,
            version,
            addr,
            port,
            codecs: &[self.send],
            dtmf_pt: self.dtmf_pt,
            cn_pt: self.cn_pt,
            direction: self.direction.answer(),
        })
    }
}

/// The codecs offered to the callee, each with its static payload type:
/// those it allows in its order; without a restriction both, the caller's
/// first (no transcoding if it takes it).
pub fn callee_codecs(caller: Codec, allowed: Option<&[Codec]>) -> Vec<(Codec, u8)> {
    let list: Vec<Codec> = match allowed {
        Some(a) => a.to_vec(),
        None => {
            let other = match caller {
                Codec::Pcmu => Codec::Pcma,
                Codec::Pcma => Codec::Pcmu,
            };
            vec![caller, other]
        }
    };
    list.into_iter().map(|c| (c, c.payload_type())).collect()
}

/// Turn the RTP packet `p` (parsed payload type `pt`, payload at
/// `payload`) from `from` into what `to` takes, in place. False when `to`
/// does not take it (unknown payload type, events it did not ask for).
pub fn translate(
    p: &mut [u8],
    pt: u8,
    payload: std::ops::Range<usize>,
    from: &Leg,
    to: &Leg,
) -> bool {
    let out_pt = match from.kind_of(pt) {
        Some(Kind::Audio(c)) => {
            let (send, send_pt) = to.send;
            match (c, send) {
                (Codec::Pcmu, Codec::Pcma) => g711::ulaw_to_alaw_in_place(&mut p[payload]),
                (Codec::Pcma, Codec::Pcmu) => g711::alaw_to_ulaw_in_place(&mut p[payload]),
                _ => {}
            }
            send_pt
        }
        Some(Kind::Dtmf) => match to.dtmf_pt {
            Some(pt) => pt,
            None => return false,
        },
        Some(Kind::Cn) => match to.cn_pt {
            Some(pt) => pt,
            None => return false,
        },
        None => return false,
    };
    p[1] = (p[1] & 0x80) | (out_pt & 0x7F);
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtp::{self, Header};
    use crate::sdp::parse_media;

    fn packet(pt: u8, payload: &[u8]) -> Vec<u8> {
        let h = Header {
            marker: false,
            payload_type: pt,
            seq: 9,
            timestamp: 160,
            ssrc: 7,
        };
        let mut out = Vec::new();
        rtp::build(&h, payload, &mut out);
        out
    }

    fn run(p: &mut [u8], from: &Leg, to: &Leg) -> bool {
        let (h, range) = rtp::parse(p).unwrap();
        translate(p, h.payload_type, range, from, to)
    }

    const LINPHONE: &str = "v=0\r\nc=IN IP4 10.0.0.2\r\nm=audio 7078 RTP/AVP 96 0 8 13 101\r\na=rtpmap:96 opus/48000/2\r\na=rtpmap:101 telephone-event/8000\r\n";
    const PCMA_ONLY: &str = "v=0\r\nc=IN IP4 10.0.0.3\r\nm=audio 9000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n";

    #[test]
    fn same_codec_passes_unchanged_but_the_payload_type() {
        let a = parse_media(LINPHONE).unwrap();
        let caller = Leg::from_sdp(&a, a.codecs[0]);
        let mut callee = Leg::offered(callee_codecs(Codec::Pcmu, None), true, true).unwrap();
        let mut p = packet(0, &[1, 2, 3]);
        assert!(run(&mut p, &caller, &callee));
        assert_eq!(&p[12..], &[1, 2, 3]);
        // The callee answers with its own number for events.
        let b = parse_media("v=0\r\nc=IN IP4 10.0.0.9\r\nm=audio 5000 RTP/AVP 0 96\r\na=rtpmap:96 telephone-event/8000\r\n").unwrap();
        assert!(callee.update(&b));
        let mut e = packet(101, &[5, 0x80, 0, 160]);
        assert!(run(&mut e, &caller, &callee));
        assert_eq!(e[1] & 0x7F, 96);
        // And its events reach the caller with the caller's number.
        let mut e = packet(96, &[5, 0x80, 0, 160]);
        assert!(run(&mut e, &callee, &caller));
        assert_eq!(e[1] & 0x7F, 101);
        // Comfort noise: the callee dropped it from its answer.
        assert!(!run(&mut packet(13, &[40]), &caller, &callee));
        assert!(
            !run(&mut packet(18, &[0; 10]), &caller, &callee),
            "G.729 is not ours"
        );
    }

    #[test]
    fn pcmu_and_pcma_are_transcoded_both_ways() {
        let a = parse_media(LINPHONE).unwrap();
        let caller = Leg::from_sdp(&a, a.codecs[0]);
        let mut callee = Leg::offered(callee_codecs(Codec::Pcmu, None), true, false).unwrap();
        assert!(callee.update(&parse_media(PCMA_ONLY).unwrap()));
        assert_eq!(callee.send, (Codec::Pcma, 8));
        assert_eq!(callee.rtp_target(), Some("10.0.0.3:9000".parse().unwrap()));
        let tone: Vec<u8> = (0..160)
            .map(|i| g711::linear_to_ulaw(((i as f64 * 0.3).sin() * 9000.0) as i16))
            .collect();
        let mut p = packet(0, &tone);
        assert!(run(&mut p, &caller, &callee));
        assert_eq!(p[1] & 0x7F, 8);
        let back: Vec<i16> = p[12..].iter().map(|&b| g711::alaw_to_linear(b)).collect();
        let orig: Vec<i16> = tone.iter().map(|&b| g711::ulaw_to_linear(b)).collect();
        for (x, y) in back.iter().zip(&orig) {
            assert!((i32::from(*x) - i32::from(*y)).abs() <= 600, "{x} vs {y}");
        }
        let mut q = packet(8, &[0xD5; 160]);
        assert!(run(&mut q, &callee, &caller));
        assert_eq!(q[1] & 0x7F, 0);
        let level = g711::ulaw_to_linear(q[12]).abs();
        assert!(level <= 8, "A-law silence stays silence: {level}");
    }

    #[test]
    fn hold_keeps_the_address_and_stops_sending() {
        let mut leg = Leg::from_sdp(&parse_media(PCMA_ONLY).unwrap(), (Codec::Pcma, 8));
        let hold = PCMA_ONLY.replace("10.0.0.3", "0.0.0.0");
        assert!(leg.update(&parse_media(&hold).unwrap()));
        assert_eq!(leg.rtp_target(), None);
        assert_eq!(leg.strict.remote, "10.0.0.3:9000".parse().unwrap());
        let sendonly = PCMA_ONLY.replace("sendrecv", "sendonly");
        assert!(leg.update(&parse_media(&sendonly).unwrap()));
        assert_eq!(leg.rtp_target(), None);
        let answer = leg.describe(1, 2, "192.0.2.1".parse().unwrap(), 4000);
        assert!(answer.contains("a=recvonly"), "{answer}");
        assert!(leg.update(&parse_media(PCMA_ONLY).unwrap()));
        assert!(leg.rtp_target().is_some());
        let g729 = "v=0\r\nc=IN IP4 10.0.0.3\r\nm=audio 9000 RTP/AVP 18\r\n";
        assert!(!leg.update(&parse_media(g729).unwrap()));
    }
}
