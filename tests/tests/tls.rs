//! Native TLS and the handshake timeout, against the real `weft` binary: a self-signed
//! certificate made here (rcgen), two `wss://` clients that trust only it and sync an update,
//! `/healthz` over HTTPS; a half TLS configuration refused at start-up; a TCP connection that
//! sends nothing closed within `--handshake-timeout`.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::Connector;

/// A self-signed certificate for `127.0.0.1` and `localhost`, written as PEM files in `dir`;
/// returns the certificate (to trust) and the two paths.
fn self_signed(dir: &std::path::Path) -> (CertificateDer<'static>, String, String) {
    let certified =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .expect("generate certificate");
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    std::fs::write(&cert, certified.cert.pem()).expect("write cert");
    std::fs::write(&key, certified.signing_key.serialize_pem()).expect("write key");
    (
        certified.cert.der().clone(),
        cert.display().to_string(),
        key.display().to_string(),
    )
}

/// A rustls client configuration that trusts `cert` only.
fn client_config(cert: CertificateDer<'static>) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).expect("trust the test certificate");
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocol versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    Arc::new(config)
}

/// A minimal HTTP/1.0 GET over TLS; `None` until the server answers.
async fn https_get(
    port: u16,
    path: &str,
    config: Arc<rustls::ClientConfig>,
) -> Option<(u16, String)> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
    let name = ServerName::try_from("127.0.0.1").ok()?;
    let mut tls = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .ok()?;
    let request = format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n");
    tls.write_all(request.as_bytes()).await.ok()?;
    let mut out = Vec::new();
    // A peer that closes without close_notify ends with an error: keep what arrived.
    let _ = tokio::time::timeout(Duration::from_secs(5), tls.read_to_end(&mut out)).await;
    let out = String::from_utf8_lossy(&out).into_owned();
    let status = out.split_whitespace().nth(1)?.parse().ok()?;
    let body = out.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
    Some((status, body))
}

async fn wss_client(url: &str, config: Arc<rustls::ClientConfig>) -> Client {
    let (ws, _) = tokio_tungstenite::connect_async_tls_with_config(
        url,
        None,
        false,
        Some(Connector::Rustls(config)),
    )
    .await
    .unwrap_or_else(|e| panic!("connect {url}: {e}"));
    Client::from_ws(ws).await
}

#[tokio::test]
async fn wss_with_a_self_signed_certificate_syncs_and_serves_https() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, cert_path, key_path) = self_signed(dir.path());
    let server = Server::start_unchecked(
        dir.path(),
        &["--tls-cert", &cert_path, "--tls-key", &key_path],
    );
    let config = client_config(cert);
    let deadline = Instant::now() + Duration::from_secs(20);
    let health = loop {
        if let Some(answer) = https_get(server.port, "/healthz", config.clone()).await {
            break answer;
        }
        assert!(Instant::now() < deadline, "no answer over https");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(health.0, 200, "{health:?}");
    assert!(
        http_get(server.port, "/healthz").is_none_or(|(status, _)| status != 200),
        "plain HTTP must not be served on a TLS listener"
    );

    let url = format!("wss://127.0.0.1:{}/ws/secure/doc", server.port);
    let mut a = wss_client(&url, config.clone()).await;
    let mut b = wss_client(&url, config.clone()).await;
    a.push_text("t", "over tls").await;
    assert!(b.until(SECS5, |d| text_of(d, "t") == "over tls").await);

    // Frames larger than the socket takes at once: rustls holds the records the socket did not
    // take, and the connection's task writes them when it can (a 4 MB edit, a 4 MB first sync).
    let big = "x".repeat(4 << 20);
    a.push_text("big", &big).await;
    let got = b
        .until(SECS15, |d| text_of(d, "big").len() == big.len())
        .await;
    assert!(got, "b: {:?}, a: {:?}", b.closed, a.closed);
    let mut fresh = wss_client(&url, config.clone()).await;
    assert!(
        fresh
            .until(SECS15, |d| text_of(d, "big").len() == big.len())
            .await
    );

    // A client that does not trust the certificate cannot connect.
    let untrusted = client_config(self_signed(tempfile::tempdir().expect("tmp").path()).0);
    let refused = tokio_tungstenite::connect_async_tls_with_config(
        &url,
        None,
        false,
        Some(Connector::Rustls(untrusted)),
    )
    .await;
    assert!(refused.is_err(), "an untrusted certificate was accepted");
}

#[test]
fn a_certificate_without_a_key_is_refused_at_start_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, cert_path, _) = self_signed(dir.path());
    let out = std::process::Command::new(weft_bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--tls-cert", &cert_path])
        .arg("--data-dir")
        .arg(dir.path())
        .env_remove("WEFT_TLS_KEY")
        .output()
        .expect("run weft");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--tls-key"), "{stderr}");
}

#[tokio::test]
async fn a_connection_that_sends_nothing_is_closed_after_the_handshake_timeout() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &["--handshake-timeout", "1s"]);
    let mut silent = TcpStream::connect(("127.0.0.1", server.port))
        .await
        .expect("connect");
    let started = Instant::now();
    let mut buf = [0u8; 256];
    // The server either closes (EOF / reset) or answers 408 and closes; it must not wait.
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match silent.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => continue,
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "the silent connection was still open after 5 s"
    );
    let took = started.elapsed();
    // 1 s configured (actix's own default is 5 s): closed near it, not early.
    assert!(
        took >= Duration::from_millis(500) && took < Duration::from_secs(3),
        "closed after {took:?}"
    );
    // A client that does speak is served as usual.
    let mut client = Client::connect(&server.url("timely")).await;
    client.push_text("t", "hi").await;
    client.until(Duration::from_millis(300), |_| false).await;
    assert!(client.closed.is_none(), "{:?}", client.closed);
}
