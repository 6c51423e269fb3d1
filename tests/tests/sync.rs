//! Black-box sync tests: the real `weft` binary and yrs-based y-websocket clients.

mod common;

use std::time::Duration;

use common::*;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

#[tokio::test]
async fn two_clients_converge_and_a_late_joiner_gets_everything() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &[]);
    let url = server.url("notes/converge");
    let mut a = Client::connect(&url).await;
    let mut b = Client::connect(&url).await;
    a.push_text("t", "hello ").await;
    b.push_text("t", "world").await;
    let same = |d: &yrs::Doc| text_of(d, "t").len() == 11;
    assert!(a.until(SECS5, same).await, "a: {:?}", text_of(&a.doc, "t"));
    assert!(b.until(SECS5, same).await, "b: {:?}", text_of(&b.doc, "t"));
    assert_eq!(text_of(&a.doc, "t"), text_of(&b.doc, "t"));

    let mut late = Client::connect(&url).await;
    let expected = text_of(&a.doc, "t");
    assert!(late.until(SECS5, |d| text_of(d, "t") == expected).await);
}

/// A client that sends its last edit and drops the connection at once (a closed tab, a killed
/// process: no close frame) must not lose that edit, whichever read the server sees it in.
#[tokio::test]
async fn the_last_edit_before_a_dropped_connection_is_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &[]);
    let url = server.url("notes/dropped");
    let mut items = Vec::new();
    for i in 0..30 {
        let mut client = Client::connect(&url).await;
        // Read the greeting first: a socket closed with unread data is reset by the kernel,
        // which may discard what the server has not read yet (no server can keep that).
        assert!(
            client
                .until(SECS5, |d| array_strings(d, "items").len() == i)
                .await
        );
        let item = format!("last-{i}");
        client.push_item("items", &item).await;
        items.push(item);
        drop(client);
    }
    fresh_client_has_items(&url, &items).await;
}

#[tokio::test]
async fn restart_keeps_the_document() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut server = Server::start(dir.path(), &[]);
    let url = server.url("restart");
    let mut a = Client::connect(&url).await;
    a.push_text("t", "durable").await;
    // An observer proves the update was broadcast, hence committed.
    let mut b = Client::connect(&url).await;
    assert!(b.until(SECS5, |d| text_of(d, "t") == "durable").await);
    assert!(server.terminate().success(), "graceful exit");
    server.restart();
    let mut fresh = Client::connect(&url).await;
    assert!(fresh.until(SECS5, |d| text_of(d, "t") == "durable").await);
}

/// kill -9 while clients write: everything an observer received survives the restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_loses_nothing_any_client_received() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut server = Server::start(dir.path(), &[]);
    kill9_loses_nothing(&mut server, "crash").await;
}

#[tokio::test]
async fn twenty_simultaneous_joiners_share_one_copy_and_the_registry_empties() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &["--doc-idle", "300ms"]);
    let url = server.url("storm");
    let clients = futures_util::future::join_all((0..20).map(|i| {
        let url = url.clone();
        async move {
            let mut c = Client::connect(&url).await;
            c.push_item("who", format!("client-{i}").as_str()).await;
            c
        }
    }))
    .await;
    let mut clients = clients;
    for c in clients.iter_mut() {
        assert!(
            c.until(SECS15, |d| array_strings(d, "who").len() == 20)
                .await,
            "a client saw only {:?}",
            array_strings(&c.doc, "who")
        );
    }
    assert_eq!(server.documents_loaded(), 1);
    drop(clients);
    let deadline = std::time::Instant::now() + SECS15;
    while server.documents_loaded() != 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        server.documents_loaded(),
        0,
        "the idle document was not unloaded"
    );
    // And it comes back from the store with everything.
    let mut again = Client::connect(&url).await;
    assert!(
        again
            .until(SECS5, |d| array_strings(d, "who").len() == 20)
            .await
    );
}

#[tokio::test]
async fn oversized_and_garbage_frames_close_only_their_session() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &["--max-message-size", "64KiB"]);
    let url = server.url("hostile");
    let mut good = Client::connect(&url).await;
    good.push_text("t", "safe").await;

    let mut big = Client::connect(&url).await;
    let payload = "x".repeat(100 * 1024);
    big.push_text("t", &payload).await;
    assert_eq!(big.until_closed(SECS5).await, Some(CloseCode::Size));

    for garbage in [
        vec![0x00, 0x02, 0xff],
        vec![0x00, 0x01, 0xff, 0xff, 0xff, 0xff, 0x0f],
        vec![0x00, 0x02, 0x05, 0xde, 0xad, 0xbe, 0xef, 0x00],
        vec![0x09, 0x00],
    ] {
        let mut bad = Client::connect(&url).await;
        bad.send(garbage.clone()).await;
        let code = bad.until_closed(SECS5).await;
        assert!(
            matches!(code, Some(CloseCode::Protocol) | Some(CloseCode::Invalid)),
            "{garbage:?} closed with {code:?}"
        );
    }

    good.push_text("t", "!").await;
    let mut fresh = Client::connect(&url).await;
    assert!(
        fresh.until(SECS5, |d| text_of(d, "t") == "safe!").await,
        "got {:?}",
        text_of(&fresh.doc, "t")
    );
    assert!(good.closed.is_none());
}

/// A client that stops reading is closed with 1013; a client that reads keeps up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_closed_with_1013() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &["--session-queue", "64"]);
    let url = server.url("slow");
    let mut stalled = Client::connect(&url).await;
    let mut writer = Client::connect(&url).await;
    let chunk = "y".repeat(32 * 1024);
    let rounds = 300;
    let expected = rounds * chunk.len();
    let reader_url = url.clone();
    let reader = tokio::spawn(async move {
        let mut reader = Client::connect(&reader_url).await;
        let ok = reader
            .until(Duration::from_secs(60), |d| {
                text_of(d, "t").len() == expected
            })
            .await;
        (ok, reader.closed.clone())
    });
    // Big updates fill the stalled client's socket buffers, then its queue.
    for _ in 0..rounds {
        writer.push_text("t", &chunk).await;
        // Paced so that a reading client (a debug build here) keeps up.
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    let (caught_up, reader_closed) = reader.await.expect("reader task");
    assert!(
        caught_up,
        "the reading client fell behind (closed: {reader_closed:?})"
    );
    assert_eq!(
        stalled.until_closed(Duration::from_secs(30)).await,
        Some(CloseCode::Again)
    );
}

/// `/metrics` speaks the Prometheus text format and counts what happened.
#[tokio::test]
async fn metrics_count_connections_and_commits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &[]);
    let url = server.url("metered");
    let mut a = Client::connect(&url).await;
    let mut b = Client::connect(&url).await;
    a.push_text("t", "counted").await;
    assert!(b.until(SECS5, |d| text_of(d, "t") == "counted").await);
    let (status, body) = http_get(server.port, "/metrics").expect("metrics answers");
    assert_eq!(status, 200);
    for needle in [
        "weft_connections 2",
        "weft_documents_loaded 1",
        "weft_committed_updates_total",
        "weft_store_commit_seconds_bucket",
        "weft_messages_in_total{kind=\"update\"}",
    ] {
        assert!(
            body.contains(needle),
            "{needle} missing from /metrics:\n{body}"
        );
    }
}

/// A write past `--max-document-size` closes its session with 1009 and is not stored.
#[tokio::test]
async fn document_size_limit_refuses_the_write_that_crosses_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &["--max-document-size", "64KiB"]);
    let url = server.url("bounded");
    let mut writer = Client::connect(&url).await;
    let first = "a".repeat(40 * 1024);
    writer.push_text("t", &first).await;
    let mut reader = Client::connect(&url).await;
    assert!(
        reader
            .until(SECS5, |d| text_of(d, "t").len() == first.len())
            .await
    );
    writer.push_text("t", &"b".repeat(40 * 1024)).await;
    assert_eq!(writer.until_closed(SECS5).await, Some(CloseCode::Size));
    let mut fresh = Client::connect(&url).await;
    assert!(fresh.until(SECS5, |d| text_of(d, "t") == first).await);
    assert!(reader.closed.is_none(), "a reader was closed");
}

/// Updates that can never be integrated (missing dependencies) are bounded per document.
#[tokio::test]
async fn pending_update_bytes_are_bounded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &["--max-pending-bytes", "1KiB"]);
    let url = server.url("pending");
    // Two updates from one client; only the second (which depends on the first) is sent.
    let source = yrs::Doc::new();
    let text = source.get_or_insert_text("t");
    let mut updates = Vec::new();
    for chunk in ["first".to_string(), "z".repeat(4096)] {
        use yrs::{Text, Transact};
        let mut txn = source.transact_mut();
        text.push(&mut txn, &chunk);
        updates.push(txn.encode_update_v1());
    }
    let mut bystander = Client::connect(&url).await;
    bystander.push_text("t", "ok").await;
    let mut sender = Client::connect(&url).await;
    sender
        .send(weft_crdt::codec::encode_update(&updates[1]))
        .await;
    assert_eq!(sender.until_closed(SECS5).await, Some(CloseCode::Invalid));
    let mut fresh = Client::connect(&url).await;
    assert!(fresh.until(SECS5, |d| text_of(d, "t") == "ok").await);
    assert!(bystander.closed.is_none());
}

/// Every input the fuzzers found, sent to the real server as a frame and as an update: only
/// the sending session may be closed; the server, the document and the others carry on.
#[tokio::test]
async fn fuzz_findings_close_only_their_session() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &[]);
    let url = server.url("fuzzed");
    let mut bystander = Client::connect(&url).await;
    bystander.push_text("t", "before").await;
    let findings =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../crdt/tests/fuzz-regressions");
    let mut sent = 0;
    for entry in std::fs::read_dir(&findings).expect("fuzz regressions folder") {
        let bytes = std::fs::read(entry.expect("entry").path()).expect("read finding");
        for frame in [bytes.clone(), weft_crdt::codec::encode_update(&bytes)] {
            let mut hostile = Client::connect(&url).await;
            hostile.send(frame).await;
            hostile.until_closed(Duration::from_millis(300)).await;
            sent += 1;
        }
    }
    assert!(sent >= 10, "only {sent} findings were sent");
    assert_eq!(
        http_get(server.port, "/healthz").map(|(s, _)| s),
        Some(200),
        "server died"
    );
    bystander.push_text("t", " after").await;
    // Some findings are valid updates (their content is legitimately applied): what matters
    // is that everyone still converges on one document that kept the bystander's edits.
    let mut fresh = Client::connect(&url).await;
    let both = |d: &yrs::Doc| {
        let t = text_of(d, "t");
        t.contains("before") && t.contains(" after")
    };
    assert!(
        fresh.until(Duration::from_secs(10), both).await,
        "document now {:?}",
        text_of(&fresh.doc, "t")
    );
    let expected = text_of(&fresh.doc, "t");
    assert!(
        bystander
            .until(Duration::from_secs(10), |d| text_of(d, "t") == expected)
            .await,
        "bystander {:?} vs fresh {expected:?}",
        text_of(&bystander.doc, "t")
    );
    assert!(bystander.closed.is_none(), "the bystander was closed");
}
