//! The dialplan: contexts of extensions (literals and patterns), each a list
//! of priorities running one application, plus `[globals]` and the
//! `[general]` switches. Built from `extensions.conf` by [`parse`], rendered
//! like `dialplan show` by [`show`], and read by the engine through
//! [`Dialplan::find`] and [`Dialplan::target`].

pub mod app;
pub mod parse;
pub mod pattern;
pub mod show;

pub use app::{AppKind, Application};
pub use parse::{load, parse_str, Diagnostic, Diagnostics};
pub use pattern::Pattern;

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
    pub priorities: BTreeMap<i32, Priority>,
}

impl Extension {
    pub fn label(&self, label: &str) -> Option<i32> {
        self.priorities
            .values()
            .find(|p| p.label.as_deref() == Some(label))
            .map(|p| p.number)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    pub name: String,
    /// Sorted the way Asterisk searches them: literals, then patterns from
    /// the most specific.
    pub extensions: Vec<Extension>,
    pub includes: Vec<String>,
    pub location: Location,
    /// Literal extension name → index in `extensions` (literals always win,
    /// so a hash lookup replaces the scan of thousands of them).
    pub literals: HashMap<String, usize>,
    /// Index of the first pattern in `extensions`.
    pub first_pattern: usize,
}

impl Context {
    /// Sort extensions in Asterisk's order and build the literal index.
    pub fn finish(&mut self) {
        self.extensions.sort_by(|a, b| a.pattern.cmp(&b.pattern));
        self.literals = self
            .extensions
            .iter()
            .enumerate()
            .filter(|(_, e)| !e.pattern.is_pattern())
            .map(|(i, e)| (e.pattern.as_str().to_owned(), i))
            .collect();
        self.first_pattern = self.literals.len();
    }

    /// This context's own extension for `number` (includes not searched).
    pub fn own(&self, number: &str) -> Option<&Extension> {
        match self.literals.get(number) {
            Some(&i) => self.extensions.get(i),
            None => self.extensions[self.first_pattern..]
                .iter()
                .find(|e| e.pattern.matches(number)),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dialplan {
    pub contexts: HashMap<String, Context>,
    pub globals: Vec<(String, String)>,
    /// `[general] autofallthrough` (default yes): hang up when priorities run out.
    pub autofallthrough: bool,
}

/// How deep `include =>` chains are followed (Asterisk stops at loops too).
const MAX_INCLUDE_DEPTH: usize = 16;

impl Dialplan {
    /// The extension `number` runs in `context`: the context's own extensions
    /// first (in Asterisk order), then its includes, depth first.
    pub fn find(&self, context: &str, number: &str) -> Option<(&Context, &Extension)> {
        self.find_depth(context, number, 0)
    }

    fn find_depth(
        &self,
        context: &str,
        number: &str,
        depth: usize,
    ) -> Option<(&Context, &Extension)> {
        if depth > MAX_INCLUDE_DEPTH {
            return None;
        }
        let ctx = self.contexts.get(context)?;
        if let Some(e) = ctx.own(number) {
            return Some((ctx, e));
        }
        ctx.includes
            .iter()
            .find_map(|inc| self.find_depth(inc, number, depth + 1))
    }

    /// The priority `target` (a number or a label) of `number` in `context`.
    pub fn target(&self, context: &str, number: &str, target: &str) -> Option<i32> {
        let (_, ext) = self.find(context, number)?;
        match target.trim().parse::<i32>() {
            Ok(n) => ext.priorities.contains_key(&n).then_some(n),
            Err(_) => ext.label(target.trim()),
        }
    }

    /// The priority to run, if it exists.
    pub fn priority(&self, context: &str, number: &str, priority: i32) -> Option<&Priority> {
        self.find(context, number)?.1.priorities.get(&priority)
    }
}
