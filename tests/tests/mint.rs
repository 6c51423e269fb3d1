//! `POST /api/v1/tokens` against the real `weft` binary: 404 when no admin key is configured,
//! 401 without the key or with a wrong one, 400 for a bad body, and a minted token that the
//! server then accepts for exactly what it grants.

mod common;

use std::io::{Read, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;
use weft::access::{Access, Keys};

const SECRET: &str = "a black-box test secret, 32+ bytes long";
const ADMIN: &str = "an admin key for the minting tests, long";

/// A minimal blocking HTTP/1.0 POST with a JSON body; (status, body).
fn post(port: u16, path: &str, auth: Option<&str>, body: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let auth = auth
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "POST {path} HTTP/1.0\r\nHost: localhost\r\nContent-Type: application/json\r\n{auth}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    let body = out.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
    (status, body)
}

fn json_field<'a>(body: &'a str, key: &str) -> &'a str {
    let at = body.find(&format!("\"{key}\":")).expect(key) + key.len() + 3;
    let rest = body[at..].trim_start_matches('"');
    let end = rest.find(['"', ',', '}']).expect("field end");
    &rest[..end]
}

#[test]
fn minting_is_off_without_an_admin_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &["--auth-secret", SECRET]);
    let body = r#"{"doc":"a","access":"write","ttl_seconds":60}"#;
    let bearer = format!("Bearer {ADMIN}");
    let (status, _) = post(server.port, "/api/v1/tokens", Some(&bearer), body);
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_backend_mints_tokens_with_the_admin_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &["--auth-secret", SECRET, "--admin-key", ADMIN]);
    let path = "/api/v1/tokens";
    let body = r#"{"doc":"notes/*","access":"read","ttl_seconds":120,"user":"ann"}"#;
    assert_eq!(post(server.port, path, None, body).0, 401, "no key");
    assert_eq!(
        post(server.port, path, Some("Bearer not-the-key"), body).0,
        401,
        "wrong key"
    );
    let wrong_len = format!("Bearer {ADMIN}x");
    assert_eq!(post(server.port, path, Some(&wrong_len), body).0, 401);
    let basic = format!("Basic {ADMIN}");
    assert_eq!(post(server.port, path, Some(&basic), body).0, 401);

    let bearer = format!("Bearer {ADMIN}");
    for bad in [
        "not json",
        r#"{"doc":"bad name!","access":"read","ttl_seconds":60}"#,
        r#"{"doc":"a","access":"admin","ttl_seconds":60}"#,
        r#"{"doc":"a","access":"read","ttl_seconds":0}"#,
        r#"{"doc":"a","access":"read","ttl_seconds":99999999}"#,
    ] {
        assert_eq!(post(server.port, path, Some(&bearer), bad).0, 400, "{bad}");
    }

    let (status, answer) = post(server.port, path, Some(&bearer), body);
    assert_eq!(status, 200, "{answer}");
    let token = json_field(&answer, "token");
    let expires_at: u64 = json_field(&answer, "expires_at").parse().expect("number");
    let claims = Keys::new(SECRET.as_bytes())
        .verify(token)
        .expect("the minted token verifies");
    assert_eq!(claims.doc, "notes/*");
    assert_eq!(claims.access, Access::Read);
    assert_eq!(claims.user.as_deref(), Some("ann"));
    assert_eq!(claims.exp, expires_at);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    assert!((now + 115..=now + 125).contains(&expires_at));

    // The server accepts it for the documents it covers, and only those.
    let ok = format!("{}?token={token}", server.url("notes/plan"));
    let mut client = Client::connect(&ok).await;
    client.until(Duration::from_millis(200), |_| false).await;
    assert!(client.closed.is_none(), "{:?}", client.closed);
    let other = format!("{}?token={token}", server.url("private/plan"));
    assert!(tokio_tungstenite::connect_async(&other).await.is_err());
}
