//! One conformance suite, run against every store: the embedded SQLite store and PostgreSQL
//! (the server the test command started; see `common::pg`).

mod common;

use std::sync::Arc;

use bytes::Bytes;
use weft::config::SyncMode;
use weft::store::{EmbeddedStore, PgSettings, PostgresStore, Store};
use weft_crdt::DocName;
use yrs::updates::decoder::Decode;
use yrs::{Doc, GetString, ReadTxn, Text, Transact};

struct Under {
    kind: &'static str,
    store: Arc<dyn Store>,
    _dir: Option<tempfile::TempDir>,
}

async fn stores() -> Vec<Under> {
    let dir = tempfile::tempdir().expect("tempdir");
    let embedded = EmbeddedStore::open(dir.path(), SyncMode::Normal).expect("embedded store");
    let url = common::pg::fresh_db(&common::pg::admin_url()).await;
    let pg = PostgresStore::connect(&PgSettings {
        url,
        pool_size: 8,
        connect_timeout: std::time::Duration::from_secs(5),
        statement_timeout: std::time::Duration::from_secs(30),
        sslrootcert: None,
    })
    .await
    .expect("postgres store");
    vec![
        Under {
            kind: "embedded",
            store: Arc::new(embedded),
            _dir: Some(dir),
        },
        Under {
            kind: "postgres",
            store: Arc::new(pg),
            _dir: None,
        },
    ]
}

/// A writer's document and the log of its updates.
fn edits(n: usize, size: usize) -> (String, Vec<Bytes>) {
    let doc = Doc::new();
    let t = doc.get_or_insert_text("t");
    let log = (0..n)
        .map(|i| {
            let mut txn = doc.transact_mut();
            t.push(&mut txn, &format!("{i}:{}", "z".repeat(size)));
            if i % 7 == 3 {
                t.remove_range(&mut txn, 0, 1);
            }
            Bytes::from(txn.encode_update_v1())
        })
        .collect();
    let text = t.get_string(&doc.transact());
    (text, log)
}

async fn text_in(store: &dyn Store, name: &DocName) -> String {
    let stored = store.load(name).await.expect("load");
    let doc = weft_crdt::snapshot::rebuild(&stored.parts).expect("rebuild");
    let t = doc.get_or_insert_text("t");
    let s = t.get_string(&doc.transact());
    s
}

fn name(s: &str) -> DocName {
    DocName::parse(s).expect("valid name")
}

#[tokio::test]
async fn append_load_compact_reload() {
    for u in stores().await {
        let doc = name("conformance/round-trip");
        let (expected, log) = edits(120, 3);
        for chunk in log.chunks(7) {
            u.store.append(&doc, chunk.to_vec()).await.expect("append");
        }
        let loaded = u.store.load(&doc).await.expect("load");
        assert_eq!(loaded.log.entries, 120, "{}", u.kind);
        assert_eq!(text_in(&*u.store, &doc).await, expected, "{}", u.kind);
        let c = u.store.compact(&doc).await.expect("compact");
        assert_eq!(c.merged_entries, 120, "{}", u.kind);
        assert!(
            c.snapshot_bytes < c.merged_bytes,
            "{}: compaction grew the data",
            u.kind
        );
        assert_eq!(
            u.store.load(&doc).await.expect("load").log.entries,
            0,
            "{}",
            u.kind
        );
        assert_eq!(text_in(&*u.store, &doc).await, expected, "{}", u.kind);
        // Compacting again with nothing new is a no-op.
        assert_eq!(
            u.store.compact(&doc).await.expect("compact").merged_entries,
            0
        );
        // Unknown documents are empty, not errors.
        assert!(u
            .store
            .load(&name("nobody"))
            .await
            .expect("load")
            .parts
            .is_empty());
        u.store.ping().await.expect("ping");
    }
}

/// The document actor compacts from its live copy: `replace_log` with the state of every entry
/// up to an append's `last_seq` removes exactly those entries, keeps later ones, and ignores a
/// snapshot older than the one stored.
#[tokio::test]
async fn replace_log_from_a_live_copy() {
    for u in stores().await {
        let doc = name("conformance/replace-log");
        let (expected, log) = edits(60, 4);
        let live = Doc::new();
        let mut last_seq = 0;
        for chunk in log[..40].chunks(5) {
            let stats = u.store.append(&doc, chunk.to_vec()).await.expect("append");
            assert!(stats.last_seq > last_seq, "{}: last_seq must grow", u.kind);
            last_seq = stats.last_seq;
            for update in chunk {
                let update = yrs::Update::decode_v1(update).expect("decode");
                live.transact_mut().apply_update(update).expect("apply");
            }
        }
        let old_snapshot = live
            .transact()
            .encode_state_as_update_v1(&yrs::StateVector::default());
        let first_half_seq = last_seq;
        // Another writer's entries after the live copy's: they must survive the replacement.
        let stats = u
            .store
            .append(&doc, log[40..].to_vec())
            .await
            .expect("append");
        assert!(stats.last_seq > first_half_seq, "{}", u.kind);
        let done = u
            .store
            .replace_log(&doc, old_snapshot.clone(), first_half_seq)
            .await
            .expect("replace_log");
        assert_eq!(done.merged_entries, 40, "{}", u.kind);
        let loaded = u.store.load(&doc).await.expect("load");
        assert_eq!(loaded.log.entries, 20, "{}", u.kind);
        assert_eq!(text_in(&*u.store, &doc).await, expected, "{}", u.kind);
        // Everything merged, then a stale replacement: a no-op.
        let all = u.store.compact(&doc).await.expect("compact");
        assert_eq!(all.merged_entries, 20, "{}", u.kind);
        let stale = u
            .store
            .replace_log(&doc, old_snapshot, first_half_seq)
            .await
            .expect("replace_log");
        assert_eq!(stale.merged_entries, 0, "{}", u.kind);
        assert_eq!(text_in(&*u.store, &doc).await, expected, "{}", u.kind);
    }
}

#[tokio::test]
async fn compaction_races_appends_and_other_compactions() {
    for u in stores().await {
        let doc = name("conformance/race");
        let (expected, log) = edits(300, 2);
        let appender = {
            let store = u.store.clone();
            let doc = doc.clone();
            tokio::spawn(async move {
                for chunk in log.chunks(3) {
                    store.append(&doc, chunk.to_vec()).await.expect("append");
                }
            })
        };
        let compactors: Vec<_> = (0..3)
            .map(|_| {
                let store = u.store.clone();
                let doc = doc.clone();
                tokio::spawn(async move {
                    for _ in 0..10 {
                        store.compact(&doc).await.expect("compact");
                        tokio::task::yield_now().await;
                    }
                })
            })
            .collect();
        appender.await.expect("appender");
        for c in compactors {
            c.await.expect("compactor");
        }
        assert_eq!(text_in(&*u.store, &doc).await, expected, "{}", u.kind);
        u.store.compact(&doc).await.expect("final compact");
        assert_eq!(text_in(&*u.store, &doc).await, expected, "{}", u.kind);
    }
}

#[tokio::test]
async fn huge_updates_and_many_documents() {
    for u in stores().await {
        let big = name("conformance/huge");
        let (expected, log) = edits(2, 6 * 1024 * 1024);
        u.store.append(&big, log).await.expect("append 12 MB");
        assert_eq!(text_in(&*u.store, &big).await, expected, "{}", u.kind);

        let writes = (0..200).map(|i| {
            let store = u.store.clone();
            async move {
                let doc = name(&format!("conformance/many-{i}"));
                let (expected, log) = edits(3, 1);
                store.append(&doc, log).await.expect("append");
                (doc, expected)
            }
        });
        for (doc, expected) in futures_util::future::join_all(writes).await {
            assert_eq!(text_in(&*u.store, &doc).await, expected, "{}", u.kind);
        }
    }
}

/// Many documents appending at once (both stores commit them in groups): every append reports
/// its own document's log as of its commit, and nothing is lost.
#[tokio::test]
async fn concurrent_appends_are_each_committed_and_counted() {
    for u in stores().await {
        let writers = (0..40).map(|i| {
            let store = u.store.clone();
            async move {
                let doc = name(&format!("conformance/order-{i}"));
                let (expected, log) = edits(30, 2);
                let mut entries = 0;
                for chunk in log.chunks(3) {
                    let stats = store.append(&doc, chunk.to_vec()).await.expect("append");
                    entries += chunk.len() as u64;
                    assert_eq!(stats.entries, entries, "log size as of this commit");
                }
                (doc, expected)
            }
        });
        for (doc, expected) in futures_util::future::join_all(writers).await {
            assert_eq!(text_in(&*u.store, &doc).await, expected, "{}", u.kind);
        }
    }
}

#[tokio::test]
async fn create_list_meta_delete() {
    for under in stores().await {
        let store = &*under.store;
        let kind = under.kind;
        assert!(store.create(&name("a/1")).await.expect("create"), "{kind}");
        assert!(
            !store.create(&name("a/1")).await.expect("create again"),
            "{kind}: exists"
        );
        let (_, log) = edits(5, 10);
        store.append(&name("a/2"), log).await.expect("append");
        store
            .append(&name("b/1"), Vec::new())
            .await
            .expect("append nothing");
        let all = store.list("", None, 10).await.expect("list");
        let names: Vec<&str> = all.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["a/1", "a/2", "b/1"], "{kind}");
        let page = store.list("a/", Some("a/1"), 10).await.expect("list page");
        assert_eq!(page.len(), 1, "{kind}");
        assert_eq!(page[0].name, "a/2");
        assert_eq!(page[0].log_entries, 5, "{kind}");
        assert!(page[0].stored_bytes > 0, "{kind}");
        assert!(
            page[0].created_ms > 1_700_000_000_000,
            "{kind}: created in ms"
        );
        let meta = store
            .meta(&name("a/2"))
            .await
            .expect("meta")
            .expect("exists");
        assert_eq!(meta, page[0], "{kind}");
        assert!(
            store.meta(&name("zzz")).await.expect("meta").is_none(),
            "{kind}"
        );
        store
            .put_version(&name("a/2"), version_of(&text_doc("v")), None, 10)
            .await
            .expect("version");
        assert!(store.delete(&name("a/2")).await.expect("delete"), "{kind}");
        assert!(
            !store.delete(&name("a/2")).await.expect("delete again"),
            "{kind}"
        );
        assert!(
            store.meta(&name("a/2")).await.expect("meta").is_none(),
            "{kind}"
        );
        assert!(
            store
                .load(&name("a/2"))
                .await
                .expect("load")
                .parts
                .is_empty(),
            "{kind}"
        );
        assert!(
            store
                .versions(&name("a/2"))
                .await
                .expect("versions")
                .is_empty(),
            "{kind}"
        );
    }
}

fn text_doc(s: &str) -> Doc {
    let doc = Doc::new();
    let t = doc.get_or_insert_text("t");
    t.push(&mut doc.transact_mut(), s);
    doc
}

fn version_of(doc: &Doc) -> weft::store::NewVersion {
    use yrs::updates::encoder::Encode;
    use yrs::ReadTxn;
    let txn = doc.transact();
    weft::store::NewVersion {
        kind: weft::store::VersionKind::Auto,
        label: None,
        base: true,
        state_vector: txn.state_vector().encode_v1(),
        data: txn.encode_state_as_update_v1(&yrs::StateVector::default()),
        created_ms: None,
    }
}

/// Versions as a chain of deltas: each one reads back as its own state, a stale head is
/// refused, and pruning folds the oldest into the next without changing what it reads as.
#[tokio::test]
async fn version_chains_read_back_and_prune() {
    use yrs::updates::decoder::Decode;
    use yrs::updates::encoder::Encode;
    use yrs::ReadTxn;
    for under in stores().await {
        let store = &*under.store;
        let kind = under.kind;
        let doc_name = name("versioned");
        store.create(&doc_name).await.expect("create");
        let doc = Doc::new();
        let t = doc.get_or_insert_text("t");
        let mut texts = Vec::new();
        let mut head: Option<(i64, Vec<u8>)> = None;
        for i in 0..6 {
            {
                let mut txn = doc.transact_mut();
                t.push(&mut txn, &format!("part {i}; "));
                if i == 3 {
                    t.remove_range(&mut txn, 0, 4);
                }
            }
            texts.push(t.get_string(&doc.transact()));
            let txn = doc.transact();
            let (base, data) = match &head {
                Some((_, sv)) => (
                    false,
                    txn.encode_diff_v1(&yrs::StateVector::decode_v1(sv).expect("sv")),
                ),
                None => (
                    true,
                    txn.encode_state_as_update_v1(&yrs::StateVector::default()),
                ),
            };
            let v = weft::store::NewVersion {
                kind: weft::store::VersionKind::Auto,
                label: Some(format!("v{i}")),
                base,
                state_vector: txn.state_vector().encode_v1(),
                data,
                created_ms: None,
            };
            let meta = store
                .put_version(&doc_name, v.clone(), head.as_ref().map(|h| h.0), 4)
                .await
                .expect("put version");
            assert_eq!(meta.id, i + 1, "{kind}");
            if i == 2 {
                let stale = store.put_version(&doc_name, v, Some(1), 4).await;
                assert!(
                    matches!(stale, Err(weft::store::StoreError::VersionRace)),
                    "{kind}: a stale head is refused"
                );
            }
            head = Some((meta.id, txn.state_vector().encode_v1()));
        }
        let listed = store.versions(&doc_name).await.expect("versions");
        let ids: Vec<i64> = listed.iter().map(|v| v.id).collect();
        assert_eq!(ids, [6, 5, 4, 3], "{kind}: newest first, the oldest pruned");
        assert_eq!(listed[0].label.as_deref(), Some("v5"));
        for id in 3..=6 {
            let (meta, parts) = store
                .version_parts(&doc_name, id)
                .await
                .expect("parts")
                .expect("exists");
            assert_eq!(meta.id, id);
            let rebuilt = weft_crdt::snapshot::rebuild(&parts).expect("rebuild");
            let text = rebuilt
                .get_or_insert_text("t")
                .get_string(&rebuilt.transact());
            assert_eq!(text, texts[id as usize - 1], "{kind}: version {id}");
        }
        let head = store
            .version_head(&doc_name)
            .await
            .expect("head")
            .expect("some");
        assert_eq!(head.id, 6, "{kind}");
        assert!(
            store
                .version_parts(&doc_name, 1)
                .await
                .expect("parts")
                .is_none(),
            "{kind}: pruned"
        );
    }
}

/// Cluster catch-up: entries after a position, in order; `None` once compaction merged some
/// of them (the node reloads instead). The embedded store has no positions: nothing to read.
#[tokio::test]
async fn read_after_a_position_until_compaction_passes_it() {
    for under in stores().await {
        let store = &*under.store;
        let doc = name("positions");
        let (_, log) = edits(5, 4);
        let stats = store.append(&doc, log[..3].to_vec()).await.expect("append");
        if under.kind == "embedded" {
            assert_eq!(stats.position, 0);
            assert_eq!(
                store.read_after(&doc, 0).await.expect("read"),
                Some(Vec::new())
            );
            continue;
        }
        assert_eq!(stats.position, 3);
        let stats = store.append(&doc, log[3..].to_vec()).await.expect("append");
        assert_eq!(stats.position, 5);
        let after = store
            .read_after(&doc, 2)
            .await
            .expect("read")
            .expect("entries");
        let positions: Vec<u64> = after.iter().map(|(p, _)| *p).collect();
        assert_eq!(positions, [3, 4, 5]);
        assert_eq!(after[0].1, log[2]);
        store.compact(&doc).await.expect("compact");
        assert_eq!(
            store.read_after(&doc, 2).await.expect("read"),
            None,
            "compacted past 2"
        );
        assert_eq!(
            store.read_after(&doc, 5).await.expect("read"),
            Some(Vec::new())
        );
        assert_eq!(store.load(&doc).await.expect("load").log.position, 5);
    }
}

/// A version given its time (what `weft copy` does) keeps it; one without is stamped now.
#[tokio::test]
async fn a_version_keeps_the_time_it_is_given() {
    for under in stores().await {
        let name = name("copied");
        let doc = text_doc("a");
        let mut old = version_of(&doc);
        old.created_ms = Some(1_600_000_000_123);
        let first = under
            .store
            .put_version(&name, old, None, 10)
            .await
            .expect("put old version");
        assert_eq!(first.created_ms, 1_600_000_000_123, "{}", under.kind);
        under
            .store
            .put_version(&name, version_of(&doc), Some(first.id), 10)
            .await
            .expect("put new version");
        let listed = under.store.versions(&name).await.expect("versions");
        assert_eq!(listed[1].created_ms, 1_600_000_000_123, "{}", under.kind);
        assert!(listed[0].created_ms > 1_700_000_000_000, "{}", under.kind);
    }
}
