//! Dialplan functions, read (`${CUT(x,-,2)}`) and written
//! (`Set(CALLERID(name)=Alice)`), with Asterisk's semantics: `CALLERID`,
//! `CHANNEL`, `CUT`, `ISNULL`, `EXISTS`, `LOCAL`, `FILTER`, `REGEX`,
//! `STRFTIME`, `IFTIME`, `HASH`/`HASHKEYS`, `GLOBAL`, `SHARED`, `MATH`,
//! `TOUPPER`/`TOLOWER`, `QUOTE`, `RAND`, `SPRINTF`, `TIMEOUT`, `CDR`,
//! `FIELDQTY`, `FIELDNUM`, `LISTFILTER`, `STRREPLACE`, `DIALPLAN_EXISTS`,
//! `VALID_EXTEN`, `ARRAY` (written), and
//! the AstDB's `DB`, `DB_EXISTS`, `DB_DELETE` (through the call's cache,
//! see `engine::db`).
//! (`LEN` and `IF` are expanded in `subst`.) A name not listed is unknown:
//! warned about at load, empty at run time, as Asterisk logs "Function
//! not registered".

mod format;
mod math;

use super::Call;
use crate::dialplan::app::split_args;
use crate::dialplan::Timing;
use jiff::tz::TimeZone;
use jiff::Timestamp;

/// Every function the router knows, for the load-time check.
pub const KNOWN: &[&str] = &[
    "LEN",
    "IF",
    "CALLERID",
    "CHANNEL",
    "CUT",
    "ISNULL",
    "EXISTS",
    "LOCAL",
    "FILTER",
    "REGEX",
    "STRFTIME",
    "IFTIME",
    "HASH",
    "HASHKEYS",
    "GLOBAL",
    "SHARED",
    "MATH",
    "TOUPPER",
    "TOLOWER",
    "QUOTE",
    "RAND",
    "SPRINTF",
    "TIMEOUT",
    "CDR",
    "DB",
    "DB_EXISTS",
    "DB_DELETE",
    "DIALPLAN_EXISTS",
    "VALID_EXTEN",
    "FIELDQTY",
    "FIELDNUM",
    "STRREPLACE",
    "LISTFILTER",
    "ARRAY",
];

pub fn known(name: &str) -> bool {
    KNOWN.iter().any(|k| k.eq_ignore_ascii_case(name))
}

/// The value of `NAME(args)`; `None` when there is no such function.
pub fn read(call: &Call, name: &str, args: &str) -> Option<String> {
    let a = split_args(args, ',');
    let arg = |i: usize| a.get(i).map(|s| s.trim()).unwrap_or("");
    Some(match name.to_ascii_uppercase().as_str() {
        "CALLERID" => callerid(call, arg(0)),
        "CHANNEL" => channel(call, arg(0)),
        "CUT" => cut(&call.lookup(arg(0)).unwrap_or_default(), arg(1), arg(2)),
        "ISNULL" => bool01(args.is_empty()),
        "EXISTS" => bool01(!args.is_empty()),
        "LOCAL" => call.lookup(arg(0)).unwrap_or_default(),
        "SHARED" => super::channels::read(&call.shared, &call.channel, arg(0), arg(1)),
        "GLOBAL" => call.globals.get(arg(0)).unwrap_or_default(),
        "FILTER" => filter(arg(0), a.get(1).map(String::as_str).unwrap_or("")),
        "REGEX" => regex(args),
        "STRFTIME" => strftime(arg(0), arg(1), a.get(2).map(String::as_str).unwrap_or("")),
        "IFTIME" => iftime(call, args),
        "HASH" => call.lookup(&hash_var(arg(0), arg(1))).unwrap_or_default(),
        "HASHKEYS" => hash_keys(call, arg(0)),
        "MATH" => math::eval(arg(0), arg(1)),
        "TOUPPER" => args.to_uppercase(),
        "TOLOWER" => args.to_lowercase(),
        "QUOTE" => format!("\"{}\"", args.replace('\\', "\\\\").replace('"', "\\\"")),
        "RAND" => rand(arg(0), arg(1)),
        "SPRINTF" => format::sprintf(arg(0), &a[1.min(a.len())..]),
        "TIMEOUT" => timeout(call, arg(0)),
        "CDR" => call
            .vars
            .get(&format!("CDR({})", arg(0)))
            .cloned()
            .unwrap_or_default(),
        "DB" => call.db.read(args).unwrap_or_default(),
        "DB_EXISTS" => {
            let value = call.db.read(args);
            let found = value.is_some();
            *call.db.result.borrow_mut() = Some(value.unwrap_or_default());
            bool01(found)
        }
        "DB_DELETE" => call.db.delete(args).unwrap_or_default(),
        "DIALPLAN_EXISTS" => dialplan_exists(call, arg(0), arg(1), arg(2)),
        "VALID_EXTEN" => {
            let ctx = if arg(0).is_empty() {
                call.context.as_str()
            } else {
                arg(0)
            };
            dialplan_exists(
                call,
                ctx,
                arg(1),
                if arg(2).is_empty() { "1" } else { arg(2) },
            )
        }
        "FIELDQTY" => {
            let v = call.lookup(arg(0)).unwrap_or_default();
            let d = delimiter(arg(1));
            if v.is_empty() {
                "0".into()
            } else {
                v.split(d.as_str()).count().to_string()
            }
        }
        "FIELDNUM" => {
            let v = call.lookup(arg(0)).unwrap_or_default();
            let d = delimiter(arg(1));
            let pos = v.split(d.as_str()).position(|f| f == arg(2));
            pos.map(|p| (p + 1).to_string())
                .unwrap_or_else(|| "0".into())
        }
        "STRREPLACE" => {
            let v = call.lookup(arg(0)).unwrap_or_default();
            let max = arg(3).parse::<usize>().ok().filter(|&m| m > 0);
            match (arg(1), max) {
                ("", _) => v,
                (find, Some(m)) => v.replacen(find, arg(2), m),
                (find, None) => v.replace(find, arg(2)),
            }
        }
        "LISTFILTER" => {
            let v = call.lookup(arg(0)).unwrap_or_default();
            let d = delimiter(arg(1));
            let kept: Vec<&str> = v.split(d.as_str()).filter(|f| *f != arg(2)).collect();
            kept.join(&d)
        }
        _ => return None,
    })
}

/// `Set(NAME(args)=value)`; false when the function cannot be written.
pub fn write(call: &mut Call, name: &str, args: &str, value: &str) -> bool {
    let a = split_args(args, ',');
    let arg = |i: usize| a.get(i).map(|s| s.trim().to_owned()).unwrap_or_default();
    match name.to_ascii_uppercase().as_str() {
        "CALLERID" => set_callerid(call, &arg(0), value),
        "CHANNEL" => {
            let field = arg(0).to_ascii_lowercase();
            let writable = [
                "language",
                "musicclass",
                "accountcode",
                "peeraccount",
                "amaflags",
                "callgroup",
                "pickupgroup",
                "parkinglot",
                "hangupsource",
                "userfield",
                "tonezone",
            ];
            if !writable.contains(&field.as_str()) {
                tracing::warn!(field, "CHANNEL field cannot be written");
                return false;
            }
            call.vars
                .insert(format!("CHANNEL({field})"), value.to_owned());
        }
        "LOCAL" => call.set_local(&arg(0), value),
        "SHARED" => {
            let (own, me) = (call.shared.clone(), call.channel.clone());
            return super::channels::write(&own, &me, &arg(0), &arg(1), value);
        }
        "GLOBAL" => call.globals.set(&arg(0), value),
        "HASH" => {
            call.vars
                .insert(hash_var(&arg(0), &arg(1)), value.to_owned());
        }
        "TIMEOUT" => {
            let kind = arg(0).to_ascii_lowercase();
            if !["absolute", "digit", "response"].contains(&kind.as_str()) {
                return false;
            }
            if kind == "absolute" {
                // From now; 0 (or nonsense) turns it off, as in Asterisk.
                let secs = value.trim().parse::<f64>().unwrap_or(0.0);
                call.hangup_at_ms = match secs > 0.0 {
                    true => call.now().as_millisecond() + (secs * 1000.0) as i64,
                    false => 0,
                };
            }
            call.vars
                .insert(format!("TIMEOUT({kind})"), value.trim().to_owned());
        }
        "CDR" => {
            call.vars
                .insert(format!("CDR({})", arg(0)), value.to_owned());
        }
        "DB" => call.db.put(args, value),
        // Set(ARRAY(a,b)=1,2): each variable its value, in order.
        "ARRAY" => {
            let values = split_args(value, ',');
            for (i, var) in a.iter().map(|v| v.trim()).enumerate() {
                let v = values.get(i).map(|v| v.trim()).unwrap_or("");
                call.vars.insert(var.to_owned(), v.to_owned());
            }
        }
        _ => return false,
    }
    true
}

/// DIALPLAN_EXISTS(context[,extension[,priority]]): whether it is there
/// (an extension: with that priority, 1 by default; a context alone: it
/// exists).
fn dialplan_exists(call: &Call, context: &str, exten: &str, priority: &str) -> String {
    let plan = call.plan();
    if exten.is_empty() {
        return bool01(plan.contexts.contains_key(context));
    }
    let q = call.query();
    let found = match priority.trim().parse::<i32>() {
        Ok(n) => plan.priority_for(context, exten, n, &q).is_some(),
        Err(_) if priority.trim().is_empty() => plan.exists(context, exten, &q),
        Err(_) => plan.target_for(context, exten, priority, &q).is_some(),
    };
    bool01(found)
}

/// A field delimiter argument (`,` written `\,`; `-` when empty, as CUT).
fn delimiter(d: &str) -> String {
    match d {
        "" => ",".to_owned(),
        d => d.replace("\\,", ","),
    }
}

fn bool01(b: bool) -> String {
    if b { "1" } else { "0" }.to_owned()
}

fn hash_var(hash: &str, key: &str) -> String {
    format!("~HASH~{hash}~{key}~")
}

fn hash_keys(call: &Call, hash: &str) -> String {
    let prefix = format!("~HASH~{hash}~");
    let mut keys: Vec<&str> = call
        .vars
        .keys()
        .filter_map(|k| k.strip_prefix(&prefix)?.strip_suffix('~'))
        .collect();
    keys.sort_unstable();
    keys.join(",")
}

/// CALLERID fields (chan_sip callers: name and number; the rest as set).
fn callerid(call: &Call, field: &str) -> String {
    match field.to_ascii_lowercase().as_str() {
        "num" | "number" => call.callerid_num.clone(),
        "name" => call.callerid_name.clone(),
        "all" => format!("\"{}\" <{}>", call.callerid_name, call.callerid_num),
        "ani" | "ani-num" => call
            .vars
            .get("CALLERID(ani)")
            .cloned()
            .unwrap_or_else(|| call.callerid_num.clone()),
        "dnid" | "dnid-num" => call
            .vars
            .get("CALLERID(dnid)")
            .cloned()
            .unwrap_or_else(|| call.dialled.clone()),
        "pres" | "num-pres" | "name-pres" => call
            .vars
            .get("CALLERID(pres)")
            .cloned()
            .unwrap_or_else(|| "allowed_not_screened".to_owned()),
        "ton" | "num-plan" => call
            .vars
            .get("CALLERID(ton)")
            .cloned()
            .unwrap_or_else(|| "0".into()),
        other => call
            .vars
            .get(&format!("CALLERID({other})"))
            .cloned()
            .unwrap_or_default(),
    }
}

fn set_callerid(call: &mut Call, field: &str, value: &str) {
    match field.to_ascii_lowercase().as_str() {
        "num" | "number" => call.callerid_num = value.to_owned(),
        "name" => call.callerid_name = value.to_owned(),
        "all" => {
            let (name, num) = asterism_config::callerid::split(value);
            call.callerid_name = name;
            call.callerid_num = num;
        }
        "ani-num" => {
            call.vars.insert("CALLERID(ani)".into(), value.to_owned());
        }
        "dnid-num" => {
            call.vars.insert("CALLERID(dnid)".into(), value.to_owned());
        }
        other => {
            call.vars
                .insert(format!("CALLERID({other})"), value.to_owned());
        }
    }
}

/// CHANNEL fields: what the edge reported, what was set, then defaults.
fn channel(call: &Call, field: &str) -> String {
    let field = field.to_ascii_lowercase();
    if let Some(v) = call.vars.get(&format!("CHANNEL({field})")) {
        return v.clone();
    }
    match field.as_str() {
        "language" => "en".into(),
        "channeltype" => "SIP".into(),
        "uniqueid" | "linkedid" => call.call_id.clone(),
        "name" => call.channel.clone(),
        "context" => call.context.clone(),
        "exten" => call.exten.clone(),
        "state" => "Up".into(),
        "musicclass" => "default".into(),
        _ => String::new(),
    }
}

/// `CUT(var,delimiter,fields)`: `2`, `2-4`, `-3`, `3-`, joined with `&`.
pub fn cut(value: &str, delim: &str, spec: &str) -> String {
    let delim = match delim {
        "" => "-".to_owned(),
        d => d
            .replace("\\,", ",")
            .chars()
            .next()
            .map(String::from)
            .unwrap_or_default(),
    };
    let fields: Vec<&str> = value.split(delim.as_str()).collect();
    let n = fields.len();
    let mut out: Vec<&str> = Vec::new();
    for part in spec.split('&').map(str::trim).filter(|p| !p.is_empty()) {
        let (from, to) = match part.split_once('-') {
            Some((a, b)) => (
                a.trim().parse::<usize>().unwrap_or(1),
                b.trim().parse::<usize>().unwrap_or(n),
            ),
            None => match part.parse::<usize>() {
                Ok(k) => (k, k),
                Err(_) => continue,
            },
        };
        for k in from.max(1)..=to.min(n) {
            out.push(fields[k - 1]);
        }
    }
    out.join(&delim)
}

/// `FILTER(allowed,string)`: only the allowed characters (`a-z` ranges,
/// `\x41` and `\\` escapes).
pub fn filter(allowed: &str, s: &str) -> String {
    let mut set: Vec<char> = Vec::new();
    let chars: Vec<char> = unescape(allowed).chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if i + 2 < chars.len() && chars[i + 1] == '-' {
            let (a, b) = (chars[i].min(chars[i + 2]), chars[i].max(chars[i + 2]));
            set.extend(a..=b);
            i += 3;
        } else {
            set.push(chars[i]);
            i += 1;
        }
    }
    s.chars().filter(|c| set.contains(c)).collect()
}

fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('x') => {
                let hex: String = it.by_ref().take(2).collect();
                if let Some(ch) = u8::from_str_radix(&hex, 16).ok().map(char::from) {
                    out.push(ch);
                }
            }
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

/// `REGEX("pattern" string)`: 1 when the string matches.
fn regex(args: &str) -> String {
    let args = args.trim_start();
    let Some(rest) = args.strip_prefix('"') else {
        tracing::warn!("REGEX: the pattern must be in double quotes");
        return "0".into();
    };
    let Some(end) = rest.find('"') else {
        return "0".into();
    };
    let (pattern, subject) = (
        &rest[..end],
        rest[end + 1..]
            .strip_prefix(' ')
            .unwrap_or(&rest[end + 1..]),
    );
    match regex::Regex::new(pattern) {
        Ok(re) => bool01(re.is_match(subject)),
        Err(e) => {
            tracing::warn!(pattern, "REGEX: {e}");
            "0".into()
        }
    }
}

/// `STRFTIME([epoch][,timezone][,format])`, Asterisk's default `%c`.
fn strftime(epoch: &str, zone: &str, format: &str) -> String {
    let ts = match epoch.trim().parse::<f64>() {
        Ok(s) => Timestamp::from_second(s as i64).unwrap_or(Timestamp::UNIX_EPOCH),
        Err(_) => Timestamp::now(),
    };
    let tz = match zone.trim() {
        "" => TimeZone::system(),
        z => TimeZone::get(z).unwrap_or_else(|_| TimeZone::system()),
    };
    let format = if format.is_empty() { "%c" } else { format };
    let zoned = ts.to_zoned(tz);
    let mut out = String::new();
    match jiff::fmt::strtime::format(format, &zoned) {
        Ok(s) => out.push_str(&s),
        Err(e) => tracing::warn!(format, "STRFTIME: {e}"),
    }
    out
}

/// `IFTIME(timespec?true:false)`.
fn iftime(call: &Call, args: &str) -> String {
    let (spec, branches) = args.split_once('?').unwrap_or((args, ""));
    let (yes, no) = branches.split_once(':').unwrap_or((branches, ""));
    let mut warnings = Vec::new();
    let t = Timing::parse(spec, &mut warnings);
    if t.matches(call.now()) { yes } else { no }.to_owned()
}

/// `RAND([min][,max])`, both included.
fn rand(min: &str, max: &str) -> String {
    let lo: i64 = min.trim().parse().unwrap_or(0);
    let hi: i64 = max.trim().parse().unwrap_or(i32::MAX as i64);
    let (lo, hi) = (lo.min(hi), lo.max(hi));
    let span = (hi - lo + 1) as u64;
    let mut b = [0u8; 8];
    if getrandom(&mut b).is_err() {
        return lo.to_string();
    }
    (lo + (u64::from_le_bytes(b) % span) as i64).to_string()
}

fn getrandom(buf: &mut [u8]) -> std::io::Result<()> {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")?.read_exact(buf)
}

/// `TIMEOUT(digit|response|absolute)`: as set, else Asterisk's defaults.
fn timeout(call: &Call, kind: &str) -> String {
    let kind = kind.to_ascii_lowercase();
    match call.vars.get(&format!("TIMEOUT({kind})")) {
        Some(v) => v.clone(),
        None => match kind.as_str() {
            "digit" => "5".into(),
            "response" => "10".into(),
            _ => "0".into(),
        },
    }
}

#[cfg(test)]
mod tests;
