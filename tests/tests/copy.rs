//! `weft copy`, black-box: documents written through a real server into the embedded store,
//! copied to PostgreSQL and back into a second embedded store, read back through a server with
//! equal content and equal versions; a second run skips what is there; `--prefix` selects.

mod common;

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use common::pg::{admin_url, fresh_db};
use common::*;
use weft::config::SyncMode;
use weft::store::{EmbeddedStore, Store};
use weft_crdt::DocName;

const DOCS: &[(&str, &str)] = &[
    ("notes/one", "the first note"),
    ("notes/two", "the second note"),
    ("other", "something else"),
];

fn weft_copy(from: &str, to: &str, extra: &[&str]) -> Output {
    let out = weft_command()
        .args(["copy", "--from", from, "--to", to])
        .args(extra)
        .output()
        .expect("run weft copy");
    assert!(
        out.status.success(),
        "weft copy --from {from} --to {to} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn summary(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Each document's versions as (kind, label, time, text).
async fn versions_of(dir: &Path) -> Vec<Vec<(String, Option<String>, i64, String)>> {
    let store = EmbeddedStore::open(dir, SyncMode::Normal).expect("open store");
    let mut all = Vec::new();
    for (name, _) in DOCS {
        let doc = DocName::parse(name).expect("name");
        let mut list = Vec::new();
        for meta in store.versions(&doc).await.expect("versions") {
            let (_, parts) = store
                .version_parts(&doc, meta.id)
                .await
                .expect("version parts")
                .expect("version exists");
            let rebuilt = weft_crdt::snapshot::rebuild(&parts).expect("version rebuilds");
            list.push((
                meta.kind.as_str().to_owned(),
                meta.label,
                meta.created_ms,
                text_of(&rebuilt, "t"),
            ));
        }
        all.push(list);
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_to_postgres_and_back_keeps_every_document() {
    let source = tempfile::tempdir().expect("tempdir");
    let mut server = Server::start(source.path(), &[]);
    for (name, text) in DOCS {
        let mut client = Client::connect(&server.url(name)).await;
        client.push_text("t", text).await;
        client.drain().await;
        client.close().await;
    }
    // A labelled version of each (taken through the API, so it is there before the stop).
    let http = reqwest::Client::new();
    for (name, _) in DOCS {
        let url = format!(
            "http://127.0.0.1:{}/api/v1/documents/{}/versions",
            server.port,
            name.replace('/', "%2F")
        );
        let status = http
            .post(&url)
            .header("content-type", "application/json")
            .body(serde_json::json!({ "label": format!("{name} v1") }).to_string())
            .send()
            .await
            .expect("POST versions")
            .status();
        assert!(status.is_success(), "version of {name}: {status}");
    }
    assert!(server.terminate().success());
    let before = versions_of(source.path()).await;
    assert!(
        before.iter().all(|v| !v.is_empty()),
        "a version per document: {before:?}"
    );

    let url = fresh_db(&admin_url()).await;
    let from = source.path().to_str().expect("utf-8 path");
    let out = weft_copy(from, &url, &[]);
    assert!(
        summary(&out).contains("3 document(s) copied"),
        "{}",
        summary(&out)
    );
    let progress = String::from_utf8_lossy(&out.stderr);
    assert!(progress.contains("[3/3]"), "{progress}");

    // Run again: everything is there already.
    let out = weft_copy(from, &url, &[]);
    assert!(
        summary(&out).contains("0 document(s) copied") && summary(&out).contains("3 already"),
        "{}",
        summary(&out)
    );

    let back = tempfile::tempdir().expect("tempdir");
    let to = back.path().join("data");
    let to = to.to_str().expect("utf-8 path");
    let out = weft_copy(&url, to, &[]);
    assert!(
        summary(&out).contains("3 document(s) copied"),
        "{}",
        summary(&out)
    );
    assert_eq!(versions_of(Path::new(to)).await, before, "versions differ");

    let server = Server::start(Path::new(to), &[]);
    for (name, text) in DOCS {
        let mut reader = Client::connect(&server.url(name)).await;
        assert!(
            reader
                .until(Duration::from_secs(10), |d| text_of(d, "t") == *text)
                .await,
            "{name} did not come back as {text:?}"
        );
    }

    // Only what the prefix names.
    let some = tempfile::tempdir().expect("tempdir");
    let some = some.path().to_str().expect("utf-8 path");
    let out = weft_copy(from, some, &["--prefix", "notes/"]);
    assert!(
        summary(&out).contains("2 document(s) copied"),
        "{}",
        summary(&out)
    );
}

#[test]
fn a_missing_source_folder_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("nothing-here");
    let out = weft_command()
        .args(["copy", "--from"])
        .arg(&missing)
        .args(["--to"])
        .arg(dir.path().join("to"))
        .output()
        .expect("run weft copy");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no embedded store at"), "{stderr}");
}
