//! `permit=` / `deny=` lists of sip.conf, read and applied as Asterisk's
//! `acl.c` does: rules in the order written, each an address with a mask
//! (`192.168.1.0/255.255.255.0`, `10.0.0.0/8`, a bare address for one host,
//! IPv6 alike, `!` in front to match everything outside the network); an
//! address no rule matches is permitted, otherwise the last matching rule
//! decides.

use std::net::IpAddr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sense {
    Permit,
    Deny,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    sense: Sense,
    network: IpAddr,
    prefix: u8,
    /// `!network`: the rule matches addresses outside it.
    negated: bool,
}

/// The rules of one peer, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Acl(Vec<Rule>);

impl Acl {
    /// Add a `permit=`/`deny=` value; the reason when it is not one.
    pub fn push(&mut self, sense: Sense, value: &str) -> Result<(), String> {
        let v = value.trim();
        let (negated, v) = match v.strip_prefix('!') {
            Some(rest) => (true, rest.trim()),
            None => (false, v),
        };
        let (addr, mask) = match v.split_once('/') {
            Some((a, m)) => (a.trim(), Some(m.trim())),
            None => (v, None),
        };
        let network: IpAddr = addr
            .parse()
            .map_err(|_| format!("'{addr}' is not an IP address"))?;
        let bits: u8 = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match mask {
            None => bits,
            Some(m) if m.chars().all(|c| c.is_ascii_digit()) => m
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= bits)
                .ok_or_else(|| format!("prefix /{m} is out of range"))?,
            Some(m) => {
                let mask: IpAddr = m.parse().map_err(|_| format!("'{m}' is not a netmask"))?;
                prefix_of(&mask, network.is_ipv4())
                    .ok_or_else(|| format!("'{m}' is not a contiguous netmask"))?
            }
        };
        self.0.push(Rule {
            sense,
            network,
            prefix,
            negated,
        });
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `ip` may use the peer (Asterisk's `ast_apply_ha`).
    pub fn permits(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        let mut verdict = Sense::Permit;
        for r in &self.0 {
            if contains(r.network, r.prefix, ip) != r.negated {
                verdict = r.sense;
            }
        }
        verdict == Sense::Permit
    }
}

fn prefix_of(mask: &IpAddr, v4: bool) -> Option<u8> {
    let bits: u128 = match (mask, v4) {
        (IpAddr::V4(m), true) => u128::from(u32::from(*m)) << 96,
        (IpAddr::V6(m), false) => u128::from(*m),
        _ => return None,
    };
    let ones = bits.leading_ones();
    // Contiguous: nothing set after the leading ones.
    (bits.checked_shl(ones).unwrap_or(0) == 0).then_some(ones as u8)
}

fn contains(network: IpAddr, prefix: u8, ip: IpAddr) -> bool {
    let (n, a, width) = match (network, ip) {
        (IpAddr::V4(n), IpAddr::V4(a)) => (u128::from(u32::from(n)), u128::from(u32::from(a)), 32),
        (IpAddr::V6(n), IpAddr::V6(a)) => (u128::from(n), u128::from(a), 128),
        _ => return false,
    };
    if prefix == 0 {
        return true;
    }
    let shift = width - u32::from(prefix);
    (n >> shift) == (a >> shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acl(rules: &[(Sense, &str)]) -> Acl {
        let mut a = Acl::default();
        for (s, v) in rules {
            a.push(*s, v).unwrap();
        }
        a
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_classic_deny_all_then_permit_the_lan() {
        let a = acl(&[
            (Sense::Deny, "0.0.0.0/0.0.0.0"),
            (Sense::Permit, "192.168.1.0/255.255.255.0"),
        ]);
        assert!(a.permits(ip("192.168.1.77")));
        assert!(!a.permits(ip("203.0.113.5")));
        assert!(a.permits(ip("::ffff:192.168.1.9")), "v4-mapped");
    }

    #[test]
    fn no_rules_or_no_match_permits_and_the_last_match_wins() {
        assert!(Acl::default().permits(ip("198.51.100.1")));
        let a = acl(&[(Sense::Permit, "10.0.0.0/8"), (Sense::Deny, "10.1.0.0/16")]);
        assert!(a.permits(ip("10.2.3.4")));
        assert!(!a.permits(ip("10.1.3.4")));
        assert!(a.permits(ip("172.16.0.1")));
        let one = acl(&[(Sense::Deny, "0.0.0.0/0"), (Sense::Permit, "203.0.113.5")]);
        assert!(one.permits(ip("203.0.113.5")));
        assert!(!one.permits(ip("203.0.113.6")));
    }

    #[test]
    fn negation_and_ipv6() {
        let a = acl(&[(Sense::Deny, "!192.168.0.0/16")]);
        assert!(a.permits(ip("192.168.4.4")));
        assert!(!a.permits(ip("8.8.8.8")));
        let six = acl(&[(Sense::Deny, "::/0"), (Sense::Permit, "2001:db8::/32")]);
        assert!(six.permits(ip("2001:db8::1")));
        assert!(!six.permits(ip("2001:db9::1")));
    }

    #[test]
    fn bad_values_say_why() {
        let mut a = Acl::default();
        assert!(a.push(Sense::Deny, "nonsense/8").is_err());
        assert!(a.push(Sense::Deny, "10.0.0.0/33").is_err());
        assert!(a.push(Sense::Deny, "10.0.0.0/255.0.255.0").is_err());
        assert!(a.push(Sense::Deny, "10.0.0.0/ffff::").is_err());
    }
}
