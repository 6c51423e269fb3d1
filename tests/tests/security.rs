//! Black-box access-control and limit tests against the real `weft` binary: tokens (valid,
//! missing, forged, expired, wrong document, query and Bearer), expiry of a live session (4401),
//! read-only sessions, the Origin allow-list, connection limits (429), the message rate (1008),
//! the awareness-id cap (1008), `weft token`, and the start-up warning when running open.

mod common;

use std::time::Duration;

use common::*;
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use weft::access::{Access, Keys};
use weft_crdt::codec::{decode_frame, encode_awareness, encode_sync_step1};
use weft_crdt::Inbound;
use yrs::{ReadTxn, Transact};

const SECRET: &str = "a black-box test secret, 32+ bytes long";

fn keys() -> Keys {
    Keys::new(SECRET.as_bytes())
}

fn token(doc: &str, access: Access, ttl: Duration) -> String {
    keys().mint(doc, access, ttl, Some("tester")).expect("mint")
}

fn secured(dir: &std::path::Path, extra: &[&str]) -> Server {
    let mut args = vec!["--auth-secret", SECRET];
    args.extend_from_slice(extra);
    Server::start(dir, &args)
}

/// Opens a WebSocket with extra headers; `Err(status)` when refused before the upgrade.
async fn open(url: &str, headers: &[(&str, &str)]) -> Result<Ws, u16> {
    let mut req = url.into_client_request().expect("request");
    for (k, v) in headers {
        req.headers_mut().insert(
            tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(k.as_bytes())
                .expect("header name"),
            HeaderValue::from_str(v).expect("header value"),
        );
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => Err(resp.status().as_u16()),
        Err(e) => panic!("connect {url}: {e}"),
    }
}

#[tokio::test]
async fn tokens_are_required_checked_and_scoped_before_the_upgrade() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = secured(dir.path(), &[]);
    let url = server.url("team/plan");
    assert_eq!(open(&url, &[]).await.err(), Some(401), "no token");
    let forged = Keys::new(b"another secret entirely, also long")
        .mint("*", Access::Write, Duration::from_secs(60), None)
        .expect("mint");
    assert_eq!(
        open(&format!("{url}?token={forged}"), &[]).await.err(),
        Some(401),
        "forged"
    );
    assert_eq!(
        open(&format!("{url}?token=garbage"), &[]).await.err(),
        Some(401),
        "garbage"
    );
    let expired = {
        // exp in the past: mint with the claims directly.
        let claims = weft::access::Claims {
            doc: "*".into(),
            access: Access::Write,
            exp: 1_000_000,
            user: None,
            jti: None,
        };
        keys().sign(&claims).expect("sign")
    };
    assert_eq!(
        open(&format!("{url}?token={expired}"), &[]).await.err(),
        Some(401),
        "expired"
    );
    let other_doc = token("team/other", Access::Write, Duration::from_secs(60));
    assert_eq!(
        open(&format!("{url}?token={other_doc}"), &[]).await.err(),
        Some(403),
        "scope"
    );
    let other_prefix = token("private/*", Access::Write, Duration::from_secs(60));
    assert_eq!(
        open(&format!("{url}?token={other_prefix}"), &[])
            .await
            .err(),
        Some(403)
    );

    // Valid: exact name in the query, prefix in a Bearer header; both sync.
    let exact = token("team/plan", Access::Write, Duration::from_secs(60));
    let mut a = Client::from_ws(
        open(&format!("{url}?token={exact}"), &[])
            .await
            .expect("exact"),
    )
    .await;
    let prefix = token("team/*", Access::Write, Duration::from_secs(60));
    let bearer = format!("Bearer {prefix}");
    let mut b = Client::from_ws(
        open(&url, &[("authorization", &bearer)])
            .await
            .expect("bearer"),
    )
    .await;
    a.push_text("t", "hello").await;
    assert!(b.until(SECS5, |d| text_of(d, "t") == "hello").await);
}

#[tokio::test]
async fn an_expiring_token_closes_the_live_session_with_4401() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = secured(dir.path(), &[]);
    let url = server.url("expiring");
    let short = token("expiring", Access::Write, Duration::from_secs(2));
    let mut c = Client::from_ws(
        open(&format!("{url}?token={short}"), &[])
            .await
            .expect("open"),
    )
    .await;
    let code = c.until_closed(Duration::from_secs(6)).await;
    assert_eq!(code, Some(CloseCode::from(4401)));
}

/// Reads frames until `pred` sees an auth permission-denied message or the time passes.
async fn saw_permission_denied(c: &mut Client, timeout: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    while let Ok(Some(Ok(msg))) = tokio::time::timeout_at(deadline, c.ws.next()).await {
        if let Message::Binary(bytes) = msg {
            // Auth messages decode as `Inbound::Auth`; denied carries a reason string.
            if bytes.first() == Some(&2) && bytes.get(1) == Some(&0) {
                return true;
            }
            for m in decode_frame(&bytes).unwrap_or_default() {
                if let Inbound::SyncStep2 { update, .. } | Inbound::Update { update, .. } = m {
                    c.doc.transact_mut().apply_update(update).expect("apply");
                }
            }
        }
    }
    false
}

#[tokio::test]
async fn read_only_sessions_receive_but_cannot_write() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = secured(dir.path(), &[]);
    let url = server.url("ro/doc");
    let write = token("ro/*", Access::Write, Duration::from_secs(60));
    let read = token("ro/doc", Access::Read, Duration::from_secs(60));
    let mut writer =
        Client::from_ws(open(&format!("{url}?token={write}"), &[]).await.expect("w")).await;
    let mut reader =
        Client::from_ws(open(&format!("{url}?token={read}"), &[]).await.expect("r")).await;
    writer.push_text("t", "from writer").await;
    assert!(
        reader
            .until(SECS5, |d| text_of(d, "t") == "from writer")
            .await
    );

    reader.push_text("t", " + reader").await;
    assert!(
        saw_permission_denied(&mut reader, SECS5).await,
        "no permission-denied message"
    );
    // Still connected, still receiving.
    writer.push_text("t", "!").await;
    assert!(reader.until(SECS5, |d| text_of(d, "t").contains('!')).await);
    assert!(reader.closed.is_none());
    // Nothing of the reader's reached the writer, nor a fresh client (so: not stored).
    writer.until(Duration::from_millis(300), |_| false).await;
    assert_eq!(text_of(&writer.doc, "t"), "from writer!");
    let mut fresh =
        Client::from_ws(open(&format!("{url}?token={write}"), &[]).await.expect("f")).await;
    assert!(
        fresh
            .until(SECS5, |d| text_of(d, "t") == "from writer!")
            .await
    );
    // Awareness from a read-only session is still relayed.
    let frame = encode_awareness([(4242u64, 1u32, "{\"user\":\"ro\"}")].into_iter());
    reader.send(frame).await;
    let mut got = false;
    let deadline = tokio::time::Instant::now() + SECS5;
    while let Ok(Some(Ok(Message::Binary(bytes)))) =
        tokio::time::timeout_at(deadline, writer.ws.next()).await
    {
        if decode_frame(&bytes).unwrap_or_default().iter().any(
            |m| matches!(m, Inbound::Awareness(u) if u.clients.keys().any(|c| c.get() == 4242)),
        ) {
            got = true;
            break;
        }
    }
    assert!(got, "the read-only session's awareness was not relayed");
}

#[tokio::test]
async fn origins_outside_the_allow_list_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(
        dir.path(),
        &[
            "--allowed-origins",
            "https://app.example.com,http://localhost:3000",
        ],
    );
    let url = server.url("origin");
    assert_eq!(
        open(&url, &[("origin", "https://evil.example")])
            .await
            .err(),
        Some(403)
    );
    assert!(open(&url, &[("origin", "https://app.example.com")])
        .await
        .is_ok());
    assert!(open(&url, &[("origin", "http://LOCALHOST:3000/")])
        .await
        .is_ok());
    assert!(
        open(&url, &[]).await.is_ok(),
        "non-browser clients send no Origin"
    );
}

#[tokio::test]
async fn connection_limits_per_document_and_per_ip_answer_429() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(
        dir.path(),
        &["--max-conns-per-doc", "2", "--max-conns-per-ip", "3"],
    );
    let a1 = open(&server.url("lim/a"), &[]).await.expect("1");
    let _a2 = open(&server.url("lim/a"), &[]).await.expect("2");
    assert_eq!(
        open(&server.url("lim/a"), &[]).await.err(),
        Some(429),
        "per document"
    );
    let _b1 = open(&server.url("lim/b"), &[]).await.expect("3");
    assert_eq!(
        open(&server.url("lim/b"), &[]).await.err(),
        Some(429),
        "per ip"
    );
    // A closed connection frees its slots.
    drop(a1);
    let mut ok = false;
    for _ in 0..50 {
        if open(&server.url("lim/a"), &[]).await.is_ok() {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ok, "the slot of a closed connection was not freed");
}

#[tokio::test]
async fn a_flooding_connection_is_closed_with_1008_and_others_carry_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(
        dir.path(),
        &["--max-messages-per-sec", "20", "--message-burst", "20"],
    );
    let url = server.url("flood");
    let mut calm = Client::connect(&url).await;
    let mut flood = Client::connect(&url).await;
    for _ in 0..200 {
        let step1 = encode_sync_step1(&flood.doc.transact().state_vector());
        if flood.ws.send(Message::Binary(step1.into())).await.is_err() {
            break;
        }
    }
    assert_eq!(flood.until_closed(SECS5).await, Some(CloseCode::Policy));
    calm.push_text("t", "still here").await;
    let mut late = Client::connect(&url).await;
    assert!(late.until(SECS5, |d| text_of(d, "t") == "still here").await);
    // The refusal is counted with a stable reason.
    let (_, metrics) = http_get(server.port, "/metrics").expect("metrics answers");
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("weft_refusals_total{reason=\"rate_limit\"} ")),
        "no rate_limit refusal in /metrics:\n{metrics}"
    );
}

#[tokio::test]
async fn a_connection_injecting_many_awareness_ids_is_closed_with_1008() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &["--max-awareness-ids-per-conn", "4"]);
    let url = server.url("presence-flood");
    let mut normal = Client::connect(&url).await;
    normal
        .send(encode_awareness([(1u64, 1u32, "{}")].into_iter()))
        .await;
    let mut bad = Client::connect(&url).await;
    let entries: Vec<(u64, u32, &str)> = (1000..3000u64).map(|id| (id, 1, "{}")).collect();
    bad.send(encode_awareness(entries.into_iter())).await;
    assert_eq!(bad.until_closed(SECS5).await, Some(CloseCode::Policy));
    // Renewing one's own id many times is fine.
    for clock in 2..50u32 {
        normal
            .send(encode_awareness([(1u64, clock, "{}")].into_iter()))
            .await;
    }
    assert!(normal.until(Duration::from_millis(500), |_| false).await || normal.closed.is_none());
    assert!(normal.closed.is_none(), "{:?}", normal.closed);
}

#[test]
fn weft_token_prints_a_verifiable_token() {
    let out = std::process::Command::new(weft_bin())
        .args([
            "token", "--doc", "notes/*", "--access", "read", "--ttl", "1h", "--user", "ann",
        ])
        .env("WEFT_AUTH_SECRET", SECRET)
        .output()
        .expect("run weft token");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).expect("utf8");
    let claims = keys().verify(token.trim()).expect("valid token");
    assert_eq!(claims.doc, "notes/*");
    assert_eq!(claims.access, Access::Read);
    assert_eq!(claims.user.as_deref(), Some("ann"));
    assert!(claims.remaining() > Duration::from_secs(3500));
    let bad = std::process::Command::new(weft_bin())
        .args(["token", "--doc", "bad name!", "--access", "write"])
        .env("WEFT_AUTH_SECRET", SECRET)
        .output()
        .expect("run weft token");
    assert!(!bad.status.success());
}

#[test]
fn running_open_is_announced_and_the_secret_is_never_logged() {
    use std::io::Read;
    let dir = tempfile::tempdir().expect("tempdir");
    for (secret, expect_open) in [(None, true), (Some(SECRET), false)] {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
        let port = listener.local_addr().expect("addr").port();
        drop(listener);
        let mut cmd = std::process::Command::new(weft_bin());
        cmd.args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .arg("--data-dir")
            .arg(dir.path())
            .env_remove("WEFT_AUTH_SECRET")
            .env("WEFT_LOG", "info")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        if let Some(s) = secret {
            cmd.env("WEFT_AUTH_SECRET", s);
        }
        let mut child = cmd.spawn().expect("start weft");
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while http_get(port, "/healthz").is_none() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(25));
        }
        let _ = child.kill();
        let _ = child.wait();
        let mut log = String::new();
        if let Some(mut o) = child.stdout.take() {
            let _ = o.read_to_string(&mut log);
        }
        if let Some(mut e) = child.stderr.take() {
            let _ = e.read_to_string(&mut log);
        }
        assert_eq!(log.contains("RUNNING OPEN"), expect_open, "{log}");
        assert!(!log.contains(SECRET));
    }
}
