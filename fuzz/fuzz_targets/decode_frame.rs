//! Any bytes a client can send as one WebSocket frame: `decode_frame` must return `Ok` or
//! `Err`, never panic, hang or allocate without bound.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = weft_crdt::codec::decode_frame(data);
});
