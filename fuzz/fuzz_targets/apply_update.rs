//! Decoding and applying client input through the document state machine, as the actor does:
//! every decoded message goes to `Document::handle` on a document that already has content.
//! An `Err` is fine (the actor closes that session and rebuilds); a panic is a finding.
//!
//! The input is used twice: as a whole frame, and as the body of a sync update message (so the
//! fuzzer spends its time inside the update decoder and `apply_update`, not on framing).
#![no_main]

use libfuzzer_sys::fuzz_target;
use weft_crdt::codec::{decode_frame, encode_update};
use weft_crdt::{Document, Effects, SessionId};
use yrs::{Array, Doc, Map, Text, Transact};

fn seeded() -> Document {
    let doc = Doc::new();
    let text = doc.get_or_insert_text("t");
    let map = doc.get_or_insert_map("m");
    let array = doc.get_or_insert_array("a");
    {
        let mut txn = doc.transact_mut();
        text.push(&mut txn, "hello fuzz");
        map.insert(&mut txn, "k", "v");
        array.push_back(&mut txn, 1.5);
        text.remove_range(&mut txn, 2, 3);
    }
    Document::from_doc(doc)
}

fn run(doc: &mut Document, frame: &[u8]) {
    let Ok(messages) = decode_frame(frame) else {
        return;
    };
    for msg in messages {
        let mut fx = Effects::default();
        if doc.handle(SessionId(1), msg, 0, &mut fx).is_err() {
            return;
        }
        // Whatever was integrated must encode again.
        let _ = doc.encode_state();
    }
}

/// libFuzzer's panic hook aborts on every panic, even one `Document::apply` catches (yrs can
/// panic on malformed input; the actor then closes the session and rebuilds). Production
/// unwinds there, so here only an *uncaught* panic may count as a crash: it still aborts,
/// since it unwinds into libFuzzer's C frames.
fn quiet_caught_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| std::panic::set_hook(Box::new(|_| {})));
}

fuzz_target!(|data: &[u8]| {
    quiet_caught_panics();
    let mut doc = seeded();
    run(&mut doc, data);
    let mut doc = seeded();
    run(&mut doc, &encode_update(data));
});
