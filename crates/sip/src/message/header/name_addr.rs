//! name-addr / addr-spec headers: From, To, Contact, Route, Record-Route
//! (RFC 3261 §20.10, §25.1). Display names may be quoted (with escapes) or a
//! run of tokens; without `<>` every `;param` belongs to the header.

use super::params::Params;
use crate::error::ParseError;
use crate::text::{is_token, quoted_end, trim_lws};
use crate::uri::Uri;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAddr {
    /// Display name as written (quotes kept when quoted).
    pub display: Option<String>,
    pub uri: Uri,
    pub params: Params,
}

impl NameAddr {
    pub fn parse(s: &str, what: &'static str) -> Result<NameAddr, ParseError> {
        let s = trim_lws(s);
        let (display, rest) = if s.starts_with('"') {
            let end = quoted_end(s).ok_or(ParseError::new(what, "unterminated quote"))?;
            let rest = trim_lws(&s[end + 1..]);
            if !rest.starts_with('<') {
                return Err(ParseError::new(what, "display name without <URI>"));
            }
            (Some(s[..=end].to_owned()), rest)
        } else if let Some(lt) = s.find('<') {
            let name = trim_lws(&s[..lt]);
            if !name.is_empty() && !name.split_ascii_whitespace().all(is_token) {
                return Err(ParseError::new(what, "unquoted display name is not tokens"));
            }
            ((!name.is_empty()).then(|| name.to_owned()), &s[lt..])
        } else {
            (None, s)
        };
        let (uri_text, params_text) = if let Some(inner) = rest.strip_prefix('<') {
            let gt = inner.find('>').ok_or(ParseError::new(what, "missing >"))?;
            let after = trim_lws(&inner[gt + 1..]);
            let params = match after.strip_prefix(';') {
                Some(p) => Some(p),
                None if after.is_empty() => None,
                None => return Err(ParseError::new(what, "junk after >")),
            };
            // No LWS is allowed inside the brackets (RFC 4475 §3.1.2.14).
            (&inner[..gt], params)
        } else {
            match rest.split_once(';') {
                Some((u, p)) => (trim_lws(u), Some(p)),
                None => (rest, None),
            }
        };
        let bare = !rest.starts_with('<');
        if bare && (uri_text.contains('?') || uri_text.contains(',')) {
            return Err(ParseError::new(what, "URI with ? or , must be in <>"));
        }
        let uri = Uri::parse(uri_text).map_err(|e| ParseError::new(what, e.reason))?;
        let params = match params_text {
            Some(p) => Params::parse(p, what)?,
            None => Params::default(),
        };
        Ok(NameAddr {
            display,
            uri,
            params,
        })
    }

    /// `"display" <uri>` without parameters.
    pub fn new(display: Option<&str>, uri: Uri) -> NameAddr {
        NameAddr {
            display: display
                .filter(|d| !d.is_empty())
                .map(|d| format!("\"{}\"", d.replace('\\', "\\\\").replace('"', "\\\""))),
            uri,
            params: Params::default(),
        }
    }

    pub fn tag(&self) -> Option<&str> {
        self.params.value("tag")
    }

    /// The same with `tag` set.
    pub fn with_tag(mut self, tag: &str) -> NameAddr {
        self.params.set("tag", Some(tag.to_owned()));
        self
    }
}

impl fmt::Display for NameAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(d) = &self.display {
            write!(f, "{d} ")?;
        }
        write!(f, "<{}>{}", self.uri, self.params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zoiper_from_round_trip() {
        let s = "<sip:nlys@10.255.150.110;transport=UDP>;tag=30ca253f";
        let n = NameAddr::parse(s, "From").unwrap();
        assert_eq!(n.tag(), Some("30ca253f"));
        assert_eq!(n.uri.user.as_deref(), Some("nlys"));
        assert_eq!(n.to_string(), s);
    }

    #[test]
    fn addr_spec_params_belong_to_header() {
        let n = NameAddr::parse("sip:caller@example.net;tag=134161461246", "From").unwrap();
        assert_eq!(n.tag(), Some("134161461246"));
        assert!(n.uri.params.is_empty());
    }

    #[test]
    fn quoted_display_with_escapes() {
        let n = NameAddr::parse(
            r#""J Rosenberg \\\""       <sip:jdrosen@example.com>  ;  tag = 98asjd8"#,
            "From",
        )
        .unwrap();
        assert_eq!(n.tag(), Some("98asjd8"));
        let n = NameAddr::parse(r#""caller"<sip:caller@example.com>;tag=323"#, "From").unwrap();
        assert_eq!(n.display.as_deref(), Some("\"caller\""));
    }

    #[test]
    fn built_with_a_quoted_display_and_a_tag() {
        let uri = Uri::parse("sip:62@127.0.0.1:5060").unwrap();
        let n = NameAddr::new(Some("Bob \"B\""), uri).with_tag("abc");
        assert_eq!(
            n.to_string(),
            r#""Bob \"B\"" <sip:62@127.0.0.1:5060>;tag=abc"#
        );
        let back = NameAddr::parse(&n.to_string(), "From").unwrap();
        assert_eq!(back.tag(), Some("abc"));
    }

    #[test]
    fn malformed_forms() {
        assert!(NameAddr::parse(r#""Mr J. User <sip:j.user@example.com>"#, "To").is_err());
        assert!(NameAddr::parse("sip:user@example.com?Route=%3Csip:x%3E", "Contact").is_err());
        assert!(NameAddr::parse("Bell, Alexander <sip:a.g.bell@example.com>", "From").is_err());
        assert!(NameAddr::parse("sip:Watson @ example.com", "To").is_err());
        assert!(NameAddr::parse(r#""Watson, Thomas" < sip:t.watson@example.org >"#, "To").is_err());
        assert!(NameAddr::parse(r#""Joe" <sip:joe@example.org>;;;;"#, "Contact").is_err());
    }
}
