//! The calls of this edge whose Dial is ringing, by the dialplan place that
//! dials (context, extension) and the call groups of the phones it rings:
//! where `Pickup(exten@context)` looks (app_directed_pickup looks for a
//! ringing channel dialled from that extension) and where a pickup by
//! group (`*8`, `Pickup()`) looks for a phone whose `callgroup` shares a
//! group with the picker's `pickupgroup`. A call lists itself when its B
//! legs start ringing and leaves when the Dial ends (or its task does);
//! the oldest ringing call is picked first. One edge's calls only: a
//! pickup entering through another edge does not see them.

use crate::command::LegEvent;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// (context, extension) of the Dial.
pub type Place = (String, String);

/// What a pickup looks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wanted {
    /// A Dial from the first of these places that has one.
    Places(Vec<Place>),
    /// A phone ringing in one of these groups (a `pickupgroup` mask).
    Groups(u64),
}

/// One ringing call: when it was listed, its Call-ID, place, the call
/// groups of the phones it rings, its task.
struct Entry {
    seq: u64,
    call_id: String,
    place: Place,
    groups: u64,
    tx: mpsc::Sender<LegEvent>,
}

#[derive(Default)]
struct Table {
    seq: u64,
    calls: Vec<Entry>,
}

#[derive(Clone, Default)]
pub struct Ringing(Arc<Mutex<Table>>);

impl Ringing {
    /// Call `call_id` (its task reached through `tx`) rings from `place`,
    /// phones of call groups `groups`.
    pub fn add(&self, (place, groups): (Place, u64), call_id: &str, tx: mpsc::Sender<LegEvent>) {
        self.remove(call_id);
        if let Ok(mut t) = self.0.lock() {
            t.seq += 1;
            let seq = t.seq;
            t.calls.push(Entry {
                seq,
                call_id: call_id.to_owned(),
                place,
                groups,
                tx,
            });
        }
    }

    /// Call `call_id` no longer rings.
    pub fn remove(&self, call_id: &str) {
        if let Ok(mut t) = self.0.lock() {
            t.calls.retain(|e| e.call_id != call_id);
        }
    }

    /// The oldest call that rings as `wanted` says.
    pub fn find(&self, wanted: &Wanted) -> Option<mpsc::Sender<LegEvent>> {
        let t = self.0.lock().ok()?;
        let live = |e: &&Entry| !e.tx.is_closed();
        let oldest = |f: &dyn Fn(&Entry) -> bool| {
            t.calls
                .iter()
                .filter(live)
                .filter(|e| f(e))
                .min_by_key(|e| e.seq)
                .map(|e| e.tx.clone())
        };
        match wanted {
            Wanted::Places(places) => places.iter().find_map(|p| oldest(&|e| e.place == *p)),
            Wanted::Groups(mask) => oldest(&|e| e.groups & mask != 0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_ringing_call_of_a_place_or_group_is_found_until_it_leaves() {
        let r = Ringing::default();
        let (a, _ra) = mpsc::channel(1);
        let (b, _rb) = mpsc::channel(1);
        let place = |e: &str| ("default".to_owned(), e.to_owned());
        let at = |e: &str| Wanted::Places(vec![place("61"), place(e)]);
        r.add((place("62"), 0b10), "a", a.clone());
        r.add((place("62"), 0b110), "b", b.clone());
        assert!(r.find(&Wanted::Places(vec![place("61")])).is_none());
        assert!(r.find(&at("62")).unwrap().same_channel(&a));
        assert!(r.find(&Wanted::Groups(0b100)).unwrap().same_channel(&b));
        assert!(
            r.find(&Wanted::Groups(0b1)).is_none(),
            "no phone in group 0"
        );
        r.remove("a");
        assert!(r.find(&at("62")).unwrap().same_channel(&b));
        r.remove("b");
        assert!(r.find(&at("62")).is_none());
        assert!(r.0.lock().unwrap().calls.is_empty(), "nothing left behind");
    }
}
