//! Real configuration files (`../shared/asterisk-configs`, present in CI):
//! every `extensions.conf` loads with the contexts, extensions and
//! priorities Asterisk loads, and every warning Asterism gives is one
//! Asterisk gives too or names something Asterism lacks.
//!
//! Asterisk's counts come from a reader written here from Asterisk's rules
//! (`main/config.c`, `pbx/pbx_config.c`, `ast_add_extension2`), kept
//! deliberately plain and apart from the router's parser, so a mistake in
//! one does not hide in the other. The corpus is skipped (with a note)
//! where it is absent.

mod common;

use asterism_router::dialplan;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

fn corpus() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/asterisk-configs");
    dir.is_dir().then_some(dir)
}

/// The extensions files a user would load (the top-level ones of each source).
fn extensions_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if p.is_dir() {
            let main = p.join("extensions.conf");
            if main.exists() {
                files.push(main);
            }
        } else if name.contains("extensions") && name.ends_with(".conf") {
            files.push(p);
        }
    }
    files.sort();
    files
}

// ---- The independent reader ------------------------------------------

struct Category {
    name: String,
    template: bool,
    vars: Vec<(String, String)>,
}

struct Reader {
    base: PathBuf,
    cats: Vec<Category>,
    current: Option<usize>,
}

impl Reader {
    fn find(&self, name: &str) -> Option<usize> {
        self.cats
            .iter()
            .position(|c| c.name.eq_ignore_ascii_case(name))
    }

    fn file(&mut self, path: &Path, depth: usize) -> Result<(), String> {
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let text: String = match String::from_utf8(bytes.clone()) {
            Ok(t) => t,
            Err(_) => bytes.iter().map(|&b| b as char).collect(),
        };
        let mut nest = 0usize;
        for raw in text.lines() {
            let line = uncomment(raw, &mut nest);
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            if let Some(d) = line.strip_prefix('#') {
                let mut words = d.splitn(2, char::is_whitespace);
                let (kind, arg) = (
                    words.next().unwrap_or(""),
                    words.next().unwrap_or("").trim(),
                );
                let arg = arg.trim_matches(|c| c == '"' || c == '<' || c == '>');
                let kind = kind.to_ascii_lowercase();
                if (kind == "include" || kind == "tryinclude") && !arg.is_empty() {
                    let target = self.base.join(arg);
                    if target.exists() {
                        if depth > 10 {
                            return Err("include depth".into());
                        }
                        self.file(&target, depth + 1)?;
                    } else if kind == "include" {
                        return Err(format!("missing include {arg}"));
                    }
                }
                continue;
            }
            if let Some(rest) = line.strip_prefix('[') {
                let close = rest.find(']').ok_or("no ]")?;
                let name = rest[..close].trim().to_owned();
                let mut cat = Category {
                    name: name.clone(),
                    template: false,
                    vars: Vec::new(),
                };
                let mut append_to = None;
                if let Some(opts) = rest[close + 1..].strip_prefix('(') {
                    let opts = &opts[..opts.find(')').ok_or("no )")?];
                    for o in opts.split(',').map(str::trim).filter(|o| !o.is_empty()) {
                        if o == "!" {
                            cat.template = true;
                        } else if o.starts_with('+') {
                            append_to = Some(self.find(&name).ok_or("no category to add to")?);
                        } else {
                            let base = self.find(o).ok_or("no base")?;
                            cat.vars.extend(self.cats[base].vars.clone());
                        }
                    }
                }
                match append_to {
                    Some(i) => {
                        self.cats[i].vars.append(&mut cat.vars);
                        self.current = Some(i);
                    }
                    None => {
                        self.cats.push(cat);
                        self.current = Some(self.cats.len() - 1);
                    }
                }
                continue;
            }
            let cur = self.current.ok_or("line before any category")?;
            let Some(eq) = line.find('=') else { continue };
            let name = line[..eq].trim().to_owned();
            let value = line[eq + 1..].strip_prefix('>').unwrap_or(&line[eq + 1..]);
            if !name.is_empty() {
                self.cats[cur].vars.push((name, value.trim().to_owned()));
            }
        }
        Ok(())
    }
}

/// config.c's comment rules for one line.
fn uncomment(raw: &str, nest: &mut usize) -> String {
    let b: Vec<char> = raw.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < b.len() {
        let at = |k: usize| b.get(i + k).copied();
        if b[i] == ';' && i > 0 && b[i - 1] == '\\' {
            if *nest == 0 {
                out.pop();
                out.push(';');
            }
        } else if b[i] == ';' && at(1) == Some('-') && at(2) == Some('-') && at(3) != Some('-') {
            *nest += 1;
            i += 3;
            continue;
        } else if *nest > 0 && b[i] == '-' && at(1) == Some('-') && at(2) == Some(';') {
            *nest -= 1;
            i += 3;
            continue;
        } else if b[i] == ';' && *nest == 0 {
            break;
        } else if *nest == 0 {
            out.push(b[i]);
        }
        i += 1;
    }
    out
}

/// What pbx_config.c would register: per context, (exten, cid) → priorities.
type Counted = BTreeMap<String, BTreeMap<(String, String), BTreeSet<i32>>>;

fn asterisk_counts(path: &Path) -> Result<(usize, usize, usize), String> {
    let mut r = Reader {
        base: path.parent().unwrap().to_path_buf(),
        cats: Vec::new(),
        current: None,
    };
    r.file(path, 0)?;
    let mut globals: HashMap<String, String> = HashMap::new();
    for c in r
        .cats
        .iter()
        .filter(|c| c.name.eq_ignore_ascii_case("globals"))
    {
        for (k, v) in &c.vars {
            globals.insert(k.clone(), v.clone());
        }
    }
    let mut counted: Counted = BTreeMap::new();
    for c in r.cats.iter().filter(|c| {
        !c.template
            && !["general", "globals"]
                .iter()
                .any(|n| c.name.eq_ignore_ascii_case(n))
    }) {
        let ctx = counted.entry(c.name.clone()).or_default();
        let (mut last_ext, mut last_pri) = (String::new(), -2i32);
        let mut labels: HashMap<(String, String, String), i32> = HashMap::new();
        for (k, v) in &c.vars {
            let k = k.to_ascii_lowercase();
            let rest = if k.starts_with("same") {
                if last_ext.is_empty() {
                    continue;
                }
                v.as_str()
            } else if k == "exten" {
                let mut depth = 0;
                let cut = v
                    .char_indices()
                    .find(|&(_, ch)| {
                        match ch {
                            '[' => depth += 1,
                            ']' => depth -= 1,
                            ',' if depth <= 0 => return true,
                            _ => {}
                        }
                        false
                    })
                    .map(|(i, _)| i)
                    .unwrap_or(v.len());
                last_ext = substitute(v[..cut].trim(), &globals);
                &v[(cut + 1).min(v.len())..]
            } else {
                continue;
            };
            let (ext, cid) = match last_ext.split_once('/') {
                Some((e, c)) => (e.to_owned(), c.replace(['(', ')', ' ', '-'], "")),
                None => (last_ext.clone(), String::new()),
            };
            let ext = unfluff(&ext);
            let pri_field = rest.split(',').next().unwrap_or("").trim();
            let (pri_text, label) = match pri_field.split_once('(') {
                Some((p, l)) => match l.find(')') {
                    Some(e) => (p, l[..e].to_owned()),
                    None => continue,
                },
                None => (pri_field, String::new()),
            };
            let (base, plus) = match pri_text.split_once('+') {
                Some((b, p)) => (b, p.trim().parse::<i32>().unwrap_or(0)),
                None => (pri_text, 0),
            };
            let mut pri = match base {
                "hint" => -1,
                "n" | "next" if last_pri > -2 => last_pri + 1,
                "s" | "same" if last_pri > -2 => last_pri,
                "n" | "next" | "s" | "same" => continue,
                other => {
                    let digits: String = other
                        .trim_start()
                        .chars()
                        .enumerate()
                        .take_while(|&(i, ch)| ch.is_ascii_digit() || (i == 0 && ch == '-'))
                        .map(|(_, ch)| ch)
                        .collect();
                    match digits.parse::<i32>() {
                        Ok(n) if n < 1 => continue,
                        Ok(n) => n,
                        Err(_) => match labels.get(&(ext.clone(), cid.clone(), other.to_owned())) {
                            Some(&n) => n,
                            None => continue,
                        },
                    }
                }
            };
            if pri == 0 {
                continue;
            }
            pri += plus;
            last_pri = pri;
            if ext.is_empty() || (ext.starts_with('_') && !pattern_ok(&ext)) {
                continue;
            }
            let prios = ctx.entry((ext.clone(), cid.clone())).or_default();
            if prios.insert(pri) && !label.is_empty() {
                labels.entry((ext, cid, label)).or_insert(pri);
            }
        }
    }
    let exts = counted.values().map(|c| c.len()).sum();
    let prios = counted
        .values()
        .flat_map(|c| c.values())
        .map(|p| p.len())
        .sum();
    Ok((counted.len(), exts, prios))
}

fn unfluff(ext: &str) -> String {
    let mut depth = 0;
    ext.chars()
        .filter(|&ch| {
            match ch {
                '[' => depth += 1,
                ']' => depth = 0,
                '-' if depth == 0 => return false,
                _ => {}
            }
            true
        })
        .collect()
}

/// A pattern Asterisk could ever match (its `[` sets closed and non-empty).
fn pattern_ok(p: &str) -> bool {
    let mut rest = p;
    while let Some(open) = rest.find('[') {
        match rest[open..].find(']') {
            Some(close) if close > 1 => rest = &rest[open + close..],
            _ => return false,
        }
    }
    true
}

fn substitute(s: &str, globals: &HashMap<String, String>) -> String {
    let mut out = s.to_owned();
    while let Some(start) = out.find("${") {
        let Some(end) = out[start..].find('}') else {
            break;
        };
        let name = &out[start + 2..start + end];
        let value = globals.get(name).cloned().unwrap_or_default();
        out.replace_range(start..start + end + 1, &value);
    }
    out
}

// ---- The check ------------------------------------------------------

/// Warnings Asterisk gives too, or that name what Asterism lacks.
const EXPECTED: &[&str] = &[
    "unknown application '",
    "unknown function '",
    "Dial technology '",
    "Dial option '",
    "unknown Dial option",
    "names no technology",
    "is not supported by Asterism",
    "tries to include nonexistent context",
    "already defined at",
    "invalid priority",
    "no closing parenthesis found?",
    "label missing trailing ')'",
    "can't use '",
    "no previous extension",
    "unknown directive",
    "no '=' (equal sign)",
    "is strongly discouraged",
    "label '",
    "already included in",
    "already in context",
];

#[test]
fn every_extensions_file_loads_as_asterisk_loads_it() {
    let Some(dir) = corpus() else {
        eprintln!("../shared/asterisk-configs is absent: corpus check skipped");
        return;
    };
    let files = extensions_files(&dir);
    assert!(files.len() >= 10, "{files:?}");
    let mut report = String::new();
    for f in &files {
        let name = f.strip_prefix(&dir).unwrap().display().to_string();
        let theirs = asterisk_counts(f);
        match (dialplan::load(f), theirs) {
            (Ok((plan, diags)), Ok(want)) => {
                let got = plan.counts();
                assert_eq!(got, want, "{name}: (contexts, extensions, priorities)");
                for d in diags.warnings() {
                    let m = &d.error.message;
                    assert!(
                        EXPECTED.iter().any(|e| m.contains(e)),
                        "{name}: a warning Asterisk would not give: {d}"
                    );
                }
                report.push_str(&format!(
                    "{name}: {} contexts, {} extensions, {} priorities, {} warnings\n",
                    got.0,
                    got.1,
                    got.2,
                    diags.warnings().count()
                ));
            }
            (Err(_), Err(_)) => report.push_str(&format!("{name}: refused, as by Asterisk\n")),
            (ours, theirs) => panic!(
                "{name}: Asterism {} but Asterisk {}",
                if ours.is_ok() {
                    "loads it"
                } else {
                    "refuses it"
                },
                match theirs {
                    Ok(_) => "loads it".to_owned(),
                    Err(e) => format!("refuses it ({e})"),
                }
            ),
        }
    }
    eprint!("{report}");
}

#[test]
fn the_independent_reader_counts_what_asterisk_counts() {
    // The reader's own check, on a file whose counts are known by hand.
    let dir = common::TempDir::new("corpus-reader");
    let f = dir.0.join("extensions.conf");
    std::fs::write(
        &f,
        concat!(
            "[globals]\nX=7\n[t](!)\nexten => 0,1,NoOp\n",
            "[a](t)\nexten => 1,1,NoOp ; c\n same => n(l),NoOp\nexten => 1,l+2,NoOp\n",
            "exten => 100,hint,SIP/100\nexten => 100,n,NoOp\nexten => ${X},1,NoOp\n",
            "exten => 5/55,1,NoOp\nexten => 5,1,NoOp\nexten => 5,1,NoOp\nexten => 6,x,NoOp\n",
            ";-- exten => 8,1,NoOp --;\n[b]\n[a](+)\nexten => 9,1,NoOp\n",
        ),
    )
    .unwrap();
    // a: 0(1) 1(1,2,4) 100(hint) 7(1) 5/55(1) 5(1) 9(1) = 7 extensions, 9 priorities.
    assert_eq!(asterisk_counts(&f).unwrap(), (2, 7, 9));
    let (plan, _) = dialplan::load(&f).unwrap();
    assert_eq!(plan.counts(), (2, 7, 9));
}
