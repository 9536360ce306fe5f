//! SDP offer/answer for audio (RFC 3264, RFC 4566): read a side's first
//! audio stream (address, port, G.711 payload types, telephone-event,
//! comfort noise, direction), pick PCMU or PCMA in the writer's order of
//! preference, and write offers and answers with ptime 20.

use std::net::IpAddr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    Pcmu,
    Pcma,
}

impl Codec {
    pub fn payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    pub addr: IpAddr,
    pub port: u16,
    /// The codec chosen and the payload type the caller uses for it.
    pub codec: Codec,
    pub codec_pt: u8,
    pub dtmf_pt: Option<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    #[error("no audio stream in the offer")]
    NoAudio,
    #[error("no connection address")]
    NoAddress,
    #[error("no codec in common (PCMU, PCMA)")]
    NoCommonCodec,
    #[error("malformed SDP: {0}")]
    Malformed(&'static str),
}

/// Which way media flows, as one side's SDP says (RFC 3264 §6.1);
/// `c=0.0.0.0` (RFC 2543 hold) reads as `Inactive`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    /// What the other side answers (RFC 3264 §6.1).
    pub fn answer(self) -> Direction {
        match self {
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            d => d,
        }
    }

    /// Whether the side that wrote this wants to receive media.
    pub fn receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }

    pub fn attribute(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }
}

/// The first audio stream of an SDP, as far as a G.711 relay needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    pub addr: IpAddr,
    pub port: u16,
    /// The G.711 codecs offered, in the writer's order, with their payload types.
    pub codecs: Vec<(Codec, u8)>,
    pub dtmf_pt: Option<u8>,
    /// RFC 3389 comfort noise.
    pub cn_pt: Option<u8>,
    pub direction: Direction,
}

/// Read the first audio stream of `text`.
pub fn parse_media(text: &str) -> Result<Media, SdpError> {
    let mut session_addr = None;
    let mut media_addr = None;
    let mut in_audio = false;
    let mut port = None;
    let mut pts: Vec<u8> = Vec::new();
    let mut rtpmap: Vec<(u8, String)> = Vec::new();
    let (mut session_dir, mut media_dir) = (None, None);
    for line in text.lines().map(str::trim) {
        let Some((kind, value)) = line.split_once('=') else {
            continue;
        };
        match kind {
            "m" => {
                let mut f = value.split_whitespace();
                in_audio = f.next() == Some("audio") && port.is_none();
                if in_audio {
                    port = Some(
                        f.next()
                            .and_then(|p| p.parse::<u16>().ok())
                            .ok_or(SdpError::Malformed("m= port"))?,
                    );
                    let _proto = f.next();
                    pts = f.filter_map(|p| p.parse().ok()).collect();
                }
            }
            "c" => {
                let addr = value
                    .split_whitespace()
                    .nth(2)
                    .and_then(|a| a.split('/').next()?.parse::<IpAddr>().ok());
                if port.is_none() {
                    session_addr = addr;
                } else if in_audio {
                    media_addr = addr;
                }
            }
            "a" => {
                let dir = match value {
                    "sendrecv" => Some(Direction::SendRecv),
                    "sendonly" => Some(Direction::SendOnly),
                    "recvonly" => Some(Direction::RecvOnly),
                    "inactive" => Some(Direction::Inactive),
                    _ => None,
                };
                if let Some(d) = dir {
                    if port.is_none() {
                        session_dir = Some(d);
                    } else if in_audio {
                        media_dir = Some(d);
                    }
                }
                let Some(map) = value.strip_prefix("rtpmap:").filter(|_| in_audio) else {
                    continue;
                };
                let mut f = map.split_whitespace();
                if let (Some(pt), Some(enc)) = (f.next().and_then(|p| p.parse().ok()), f.next()) {
                    rtpmap.push((pt, enc.to_ascii_lowercase()));
                }
            }
            _ => {}
        }
    }
    let port = port.ok_or(SdpError::NoAudio)?;
    let addr = media_addr.or(session_addr).ok_or(SdpError::NoAddress)?;
    let name_of = |pt: u8| {
        rtpmap
            .iter()
            .find(|(p, _)| *p == pt)
            .map(|(_, n)| n.as_str())
    };
    let codecs = pts
        .iter()
        .filter_map(|&pt| match (pt, name_of(pt)) {
            (_, Some(n)) if n.starts_with("pcmu/8000") => Some((Codec::Pcmu, pt)),
            (_, Some(n)) if n.starts_with("pcma/8000") => Some((Codec::Pcma, pt)),
            (0, None) => Some((Codec::Pcmu, 0)),
            (8, None) => Some((Codec::Pcma, 8)),
            _ => None,
        })
        .collect();
    let find = |prefix: &str, fixed: Option<u8>| {
        pts.iter().copied().find(|&pt| match name_of(pt) {
            Some(n) => n.starts_with(prefix),
            None => Some(pt) == fixed,
        })
    };
    let held = addr.is_unspecified();
    let direction = match media_dir.or(session_dir).unwrap_or(Direction::SendRecv) {
        _ if held => Direction::Inactive,
        d => d,
    };
    Ok(Media {
        addr,
        port,
        codecs,
        dtmf_pt: find("telephone-event/8000", None),
        cn_pt: find("cn/8000", Some(13)),
        direction,
    })
}

/// The codecs a side allows, in its order, from names ("PCMU", "PCMA");
/// None (no names): any, in the offer's order.
pub fn allowed(names: &[String]) -> Option<Vec<Codec>> {
    if names.is_empty() {
        return None;
    }
    Some(
        names
            .iter()
            .filter_map(|n| match n.to_ascii_uppercase().as_str() {
                "PCMU" => Some(Codec::Pcmu),
                "PCMA" => Some(Codec::Pcma),
                _ => None,
            })
            .collect(),
    )
}

/// The codec to answer `m` with: the first of `prefs` (the answerer's
/// order, as Asterisk answers in its peer's `allow` order) that `m`
/// offers; without `prefs`, the offer's first.
pub fn choose(m: &Media, prefs: Option<&[Codec]>) -> Option<(Codec, u8)> {
    match prefs {
        None => m.codecs.first().copied(),
        Some(p) => p
            .iter()
            .find_map(|p| m.codecs.iter().find(|(c, _)| c == p).copied()),
    }
}

pub fn parse_offer(text: &str) -> Result<Offer, SdpError> {
    parse_offer_for(text, None, true)
}

/// The offer `text` as a side allowing `prefs` (and RFC 4733 when `dtmf`) takes it.
pub fn parse_offer_for(text: &str, prefs: Option<&[Codec]>, dtmf: bool) -> Result<Offer, SdpError> {
    let m = parse_media(text)?;
    let (codec, codec_pt) = choose(&m, prefs).ok_or(SdpError::NoCommonCodec)?;
    Ok(Offer {
        addr: m.addr,
        port: m.port,
        codec,
        codec_pt,
        dtmf_pt: m.dtmf_pt.filter(|_| dtmf),
    })
}

/// One audio stream we describe (an offer or an answer): what we send
/// and take, at `addr:port`.
pub struct Describe<'a> {
    pub session: u64,
    pub version: u64,
    pub addr: IpAddr,
    pub port: u16,
    pub codecs: &'a [(Codec, u8)],
    pub dtmf_pt: Option<u8>,
    pub cn_pt: Option<u8>,
    pub direction: Direction,
}

/// The SDP text of `d` (ptime 20).
pub fn describe(d: &Describe) -> String {
    use std::fmt::Write;
    let ip = if d.addr.is_ipv4() { "IP4" } else { "IP6" };
    let (mut pts, mut attrs) = (String::new(), String::new());
    for (codec, pt) in d.codecs {
        let _ = write!(pts, " {pt}");
        let _ = write!(attrs, "a=rtpmap:{pt} {}/8000\r\n", codec.name());
    }
    if let Some(pt) = d.cn_pt {
        let _ = write!(pts, " {pt}");
        let _ = write!(attrs, "a=rtpmap:{pt} CN/8000\r\n");
    }
    if let Some(pt) = d.dtmf_pt {
        let _ = write!(pts, " {pt}");
        let _ = write!(
            attrs,
            "a=rtpmap:{pt} telephone-event/8000\r\na=fmtp:{pt} 0-16\r\n"
        );
    }
    format!(
        "v=0\r\no=asterism {s} {v} IN {ip} {addr}\r\ns=Asterism\r\nc=IN {ip} {addr}\r\nt=0 0\r\nm=audio {port} RTP/AVP{pts}\r\n{attrs}a=ptime:20\r\na={dir}\r\n",
        s = d.session,
        v = d.version,
        addr = d.addr,
        port = d.port,
        dir = d.direction.attribute(),
    )
}

/// The answer: one audio stream at `addr:port`.
pub fn answer(session: u64, addr: IpAddr, port: u16, offer: &Offer) -> String {
    describe(&Describe {
        session,
        version: session,
        addr,
        port,
        codecs: &[(offer.codec, offer.codec_pt)],
        dtmf_pt: offer.dtmf_pt,
        cn_pt: None,
        direction: Direction::SendRecv,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ZOIPER: &str = "v=0\r\no=Z 0 0 IN IP4 10.213.0.154\r\ns=Z\r\nc=IN IP4 10.213.0.154\r\nt=0 0\r\nm=audio 8000 RTP/AVP 3 110 8 0 98 101\r\na=rtpmap:110 speex/8000\r\na=rtpmap:98 iLBC/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\n";

    #[test]
    fn picks_the_first_g711_in_caller_order() {
        let o = parse_offer(ZOIPER).unwrap();
        assert_eq!(
            (o.codec, o.codec_pt, o.dtmf_pt, o.port),
            (Codec::Pcma, 8, Some(101), 8000)
        );
        assert_eq!(o.addr.to_string(), "10.213.0.154");
        let a = answer(1, "127.0.0.1".parse().unwrap(), 10000, &o);
        assert!(a.contains("m=audio 10000 RTP/AVP 8 101\r\n"), "{a}");
        assert!(a.contains("a=ptime:20"));
    }

    #[test]
    fn no_common_codec() {
        let s = "v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 4000 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n";
        assert_eq!(parse_offer(s), Err(SdpError::NoCommonCodec));
        assert_eq!(parse_offer("v=0\r\n"), Err(SdpError::NoAudio));
    }

    #[test]
    fn the_answerers_allow_order_and_dtmfmode() {
        let pcma_first = Some(&[Codec::Pcma, Codec::Pcmu][..]);
        let o = parse_offer_for(ZOIPER, pcma_first, false).unwrap();
        assert_eq!((o.codec, o.dtmf_pt), (Codec::Pcma, None));
        let pcmu_only = Some(&[Codec::Pcmu][..]);
        assert_eq!(
            parse_offer_for(ZOIPER, pcmu_only, true).unwrap().codec,
            Codec::Pcmu
        );
        let none = Some(&[][..]);
        assert_eq!(
            parse_offer_for(ZOIPER, none, true),
            Err(SdpError::NoCommonCodec)
        );
        assert_eq!(allowed(&["none".into()]), Some(vec![]));
        assert_eq!(allowed(&[]), None);
    }
}
