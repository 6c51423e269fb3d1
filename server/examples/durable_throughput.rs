//! Durable updates per second through the real document actor and store (no sockets):
//! writers hand updates to document actors, an observer per document counts the broadcasts,
//! and a broadcast only happens after the update is committed.
//!
//! ```sh
//! cargo run --release -p weft-server --example durable_throughput -- [DATABASE_URL]
//! ```
//! Prints, for the embedded store (and PostgreSQL when a URL is given): one busy document
//! (16 writers) and 100 documents (2 writers each), committed updates/s and commit batches.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};
use weft::config::SyncMode;
use weft::doc::{ActorSettings, Member, Registry};
use weft::store::{EmbeddedStore, PgSettings, PostgresStore, Store};
use weft_crdt::codec::{decode_frame, encode_update};
use weft_crdt::DocName;
use yrs::{Doc, Text, Transact};

const RUN_FOR: Duration = Duration::from_secs(5);

async fn run(store: Arc<dyn Store>, label: &str, docs: usize, writers_per_doc: usize) {
    let registry = Registry::new(
        store,
        ActorSettings {
            queue: 1024,
            doc_idle: Duration::from_secs(60),
            hibernate_after: Duration::ZERO,
            compact_after: 1000,
            max_unsaved: 64 << 20,
            max_awareness_per_doc: 10_000,
            max_awareness_per_session: 8,
            max_pending_bytes: 8 << 20,
            max_document_size: 1 << 30,
            versions: weft::doc::versions::VersionPolicy {
                every_updates: 0,
                interval: std::time::Duration::ZERO,
                keep: 1,
            },
        },
    );
    let committed = Arc::new(AtomicU64::new(0));
    let prefix = format!("bench-{}-{label}", rand_suffix());
    let mut tasks = Vec::new();
    let deadline = Instant::now() + RUN_FOR;
    for d in 0..docs {
        let name = DocName::parse(&format!("{prefix}-{d}")).expect("name");
        let handle = registry.handle(&name);
        // The observer: every update frame it receives was committed first.
        let (tx, mut rx) = mpsc::channel(1 << 16);
        let (close, _keep) = oneshot::channel();
        handle
            .join(Member {
                id: registry.next_session_id(),
                outbound: weft::ws::socket::Outbound::Queue(tx),
                close,
                writes: true,
            })
            .await
            .expect("join");
        let counter = committed.clone();
        tasks.push(tokio::spawn(async move {
            let _keep = _keep;
            while let Ok(Some(frame)) =
                tokio::time::timeout(Duration::from_secs(2), rx.recv()).await
            {
                if frame.first() == Some(&0) && frame.get(1) == Some(&2) {
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
        for _ in 0..writers_per_doc {
            let handle = handle.clone();
            let id = registry.next_session_id();
            tasks.push(tokio::spawn(async move {
                let (tx, mut rx) = mpsc::channel(1 << 16);
                let (close, _keep) = oneshot::channel();
                handle
                    .join(Member {
                        id,
                        outbound: weft::ws::socket::Outbound::Queue(tx),
                        close,
                        writes: true,
                    })
                    .await
                    .expect("join");
                tokio::spawn(async move { while rx.recv().await.is_some() {} });
                let doc = Doc::new();
                let text = doc.get_or_insert_text("t");
                while Instant::now() < deadline {
                    let update = {
                        let mut txn = doc.transact_mut();
                        text.push(&mut txn, "x");
                        txn.encode_update_v1()
                    };
                    let msgs = decode_frame(&encode_update(&update)).expect("frame");
                    if handle.send(id, msgs).await.is_err() {
                        break;
                    }
                }
                handle.leave(id).await;
            }));
        }
    }
    let started = Instant::now();
    tokio::time::sleep(RUN_FOR).await;
    let n = committed.load(Ordering::Relaxed);
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{label:>9} | {docs:>4} doc(s) x {writers_per_doc:>2} writers | {:>9.0} durable updates/s",
        n as f64 / secs
    );
    for t in tasks {
        t.abort();
    }
    registry.shutdown(Duration::from_secs(10)).await;
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64 % 1_000_000_007)
        .unwrap_or(0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let embedded: Arc<dyn Store> =
        Arc::new(EmbeddedStore::open(dir.path(), SyncMode::Full).expect("embedded store"));
    run(embedded.clone(), "embedded", 1, 16).await;
    run(embedded, "embedded", 100, 2).await;
    if let Some(url) = std::env::args().nth(1) {
        let pg: Arc<dyn Store> = Arc::new(
            PostgresStore::connect(&PgSettings {
                url,
                pool_size: 16,
                connect_timeout: Duration::from_secs(5),
                statement_timeout: Duration::from_secs(15),
                sslrootcert: None,
            })
            .await
            .expect("postgres store"),
        );
        run(pg.clone(), "postgres", 1, 16).await;
        run(pg, "postgres", 100, 2).await;
    }
}
