//! `MATH(number1 op number2[,type])` as func_math computes it: floating
//! point, one operator (`+ - * / % ^ << >> AND OR XOR < > <= >= ==`), the
//! result printed as `f`/`float` (`%f`, the default), `i`/`int`
//! (truncated), `h`/`hex`, `c`/`char`.

const OPS: &[&str] = &[
    "<<", ">>", "<=", ">=", "==", "AND", "OR", "XOR", "+", "-", "*", "/", "%", "^", "<", ">",
];

pub fn eval(expr: &str, kind: &str) -> String {
    let expr = expr.trim();
    // The operator after the first number (a leading '-' is its sign).
    let found = OPS.iter().filter_map(|op| {
        let from = usize::from(expr.starts_with('-'));
        expr[from..].find(op).map(|i| (i + from, *op))
    });
    let Some((at, op)) = found.min_by_key(|(i, op)| (*i, std::cmp::Reverse(op.len()))) else {
        let Ok(n) = expr.parse::<f64>() else {
            tracing::warn!(expr, "MATH: no operator");
            return String::new();
        };
        return print(n, kind);
    };
    let (a, b) = (expr[..at].trim(), expr[at + op.len()..].trim());
    let (Ok(x), Ok(y)) = (a.parse::<f64>(), b.parse::<f64>()) else {
        tracing::warn!(expr, "MATH: not a number");
        return String::new();
    };
    let (xi, yi) = (x as i64, y as i64);
    let v = match op {
        "+" => x + y,
        "-" => x - y,
        "*" => x * y,
        "/" if y == 0.0 => {
            tracing::warn!(expr, "MATH: division by zero");
            return String::new();
        }
        "/" => x / y,
        "%" if yi == 0 => return String::new(),
        "%" => (xi % yi) as f64,
        "^" => x.powf(y),
        "<<" => (xi << (yi & 63)) as f64,
        ">>" => (xi >> (yi & 63)) as f64,
        "AND" => (xi & yi) as f64,
        "OR" => (xi | yi) as f64,
        "XOR" => (xi ^ yi) as f64,
        "<" => f64::from(u8::from(x < y)),
        ">" => f64::from(u8::from(x > y)),
        "<=" => f64::from(u8::from(x <= y)),
        ">=" => f64::from(u8::from(x >= y)),
        _ => f64::from(u8::from(x == y)),
    };
    print(v, kind)
}

fn print(v: f64, kind: &str) -> String {
    match kind.trim().to_ascii_lowercase().as_str() {
        "i" | "int" => (v as i64).to_string(),
        "h" | "hex" => format!("{:x}", v as i64),
        "c" | "char" => char::from(v as u8).to_string(),
        _ => format!("{v:.6}"),
    }
}
