//! Numbers said as Asterisk's English `ast_say_number` says them, as the
//! sound files of the core sounds package: `digits/0`…`digits/19`, the
//! tens `digits/20`…`digits/90`, `digits/hundred`, `digits/thousand`,
//! `digits/million`. Used for Dial's `L` "time left" warning (`vm-youhave`,
//! minutes `queue-minutes`, seconds `queue-seconds`).

/// The files saying `n`.
pub fn number(n: u64) -> Vec<String> {
    let mut out = Vec::new();
    if n == 0 {
        out.push("digits/0".to_owned());
        return out;
    }
    say(n, &mut out);
    out
}

fn say(n: u64, out: &mut Vec<String>) {
    for (unit, name) in [(1_000_000, "million"), (1000, "thousand")] {
        if n >= unit {
            say(n / unit, out);
            out.push(format!("digits/{name}"));
            return rest(n % unit, out);
        }
    }
    if n >= 100 {
        out.push(format!("digits/{}", n / 100));
        out.push("digits/hundred".to_owned());
        return rest(n % 100, out);
    }
    if n >= 20 {
        out.push(format!("digits/{}", n / 10 * 10));
        return rest(n % 10, out);
    }
    out.push(format!("digits/{n}"));
}

fn rest(n: u64, out: &mut Vec<String>) {
    if n > 0 {
        say(n, out);
    }
}

/// app_dial's `timeleft` warning for `secs` seconds left.
pub fn time_left(secs: u64) -> Vec<String> {
    let mut out = vec!["vm-youhave".to_owned()];
    let (min, sec) = (secs / 60, secs % 60);
    if min > 0 {
        out.extend(number(min));
        out.push("queue-minutes".to_owned());
    }
    if sec > 0 {
        out.extend(number(sec));
        out.push("queue-seconds".to_owned());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn english_numbers() {
        assert_eq!(number(0), ["digits/0"]);
        assert_eq!(number(13), ["digits/13"]);
        assert_eq!(number(45), ["digits/40", "digits/5"]);
        assert_eq!(number(30), ["digits/30"]);
        assert_eq!(
            number(1205),
            [
                "digits/1",
                "digits/thousand",
                "digits/2",
                "digits/hundred",
                "digits/5"
            ]
        );
    }

    #[test]
    fn time_left_in_minutes_and_seconds() {
        assert_eq!(
            time_left(90),
            [
                "vm-youhave",
                "digits/1",
                "queue-minutes",
                "digits/30",
                "queue-seconds"
            ]
        );
        assert_eq!(time_left(120), ["vm-youhave", "digits/2", "queue-minutes"]);
    }
}
