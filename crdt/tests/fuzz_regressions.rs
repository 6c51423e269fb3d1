//! Inputs the fuzz targets (`fuzz/`) once crashed on, replayed the way the targets run them:
//! decode a frame, hand every message to a document that has content, then encode the
//! document again. None may panic, abort or allocate without bound.
//!
//! - `*-awareness-count-bomb`, `*-state-vector-count-bomb`, `*-update-blocks-count`: a few bytes
//!   declaring billions of entries made yrs reserve gigabytes (refused now in `codec`).
//! - `apply_update-unencodable-pending`: an update yrs accepted but whose pending part it could
//!   not encode again; every later full-state encode panicked (refused now in `document`).
//! - `apply_update-block-store-panic`: yrs panics inside `apply_update`; caught, reported as
//!   `ApplyError::Panicked` (the actor closes the session and rebuilds).
//! - `apply_update-panic-in-cleanup`: yrs panics inside `apply_update` and the transaction's
//!   commit-on-drop panics again while unwinding, which aborted the process; the transaction
//!   is now forgotten instead and the document poisoned until rebuilt.
//! - `apply_update-duplicate-client-use-after-free`: an update listing the same client three
//!   times at the same clock made yrs 0.28.1 free an integrated item (heap-use-after-free under
//!   AddressSanitizer); updates are normalized in `codec::decode_update` now.
//! - `apply_update-panic-after-normalizing`: yrs accepts the update, then panics in the
//!   transaction's commit (`ClientBlockList::find_index`), which ran outside the guard when the
//!   transaction was dropped; the commit runs inside it now.
//! - `apply_update-clock-overflow`: block lengths that overflow a u32 clock. A release build of
//!   yrs wrapped them into a corrupt block list whose next full-state encode panicked outside
//!   any guard; the workspace builds yrs with overflow checks, so the decode panics (caught:
//!   a refused update), as it does here in a debug build.
//! - `apply_update-encode-after-corrupt-state`: a full-state encode that panicked outside any
//!   guard; encodes are guarded now (the document is poisoned and rebuilt).
//! - `apply_update-straddling-block-use-after-free`: a garbage-collected range beyond our state
//!   (integrated at once by yrs, behind a placeholder), then an update overlapping it: yrs split
//!   the overlapping block and freed the half it still pointed to. Updates that need changes we
//!   never received are refused now (`document::refuse_gaps`), and overlapping ones are trimmed
//!   before yrs sees them.
//! - `decode_frame-panic-in-normalizing`: yrs panics while normalizing an update (caught; the
//!   frame is refused).

use std::path::Path;

use weft_crdt::codec::{decode_frame, encode_update};
use weft_crdt::{Document, Effects, SessionId};
use yrs::{Array, Doc, Map, Text, Transact};

/// The document the `apply_update` target seeds (keep the two alike).
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

fn replay(frame: &[u8]) {
    let mut doc = seeded();
    if let Ok(messages) = decode_frame(frame) {
        for msg in messages {
            let mut fx = Effects::default();
            if doc.handle(SessionId(1), msg, 0, &mut fx).is_err() {
                break;
            }
            let _ = doc.encode_state();
        }
    }
}

#[test]
fn every_fuzz_finding_is_handled() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-regressions");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("regression folder") {
        let path = entry.expect("entry").path();
        let bytes = std::fs::read(&path).expect("read input");
        replay(&bytes);
        replay(&encode_update(&bytes));
        seen += 1;
    }
    assert!(
        seen >= 5,
        "expected the stored findings in {}",
        dir.display()
    );
}

/// The use-after-free input reaches yrs as one block per clock, whatever it declared.
#[test]
fn duplicate_client_sections_are_normalized_away() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-regressions");
    let bytes = std::fs::read(dir.join("apply_update-duplicate-client-use-after-free"))
        .expect("stored input");
    let update = weft_crdt::codec::decode_update(&bytes).expect("decodes");
    let shown = format!("{update:?}");
    assert_eq!(shown.matches("<1#1>").count(), 1, "{shown}");
}
