//! The calls of this edge whose Dial is ringing, by the dialplan place that
//! dials (context, extension): where `Pickup(exten@context)` looks, as
//! app_directed_pickup looks for a ringing channel dialled from that
//! extension. A call lists itself when its B legs start ringing and leaves
//! when the Dial ends (or its task does); the oldest ringing call of a
//! place is picked first. One edge's calls only: a Pickup entering through
//! another edge does not see them.

use crate::command::LegEvent;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// (context, extension) of the Dial.
pub type Place = (String, String);

/// The calls ringing from one place, oldest first: Call-ID, task.
type Calls = Vec<(String, mpsc::Sender<LegEvent>)>;

#[derive(Clone, Default)]
pub struct Ringing(Arc<Mutex<HashMap<Place, Calls>>>);

impl Ringing {
    /// Call `call_id` (its task reached through `tx`) rings from `place`.
    pub fn add(&self, place: Place, call_id: &str, tx: mpsc::Sender<LegEvent>) {
        self.remove(call_id);
        if let Ok(mut m) = self.0.lock() {
            m.entry(place).or_default().push((call_id.to_owned(), tx));
        }
    }

    /// Call `call_id` no longer rings.
    pub fn remove(&self, call_id: &str) {
        if let Ok(mut m) = self.0.lock() {
            m.retain(|_, calls| {
                calls.retain(|(id, _)| id != call_id);
                !calls.is_empty()
            });
        }
    }

    /// The oldest call ringing from the first of `places` that has one.
    pub fn find(&self, places: &[Place]) -> Option<mpsc::Sender<LegEvent>> {
        let m = self.0.lock().ok()?;
        places
            .iter()
            .find_map(|p| m.get(p)?.iter().find(|(_, tx)| !tx.is_closed()))
            .map(|(_, tx)| tx.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_ringing_call_of_a_place_is_found_until_it_leaves() {
        let r = Ringing::default();
        let (a, _ra) = mpsc::channel(1);
        let (b, _rb) = mpsc::channel(1);
        let place = |e: &str| ("default".to_owned(), e.to_owned());
        r.add(place("62"), "a", a.clone());
        r.add(place("62"), "b", b);
        assert!(r.find(&[place("61")]).is_none());
        let found = r.find(&[place("61"), place("62")]).unwrap();
        assert!(found.same_channel(&a));
        r.remove("a");
        assert!(!r.find(&[place("62")]).unwrap().same_channel(&a));
        r.remove("b");
        assert!(r.find(&[place("62")]).is_none());
        assert!(r.0.lock().unwrap().is_empty(), "nothing left behind");
    }
}
