//! Typed settings from `ASTERISM_*` variables. Values are read through
//! [`Strings`] (the process environment in binaries, a map in tests); every
//! invalid value is reported with its variable name.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

/// A source of named string settings.
pub trait Strings: Sync {
    fn get(&self, key: &str) -> Option<String>;
}

/// The process environment.
pub struct ProcessEnv;

impl Strings for ProcessEnv {
    fn get(&self, key: &str) -> Option<String> {
        std::env::var(key).ok().filter(|v| !v.is_empty())
    }
}

impl Strings for HashMap<String, String> {
    fn get(&self, key: &str) -> Option<String> {
        HashMap::get(self, key).cloned()
    }
}

impl Strings for HashMap<&str, &str> {
    fn get(&self, key: &str) -> Option<String> {
        HashMap::get(self, key).map(|v| v.to_string())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvError {
    pub key: String,
    pub value: String,
    pub reason: String,
}

impl fmt::Display for EnvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={:?}: {}", self.key, self.value, self.reason)
    }
}

impl std::error::Error for EnvError {}

/// Collects every invalid setting rather than stopping at the first.
#[derive(Default)]
pub struct Reader<'a> {
    errors: Vec<EnvError>,
    source: Option<&'a dyn Strings>,
}

impl<'a> Reader<'a> {
    pub fn new(source: &'a dyn Strings) -> Self {
        Reader {
            errors: Vec::new(),
            source: Some(source),
        }
    }

    pub fn string(&mut self, key: &str) -> Option<String> {
        self.source.and_then(|s| s.get(key))
    }

    /// Parse `key` if set, else `default`; a bad value is recorded.
    pub fn parse<T: FromStr>(&mut self, key: &str, default: T) -> T
    where
        T::Err: fmt::Display,
    {
        match self.string(key) {
            None => default,
            Some(v) => match v.parse::<T>() {
                Ok(t) => t,
                Err(e) => {
                    self.errors.push(EnvError {
                        key: key.to_owned(),
                        value: v,
                        reason: e.to_string(),
                    });
                    default
                }
            },
        }
    }

    /// Record a problem found while interpreting `key`.
    pub fn invalid(&mut self, key: &str, value: &str, reason: impl Into<String>) {
        self.errors.push(EnvError {
            key: key.to_owned(),
            value: value.to_owned(),
            reason: reason.into(),
        });
    }

    pub fn finish(self) -> Result<(), Vec<EnvError>> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(self.errors)
        }
    }
}

/// All errors on one line, for a start-up failure message.
pub fn describe(errors: &[EnvError]) -> String {
    errors
        .iter()
        .map(|e| format!("invalid setting {e}"))
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_defaults_and_reports_every_bad_value() {
        let env: HashMap<&str, &str> = [("A", "12"), ("B", "x"), ("C", "y")].into();
        let mut r = Reader::new(&env);
        assert_eq!(r.parse::<u32>("A", 1), 12);
        assert_eq!(r.parse::<u32>("B", 1), 1);
        assert_eq!(r.parse::<u32>("C", 2), 2);
        assert_eq!(r.parse::<u32>("D", 3), 3);
        let errs = r.finish().unwrap_err();
        assert_eq!(errs.len(), 2);
        assert!(errs[0].to_string().starts_with("B=\"x\""));
    }
}
