//! A write the server refused is never served, on either store, even while the store is down:
//! not to a client that joins, not to one that reconnects, not through the API. Black-box: the
//! real binary, real PostgreSQL (stopped mid-test), the embedded store with its database
//! locked by another process (its commits then fail), and a log entry that does not decode
//! (the rebuild then fails).
//!
//! The scenario of issue 14: a document under `--max-document-size 64KiB`; A writes 20 KB and
//! a small edit, both committed; the store goes down; B inserts 100 KB and is closed with
//! 1009. Nobody may see B's characters, before or after the store returns.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::pg::{admin_url, fresh_db, OwnPg};
use common::*;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

const LIMIT: &str = "64KiB";
/// The text A writes first (20 KB, committed).
fn first() -> String {
    "a".repeat(20 * 1024)
}

/// How the store is made to fail.
enum Outage {
    /// A PostgreSQL server of this test's own, stopped and started again.
    Postgres(OwnPg),
    /// The embedded store's database, locked by a write transaction of this test: the
    /// server's commits wait out SQLite's busy timeout, then fail; its reads still work.
    Embedded {
        db: PathBuf,
        lock: Option<rusqlite::Connection>,
    },
}

impl Outage {
    fn begin(&mut self) {
        match self {
            Outage::Postgres(pg) => pg.stop(),
            Outage::Embedded { db, lock } => {
                let conn = rusqlite::Connection::open(&*db).expect("open the server's database");
                conn.execute_batch("BEGIN IMMEDIATE")
                    .expect("take the write lock");
                *lock = Some(conn);
            }
        }
    }

    fn end(&mut self) {
        match self {
            Outage::Postgres(pg) => pg.resume(),
            Outage::Embedded { lock, .. } => {
                if let Some(conn) = lock.take() {
                    conn.execute_batch("ROLLBACK")
                        .expect("release the write lock");
                }
            }
        }
    }
}

/// A server on a store that can be made to fail, with a 64 KiB document limit.
fn server_with_outage(postgres: bool) -> (Server, Outage, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    if postgres {
        let pg = OwnPg::start();
        let server = Server::start(
            dir.path(),
            &[
                "--database-url",
                &pg.url,
                "--pg-connect-timeout",
                "1s",
                "--max-document-size",
                LIMIT,
            ],
        );
        (server, Outage::Postgres(pg), dir)
    } else {
        let server = Server::start(dir.path(), &["--max-document-size", LIMIT]);
        let db = dir.path().join("weft.sqlite3");
        (server, Outage::Embedded { db, lock: None }, dir)
    }
}

/// A writes `first()` then "-edit", each seen by a reader (so committed: nothing is sent
/// before it is).
async fn committed_text(url: &str) -> Client {
    let mut a = Client::connect(url).await;
    a.push_text("t", &first()).await;
    a.push_text("t", "-edit").await;
    let mut reader = Client::connect(url).await;
    let want = format!("{}-edit", first());
    assert!(
        reader.until(SECS15, |d| text_of(d, "t") == want).await,
        "A's writes were not committed and served"
    );
    reader.close().await;
    a
}

/// Reads what `client` receives for `window` (or until it is closed): it must never hold a
/// character of `forbidden`. Returns how it was closed, if it was.
async fn never_sees(client: &mut Client, forbidden: char, window: Duration) -> Option<CloseCode> {
    let until = Instant::now() + window;
    while Instant::now() < until && client.closed.is_none() {
        client.pump_once(Duration::from_millis(50)).await;
        let text = text_of(&client.doc, "t");
        assert!(
            !text.contains(forbidden),
            "a client was served {} refused characters",
            text.chars().filter(|c| *c == forbidden).count()
        );
    }
    client.closed.as_ref().map(|(code, _)| *code)
}

/// Connects (again and again, like a provider: a 1013 means "reconnect") until the document
/// reads `want`; fails if it ever holds `forbidden`.
async fn eventually_reads(url: &str, state: Option<&[u8]>, want: &str, forbidden: char) {
    let deadline = Instant::now() + Duration::from_secs(40);
    let mut state = state.map(<[u8]>::to_vec);
    while Instant::now() < deadline {
        let mut client = match &state {
            Some(s) => Client::reconnect_with(url, s).await,
            None => Client::connect(url).await,
        };
        let ok = client
            .until(Duration::from_secs(8), |d| {
                let text = text_of(d, "t");
                assert!(!text.contains(forbidden), "refused characters were served");
                text == want
            })
            .await;
        if ok {
            client.close().await;
            return;
        }
        assert!(!text_of(&client.doc, "t").contains(forbidden));
        if client.closed.is_none() {
            client.close().await;
        } else {
            state = Some(client.state());
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    panic!("the document never read as expected after the store returned");
}

async fn api_content(port: u16, name: &str) -> (u16, Option<String>, String) {
    let response = reqwest::Client::new()
        .get(format!(
            "http://127.0.0.1:{port}/api/v1/documents/{name}/content?type=text&key=t"
        ))
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .expect("the API answers");
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    (
        status,
        retry_after,
        response.text().await.unwrap_or_default(),
    )
}

/// The scenario, with `held_edit`: A also edits while the store is down (held and
/// retried, then committed when it returns).
async fn too_large_while_down(postgres: bool, held_edit: bool) {
    let (server, mut outage, _dir) = server_with_outage(postgres);
    let name = "refused-big";
    let url = server.url(name);
    let mut a = committed_text(&url).await;
    outage.begin();
    let mut want = format!("{}-edit", first());
    if held_edit {
        a.push_text("t", "-held").await;
        want.push_str("-held");
    }
    let mut b = Client::connect(&url).await;
    b.push_text("t", &"B".repeat(100 * 1000)).await;
    assert_eq!(
        b.until_closed(Duration::from_secs(40)).await,
        Some(CloseCode::Size),
        "the write over the limit was not refused with 1009"
    );
    // Joining now, fresh or with what A has: nothing of B's, however long they wait.
    let mut fresh = Client::connect(&url).await;
    let mut again = Client::reconnect_with(&url, &a.state()).await;
    let fresh_closed = never_sees(&mut fresh, 'B', Duration::from_secs(7)).await;
    let again_closed = never_sees(&mut again, 'B', Duration::from_secs(1)).await;
    for closed in [fresh_closed, again_closed].into_iter().flatten() {
        assert_eq!(
            closed,
            CloseCode::Again,
            "a waiting client closed otherwise than 1013"
        );
    }
    let (status, retry_after, body) = api_content(server.port, name).await;
    assert!(!body.contains('B'), "the API served refused characters");
    if status == 503 {
        assert!(retry_after.is_some(), "a 503 without Retry-After");
    }
    outage.end();
    eventually_reads(&url, None, &want, 'B').await;
    eventually_reads(&url, Some(&a.state()), &want, 'B').await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, _, body) = api_content(server.port, name).await;
        assert!(!body.contains('B'), "the API served refused characters");
        if status == 200 {
            assert_eq!(body, want);
            break;
        }
        assert!(Instant::now() < deadline, "the API never answered again");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Neither did the client that waited through it all get B's text.
    never_sees(&mut fresh, 'B', Duration::from_millis(500)).await;
}

/// An update yrs cannot integrate (it depends on changes the document does not have) is
/// refused with 1007 while the store is down; the change it depends on arrives meanwhile from
/// another client. The refused part never appears, the legitimate one does.
async fn refused_by_yrs_while_down(postgres: bool) {
    let (server, mut outage, _dir) = server_with_outage(postgres);
    let url = server.url("refused-gap");
    let mut a = committed_text(&url).await;
    outage.begin();
    a.push_text("t", "-held").await;
    let source = yrs::Doc::new();
    let text = source.get_or_insert_text("t");
    let mut updates = Vec::new();
    for chunk in ["first".to_string(), "z".repeat(4096)] {
        use yrs::{Text, Transact};
        let mut txn = source.transact_mut();
        text.push(&mut txn, &chunk);
        updates.push(txn.encode_update_v1());
    }
    let mut gap = Client::connect(&url).await;
    gap.send(weft_crdt::codec::encode_update(&updates[1])).await;
    assert_eq!(
        gap.until_closed(Duration::from_secs(40)).await,
        Some(CloseCode::Invalid),
        "the update with a gap was not refused with 1007"
    );
    // The change it depended on, from a well-behaved client (which reconnects on 1013).
    let mut first_writer = Client::connect(&url).await;
    first_writer
        .send(weft_crdt::codec::encode_update(&updates[0]))
        .await;
    {
        use yrs::updates::decoder::Decode;
        use yrs::Transact;
        let update = yrs::Update::decode_v1(&updates[0]).expect("decode");
        first_writer
            .doc
            .transact_mut()
            .apply_update(update)
            .expect("apply");
    }
    let mut fresh = Client::connect(&url).await;
    never_sees(&mut fresh, 'z', Duration::from_secs(3)).await;
    outage.end();
    let written = first_writer.state();
    // It reconnects until its change is in (as a provider does after a 1013).
    eventually_contains(&url, &written, "first").await;
    let want_len = first().len() + "-edit".len() + "-held".len() + "first".len();
    let mut check = Client::connect(&url).await;
    assert!(
        check
            .until(SECS15, |d| text_of(d, "t").len() == want_len)
            .await,
        "expected A's text, the held edit and \"first\", got {} characters",
        text_of(&check.doc, "t").len()
    );
    assert!(!text_of(&check.doc, "t").contains('z'));
}

/// A client holding `state` reconnects (on every close, like a provider) until a fresh
/// reader sees `needle` in the document.
async fn eventually_contains(url: &str, state: &[u8], needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(40);
    while Instant::now() < deadline {
        // It answers the server's sync step 1 with what the server lacks while it pumps.
        let mut client = Client::reconnect_with(url, state).await;
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until && client.closed.is_none() {
            client.pump_once(Duration::from_millis(50)).await;
        }
        let mut reader = Client::connect(url).await;
        let found = reader
            .until(Duration::from_secs(5), |d| text_of(d, "t").contains(needle))
            .await;
        reader.close().await;
        if client.closed.is_none() {
            client.close().await;
        }
        if found {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{needle:?} never arrived");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_down_a_write_over_the_limit_is_never_served() {
    too_large_while_down(true, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_down_with_held_edits_a_write_over_the_limit_is_never_served() {
    too_large_while_down(true, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_commits_failing_a_write_over_the_limit_is_never_served() {
    too_large_while_down(false, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_down_a_write_refused_by_yrs_is_never_served() {
    refused_by_yrs_while_down(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_commits_failing_a_write_refused_by_yrs_is_never_served() {
    refused_by_yrs_while_down(false).await;
}

/// Where a test puts a log entry that does not decode, and takes it out again.
enum Corruptor {
    Postgres(String),
    Embedded(PathBuf),
}

const GARBAGE_SEQ: i64 = 1_000_000;

impl Corruptor {
    async fn corrupt(&self, doc: &str) {
        match self {
            Corruptor::Postgres(url) => {
                pg_exec(
                    url,
                    &format!(
                        "INSERT INTO updates (doc_id, seq, data) \
                         SELECT id, {GARBAGE_SEQ}, '\\xdeadbeef'::bytea FROM documents WHERE name = '{doc}'"
                    ),
                )
                .await
            }
            Corruptor::Embedded(db) => {
                let conn = rusqlite::Connection::open(db).expect("open the server's database");
                conn.busy_timeout(Duration::from_secs(10)).expect("busy timeout");
                let n = conn
                    .execute(
                        "INSERT INTO updates (doc_id, data) \
                         SELECT id, x'deadbeef' FROM documents WHERE name = ?1",
                        [doc],
                    )
                    .expect("insert a corrupt entry");
                assert_eq!(n, 1);
            }
        }
    }

    async fn repair(&self) {
        match self {
            Corruptor::Postgres(url) => {
                pg_exec(
                    url,
                    &format!("DELETE FROM updates WHERE seq = {GARBAGE_SEQ}"),
                )
                .await
            }
            Corruptor::Embedded(db) => {
                let conn = rusqlite::Connection::open(db).expect("open the server's database");
                conn.busy_timeout(Duration::from_secs(10))
                    .expect("busy timeout");
                conn.execute("DELETE FROM updates WHERE data = x'deadbeef'", [])
                    .expect("remove the corrupt entry");
            }
        }
    }
}

async fn pg_exec(url: &str, sql: &str) {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect to the test database");
    tokio::spawn(conn);
    client.batch_execute(sql).await.expect("statement");
}

/// After a refused write the rebuild fails (the stored log does not decode): the document
/// stays unserved (1013 to sessions, 503 with Retry-After to the API) instead of falling
/// back on its in-memory copy, and serves again, without the refused write, once the store
/// reads back.
async fn a_failed_rebuild_serves_nothing_from_memory(postgres: bool) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (server, corruptor) = if postgres {
        let db = fresh_db(&admin_url()).await;
        let server = Server::start(
            dir.path(),
            &["--database-url", &db, "--max-document-size", LIMIT],
        );
        (server, Corruptor::Postgres(db))
    } else {
        let server = Server::start(dir.path(), &["--max-document-size", LIMIT]);
        (server, Corruptor::Embedded(dir.path().join("weft.sqlite3")))
    };
    let name = "rebuild-fails";
    let url = server.url(name);
    let mut a = committed_text(&url).await;
    corruptor.corrupt(name).await;
    let mut b = Client::connect(&url).await;
    b.push_text("t", &"B".repeat(100 * 1000)).await;
    assert_eq!(b.until_closed(SECS15).await, Some(CloseCode::Size));
    let mut fresh = Client::connect(&url).await;
    let closed = never_sees(&mut fresh, 'B', Duration::from_secs(8)).await;
    assert!(
        matches!(closed, Some(CloseCode::Again) | Some(CloseCode::Error)),
        "a joiner of a document that cannot be rebuilt was not refused (retryably): {closed:?}"
    );
    // A's own session was not refused, but gets nothing either.
    never_sees(&mut a, 'B', Duration::from_millis(200)).await;
    let (status, retry_after, body) = api_content(server.port, name).await;
    assert!(!body.contains('B'), "the API served refused characters");
    assert_eq!(
        status, 503,
        "the API answered from a tainted document: {body}"
    );
    assert!(retry_after.is_some(), "a 503 without Retry-After");
    corruptor.repair().await;
    let want = format!("{}-edit", first());
    eventually_reads(&url, None, &want, 'B').await;
    let (status, _, body) = api_content(server.port, name).await;
    assert_eq!((status, body), (200, want));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_failed_rebuild_serves_nothing_from_memory() {
    a_failed_rebuild_serves_nothing_from_memory(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_a_failed_rebuild_serves_nothing_from_memory() {
    a_failed_rebuild_serves_nothing_from_memory(false).await;
}
