//! Weft embedded in an application, in-process: an actix-web app with its own route serves
//! Weft under `/collab` with its own users (an `Authorize` hook: `alice` writes, `bob` reads,
//! anyone else is refused) and records document events (`DocumentHooks`). Clients are the
//! same y-websocket client as the black-box tests, plain HTTP and a raw Hocuspocus socket.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpRequest, HttpServer};
use common::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};
use weft::config::SyncMode;
use weft::hocuspocus::codec;
use weft::store::EmbeddedStore;
use weft::{async_trait, Authorize, Decision, DocName, DocumentHooks, ServeArgs, Weft};
use yrs::encoding::write::Write;

/// The application's users: named by the token, an `X-User` header or `?user=`.
struct ByUser;

fn user_of(req: &HttpRequest, token: Option<&str>) -> Option<String> {
    if let Some(token) = token.filter(|t| !t.is_empty()) {
        return Some(token.to_owned());
    }
    if let Some(user) = req.headers().get("x-user") {
        return user.to_str().ok().map(str::to_owned);
    }
    req.query_string()
        .split('&')
        .find_map(|pair| pair.strip_prefix("user="))
        .map(str::to_owned)
}

#[async_trait(?Send)]
impl Authorize for ByUser {
    async fn authorize(&self, req: &HttpRequest, doc: &DocName, token: Option<&str>) -> Decision {
        match user_of(req, token).as_deref() {
            Some("alice") => Decision::write("alice"),
            Some("bob") => Decision::read("bob"),
            Some(other) => Decision::forbidden(format!("{other} may not open {doc}")),
            None => Decision::unauthorized("who are you?"),
        }
    }

    async fn authorize_list(&self, req: &HttpRequest, _prefix: &str) -> Decision {
        match user_of(req, None).as_deref() {
            Some("alice") => Decision::read("alice"),
            _ => Decision::forbidden("only alice lists"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Event {
    Loaded(String),
    Changed(String, Value),
    Unloaded(String),
}

/// Records every document event, in order.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Event>>>);

impl Recorder {
    fn push(&self, event: Event) {
        self.0.lock().expect("events lock").push(event);
    }

    fn of(&self, doc: &str) -> Vec<Event> {
        let events = self.0.lock().expect("events lock");
        events
            .iter()
            .filter(|e| match e {
                Event::Loaded(d) | Event::Changed(d, _) | Event::Unloaded(d) => d == doc,
            })
            .cloned()
            .collect()
    }

    /// Waits until `doc`'s events satisfy `cond`.
    async fn until(&self, doc: &str, cond: impl Fn(&[Event]) -> bool) -> Vec<Event> {
        let deadline = Instant::now() + SECS5;
        loop {
            let events = self.of(doc);
            if cond(&events) || Instant::now() > deadline {
                return events;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[async_trait]
impl DocumentHooks for Recorder {
    async fn loaded(&self, doc: &DocName) {
        self.push(Event::Loaded(doc.to_string()));
    }

    async fn changed(&self, doc: &DocName, content: &Value) {
        self.push(Event::Changed(doc.to_string(), content.clone()));
    }

    async fn unloaded(&self, doc: &DocName) {
        self.push(Event::Unloaded(doc.to_string()));
    }
}

/// The application, on its own actix system and thread, on a free port.
struct Embedded {
    port: u16,
    http: ServerHandle,
    weft: Weft,
    events: Recorder,
    dir: tempfile::TempDir,
}

/// Debounce of `changed` in most tests: short, so they wait little.
const SHORT_DEBOUNCE: Duration = Duration::from_millis(100);

impl Embedded {
    fn start(debounce: Duration) -> Embedded {
        let dir = tempfile::tempdir().expect("tempdir");
        let events = Recorder::default();
        let (tx, rx) = std::sync::mpsc::channel();
        let (data, hooks) = (dir.path().to_path_buf(), events.clone());
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                // The settings name one folder, the store given to the builder another: the
                // builder's store wins (the settings' folder is never created).
                let mut settings = ServeArgs::for_data_dir(data.join("from-settings"));
                settings.doc_idle = Duration::from_millis(300);
                settings.webhooks.webhook_debounce = debounce;
                let store = EmbeddedStore::open(&data.join("store"), SyncMode::Normal)
                    .expect("open the store");
                let weft = Weft::builder()
                    .settings(settings)
                    .store(Arc::new(store))
                    .authorize(ByUser)
                    .hooks(hooks)
                    .build()
                    .await
                    .expect("build weft");
                let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
                let port = listener.local_addr().expect("addr").port();
                let mounted = weft.clone();
                let server = HttpServer::new(move || {
                    App::new()
                        .route("/hello", web::get().to(|| async { "hello from the app" }))
                        .service(web::scope("/collab").configure(|cfg| mounted.configure(cfg)))
                })
                .workers(2)
                .on_connect(weft::ws::on_connect)
                .disable_signals()
                .listen(listener)
                .expect("listen")
                .run();
                tx.send((port, server.handle(), weft)).expect("report");
                let _ = server.await;
            })
        });
        let (port, http, weft) = rx.recv().expect("the app started");
        Embedded {
            port,
            http,
            weft,
            events,
            dir,
        }
    }

    fn ws(&self, doc: &str, user: &str) -> String {
        format!("ws://127.0.0.1:{}/collab/ws/{doc}?user={user}", self.port)
    }

    fn api(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/collab/api/v1{path}", self.port)
    }
}

impl Drop for Embedded {
    fn drop(&mut self) {
        // Sent at once; the thread ends with its server.
        drop(self.http.stop(false));
    }
}

/// The HTTP status of a refused WebSocket upgrade, and its problem `code`.
async fn refused(url: &str) -> (u16, Value) {
    match tokio_tungstenite::connect_async(url).await {
        Err(tungstenite::Error::Http(response)) => {
            let body = response.body().clone().unwrap_or_default();
            (
                response.status().as_u16(),
                serde_json::from_slice(&body).unwrap_or(Value::Null),
            )
        }
        Err(e) => panic!("{url}: unexpected error {e}"),
        Ok(_) => panic!("{url}: upgraded, expected a refusal"),
    }
}

#[tokio::test]
async fn the_app_route_and_weft_share_one_server_and_the_hook_decides() {
    let app = Embedded::start(SHORT_DEBOUNCE);
    assert_eq!(
        http_get(app.port, "/hello"),
        Some((200, "hello from the app".to_string()))
    );

    // Refused before the upgrade, with the hook's status and reason.
    let (status, problem) = refused(&app.ws("notes", "mallory")).await;
    assert_eq!(status, 403);
    assert_eq!(problem["code"], "access-denied");
    assert_eq!(problem["detail"], "mallory may not open notes");
    let (status, problem) = refused(&format!("ws://127.0.0.1:{}/collab/ws/notes", app.port)).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (401, Some("unauthenticated"))
    );

    let mut alice = Client::connect(&app.ws("notes", "alice")).await;
    let mut bob = Client::connect(&app.ws("notes", "bob")).await;
    alice.push_text("t", "hello").await;
    assert!(bob.until(SECS5, |d| text_of(d, "t") == "hello").await);

    // Bob reads only: his edit never reaches the document.
    bob.push_text("t", " from bob").await;
    bob.drain().await;
    alice.push_text("t", "!").await;
    assert!(bob.until(SECS5, |d| text_of(d, "t").contains('!')).await);
    assert!(
        bob.closed.is_none(),
        "a read-only edit is refused, not fatal"
    );
    assert!(alice.until(SECS5, |d| text_of(d, "t") == "hello!").await);
    let mut fresh = Client::connect(&app.ws("notes", "alice")).await;
    assert!(fresh.until(SECS5, |d| text_of(d, "t") == "hello!").await);
    assert_eq!(text_of(&alice.doc, "t"), "hello!");
    assert!(app.dir.path().join("store").is_dir());
    assert!(!app.dir.path().join("from-settings").exists());
}

#[tokio::test]
async fn lifecycle_hooks_fire_loaded_changed_and_unloaded_after_the_idle_delay() {
    let app = Embedded::start(SHORT_DEBOUNCE);
    let changes = |n: usize| {
        move |e: &[Event]| e.iter().filter(|e| matches!(e, Event::Changed(..))).count() >= n
    };
    let mut alice = Client::connect(&app.ws("hooked", "alice")).await;
    alice.push_text("t", "hi").await;
    let events = app.events.until("hooked", changes(1)).await;
    assert_eq!(
        events,
        vec![
            Event::Loaded("hooked".into()),
            Event::Changed("hooked".into(), json!({"t": "hi"})),
        ]
    );
    alice.push_item("items", "one").await;
    let events = app.events.until("hooked", changes(2)).await;
    assert_eq!(
        events.get(2),
        Some(&Event::Changed(
            "hooked".into(),
            json!({"t": "hi", "items": ["one"]})
        ))
    );

    // The last client leaves; after --doc-idle (300 ms) the document unloads.
    let _ = alice.ws.close(None).await;
    drop(alice);
    let events = app
        .events
        .until("hooked", |e| e.contains(&Event::Unloaded("hooked".into())))
        .await;
    assert_eq!(events.len(), 4, "{events:?}");
    assert_eq!(events[3], Event::Unloaded("hooked".into()));

    // Opened again: loaded again.
    let _again = Client::connect(&app.ws("hooked", "bob")).await;
    let events = app.events.until("hooked", |e| e.len() >= 5).await;
    assert_eq!(events.get(4), Some(&Event::Loaded("hooked".into())));
}

/// Sends `req` as `user` (with a JSON body when given): status, JSON body, headers.
async fn call(
    req: reqwest::RequestBuilder,
    user: Option<&str>,
    body: Option<Value>,
) -> (u16, Value, reqwest::header::HeaderMap) {
    let req = match user {
        Some(user) => req.header("x-user", user),
        None => req,
    };
    let req = match body {
        Some(body) => req
            .header("content-type", "application/json")
            .body(body.to_string()),
        None => req,
    };
    let resp = req.send().await.expect("request");
    let (status, headers) = (resp.status().as_u16(), resp.headers().clone());
    let text = resp.text().await.expect("body");
    let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, json, headers)
}

#[tokio::test]
async fn the_document_api_under_the_mount_follows_the_hook() {
    let app = Embedded::start(SHORT_DEBOUNCE);
    let http = reqwest::Client::new();
    let create = json!({"name": "api/doc", "text": {"key": "body", "value": "Ship it"}});
    let (status, _, headers) = call(
        http.post(app.api("/documents")),
        Some("alice"),
        Some(create),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(
        headers["location"], "/collab/api/v1/documents/api%2Fdoc",
        "Location is relative to where the API is mounted"
    );

    let content = app.api("/documents/api%2Fdoc/content");
    let (status, body, _) = call(http.get(&content), Some("bob"), None).await;
    assert_eq!((status, body), (200, json!({"body": "Ship it"})));
    let (status, body, _) = call(http.get(&content), Some("mallory"), None).await;
    assert_eq!((status, &body["code"]), (403, &json!("access-denied")));
    let (status, body, _) = call(http.get(&content), None, None).await;
    assert_eq!((status, &body["code"]), (401, &json!("unauthenticated")));

    // Read access cannot write.
    let versions = app.api("/documents/api%2Fdoc/versions");
    let (status, body, _) = call(http.post(&versions), Some("bob"), Some(json!({}))).await;
    assert_eq!((status, &body["code"]), (403, &json!("read-only-token")));
    let (status, _, _) = call(http.post(&versions), Some("alice"), Some(json!({}))).await;
    assert_eq!(status, 201);

    // Listing has its own decision.
    let list = app.api("/documents?prefix=api/");
    let (status, body, _) = call(http.get(&list), Some("alice"), None).await;
    assert_eq!(
        (status, &body["documents"][0]["name"]),
        (200, &json!("api/doc"))
    );
    let (status, _, _) = call(http.get(&list), Some("bob"), None).await;
    assert_eq!(status, 403);

    // The same document over the WebSocket.
    let mut reader = Client::connect(&app.ws("api/doc", "bob")).await;
    assert!(
        reader
            .until(SECS5, |d| text_of(d, "body") == "Ship it")
            .await
    );
}

/// Sends a Hocuspocus Auth message for `key` with `token`.
async fn hp_auth(ws: &mut Ws, key: &str, token: &str) {
    let mut frame = codec::key_prefix(key);
    frame.write_var(codec::MSG_AUTH);
    frame.write_var(codec::AUTH_TOKEN);
    frame.write_string(token);
    ws.send(Message::Binary(frame.into()))
        .await
        .expect("send auth");
}

/// Reads frames until `expected` arrives (true) or 5 s pass (false).
async fn hp_expect(ws: &mut Ws, expected: &[u8]) -> bool {
    let deadline = Instant::now() + SECS5;
    while Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_millis(100), ws.next()).await {
            Ok(Some(Ok(Message::Binary(frame)))) if frame[..] == expected[..] => return true,
            Ok(Some(Ok(_))) | Err(_) => {}
            Ok(None) | Ok(Some(Err(_))) => return false,
        }
    }
    false
}

#[tokio::test]
async fn hocuspocus_hands_each_documents_token_to_the_hook() {
    let app = Embedded::start(SHORT_DEBOUNCE);
    let url = format!("ws://127.0.0.1:{}/collab/hocuspocus", app.port);
    let (mut ws, _) = tokio_tungstenite::connect_async(&url)
        .await
        .expect("connect");
    hp_auth(&mut ws, "hp/write", "alice").await;
    assert!(hp_expect(&mut ws, &codec::authenticated("hp/write", false)).await);
    hp_auth(&mut ws, "hp/read", "bob").await;
    assert!(hp_expect(&mut ws, &codec::authenticated("hp/read", true)).await);
    hp_auth(&mut ws, "hp/no", "mallory").await;
    let denied = codec::permission_denied("hp/no", "mallory may not open hp/no");
    assert!(hp_expect(&mut ws, &denied).await);
}

#[tokio::test]
async fn shutdown_closes_sessions_with_1001_and_reports_the_last_events() {
    // A debounce far longer than the test: the change is still waiting when shutdown starts.
    let app = Embedded::start(Duration::from_secs(60));
    let mut alice = Client::connect(&app.ws("closing", "alice")).await;
    let mut bob = Client::connect(&app.ws("closing", "bob")).await;
    alice.push_text("t", "last words").await;
    // Bob sees it only once it is committed.
    assert!(bob.until(SECS5, |d| text_of(d, "t") == "last words").await);
    assert_eq!(
        app.events.of("closing"),
        vec![Event::Loaded("closing".into())]
    );

    assert!(app.weft.shutdown(SECS5).await, "flushed in time");
    assert_eq!(alice.until_closed(SECS5).await, Some(CloseCode::Away));
    assert_eq!(bob.until_closed(SECS5).await, Some(CloseCode::Away));
    // Everything was reported before shutdown returned, the pending change included.
    assert_eq!(
        app.events.of("closing"),
        vec![
            Event::Loaded("closing".into()),
            Event::Changed("closing".into(), json!({"t": "last words"})),
            Event::Unloaded("closing".into()),
        ]
    );
    let (status, _) = refused(&app.ws("closing", "alice")).await;
    assert_eq!(status, 503, "no new sessions after shutdown");
    app.http.stop(true).await;
}
