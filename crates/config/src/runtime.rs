//! The tokio runtime every Asterism binary runs on, sized by a setting of
//! ours instead of tokio's defaults.
//!
//! tokio starts one worker per core it can see and reads
//! `TOKIO_WORKER_THREADS` on its own, panicking on a bad value. Measured on
//! a two-core box shared by four services, Redis and the load generator,
//! one worker per process did more REGISTERs per CPU second than two:
//! cross-thread wake-ups cost more than the work they spread. So the
//! number is an operator's setting (`ASTERISM_WORKER_THREADS`, the chart
//! fills it from the pod's CPU limit, as Go services set `GOMAXPROCS`),
//! checked like every other setting: a bad value is a start-up error with
//! the reason and exit code 64, never a panic. The runtime is built before
//! the rest of the settings are read, so this module reads its one value
//! from the command line and the environment itself.

use crate::cli::Setting;
use crate::env::Strings;
use std::process::ExitCode;

pub const ENV_WORKER_THREADS: &str = "ASTERISM_WORKER_THREADS";
/// tokio's own variable, honoured (and checked) when ours is unset.
pub const ENV_TOKIO_WORKER_THREADS: &str = "TOKIO_WORKER_THREADS";
const FLAG: &str = "worker-threads";
/// More workers than this is a typo, not a machine.
const MAX_WORKERS: usize = 1024;

/// The setting, for `--help` and the flag parser.
pub const SETTING: Setting = Setting {
    env: ENV_WORKER_THREADS,
    flag: FLAG,
    default: "auto",
    help: "tokio worker threads: a number, or auto (one per CPU this process may use)",
};

/// How many workers the settings ask for: `Ok(None)` means one per CPU.
pub fn worker_threads(args: &[String], env: &dyn Strings) -> Result<Option<usize>, String> {
    match flag_value(args) {
        Some(Some(v)) => return parse(&format!("--{FLAG}"), &v),
        Some(None) => return Err(format!("flag '--{FLAG}' needs a value")),
        None => {}
    }
    for var in [ENV_WORKER_THREADS, ENV_TOKIO_WORKER_THREADS] {
        if let Some(v) = env.get(var) {
            return parse(var, &v);
        }
    }
    Ok(None)
}

/// `Some(None)`: the flag is given without a value.
fn flag_value(args: &[String]) -> Option<Option<String>> {
    let mut it = args.iter();
    let long = format!("--{FLAG}");
    while let Some(a) = it.next() {
        if *a == long {
            return Some(it.next().cloned());
        }
        if let Some(v) = a.strip_prefix(&long).and_then(|r| r.strip_prefix('=')) {
            return Some(Some(v.to_owned()));
        }
    }
    None
}

fn parse(name: &str, value: &str) -> Result<Option<usize>, String> {
    let v = value.trim();
    if v.is_empty() || v.eq_ignore_ascii_case("auto") {
        return Ok(None);
    }
    match v.parse::<usize>() {
        Ok(n) if (1..=MAX_WORKERS).contains(&n) => Ok(Some(n)),
        _ => Err(format!(
            "invalid setting {name}={value:?}: expected auto or a whole number from 1 to {MAX_WORKERS}"
        )),
    }
}

/// Run a binary's main future as a task of a runtime sized by the settings.
/// A task, not `block_on`'s own future: that one runs on the calling
/// thread, outside the workers, and every message it hands to a task would
/// wake a worker on another thread (with one worker per process, that was
/// two busy threads and a context switch per SIP message).
pub fn run<F>(program: &str, main: F) -> ExitCode
where
    F: std::future::Future<Output = ExitCode> + Send + 'static,
{
    let rt = match build(program) {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    rt.block_on(async move {
        tokio::spawn(main).await.unwrap_or_else(|e| {
            eprintln!("{program}: {e}");
            ExitCode::FAILURE
        })
    })
}

/// Build the multi-threaded runtime from the process's own arguments and
/// environment, or report the bad setting and return the exit code.
pub fn build(program: &str) -> Result<tokio::runtime::Runtime, ExitCode> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let workers = worker_threads(&args, &crate::ProcessEnv).map_err(|e| {
        eprintln!("{program}: {e}");
        ExitCode::from(crate::EXIT_CONFIG as u8)
    })?;
    let n = workers.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    // Always set explicitly, so tokio never reads TOKIO_WORKER_THREADS
    // itself (it panics on a value it cannot use).
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(n)
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("{program}: cannot start the async runtime: {e}");
            ExitCode::FAILURE
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn unset_or_auto_means_one_per_cpu() {
        assert_eq!(worker_threads(&[], &env(&[])), Ok(None));
        let e = env(&[(ENV_WORKER_THREADS, "auto")]);
        assert_eq!(worker_threads(&[], &e), Ok(None));
    }

    #[test]
    fn the_flag_wins_over_both_variables() {
        let e = env(&[(ENV_WORKER_THREADS, "3"), (ENV_TOKIO_WORKER_THREADS, "4")]);
        let a = args(&["--sip-listen", "x", "--worker-threads", "2"]);
        assert_eq!(worker_threads(&a, &e), Ok(Some(2)));
        let a = args(&["--worker-threads=5"]);
        assert_eq!(worker_threads(&a, &e), Ok(Some(5)));
        assert_eq!(worker_threads(&[], &e), Ok(Some(3)));
    }

    #[test]
    fn tokio_variable_is_honoured_and_checked_when_ours_is_unset() {
        let e = env(&[(ENV_TOKIO_WORKER_THREADS, "1")]);
        assert_eq!(worker_threads(&[], &e), Ok(Some(1)));
        let e = env(&[(ENV_TOKIO_WORKER_THREADS, "many")]);
        let err = worker_threads(&[], &e).unwrap_err();
        assert!(err.contains("TOKIO_WORKER_THREADS=\"many\""), "{err}");
    }

    #[test]
    fn bad_values_are_named_errors() {
        for bad in ["0", "-1", "two", "1.5", "100000"] {
            let e = env(&[(ENV_WORKER_THREADS, bad)]);
            let err = worker_threads(&[], &e).unwrap_err();
            assert!(err.contains(ENV_WORKER_THREADS), "{err}");
            assert!(err.contains("1 to 1024"), "{err}");
        }
        let err = worker_threads(&args(&["--worker-threads"]), &env(&[])).unwrap_err();
        assert!(err.contains("--worker-threads"), "{err}");
    }
}
