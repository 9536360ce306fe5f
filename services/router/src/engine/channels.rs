//! Channel names and `SHARED()` variables across channels. Each call (and
//! each Local channel the router runs for it) has a name as Asterisk
//! gives one — `SIP/<peer>-<8 hex digits>`, `Local/<exten>@<context>-<8
//! hex>;2` — readable as `${CHANNEL}` and `CHANNEL(name)`, and a table
//! of `SHARED()` variables that other channels of this router may read
//! and write by that name (`SHARED(var,SIP/alice-0000002a)`), as
//! func_global's SHARED does. A channel that is not live here — gone, or
//! a call another router replica runs — is "not found", with Asterisk's
//! error, and reads as empty. A call's Local channels always run with it,
//! so sharing between a caller and its Local channels always works.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, LazyLock, Mutex, Weak};

type Table = Mutex<HashMap<String, String>>;

/// A channel's SHARED() variables.
pub type Shared = Arc<Table>;

/// The live channels of this router, by name.
static LIVE: LazyLock<Mutex<HashMap<String, Weak<Table>>>> = LazyLock::new(Mutex::default);

/// The sequence in channel names (Asterisk's is per process too).
static SEQ: AtomicU32 = AtomicU32::new(0);

/// A new channel name, `<tech>/<resource>-<8 hex digits>`.
pub fn name(tech: &str, resource: &str) -> String {
    let n = SEQ.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
    format!("{tech}/{resource}-{n:08x}")
}

/// Make `shared` the variables of channel `name` for the others.
pub fn register(name: &str, shared: &Shared) {
    if let Ok(mut live) = LIVE.lock() {
        live.retain(|_, w| w.strong_count() > 0);
        live.insert(name.to_owned(), Arc::downgrade(shared));
    }
}

/// The channel is gone.
pub fn unregister(name: &str) {
    if let Ok(mut live) = LIVE.lock() {
        live.remove(name);
    }
}

/// Channel `name`'s SHARED() variables, if it is live here.
pub fn find(name: &str) -> Option<Shared> {
    let found = LIVE.lock().ok()?.get(name)?.upgrade();
    if found.is_none() {
        tracing::error!("Channel '{name}' not found!");
    }
    found
}

/// The table SHARED(…,`channel`) names: the channel's own, or another's.
fn table(own: &Shared, own_name: &str, channel: &str) -> Option<Shared> {
    if channel.is_empty() || channel == own_name {
        Some(own.clone())
    } else {
        find(channel)
    }
}

/// SHARED(var[,channel]) of `own` (the channel `own_name`), or of another.
pub fn read(own: &Shared, own_name: &str, var: &str, channel: &str) -> String {
    let Some(table) = table(own, own_name, channel) else {
        tracing::error!("Channel '{channel}' not found!  Variable '{var}' is empty.");
        return String::new();
    };
    let value = table.lock().ok().and_then(|t| t.get(var).cloned());
    value.unwrap_or_default()
}

/// `Set(SHARED(var[,channel])=value)`; false when the channel is not live.
pub fn write(own: &Shared, own_name: &str, var: &str, channel: &str, value: &str) -> bool {
    let Some(table) = table(own, own_name, channel) else {
        tracing::error!("Channel '{channel}' not found!  Variable '{var}' will not be set.");
        return false;
    };
    if let Ok(mut t) = table.lock() {
        t.insert(var.to_owned(), value.to_owned());
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_across_live_channels_only() {
        let (a, b) = (Shared::default(), Shared::default());
        let (na, nb) = (name("SIP", "alice"), name("SIP", "bob"));
        assert!(na.starts_with("SIP/alice-") && na.len() == "SIP/alice-".len() + 8);
        register(&na, &a);
        register(&nb, &b);
        assert!(write(&a, &na, "X", "", "own"));
        assert!(write(&a, &na, "Y", &nb, "to-bob"));
        assert_eq!(read(&b, &nb, "Y", ""), "to-bob");
        assert_eq!(read(&b, &nb, "X", &na), "own");
        unregister(&nb);
        assert!(!write(&a, &na, "Z", &nb, "gone"));
        assert_eq!(read(&a, &na, "Y", &nb), "");
        drop(a);
        assert_eq!(read(&b, &nb, "X", &na), "", "dropped: gone too");
    }
}
