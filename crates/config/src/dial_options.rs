//! `Dial()`'s option string (`tr`, `gL(60000:30000)`, `m(default)`), read as
//! app_dial reads it: one letter per option, some followed by arguments in
//! parentheses, which are not options themselves. Shared by the router
//! (which acts on `g`) and the edge (which acts on `r`).

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

#[cfg(test)]
mod tests {
    use super::has_option;

    #[test]
    fn letters_outside_arguments_only() {
        assert!(has_option("tr", 'r'));
        assert!(has_option("L(60000:g)g", 'g'));
        assert!(!has_option("L(60000:g)", 'g'));
        assert!(!has_option("m(default)", 'd'));
        assert!(!has_option("", 'g'));
    }
}
