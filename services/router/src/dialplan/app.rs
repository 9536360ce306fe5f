//! Dialplan applications: which ones exist, which the router runs itself
//! (Goto, Set, Gosub…) and which it hands to the edge as a step (Answer,
//! Dial, Playback…). Arguments stay raw until the call runs them, because
//! `${…}` and `$[…]` are expanded at run time.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppKind {
    /// Executed inside the router.
    Internal,
    /// Sent to the edge as a step; the dialplan waits for its result.
    External,
    /// Not an application we know: reported at load, fails the call if reached.
    Unknown,
}

const INTERNAL: &[&str] = &[
    "Goto",
    "GotoIf",
    "GotoIfTime",
    "Set",
    "MSet",
    "NoOp",
    "Verbose",
    "Log",
    "Gosub",
    "GosubIf",
    "Return",
    "ExecIf",
    "ExecIfTime",
    "While",
    "EndWhile",
    "ExitWhile",
    "ContinueWhile",
    "Macro",
    "MacroExit",
    "NoCDR",
    "ResetCDR",
    "System",
    "TrySystem",
    "DBdel",
    "DBdeltree",
];
const EXTERNAL: &[&str] = &[
    "Answer",
    "Ringing",
    "Progress",
    "Playback",
    "Background",
    "Echo",
    "Dial",
    "Wait",
    "Hangup",
    "Busy",
    "Congestion",
    "SayDigits",
    "MusicOnHold",
    "Transfer",
    "Pickup",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Application {
    /// Canonical spelling when known (application names are case-insensitive).
    pub name: String,
    pub args: String,
    pub kind: AppKind,
}

impl Application {
    pub fn new(name: &str, args: &str) -> Application {
        let known =
            |list: &[&'static str]| list.iter().find(|n| n.eq_ignore_ascii_case(name)).copied();
        let (name, kind) = match (known(INTERNAL), known(EXTERNAL)) {
            (Some(n), _) => (n.to_owned(), AppKind::Internal),
            (_, Some(n)) => (n.to_owned(), AppKind::External),
            _ => (name.to_owned(), AppKind::Unknown),
        };
        Application {
            name,
            args: args.to_owned(),
            kind,
        }
    }
}

impl std::fmt::Display for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}({})", self.name, self.args)
    }
}

/// Split application arguments on `sep` at nesting depth zero (outside
/// `()`, `[]`, `${…}` and quotes), honouring `\` escapes.
pub fn split_args(args: &str, sep: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut depth = 0i32;
    let mut quoted = false;
    let mut chars = args.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
                continue;
            }
            '"' => quoted = !quoted,
            '(' | '[' | '{' if !quoted => depth += 1,
            ')' | ']' | '}' if !quoted => depth -= 1,
            c if c == sep && depth <= 0 && !quoted => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    out.push(cur);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_case() {
        assert_eq!(Application::new("answer", "").kind, AppKind::External);
        assert_eq!(Application::new("answer", "").name, "Answer");
        assert_eq!(Application::new("GOTO", "x").kind, AppKind::Internal);
        assert_eq!(Application::new("Frobnicate", "").kind, AppKind::Unknown);
    }

    #[test]
    fn argument_splitting() {
        assert_eq!(split_args("SIP/a&SIP/b,30", ','), vec!["SIP/a&SIP/b", "30"]);
        assert_eq!(
            split_args("$[${X} = 1]?a,1:b,2", '?'),
            vec!["$[${X} = 1]", "a,1:b,2"]
        );
        assert_eq!(
            split_args("x=${IF($[1]?a:b)},y", ','),
            vec!["x=${IF($[1]?a:b)}", "y"]
        );
        assert_eq!(split_args("a\\,b,c", ','), vec!["a,b", "c"]);
    }
}
