//! `Dial()`'s option string (`tr`, `gL(60000:30000)`, `m(default)`), read as
//! app_dial reads it: one letter per option, some followed by arguments in
//! parentheses, which are not options themselves. Shared by the router
//! (which acts on `g`) and the edge (which acts on `r`, `m`).

/// Whether option letter `c` is given (letters inside an option's
/// parenthesised arguments do not count).
pub fn has_option(options: &str, c: char) -> bool {
    let mut depth = 0u32;
    options.chars().any(|x| {
        match x {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            _ => {}
        }
        depth == 0 && x == c
    })
}

/// Option letter `c`'s argument: None when `c` is not given, `Some("")`
/// when it is given bare (`m`), `Some("jazz")` for `m(jazz)`.
pub fn argument(options: &str, c: char) -> Option<&str> {
    let mut depth = 0u32;
    for (i, x) in options.char_indices() {
        match x {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            x if depth == 0 && x == c => {
                let rest = &options[i + x.len_utf8()..];
                let Some(inner) = rest.strip_prefix('(') else {
                    return Some("");
                };
                return Some(inner.split(')').next().unwrap_or(inner));
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::{argument, has_option};

    #[test]
    fn arguments_of_an_option() {
        assert_eq!(argument("tm(jazz)r", 'm'), Some("jazz"));
        assert_eq!(argument("tmr", 'm'), Some(""));
        assert_eq!(argument("L(60000:30000)", 'L'), Some("60000:30000"));
        assert_eq!(argument("L(60000:m)", 'm'), None);
        assert_eq!(argument("m(unclosed", 'm'), Some("unclosed"));
        assert_eq!(argument("", 'm'), None);
    }

    #[test]
    fn letters_outside_arguments_only() {
        assert!(has_option("tr", 'r'));
        assert!(has_option("L(60000:g)g", 'g'));
        assert!(!has_option("L(60000:g)", 'g'));
        assert!(!has_option("m(default)", 'd'));
        assert!(!has_option("", 'g'));
    }
}
