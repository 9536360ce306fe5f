//! Header parameters: `;name[=value]` lists with optional LWS around `;` and
//! `=` (RFC 3261 §25.1 SEMI and EQUAL), values as tokens, hosts or quoted strings.

use crate::error::ParseError;
use crate::text::{is_token, split_outside, trim_lws};
use std::fmt;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(Vec<(String, Option<String>)>);

impl Params {
    /// Parse the text after the first `;` (without it). Empty parameters
    /// (`;;`) and names that are not tokens are errors.
    pub fn parse(s: &str, what: &'static str) -> Result<Params, ParseError> {
        let mut out = Vec::new();
        for p in split_outside(s, b';').map_err(|r| ParseError::new(what, r))? {
            let p = trim_lws(p);
            let (k, v) = match p.split_once('=') {
                Some((k, v)) => (trim_lws(k), Some(trim_lws(v))),
                None => (p, None),
            };
            if !is_token(k) {
                return Err(ParseError::new(what, "bad parameter name"));
            }
            if let Some(v) = v {
                let ok = if v.starts_with('"') {
                    crate::text::quoted_end(v) == Some(v.len() - 1)
                } else {
                    !v.is_empty()
                        && v.bytes()
                            .all(|c| !c.is_ascii_whitespace() && c != b'"' && c != b',')
                };
                if !ok {
                    return Err(ParseError::new(what, "bad parameter value"));
                }
            }
            out.push((k.to_owned(), v.map(str::to_owned)));
        }
        Ok(Params(out))
    }

    pub fn get(&self, name: &str) -> Option<Option<&str>> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_deref())
    }

    pub fn value(&self, name: &str) -> Option<&str> {
        self.get(name).flatten()
    }

    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Set or replace a parameter.
    pub fn set(&mut self, name: &str, value: Option<String>) {
        match self
            .0
            .iter_mut()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
        {
            Some(slot) => slot.1 = value,
            None => self.0.push((name.to_owned(), value)),
        }
    }

    pub fn remove(&mut self, name: &str) {
        self.0.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_deref()))
    }
}

impl fmt::Display for Params {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (k, v) in &self.0 {
            match v {
                Some(v) => write!(f, ";{k}={v}")?,
                None => write!(f, ";{k}")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lws_around_separators() {
        let p = Params::parse(" newparam =\r\n newvalue ; secondparam ; q = 0.33", "x").unwrap();
        assert_eq!(p.value("newparam"), Some("newvalue"));
        assert!(p.has("secondparam"));
        assert_eq!(p.value("q"), Some("0.33"));
        assert_eq!(p.to_string(), ";newparam=newvalue;secondparam;q=0.33");
    }

    #[test]
    fn empty_parameter_is_an_error() {
        assert!(Params::parse(";;", "x").is_err());
    }

    #[test]
    fn quoted_values() {
        let p = Params::parse(r#"a="x;y""#, "x").unwrap();
        assert_eq!(p.value("a"), Some(r#""x;y""#));
    }
}
