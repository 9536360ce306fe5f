//! SDP offer/answer for audio (RFC 3264, RFC 4566): read the caller's offer
//! (address, port, payload types, telephone-event), pick PCMU or PCMA in the
//! caller's order of preference, and write the answer with ptime 20.

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

pub fn parse_offer(text: &str) -> Result<Offer, SdpError> {
    let mut session_addr = None;
    let mut media_addr = None;
    let mut in_audio = false;
    let mut port = None;
    let mut pts: Vec<u8> = Vec::new();
    let mut rtpmap: Vec<(u8, String)> = Vec::new();
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
            "a" if in_audio => {
                if let Some(map) = value.strip_prefix("rtpmap:") {
                    let mut f = map.split_whitespace();
                    if let (Some(pt), Some(enc)) = (f.next().and_then(|p| p.parse().ok()), f.next())
                    {
                        rtpmap.push((pt, enc.to_ascii_lowercase()));
                    }
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
    let codec = pts.iter().find_map(|&pt| match (pt, name_of(pt)) {
        (_, Some(n)) if n.starts_with("pcmu/8000") => Some((Codec::Pcmu, pt)),
        (_, Some(n)) if n.starts_with("pcma/8000") => Some((Codec::Pcma, pt)),
        (0, None) => Some((Codec::Pcmu, 0)),
        (8, None) => Some((Codec::Pcma, 8)),
        _ => None,
    });
    let (codec, codec_pt) = codec.ok_or(SdpError::NoCommonCodec)?;
    let dtmf_pt = pts
        .iter()
        .copied()
        .find(|&pt| name_of(pt).is_some_and(|n| n.starts_with("telephone-event/8000")));
    Ok(Offer {
        addr,
        port,
        codec,
        codec_pt,
        dtmf_pt,
    })
}

/// The answer: one audio stream at `addr:port`.
pub fn answer(session: u64, addr: IpAddr, port: u16, offer: &Offer) -> String {
    let ip = if addr.is_ipv4() { "IP4" } else { "IP6" };
    let mut pts = offer.codec_pt.to_string();
    let mut attrs = format!(
        "a=rtpmap:{} {}/8000\r\n",
        offer.codec_pt,
        offer.codec.name()
    );
    if let Some(d) = offer.dtmf_pt {
        pts.push_str(&format!(" {d}"));
        attrs.push_str(&format!(
            "a=rtpmap:{d} telephone-event/8000\r\na=fmtp:{d} 0-16\r\n"
        ));
    }
    format!(
        "v=0\r\no=asterism {session} {session} IN {ip} {addr}\r\ns=Asterism\r\nc=IN {ip} {addr}\r\nt=0 0\r\nm=audio {port} RTP/AVP {pts}\r\n{attrs}a=ptime:20\r\na=sendrecv\r\n"
    )
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
}
