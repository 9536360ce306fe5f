//! `${VAR}`, `${VAR:offset:length}`, `${FUNC(args)}` and `$[expression]`
//! expansion, innermost first, as Asterisk's pbx_substitute_variables does.

use super::expr;

/// Where names are looked up.
pub trait Scope {
    fn var(&self, name: &str) -> Option<String>;
    /// A dialplan function other than the built-in LEN and IF.
    fn function(&self, name: &str, args: &str) -> Option<String>;
}

/// Limit on nesting, so no dialplan line can exhaust the stack.
const MAX_DEPTH: usize = 32;

pub fn expand(s: &str, scope: &dyn Scope) -> String {
    expand_depth(s, scope, 0)
}

fn expand_depth(s: &str, scope: &dyn Scope, depth: usize) -> String {
    if depth > MAX_DEPTH || !s.contains('$') {
        return s.to_owned();
    }
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < b.len() {
        let open = match (b[i], b.get(i + 1)) {
            (b'$', Some(b'{')) => Some((b'{', b'}')),
            (b'$', Some(b'[')) => Some((b'[', b']')),
            _ => None,
        };
        let Some((o, c)) = open else {
            let ch = s[i..].chars().next().unwrap_or('\u{fffd}');
            out.push(ch);
            i += ch.len_utf8();
            continue;
        };
        let Some(end) = matching(b, i + 2, o, c) else {
            out.push_str(&s[i..]);
            break;
        };
        let inner = expand_depth(&s[i + 2..end], scope, depth + 1);
        if o == b'{' {
            out.push_str(&resolve(&inner, scope));
        } else {
            out.push_str(&expr::eval(&inner).unwrap_or_default());
        }
        i = end + 1;
    }
    out
}

/// Index of the bracket closing the one opened just before `from`.
fn matching(b: &[u8], from: usize, open: u8, close: u8) -> Option<usize> {
    let mut depth = 1;
    for (k, &x) in b.iter().enumerate().skip(from) {
        if x == open {
            depth += 1;
        } else if x == close {
            depth -= 1;
            if depth == 0 {
                return Some(k);
            }
        }
    }
    None
}

fn resolve(inner: &str, scope: &dyn Scope) -> String {
    if let Some(p) = inner.find('(') {
        let name = &inner[..p];
        if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            let close = matching(inner.as_bytes(), p + 1, b'(', b')').unwrap_or(inner.len());
            let value = function(name, &inner[p + 1..close], scope);
            return match inner.get(close + 1..).and_then(|r| r.strip_prefix(':')) {
                Some(spec) => substring(&value, spec),
                None => value,
            };
        }
    }
    match inner.split_once(':') {
        Some((name, spec)) => substring(&scope.var(name).unwrap_or_default(), spec),
        None => scope.var(inner).unwrap_or_default(),
    }
}

fn function(name: &str, args: &str, scope: &dyn Scope) -> String {
    match name.to_ascii_uppercase().as_str() {
        "LEN" => args.chars().count().to_string(),
        "IF" => {
            let (cond, branches) = args.split_once('?').unwrap_or((args, ""));
            let (yes, no) = branches.split_once(':').unwrap_or((branches, ""));
            if expr::truthy(cond) { yes } else { no }.trim().to_owned()
        }
        _ => scope.function(name, args).unwrap_or_default(),
    }
}

/// `offset[:length]` with Asterisk's negative forms.
fn substring(value: &str, spec: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    let n = chars.len() as i64;
    let (off, len) = spec.split_once(':').unwrap_or((spec, ""));
    let off: i64 = off.trim().parse().unwrap_or(0);
    let start = if off < 0 {
        (n + off).max(0)
    } else {
        off.min(n)
    };
    let end = match len.trim().parse::<i64>() {
        Ok(l) if l < 0 => (n + l).max(start),
        Ok(l) => (start + l).min(n),
        Err(_) => n,
    };
    chars[start as usize..end.max(start) as usize]
        .iter()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct M(HashMap<&'static str, &'static str>);

    impl Scope for M {
        fn var(&self, name: &str) -> Option<String> {
            self.0.get(name).map(|s| s.to_string())
        }
        fn function(&self, name: &str, args: &str) -> Option<String> {
            (name == "CALLERID" && args == "num").then(|| "62".to_owned())
        }
    }

    fn x(s: &str) -> String {
        let m = M([
            ("EXTEN", "5551234"),
            ("A", "1"),
            ("NAME", "EXTEN"),
            ("DIALSTATUS", "BUSY"),
        ]
        .into());
        expand(s, &m)
    }

    #[test]
    fn variables_and_substrings() {
        assert_eq!(x("${EXTEN}"), "5551234");
        assert_eq!(x("${EXTEN:1}"), "551234");
        assert_eq!(x("${EXTEN:0:3}"), "555");
        assert_eq!(x("${EXTEN:-4}"), "1234");
        assert_eq!(x("${EXTEN:-4:2}"), "12");
        assert_eq!(x("${EXTEN:1:-2}"), "5512");
        assert_eq!(x("${${NAME}}"), "5551234", "nested names");
        assert_eq!(x("pre-${A}-post"), "pre-1-post");
        assert_eq!(x("${UNSET}"), "");
    }

    #[test]
    fn functions_and_expressions() {
        assert_eq!(x("${CALLERID(num)}"), "62");
        assert_eq!(x("${LEN(${EXTEN})}"), "7");
        assert_eq!(x("${IF($[${A} = 1]?yes:no)}"), "yes");
        assert_eq!(x("$[${A} + 41]"), "42");
        assert_eq!(x("$[\"${DIALSTATUS}\" = \"BUSY\"]"), "1");
        assert_eq!(x("$[${LEN(${EXTEN})} > 4]"), "1");
    }

    #[test]
    fn unbalanced_input_is_kept() {
        assert_eq!(x("${EXTEN"), "${EXTEN");
        assert_eq!(x("$[1 +"), "$[1 +");
    }
}
