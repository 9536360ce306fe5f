//! Any text as an Authorization header value, and the digest computed over
//! what it holds (as the registrar does for every credential it checks).
#![no_main]

use asterism_sip::digest::{self, Algorithm};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(Some(c)) = digest::parse_authorization(&text) {
        if let Some(alg) = Algorithm::parse(c.algorithm.as_deref()) {
            let ha1 = digest::ha1(alg, &c.username, &c.realm, "secret");
            let expected = digest::expected_response(alg, &ha1, "REGISTER", &c);
            let _ = digest::digests_equal(&expected, &c.response);
        }
    }
});
