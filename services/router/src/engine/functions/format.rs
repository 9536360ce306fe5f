//! `SPRINTF(format,args…)`: printf's conversions as Asterisk's func_sprintf
//! passes them to the C library: `%s %d %i %u %x %X %o %c %f %F %e %E %g %G
//! %%` with flags (`-+ 0#`), width and precision.

pub fn sprintf(format: &str, args: &[String]) -> String {
    let mut out = String::new();
    let mut args = args.iter().map(|s| s.trim());
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = String::new();
        while let Some(&n) = chars.peek() {
            if "-+ 0#".contains(n) || n.is_ascii_digit() || n == '.' {
                spec.push(n);
                chars.next();
            } else {
                break;
            }
        }
        let Some(conv) = chars.next() else {
            break;
        };
        if conv == '%' {
            out.push('%');
            continue;
        }
        let arg = args.next().unwrap_or("");
        out.push_str(&convert(&spec, conv, arg));
    }
    out
}

struct Spec {
    left: bool,
    plus: bool,
    space: bool,
    zero: bool,
    alt: bool,
    width: usize,
    precision: Option<usize>,
}

fn parse_spec(spec: &str) -> Spec {
    let flags_end = spec
        .find(|c: char| !"-+ 0#".contains(c))
        .unwrap_or(spec.len());
    let flags = &spec[..flags_end];
    let (width, precision) = match spec[flags_end..].split_once('.') {
        Some((w, p)) => (w, Some(p.parse().unwrap_or(0))),
        None => (&spec[flags_end..], None),
    };
    Spec {
        left: flags.contains('-'),
        plus: flags.contains('+'),
        space: flags.contains(' '),
        zero: flags.contains('0'),
        alt: flags.contains('#'),
        width: width.parse().unwrap_or(0),
        precision,
    }
}

/// Leading number as strtol/strtod read it (0 when there is none).
fn int_of(s: &str) -> i64 {
    let t = s.trim();
    let end = t
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || (i == 0 && (c == '-' || c == '+'))))
        .map(|(i, _)| i)
        .unwrap_or(t.len());
    t[..end].parse().unwrap_or(0)
}

fn float_of(s: &str) -> f64 {
    let t = s.trim();
    (1..=t.len())
        .rev()
        .find_map(|n| t.get(..n).and_then(|p| p.parse::<f64>().ok()))
        .unwrap_or(0.0)
}

fn convert(spec: &str, conv: char, arg: &str) -> String {
    let s = parse_spec(spec);
    let (sign, body) = match conv {
        's' => {
            let v: String = match s.precision {
                Some(p) => arg.chars().take(p).collect(),
                None => arg.to_owned(),
            };
            return pad(&s, "", &v, false);
        }
        'c' => {
            return pad(
                &s,
                "",
                &arg.chars().next().map(String::from).unwrap_or_default(),
                false,
            )
        }
        'd' | 'i' => {
            let n = int_of(arg);
            (
                sign_of(&s, n < 0),
                digits(n.unsigned_abs().to_string(), s.precision),
            )
        }
        'u' => ("", digits((int_of(arg) as u64).to_string(), s.precision)),
        'x' | 'X' | 'o' => {
            let n = int_of(arg) as u64;
            let mut b = match conv {
                'x' => format!("{n:x}"),
                'X' => format!("{n:X}"),
                _ => format!("{n:o}"),
            };
            b = digits(b, s.precision);
            if s.alt && n != 0 {
                b = match conv {
                    'x' => format!("0x{b}"),
                    'X' => format!("0X{b}"),
                    _ => format!("0{b}"),
                };
            }
            ("", b)
        }
        'f' | 'F' | 'e' | 'E' | 'g' | 'G' => {
            let f = float_of(arg);
            let p = s.precision.unwrap_or(6);
            let b = match conv {
                'f' | 'F' => format!("{:.*}", p, f.abs()),
                'e' | 'E' => c_exp(f.abs(), p, conv == 'E'),
                _ => {
                    let g = format!("{}", f.abs());
                    if conv == 'G' {
                        g.to_uppercase()
                    } else {
                        g
                    }
                }
            };
            (sign_of(&s, f.is_sign_negative() && f != 0.0), b)
        }
        other => return format!("%{spec}{other}"),
    };
    pad(&s, sign, &body, conv != 's' && conv != 'c')
}

fn sign_of(s: &Spec, negative: bool) -> &'static str {
    if negative {
        "-"
    } else if s.plus {
        "+"
    } else if s.space {
        " "
    } else {
        ""
    }
}

fn digits(d: String, precision: Option<usize>) -> String {
    match precision {
        Some(p) if d.len() < p => format!("{}{d}", "0".repeat(p - d.len())),
        _ => d,
    }
}

/// C's `%e`: one digit, the fraction, `e`, a sign and at least two digits.
fn c_exp(f: f64, p: usize, upper: bool) -> String {
    let r = format!("{:.*e}", p, f);
    let (m, e) = r.split_once('e').unwrap_or((&r, "0"));
    let exp: i32 = e.parse().unwrap_or(0);
    let s = format!("{m}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
    if upper {
        s.to_uppercase()
    } else {
        s
    }
}

fn pad(s: &Spec, sign: &str, body: &str, numeric: bool) -> String {
    let len = sign.len() + body.chars().count();
    if len >= s.width {
        return format!("{sign}{body}");
    }
    let fill = s.width - len;
    if s.left {
        format!("{sign}{body}{}", " ".repeat(fill))
    } else if s.zero && numeric {
        format!("{sign}{}{body}", "0".repeat(fill))
    } else {
        format!("{}{sign}{body}", " ".repeat(fill))
    }
}
