//! Any bytes a client can send as one WebSocket frame: `decode_frame` must return `Ok` or
//! `Err`, never panic, hang or allocate without bound.
//!
//! yrs can panic while decoding (it is built with overflow checks, so a wrapped clock panics
//! instead of corrupting a document); `codec` catches that and refuses the frame. libFuzzer's
//! panic hook aborts on every panic, even a caught one, so it is silenced here: only a panic
//! that escapes `decode_frame` still aborts (it unwinds into libFuzzer's C frames).
#![no_main]

use libfuzzer_sys::fuzz_target;

fn quiet_caught_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| std::panic::set_hook(Box::new(|_| {})));
}

fuzz_target!(|data: &[u8]| {
    quiet_caught_panics();
    let _ = weft_crdt::codec::decode_frame(data);
});
