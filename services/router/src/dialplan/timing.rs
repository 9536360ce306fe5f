//! Asterisk's time specifications (`main/pbx_timing.c`), as in
//! `include => daytime,09:00-17:00,mon-fri,*,*`, `GotoIfTime` and `IFTIME`:
//! `times,weekdays,monthdays,months[,timezone]`, fields separated by `,`
//! or `|`, each `*`, a value or `start-end` (ranges wrap: `fri-mon`), `&`
//! joining several. Times are inclusive to the minute (`09:00-17:00`
//! includes 17:00), weekdays and months by name or number. Fields left out
//! mean "any", a value Asterisk cannot read is skipped with its warning.
//! Checked in the named time zone, else the machine's.

use jiff::tz::TimeZone;
use jiff::Timestamp;

const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const MINUTES_PER_DAY: usize = 24 * 60;

#[derive(Debug, Clone, PartialEq)]
pub struct Timing {
    /// One bit per minute of the day.
    minutes: [u64; MINUTES_PER_DAY.div_ceil(64)],
    /// Bit 0 = Sunday.
    weekdays: u32,
    /// Bit 0 = the 1st.
    monthdays: u32,
    /// Bit 0 = January.
    months: u32,
    zone: Option<TimeZone>,
}

impl Eq for Timing {}

impl Timing {
    /// Parse a specification; `warnings` gets what Asterisk would log.
    pub fn parse(spec: &str, warnings: &mut Vec<String>) -> Timing {
        let fields: Vec<&str> = spec.split([',', '|']).collect();
        let mut t = Timing {
            minutes: [0; MINUTES_PER_DAY.div_ceil(64)],
            weekdays: mask(7),
            monthdays: mask(31),
            months: mask(12),
            zone: None,
        };
        t.time_ranges(fields[0].trim(), warnings);
        if let Some(f) = fields.get(1) {
            t.weekdays = range(f.trim(), 7, Some(&DAYS), "day of week", warnings);
        }
        if let Some(f) = fields.get(2) {
            t.monthdays = range(f.trim(), 31, None, "day", warnings);
        }
        if let Some(f) = fields.get(3) {
            t.months = range(f.trim(), 12, Some(&MONTHS), "month", warnings);
        }
        if fields.len() == 5 {
            let name = fields[4].trim();
            match TimeZone::get(name) {
                Ok(z) => t.zone = Some(z),
                Err(_) => warnings.push(format!(
                    "unknown time zone '{name}': the machine's local time is used"
                )),
            }
        }
        t
    }

    /// Whether `now` falls inside.
    pub fn matches(&self, now: Timestamp) -> bool {
        let zone = self.zone.clone().unwrap_or_else(TimeZone::system);
        let dt = now.to_zoned(zone).datetime();
        let minute = dt.hour() as usize * 60 + dt.minute() as usize;
        self.months & (1 << (dt.month() - 1)) != 0
            && self.monthdays & (1 << (dt.day() - 1)) != 0
            && self.weekdays & (1 << dt.weekday().to_sunday_zero_offset()) != 0
            && self.minutes[minute / 64] & (1 << (minute % 64)) != 0
    }

    fn set_minute(&mut self, m: usize) {
        self.minutes[m / 64] |= 1 << (m % 64);
    }

    fn time_ranges(&mut self, times: &str, warnings: &mut Vec<String>) {
        if times.is_empty() || times == "*" {
            (0..MINUTES_PER_DAY).for_each(|m| self.set_minute(m));
            return;
        }
        for part in times.split('&') {
            let Some((start, end)) = part.split_once('-') else {
                match hh_mm(part) {
                    Some(m) => self.set_minute(m),
                    None => warnings.push(format!("{part} isn't a valid time.")),
                }
                continue;
            };
            let end = end.trim_start_matches(|c: char| !c.is_ascii_digit());
            if end.is_empty() {
                warnings.push(format!("Invalid time range starting with '{start}-'."));
                continue;
            }
            let (Some(from), Some(to)) = (hh_mm(start), hh_mm(end)) else {
                warnings.push(format!("'{part}' isn't a valid time range."));
                continue;
            };
            let mut m = from;
            while m != to {
                self.set_minute(m);
                m = (m + 1) % MINUTES_PER_DAY;
            }
            self.set_minute(to);
        }
    }
}

fn mask(n: u32) -> u32 {
    (1u32 << n) - 1
}

/// `%2d:%2d` as sscanf reads it, within a day.
fn hh_mm(s: &str) -> Option<usize> {
    let (h, m) = s.trim().split_once(':')?;
    let h = leading_number(h, 2)?;
    let m = leading_number(m, 2)?;
    (h < 24 && m < 60).then_some(h * 60 + m)
}

/// At most `width` leading digits (sscanf `%2d`), at least one.
fn leading_number(s: &str, width: usize) -> Option<usize> {
    let digits: String = s
        .trim_start()
        .chars()
        .take(width)
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// A weekday, day or month: by name (case-insensitive) or 1-based number.
fn lookup(s: &str, max: u32, names: Option<&[&str]>) -> Option<u32> {
    let s = s.trim();
    if let Some(names) = names {
        if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(s)) {
            return Some(i as u32);
        }
    }
    let n = leading_number(s, 2)? as u32;
    (1..=max).contains(&n).then(|| n - 1)
}

fn range(
    src: &str,
    max: u32,
    names: Option<&[&str]>,
    what: &str,
    warnings: &mut Vec<String>,
) -> u32 {
    if src.is_empty() || src == "*" {
        return mask(max);
    }
    let mut bits = 0;
    for part in src.split('&') {
        let (first, last) = match part.split_once('-') {
            Some((a, b)) => (a, Some(b)),
            None => (part, None),
        };
        let Some(mut start) = lookup(first, max, names) else {
            warnings.push(format!("Invalid {what} '{first}', skipping element"));
            continue;
        };
        let end = match last {
            Some(b) => match lookup(b, max, names) {
                Some(e) => e,
                None => {
                    warnings.push(format!("Invalid end {what} '{b}', skipping element"));
                    continue;
                }
            },
            None => start,
        };
        bits |= 1 << end;
        while start != end {
            bits |= 1 << start;
            start = (start + 1) % max;
        }
    }
    bits
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(spec: &str, when: &str) -> bool {
        let mut w = Vec::new();
        let t = Timing::parse(spec, &mut w);
        assert!(w.is_empty(), "{w:?}");
        let ts: Timestamp = when.parse().unwrap();
        t.matches(ts)
    }

    #[test]
    fn office_hours_in_a_named_zone() {
        // 2026-12-07 is a Monday.
        let spec = "09:00-17:00,mon-fri,*,*,UTC";
        assert!(at(spec, "2026-12-07T09:00:00Z"));
        assert!(
            at(spec, "2026-12-07T17:00:59Z"),
            "the end minute is included"
        );
        assert!(!at(spec, "2026-12-07T17:01:00Z"));
        assert!(!at(spec, "2026-12-07T08:59:00Z"));
        assert!(!at(spec, "2026-12-06T10:00:00Z"), "Sunday");
        let paris = "09:00-17:00|mon-fri|*|*|Europe/Paris";
        assert!(at(paris, "2026-12-07T08:30:00Z"), "09:30 in Paris");
        assert!(!at(paris, "2026-12-07T16:30:00Z"), "17:30 in Paris");
    }

    #[test]
    fn ranges_wrap_and_join() {
        let spec = "22:00-06:00,fri-mon,1-5&25,dec&jan,UTC";
        assert!(
            at(spec, "2026-12-05T23:00:00Z"),
            "Saturday the 5th at 23:00"
        );
        assert!(at(spec, "2026-12-25T05:00:00Z"), "Friday the 25th at 05:00");
        assert!(!at(spec, "2026-12-02T23:00:00Z"), "a Wednesday");
        assert!(!at(spec, "2026-12-04T12:00:00Z"), "noon");
        assert!(at("*,*,*,*,UTC", "2026-02-28T12:00:00Z"));
        assert!(
            at("*,*,*,2,UTC", "2026-02-28T12:00:00Z"),
            "months by number"
        );
    }

    #[test]
    fn bad_fields_are_warned_and_skipped() {
        let mut w = Vec::new();
        let t = Timing::parse("25:00-26:00,funday,*,*,Mars/Base", &mut w);
        assert_eq!(w.len(), 3, "{w:?}");
        assert!(!t.matches("2026-12-07T12:00:00Z".parse().unwrap()));
    }
}
