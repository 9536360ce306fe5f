//! How long a contact is bound (RFC 3261 §10.2.1.1, §10.3 step 7): the
//! Contact's `expires` parameter, else the Expires header, else the default;
//! 0 removes; below the floor is refused (423 with Min-Expires); above the
//! cap is reduced to the cap.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpiryPolicy {
    pub default: u32,
    pub min: u32,
    pub max: u32,
}

impl Default for ExpiryPolicy {
    fn default() -> Self {
        ExpiryPolicy {
            default: 60,
            min: 60,
            max: 60,
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum Granted {
    Remove,
    For(u32),
    TooBrief,
}

impl ExpiryPolicy {
    pub fn grant(&self, contact_param: Option<u32>, header: Option<u32>) -> Granted {
        match contact_param.or(header).unwrap_or(self.default) {
            0 => Granted::Remove,
            e if e < self.min => Granted::TooBrief,
            e => Granted::For(e.min(self.max)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_floor_and_cap() {
        let p = ExpiryPolicy {
            default: 60,
            min: 10,
            max: 60,
        };
        assert_eq!(p.grant(None, None), Granted::For(60));
        assert_eq!(p.grant(None, Some(3600)), Granted::For(60));
        assert_eq!(p.grant(Some(20), Some(3600)), Granted::For(20));
        assert_eq!(p.grant(Some(0), Some(60)), Granted::Remove);
        assert_eq!(p.grant(None, Some(0)), Granted::Remove);
        assert_eq!(p.grant(Some(5), None), Granted::TooBrief);
    }
}
