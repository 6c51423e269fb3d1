//! One conformance suite, run against every store: the embedded SQLite store and PostgreSQL
//! (the server the test command started; see `common::pg`).

mod common;

use std::sync::Arc;

use bytes::Bytes;
use weft::config::SyncMode;
use weft::store::{EmbeddedStore, PgSettings, PostgresStore, Store};
use weft_crdt::DocName;
use yrs::{Doc, GetString, Text, Transact};

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
