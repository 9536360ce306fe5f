//! Wall-clock time for expiries and nonces (bindings outlive processes, so
//! they are stamped in Unix time, not monotonic time).

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
