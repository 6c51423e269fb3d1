//! Weft on PostgreSQL, black-box: the real binary with `--database-url`, real PostgreSQL
//! servers, and the failures a production database goes through.

mod common;

use std::time::Duration;

use common::pg::{admin_exec, admin_url, fresh_db, OwnPg};
use common::*;
use tokio_util::sync::CancellationToken;

/// Every writer's items, and then a fresh client must hold all of them.
async fn everything_arrives(url: &str, writers: Vec<tokio::task::JoinHandle<Vec<String>>>) {
    let mut all = Vec::new();
    for w in writers {
        all.extend(w.await.expect("writer task"));
    }
    assert!(all.len() > 10, "writers wrote only {} items", all.len());
    fresh_client_has_items(url, &all).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_heavy_writes_loses_nothing() {
    let url = fresh_db(&admin_url()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut server = Server::start(dir.path(), &["--database-url", &url]);
    kill9_loses_nothing(&mut server, "pg-crash").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pooled_connections_killed_under_load() {
    let admin = admin_url();
    let db_url = fresh_db(&admin).await;
    let db = db_url.rsplit('/').next().expect("db name").to_string();
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &["--database-url", &db_url]);
    let url = server.url("pg-terminate");
    let stop = CancellationToken::new();
    let writers = spawn_writers(&url, 3, stop.clone());
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        admin_exec(
            &admin,
            &format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = '{db}' AND pid <> pg_backend_pid()"
            ),
        )
        .await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.cancel();
    everything_arrives(&url, writers).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_mid_session() {
    let pg = OwnPg::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &["--database-url", &pg.url]);
    let url = server.url("pg-restart");
    let stop = CancellationToken::new();
    let writers = spawn_writers(&url, 3, stop.clone());
    tokio::time::sleep(Duration::from_millis(500)).await;
    pg.restart();
    tokio::time::sleep(Duration::from_millis(700)).await;
    stop.cancel();
    everything_arrives(&url, writers).await;
    let (status, _) = http_get(server.port, "/readyz").expect("readyz");
    assert_eq!(status, 200, "ready again after the restart");
}

/// PostgreSQL down for a while: sessions stay connected and keep editing, `/readyz` says
/// degraded, and once it is back everything is committed and delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_holds_updates_then_flushes() {
    let pg = OwnPg::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(
        dir.path(),
        &["--database-url", &pg.url, "--pg-connect-timeout", "1s"],
    );
    let url = server.url("pg-outage");
    let stop = CancellationToken::new();
    let writers = spawn_writers(&url, 2, stop.clone());
    tokio::time::sleep(Duration::from_millis(300)).await;
    pg.stop();
    let degraded = wait_for_status(server.port, "/readyz", 503, Duration::from_secs(10)).await;
    assert!(degraded, "/readyz did not report the outage");
    pg.resume();
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.cancel();
    everything_arrives(&url, writers).await;
    let ready = wait_for_status(server.port, "/readyz", 200, Duration::from_secs(10)).await;
    assert!(ready, "/readyz did not recover");
}

/// The document API on PostgreSQL: create, versions, restore, delete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn document_api_and_versions_on_postgres() {
    let url = fresh_db(&admin_url()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &["--database-url", &url]);
    let base = format!("http://127.0.0.1:{}/api/v1", server.port);
    let http = reqwest::Client::new();
    let post = |path: &str, body: &str| {
        http.post(format!("{base}{path}"))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
    };
    let created = post(
        "/documents",
        r#"{"name":"pg/doc","text":{"key":"t","value":"v1"}}"#,
    )
    .await
    .expect("create");
    assert_eq!(created.status().as_u16(), 201);
    let v1 = post("/documents/pg%2Fdoc/versions", r#"{"label":"one"}"#)
        .await
        .expect("version");
    assert_eq!(v1.status().as_u16(), 201);
    let mut c = Client::connect(&server.url("pg/doc")).await;
    assert!(c.until(SECS5, |d| text_of(d, "t") == "v1").await);
    c.push_text("t", " and more").await;
    let mut stored = String::new();
    for _ in 0..100 {
        let resp = http
            .get(format!("{base}/documents/pg%2Fdoc/content?type=text&key=t"))
            .send()
            .await
            .expect("content");
        stored = resp.text().await.expect("text");
        if stored == "v1 and more" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(stored, "v1 and more", "the edit reached the server");
    let restored = post("/documents/pg%2Fdoc/versions/1/restore", "{}")
        .await
        .expect("restore");
    assert_eq!(restored.status().as_u16(), 200);
    assert!(
        c.until(SECS5, |d| text_of(d, "t") == "v1").await,
        "{}",
        text_of(&c.doc, "t")
    );
    let deleted = http
        .delete(format!("{base}/documents/pg%2Fdoc"))
        .send()
        .await
        .expect("delete");
    assert_eq!(deleted.status().as_u16(), 204);
    let gone = http
        .get(format!("{base}/documents/pg%2Fdoc"))
        .send()
        .await
        .expect("get");
    assert_eq!(gone.status().as_u16(), 404);
}

/// A Hocuspocus provider's SyncStatus ("saved") comes only once the write is committed: while
/// PostgreSQL is down the answer waits, and it arrives when PostgreSQL is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hocuspocus_acknowledges_a_write_only_once_it_is_committed() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use weft::hocuspocus::codec::{
        key_prefix, wrap, AUTH_AUTHENTICATED, AUTH_TOKEN, MSG_AUTH, MSG_SYNC_STATUS,
    };
    use yrs::encoding::read::{Cursor, Read};
    use yrs::encoding::write::Write;
    use yrs::{Text, Transact};

    let pg = OwnPg::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(
        dir.path(),
        &["--database-url", &pg.url, "--pg-connect-timeout", "1s"],
    );
    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{}/hocuspocus", server.port))
            .await
            .expect("connect");
    let key = "hp-acks";
    let mut auth = key_prefix(key);
    auth.write_var(MSG_AUTH);
    auth.write_var(AUTH_TOKEN);
    auth.write_string("");
    ws.send(Message::Binary(auth.into())).await.expect("auth");
    // Reads frames for `key` until one of type `kind` (and sub-type `sub`, if given) arrives.
    async fn next_of(ws: &mut Ws, key: &str, kind: u64, wait: Duration) -> Option<u64> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let msg = tokio::time::timeout_at(deadline, ws.next())
                .await
                .ok()??
                .ok()?;
            let Message::Binary(bytes) = msg else {
                continue;
            };
            let mut c = Cursor::new(&bytes);
            if c.read_string().ok()? != key {
                continue;
            }
            let t: u64 = c.read_var().ok()?;
            if t == kind {
                return c.read_var::<u64>().ok().or(Some(0));
            }
        }
    }
    let authed = next_of(&mut ws, key, MSG_AUTH, SECS5).await;
    assert_eq!(authed, Some(AUTH_AUTHENTICATED));
    let update = |s: &str| {
        let doc = yrs::Doc::new();
        let t = doc.get_or_insert_text("t");
        let mut txn = doc.transact_mut();
        t.push(&mut txn, s);
        txn.encode_update_v1()
    };
    let prefix = key_prefix(key);
    let frame = wrap(&prefix, &weft_crdt::codec::encode_update(&update("one")));
    ws.send(Message::Binary(frame.into()))
        .await
        .expect("update");
    let ack = next_of(&mut ws, key, MSG_SYNC_STATUS, SECS5).await;
    assert_eq!(ack, Some(1), "committed and acknowledged");

    pg.stop();
    let frame = wrap(&prefix, &weft_crdt::codec::encode_update(&update("two")));
    ws.send(Message::Binary(frame.into()))
        .await
        .expect("update");
    let early = next_of(&mut ws, key, MSG_SYNC_STATUS, Duration::from_millis(1500)).await;
    assert_eq!(early, None, "no acknowledgement while the store is down");
    pg.resume();
    let late = next_of(&mut ws, key, MSG_SYNC_STATUS, SECS15).await;
    assert_eq!(late, Some(1), "acknowledged once committed");
}
