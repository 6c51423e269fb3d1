//! Shared pieces of the black-box tests: the real `weft` binary on a free port, and a Yjs
//! client built on yrs that speaks the y-websocket protocol over a real WebSocket, and
//! PostgreSQL helpers ([`pg`]).

#![allow(dead_code)]

pub mod pg;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use weft_crdt::codec::{decode_frame, encode_sync_step1, encode_sync_step2, encode_update};
use weft_crdt::Inbound;
use yrs::{Doc, ReadTxn, Transact};

/// The `weft` binary built beside this test (target/<profile>/weft).
pub fn weft_bin() -> PathBuf {
    if let Ok(bin) = std::env::var("WEFT_BIN") {
        return PathBuf::from(bin);
    }
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps/<test>");
    let bin = profile_dir.join("weft");
    assert!(
        bin.is_file(),
        "{} is missing: build it first with `cargo build -p weft-server` (the test script does)",
        bin.display()
    );
    bin
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A running `weft serve`; killed on drop.
pub struct Server {
    pub port: u16,
    pub data_dir: PathBuf,
    pub child: Child,
    args: Vec<String>,
}

impl Server {
    pub fn start(data_dir: &Path, extra: &[&str]) -> Server {
        let port = free_port();
        let args: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        let child = spawn(port, data_dir, &args);
        let server = Server {
            port,
            data_dir: data_dir.to_path_buf(),
            child,
            args,
        };
        server.wait_healthy();
        server
    }

    /// Starts without waiting for `/healthz` over plain HTTP (for TLS: the caller waits).
    pub fn start_unchecked(data_dir: &Path, extra: &[&str]) -> Server {
        let port = free_port();
        let args: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        let child = spawn(port, data_dir, &args);
        Server {
            port,
            data_dir: data_dir.to_path_buf(),
            child,
            args,
        }
    }

    fn wait_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if http_get(self.port, "/healthz").is_some_and(|(status, _)| status == 200) {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("weft did not become healthy on port {}", self.port);
    }

    pub fn url(&self, doc: &str) -> String {
        format!("ws://127.0.0.1:{}/ws/{doc}", self.port)
    }

    /// SIGKILL: a crash, nothing flushed on purpose.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait for a clean exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.child.wait().expect("wait for weft")
    }

    /// Starts again on the same port and data folder.
    pub fn restart(&mut self) {
        self.child = spawn(self.port, &self.data_dir, &self.args);
        self.wait_healthy();
    }

    /// `documents_loaded` from /readyz.
    pub fn documents_loaded(&self) -> u64 {
        let (_, body) = http_get(self.port, "/readyz").expect("readyz answers");
        let key = "\"documents_loaded\":";
        let at = body.find(key).expect("documents_loaded in readyz") + key.len();
        body[at..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse()
            .expect("number")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `weft` binary, with the caller's Weft settings (`WEFT_*`, `DATABASE_URL`) removed from
/// its environment: only the flags the test gives configure it.
pub fn weft_command() -> Command {
    let mut cmd = Command::new(weft_bin());
    for (key, _) in std::env::vars() {
        if key.starts_with("WEFT_") || key == "DATABASE_URL" {
            cmd.env_remove(key);
        }
    }
    cmd
}

fn spawn(port: u16, data_dir: &Path, extra: &[String]) -> Child {
    let mut cmd = weft_command();
    cmd.arg("serve")
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--web-dir")
        .arg(data_dir.join("no-web"))
        .args(extra)
        .env(
            "WEFT_LOG",
            std::env::var("WEFT_TEST_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start weft")
}

/// A minimal blocking HTTP/1.0 GET, enough for health checks.
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let status = out.split_whitespace().nth(1)?.parse().ok()?;
    let body = out.split("\r\n\r\n").nth(1).unwrap_or_default().to_string();
    Some((status, body))
}

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

#[derive(Debug, PartialEq, Eq)]
enum Pumped {
    Message,
    Idle,
    Closed,
}

/// A y-websocket client on a yrs document.
pub struct Client {
    pub doc: Doc,
    pub ws: Ws,
    pub closed: Option<(CloseCode, String)>,
    /// Awareness states received, by client id (removed ones are dropped).
    pub awareness: std::collections::HashMap<u64, String>,
}

impl Client {
    /// Connects and sends sync step 1 (like the stock provider).
    pub async fn connect(url: &str) -> Client {
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .unwrap_or_else(|e| panic!("connect {url}: {e}"));
        Client::from_ws(ws).await
    }

    /// A client that already holds `state` (a Yjs v1 update) and connects again, like a
    /// provider reconnecting: its sync step 1 carries its state vector.
    pub async fn reconnect_with(url: &str, state: &[u8]) -> Client {
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .unwrap_or_else(|e| panic!("connect {url}: {e}"));
        let doc = Doc::new();
        {
            use yrs::updates::decoder::Decode;
            let update = yrs::Update::decode_v1(state).expect("a valid state");
            doc.transact_mut()
                .apply_update(update)
                .expect("apply state");
        }
        let mut client = Client {
            doc,
            ws,
            closed: None,
            awareness: Default::default(),
        };
        let step1 = encode_sync_step1(&client.doc.transact().state_vector());
        client.send(step1).await;
        client
    }

    /// This client's whole state as one update.
    pub fn state(&self) -> Vec<u8> {
        self.doc
            .transact()
            .encode_state_as_update_v1(&yrs::StateVector::default())
    }

    /// A client on a socket opened some other way (headers, TLS); sends sync step 1.
    pub async fn from_ws(ws: Ws) -> Client {
        let mut client = Client {
            doc: Doc::new(),
            ws,
            closed: None,
            awareness: Default::default(),
        };
        let step1 = encode_sync_step1(&client.doc.transact().state_vector());
        client.send(step1).await;
        client
    }

    pub async fn send(&mut self, frame: Vec<u8>) {
        self.ws
            .send(Message::Binary(frame.into()))
            .await
            .expect("send frame");
    }

    /// Makes a local change and sends it as an update. (Root types must be obtained before
    /// the transaction: yrs would deadlock taking a second one.)
    pub async fn edit(&mut self, f: impl FnOnce(&mut yrs::TransactionMut)) {
        let update = {
            let mut txn = self.doc.transact_mut();
            f(&mut txn);
            txn.encode_update_v1()
        };
        self.send(encode_update(&update)).await;
    }

    /// Appends to the Y.Text `name`.
    pub async fn push_text(&mut self, name: &str, s: &str) {
        use yrs::Text;
        let text = self.doc.get_or_insert_text(name);
        self.edit(|txn| text.push(txn, s)).await;
    }

    /// Appends a string to the Y.Array `name`.
    pub async fn push_item(&mut self, name: &str, s: &str) {
        use yrs::Array;
        let array = self.doc.get_or_insert_array(name);
        self.edit(|txn| {
            array.push_back(txn, s);
        })
        .await;
    }

    /// Closes like a well-behaved client: a close frame, then reading until the server's
    /// answer (so nothing is left unread: closing with unread data makes the kernel reset the
    /// connection, which can discard frames the server has not read yet).
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            match tokio::time::timeout(Duration::from_millis(200), self.ws.next()).await {
                Ok(Some(Ok(_))) => continue,
                Ok(_) => return,
                Err(_) => continue,
            }
        }
    }

    /// Handles one incoming message (waiting up to `timeout`); false when the socket is closed.
    pub async fn pump_once(&mut self, timeout: Duration) -> bool {
        self.pump(timeout).await != Pumped::Closed
    }

    /// Handles every message that has already arrived; false when the socket is closed.
    pub async fn drain(&mut self) -> bool {
        loop {
            match self.pump(Duration::from_millis(1)).await {
                Pumped::Message => continue,
                Pumped::Idle => return true,
                Pumped::Closed => return false,
            }
        }
    }

    async fn pump(&mut self, timeout: Duration) -> Pumped {
        let msg = match tokio::time::timeout(timeout, self.ws.next()).await {
            Err(_) => return Pumped::Idle,
            Ok(None) | Ok(Some(Err(_))) => {
                self.closed
                    .get_or_insert((CloseCode::Abnormal, String::new()));
                return Pumped::Closed;
            }
            Ok(Some(Ok(msg))) => msg,
        };
        match msg {
            Message::Binary(bytes) => {
                for m in decode_frame(&bytes).expect("server frames decode") {
                    match m {
                        Inbound::SyncStep1(sv) => {
                            let diff = self.doc.transact().encode_diff_v1(&sv);
                            self.send(encode_sync_step2(&diff)).await;
                        }
                        Inbound::SyncStep2 { update, .. } | Inbound::Update { update, .. } => {
                            self.doc.transact_mut().apply_update(update).expect("apply");
                        }
                        Inbound::Awareness(update) => {
                            for (id, entry) in update.clients {
                                if &*entry.json == "null" {
                                    self.awareness.remove(&id.get());
                                } else {
                                    self.awareness.insert(id.get(), entry.json.to_string());
                                }
                            }
                        }
                        _ => {}
                    }
                }
                Pumped::Message
            }
            Message::Close(frame) => {
                let (code, reason) = frame
                    .map(|f| (f.code, f.reason.to_string()))
                    .unwrap_or((CloseCode::Status, String::new()));
                self.closed = Some((code, reason));
                Pumped::Closed
            }
            _ => Pumped::Message,
        }
    }

    /// Processes messages until `cond` holds (true) or the timeout passes (false).
    pub async fn until(&mut self, timeout: Duration, mut cond: impl FnMut(&Doc) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if cond(&self.doc) {
                return true;
            }
            if !self.pump_once(Duration::from_millis(50)).await {
                return cond(&self.doc);
            }
        }
        cond(&self.doc)
    }

    /// Reads until the server closes the socket; returns the close code.
    pub async fn until_closed(&mut self, timeout: Duration) -> Option<CloseCode> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline && self.closed.is_none() {
            self.pump_once(Duration::from_millis(50)).await;
        }
        self.closed.as_ref().map(|(c, _)| *c)
    }
}

pub fn text_of(doc: &Doc, name: &str) -> String {
    use yrs::GetString;
    let text = doc.get_or_insert_text(name);
    text.get_string(&doc.transact())
}

pub fn array_strings(doc: &Doc, name: &str) -> Vec<String> {
    use yrs::Array;
    let array = doc.get_or_insert_array(name);
    let txn = doc.transact();
    array.iter(&txn).map(|v| v.to_string(&txn)).collect()
}

pub const SECS5: Duration = Duration::from_secs(5);
pub const SECS15: Duration = Duration::from_secs(15);

/// Writers push unique items to the Y.Array "items" until `stop` (about 300/s each, reading
/// everything they receive in between); returns each writer's items. A writer the server
/// closes fails the test: it was not expected to be.
pub fn spawn_writers(
    url: &str,
    count: usize,
    stop: tokio_util::sync::CancellationToken,
) -> Vec<tokio::task::JoinHandle<Vec<String>>> {
    (0..count)
        .map(|w| {
            let url = url.to_string();
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut writer = Client::connect(&url).await;
                let mut mine = Vec::new();
                while !stop.is_cancelled() && writer.closed.is_none() {
                    let item = format!("w{w}-{}", mine.len());
                    writer.push_item("items", &item).await;
                    mine.push(item);
                    writer.drain().await;
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                if writer.closed.is_none() {
                    writer.close().await;
                }
                mine
            })
        })
        .collect()
}

/// kill -9 while writers write; after a restart, everything an observer had received is there.
pub async fn kill9_loses_nothing(server: &mut Server, doc: &str) {
    let url = server.url(doc);
    let mut observer = Client::connect(&url).await;
    let stop = tokio_util::sync::CancellationToken::new();
    let writers = spawn_writers(&url, 3, stop.clone());
    let observe_until = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < observe_until {
        observer.pump_once(Duration::from_millis(10)).await;
    }
    server.kill9();
    stop.cancel();
    for w in writers {
        let _ = w.await;
    }
    let seen = array_strings(&observer.doc, "items");
    assert!(
        seen.len() > 10,
        "observer received only {} items before the crash",
        seen.len()
    );
    server.restart();
    fresh_client_has_items(&url, &seen).await;
}

/// A brand-new client of `url` must receive every one of `items` in the Y.Array "items".
pub async fn fresh_client_has_items(url: &str, items: &[String]) {
    let mut fresh = Client::connect(url).await;
    let ok = fresh
        .until(Duration::from_secs(30), |d| {
            let have = array_strings(d, "items");
            items.iter().all(|s| have.contains(s))
        })
        .await;
    assert!(
        ok,
        "{} items expected, {} in the document",
        items.len(),
        array_strings(&fresh.doc, "items").len()
    );
}

/// Polls `path` until it answers `status`; false after `timeout`.
pub async fn wait_for_status(port: u16, path: &str, status: u16, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if http_get(port, path).is_some_and(|(s, _)| s == status) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}
