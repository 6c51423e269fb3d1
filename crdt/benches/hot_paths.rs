//! Micro-benchmarks of the paths every edit, join and commit goes through in Weft.
//!
//! - `decode_frame`: the session decodes a y-websocket frame off the document actor
//!   ([`codec::decode_frame`]): a typed keystroke, a sync step 1, an awareness update, and
//!   the ~1 MB sync step 2 a client sends when it brings a whole document.
//! - `apply_update`: the actor integrates decoded updates with [`Document::handle`] (yrs apply,
//!   the pending-bytes check, the diff to persist and the broadcast frame), 100 keystrokes per
//!   iteration on top of a document of a few thousand edits and on top of a ~1 MB one.
//! - `encode`: the broadcast frame encoders for a keystroke, a ~1 MB step 2 and awareness.
//! - `snapshot`: [`snapshot::rebuild`] and [`snapshot::compact`] of a snapshot plus 500 log
//!   entries (the server's default `--compact-after`), and of a raw log of 5,000 updates.
//! - `sync_step1`: answering a client's sync step 1 on the ~1 MB document (what every join
//!   costs): a fresh client (empty state vector), a client 200 edits behind, an up-to-date one.
//!
//! Inputs are generated here with yrs: four clients typing into one `Y.Text("text")` (runs of
//! 1–8 characters near a moving cursor, deletions, and a few pastes), kept in sync with each
//! other, every transaction recorded as the v1 update a provider would send.
//!
//! `cargo bench -p weft-crdt` runs them all; `cargo bench -p weft-crdt -- --quick` or
//! `WEFT_BENCH_SHORT=1 cargo bench -p weft-crdt` is a short smoke run; a filter picks groups,
//! e.g. `cargo bench -p weft-crdt -- sync_step1`.

use std::hint::black_box;
use std::sync::LazyLock;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use weft_crdt::codec::{self, Inbound};
use weft_crdt::document::{Document, Effects, SessionId};
use weft_crdt::snapshot;
use yrs::updates::decoder::Decode;
use yrs::{Doc, GetString, ReadTxn, StateVector, Text, TextRef, Transact, Update};

/// A small deterministic PRNG (xorshift64*), so every run benchmarks the same inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u32, hi: u32) -> u32 {
        lo + (self.next() % u64::from(hi - lo + 1)) as u32
    }
    fn text(&mut self, len: u32) -> String {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz     etaoin,.;()\n";
        (0..len)
            .map(|_| ALPHABET[(self.next() % ALPHABET.len() as u64) as usize] as char)
            .collect()
    }
}

/// Mix of edits a writer makes.
#[derive(Clone, Copy)]
struct Mix {
    /// Percent of edits that delete 1..=10 characters.
    delete_pct: u32,
    /// Percent of edits that paste `paste` characters; the rest type 1..=8.
    paste_pct: u32,
    paste: (u32, u32),
}

/// Four clients editing one text, kept in sync; every transaction's v1 update is recorded.
struct Session {
    writers: Vec<(Doc, TextRef, u32)>,
    rng: Rng,
    mix: Mix,
}

impl Session {
    fn new(seed: u64, mix: Mix) -> Self {
        let writers = (1..=4u64)
            .map(|id| {
                let doc = Doc::with_client_id(id * 1_000_003);
                let text = doc.get_or_insert_text("text");
                (doc, text, 0)
            })
            .collect();
        Session {
            writers,
            rng: Rng(seed),
            mix,
        }
    }

    /// One edit by writer `w`, applied to the other writers; returns its update.
    fn edit(&mut self, w: usize) -> Vec<u8> {
        let rng = &mut self.rng;
        let mix = self.mix;
        let (doc, text, cursor) = &mut self.writers[w];
        let update = {
            let mut txn = doc.transact_mut();
            let len = text.len(&txn);
            // The cursor mostly stays put, sometimes jumps (another paragraph).
            if rng.range(0, 99) < 10 || *cursor > len {
                *cursor = rng.range(0, len);
            }
            let roll = rng.range(0, 99);
            if roll < mix.delete_pct && len > 0 {
                let n = rng.range(1, 10).min(len);
                let at = cursor.saturating_sub(n);
                let n = n.min(len - at);
                text.remove_range(&mut txn, at, n);
                *cursor = at;
            } else {
                let n = if roll < mix.delete_pct + mix.paste_pct {
                    rng.range(mix.paste.0, mix.paste.1)
                } else {
                    rng.range(1, 8)
                };
                let s = rng.text(n);
                text.insert(&mut txn, *cursor, &s);
                *cursor += n;
            }
            txn.encode_update_v1()
        };
        for (i, (other, _, _)) in self.writers.iter().enumerate() {
            if i != w {
                let u = Update::decode_v1(&update).expect("own update decodes");
                other
                    .transact_mut()
                    .apply_update(u)
                    .expect("in-order apply");
            }
        }
        update
    }

    /// `n` edits by writers in turn (runs of a few edits per writer, like real typing).
    fn edits(&mut self, n: usize) -> Vec<Vec<u8>> {
        let mut out = Vec::with_capacity(n);
        let mut w = 0;
        while out.len() < n {
            let run = self.rng.range(1, 12) as usize;
            for _ in 0..run.min(n - out.len()) {
                out.push(self.edit(w));
            }
            w = (w + 1) % self.writers.len();
        }
        out
    }

    fn state(&self) -> Vec<u8> {
        self.writers[0]
            .0
            .transact()
            .encode_state_as_update_v1(&StateVector::default())
    }

    fn state_vector(&self) -> StateVector {
        self.writers[0].0.transact().state_vector()
    }

    fn text(&self) -> String {
        let (doc, text, _) = &self.writers[0];
        text.get_string(&doc.transact())
    }
}

/// A document, the log of edits that follow it, and a state vector from 200 edits before its end.
struct Fixture {
    /// Compacted state before `log`.
    snapshot: Vec<u8>,
    /// Edits after `snapshot`, in order.
    log: Vec<Vec<u8>>,
    /// Full state after `log`.
    full: Vec<u8>,
    /// State vector of a client that missed the last 200 edits of `log`.
    behind: StateVector,
    /// State vector after `log`.
    current: StateVector,
}

fn fixture(name: &str, seed: u64, base_edits: usize, mix: Mix) -> Fixture {
    let mut s = Session::new(seed, mix);
    s.edits(base_edits);
    let snapshot = s.state();
    let mut log = s.edits(300);
    let behind = s.state_vector();
    log.extend(s.edits(200));
    let full = s.state();
    let current = s.state_vector();
    // The inputs are what they claim: the log on top of the snapshot is the full text.
    let rebuilt = snapshot::rebuild(&[&snapshot].into_iter().chain(&log).collect::<Vec<_>>())
        .expect("fixture rebuilds");
    let rebuilt_text = rebuilt
        .get_or_insert_text("text")
        .get_string(&rebuilt.transact());
    assert_eq!(
        rebuilt_text,
        s.text(),
        "fixture {name}: log does not rebuild"
    );
    eprintln!(
        "fixture {name}: {} edits, text {} chars, snapshot {} B, full state {} B, log of {} updates ({} B)",
        base_edits + log.len(),
        s.text().len(),
        snapshot.len(),
        full.len(),
        log.len(),
        log.iter().map(Vec::len).sum::<usize>(),
    );
    Fixture {
        snapshot,
        log,
        full,
        behind,
        current,
    }
}

/// A document of a few thousand keystroke-sized edits (~40 KB of state).
static SMALL: LazyLock<Fixture> = LazyLock::new(|| {
    fixture(
        "small",
        0x5EED_0001,
        4_000,
        Mix {
            delete_pct: 15,
            paste_pct: 1,
            paste: (20, 200),
        },
    )
});

/// A ~1 MB document: 8,000 edits, a few of them pastes.
static LARGE: LazyLock<Fixture> = LazyLock::new(|| {
    fixture(
        "large",
        0x5EED_0002,
        8_000,
        Mix {
            delete_pct: 12,
            paste_pct: 6,
            paste: (500, 3_000),
        },
    )
});

/// A raw log of 5,000 edits from an empty document (a store that never compacted).
static RAW_LOG: LazyLock<Vec<Vec<u8>>> = LazyLock::new(|| {
    Session::new(
        0x5EED_0003,
        Mix {
            delete_pct: 15,
            paste_pct: 1,
            paste: (20, 200),
        },
    )
    .edits(5_000)
});

fn document_from(state: &[u8]) -> Document {
    Document::from_doc(snapshot::rebuild(&[state]).expect("fixture rebuilds"))
}

fn awareness_frame() -> Vec<u8> {
    let state = r##"{"user":{"name":"Ada Lovelace","color":"#30bced"},"cursor":{"anchor":{"type":null,"tname":"text","item":{"client":1000003,"clock":1234},"assoc":0},"head":{"type":null,"tname":"text","item":{"client":1000003,"clock":1240},"assoc":0}}}"##;
    codec::encode_awareness([(1_000_003u64, 17u32, state)].into_iter())
}

fn bench_decode(c: &mut Criterion) {
    let f = &*SMALL;
    let keystroke = codec::encode_update(&f.log[0]);
    let step1 = codec::encode_sync_step1(&f.current);
    let awareness = awareness_frame();
    let big_step2 = codec::encode_sync_step2(&LARGE.full);

    let mut g = c.benchmark_group("decode_frame");
    for (name, frame) in [
        ("update_keystroke", &keystroke),
        ("sync_step1", &step1),
        ("awareness", &awareness),
        ("sync_step2_1MB", &big_step2),
    ] {
        g.throughput(Throughput::Bytes(frame.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| codec::decode_frame(black_box(frame)).expect("valid frame"))
        });
    }
    g.finish();
}

/// Applies the first 100 log entries (decoded beforehand, as the session does) to a document
/// rebuilt from the fixture's snapshot.
fn bench_apply(c: &mut Criterion) {
    const BATCH: usize = 100;
    let mut g = c.benchmark_group("apply_update");
    g.throughput(Throughput::Elements(BATCH as u64));
    for (name, f) in [("small_doc_x100", &*SMALL), ("1MB_doc_x100", &*LARGE)] {
        let frames: Vec<Vec<u8>> = f.log[..BATCH]
            .iter()
            .map(|u| codec::encode_update(u))
            .collect();
        g.bench_function(name, |b| {
            b.iter_batched(
                || {
                    let doc = document_from(&f.snapshot);
                    let msgs: Vec<Inbound> = frames
                        .iter()
                        .flat_map(|fr| codec::decode_frame(fr).expect("valid frame"))
                        .collect();
                    (doc, msgs)
                },
                |(mut doc, msgs)| {
                    let mut fx = Effects::default();
                    for msg in msgs {
                        doc.handle(SessionId(1), msg, 0, &mut fx)
                            .expect("update applies");
                    }
                    assert_eq!(fx.broadcast.len(), BATCH);
                    (doc, fx)
                },
                BatchSize::LargeInput,
            )
        });
    }
    g.finish();
}

fn bench_encode(c: &mut Criterion) {
    let keystroke = &SMALL.log[0];
    let full = &LARGE.full;
    let mut g = c.benchmark_group("encode");
    g.throughput(Throughput::Bytes(keystroke.len() as u64));
    g.bench_function("update_keystroke", |b| {
        b.iter(|| codec::encode_update(black_box(keystroke)))
    });
    g.throughput(Throughput::Bytes(full.len() as u64));
    g.bench_function("sync_step2_1MB", |b| {
        b.iter(|| codec::encode_sync_step2(black_box(full)))
    });
    g.throughput(Throughput::Elements(1));
    g.bench_function("sync_step1", |b| {
        b.iter(|| codec::encode_sync_step1(black_box(&LARGE.current)))
    });
    g.bench_function("awareness", |b| b.iter(awareness_frame));
    g.finish();
}

fn bench_snapshot(c: &mut Criterion) {
    let mut g = c.benchmark_group("snapshot");
    if !short() {
        g.sample_size(20);
    }
    for (name, f) in [("small", &*SMALL), ("1MB", &*LARGE)] {
        let parts: Vec<&[u8]> = std::iter::once(f.snapshot.as_slice())
            .chain(f.log.iter().map(Vec::as_slice))
            .collect();
        g.throughput(Throughput::Elements(parts.len() as u64));
        g.bench_function(format!("rebuild_{name}_snapshot+500"), |b| {
            b.iter(|| snapshot::rebuild(black_box(&parts)).expect("rebuilds"))
        });
        g.bench_function(format!("compact_{name}_snapshot+500"), |b| {
            b.iter(|| snapshot::compact(black_box(&parts)).expect("compacts"))
        });
    }
    let raw = &*RAW_LOG;
    g.throughput(Throughput::Elements(raw.len() as u64));
    g.bench_function("compact_log_5000", |b| {
        b.iter(|| snapshot::compact(black_box(raw)).expect("compacts"))
    });
    g.finish();
}

fn bench_sync_step1(c: &mut Criterion) {
    let f = &*LARGE;
    let mut doc = document_from(&f.full);
    let mut g = c.benchmark_group("sync_step1");
    for (name, sv) in [
        ("1MB_fresh_client", StateVector::default()),
        ("1MB_200_edits_behind", f.behind.clone()),
        ("1MB_up_to_date", f.current.clone()),
    ] {
        let reply = doc.encode_diff(&sv).map_or(0, |r| r.len());
        g.throughput(Throughput::Bytes(reply as u64));
        // The state-vector diff alone (yrs encode_diff_v1)...
        g.bench_function(format!("{name}/encode_diff"), |b| {
            b.iter(|| doc.encode_diff(black_box(&sv)))
        });
        // ...and the whole answer the document actor produces (diff + step 2 frame).
        g.bench_function(format!("{name}/handle"), |b| {
            b.iter(|| {
                let mut fx = Effects::default();
                doc.handle(SessionId(7), Inbound::SyncStep1(sv.clone()), 0, &mut fx)
                    .expect("step 1 answered");
                fx
            })
        });
    }
    g.finish();
}

/// `WEFT_BENCH_SHORT=1` (any value) shortens every benchmark to a smoke run.
fn short() -> bool {
    std::env::var_os("WEFT_BENCH_SHORT").is_some()
}

fn config() -> Criterion {
    let c = Criterion::default();
    if short() {
        c.warm_up_time(Duration::from_millis(200))
            .measurement_time(Duration::from_millis(500))
            .sample_size(10)
    } else {
        c
    }
}

criterion_group! {
    name = hot_paths;
    config = config();
    targets = bench_decode, bench_apply, bench_encode, bench_snapshot, bench_sync_step1
}
criterion_main!(hot_paths);
