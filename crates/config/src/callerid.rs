//! Caller ID as Asterisk writes it (`callerid=` in sip.conf,
//! `Set(CALLERID(all)=…)` in the dialplan): `"Name" <number>`, or a bare
//! number.

/// `"Alice Smith" <61>` → ("Alice Smith", "61"); `61` → ("", "61").
pub fn split(v: &str) -> (String, String) {
    match (v.find('<'), v.rfind('>')) {
        (Some(l), Some(r)) if l < r => (
            v[..l].trim().trim_matches('"').to_owned(),
            v[l + 1..r].trim().to_owned(),
        ),
        _ => (String::new(), v.trim().to_owned()),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn forms() {
        assert_eq!(
            super::split("\"Alice Smith\" <61>"),
            ("Alice Smith".into(), "61".into())
        );
        assert_eq!(super::split(" 62 "), (String::new(), "62".into()));
    }
}
