//! Dial's `L(x[:y][:z])`, read as app_dial's `calc_timelimit` reads it:
//! `x` the longest the answered call may last (ms), `y` a warning when
//! that much is left, `z` the warning again every `z` ms; a warning time
//! beyond the limit is pulled back by `z` (dropped without `z`). The
//! channel variables `LIMIT_PLAYAUDIO_CALLER` (default yes),
//! `LIMIT_PLAYAUDIO_CALLEE` (default no; neither means the caller),
//! `LIMIT_WARNING_FILE` (default `timeleft`: the time left is said),
//! `LIMIT_CONNECT_FILE` and `LIMIT_TIMEOUT_FILE` are read when the Dial
//! runs. The edge carries it out (it times the bridged call).

use super::Call;
use asterism_proto::router as pb;

/// The limit `options` ask for, None without `L` or with a limit of 0
/// (app_dial refuses that one with a warning).
pub fn limit(options: &str, call: &Call) -> Option<pb::DialLimit> {
    let arg = asterism_config::dial_options::argument(options, 'L')?;
    let mut parts = arg.split(':').map(|p| p.trim().parse::<u64>().unwrap_or(0));
    let limit_ms = parts.next().unwrap_or(0);
    let (mut warning_ms, mut repeat_ms) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    if limit_ms == 0 {
        tracing::warn!(argument = arg, "Dial does not accept L({arg}): no limit");
        return None;
    }
    if warning_ms > limit_ms {
        if repeat_ms == 0 {
            warning_ms = 0;
        } else {
            while warning_ms > limit_ms {
                warning_ms = warning_ms.saturating_sub(repeat_ms);
            }
            if warning_ms == 0 {
                repeat_ms = 0;
            }
        }
    }
    let var = |name: &str| call.lookup(name).filter(|v| !v.is_empty());
    let yes = |v: String| {
        matches!(
            v.to_ascii_lowercase().as_str(),
            "yes" | "true" | "y" | "t" | "1" | "on"
        )
    };
    let mut to_caller = var("LIMIT_PLAYAUDIO_CALLER").is_none_or(yes);
    let to_callee = var("LIMIT_PLAYAUDIO_CALLEE").is_some_and(yes);
    if !to_caller && !to_callee {
        to_caller = true;
    }
    Some(pb::DialLimit {
        limit_ms,
        warning_ms,
        repeat_ms,
        to_caller,
        to_callee,
        warning_file: var("LIMIT_WARNING_FILE").unwrap_or_else(|| "timeleft".to_owned()),
        connect_file: var("LIMIT_CONNECT_FILE").unwrap_or_default(),
        timeout_file: var("LIMIT_TIMEOUT_FILE").unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::{plan, start};
    use super::*;

    fn limit_of(vars: &str, options: &str) -> Option<pb::DialLimit> {
        let p = plan("[d]\nexten => 1,1,NoOp()\n");
        let mut call = Call::new(p, &start("d", "1"));
        for kv in vars.split(';').filter(|v| !v.is_empty()) {
            let (k, v) = kv.split_once('=').unwrap();
            call.vars.insert(k.into(), v.into());
        }
        limit(options, &call)
    }

    #[test]
    fn limits_as_app_dial_reads_them() {
        let l = limit_of("", "gL(60000:30000:10000)").unwrap();
        assert_eq!(
            (l.limit_ms, l.warning_ms, l.repeat_ms),
            (60000, 30000, 10000)
        );
        assert!(l.to_caller && !l.to_callee);
        assert_eq!(l.warning_file, "timeleft");
        assert!(l.connect_file.is_empty() && l.timeout_file.is_empty());
        // A warning beyond the limit: pulled back by the repeat, or dropped.
        let l = limit_of("", "L(10000:25000:10000)").unwrap();
        assert_eq!((l.warning_ms, l.repeat_ms), (5000, 10000));
        let l = limit_of("", "L(10000:25000)").unwrap();
        assert_eq!((l.warning_ms, l.repeat_ms), (0, 0));
        assert!(limit_of("", "L(0)").is_none(), "refused");
        assert!(limit_of("", "tr").is_none());
    }

    #[test]
    fn limit_variables() {
        let l = limit_of(
            "LIMIT_PLAYAUDIO_CALLER=no;LIMIT_PLAYAUDIO_CALLEE=yes;LIMIT_WARNING_FILE=beep;LIMIT_TIMEOUT_FILE=bye;LIMIT_CONNECT_FILE=hi",
            "L(5000:1000)",
        )
        .unwrap();
        assert!(!l.to_caller && l.to_callee);
        assert_eq!(
            (
                l.warning_file.as_str(),
                l.connect_file.as_str(),
                l.timeout_file.as_str()
            ),
            ("beep", "hi", "bye")
        );
        let l = limit_of("LIMIT_PLAYAUDIO_CALLER=no", "L(5000)").unwrap();
        assert!(l.to_caller, "nobody: the caller");
    }
}
