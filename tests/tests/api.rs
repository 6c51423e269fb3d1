//! The document HTTP API, black-box: the real `weft` binary, HTTP through reqwest, live
//! sessions through the y-websocket protocol, and a real local webhook receiver.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::sync::mpsc;
use std::time::Duration;

use base64::Engine;
use common::*;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use weft::access::{Access, Keys};
use yrs::updates::encoder::Encode;
use yrs::{Array, ReadTxn, Text, Transact};

struct Api {
    base: String,
    http: reqwest::Client,
    bearer: Option<String>,
}

impl Api {
    fn new(server: &Server) -> Api {
        Api {
            base: format!("http://127.0.0.1:{}/api/v1", server.port),
            http: reqwest::Client::new(),
            bearer: None,
        }
    }

    fn with_bearer(mut self, token: &str) -> Api {
        self.bearer = Some(token.to_string());
        self
    }

    fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let req = self.http.request(method, format!("{}{path}", self.base));
        match &self.bearer {
            Some(t) => req.bearer_auth(t),
            None => req,
        }
    }

    async fn json(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self.req(method, path);
        if let Some(body) = body {
            req = req
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.json(reqwest::Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.json(reqwest::Method::POST, path, Some(body)).await
    }

    async fn bytes(&self, path: &str) -> (u16, Vec<u8>) {
        let resp = self
            .req(reqwest::Method::GET, path)
            .send()
            .await
            .expect("request");
        (
            resp.status().as_u16(),
            resp.bytes().await.expect("body").to_vec(),
        )
    }

    async fn post_bytes(&self, path: &str, body: Vec<u8>) -> (u16, Value) {
        let resp = self
            .req(reqwest::Method::POST, path)
            .header("content-type", "application/octet-stream")
            .body(body)
            .send()
            .await
            .expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn delete(&self, path: &str) -> u16 {
        self.req(reqwest::Method::DELETE, path)
            .send()
            .await
            .expect("request")
            .status()
            .as_u16()
    }
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// An update that appends `s` to the Y.Text `name` of a fresh document.
fn text_update(name: &str, s: &str) -> Vec<u8> {
    let doc = yrs::Doc::new();
    let t = doc.get_or_insert_text(name);
    let mut txn = doc.transact_mut();
    t.push(&mut txn, s);
    txn.encode_update_v1()
}

#[tokio::test]
async fn documents_create_list_read_and_refuse_bad_input() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &["--max-api-body", "64KiB"]);
    let api = Api::new(&server);

    let (status, doc) = api
        .post(
            "/documents",
            json!({"name": "team/plan", "text": {"key": "body", "value": "Ship it"}}),
        )
        .await;
    assert_eq!(status, 201, "{doc}");
    assert_eq!(doc["name"], "team/plan");
    assert_eq!(doc["connections"], 0);
    let (status, problem) = api.post("/documents", json!({"name": "team/plan"})).await;
    assert_eq!(status, 409);
    assert_eq!(problem["code"], "document-exists");
    let (status, _) = api
        .post(
            "/documents",
            json!({"name": "team/seeded", "update": b64(&text_update("t", "seed"))}),
        )
        .await;
    assert_eq!(status, 201);
    let (status, _) = api.post("/documents", json!({"name": "other"})).await;
    assert_eq!(status, 201);

    let (status, page) = api.get("/documents?prefix=team/&limit=1").await;
    assert_eq!(status, 200);
    assert_eq!(page["documents"][0]["name"], "team/plan");
    let cursor = page["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_string();
    let (_, page) = api
        .get(&format!("/documents?prefix=team/&limit=1&cursor={cursor}"))
        .await;
    assert_eq!(page["documents"][0]["name"], "team/seeded");
    assert!(page["next_cursor"].is_null());
    let (_, all) = api.get("/documents").await;
    assert_eq!(all["documents"].as_array().map(Vec::len), Some(3));

    let (status, meta) = api.get("/documents/team%2Fplan").await;
    assert_eq!(status, 200);
    assert!(meta["size_bytes"].as_u64() > Some(0), "{meta}");
    let (_, content) = api.get("/documents/team%2Fplan/content").await;
    assert_eq!(content, json!({"body": "Ship it"}));
    let resp = api
        .req(
            reqwest::Method::GET,
            "/documents/team%2Fseeded/content?type=text&key=t",
        )
        .send()
        .await
        .expect("text");
    assert_eq!(resp.text().await.expect("body"), "seed");

    // Errors: unknown document, bad names, bad updates, too-large bodies, bad state vectors.
    let (status, problem) = api.get("/documents/missing/content").await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (404, Some("document-not-found"))
    );
    let (status, problem) = api.get("/documents/bad%20name").await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (400, Some("invalid-name"))
    );
    let (status, problem) = api
        .post_bytes("/documents/team%2Fplan/update", vec![0xff, 0x03, 0x01])
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (400, Some("invalid-update"))
    );
    let (status, _) = api
        .post_bytes("/documents/team%2Fplan/update", vec![0u8; 100 * 1024])
        .await;
    assert_eq!(status, 413, "a body over --max-api-body");
    let (status, problem) = api.get("/documents/team%2Fplan/update?sv=%%%").await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (400, Some("invalid-state-vector"))
    );
    let (status, problem) = api
        .post("/documents", json!({"name": "x", "update": "not base64!"}))
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (400, Some("invalid-update"))
    );
    let (status, _) = api.get("/documents/x").await;
    assert_eq!(status, 404, "a refused create leaves nothing behind");
    // The document is unchanged by all of that.
    let (_, content) = api.get("/documents/team%2Fplan/content").await;
    assert_eq!(content, json!({"body": "Ship it"}));
}

/// Edit through the WebSocket, read JSON over HTTP; write an update over HTTP, see it arrive
/// on the WebSocket; read only what a state vector lacks.
#[tokio::test]
async fn http_and_websocket_see_each_others_writes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &[]);
    let api = Api::new(&server);
    let (status, _) = api.post("/documents", json!({"name": "live"})).await;
    assert_eq!(status, 201);

    let mut ws = Client::connect(&server.url("live")).await;
    ws.push_item("items", "from the socket").await;
    let mut content = Value::Null;
    for _ in 0..50 {
        content = api.get("/documents/live/content").await.1;
        if content["items"] == json!(["from the socket"]) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(content["items"], json!(["from the socket"]));
    let (_, meta) = api.get("/documents/live").await;
    assert_eq!(meta["connections"], 1);

    // An HTTP writer that started from the server's state.
    let (status, state) = api.bytes("/documents/live/update").await;
    assert_eq!(status, 200);
    let writer = weft_crdt::snapshot::rebuild(&[state]).expect("state is an update");
    let sv = writer.transact().state_vector();
    let items = writer.get_or_insert_array("items");
    let update = {
        let mut txn = writer.transact_mut();
        items.push_back(&mut txn, "from http");
        txn.encode_update_v1()
    };
    let (status, applied) = api
        .post_bytes("/documents/live/update", update.clone())
        .await;
    assert_eq!((status, applied["applied"].as_bool()), (200, Some(true)));
    let arrived = ws
        .until(SECS5, |d| array_strings(d, "items").len() == 2)
        .await;
    assert!(
        arrived,
        "the HTTP update reached the socket: {:?}",
        array_strings(&ws.doc, "items")
    );
    let (_, again) = api.post_bytes("/documents/live/update", update).await;
    assert_eq!(again["applied"], false, "a duplicate adds nothing");

    let sv = b64(&sv.encode_v1());
    let sv = sv
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D");
    let (_, diff) = api.bytes(&format!("/documents/live/update?sv={sv}")).await;
    let (_, full) = api.bytes("/documents/live/update").await;
    assert!(
        !diff.is_empty() && diff.len() < full.len(),
        "{} vs {}",
        diff.len(),
        full.len()
    );
}

/// Save a version, edit on, restore it: every live client converges to the old content
/// without reconnecting, and the restore itself is recorded as a version.
#[tokio::test]
async fn restore_brings_live_clients_back_to_an_old_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &["--version-every-updates", "0"]);
    let api = Api::new(&server);
    let url = server.url("story");
    let mut a = Client::connect(&url).await;
    let mut b = Client::connect(&url).await;
    a.push_text("t", "Once upon a time").await;
    assert!(
        b.until(SECS5, |d| text_of(d, "t") == "Once upon a time")
            .await
    );
    wait_for_doc(&api, "story").await;
    let (status, v1) = api
        .post("/documents/story/versions", json!({"label": "opening"}))
        .await;
    assert_eq!(status, 201, "{v1}");
    assert_eq!(v1["label"], "opening");
    assert_eq!(v1["kind"], "manual");
    let v1 = v1["id"].as_i64().expect("id");

    b.push_text("t", ", there was a dragon").await;
    a.push_item("list", "x").await;
    let edited = "Once upon a time, there was a dragon";
    assert!(a.until(SECS5, |d| text_of(d, "t") == edited).await);
    assert!(
        b.until(SECS5, |d| array_strings(d, "list").len() == 1)
            .await
    );
    let (_, old) = api
        .get(&format!("/documents/story/versions/{v1}/content"))
        .await;
    assert_eq!(old, json!({"t": "Once upon a time"}));

    let (status, restored) = api
        .post(
            &format!("/documents/story/versions/{v1}/restore"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{restored}");
    assert_eq!(restored["changed"], true);
    for c in [&mut a, &mut b] {
        let ok = c
            .until(SECS5, |d| {
                text_of(d, "t") == "Once upon a time" && array_strings(d, "list").is_empty()
            })
            .await;
        assert!(
            ok,
            "client at {:?} {:?}",
            text_of(&c.doc, "t"),
            array_strings(&c.doc, "list")
        );
        assert!(c.closed.is_none(), "no reconnect needed");
    }
    let (_, content) = api.get("/documents/story/content").await;
    assert_eq!(content, json!({"t": "Once upon a time"}));
    let mut versions = Value::Null;
    for _ in 0..50 {
        versions = api.get("/documents/story/versions").await.1;
        if versions["versions"][0]["kind"] == "restore" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(versions["versions"][0]["kind"], "restore", "{versions}");
    let (status, _) = api
        .post("/documents/story/versions/999/restore", json!({}))
        .await;
    assert_eq!(status, 404);
}

/// Automatic versions every N updates are deltas: each costs what changed, not the whole
/// document; the last session leaving takes one too.
#[tokio::test]
async fn automatic_versions_are_cheap_deltas() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &["--version-every-updates", "20"]);
    let api = Api::new(&server);
    let url = server.url("auto");
    let mut w = Client::connect(&url).await;
    w.push_text("t", &"x".repeat(20_000)).await;
    let versions_now = || async {
        let (status, body) = api.get("/documents/auto/versions").await;
        if status == 200 {
            body["versions"].as_array().cloned().unwrap_or_default()
        } else {
            Vec::new()
        }
    };
    let mut n = 0;
    for round in 1..=3 {
        for _ in 0..25 {
            w.push_text("t", &format!("{n}.")).await;
            n += 1;
            w.drain().await;
            tokio::time::sleep(Duration::from_millis(3)).await;
        }
        let mut have = 0;
        for _ in 0..100 {
            have = versions_now().await.len();
            if have >= round {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(
            have >= round,
            "a version per 20 updates: round {round}, {have} versions"
        );
    }
    let before_leaving = versions_now().await.len();
    w.push_text("t", "last").await;
    w.drain().await;
    drop(w);
    let mut versions = Vec::new();
    for _ in 0..100 {
        versions = versions_now().await;
        if versions.len() > before_leaving {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        versions.len() > before_leaving,
        "the last session leaving took one: {versions:?}"
    );
    let sizes: Vec<u64> = versions
        .iter()
        .filter_map(|v| v["size_bytes"].as_u64())
        .collect();
    let base = *sizes.last().expect("oldest");
    assert!(
        base > 20_000,
        "the first version holds the document: {sizes:?}"
    );
    for delta in &sizes[..sizes.len() - 1] {
        assert!(*delta < 1_000, "later versions are deltas: {sizes:?}");
    }
    let oldest = versions.last().and_then(|v| v["id"].as_i64()).expect("id");
    let newest = versions[0]["id"].as_i64().expect("id");
    let (_, content) = api
        .get(&format!("/documents/auto/versions/{newest}/content"))
        .await;
    let text = content["t"].as_str().expect("text");
    assert!(
        text.ends_with("74.last"),
        "the newest version has every edit: {}",
        &text[20_000..]
    );
    let (status, update) = api
        .bytes(&format!("/documents/auto/versions/{oldest}/update"))
        .await;
    assert_eq!(status, 200);
    let old = weft_crdt::snapshot::rebuild(&[update]).expect("version update");
    assert!(text_of(&old, "t").starts_with("xxxx"));
}

/// Waits until the API sees `doc` (its first update is committed).
async fn wait_for_doc(api: &Api, doc: &str) {
    for _ in 0..100 {
        if api.get(&format!("/documents/{doc}")).await.0 == 200 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{doc} never appeared");
}

#[tokio::test]
async fn delete_closes_live_sessions_and_forgets_the_document() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &[]);
    let api = Api::new(&server);
    let url = server.url("doomed");
    let mut c = Client::connect(&url).await;
    c.push_text("t", "secret plans").await;
    wait_for_doc(&api, "doomed").await;
    let (status, _) = api
        .post("/documents/doomed/versions", json!({"label": "v"}))
        .await;
    assert_eq!(status, 201);
    assert_eq!(api.delete("/documents/doomed").await, 204);
    let code = c.until_closed(SECS5).await;
    assert_eq!(code, Some(CloseCode::Library(4404)));
    assert_eq!(api.get("/documents/doomed").await.0, 404);
    assert_eq!(api.get("/documents/doomed/versions").await.0, 404);
    assert_eq!(api.delete("/documents/doomed").await, 404);
    let mut fresh = Client::connect(&url).await;
    fresh.pump_once(Duration::from_millis(300)).await;
    assert_eq!(
        text_of(&fresh.doc, "t"),
        "",
        "a new session starts from nothing"
    );
}

const SECRET: &str = "an API test secret that is long enough";
const ADMIN: &str = "an admin key for the API test";

#[tokio::test]
async fn api_calls_need_a_token_that_covers_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &["--auth-secret", SECRET, "--admin-key", ADMIN]);
    let keys = Keys::new(SECRET.as_bytes());
    let token = |doc: &str, access| {
        keys.mint(doc, access, Duration::from_secs(60), None)
            .expect("mint")
    };
    let anon = Api::new(&server);
    let (status, problem) = anon.post("/documents", json!({"name": "p/a"})).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (401, Some("token-required"))
    );
    let admin = Api::new(&server).with_bearer(ADMIN);
    assert_eq!(
        admin.post("/documents", json!({"name": "p/a"})).await.0,
        201
    );
    assert_eq!(
        admin.post("/documents", json!({"name": "q/b"})).await.0,
        201
    );

    let reader = Api::new(&server).with_bearer(&token("p/a", Access::Read));
    assert_eq!(reader.get("/documents/p%2Fa/content").await.0, 200);
    let (status, problem) = reader
        .post_bytes("/documents/p%2Fa/update", text_update("t", "no"))
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (403, Some("read-only-token"))
    );
    assert_eq!(
        reader.get("/documents/q%2Fb").await.0,
        403,
        "another document"
    );
    let forged = Api::new(&server).with_bearer("not.a.token");
    assert_eq!(forged.get("/documents/p%2Fa").await.0, 401);

    let writer = Api::new(&server).with_bearer(&token("p/*", Access::Write));
    let (status, _) = writer
        .post_bytes("/documents/p%2Fa/update", text_update("t", "yes"))
        .await;
    assert_eq!(status, 200);
    let (status, page) = writer.get("/documents?prefix=p/").await;
    assert_eq!(status, 200);
    assert_eq!(page["documents"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        writer.get("/documents").await.0,
        403,
        "listing everything needs more"
    );
    assert_eq!(admin.get("/documents").await.0, 200);
    // A token in the query string works too (what a browser can send).
    let t = token("p/a", Access::Read);
    let (status, _) = anon.get(&format!("/documents/p%2Fa?token={t}")).await;
    assert_eq!(status, 200);
}

/// One request a webhook receiver got.
struct Hook {
    event: String,
    signature: String,
    body: Vec<u8>,
}

/// A real HTTP receiver on a free port: answers 500 to the first request (to exercise the
/// retry), 200 after.
fn receiver() -> (u16, mpsc::Receiver<Hook>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut first = true;
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut headers = Vec::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                headers.push(line.trim_end().to_string());
            }
            let header = |name: &str| {
                headers
                    .iter()
                    .find_map(|h| {
                        let (k, v) = h.split_once(':')?;
                        k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
                    })
                    .unwrap_or_default()
            };
            let len: usize = header("content-length").parse().unwrap_or(0);
            let mut body = vec![0; len];
            let _ = reader.read_exact(&mut body);
            let status = if first {
                "500 Internal Server Error"
            } else {
                "200 OK"
            };
            first = false;
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            );
            let _ = tx.send(Hook {
                event: header("x-weft-event"),
                signature: header("x-weft-signature"),
                body,
            });
        }
    });
    (port, rx)
}

#[tokio::test]
async fn webhooks_are_signed_retried_and_debounced() {
    let (port, hooks) = receiver();
    let dir = tempfile::tempdir().expect("tempdir");
    let hook_url = format!("http://127.0.0.1:{port}/hook");
    let server = Server::start(
        dir.path(),
        &[
            "--webhook-url",
            &hook_url,
            "--webhook-secret",
            "hook secret",
            "--webhook-debounce",
            "300ms",
            "--webhook-content",
        ],
    );
    let api = Api::new(&server);
    assert_eq!(
        api.post("/documents", json!({"name": "hooked"})).await.0,
        201
    );
    let mut c = Client::connect(&server.url("hooked")).await;
    for i in 0..20 {
        c.push_text("body", &format!("{i} ")).await;
    }
    let mut got = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while std::time::Instant::now() < deadline {
        if let Ok(hook) = hooks.recv_timeout(Duration::from_millis(100)) {
            got.push(hook);
        }
        let changed_ok = got.iter().any(|h| {
            h.event == "document.changed"
                && serde_json::from_slice::<Value>(&h.body).is_ok_and(|b| {
                    b["content"]["body"]
                        .as_str()
                        .is_some_and(|s| s.ends_with("19 "))
                })
        });
        let created = got.iter().filter(|h| h.event == "document.created").count();
        if changed_ok && created >= 2 {
            break; // the created event came twice: refused once (500), then accepted
        }
    }
    for h in &got {
        let mut mac = Hmac::<Sha256>::new_from_slice(b"hook secret").expect("hmac");
        mac.update(&h.body);
        let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        assert_eq!(h.signature, expected, "signature of {}", h.event);
    }
    let created: Vec<&Hook> = got
        .iter()
        .filter(|h| h.event == "document.created")
        .collect();
    assert_eq!(created.len(), 2, "retried after a 500");
    assert_eq!(created[0].body, created[1].body, "the same delivery");
    let changed: Vec<Value> = got
        .iter()
        .filter(|h| h.event == "document.changed")
        .map(|h| serde_json::from_slice(&h.body).expect("json"))
        .collect();
    assert!(!changed.is_empty(), "document.changed arrived");
    assert!(
        changed.len() < 10,
        "20 edits are debounced into a few events: {}",
        changed.len()
    );
    assert_eq!(changed[0]["document"], "hooked");
    assert_eq!(changed[0]["changed"], json!(["body"]));
}
