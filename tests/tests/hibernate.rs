//! Hibernation, black-box (issue 17): the real `weft` binary with a short `--hibernate-after`.
//! While a document hibernates (only its encoded state in memory, `weft_documents{state=
//! "hibernated"}` says so) old and new clients sync, presence goes on and API reads answer, all
//! without waking it; the first write wakes it, is delivered and kept; a kill -9 loses nothing;
//! joins racing the wake converge; and the document hibernates again.

mod common;

use std::time::{Duration, Instant};

use base64::Engine;
use common::*;
use weft_crdt::codec::encode_awareness;
use yrs::updates::decoder::Decode;
use yrs::updates::encoder::Encode;
use yrs::{ReadTxn, Transact};

const HIBERNATE: &[&str] = &["--hibernate-after", "300ms"];

/// `weft_documents{state}` from /metrics (0 when absent).
fn documents(port: u16, state: &str) -> u64 {
    let (_, body) = http_get(port, "/metrics").expect("metrics answers");
    let needle = format!("weft_documents{{state=\"{state}\"}} ");
    body.lines()
        .find_map(|l| l.strip_prefix(&needle))
        .map_or(0, |v| v.trim().parse::<f64>().expect("a number") as u64)
}

/// Waits until `n` documents hibernate.
async fn hibernated(server: &Server, n: u64) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if documents(server.port, "hibernated") == n {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

fn text_in(state: &[u8]) -> String {
    let doc = yrs::Doc::new();
    doc.transact_mut()
        .apply_update(yrs::Update::decode_v1(state).expect("a valid update"))
        .expect("applies");
    text_of(&doc, "t")
}

#[tokio::test]
async fn a_hibernated_document_serves_clients_presence_and_reads_then_wakes_on_a_write() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), HIBERNATE);
    let url = server.url("hib/serve");
    let mut a = Client::connect(&url).await;
    a.push_text("t", "hello").await;
    assert!(a.until(SECS5, |d| text_of(d, "t") == "hello").await);
    let before = a.state();
    a.push_text("t", " world").await;
    assert!(
        hibernated(&server, 1).await,
        "the document did not hibernate"
    );
    assert_eq!(documents(server.port, "live"), 0);

    // A new client (empty state vector) and an old one (has "hello", sends its sync step 2
    // with its delete set): both get everything, neither wakes the document.
    let mut fresh = Client::connect(&url).await;
    assert!(
        fresh
            .until(SECS5, |d| text_of(d, "t") == "hello world")
            .await
    );
    let mut old = Client::reconnect_with(&url, &before).await;
    assert!(old.until(SECS5, |d| text_of(d, "t") == "hello world").await);

    // Presence goes on.
    a.send(encode_awareness(
        [(4242u64, 1u32, "{\"cursor\":3}")].into_iter(),
    ))
    .await;
    let deadline = Instant::now() + SECS5;
    while !fresh
        .awareness
        .get(&4242)
        .is_some_and(|s| s.contains("cursor"))
        && Instant::now() < deadline
    {
        fresh.pump_once(Duration::from_millis(50)).await;
    }
    assert!(
        fresh.awareness.contains_key(&4242),
        "presence did not reach the other client: {:?}",
        fresh.awareness
    );

    // API reads: the whole state, a diff against a state vector, the content.
    let api = format!(
        "http://127.0.0.1:{}/api/v1/documents/hib%2Fserve",
        server.port
    );
    let http = reqwest::Client::new();
    let full = http
        .get(format!("{api}/update"))
        .send()
        .await
        .expect("GET update")
        .bytes()
        .await
        .expect("body");
    assert_eq!(text_in(&full), "hello world");
    let sv = {
        let doc = yrs::Doc::new();
        doc.transact_mut()
            .apply_update(yrs::Update::decode_v1(&before).expect("decodes"))
            .expect("applies");
        let sv = doc.transact().state_vector().encode_v1();
        base64::engine::general_purpose::STANDARD.encode(sv)
    };
    let diff = http
        .get(format!("{api}/update"))
        .query(&[("sv", sv)])
        .send()
        .await
        .expect("GET diff");
    assert_eq!(diff.status().as_u16(), 200);
    let diff = diff.bytes().await.expect("body");
    let merged = yrs::merge_updates_v1([&before[..], &diff[..]]).expect("merges");
    assert_eq!(
        text_in(&merged),
        "hello world",
        "the diff brings the old state up to date"
    );
    let content = http
        .get(format!("{api}/content"))
        .send()
        .await
        .expect("GET content")
        .text()
        .await
        .expect("body");
    assert!(content.contains("hello world"), "{content}");
    assert_eq!(documents(server.port, "hibernated"), 1, "a read woke it");

    // The first write wakes it and reaches everyone; then it hibernates again.
    fresh.push_text("t", "!").await;
    for c in [&mut a, &mut old] {
        assert!(c.until(SECS5, |d| text_of(d, "t") == "hello world!").await);
    }
    assert!(hibernated(&server, 1).await, "it did not hibernate again");
    let mut late = Client::connect(&url).await;
    assert!(
        late.until(SECS5, |d| text_of(d, "t") == "hello world!")
            .await
    );
}

#[tokio::test]
async fn a_kill9_while_hibernated_or_just_woken_loses_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut server = Server::start(dir.path(), HIBERNATE);
    let url = server.url("hib/crash");
    let mut a = Client::connect(&url).await;
    let mut items: Vec<String> = (0..20).map(|i| format!("before-{i}")).collect();
    for item in &items {
        a.push_item("items", item).await;
    }
    assert!(hibernated(&server, 1).await);
    server.kill9();
    server.restart();
    fresh_client_has_items(&url, &items).await;

    // Woken by a write that was delivered, then killed at once.
    let mut writer = Client::connect(&url).await;
    let mut observer = Client::connect(&url).await;
    let n = items.len();
    assert!(
        observer
            .until(SECS5, |d| array_strings(d, "items").len() == n)
            .await
    );
    assert!(hibernated(&server, 1).await);
    writer.push_item("items", "waking").await;
    items.push("waking".into());
    assert!(
        observer
            .until(SECS5, |d| array_strings(d, "items").len() == n + 1)
            .await
    );
    server.kill9();
    server.restart();
    fresh_client_has_items(&url, &items).await;
}

#[tokio::test]
async fn joins_racing_the_wake_all_converge() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), HIBERNATE);
    let url = server.url("hib/race");
    let mut seed = Client::connect(&url).await;
    for i in 0..50 {
        seed.push_item("items", &format!("seed-{i}")).await;
    }
    assert!(hibernated(&server, 1).await);
    // Ten clients join while three write: the first write wakes the document mid-storm.
    let mut joins = Vec::new();
    for _ in 0..10 {
        let url = url.clone();
        joins.push(tokio::spawn(async move { Client::connect(&url).await }));
    }
    let mut writers = Vec::new();
    for w in 0..3 {
        let url = url.clone();
        writers.push(tokio::spawn(async move {
            let mut c = Client::connect(&url).await;
            for i in 0..5 {
                c.push_item("items", &format!("w{w}-{i}")).await;
            }
            c
        }));
    }
    let mut clients = Vec::new();
    for j in joins.into_iter().chain(writers) {
        clients.push(j.await.expect("client task"));
    }
    let total = 50 + 3 * 5;
    for c in &mut clients {
        assert!(
            c.until(Duration::from_secs(10), |d| array_strings(d, "items").len()
                == total)
                .await,
            "a client has {} of {total} items",
            array_strings(&c.doc, "items").len()
        );
    }
    let first = array_strings(&clients[0].doc, "items");
    for c in &clients {
        assert_eq!(array_strings(&c.doc, "items"), first, "clients diverged");
    }
    assert!(hibernated(&server, 1).await, "it did not hibernate again");
}

/// Cluster mode (PostgreSQL): a document hibernating on one node is woken by an update another
/// node committed (its catch-up), and its client there receives it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_another_nodes_update_wakes_a_hibernated_document() {
    use common::pg::{admin_url, fresh_db};
    let url = fresh_db(&admin_url()).await;
    let mut dirs = Vec::new();
    let mut servers = Vec::new();
    for node in ["node-a", "node-b"] {
        let dir = tempfile::tempdir().expect("tempdir");
        let args = [
            "--database-url",
            &url,
            "--node-id",
            node,
            "--heartbeat",
            "300ms",
            "--hibernate-after",
            "300ms",
        ];
        servers.push(Server::start_unchecked(dir.path(), &args));
        dirs.push(dir);
    }
    for server in &servers {
        assert!(wait_for_status(server.port, "/readyz", 200, Duration::from_secs(15)).await);
    }
    let mut a = Client::connect(&servers[0].url("hib/cluster")).await;
    a.push_text("t", "from a").await;
    let mut b = Client::connect(&servers[1].url("hib/cluster")).await;
    assert!(b.until(SECS5, |d| text_of(d, "t") == "from a").await);
    assert!(hibernated(&servers[1], 1).await, "node b did not hibernate");
    a.push_text("t", ", again").await;
    assert!(
        b.until(SECS5, |d| text_of(d, "t") == "from a, again").await,
        "b has {:?}",
        text_of(&b.doc, "t")
    );
    assert!(
        hibernated(&servers[1], 1).await,
        "node b did not hibernate again"
    );
}

/// A session that may edit moving its cursor wakes a hibernating document ahead of its write
/// (editors move the cursor before they type); a client appearing does not; a read-only
/// session's cursor does not; awake, it hibernates again.
#[tokio::test]
async fn a_moved_cursor_wakes_the_document_ahead_of_the_write() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), HIBERNATE);
    let url = server.url("hib/cursor");
    let mut a = Client::connect(&url).await;
    a.push_text("t", "hello").await;
    assert!(a.until(SECS5, |d| text_of(d, "t") == "hello").await);
    assert!(hibernated(&server, 1).await, "did not hibernate");

    a.send(encode_awareness(
        [(77u64, 1u32, "{\"cursor\":1}")].into_iter(),
    ))
    .await;
    a.pump_once(Duration::from_millis(100)).await;
    assert_eq!(
        documents(server.port, "live"),
        0,
        "a client appearing woke it"
    );

    a.send(encode_awareness(
        [(77u64, 2u32, "{\"cursor\":2}")].into_iter(),
    ))
    .await;
    let deadline = Instant::now() + SECS5;
    while documents(server.port, "live") != 1 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        documents(server.port, "live"),
        1,
        "a moved cursor did not wake it"
    );
    assert!(hibernated(&server, 1).await, "did not hibernate again");
    a.push_text("t", " world").await;
    let mut b = Client::connect(&url).await;
    assert!(b.until(SECS5, |d| text_of(d, "t") == "hello world").await);
}
