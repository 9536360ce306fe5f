//! Extension names and patterns as Asterisk matches and orders them
//! (pbx.c `ext_cmp`): a literal beats any pattern; patterns compare position
//! by position, the one whose element matches fewer characters sorting first
//! (`2` < `N` < `Z` < `X`), `.` (one or more) and `!` (zero or more) last.

use std::cmp::Ordering;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Elem {
    /// A set of allowed characters (a literal is a set of one).
    Set(Vec<u8>),
    /// `.`: one or more of anything.
    OneOrMore,
    /// `!`: zero or more of anything.
    ZeroOrMore,
}

impl Elem {
    /// How many characters this element matches (its specificity).
    fn weight(&self) -> usize {
        match self {
            Elem::Set(s) => s.len(),
            Elem::OneOrMore => 0x1_0000,
            Elem::ZeroOrMore => 0x1_0001,
        }
    }

    fn first(&self) -> u8 {
        match self {
            Elem::Set(s) => s.first().copied().unwrap_or(0),
            _ => 0,
        }
    }

    fn matches(&self, c: u8) -> bool {
        match self {
            Elem::Set(s) => s.contains(&c),
            _ => true,
        }
    }
}

/// An extension: a literal name (`61`, `s`, `h`) or a `_` pattern.
/// Dashes are "fluff" as in Asterisk: `555-1234` is the extension 5551234
/// (shown as written), except inside a `[…]` set.
#[derive(Debug, Clone)]
pub struct Pattern {
    text: String,
    /// The name without fluff: what is matched and compared.
    key: String,
    elems: Option<Vec<Elem>>,
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl Eq for Pattern {}

/// `text` without the dashes outside `[…]`.
fn without_fluff(text: &str) -> String {
    let mut depth = 0;
    text.chars()
        .filter(|&c| {
            match c {
                '[' => depth += 1,
                ']' => depth = 0,
                '-' if depth == 0 => return false,
                _ => {}
            }
            true
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError {
    pub offset: usize,
    pub message: &'static str,
}

impl Pattern {
    pub fn parse(text: &str) -> Result<Pattern, PatternError> {
        if text.is_empty() {
            return Err(PatternError {
                offset: 0,
                message: "empty extension",
            });
        }
        let Some(body) = text.strip_prefix('_') else {
            return Ok(Pattern {
                text: text.to_owned(),
                key: without_fluff(text),
                elems: None,
            });
        };
        let bytes = body.as_bytes();
        let mut elems = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            let c = bytes[i];
            let e = match c.to_ascii_uppercase() {
                b'X' => Elem::Set((b'0'..=b'9').collect()),
                b'Z' => Elem::Set((b'1'..=b'9').collect()),
                b'N' => Elem::Set((b'2'..=b'9').collect()),
                b'.' => Elem::OneOrMore,
                b'!' => Elem::ZeroOrMore,
                b'[' => {
                    let close = bytes[i..]
                        .iter()
                        .position(|&b| b == b']')
                        .ok_or(PatternError {
                            offset: i + 1,
                            message: "unterminated [ in pattern",
                        })?;
                    let set = parse_set(&bytes[i + 1..i + close]);
                    if set.is_empty() {
                        return Err(PatternError {
                            offset: i + 1,
                            message: "empty [] in pattern",
                        });
                    }
                    i += close;
                    Elem::Set(set)
                }
                b'-' | b' ' => {
                    i += 1;
                    continue; // Asterisk ignores dashes (and spaces) in patterns.
                }
                _ => Elem::Set(vec![c]),
            };
            elems.push(e);
            i += 1;
        }
        Ok(Pattern {
            text: text.to_owned(),
            key: without_fluff(text),
            elems: Some(elems),
        })
    }

    /// As written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// As matched: without fluff.
    pub fn key(&self) -> &str {
        &self.key
    }

    pub fn is_pattern(&self) -> bool {
        self.elems.is_some()
    }

    /// Whether more digits after `number` could make it this extension
    /// (`5` against `_5XX`): what overlap dialling waits for.
    pub fn can_extend(&self, number: &str) -> bool {
        let Some(elems) = &self.elems else {
            return self.key.len() > number.len() && self.key.starts_with(number);
        };
        // States: how many elements are done; '.' is one element then '!'.
        let n = elems.len();
        let mut states = vec![false; n + 1];
        let close = |states: &mut Vec<bool>| {
            for i in 0..n {
                if states[i] && matches!(elems[i], Elem::ZeroOrMore) {
                    states[i + 1] = true;
                }
            }
        };
        states[0] = true;
        close(&mut states);
        for &c in number.as_bytes() {
            let mut next = vec![false; n + 1];
            for i in 0..n {
                if !states[i] {
                    continue;
                }
                match &elems[i] {
                    Elem::Set(_) if elems[i].matches(c) => next[i + 1] = true,
                    Elem::Set(_) => {}
                    // Both stay in place (more may follow) and move on.
                    Elem::OneOrMore | Elem::ZeroOrMore => {
                        next[i] = true;
                        next[i + 1] = true;
                    }
                }
            }
            states = next;
            close(&mut states);
            if !states.iter().any(|&s| s) {
                return false;
            }
        }
        states[..n].iter().any(|&s| s)
    }

    /// Whether `number` is this extension (literals: exactly; patterns: fully).
    pub fn matches(&self, number: &str) -> bool {
        match &self.elems {
            None => self.key == number,
            Some(elems) => match_from(elems, number.as_bytes()),
        }
    }
}

fn parse_set(inner: &[u8]) -> Vec<u8> {
    let mut set = Vec::new();
    let mut j = 0;
    while j < inner.len() {
        if j + 2 < inner.len() && inner[j + 1] == b'-' {
            let (a, b) = (inner[j].min(inner[j + 2]), inner[j].max(inner[j + 2]));
            set.extend(a..=b);
            j += 3;
        } else {
            set.push(inner[j]);
            j += 1;
        }
    }
    set.sort_unstable();
    set.dedup();
    set
}

/// Whole-string match by dynamic programming: O(elements × length), so no
/// pattern (however many `.` and `!`) can make matching slow.
fn match_from(elems: &[Elem], s: &[u8]) -> bool {
    // Without wildcards a pattern matches only numbers of its own length.
    let wild = elems.iter().any(|e| !matches!(e, Elem::Set(_)));
    if !wild {
        return elems.len() == s.len() && elems.iter().zip(s).all(|(e, &c)| e.matches(c));
    }
    // reach[j]: the elements so far can consume exactly s[..j].
    let mut reach = vec![false; s.len() + 1];
    let mut next = vec![false; s.len() + 1];
    reach[0] = true;
    for e in elems {
        next.iter_mut().for_each(|x| *x = false);
        match e {
            Elem::Set(_) => {
                for j in 0..s.len() {
                    if reach[j] && e.matches(s[j]) {
                        next[j + 1] = true;
                    }
                }
            }
            Elem::OneOrMore | Elem::ZeroOrMore => {
                let mut any = false;
                for j in 0..=s.len() {
                    if any || (reach[j] && matches!(e, Elem::ZeroOrMore)) {
                        next[j] = true;
                    }
                    any |= reach[j];
                }
            }
        }
        std::mem::swap(&mut reach, &mut next);
        if !reach.iter().any(|&r| r) {
            return false;
        }
    }
    reach[s.len()]
}

impl Ord for Pattern {
    fn cmp(&self, other: &Self) -> Ordering {
        match (&self.elems, &other.elems) {
            (None, None) => self.key.cmp(&other.key),
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
            (Some(a), Some(b)) => {
                for (x, y) in a.iter().zip(b) {
                    let o = x.weight().cmp(&y.weight()).then(x.first().cmp(&y.first()));
                    if o != Ordering::Equal {
                        return o;
                    }
                }
                a.len().cmp(&b.len()).then_with(|| self.key.cmp(&other.key))
            }
        }
    }
}

impl PartialOrd for Pattern {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Pattern {
        Pattern::parse(s).unwrap()
    }

    #[test]
    fn classes_and_wildcards() {
        assert!(p("_X").matches("7") && !p("_X").matches("77"));
        assert!(p("_Z").matches("1") && !p("_Z").matches("0"));
        assert!(p("_N").matches("2") && !p("_N").matches("1"));
        assert!(p("_[1-5]").matches("3") && !p("_[1-5]").matches("6"));
        assert!(p("_[a-z]").matches("q"));
        assert!(p("_9.").matches("91") && !p("_9.").matches("9"));
        assert!(p("_9!").matches("9") && p("_9!").matches("9123"));
        assert!(p("_NXX-XXXX").matches("5551234"));
        assert!(p("61").matches("61") && !p("61").matches("611"));
        assert!(p("555-1234").matches("5551234"), "dashes are fluff");
        assert_eq!(p("555-1234"), p("5551234"));
        assert_eq!(p("555-1234").as_str(), "555-1234");
        assert!(p("_[0-9]X").matches("55"), "not inside a set");
    }

    #[test]
    fn asterisk_ordering() {
        let mut v = [
            p("_X."),
            p("_61X"),
            p("_6XX"),
            p("612"),
            p("_NXX"),
            p("_6!"),
            p("_[6-7]XX"),
        ];
        v.sort();
        let order: Vec<&str> = v.iter().map(|x| x.as_str()).collect();
        assert_eq!(
            order,
            vec!["612", "_61X", "_6XX", "_6!", "_[6-7]XX", "_NXX", "_X."]
        );
    }

    #[test]
    fn numbers_that_more_digits_could_complete() {
        assert!(p("_5XX").can_extend("5") && p("_5XX").can_extend("55"));
        assert!(!p("_5XX").can_extend("555") && !p("_5XX").can_extend("6"));
        assert!(p("_9.").can_extend("9") && p("_9.").can_extend("91"));
        assert!(p("_X!").can_extend("1"));
        assert!(p("5551").can_extend("555") && !p("5551").can_extend("5551"));
        assert!(p("_[2-4]1").can_extend("3") && !p("_[2-4]1").can_extend("5"));
    }

    #[test]
    fn errors_have_offsets() {
        assert_eq!(Pattern::parse("_[12").unwrap_err().offset, 1);
        assert!(Pattern::parse("").is_err());
    }
}
