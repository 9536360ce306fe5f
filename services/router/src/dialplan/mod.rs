//! The dialplan: contexts of extensions (literals and patterns, with an
//! optional caller-ID match), each a list of priorities running one
//! application, plus hints, includes (some only at certain times), ignore
//! patterns, `[globals]` and the `[general]` switches. Built from
//! `extensions.conf` by [`parse`], rendered like `dialplan show` by
//! [`show`], and searched as Asterisk's `pbx_find_extension` searches:
//! a context's own extensions in Asterisk's order, then its includes
//! whose time applies, the first extension that has the priority asked
//! for winning (so priorities of `100` and `_1XX` combine, as in Asterisk).

pub mod app;
pub mod dial;
mod lookup;
pub mod parse;
pub mod pattern;
pub mod show;
pub mod timing;

pub use app::{AppKind, Application};
pub use lookup::Query;
pub use parse::{load, parse_str, Diagnostic, Diagnostics};
pub use pattern::Pattern;
pub use timing::Timing;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

/// Where a dialplan line came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: PathBuf,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Priority {
    pub number: i32,
    pub label: Option<String>,
    pub app: Application,
    pub location: Location,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extension {
    pub pattern: Pattern,
    /// `exten => 100/5551234,…`: only for callers whose number matches.
    pub cid: Option<Pattern>,
    /// `exten => 100,hint,SIP/100`: the device whose state it shows.
    pub hint: Option<(String, Location)>,
    pub priorities: BTreeMap<i32, Priority>,
}

impl Extension {
    pub fn label(&self, label: &str) -> Option<i32> {
        self.priorities
            .values()
            .find(|p| p.label.as_deref() == Some(label))
            .map(|p| p.number)
    }

    /// Same extension as Asterisk counts them: name and caller-ID match.
    pub fn is(&self, pattern: &Pattern, cid: Option<&Pattern>) -> bool {
        &self.pattern == pattern && self.cid.as_ref() == cid
    }

    /// Asterisk's order: by name (`ext_cmp`), and for the same name the
    /// caller-ID variants first.
    fn order(&self, other: &Extension) -> std::cmp::Ordering {
        use std::cmp::Ordering::*;
        self.pattern
            .cmp(&other.pattern)
            .then_with(|| match (&self.cid, &other.cid) {
                (None, None) => Equal,
                (Some(_), None) => Less,
                (None, Some(_)) => Greater,
                (Some(a), Some(b)) => a.cmp(b),
            })
    }
}

/// `include => name[,times,weekdays,monthdays,months[,zone]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Include {
    /// The whole value, as `dialplan show` prints it.
    pub text: String,
    pub context: String,
    pub timing: Option<Timing>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    pub name: String,
    /// Sorted the way Asterisk searches them: literals, then patterns from
    /// the most specific.
    pub extensions: Vec<Extension>,
    pub includes: Vec<Include>,
    /// `ignorepat =>`: kept and shown (they matter to analogue phones only).
    pub ignorepats: Vec<String>,
    pub location: Location,
    /// Literal extension name → indexes in `extensions` (caller-ID
    /// variants first): literals come first, so a hash lookup replaces the
    /// scan of thousands of them.
    pub literals: HashMap<String, Vec<usize>>,
    /// Index of the first pattern in `extensions`.
    pub first_pattern: usize,
    /// Definition order, for `dialplan show` (Asterisk lists the newest first).
    pub order: usize,
    /// (name, caller-ID) → index in `extensions` while the file is read
    /// (emptied by [`Context::finish`], which reorders them).
    pub(crate) building: HashMap<(String, String), usize>,
}

impl Context {
    pub fn new(name: &str, location: Location, order: usize) -> Context {
        Context {
            name: name.to_owned(),
            extensions: Vec::new(),
            includes: Vec::new(),
            ignorepats: Vec::new(),
            location,
            literals: HashMap::new(),
            first_pattern: 0,
            order,
            building: HashMap::new(),
        }
    }

    /// Sort extensions in Asterisk's order and build the literal index.
    pub fn finish(&mut self) {
        self.building = HashMap::new();
        self.extensions.sort_by(Extension::order);
        self.literals.clear();
        for (i, e) in self.extensions.iter().enumerate() {
            if !e.pattern.is_pattern() {
                self.literals
                    .entry(e.pattern.key().to_owned())
                    .or_default()
                    .push(i);
            }
        }
        self.first_pattern = self
            .extensions
            .iter()
            .position(|e| e.pattern.is_pattern())
            .unwrap_or(self.extensions.len());
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dialplan {
    pub contexts: HashMap<String, Context>,
    /// `[globals]` as the file sets them (expanded at load).
    pub globals: Vec<(String, String)>,
    /// Global variables as calls see and change them (`Set(GLOBAL(x)=…)`),
    /// shared by every call of this router process.
    pub live_globals: LiveGlobals,
    /// `[general] autofallthrough` (default yes): hang up when priorities run out.
    pub autofallthrough: bool,
    /// `[general] clearglobalvars`: a reload forgets globals set by calls.
    pub clear_globals: bool,
}

/// Global variables shared by the calls of one router process (as in one
/// Asterisk process; each router replica has its own, like each Asterisk).
#[derive(Debug, Clone, Default)]
pub struct LiveGlobals(std::sync::Arc<std::sync::RwLock<HashMap<String, String>>>);

impl LiveGlobals {
    pub fn get(&self, name: &str) -> Option<String> {
        self.0.read().ok()?.get(name).cloned()
    }

    pub fn set(&self, name: &str, value: &str) {
        if let Ok(mut m) = self.0.write() {
            m.insert(name.to_owned(), value.to_owned());
        }
    }

    /// The values, to carry over a reload.
    pub fn snapshot(&self) -> HashMap<String, String> {
        self.0.read().map(|m| m.clone()).unwrap_or_default()
    }
}

/// Two dialplans are equal whatever their calls have set.
impl PartialEq for LiveGlobals {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for LiveGlobals {}

impl Dialplan {
    /// Contexts, extensions and priorities (hints included), counted as
    /// `dialplan show` counts them.
    pub fn counts(&self) -> (usize, usize, usize) {
        let exts = self.contexts.values().flat_map(|c| &c.extensions);
        let prios = exts
            .clone()
            .map(|e| e.priorities.len() + usize::from(e.hint.is_some()))
            .sum();
        (self.contexts.len(), exts.count(), prios)
    }
}
