//! TLS to PostgreSQL, black-box: a real PostgreSQL with ssl=on and a pg_hba.conf that takes
//! TCP connections only over TLS (`hostssl`), its certificate signed by a private CA made here.
//! The store, `weft migrate` and the cluster's connections all go over TLS, and the usual
//! misconfigurations fail with a message that says what to do.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use common::pg::{admin_url, OwnPg};
use common::*;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use weft::store::postgres::PgTarget;

/// A PostgreSQL that speaks only TLS over TCP; its certificate names `localhost` alone.
struct TlsPg {
    _pg: OwnPg,
    _certs: tempfile::TempDir,
    port: u16,
    ca: PathBuf,
}

fn tls_pg() -> TlsPg {
    let certs = tempfile::tempdir().expect("tempdir");
    let ca = make_certs(certs.path());
    let pg = OwnPg::start_tls(certs.path());
    let port = pg
        .url
        .rsplit(':')
        .next()
        .and_then(|rest| rest.split('/').next())
        .and_then(|p| p.parse().ok())
        .expect("port in the server's URL");
    TlsPg {
        _pg: pg,
        _certs: certs,
        port,
        ca,
    }
}

/// A CA, and a server certificate for `localhost` it signs; returns the CA's PEM file.
fn make_certs(dir: &Path) -> PathBuf {
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Weft test CA");
    let ca_cert = ca_params.self_signed(&ca_key).expect("CA certificate");
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().expect("server key");
    let cert = CertificateParams::new(vec!["localhost".to_owned()])
        .expect("server params")
        .signed_by(&key, &issuer)
        .expect("server certificate");
    std::fs::write(dir.join("server.crt"), cert.pem()).expect("write server.crt");
    std::fs::write(dir.join("server.key"), key.serialize_pem()).expect("write server.key");
    let ca = dir.join("ca.crt");
    std::fs::write(&ca, ca_cert.pem()).expect("write ca.crt");
    ca
}

impl TlsPg {
    /// A URL to database `db` naming the server `host` (connecting to 127.0.0.1 whatever the
    /// name, so the certificate's name check is the only thing the name changes).
    fn url(&self, host: &str, db: &str, params: &str) -> String {
        format!(
            "postgres://weft@{host}:{}/{db}?hostaddr=127.0.0.1&{params}",
            self.port
        )
    }

    async fn admin(&self) -> tokio_postgres::Client {
        let target = PgTarget::parse(&self.url("localhost", "postgres", "sslmode=require"), None)
            .expect("admin URL");
        let (client, conn) = target
            .config
            .connect(target.tls)
            .await
            .expect("admin connection over TLS");
        tokio::spawn(conn);
        client
    }

    async fn fresh_db(&self) -> String {
        let name = format!("weft_tls_{:016x}", rand::random::<u64>());
        self.admin()
            .await
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create database");
        name
    }

    /// Connections of `application` that PostgreSQL reports as encrypted.
    async fn tls_sessions(&self, application: &str) -> i64 {
        self.admin()
            .await
            .query_one(
                "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
                 WHERE s.ssl AND a.application_name = $1",
                &[&application],
            )
            .await
            .expect("pg_stat_ssl")
            .get(0)
    }
}

/// `weft ARGS` with the caller's Weft settings removed; its output once it exits.
fn weft(args: &[&str]) -> Output {
    weft_command()
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run weft")
}

/// `weft migrate` must fail and say `expected`.
fn migrate_fails_saying(url: &str, extra: &[&str], expected: &str) {
    let mut args = vec![
        "migrate",
        "--database-url",
        url,
        "--pg-connect-timeout",
        "5s",
    ];
    args.extend_from_slice(extra);
    let out = weft(&args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "migrate with {url} succeeded");
    assert!(
        stderr.contains(expected),
        "migrate with {url}: expected {expected:?} in\n{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_and_verify_full_connect_over_tls() {
    let pg = tls_pg();
    let db = pg.fresh_db().await;
    let ca = pg.ca.to_str().expect("utf-8 path");

    // `weft migrate`, the CA given as a flag.
    let full = pg.url("localhost", &db, "sslmode=verify-full");
    let out = weft(&["migrate", "--database-url", &full, "--pg-sslrootcert", ca]);
    assert!(
        out.status.success(),
        "migrate over verify-full: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // `require`: encrypted, the certificate not checked (libpq's meaning).
    let dir = tempfile::tempdir().expect("tempdir");
    let require = pg.url("127.0.0.1", &db, "sslmode=require");
    let mut server = Server::start(
        dir.path(),
        &["--database-url", &require, "--cluster", "false"],
    );
    let mut client = Client::connect(&server.url("tls")).await;
    client.push_text("t", "over TLS").await;
    assert!(
        pg.tls_sessions("weft").await >= 1,
        "no encrypted connection"
    );
    client.close().await;
    assert!(server.terminate().success());

    // `verify-full`, the CA in the URL: the document written before is read back.
    let full = format!("{full}&sslrootcert={ca}");
    let server = Server::start(dir.path(), &["--database-url", &full, "--cluster", "false"]);
    let mut reader = Client::connect(&server.url("tls")).await;
    assert!(
        reader
            .until(Duration::from_secs(10), |d| text_of(d, "t") == "over TLS")
            .await,
        "the document did not come back over verify-full"
    );
    assert!(
        pg.tls_sessions("weft").await >= 1,
        "no encrypted connection"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_over_tls_carries_updates_between_nodes() {
    let pg = tls_pg();
    let db = pg.fresh_db().await;
    let url = pg.url("localhost", &db, "sslmode=verify-full");
    let ca = pg.ca.to_str().expect("utf-8 path");
    let dirs = [
        tempfile::tempdir().expect("tmp"),
        tempfile::tempdir().expect("tmp"),
    ];
    let nodes: Vec<Server> = dirs
        .iter()
        .enumerate()
        .map(|(i, dir)| {
            let node = format!("tls-node-{i}");
            let args = [
                "--database-url",
                &url,
                "--pg-sslrootcert",
                ca,
                "--node-id",
                &node,
                "--heartbeat",
                "300ms",
            ];
            Server::start(dir.path(), &args)
        })
        .collect();
    for node in &nodes {
        assert!(
            wait_for_status(node.port, "/readyz", 200, Duration::from_secs(15)).await,
            "node on port {} never listened for the others",
            node.port
        );
    }
    let mut reader = Client::connect(&nodes[1].url("shared")).await;
    let mut writer = Client::connect(&nodes[0].url("shared")).await;
    writer.push_text("t", "from node 0").await;
    assert!(
        reader
            .until(Duration::from_secs(10), |d| text_of(d, "t")
                == "from node 0")
            .await,
        "the update did not reach the other node"
    );
    // Both nodes' LISTEN connections (and their query pools) are encrypted.
    assert!(pg.tls_sessions("weft-cluster").await >= 2);
    // A node shows its cluster figures.
    let (_, metrics) = http_get(nodes[1].port, "/metrics").expect("/metrics");
    for line in [
        "weft_cluster_listening 1",
        "weft_node_info{node=\"tls-node-1\"} 1",
        "weft_cluster_notifications_total{kind=\"update\",outcome=\"received\"}",
    ] {
        assert!(metrics.contains(line), "no {line:?} in\n{metrics}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misconfigurations_fail_saying_what_to_do() {
    let pg = tls_pg();
    let ca = pg.ca.to_str().expect("utf-8 path");
    // The certificate names `localhost`, not this host.
    migrate_fails_saying(
        &pg.url("db.example.internal", "postgres", "sslmode=verify-full"),
        &["--pg-sslrootcert", ca],
        "certificate is for another host name",
    );
    // The private CA is not among the built-in roots.
    migrate_fails_saying(
        &pg.url("localhost", "postgres", "sslmode=verify-full"),
        &[],
        "--pg-sslrootcert",
    );
    // Plain TCP to a hostssl-only server.
    migrate_fails_saying(
        &pg.url("localhost", "postgres", "sslmode=disable"),
        &[],
        "add sslmode=require",
    );
    // `require` against a server without TLS (the suite's plain server).
    let plain = admin_url();
    let sep = if plain.contains('?') { '&' } else { '?' };
    migrate_fails_saying(
        &format!("{plain}{sep}sslmode=require"),
        &[],
        "does not offer TLS",
    );
    // `weft serve` stops at start-up with the same message.
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().to_str().expect("utf-8 path");
    let url = pg.url("localhost", "postgres", "sslmode=disable");
    let out = weft(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        data,
        "--database-url",
        &url,
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("add sslmode=require"), "{stderr}");
}
