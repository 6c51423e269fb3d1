//! `weft copy` against the real binary: documents of several kinds (plain text, Tiptap content
//! written through the content API, versions) made on an embedded-store server, copied to a
//! real PostgreSQL and served from there, then copied back to a new embedded folder and served
//! again; every document's content and versions are equal each time. Also: resuming (a copy
//! with `--prefix`, then everything: the first ones are skipped), and the failures a user
//! meets (a folder a server holds, PostgreSQL unreachable, a document edited at the
//! destination) with messages that say what to do.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use common::pg::{admin_url, fresh_db};
use common::Server;
use serde_json::{json, Value};

fn weft_copy(args: &[&str]) -> Output {
    let mut cmd = Command::new(common::weft_bin());
    for (key, _) in std::env::vars() {
        if key.starts_with("WEFT_") || key == "DATABASE_URL" {
            cmd.env_remove(key);
        }
    }
    cmd.arg("copy")
        .args(args)
        .arg("--progress-every")
        .arg("2")
        .output()
        .expect("run weft copy")
}

fn copied(out: Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "weft copy failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn failed(out: Output) -> String {
    assert!(!out.status.success(), "weft copy should have failed");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    fn new(server: &Server) -> Api {
        Api {
            base: format!("http://127.0.0.1:{}/api/v1", server.port),
            http: reqwest::Client::new(),
        }
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<(&str, String)>,
    ) -> Value {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some((kind, body)) = body {
            req = req.header("content-type", kind).body(body);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let text = resp.text().await.expect("body");
        assert!(status.is_success(), "{path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    }

    async fn get(&self, path: &str) -> Value {
        self.send(reqwest::Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let body = ("application/json", body.to_string());
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    async fn markdown(&self, method: reqwest::Method, doc: &str, md: &str) {
        let path = format!("/documents/{doc}/content?type=markdown");
        self.send(method, &path, Some(("text/markdown", md.to_string())))
            .await;
    }
}

/// Texts in `bulk/*`, Tiptap content with versions in `notes/rich`, an empty document.
async fn make_documents(api: &Api) {
    for i in 0..5 {
        api.post(
            "/documents",
            json!({"name": format!("bulk/{i}"), "text": {"key": "codemirror", "value": format!("text {i}")}}),
        )
        .await;
    }
    api.post("/documents", json!({"name": "notes/rich"})).await;
    api.markdown(
        reqwest::Method::PUT,
        "notes%2Frich",
        "# Plan\n\n- [x] **ship** it\n- [ ] ~~later~~\n",
    )
    .await;
    api.post(
        "/documents/notes%2Frich/versions",
        json!({"label": "first"}),
    )
    .await;
    api.markdown(reqwest::Method::POST, "notes%2Frich", "More *text*.\n")
        .await;
    api.post(
        "/documents/notes%2Frich/versions",
        json!({"label": "second"}),
    )
    .await;
    // A replace keeps a version of what it replaces.
    api.markdown(reqwest::Method::PUT, "notes%2Frich", "Rewritten.\n")
        .await;
    api.post(
        "/documents",
        json!({"name": "notes/text", "text": {"key": "codemirror", "value": "Ship it"}}),
    )
    .await;
    api.post("/documents/notes%2Ftext/versions", json!({"label": "v"}))
        .await;
    api.post("/documents", json!({"name": "other/empty"})).await;
}

/// Every document's content (as JSON, and the Tiptap field as Markdown) and versions (the
/// list, and each one's content), by name.
async fn everything(server: &Server) -> BTreeMap<String, Value> {
    let api = Api::new(server);
    let list = api.get("/documents?limit=1000").await;
    let mut all = BTreeMap::new();
    for doc in list["documents"].as_array().expect("documents") {
        let name = doc["name"].as_str().expect("name").to_string();
        let enc = name.replace('/', "%2F");
        let content = api.get(&format!("/documents/{enc}/content")).await;
        let versions = api.get(&format!("/documents/{enc}/versions")).await;
        let mut version_contents = Vec::new();
        for v in versions["versions"].as_array().expect("versions") {
            let id = &v["id"];
            version_contents.push(
                api.get(&format!("/documents/{enc}/versions/{id}/content"))
                    .await,
            );
        }
        let markdown = if name == "notes/rich" {
            api.get(&format!("/documents/{enc}/content?type=markdown"))
                .await
        } else {
            Value::Null
        };
        all.insert(
            name,
            json!({"content": content, "markdown": markdown, "versions": versions, "version_contents": version_contents}),
        );
    }
    all
}

#[tokio::test]
async fn embedded_to_postgres_and_back_keeps_every_document_and_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = dir.path().join("first");
    let mut server = Server::start(&first, &[]);
    make_documents(&Api::new(&server)).await;
    server.terminate();
    // What the embedded store holds, read back by a fresh server (which changes nothing).
    let mut server = Server::start(&first, &[]);
    let expected = everything(&server).await;
    server.terminate();
    drop(server);
    assert_eq!(expected.len(), 8);
    assert_eq!(
        expected["notes/rich"]["versions"]["versions"]
            .as_array()
            .map(Vec::len),
        Some(4)
    );
    assert_eq!(expected["notes/rich"]["markdown"], "Rewritten.\n");

    // To PostgreSQL, in two steps: the second resumes where the first stopped.
    let url = fresh_db(&admin_url()).await;
    let out = copied(weft_copy(&[
        "--from",
        path(&first),
        "--to",
        &url,
        "--prefix",
        "notes/",
    ]));
    assert!(out.contains("copied 2 document(s) (5 version(s)"), "{out}");
    let out = copied(weft_copy(&["--from", path(&first), "--to", &url]));
    assert!(out.contains("copied 6 document(s) (0 version(s)"), "{out}");
    assert!(
        out.contains("skipped 2 already there (5 version(s)), 0 failed"),
        "{out}"
    );

    let mut on_pg = Server::start(&dir.path().join("pg-node"), &["--database-url", &url]);
    assert_eq!(everything(&on_pg).await, expected);
    on_pg.terminate();
    drop(on_pg);

    // And back, to a new folder.
    let second = dir.path().join("second");
    let out = copied(weft_copy(&["--from", &url, "--to", path(&second)]));
    assert!(out.contains("copied 8 document(s) (5 version(s)"), "{out}");
    let again = copied(weft_copy(&["--from", &url, "--to", path(&second)]));
    assert!(
        again.contains("copied 0 document(s)") && again.contains("skipped 8"),
        "{again}"
    );
    let mut back = Server::start(&second, &[]);
    assert_eq!(everything(&back).await, expected);
    back.terminate();
}

#[tokio::test]
async fn failures_say_what_to_do() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = dir.path().join("first");
    let second = dir.path().join("second");
    let mut server = Server::start(&first, &[]);
    make_documents(&Api::new(&server)).await;

    // A folder a running server holds.
    let out = failed(weft_copy(&["--from", path(&first), "--to", path(&second)]));
    assert!(
        out.contains("in use by a running weft server") && out.contains("stop that server"),
        "{out}"
    );
    server.terminate();
    drop(server);

    // PostgreSQL that does not answer.
    let out = failed(weft_copy(&[
        "--from",
        path(&first),
        "--to",
        "postgres://weft@127.0.0.1:1/weft?sslmode=disable",
    ]));
    assert!(out.contains("cannot open --to (PostgreSQL)"), "{out}");

    // The same store twice.
    let out = failed(weft_copy(&[
        "--from",
        path(&first),
        "--to",
        &format!("{}/.", path(&first)),
    ]));
    assert!(out.contains("name the same store"), "{out}");

    // No store where --from points.
    let out = failed(weft_copy(&[
        "--from",
        path(&dir.path().join("nothing")),
        "--to",
        path(&second),
    ]));
    assert!(out.contains("no embedded store in"), "{out}");

    // A document edited at the destination after a copy fails alone, with the reason; the
    // others are skipped.
    copied(weft_copy(&["--from", path(&first), "--to", path(&second)]));
    let mut there = Server::start(&second, &[]);
    Api::new(&there)
        .markdown(reqwest::Method::POST, "notes%2Frich", "Written there.\n")
        .await;
    there.terminate();
    drop(there);
    let mut here = Server::start(&first, &[]);
    Api::new(&here)
        .markdown(reqwest::Method::POST, "notes%2Frich", "Written here.\n")
        .await;
    here.terminate();
    drop(here);
    let out = failed(weft_copy(&["--from", path(&first), "--to", path(&second)]));
    assert!(
        out.contains("skipped 7 already there") && out.contains("1 failed"),
        "{out}"
    );
    assert!(
        out.contains("failed \"notes/rich\": the destination has edits the source has not"),
        "{out}"
    );
    assert!(out.contains("run the same weft copy again"), "{out}");
}
