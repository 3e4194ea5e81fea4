//! Fuzz target: `Authorization` header parsing (Basic, Digest, Bearer) and the checks that follow
//! it (see `vigia_protocol::auth::fuzz_authorization`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    vigia_protocol::auth::fuzz_authorization(data);
});
