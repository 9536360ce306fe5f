//! Command-line flags that mirror the `ASTERISM_*` variables: every setting
//! is declared once ([`Setting`]) with its variable, flag, default and help,
//! so `--help` lists them all and a flag overrides its variable.

use crate::env::Strings;
use std::collections::HashMap;

#[derive(Debug, Clone, Copy)]
pub struct Setting {
    pub env: &'static str,
    pub flag: &'static str,
    pub default: &'static str,
    pub help: &'static str,
}

/// Flags given on the command line, layered over another source.
pub struct Layered<'a> {
    flags: HashMap<&'static str, String>,
    below: &'a dyn Strings,
}

impl Strings for Layered<'_> {
    fn get(&self, key: &str) -> Option<String> {
        self.flags.get(key).cloned().or_else(|| self.below.get(key))
    }
}

#[derive(Debug)]
pub enum CliOutcome<'a> {
    Run(Layered<'a>),
    Help(String),
    Error(String),
}

/// Parse `args` (without the program name) against `settings`.
pub fn parse<'a>(
    program: &str,
    about: &str,
    settings: &[Setting],
    args: impl IntoIterator<Item = String>,
    below: &'a dyn Strings,
) -> CliOutcome<'a> {
    let mut flags = HashMap::new();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        if arg == "-h" || arg == "--help" {
            return CliOutcome::Help(help(program, about, settings));
        }
        let Some(body) = arg.strip_prefix("--") else {
            return CliOutcome::Error(format!("unexpected argument '{arg}' (see --help)"));
        };
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v.to_owned())),
            None => (body, None),
        };
        let Some(s) = settings.iter().find(|s| s.flag == name) else {
            return CliOutcome::Error(format!("unknown flag '--{name}' (see --help)"));
        };
        let Some(value) = inline.or_else(|| args.next()) else {
            return CliOutcome::Error(format!("flag '--{name}' needs a value"));
        };
        flags.insert(s.env, value);
    }
    CliOutcome::Run(Layered { flags, below })
}

impl std::fmt::Debug for Layered<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Layered")
            .field("flags", &self.flags)
            .finish()
    }
}

pub fn help(program: &str, about: &str, settings: &[Setting]) -> String {
    let mut out = format!("{program}: {about}\n\nUsage: {program} [--flag value]...\n\nSettings (flag, environment variable, default):\n");
    for s in settings {
        let default = if s.default.is_empty() {
            "(unset)"
        } else {
            s.default
        };
        out.push_str(&format!(
            "  --{:<22} {:<28} [default: {}]\n      {}\n",
            s.flag, s.env, default, s.help
        ));
    }
    out.push_str("\nLogging: ASTERISM_LOG (filter, default info), ASTERISM_LOG_FORMAT (text|json).\nTracing: the standard OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES.\n");
    out
}

/// Parse the process's own arguments. `Err` carries the exit code after
/// `--help` was printed (0) or a usage error was reported (64).
pub fn parse_args<'a>(
    program: &str,
    about: &str,
    settings: &[Setting],
    below: &'a dyn Strings,
) -> Result<Layered<'a>, std::process::ExitCode> {
    match parse(program, about, settings, std::env::args().skip(1), below) {
        CliOutcome::Run(l) => Ok(l),
        CliOutcome::Help(h) => {
            print!("{h}");
            Err(std::process::ExitCode::SUCCESS)
        }
        CliOutcome::Error(e) => Err(fail(program, e)),
    }
}

/// Report a start-up problem on the log and stderr; exit code 64.
pub fn fail(program: &str, msg: impl std::fmt::Display) -> std::process::ExitCode {
    tracing::error!("{msg}");
    eprintln!("{program}: {msg}");
    std::process::ExitCode::from(crate::EXIT_CONFIG as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: &[Setting] = &[Setting {
        env: "ASTERISM_SIP_BIND",
        flag: "sip-bind",
        default: "0.0.0.0:5060",
        help: "where SIP listens",
    }];

    #[test]
    fn flags_override_env() {
        let env: HashMap<&str, &str> = [("ASTERISM_SIP_BIND", "1.2.3.4:5")].into();
        let CliOutcome::Run(l) = parse("x", "y", S, vec!["--sip-bind=127.0.0.1:9".into()], &env)
        else {
            panic!()
        };
        assert_eq!(l.get("ASTERISM_SIP_BIND").as_deref(), Some("127.0.0.1:9"));
        let CliOutcome::Run(l) = parse("x", "y", S, vec![], &env) else {
            panic!()
        };
        assert_eq!(l.get("ASTERISM_SIP_BIND").as_deref(), Some("1.2.3.4:5"));
    }

    #[test]
    fn help_and_errors() {
        let env: HashMap<&str, &str> = HashMap::new();
        let CliOutcome::Help(h) = parse("x", "y", S, vec!["--help".into()], &env) else {
            panic!()
        };
        assert!(h.contains("ASTERISM_SIP_BIND") && h.contains("0.0.0.0:5060"));
        assert!(matches!(
            parse("x", "y", S, vec!["--nope".into()], &env),
            CliOutcome::Error(_)
        ));
        assert!(matches!(
            parse("x", "y", S, vec!["--sip-bind".into()], &env),
            CliOutcome::Error(_)
        ));
    }
}
