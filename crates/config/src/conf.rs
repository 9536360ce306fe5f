//! Asterisk's configuration file syntax: `[section]` headers (with
//! `(template)` and `(!)` markers), `key = value` and `key => value` lines,
//! `;` comments with `\;` escapes, nesting `;-- … --;` block comments,
//! `#include`/`#tryinclude` of other files (with globs), and files that
//! are not UTF-8, all as Asterisk's `main/config.c` reads them. Every entry remembers its file and line so the
//! services can report problems the way `asterisk -rx` users expect.

use std::fmt;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfError {
    pub file: PathBuf,
    pub line: usize,
    /// 1-based column, when the problem is at a known place in the line.
    pub column: Option<usize>,
    pub message: String,
}

impl fmt::Display for ConfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.column {
            Some(c) => write!(
                f,
                "{}:{}:{c}: {}",
                self.file.display(),
                self.line,
                self.message
            ),
            None => write!(f, "{}:{}: {}", self.file.display(), self.line, self.message),
        }
    }
}

impl Entry {
    /// An error about this entry, `offset` bytes into its value.
    pub fn error_at(&self, offset: usize, message: impl Into<String>) -> ConfError {
        ConfError {
            file: self.file.clone(),
            line: self.line,
            column: Some(self.value_col + offset),
            message: message.into(),
        }
    }
}

impl std::error::Error for ConfError {}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    pub value: String,
    /// `=>` rather than `=` (extensions.conf uses both).
    pub arrow: bool,
    pub file: PathBuf,
    pub line: usize,
    /// 1-based column where the value starts in the line.
    pub value_col: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub name: String,
    /// `[name](!)`: a template, not a real section.
    pub is_template: bool,
    /// `[name](a,b)`: templates this section inherits from.
    pub inherits: Vec<String>,
    pub entries: Vec<Entry>,
    pub file: PathBuf,
    pub line: usize,
}

impl Section {
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries
            .iter()
            .rev()
            .find(|e| e.key.eq_ignore_ascii_case(key))
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfFile {
    pub sections: Vec<Section>,
}

const MAX_INCLUDE_DEPTH: usize = 8;

impl ConfFile {
    pub fn load(path: &Path) -> Result<ConfFile, ConfError> {
        let mut conf = ConfFile::default();
        conf.read_file(path, 0, None)?;
        conf.apply_templates()?;
        Ok(conf)
    }

    /// Parse text as if it were the file `path` (includes are resolved
    /// relative to its directory).
    pub fn parse(path: &Path, text: &str) -> Result<ConfFile, ConfError> {
        let mut conf = ConfFile::default();
        conf.read_text(path, text, 0)?;
        conf.apply_templates()?;
        Ok(conf)
    }

    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.name == name)
    }

    fn read_file(
        &mut self,
        path: &Path,
        depth: usize,
        from: Option<(&Path, usize)>,
    ) -> Result<(), ConfError> {
        let bytes = std::fs::read(path).map_err(|e| match from {
            Some((file, line)) => err(file, line, format!("cannot read {}: {e}", path.display())),
            None => err(path, 0, format!("cannot read: {e}")),
        })?;
        self.read_text(path, &decode(bytes), depth)
    }

    fn read_text(&mut self, path: &Path, text: &str, depth: usize) -> Result<(), ConfError> {
        let mut comment_depth = 0;
        for (i, raw) in text.lines().enumerate() {
            let line_no = i + 1;
            let stripped = strip_comment(raw, &mut comment_depth);
            let lead = stripped.len() - stripped.trim_start().len();
            let line = stripped.trim();
            if line.is_empty() {
                continue;
            }
            if let Some(directive) = line.strip_prefix('#') {
                self.directive(path, line_no, directive, depth)?;
                continue;
            }
            if line.starts_with('[') {
                self.sections
                    .push(parse_section_header(path, line_no, line)?);
                continue;
            }
            let Some(section) = self.sections.last_mut() else {
                return Err(err(path, line_no, "entry outside of any [section]".into()));
            };
            section
                .entries
                .push(parse_entry(path, line_no, lead, line)?);
        }
        Ok(())
    }

    /// `#include` (a missing file is an error, as in Asterisk), `#tryinclude`
    /// (a missing file is skipped), both with globs; `#exec` is skipped with
    /// Asterisk's warning (it runs programs only with `execincludes=yes`,
    /// which Asterism does not offer); anything else is warned about.
    fn directive(
        &mut self,
        path: &Path,
        line_no: usize,
        directive: &str,
        depth: usize,
    ) -> Result<(), ConfError> {
        let (name, arg) = match directive.split_once(|c: char| c.is_ascii_whitespace()) {
            Some((n, a)) => (n, a.trim()),
            None => (directive, ""),
        };
        let at = format!("{}:{line_no}", path.display());
        let try_only = name.eq_ignore_ascii_case("tryinclude");
        if name.eq_ignore_ascii_case("exec") {
            tracing::warn!("{at}: cannot perform #exec unless execincludes is enabled (Asterism does not run programs from configuration files): skipped");
            return Ok(());
        }
        if !try_only && !name.eq_ignore_ascii_case("include") {
            tracing::warn!("{at}: unknown directive '#{name}': skipped");
            return Ok(());
        }
        if depth >= MAX_INCLUDE_DEPTH {
            return Err(err(path, line_no, "#include nested too deeply".into()));
        }
        let file = arg.trim_matches(|c| c == '"' || c == '<' || c == '>');
        if file.is_empty() {
            return Err(err(path, line_no, format!("#{name} without a file name")));
        }
        let target = path.parent().unwrap_or(Path::new(".")).join(file);
        let targets = match glob(&target) {
            Some(found) => found,
            None => vec![target],
        };
        for t in targets {
            if try_only && !t.exists() {
                continue;
            }
            self.read_file(&t, depth + 1, Some((path, line_no)))?;
        }
        Ok(())
    }

    /// Prepend the entries of inherited templates to each section.
    fn apply_templates(&mut self) -> Result<(), ConfError> {
        let snapshot = self.sections.clone();
        for s in &mut self.sections {
            let mut inherited = Vec::new();
            for t in &s.inherits {
                let tmpl = snapshot
                    .iter()
                    .find(|x| &x.name == t)
                    .ok_or_else(|| err(&s.file, s.line, format!("unknown template '{t}'")))?;
                inherited.extend(tmpl.entries.iter().cloned());
            }
            inherited.append(&mut s.entries);
            s.entries = inherited;
        }
        Ok(())
    }
}

fn err(file: &Path, line: usize, message: String) -> ConfError {
    ConfError {
        file: file.to_path_buf(),
        line,
        column: None,
        message,
    }
}

/// Text as Asterisk reads it, byte for byte: UTF-8 when it is, else each
/// byte as the Latin-1 character it is (comments in Latin-1 are common).
fn decode(bytes: Vec<u8>) -> String {
    match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => e.into_bytes().iter().map(|&b| char::from(b)).collect(),
    }
}

/// Asterisk's comment rules (`main/config.c`): `;` ends the line's text
/// unless escaped as `\;`; `;--` not followed by a third `-` opens a block
/// comment that `--;` closes, and blocks nest (`depth` carries the nesting
/// from line to line). A `;-----` separator is an ordinary comment.
fn strip_comment(raw: &str, depth: &mut usize) -> String {
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
fn glob(pattern: &Path) -> Option<Vec<PathBuf>> {
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
fn wildcard(pattern: &str, name: &str) -> bool {
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

fn parse_section_header(path: &Path, line_no: usize, line: &str) -> Result<Section, ConfError> {
    let close = line
        .find(']')
        .ok_or_else(|| err(path, line_no, "section header without ']'".into()))?;
    let name = line[1..close].trim();
    if name.is_empty() {
        return Err(err(path, line_no, "empty section name".into()));
    }
    let rest = line[close + 1..].trim();
    let (mut is_template, mut inherits) = (false, Vec::new());
    if !rest.is_empty() {
        let opts = rest
            .strip_prefix('(')
            .and_then(|r| r.strip_suffix(')'))
            .ok_or_else(|| {
                err(
                    path,
                    line_no,
                    format!("unexpected text after section: {rest}"),
                )
            })?;
        for o in opts.split(',').map(str::trim).filter(|o| !o.is_empty()) {
            if o == "!" {
                is_template = true;
            } else if o == "+" {
                // Appending to an earlier section: treated as a new block of it.
            } else {
                inherits.push(o.to_owned());
            }
        }
    }
    Ok(Section {
        name: name.to_owned(),
        is_template,
        inherits,
        entries: Vec::new(),
        file: path.to_path_buf(),
        line: line_no,
    })
}

fn parse_entry(path: &Path, line_no: usize, lead: usize, line: &str) -> Result<Entry, ConfError> {
    let (key, value, arrow, value_at) = match (line.find("=>"), line.find('=')) {
        (Some(a), Some(e)) if a == e => (&line[..a], &line[a + 2..], true, a + 2),
        (_, Some(e)) => (&line[..e], &line[e + 1..], false, e + 1),
        _ => {
            return Err(err(
                path,
                line_no,
                format!("expected 'key = value', found '{line}'"),
            ))
        }
    };
    let key = key.trim();
    if key.is_empty() {
        return Err(err(path, line_no, "missing key before '='".into()));
    }
    let value_col = lead + value_at + (value.len() - value.trim_start().len()) + 1;
    Ok(Entry {
        key: key.to_owned(),
        value: value.trim().to_owned(),
        arrow,
        file: path.to_path_buf(),
        line: line_no,
        value_col,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ConfFile, ConfError> {
        ConfFile::parse(Path::new("test.conf"), text)
    }

    #[test]
    fn sections_entries_and_comments() {
        let c = parse("[general]\nstatic=yes ; comment\n\n[default]\n; default contexte\nexten => 61,1,Dial(SIP/nlys)\nx = a\\;b\n").unwrap();
        assert_eq!(c.sections.len(), 2);
        let d = c.section("default").unwrap();
        assert_eq!(d.entries[0].key, "exten");
        assert!(d.entries[0].arrow);
        assert_eq!(d.entries[0].value, "61,1,Dial(SIP/nlys)");
        assert_eq!(d.entries[0].line, 6);
        assert_eq!(d.entries[0].value_col, 10);
        assert_eq!(d.entries[1].value, "a;b");
        assert_eq!(
            c.section("general").unwrap().get("static").unwrap().value,
            "yes"
        );
    }

    #[test]
    fn block_comments() {
        let c = parse("[a]\n;-- x=1\ny=2 --;\nz=3\n").unwrap();
        let a = c.section("a").unwrap();
        assert_eq!(a.entries.len(), 1);
        assert_eq!(a.entries[0].key, "z");
    }

    #[test]
    fn separator_lines_are_comments_not_block_openers() {
        let c = parse("[a]\n;-----------\nx=1\n;--- three dashes too\ny=2\n").unwrap();
        let keys: Vec<&str> = c.sections[0]
            .entries
            .iter()
            .map(|e| e.key.as_str())
            .collect();
        assert_eq!(keys, vec!["x", "y"]);
    }

    #[test]
    fn block_comments_nest_and_end_mid_line() {
        let c = parse("[a]\n;-- outer ;-- inner --; still out --; x=1\ny=2 ;-- z=3 --; ; w=4\n")
            .unwrap();
        let a = &c.sections[0];
        assert_eq!(a.entries.len(), 2);
        assert_eq!(
            (a.entries[0].key.as_str(), a.entries[0].value.as_str()),
            ("x", "1")
        );
        assert_eq!(
            (a.entries[1].key.as_str(), a.entries[1].value.as_str()),
            ("y", "2")
        );
    }

    #[test]
    fn latin1_files_load() {
        let dir = std::env::temp_dir().join(format!("asterism-conf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("minivm.conf");
        std::fs::write(&f, b"; Fran\xe7ois' notes\n[general]\nformat=wav\n").unwrap();
        let c = ConfFile::load(&f).unwrap();
        assert_eq!(
            c.section("general").unwrap().get("format").unwrap().value,
            "wav"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn tryinclude_globs_exec_and_unknown_directives() {
        let dir = std::env::temp_dir().join(format!("asterism-inc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("b_peers.conf"), "[bob]\ntype=friend\n").unwrap();
        std::fs::write(dir.join("a_peers.conf"), "[alice]\ntype=friend\n").unwrap();
        let main = dir.join("sip.conf");
        std::fs::write(
            &main,
            "[general]\n#tryinclude missing.conf\n#include \"*_peers.conf\"\n#exec /bin/date\n#frobnicate x\n",
        )
        .unwrap();
        let c = ConfFile::load(&main).unwrap();
        let names: Vec<&str> = c.sections.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, vec!["general", "alice", "bob"]);
        std::fs::write(&main, "[general]\n#include missing.conf\n").unwrap();
        let e = ConfFile::load(&main).unwrap_err();
        assert_eq!(e.line, 2, "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn templates() {
        let c = parse("[phone](!)\ntype=friend\nhost=dynamic\n[alice](phone)\nsecret=x\n").unwrap();
        let a = c.section("alice").unwrap();
        assert_eq!(a.get("type").unwrap().value, "friend");
        assert!(c.section("phone").unwrap().is_template);
    }

    #[test]
    fn errors_name_file_and_line() {
        let e = parse("[a]\nx=1\nbroken line\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "test.conf:3: expected 'key = value', found 'broken line'"
        );
        let e = parse("x=1\n").unwrap_err();
        assert_eq!(e.line, 1);
        let e = parse("[a\n").unwrap_err();
        assert!(e.to_string().starts_with("test.conf:1:"));
    }
}
