//! The edge's table of active calls, for `EdgeAdmin.ListCalls`. Each call
//! task holds a [`CallEntry`] that keeps its row up to date and removes it
//! when the task ends, however it ends.

use asterism_proto::edge::{CallInfo, LegInfo};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

struct Row {
    info: CallInfo,
    started: Instant,
}

#[derive(Clone, Default)]
pub struct CallRegistry(Arc<Mutex<HashMap<String, Row>>>);

impl CallRegistry {
    /// Register a new call; the returned entry removes it on drop.
    pub fn enter(&self, call_id: &str, caller: &str, dialled: &str, leg: LegInfo) -> CallEntry {
        let info = CallInfo {
            call_id: call_id.to_owned(),
            caller: caller.to_owned(),
            dialled: dialled.to_owned(),
            state: "trying".into(),
            age_seconds: 0.0,
            legs: vec![leg],
        };
        if let Ok(mut m) = self.0.lock() {
            m.insert(
                call_id.to_owned(),
                Row {
                    info,
                    started: Instant::now(),
                },
            );
        }
        CallEntry {
            registry: self.clone(),
            call_id: call_id.to_owned(),
        }
    }

    /// Every active call, oldest first.
    pub fn list(&self) -> Vec<CallInfo> {
        let Ok(m) = self.0.lock() else {
            return Vec::new();
        };
        let mut rows: Vec<(&Row, CallInfo)> = m
            .values()
            .map(|r| {
                let mut info = r.info.clone();
                info.age_seconds = r.started.elapsed().as_secs_f64();
                (r, info)
            })
            .collect();
        rows.sort_by_key(|(r, _)| r.started);
        rows.into_iter().map(|(_, i)| i).collect()
    }

    pub fn len(&self) -> usize {
        self.0.lock().map(|m| m.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One call's row; removed when dropped.
pub struct CallEntry {
    registry: CallRegistry,
    call_id: String,
}

impl CallEntry {
    fn with(&self, f: impl FnOnce(&mut CallInfo)) {
        if let Ok(mut m) = self.registry.0.lock() {
            if let Some(r) = m.get_mut(&self.call_id) {
                f(&mut r.info);
            }
        }
    }

    pub fn state(&self, state: &str) {
        self.with(|i| i.state = state.to_owned());
    }

    pub fn add_leg(&self, leg: LegInfo) {
        self.with(|i| i.legs.push(leg));
    }

    /// Set the state of the leg with Call-ID `call_id`.
    pub fn leg_state(&self, call_id: &str, state: &str) {
        self.with(|i| {
            if let Some(l) = i.legs.iter_mut().find(|l| l.call_id == call_id) {
                l.state = state.to_owned();
            }
        });
    }
}

impl Drop for CallEntry {
    fn drop(&mut self) {
        if let Ok(mut m) = self.registry.0.lock() {
            m.remove(&self.call_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_follow_the_entry() {
        let r = CallRegistry::default();
        {
            let e = r.enter(
                "c1",
                "62",
                "61",
                LegInfo {
                    call_id: "c1".into(),
                    role: "caller".into(),
                    ..Default::default()
                },
            );
            e.state("answered");
            e.add_leg(LegInfo {
                call_id: "b1".into(),
                role: "callee".into(),
                ..Default::default()
            });
            e.leg_state("b1", "confirmed");
            let l = r.list();
            assert_eq!(l.len(), 1);
            assert_eq!(l[0].state, "answered");
            assert_eq!(l[0].legs[1].state, "confirmed");
        }
        assert!(r.is_empty(), "dropped entry removes the row");
    }
}
