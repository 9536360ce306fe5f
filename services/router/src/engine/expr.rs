//! `$[ … ]` expressions, as Asterisk's expr2 evaluates them: values are
//! strings that act as numbers when they look like numbers; `|` `&`
//! (lowest), comparisons, `+ -`, `* / %`, unary `-` and `!`, parentheses,
//! quoted strings. Errors yield an empty result, as Asterisk does.

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Val(String),
    Op(&'static str),
    Open,
    Close,
}

const OPS: [&str; 14] = [
    "<=", ">=", "!=", "==", "=~", "|", "&", "=", "<", ">", "+", "-", "*", "/",
];
const MORE_OPS: [&str; 2] = ["%", "!"];

fn tokenize(s: &str) -> Vec<Tok> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let b = s.as_bytes();
    let mut i = 0;
    let flush = |cur: &mut String, out: &mut Vec<Tok>| {
        if !cur.is_empty() {
            out.push(Tok::Val(std::mem::take(cur)));
        }
    };
    while i < b.len() {
        let c = b[i] as char;
        if c.is_whitespace() {
            flush(&mut cur, &mut out);
            i += 1;
            continue;
        }
        if c == '"' {
            flush(&mut cur, &mut out);
            let end = s[i + 1..].find('"').map(|e| i + 1 + e).unwrap_or(s.len());
            out.push(Tok::Val(s[i + 1..end].to_owned()));
            i = end + 1;
            continue;
        }
        if c == '(' || c == ')' {
            flush(&mut cur, &mut out);
            out.push(if c == '(' { Tok::Open } else { Tok::Close });
            i += 1;
            continue;
        }
        if let Some(op) = OPS
            .iter()
            .chain(MORE_OPS.iter())
            .find(|op| s[i..].starts_with(**op))
        {
            flush(&mut cur, &mut out);
            out.push(Tok::Op(op));
            i += op.len();
            continue;
        }
        cur.push(c);
        i += c.len_utf8();
    }
    flush(&mut cur, &mut out);
    out
}

fn num(s: &str) -> Option<f64> {
    let t = s.trim();
    if t.is_empty() {
        return None;
    }
    t.parse::<f64>().ok().filter(|n| n.is_finite())
}

fn fmt_num(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

/// Asterisk truth: empty and "0" are false.
pub fn truthy(s: &str) -> bool {
    let t = s.trim();
    !(t.is_empty() || num(t) == Some(0.0))
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    depth: usize,
}

type R = Result<String, ()>;

/// Nesting limit so no input can exhaust the stack.
const MAX_DEPTH: usize = 64;

impl Parser {
    fn peek_op(&self) -> Option<&'static str> {
        match self.toks.get(self.pos) {
            Some(Tok::Op(o)) => Some(o),
            _ => None,
        }
    }

    fn binary(&mut self, level: usize) -> R {
        const LEVELS: [&[&str]; 5] = [
            &["|"],
            &["&"],
            &["=", "==", "!=", "<", ">", "<=", ">=", "=~"],
            &["+", "-"],
            &["*", "/", "%"],
        ];
        if level == LEVELS.len() {
            return self.unary();
        }
        let mut left = self.binary(level + 1)?;
        while let Some(op) = self.peek_op().filter(|o| LEVELS[level].contains(o)) {
            self.pos += 1;
            let right = self.binary(level + 1)?;
            left = apply(op, &left, &right)?;
        }
        Ok(left)
    }

    fn unary(&mut self) -> R {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(());
        }
        let r = match self.toks.get(self.pos).cloned() {
            Some(Tok::Op("-")) => {
                self.pos += 1;
                let v = self.unary()?;
                num(&v).map(|n| fmt_num(-n)).ok_or(())
            }
            Some(Tok::Op("!")) => {
                self.pos += 1;
                let v = self.unary()?;
                Ok(if truthy(&v) { "0" } else { "1" }.to_owned())
            }
            Some(Tok::Open) => {
                self.pos += 1;
                let v = self.binary(0)?;
                match self.toks.get(self.pos) {
                    Some(Tok::Close) => {
                        self.pos += 1;
                        Ok(v)
                    }
                    _ => Err(()),
                }
            }
            Some(Tok::Val(v)) => {
                self.pos += 1;
                // Adjacent values (e.g. an unquoted string with spaces) join.
                let mut v = v;
                while let Some(Tok::Val(next)) = self.toks.get(self.pos) {
                    v.push(' ');
                    v.push_str(next);
                    self.pos += 1;
                }
                Ok(v)
            }
            None => Ok(String::new()),
            _ => Err(()),
        };
        self.depth -= 1;
        r
    }
}

fn apply(op: &str, l: &str, r: &str) -> R {
    let bool_s = |b: bool| if b { "1".to_owned() } else { "0".to_owned() };
    match op {
        "|" => Ok(if truthy(l) {
            l.to_owned()
        } else if truthy(r) {
            r.to_owned()
        } else {
            "0".to_owned()
        }),
        "&" => Ok(if truthy(l) && truthy(r) {
            l.to_owned()
        } else {
            "0".to_owned()
        }),
        "=" | "==" | "!=" | "<" | ">" | "<=" | ">=" => {
            let ord = match (num(l), num(r)) {
                (Some(a), Some(b)) => a.partial_cmp(&b).ok_or(())?,
                _ => l.cmp(r),
            };
            use std::cmp::Ordering::*;
            Ok(bool_s(match op {
                "=" | "==" => ord == Equal,
                "!=" => ord != Equal,
                "<" => ord == Less,
                ">" => ord == Greater,
                "<=" => ord != Greater,
                _ => ord != Less,
            }))
        }
        "=~" => Err(()),
        _ => {
            let (a, b) = (num(l).ok_or(())?, num(r).ok_or(())?);
            let v = match op {
                "+" => a + b,
                "-" => a - b,
                "*" => a * b,
                "/" if b == 0.0 => return Err(()),
                "/" => (a / b).trunc(),
                "%" if b == 0.0 => return Err(()),
                _ => a % b,
            };
            Ok(fmt_num(v))
        }
    }
}

/// Evaluate an (already variable-expanded) expression.
pub fn eval(expr: &str) -> Option<String> {
    let mut p = Parser {
        toks: tokenize(expr),
        pos: 0,
        depth: 0,
    };
    let v = p.binary(0).ok()?;
    (p.pos == p.toks.len()).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(s: &str) -> String {
        eval(s).unwrap_or_else(|| "<error>".into())
    }

    #[test]
    fn arithmetic_and_precedence() {
        assert_eq!(e("1 + 2 * 3"), "7");
        assert_eq!(e("(1+2)*3"), "9");
        assert_eq!(e("7 / 2"), "3");
        assert_eq!(e("7 % 3"), "1");
        assert_eq!(e("-3 + 1"), "-2");
        assert_eq!(e("1 / 0"), "<error>");
    }

    #[test]
    fn comparisons_and_logic() {
        assert_eq!(e("61 = 61"), "1");
        assert_eq!(e("10 > 9"), "1", "numeric, not string, comparison");
        assert_eq!(e("abc < abd"), "1");
        assert_eq!(e("\"BUSY\" = \"BUSY\""), "1");
        assert_eq!(e("BUSY != ANSWER"), "1");
        assert_eq!(e("1 & 0"), "0");
        assert_eq!(e("0 | 5"), "5");
        assert_eq!(e("!0"), "1");
        assert_eq!(e("1 = 1 & 2 = 2"), "1");
        assert_eq!(e(" = 1"), "<error>");
    }

    #[test]
    fn deep_nesting_is_refused_not_a_crash() {
        let s = "(".repeat(10_000) + "1" + &")".repeat(10_000);
        assert_eq!(eval(&s), None);
    }
}
