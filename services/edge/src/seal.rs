//! Signatures on what an edge hands out and must recognise later, so the
//! hop between edges cannot be used by anyone else (an open relay is toll
//! fraud waiting to happen):
//!
//! - **flow tokens** (RFC 5626 §5.2 style): the phone flow a Route or
//!   Record-Route names, the peer edge a request from that phone goes back
//!   to, and an HMAC under the cluster secret over both and the owning edge's
//!   internal address — a token minted for one edge is worthless at another;
//! - **relay branches**: the branch of the Via an edge adds when it relays a
//!   request, an HMAC over the previous hop's branch and return address, so
//!   a response is passed on only to where the request really came from.
//!
//! Every edge of a cluster shares the secret (`ASTERISM_CLUSTER_SECRET`).

use asterism_sip::transport::{Flow, Kind};
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::net::{IpAddr, SocketAddr};

type HmacSha256 = Hmac<Sha256>;

/// Bytes of HMAC kept in a token or branch (80 bits: far beyond what can be
/// guessed over a network).
const TAG_BYTES: usize = 10;

/// Branches of the Vias this edge adds as a relay (its own transactions use
/// [`crate::LOOP_MARK`]).
pub const RELAY_BRANCH: &str = "z9hG4bK-asr-";

/// What a verified flow token says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowToken {
    /// The phone's flow on the owning edge (its NAT pinhole or connection).
    pub phone: Flow,
    /// The edge the dialog came from: where the phone's own requests go.
    pub peer: Option<Flow>,
}

/// Signs and checks with the cluster secret (the keyed HMAC state is made
/// once and cloned per use).
#[derive(Clone)]
pub struct Sealer {
    keyed: HmacSha256,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(..)")
    }
}

impl Sealer {
    pub fn new(secret: &[u8]) -> Sealer {
        // HMAC takes keys of any length: the fallback is never used.
        let keyed = <HmacSha256 as KeyInit>::new_from_slice(secret)
            .unwrap_or_else(|_| <HmacSha256 as KeyInit>::new(&Default::default()));
        Sealer { keyed }
    }

    /// A key of this process alone (a single edge needs no shared one).
    pub fn random() -> Sealer {
        Sealer::new(&rand::random::<[u8; 32]>())
    }

    fn mac(&self, parts: &[&[u8]]) -> HmacSha256 {
        let mut m = self.keyed.clone();
        for p in parts {
            m.update(&(p.len() as u32).to_be_bytes());
            m.update(p);
        }
        m
    }

    fn tag(&self, parts: &[&[u8]]) -> String {
        hex::encode(&self.mac(parts).finalize().into_bytes()[..TAG_BYTES])
    }

    fn verify(&self, parts: &[&[u8]], tag_hex: &str) -> bool {
        let Ok(tag) = hex::decode(tag_hex) else {
            return false;
        };
        tag.len() == TAG_BYTES && self.mac(parts).verify_truncated_left(&tag).is_ok()
    }

    /// The token for `phone`'s flow on the edge whose internal address is
    /// `owner`, with the peer edge its requests go back to, if any.
    pub fn token(&self, owner: &str, phone: &Flow, peer: Option<&Flow>) -> String {
        let phone = flow_text(phone);
        let peer = peer.map(flow_text).unwrap_or_default();
        let tag = self.tag(&[owner.as_bytes(), phone.as_bytes(), peer.as_bytes()]);
        format!("{phone}~{peer}~{tag}")
    }

    /// Check a token presented to the edge whose internal address is `owner`.
    pub fn open(&self, owner: &str, token: &str) -> Option<FlowToken> {
        let mut parts = token.splitn(3, '~');
        let (phone, peer, tag) = (parts.next()?, parts.next()?, parts.next()?);
        if !self.verify(&[owner.as_bytes(), phone.as_bytes(), peer.as_bytes()], tag) {
            return None;
        }
        Some(FlowToken {
            phone: parse_flow(phone)?,
            peer: if peer.is_empty() {
                None
            } else {
                Some(parse_flow(peer)?)
            },
        })
    }

    /// The branch of our Via on a relayed request whose previous hop put
    /// `branch` in its Via and is answered at `back`. Deterministic, so a
    /// CANCEL or ACK gets the branch of its INVITE.
    pub fn relay_branch(&self, branch: &str, back: &Flow) -> String {
        let back = flow_text(back);
        let tag = self.tag(&[branch.as_bytes(), back.as_bytes()]);
        format!("{RELAY_BRANCH}{tag}")
    }

    /// Whether `ours` (the top Via's branch of a response) is the branch we
    /// gave a request relayed from the hop (`branch`, `back`).
    pub fn relay_branch_ok(&self, ours: &str, branch: &str, back: &Flow) -> bool {
        let Some(tag) = ours.strip_prefix(RELAY_BRANCH) else {
            return false;
        };
        let back = flow_text(back);
        self.verify(&[branch.as_bytes(), back.as_bytes()], tag)
    }
}

/// `udp-10.0.0.7-5060`: transport, address and port of a flow.
pub fn flow_text(f: &Flow) -> String {
    let kind = match f.kind {
        Kind::Udp => "udp",
        Kind::Tcp => "tcp",
    };
    format!("{kind}-{}-{}", f.remote.ip(), f.remote.port())
}

pub fn parse_flow(text: &str) -> Option<Flow> {
    let (kind, rest) = text.split_once('-')?;
    let (ip, port) = rest.rsplit_once('-')?;
    let kind = match kind {
        "udp" => Kind::Udp,
        "tcp" => Kind::Tcp,
        _ => return None,
    };
    let ip: IpAddr = ip.parse().ok()?;
    Some(Flow {
        kind,
        remote: SocketAddr::new(ip, port.parse().ok()?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow(kind: Kind, addr: &str) -> Flow {
        Flow {
            kind,
            remote: addr.parse().unwrap(),
        }
    }

    #[test]
    fn flows_round_trip() {
        for f in [
            flow(Kind::Udp, "10.0.0.7:5060"),
            flow(Kind::Tcp, "[2001:db8::1]:5070"),
        ] {
            assert_eq!(parse_flow(&flow_text(&f)), Some(f));
        }
        assert_eq!(parse_flow("sctp-1.2.3.4-5"), None);
        assert_eq!(parse_flow("udp-nonsense-5"), None);
        assert_eq!(parse_flow("udp-1.2.3.4-99999"), None);
    }

    #[test]
    fn a_token_opens_only_at_its_edge_with_its_secret() {
        let s = Sealer::new(b"cluster");
        let phone = flow(Kind::Udp, "192.0.2.9:5062");
        let peer = flow(Kind::Udp, "10.1.0.3:5060");
        let t = s.token("10.1.0.2:5070", &phone, Some(&peer));
        let opened = s.open("10.1.0.2:5070", &t).unwrap();
        assert_eq!(opened.phone, phone);
        assert_eq!(opened.peer, Some(peer));
        assert!(s.open("10.1.0.4:5070", &t).is_none(), "another edge");
        assert!(Sealer::new(b"other").open("10.1.0.2:5070", &t).is_none());
        let no_peer = s.token("10.1.0.2:5070", &phone, None);
        assert_eq!(s.open("10.1.0.2:5070", &no_peer).unwrap().peer, None);
    }

    #[test]
    fn a_token_naming_another_flow_is_refused() {
        let s = Sealer::new(b"cluster");
        let t = s.token("e", &flow(Kind::Udp, "192.0.2.9:5062"), None);
        let forged = t.replacen("192.0.2.9", "203.0.113.1", 1);
        assert!(s.open("e", &forged).is_none());
        let tcp = t.replacen("udp", "tcp", 1);
        assert!(s.open("e", &tcp).is_none());
        assert!(s.open("e", "udp-192.0.2.9-5062").is_none(), "unsigned");
        assert!(s.open("e", "udp-192.0.2.9-5062~~").is_none());
    }

    #[test]
    fn relay_branches_are_stable_and_bound_to_their_return_address() {
        let s = Sealer::new(b"cluster");
        let back = flow(Kind::Udp, "10.0.0.1:5060");
        let b = s.relay_branch("z9hG4bK-asm-1", &back);
        assert_eq!(b, s.relay_branch("z9hG4bK-asm-1", &back));
        assert_ne!(b, s.relay_branch("z9hG4bK-asm-2", &back));
        assert!(b.starts_with(RELAY_BRANCH));
        assert!(s.relay_branch_ok(&b, "z9hG4bK-asm-1", &back));
        let elsewhere = flow(Kind::Udp, "203.0.113.5:5060");
        assert!(!s.relay_branch_ok(&b, "z9hG4bK-asm-1", &elsewhere));
        assert!(!s.relay_branch_ok("z9hG4bK-asr-0011", "z9hG4bK-asm-1", &back));
    }
}
