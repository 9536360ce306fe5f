//! What runs for a number, searched as Asterisk's `pbx_find_extension`
//! searches: in a context, literals then patterns in Asterisk's order,
//! skipping caller-ID variants whose match fails; the first extension that
//! has what is asked for (a priority, a label) wins, else the next one is
//! tried; then the includes, in order, those whose time specification
//! applies now. Each context is searched once per lookup (include loops
//! end there, as with Asterisk's include stack).

use super::{Context, Dialplan, Extension, Priority};
use jiff::Timestamp;

/// Who is calling, and when: what caller-ID matches and timed includes
/// depend on.
#[derive(Debug, Clone, Copy)]
pub struct Query<'a> {
    pub caller: &'a str,
    pub now: Timestamp,
}

impl Query<'static> {
    /// No caller number, the current time.
    pub fn anyone() -> Query<'static> {
        Query {
            caller: "",
            now: Timestamp::now(),
        }
    }
}

/// At most this many contexts are searched for one lookup.
const MAX_CONTEXTS_SEARCHED: usize = 128;

impl Context {
    /// This context's own extensions `number` is, in search order.
    pub fn candidates<'c: 'n, 'n>(
        &'c self,
        number: &'n str,
        caller: &'n str,
    ) -> impl Iterator<Item = &'c Extension> + 'n {
        let literals = self
            .literals
            .get(number)
            .into_iter()
            .flatten()
            .filter_map(|&i| self.extensions.get(i));
        let patterns = self.extensions[self.first_pattern..]
            .iter()
            .filter(move |e| e.pattern.matches(number));
        literals.chain(patterns).filter(move |e| match &e.cid {
            None => true,
            // Asterisk: an empty caller number matches no caller-ID pattern.
            Some(cid) => !caller.is_empty() && cid.matches(caller),
        })
    }
}

impl Dialplan {
    /// The first answer `pick` gives for an extension `number` is in
    /// `context` or what it includes.
    fn search<'s, T>(
        &'s self,
        context: &str,
        number: &str,
        q: &Query,
        pick: &mut impl FnMut(&'s Context, &'s Extension) -> Option<T>,
    ) -> Option<T> {
        let mut seen: Vec<&str> = Vec::new();
        self.search_in(context, number, q, pick, &mut seen)
    }

    fn search_in<'s, T>(
        &'s self,
        context: &str,
        number: &str,
        q: &Query,
        pick: &mut impl FnMut(&'s Context, &'s Extension) -> Option<T>,
        seen: &mut Vec<&'s str>,
    ) -> Option<T> {
        let ctx = self.contexts.get(context)?;
        if seen.len() >= MAX_CONTEXTS_SEARCHED || seen.iter().any(|s| *s == ctx.name) {
            return None;
        }
        seen.push(&ctx.name);
        if let Some(found) = ctx.candidates(number, q.caller).find_map(|e| pick(ctx, e)) {
            return Some(found);
        }
        for inc in &ctx.includes {
            if inc.timing.as_ref().is_some_and(|t| !t.matches(q.now)) {
                continue;
            }
            if let Some(found) = self.search_in(&inc.context, number, q, pick, seen) {
                return Some(found);
            }
        }
        None
    }

    /// Priority `priority` of `number` in `context`, for this caller now.
    pub fn priority_for(
        &self,
        context: &str,
        number: &str,
        priority: i32,
        q: &Query,
    ) -> Option<&Priority> {
        self.search(context, number, q, &mut |_, e| e.priorities.get(&priority))
    }

    /// Whether a call to `number` can start in `context` (it has priority 1).
    pub fn exists(&self, context: &str, number: &str, q: &Query) -> bool {
        self.priority_for(context, number, 1, q).is_some()
    }

    /// Whether more digits could make `number` an extension of `context`
    /// (chan_sip answers such an INVITE `484 Address Incomplete`).
    pub fn can_match_more(&self, context: &str, number: &str, q: &Query) -> bool {
        let mut seen: Vec<&str> = Vec::new();
        self.more_in(context, number, q, &mut seen)
    }

    fn more_in<'s>(
        &'s self,
        context: &str,
        number: &str,
        q: &Query,
        seen: &mut Vec<&'s str>,
    ) -> bool {
        let Some(ctx) = self.contexts.get(context) else {
            return false;
        };
        if seen.len() >= MAX_CONTEXTS_SEARCHED || seen.iter().any(|s| *s == ctx.name) {
            return false;
        }
        seen.push(&ctx.name);
        let cid_ok = |e: &Extension| match &e.cid {
            None => true,
            Some(cid) => !q.caller.is_empty() && cid.matches(q.caller),
        };
        if ctx
            .extensions
            .iter()
            .any(|e| cid_ok(e) && e.priorities.contains_key(&1) && e.pattern.can_extend(number))
        {
            return true;
        }
        ctx.includes.iter().any(|inc| {
            inc.timing.as_ref().is_none_or(|t| t.matches(q.now))
                && self.more_in(&inc.context, number, q, seen)
        })
    }

    /// The priority `target` (a number or a label) of `number` in `context`.
    pub fn target_for(&self, context: &str, number: &str, target: &str, q: &Query) -> Option<i32> {
        let target = target.trim();
        match target.parse::<i32>() {
            Ok(n) => self.priority_for(context, number, n, q).map(|p| p.number),
            Err(_) => self.search(context, number, q, &mut |_, e| e.label(target)),
        }
    }

    /// The first extension `number` is in `context` (or its includes),
    /// whatever its priorities, for no particular caller.
    pub fn find(&self, context: &str, number: &str) -> Option<(&Context, &Extension)> {
        self.search(context, number, &Query::anyone(), &mut |c, e| Some((c, e)))
    }

    /// Priority `priority` of `number`, for no particular caller.
    pub fn priority(&self, context: &str, number: &str, priority: i32) -> Option<&Priority> {
        self.priority_for(context, number, priority, &Query::anyone())
    }

    /// [`Dialplan::target_for`] for no particular caller.
    pub fn target(&self, context: &str, number: &str, target: &str) -> Option<i32> {
        self.target_for(context, number, target, &Query::anyone())
    }
}
