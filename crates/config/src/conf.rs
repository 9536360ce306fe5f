//! Asterisk's configuration file syntax: `[section]` headers (with
//! `(template)` and `(!)` markers), `key = value` and `key => value` lines,
//! `;` comments with `\;` escapes, `;-- … --;` block comments, and
//! `#include` of other files. Every entry remembers its file and line so the
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
        let text = std::fs::read_to_string(path).map_err(|e| match from {
            Some((file, line)) => err(file, line, format!("cannot read {}: {e}", path.display())),
            None => err(path, 0, format!("cannot read: {e}")),
        })?;
        self.read_text(path, &text, depth)
    }

    fn read_text(&mut self, path: &Path, text: &str, depth: usize) -> Result<(), ConfError> {
        let mut in_block_comment = false;
        for (i, raw) in text.lines().enumerate() {
            let line_no = i + 1;
            let stripped = strip_comment(raw, &mut in_block_comment);
            let lead = stripped.len() - stripped.trim_start().len();
            let line = stripped.trim();
            if line.is_empty() {
                continue;
            }
            if let Some(rest) = line.strip_prefix("#include") {
                if depth >= MAX_INCLUDE_DEPTH {
                    return Err(err(path, line_no, "#include nested too deeply".into()));
                }
                let name = rest
                    .trim()
                    .trim_matches(|c| c == '"' || c == '<' || c == '>');
                if name.is_empty() {
                    return Err(err(path, line_no, "#include without a file name".into()));
                }
                let target = path.parent().unwrap_or(Path::new(".")).join(name);
                self.read_file(&target, depth + 1, Some((path, line_no)))?;
                continue;
            }
            if line.starts_with('#') {
                // #exec and other directives are not supported: say so.
                return Err(err(path, line_no, format!("unsupported directive: {line}")));
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

/// Drop `;` comments (keeping `\;` as a literal `;`) and `;-- … --;` blocks.
fn strip_comment(raw: &str, in_block: &mut bool) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    loop {
        if *in_block {
            match rest.find("--;") {
                Some(end) => {
                    *in_block = false;
                    rest = &rest[end + 3..];
                }
                None => return out,
            }
        }
        let mut chars = rest.char_indices().peekable();
        let mut cut = None;
        while let Some((i, c)) = chars.next() {
            if c == '\\' && chars.peek().map(|(_, n)| *n) == Some(';') {
                out.push(';');
                chars.next();
                continue;
            }
            if c == ';' {
                cut = Some(i);
                break;
            }
            out.push(c);
        }
        match cut {
            Some(i) if rest[i..].starts_with(";--") => {
                *in_block = true;
                rest = &rest[i + 3..];
            }
            _ => return out,
        }
    }
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
