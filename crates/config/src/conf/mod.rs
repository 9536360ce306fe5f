//! Asterisk's configuration file syntax, read as `main/config.c` reads it:
//! `[section]` headers with `(!)` (template), `(+)` (add to an earlier
//! section) and `(base,…)` (copy a section's or template's entries, at
//! that point, so templates build on templates), `key = value`,
//! `key => value` and `key += more` lines, `;` comments with `\;` escapes,
//! nesting `;-- … --;` block comments, `#include`/`#tryinclude` of other
//! files (with globs), and files that are not UTF-8. What Asterisk refuses
//! (an entry before any section, a header without `]`, an unknown base) is
//! an error; what it logs and reads past (a line without `=`, an unknown
//! directive) is a warning. Every entry remembers its file and line so the
//! services can report problems the way `asterisk -rx` users expect.

mod text;

use std::fmt;
use std::path::{Path, PathBuf};
use text::{decode, glob, strip_comment};

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
    /// What Asterisk would log as a warning and read past, for the
    /// service to report (`dialplan check` shows them with file:line).
    pub warnings: Vec<ConfError>,
    /// The section entries go to: the last header's, or the earlier
    /// section a `(+)` header adds to.
    current: Option<usize>,
    /// Where relative `#include`s are found: the first file's directory
    /// (Asterisk's configuration directory), whichever file includes them.
    base: PathBuf,
}

const MAX_INCLUDE_DEPTH: usize = 8;

impl ConfFile {
    pub fn load(path: &Path) -> Result<ConfFile, ConfError> {
        let mut conf = ConfFile::at(path);
        conf.read_file(path, 0, None)?;
        Ok(conf)
    }

    /// Parse text as if it were the file `path` (includes are resolved
    /// relative to its directory).
    pub fn parse(path: &Path, text: &str) -> Result<ConfFile, ConfError> {
        let mut conf = ConfFile::at(path);
        conf.read_text(path, text, 0)?;
        Ok(conf)
    }

    fn at(path: &Path) -> ConfFile {
        ConfFile {
            base: path.parent().unwrap_or(Path::new(".")).to_path_buf(),
            ..ConfFile::default()
        }
    }

    /// The first section of that name (as Asterisk's lookups, without case).
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(name))
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
            } else if line.starts_with('[') {
                self.header(path, line_no, line)?;
            } else {
                self.entry(path, line_no, lead, line)?;
            }
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
        let try_only = name.eq_ignore_ascii_case("tryinclude");
        if name.eq_ignore_ascii_case("exec") {
            self.warn(path, line_no, "cannot perform #exec unless execincludes is enabled (Asterism does not run programs from configuration files): skipped");
            return Ok(());
        }
        if !try_only && !name.eq_ignore_ascii_case("include") {
            self.warn(
                path,
                line_no,
                format!("unknown directive '#{name}': skipped"),
            );
            return Ok(());
        }
        let file = arg.trim_matches(|c| c == '"' || c == '<' || c == '>');
        if file.is_empty() {
            self.warn(
                path,
                line_no,
                format!("directive '#{name}' needs a file name: skipped"),
            );
            return Ok(());
        }
        if depth >= MAX_INCLUDE_DEPTH {
            return Err(err(path, line_no, "#include nested too deeply".into()));
        }
        let target = self.base.join(file);
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

    /// `[name]`, `[name](!)`, `[name](+)`, `[name](base,…)`. Bases are
    /// copied now, as Asterisk copies them: a template built on a template
    /// passes both on, and lines added to a base later are not inherited.
    fn header(&mut self, path: &Path, line_no: usize, line: &str) -> Result<(), ConfError> {
        let close = line
            .find(']')
            .ok_or_else(|| err(path, line_no, "no closing ']' in section header".into()))?;
        let name = line[1..close].trim();
        if name.is_empty() {
            return Err(err(path, line_no, "empty section name".into()));
        }
        // Asterisk reads options only right after ']' and ignores other text.
        let options = match line[close + 1..].strip_prefix('(') {
            Some(rest) => {
                let end = rest.find(')').ok_or_else(|| {
                    err(path, line_no, "no closing ')' after section options".into())
                })?;
                &rest[..end]
            }
            None => "",
        };
        let mut section = Section {
            name: name.to_owned(),
            is_template: false,
            inherits: Vec::new(),
            entries: Vec::new(),
            file: path.to_path_buf(),
            line: line_no,
        };
        let mut add_to = None;
        for o in options.split(',').map(str::trim).filter(|o| !o.is_empty()) {
            if o == "!" {
                section.is_template = true;
            } else if o.starts_with('+') {
                add_to = Some(self.find(name).ok_or_else(|| {
                    err(
                        path,
                        line_no,
                        format!("cannot add to section '{name}': it does not exist"),
                    )
                })?);
            } else {
                let base = self.find(o).ok_or_else(|| {
                    err(
                        path,
                        line_no,
                        format!("cannot inherit from '{o}': no such section or template"),
                    )
                })?;
                let copied = self.sections[base].entries.clone();
                section.entries.extend(copied);
                section.inherits.push(o.to_owned());
            }
        }
        match add_to {
            Some(i) => {
                let target = &mut self.sections[i];
                target.is_template |= section.is_template;
                target.entries.append(&mut section.entries);
                self.current = Some(i);
            }
            None => {
                self.sections.push(section);
                self.current = Some(self.sections.len() - 1);
            }
        }
        Ok(())
    }

    fn find(&self, name: &str) -> Option<usize> {
        self.sections
            .iter()
            .position(|s| s.name.eq_ignore_ascii_case(name))
    }

    /// `key = value`, `key => value`, `key += more` (appended to the
    /// section's last `key`, or set when there is none), `\key` (a key
    /// that starts with a special character).
    fn entry(
        &mut self,
        path: &Path,
        line_no: usize,
        lead: usize,
        line: &str,
    ) -> Result<(), ConfError> {
        let Some(current) = self.current else {
            return Err(err(path, line_no, "entry outside of any [section]".into()));
        };
        let (line, lead) = match line.strip_prefix('\\') {
            Some(rest) => (rest, lead + 1),
            None => (line, lead),
        };
        let Some(eq) = line.find('=') else {
            self.warn(
                path,
                line_no,
                format!("no '=' (equal sign) in '{line}': line ignored"),
            );
            return Ok(());
        };
        let (key, append) = match line[..eq].strip_suffix('+') {
            Some(k) if eq > 1 => (k.trim(), true),
            _ => (line[..eq].trim(), false),
        };
        let arrow = line[eq + 1..].starts_with('>');
        let value_at = eq + 1 + usize::from(arrow);
        let value = &line[value_at..];
        if key.is_empty() {
            self.warn(path, line_no, "no name before '=': line ignored");
            return Ok(());
        }
        let section = &mut self.sections[current];
        if append {
            if let Some(old) = section.entries.iter_mut().rev().find(|e| e.key == key) {
                old.value = format!("{}{}", old.value, value).trim_end().to_owned();
                return Ok(());
            }
        }
        let value_col = lead + value_at + (value.len() - value.trim_start().len()) + 1;
        section.entries.push(Entry {
            key: key.to_owned(),
            value: value.trim().to_owned(),
            arrow,
            file: path.to_path_buf(),
            line: line_no,
            value_col,
        });
        Ok(())
    }

    fn warn(&mut self, path: &Path, line: usize, message: impl Into<String>) {
        self.warnings.push(err(path, line, message.into()));
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

#[cfg(test)]
mod tests;
