//! PostgreSQL for tests: the server the test command started (`WEFT_TEST_DATABASE_URL`, or
//! `DATABASE_URL`), a fresh database per test, and throwaway servers for restart tests.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The admin URL of the test server; fails with the fix when there is none.
pub fn admin_url() -> String {
    std::env::var("WEFT_TEST_DATABASE_URL")
        .or_else(|_| std::env::var("DATABASE_URL"))
        .unwrap_or_else(|_| {
            panic!(
                "no PostgreSQL for the tests: run ./scripts/test.sh (it starts a throwaway server \
                 with initdb/postgres), or set WEFT_TEST_DATABASE_URL (or DATABASE_URL) to a \
                 server where this user may CREATE DATABASE"
            )
        })
}

fn with_db(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let prefix_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match base[prefix_end..].find('/') {
        Some(i) => &base[..prefix_end + i],
        None => base,
    };
    format!("{base}/{db}{query}")
}

/// Creates an empty database and returns its URL.
pub async fn fresh_db(admin: &str) -> String {
    let name = format!("weft_t_{:016x}", rand::random::<u64>());
    let (client, conn) = tokio_postgres::connect(admin, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the test PostgreSQL at {admin}: {e}"));
    tokio::spawn(conn);
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create test database");
    with_db(admin, &name)
}

/// Runs a SQL statement on the admin connection (e.g. `pg_terminate_backend`).
pub async fn admin_exec(admin: &str, sql: &str) {
    let (client, conn) = tokio_postgres::connect(admin, tokio_postgres::NoTls)
        .await
        .expect("admin connection");
    tokio::spawn(conn);
    client.batch_execute(sql).await.expect("admin statement");
}

/// Runs a query answering one number on the admin connection.
pub async fn admin_count(admin: &str, sql: &str) -> i64 {
    let (client, conn) = tokio_postgres::connect(admin, tokio_postgres::NoTls)
        .await
        .expect("admin connection");
    tokio::spawn(conn);
    client
        .query_one(sql, &[])
        .await
        .expect("admin query")
        .get(0)
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/pg-test-server.sh")
}

/// A PostgreSQL server of this test's own (for restarting it); stopped on drop.
pub struct OwnPg {
    pub dir: tempfile::TempDir,
    pub url: String,
}

impl OwnPg {
    pub fn start() -> OwnPg {
        OwnPg::start_with(&[])
    }

    /// With ssl=on and a `hostssl`-only pg_hba.conf: `certs` holds server.crt and server.key.
    pub fn start_tls(certs: &Path) -> OwnPg {
        OwnPg::start_with(&[std::ffi::OsStr::new("--ssl"), certs.as_os_str()])
    }

    fn start_with(extra: &[&std::ffi::OsStr]) -> OwnPg {
        let dir = tempfile::tempdir().expect("tempdir");
        // The server runs as `postgres` (it refuses root): let it reach its folder.
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .expect("chmod tempdir");
        let out = Command::new(script())
            .arg("start")
            .arg(dir.path().join("pg"))
            .args(extra)
            .output()
            .expect("run pg-test-server.sh");
        assert!(
            out.status.success(),
            "pg-test-server.sh start failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let url = String::from_utf8_lossy(&out.stdout).trim().to_string();
        OwnPg { dir, url }
    }

    fn control(&self, verb: &str) {
        let ok = Command::new(script())
            .arg(verb)
            .arg(self.dir.path().join("pg"))
            .status()
            .expect("run pg-test-server.sh")
            .success();
        assert!(ok, "PostgreSQL {verb} failed");
    }

    /// `pg_ctl restart -m fast`: every connection is cut.
    pub fn restart(&self) {
        self.control("restart");
    }

    /// Stops the server (an outage) until [`OwnPg::resume`].
    pub fn stop(&self) {
        self.control("stop");
    }

    pub fn resume(&self) {
        self.control("resume");
    }
}

impl Drop for OwnPg {
    fn drop(&mut self) {
        let _ = Command::new(script())
            .arg("stop")
            .arg(self.dir.path().join("pg"))
            .status();
    }
}
