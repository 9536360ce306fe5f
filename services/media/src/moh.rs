//! Music on hold classes from `musiconhold.conf`, read as res_musiconhold
//! reads them: a section per class, `mode=files` plays every sound file of
//! `directory=` (relative to Asterisk's data directory, the parent of the
//! sounds directory: `/usr/share/asterisk/moh` on Debian) in sorted order,
//! `mode=playlist` plays its `entry=` files; `sort=random` shuffles the
//! list once per hold, `sort=randstart` starts at a random file. Without a
//! `musiconhold.conf` there is the sample's class: `[default]`,
//! `mode=files`, `directory=moh`. The media service is where this lives
//! because it is the only part that plays audio: a relay plays a class to
//! a held party (hold, Dial's `m`) without the signalling knowing files.
//!
//! What Asterism cannot do (`mode=custom`/`mp3` run external players,
//! `announcement=`, `digit=`) is a warning with file:line; an unknown key
//! too. A class name is matched without case, as Asterisk does.

use asterism_config::conf::{ConfError, ConfFile, Section};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The file, in the configuration directory.
pub const FILE: &str = "musiconhold.conf";

/// Extensions of files the media service decodes (see [`crate::sounds`]).
const PLAYABLE: [&str; 4] = ["wav", "ulaw", "alaw", "sln"];

/// Keys res_musiconhold knows that Asterism does not act on.
const UNSUPPORTED: &[&str] = &[
    "application",
    "announcement",
    "digit",
    "format",
    "kill_escalation_delay",
    "kill_method",
    "loop_last",
    "answeredonly",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sort {
    /// Sorted by name (a sorted directory listing; the default).
    #[default]
    Alpha,
    Random,
    RandStart,
}

/// Where a class's files come from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Source {
    /// Every playable file of a directory, listed when the class plays.
    Directory(PathBuf),
    /// `entry=` lines: paths without an extension.
    Entries(Vec<PathBuf>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Class {
    source: Source,
    pub sort: Sort,
}

#[derive(Debug, Clone, Default)]
pub struct Classes {
    by_name: HashMap<String, Class>,
}

impl Classes {
    /// `musiconhold.conf` of `config_dir` when there is one, else the
    /// sample's `[default]` class; relative directories are found under
    /// `data_dir`. Warnings are logged; errors are the file's.
    pub fn load(config_dir: Option<&Path>, data_dir: &Path) -> Result<Classes, ConfError> {
        let path = config_dir.map(|d| d.join(FILE)).filter(|p| p.is_file());
        let Some(path) = path else {
            return Ok(Classes::sample(data_dir));
        };
        let conf = ConfFile::load(&path)?;
        for w in &conf.warnings {
            tracing::warn!("{w}");
        }
        let (classes, warnings) = Classes::from_conf(&conf, data_dir);
        for w in warnings {
            tracing::warn!("{w}");
        }
        Ok(classes)
    }

    /// The sample configuration's one class.
    pub fn sample(data_dir: &Path) -> Classes {
        let default = Class {
            source: Source::Directory(data_dir.join("moh")),
            sort: Sort::Alpha,
        };
        Classes {
            by_name: HashMap::from([("default".to_owned(), default)]),
        }
    }

    /// The classes of a parsed file, and what Asterism will not do of it.
    pub fn from_conf(conf: &ConfFile, data_dir: &Path) -> (Classes, Vec<ConfError>) {
        let mut by_name = HashMap::new();
        let mut warnings = Vec::new();
        for s in conf.sections.iter().filter(|s| !s.is_template) {
            if s.name.eq_ignore_ascii_case("general") {
                continue;
            }
            if let Some(class) = class(s, data_dir, &mut warnings) {
                by_name.entry(s.name.to_ascii_lowercase()).or_insert(class);
            }
        }
        (Classes { by_name }, warnings)
    }

    pub fn get(&self, name: &str) -> Option<&Class> {
        self.by_name.get(&name.to_ascii_lowercase())
    }
}

fn warn(s: &Section, line: usize, message: String) -> ConfError {
    ConfError {
        file: s.file.clone(),
        line,
        column: None,
        message,
    }
}

fn class(s: &Section, data_dir: &Path, warnings: &mut Vec<ConfError>) -> Option<Class> {
    let mut mode = "files".to_owned();
    let mut directory = None;
    let mut entries = Vec::new();
    let mut sort = Sort::Alpha;
    for e in &s.entries {
        let key = e.key.to_ascii_lowercase();
        match key.as_str() {
            "mode" => mode = e.value.to_ascii_lowercase(),
            "directory" => directory = Some(under(data_dir, &e.value)),
            "entry" if e.value.contains("://") => warnings.push(warn(
                s,
                e.line,
                format!(
                    "music on hold entry '{}' is a URL: not supported by Asterism, skipped",
                    e.value
                ),
            )),
            "entry" => entries.push(under(data_dir, &e.value)),
            "sort" => match e.value.to_ascii_lowercase().as_str() {
                "random" => sort = Sort::Random,
                "randstart" => sort = Sort::RandStart,
                "alpha" => sort = Sort::Alpha,
                other => warnings.push(warn(
                    s,
                    e.line,
                    format!(
                        "unknown sort '{other}' for music on hold class '{}'",
                        s.name
                    ),
                )),
            },
            k if UNSUPPORTED.contains(&k) => warnings.push(warn(
                s,
                e.line,
                format!("music on hold '{k}' is not supported by Asterism: ignored"),
            )),
            k => warnings.push(warn(
                s,
                e.line,
                format!("unknown music on hold key '{k}': ignored"),
            )),
        }
    }
    let source = match mode.as_str() {
        "files" => match directory {
            Some(d) => Source::Directory(d),
            None => {
                let m = format!(
                    "music on hold class '{}' has no directory: not loaded",
                    s.name
                );
                warnings.push(warn(s, s.line, m));
                return None;
            }
        },
        "playlist" => Source::Entries(entries),
        other => {
            warnings.push(warn(
                s,
                s.line,
                format!("music on hold mode '{other}' of class '{}' is not supported by Asterism (files, playlist): the class plays nothing", s.name),
            ));
            return None;
        }
    };
    Some(Class { source, sort })
}

/// `path` as res_musiconhold finds it: relative ones under the data directory.
fn under(data_dir: &Path, path: &str) -> PathBuf {
    let p = Path::new(path.trim());
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        data_dir.join(p)
    }
}

impl Class {
    /// The class's files now, as paths without their extension, in the
    /// order to play them (`rand`: a random number for the shuffles).
    pub fn files(&self, rand: &mut impl FnMut(usize) -> usize) -> Vec<PathBuf> {
        let mut files = match &self.source {
            Source::Entries(e) => e.clone(),
            Source::Directory(d) => listing(d),
        };
        match self.sort {
            Sort::Alpha => {}
            Sort::Random => {
                for i in (1..files.len()).rev() {
                    files.swap(i, rand(i + 1));
                }
            }
            Sort::RandStart if !files.is_empty() => {
                let start = rand(files.len());
                files.rotate_left(start);
            }
            Sort::RandStart => {}
        }
        files
    }
}

/// The playable files of a directory, each once (whatever formats it has),
/// sorted by name; hidden files skipped.
fn listing(dir: &Path) -> Vec<PathBuf> {
    let Ok(read) = std::fs::read_dir(dir) else {
        tracing::warn!(dir = %dir.display(), "music on hold directory cannot be read");
        return Vec::new();
    };
    let mut names: Vec<String> = read
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_str()?.to_owned();
            let (stem, ext) = name.rsplit_once('.')?;
            (!stem.is_empty() && !name.starts_with('.') && PLAYABLE.contains(&ext))
                .then(|| stem.to_owned())
        })
        .collect();
    names.sort();
    names.dedup();
    names.into_iter().map(|n| dir.join(n)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> (Classes, Vec<ConfError>) {
        let conf = ConfFile::parse(Path::new("/etc/asterisk/musiconhold.conf"), text).unwrap();
        Classes::from_conf(&conf, Path::new("/usr/share/asterisk"))
    }

    #[test]
    fn classes_as_res_musiconhold_reads_them() {
        let (c, w) = parse(
            "[general]\ncachertclasses=yes\n[default]\nmode=files\ndirectory=moh\n\
             [Ringback]\nmode=playlist\nentry=/var/lib/asterisk/moh/ringback/ring\nentry=http://x/y\n\
             [radio]\nmode=custom\napplication=/usr/bin/mpg123\n[jazz]\ndirectory=/srv/jazz\nsort=random\ndigit=1\n",
        );
        let d = c.get("DEFAULT").unwrap();
        assert_eq!(
            d.source,
            Source::Directory(PathBuf::from("/usr/share/asterisk/moh"))
        );
        let r = c.get("ringback").unwrap();
        assert_eq!(
            r.files(&mut |_| 0),
            [PathBuf::from("/var/lib/asterisk/moh/ringback/ring")]
        );
        assert!(c.get("radio").is_none(), "custom mode plays nothing");
        assert_eq!(c.get("jazz").unwrap().sort, Sort::Random);
        let text: Vec<String> = w.iter().map(|e| e.to_string()).collect();
        assert_eq!(text.len(), 4, "{text:?}");
        assert!(text[0].contains(":9: music on hold entry 'http://x/y' is a URL"));
        assert!(text[1].contains(":12: music on hold 'application' is not supported"));
        assert!(text[2].contains("mode 'custom'") && text[2].contains(":10:"));
        assert!(text[3].contains(":16: music on hold 'digit' is not supported"));
    }

    #[test]
    fn a_directory_lists_each_playable_file_once_sorted() {
        let dir = std::env::temp_dir().join(format!("asterism-moh-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for f in ["b.wav", "b.ulaw", "a.sln", "c.mp3", ".hidden.wav", "d.alaw"] {
            std::fs::write(dir.join(f), b"x").unwrap();
        }
        let class = Class {
            source: Source::Directory(dir.clone()),
            sort: Sort::Alpha,
        };
        let names: Vec<String> = class
            .files(&mut |_| 0)
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["a", "b", "d"]);
        let start = Class {
            sort: Sort::RandStart,
            ..class
        };
        let names: Vec<_> = start
            .files(&mut |_| 2)
            .iter()
            .map(|p| p.file_name().unwrap().to_owned())
            .collect();
        assert_eq!(names, ["d", "a", "b"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn without_a_file_the_sample_default_class() {
        let c = Classes::load(None, Path::new("/usr/share/asterisk")).unwrap();
        assert!(c.get("default").is_some());
        assert!(c.get("jazz").is_none());
    }
}
