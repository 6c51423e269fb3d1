//! Document events, from one dispatcher to two kinds of receiver: the HTTP webhook (POSTed to
//! `WEFT_WEBHOOK_URL`, signed, retried) and an embedder's in-process [`DocumentHooks`]
//! (`loaded`, `changed`, `unloaded`). Either, both or neither may be set; the debounce and the
//! diff of `document.changed` are computed once and feed both.
//!
//! ```text
//!  doc actor ─┬─ loaded / changed / unloaded ─► bounded queue ─► dispatcher ─┬─► HTTP webhook
//!  API ───────┴─ created / deleted / restored ─┘  (debounce, diff)           └─► DocumentHooks
//! ```
//!
//! Events: `document.created`, `document.changed` (debounced: at most one per document per
//! `--webhook-debounce`, counted from its first change), `document.deleted`,
//! `document.restored`, and, opted into with `--webhook-events`, `document.loaded`,
//! `document.unloaded`, `session.connected` and `session.disconnected` (these carry
//! `session`, `user` (from the token, or null), `access`, `protocol` and `connected_at`).
//! `--webhook-events` lists which of `document.changed` and those four are POSTed (default:
//! `document.changed` alone); the API events are always sent. Every body carries `node`, the
//! node the event happened on. The body is JSON:
//!
//! ```json
//! {"event": "document.changed", "document": "notes/a", "at": "2026-11-27T05:00:00.000Z",
//!  "node": "3f2c…", "changed": ["default"], "version": 12, "content": {"default": [...]}}
//! ```
//!
//! `changed` lists the root types whose content differs from the previous `document.changed`
//! this process sent for the document (all of them the first time); `version` is the newest
//! stored version id (or null); `content` is present with `--webhook-content`.
//!
//! Each request carries `X-Weft-Event`, `X-Weft-Delivery` (an id, the same across retries) and,
//! when `WEFT_WEBHOOK_SECRET` is set, `X-Weft-Signature: sha256=HEX`, the HMAC-SHA256 of the
//! exact body under that secret. A delivery is retried with exponential backoff on a network
//! error or a non-2xx answer. Document actors only drop a note in a bounded queue: a slow or
//! dead receiver costs them nothing (when the queue is full, notes are dropped and counted).
//! Deliveries wait in one bounded queue of their own, served by a fixed set of workers, each
//! document's in order; when it is full the oldest waiting delivery is dropped (see `http`).
//!
//! Hooks get `changed` with the whole content (whatever `--webhook-content` says) and none of
//! the API events; they are awaited one at a time, in order, by the dispatcher itself.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures_util::FutureExt;
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};
use tokio::time::{sleep_until, Instant};
use tracing::{error, warn};
use weft_crdt::DocName;

use crate::access::Secret;
use crate::hooks::DocumentHooks;
use crate::store::Store;

mod http;

pub use http::sign;
use http::HttpSink;

/// Notes waiting for the dispatcher.
const QUEUE: usize = 4096;

/// The events `--webhook-events` may select.
pub const SELECTABLE_EVENTS: [&str; 5] = [
    "document.changed",
    "document.loaded",
    "document.unloaded",
    "session.connected",
    "session.disconnected",
];

#[derive(Debug, Clone, clap::Args)]
pub struct WebhookArgs {
    /// URL that receives document events (POST, JSON). Unset: no webhooks.
    #[arg(long, env = "WEFT_WEBHOOK_URL")]
    pub webhook_url: Option<String>,

    /// Key for the X-Weft-Signature header (HMAC-SHA256 of the body). Strongly recommended.
    #[arg(long, env = "WEFT_WEBHOOK_SECRET", value_parser = crate::access::parse_secret, hide_env_values = true)]
    pub webhook_secret: Option<Secret>,

    /// At most one document.changed per document per this interval (also for in-process hooks).
    #[arg(long, env = "WEFT_WEBHOOK_DEBOUNCE", default_value = "2s", value_parser = humantime::parse_duration)]
    pub webhook_debounce: Duration,

    /// Include the document's content (as in GET /api/v1/documents/{name}/content) in document.changed.
    #[arg(long, env = "WEFT_WEBHOOK_CONTENT", default_value_t = false)]
    pub webhook_content: bool,

    /// Attempts per delivery (with exponential backoff from 1 s) before it is dropped.
    #[arg(long, env = "WEFT_WEBHOOK_ATTEMPTS", default_value_t = 6)]
    pub webhook_attempts: u32,

    /// Timeout of one delivery attempt.
    #[arg(long, env = "WEFT_WEBHOOK_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub webhook_timeout: Duration,

    /// Events POSTed to the webhook URL, comma-separated: document.changed, document.loaded, document.unloaded, session.connected, session.disconnected. document.created, .deleted and .restored are always sent.
    #[arg(long, env = "WEFT_WEBHOOK_EVENTS", value_delimiter = ',', default_value = "document.changed", value_parser = clap::builder::PossibleValuesParser::new(SELECTABLE_EVENTS))]
    pub webhook_events: Vec<String>,
}

enum Note {
    Loaded(DocName),
    Changed(DocName),
    Unloaded(DocName),
    Event {
        event: &'static str,
        doc: DocName,
        extra: Value,
    },
    /// A Hocuspocus stateless message, for the hooks.
    Stateless {
        doc: DocName,
        payload: Arc<str>,
        user: Option<String>,
    },
    /// Report every change still waiting for its debounce now, then answer (shutdown).
    Flush(oneshot::Sender<()>),
}

/// The sending side of document events, held by the registry and the API (cheap to clone).
/// Named after its first receiver, the HTTP webhook; it feeds [`DocumentHooks`] too.
#[derive(Clone, Debug)]
pub struct Webhooks {
    tx: mpsc::Sender<Note>,
    /// The HTTP deliveries' queue, when a URL is set (`flush` waits for it to drain).
    deliveries: Option<Arc<http::Deliveries>>,
    /// A webhook URL is set: the API's events have a receiver.
    http: bool,
    /// Hooks are set: `loaded` and `unloaded` have a receiver.
    hooks: bool,
    /// The `--webhook-events` the HTTP webhook receives (empty without a URL).
    wanted: Arc<HashSet<&'static str>>,
}

impl Webhooks {
    /// Starts the dispatcher when a URL or hooks are configured (`None`: nobody listens).
    pub fn start(
        args: &WebhookArgs,
        node: &str,
        store: Arc<dyn Store>,
        hooks: Option<Arc<dyn DocumentHooks>>,
    ) -> Result<Option<Webhooks>, String> {
        let http = match args.webhook_url.clone() {
            Some(url) => Some(HttpSink::new(args, url)?),
            None => None,
        };
        if http.is_none() && hooks.is_none() {
            return Ok(None);
        }
        let (tx, rx) = mpsc::channel(QUEUE);
        let wanted: HashSet<&'static str> = if http.is_some() {
            SELECTABLE_EVENTS
                .into_iter()
                .filter(|e| args.webhook_events.iter().any(|w| w == e))
                .collect()
        } else {
            HashSet::new()
        };
        let wanted = Arc::new(wanted);
        let webhooks = Webhooks {
            tx,
            deliveries: http.as_ref().map(HttpSink::queue),
            http: http.is_some(),
            hooks: hooks.is_some(),
            wanted: wanted.clone(),
        };
        let dispatcher = Dispatcher {
            http,
            hooks,
            wanted,
            node: node.to_string(),
            debounce: args.webhook_debounce,
            store,
            sent: HashMap::new(),
        };
        tokio::spawn(dispatcher.run(rx));
        Ok(Some(webhooks))
    }

    /// A document was loaded (called by its actor; never waits).
    pub fn loaded(&self, doc: &DocName) {
        if self.hooks || self.wanted.contains("document.loaded") {
            self.send("document.loaded", Note::Loaded(doc.clone()));
        }
    }

    /// A document committed changes (called by its actor; never waits).
    pub fn changed(&self, doc: &DocName) {
        self.send("document.changed", Note::Changed(doc.clone()));
    }

    /// A document left memory (called when its actor ends; never waits).
    pub fn unloaded(&self, doc: &DocName) {
        if self.hooks || self.wanted.contains("document.unloaded") {
            self.send("document.unloaded", Note::Unloaded(doc.clone()));
        }
    }

    /// A one-off event (`document.created`, `.deleted`, `.restored`) with extra fields.
    pub fn event(&self, event: &'static str, doc: &DocName, extra: Value) {
        if self.http {
            let doc = doc.clone();
            self.send(event, Note::Event { event, doc, extra });
        }
    }

    /// A `session.*` event, POSTed when `--webhook-events` lists it (never waits).
    pub fn live_event(&self, event: &'static str, doc: &DocName, extra: Value) {
        if self.wanted.contains(event) {
            let doc = doc.clone();
            self.send(event, Note::Event { event, doc, extra });
        }
    }

    /// A stateless message for the hooks (never waits; dropped without hooks).
    pub fn stateless(&self, doc: &DocName, payload: &Arc<str>, user: Option<&str>) {
        if self.hooks {
            let note = Note::Stateless {
                doc: doc.clone(),
                payload: payload.clone(),
                user: user.map(str::to_string),
            };
            self.send("stateless", note);
        }
    }

    /// Reports every change still waiting for its debounce, and returns once the dispatcher
    /// has handled everything sent before (hooks called) and every HTTP delivery is made or
    /// given up (the shutdown bounds this wait by its deadline).
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Note::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
        if let Some(deliveries) = &self.deliveries {
            deliveries.drained().await;
        }
    }

    fn send(&self, event: &'static str, note: Note) {
        if self.tx.try_send(note).is_err() {
            crate::metrics::webhook(event, "dropped");
        }
    }
}

struct Dispatcher {
    http: Option<HttpSink>,
    hooks: Option<Arc<dyn DocumentHooks>>,
    /// The `--webhook-events` the HTTP webhook receives.
    wanted: Arc<HashSet<&'static str>>,
    /// This node's id, in every body.
    node: String,
    debounce: Duration,
    store: Arc<dyn Store>,
    /// Per document, a hash of each root's content as last reported.
    sent: HashMap<DocName, BTreeMap<String, u64>>,
}

impl Dispatcher {
    async fn run(mut self, mut rx: mpsc::Receiver<Note>) {
        let mut due: HashMap<DocName, Instant> = HashMap::new();
        loop {
            let next = due.values().min().copied();
            tokio::select! {
                note = rx.recv() => match note {
                    None => return,
                    Some(Note::Loaded(doc)) => {
                        self.post("document.loaded", &doc);
                        self.hook("loaded", &doc, |h, doc| h.loaded(doc).boxed()).await;
                    }
                    Some(Note::Stateless { doc, payload, user }) => {
                        self.hook("stateless", &doc, |h, doc| {
                            h.stateless(doc, &payload, user.as_deref()).boxed()
                        })
                        .await;
                    }
                    Some(Note::Changed(doc)) => {
                        due.entry(doc).or_insert_with(|| Instant::now() + self.debounce);
                    }
                    Some(Note::Unloaded(doc)) => {
                        if due.remove(&doc).is_some() {
                            self.report_change(&doc).await;
                        }
                        self.post("document.unloaded", &doc);
                        self.hook("unloaded", &doc, |h, doc| h.unloaded(doc).boxed()).await;
                    }
                    Some(Note::Event { event, doc, extra }) => {
                        if event == "document.deleted" {
                            due.remove(&doc);
                            self.sent.remove(&doc);
                        }
                        if let Some(http) = &self.http {
                            let mut body = envelope(event, &doc, &self.node);
                            merge(&mut body, extra);
                            http.deliver(event, &doc, body);
                        }
                    }
                    Some(Note::Flush(done)) => {
                        for (doc, _) in std::mem::take(&mut due) {
                            self.report_change(&doc).await;
                        }
                        let _ = done.send(());
                    }
                },
                _ = sleep_until(next.unwrap_or_else(Instant::now)), if next.is_some() => {
                    let now = Instant::now();
                    let ready: Vec<DocName> = due
                        .iter()
                        .filter(|(_, at)| **at <= now)
                        .map(|(d, _)| d.clone())
                        .collect();
                    for doc in ready {
                        due.remove(&doc);
                        self.report_change(&doc).await;
                    }
                }
            }
        }
    }

    /// `document.changed` to the webhook and `changed` to the hooks, when some root's content
    /// changed since the last report.
    async fn report_change(&mut self, doc: &DocName) {
        let (changed, content) = match self.changes(doc).await {
            Ok(Some(found)) => found,
            Ok(None) => return,
            Err(e) => {
                warn!(doc = %doc, error = %e, "document events: cannot read the document; change not reported");
                return;
            }
        };
        if let Some(http) = self
            .http
            .as_ref()
            .filter(|_| self.wanted.contains("document.changed"))
        {
            let version = match self.store.version_head(doc).await {
                Ok(head) => head.map(|h| h.id),
                Err(e) => {
                    warn!(doc = %doc, error = %e, "webhook: cannot read the version; event skipped");
                    return;
                }
            };
            let mut body = envelope("document.changed", doc, &self.node);
            merge(&mut body, json!({ "changed": changed, "version": version }));
            if http.content {
                merge(&mut body, json!({ "content": &content }));
            }
            http.deliver("document.changed", doc, body);
        }
        self.hook("changed", doc, |h, doc| h.changed(doc, &content).boxed())
            .await;
    }

    /// The names of the roots whose content changed since the last report, and the content;
    /// `None` when nothing changed.
    async fn changes(&mut self, doc: &DocName) -> Result<Option<(Vec<String>, Value)>, String> {
        let stored = self.store.load(doc).await.map_err(|e| e.to_string())?;
        let parts = stored.parts;
        let content = tokio::task::spawn_blocking(move || {
            weft_crdt::snapshot::rebuild(&parts).map(|d| weft_crdt::content::to_json(&d))
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
        let hashes: BTreeMap<String, u64> = content
            .as_object()
            .map(|roots| {
                roots
                    .iter()
                    .map(|(k, v)| {
                        let mut h = DefaultHasher::new();
                        v.to_string().hash(&mut h);
                        (k.clone(), h.finish())
                    })
                    .collect()
            })
            .unwrap_or_default();
        let before = self.sent.get(doc);
        let mut changed: Vec<String> = hashes
            .iter()
            .filter(|(k, h)| before.and_then(|b| b.get(*k)) != Some(*h))
            .map(|(k, _)| k.clone())
            .collect();
        if let Some(before) = before {
            changed.extend(before.keys().filter(|k| !hashes.contains_key(*k)).cloned());
        }
        if changed.is_empty() {
            return Ok(None);
        }
        self.sent.insert(doc.clone(), hashes);
        Ok(Some((changed, content)))
    }

    /// POSTs a bare event (`document.loaded`, `.unloaded`) when `--webhook-events` lists it.
    fn post(&self, event: &'static str, doc: &DocName) {
        if let Some(http) = self.http.as_ref().filter(|_| self.wanted.contains(event)) {
            http.deliver(event, doc, envelope(event, doc, &self.node));
        }
    }

    /// Awaits one hook call, if hooks are set; a panic in it is logged, not fatal.
    async fn hook<'a>(
        &'a self,
        name: &'static str,
        doc: &'a DocName,
        call: impl FnOnce(&'a dyn DocumentHooks, &'a DocName) -> futures_util::future::BoxFuture<'a, ()>,
    ) {
        let Some(hooks) = &self.hooks else { return };
        if AssertUnwindSafe(call(hooks.as_ref(), doc))
            .catch_unwind()
            .await
            .is_err()
        {
            crate::metrics::caught_panic();
            error!(doc = %doc, hook = name, "document hook panicked");
        }
    }
}

fn envelope(event: &str, doc: &DocName, node: &str) -> Value {
    json!({
        "event": event,
        "document": doc.as_str(),
        "node": node,
        "at": humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
    })
}

fn merge(into: &mut Value, extra: Value) {
    if let (Some(into), Value::Object(extra)) = (into.as_object_mut(), extra) {
        into.extend(extra);
    }
}
