//! The characters of a configuration file as Asterisk's `main/config.c`
//! sees them: Latin-1 when not UTF-8, its comment rules, include globs.

use std::path::{Path, PathBuf};

/// Text as Asterisk reads it, byte for byte: UTF-8 when it is, else each
/// byte as the Latin-1 character it is (comments in Latin-1 are common).
pub(super) fn decode(bytes: Vec<u8>) -> String {
    match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => e.into_bytes().iter().map(|&b| char::from(b)).collect(),
    }
}

/// Asterisk's comment rules (`main/config.c`): `;` ends the line's text
/// unless escaped as `\;`; `;--` not followed by a third `-` opens a block
/// comment that `--;` closes, and blocks nest (`depth` carries the nesting
/// from line to line). A `;-----` separator is an ordinary comment.
pub(super) fn strip_comment(raw: &str, depth: &mut usize) -> String {
    const MAX_NESTED: usize = 128;
    let b = raw.as_bytes();
    let mut out = String::with_capacity(raw.len());
    // Start of the text kept since the last cut, and where scanning resumes.
    let (mut kept, mut from) = (0, 0);
    loop {
        let Some(p) = raw[from..].find(';').map(|i| from + i) else {
            if *depth == 0 {
                out.push_str(&raw[kept..]);
            }
            return out;
        };
        if p > from && b[p - 1] == b'\\' {
            if *depth == 0 {
                out.push_str(&raw[kept..p - 1]);
                out.push(';');
                kept = p + 1;
            }
            from = p + 1;
        } else if raw[p..].starts_with(";--") && b.get(p + 3) != Some(&b'-') {
            if *depth == 0 {
                out.push_str(&raw[kept..p]);
            }
            *depth = (*depth + 1).min(MAX_NESTED);
            from = p + 3;
        } else if *depth > 0 && p >= from + 2 && &b[p - 2..p] == b"--" {
            *depth -= 1;
            from = p + 1;
            if *depth == 0 {
                kept = from;
            }
        } else if *depth == 0 {
            out.push_str(&raw[kept..p]);
            return out;
        } else {
            from = p + 1;
        }
    }
}

/// The files a `#include` pattern names, sorted, when it has `*` or `?` in
/// its file name (Asterisk globs includes); `None` when it is a plain name.
pub(super) fn glob(pattern: &Path) -> Option<Vec<PathBuf>> {
    let name = pattern.file_name()?.to_str()?;
    if !name.contains(['*', '?']) {
        return None;
    }
    let dir = pattern.parent().unwrap_or(Path::new("."));
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_str().is_some_and(|n| wildcard(name, n)))
        .map(|e| e.path())
        .collect();
    found.sort();
    Some(found)
}

/// `*` and `?` matching of a whole file name (a leading `.` only matches
/// itself, as glob(3) has it).
pub(super) fn wildcard(pattern: &str, name: &str) -> bool {
    if name.starts_with('.') && !pattern.starts_with('.') {
        return false;
    }
    fn go(p: &[u8], n: &[u8]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], n) || (!n.is_empty() && go(p, &n[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &n[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &n[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), name.as_bytes())
}
