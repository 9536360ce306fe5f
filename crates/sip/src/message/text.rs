//! Lexical helpers for the SIP grammar (RFC 3261 §25.1): tokens, linear white
//! space, quoted strings, and splitting header values on separators that are
//! not inside quotes or angle brackets.

/// `token` characters of RFC 3261 §25.1.
pub fn is_token_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&c)
}

pub fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token_char)
}

/// Trim SP, HTAB, CR and LF from both ends.
pub fn trim_lws(s: &str) -> &str {
    s.trim_matches(|c| c == ' ' || c == '\t' || c == '\r' || c == '\n')
}

/// Split `s` on `sep`, ignoring separators inside a quoted string (with `\`
/// escapes) or inside `<…>`. Fails on an unterminated quote or bracket.
pub fn split_outside(s: &str, sep: u8) -> Result<Vec<&str>, &'static str> {
    let bytes = s.as_bytes();
    let mut parts = Vec::new();
    let mut start = 0;
    let mut in_quote = false;
    let mut in_angle = false;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if in_quote {
            match c {
                b'\\' => i += 1,
                b'"' => in_quote = false,
                _ => {}
            }
        } else if in_angle {
            if c == b'>' {
                in_angle = false;
            }
        } else if c == b'"' {
            in_quote = true;
        } else if c == b'<' {
            in_angle = true;
        } else if c == sep {
            parts.push(&s[start..i]);
            start = i + 1;
        }
        i += 1;
    }
    if in_quote {
        return Err("unterminated quoted string");
    }
    if in_angle {
        return Err("unterminated <");
    }
    parts.push(&s[start..]);
    Ok(parts)
}

/// Position of the closing quote of a quoted string starting at `s[0] == '"'`.
pub fn quoted_end(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut i = 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return Some(i),
            _ => i += 1,
        }
    }
    None
}

/// Remove all linear white space from `s` (for grammar positions where only
/// SWS is allowed, such as around `/` in a Via's sent-protocol).
pub fn strip_ws(s: &str) -> String {
    s.chars().filter(|c| !c.is_ascii_whitespace()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_outside_quotes_and_brackets() {
        let v = split_outside(r#""a, b" <sip:x@y;p=1,2>, <sip:z>"#, b',').unwrap();
        assert_eq!(v, vec![r#""a, b" <sip:x@y;p=1,2>"#, " <sip:z>"]);
    }

    #[test]
    fn unterminated_quote_is_an_error() {
        assert!(split_outside(r#""abc <sip:x>"#, b',').is_err());
    }

    #[test]
    fn escaped_quote_does_not_end_string() {
        assert_eq!(quoted_end(r#""a\"b" x"#), Some(5));
    }

    #[test]
    fn token_chars() {
        assert!(is_token("z9hG4bK-.!%*_+`'~"));
        assert!(!is_token("a b"));
        assert!(!is_token(""));
    }
}
