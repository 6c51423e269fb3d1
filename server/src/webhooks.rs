//! Webhooks: document events POSTed to `WEFT_WEBHOOK_URL`, signed, retried, never in the way.
//!
//! Events: `document.created`, `document.changed` (debounced: at most one per document per
//! `--webhook-debounce`, counted from its first change), `document.deleted`,
//! `document.restored`. The body is JSON:
//!
//! ```json
//! {"event": "document.changed", "document": "notes/a", "at": "2026-11-27T05:00:00.000Z",
//!  "changed": ["default"], "version": 12, "content": {"default": [...]}}
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

use std::collections::{BTreeMap, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use tokio::sync::{mpsc, Semaphore};
use tokio::time::{sleep_until, Instant};
use tracing::{debug, info, warn};
use weft_crdt::DocName;

use crate::access::Secret;
use crate::store::Store;

/// Notes waiting for the dispatcher.
const QUEUE: usize = 4096;
/// Deliveries in flight at once.
const CONCURRENT: usize = 16;

#[derive(Debug, Clone, clap::Args)]
pub struct WebhookArgs {
    /// URL that receives document events (POST, JSON). Unset: no webhooks.
    #[arg(long, env = "WEFT_WEBHOOK_URL")]
    pub webhook_url: Option<String>,

    /// Key for the X-Weft-Signature header (HMAC-SHA256 of the body). Strongly recommended.
    #[arg(long, env = "WEFT_WEBHOOK_SECRET", value_parser = crate::access::parse_secret, hide_env_values = true)]
    pub webhook_secret: Option<Secret>,

    /// At most one document.changed per document per this interval.
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
}

enum Note {
    Changed(DocName),
    Event {
        event: &'static str,
        doc: DocName,
        extra: Value,
    },
}

/// The sending side, held by the registry and the API (cheap to clone).
#[derive(Clone, Debug)]
pub struct Webhooks {
    tx: mpsc::Sender<Note>,
}

impl Webhooks {
    /// Starts the dispatcher when a URL is configured.
    pub fn start(args: &WebhookArgs, store: Arc<dyn Store>) -> Result<Option<Webhooks>, String> {
        let Some(url) = args.webhook_url.clone() else {
            return Ok(None);
        };
        let client = reqwest::Client::builder()
            .timeout(args.webhook_timeout)
            .user_agent(concat!("weft/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("webhook client: {e}"))?;
        if args.webhook_secret.is_none() {
            warn!("WEFT_WEBHOOK_URL is set without WEFT_WEBHOOK_SECRET: webhook requests are not signed");
        }
        let (tx, rx) = mpsc::channel(QUEUE);
        let dispatcher = Dispatcher {
            url,
            client,
            secret: args.webhook_secret.clone(),
            debounce: args.webhook_debounce,
            content: args.webhook_content,
            attempts: args.webhook_attempts.max(1),
            store,
            sent: HashMap::new(),
            permits: Arc::new(Semaphore::new(CONCURRENT)),
        };
        tokio::spawn(dispatcher.run(rx));
        info!("webhooks enabled");
        Ok(Some(Webhooks { tx }))
    }

    /// A document committed changes (called by its actor; never waits).
    pub fn changed(&self, doc: &DocName) {
        if self.tx.try_send(Note::Changed(doc.clone())).is_err() {
            crate::metrics::webhook("document.changed", "dropped");
        }
    }

    /// A one-off event (`document.created`, `.deleted`, `.restored`) with extra fields.
    pub fn event(&self, event: &'static str, doc: &DocName, extra: Value) {
        let note = Note::Event {
            event,
            doc: doc.clone(),
            extra,
        };
        if self.tx.try_send(note).is_err() {
            crate::metrics::webhook(event, "dropped");
        }
    }
}

struct Dispatcher {
    url: String,
    client: reqwest::Client,
    secret: Option<Secret>,
    debounce: Duration,
    content: bool,
    attempts: u32,
    store: Arc<dyn Store>,
    /// Per document, a hash of each root's content as last reported.
    sent: HashMap<DocName, BTreeMap<String, u64>>,
    permits: Arc<Semaphore>,
}

impl Dispatcher {
    async fn run(mut self, mut rx: mpsc::Receiver<Note>) {
        let mut due: HashMap<DocName, Instant> = HashMap::new();
        loop {
            let next = due.values().min().copied();
            tokio::select! {
                note = rx.recv() => match note {
                    None => return,
                    Some(Note::Changed(doc)) => {
                        due.entry(doc).or_insert_with(|| Instant::now() + self.debounce);
                    }
                    Some(Note::Event { event, doc, extra }) => {
                        if event == "document.deleted" {
                            due.remove(&doc);
                            self.sent.remove(&doc);
                        }
                        let mut body = envelope(event, &doc);
                        merge(&mut body, extra);
                        self.deliver(event, body);
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
                        match self.changed_body(&doc).await {
                            Ok(Some(body)) => self.deliver("document.changed", body),
                            Ok(None) => {}
                            Err(e) => warn!(doc = %doc, error = %e, "webhook: cannot read the document; event skipped"),
                        }
                    }
                }
            }
        }
    }

    /// The `document.changed` body, or `None` when no root's content changed since the last.
    async fn changed_body(&mut self, doc: &DocName) -> Result<Option<Value>, String> {
        let stored = self.store.load(doc).await.map_err(|e| e.to_string())?;
        let version = self
            .store
            .version_head(doc)
            .await
            .map_err(|e| e.to_string())?
            .map(|h| h.id);
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
        let mut changed: Vec<&String> = hashes
            .iter()
            .filter(|(k, h)| before.and_then(|b| b.get(*k)) != Some(*h))
            .map(|(k, _)| k)
            .collect();
        if let Some(before) = before {
            changed.extend(before.keys().filter(|k| !hashes.contains_key(*k)));
        }
        if changed.is_empty() {
            return Ok(None);
        }
        let mut body = envelope("document.changed", doc);
        merge(&mut body, json!({ "changed": changed, "version": version }));
        if self.content {
            merge(&mut body, json!({ "content": content }));
        }
        self.sent.insert(doc.clone(), hashes);
        Ok(Some(body))
    }

    /// Sends `body` in the background, retrying with backoff.
    fn deliver(&self, event: &'static str, body: Value) {
        let body = body.to_string();
        let signature = self
            .secret
            .as_ref()
            .map(|s| sign(s.expose(), body.as_bytes()));
        let delivery = format!("{:016x}", rand::random::<u64>());
        let (client, url, attempts, permits) = (
            self.client.clone(),
            self.url.clone(),
            self.attempts,
            self.permits.clone(),
        );
        tokio::spawn(async move {
            let Ok(_permit) = permits.acquire_owned().await else {
                return;
            };
            let mut backoff = Duration::from_secs(1);
            for attempt in 1..=attempts {
                let mut req = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .header("x-weft-event", event)
                    .header("x-weft-delivery", &delivery)
                    .body(body.clone());
                if let Some(sig) = &signature {
                    req = req.header("x-weft-signature", sig);
                }
                let outcome = match req.send().await {
                    Ok(resp) if resp.status().is_success() => Ok(()),
                    Ok(resp) => Err(format!("HTTP {}", resp.status())),
                    Err(e) => Err(e.to_string()),
                };
                match outcome {
                    Ok(()) => {
                        crate::metrics::webhook(event, "ok");
                        debug!(event, attempt, "webhook delivered");
                        return;
                    }
                    Err(e) if attempt < attempts => {
                        crate::metrics::webhook(event, "retry");
                        debug!(event, attempt, error = %e, retry_in = ?backoff, "webhook failed; retrying");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(60));
                    }
                    Err(e) => {
                        crate::metrics::webhook(event, "dropped");
                        warn!(event, attempts, error = %e, "webhook dropped after its last attempt");
                    }
                }
            }
        });
    }
}

/// `sha256=` + the hex HMAC-SHA256 of `body` under `key`.
pub fn sign(key: &[u8], body: &[u8]) -> String {
    // HMAC accepts keys of any length.
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(e) => unreachable!("HMAC takes any key length: {e}"),
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn envelope(event: &str, doc: &DocName) -> Value {
    json!({
        "event": event,
        "document": doc.as_str(),
        "at": humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
    })
}

fn merge(into: &mut Value, extra: Value) {
    if let (Some(into), Value::Object(extra)) = (into.as_object_mut(), extra) {
        into.extend(extra);
    }
}

#[cfg(test)]
mod tests {
    use super::sign;

    #[test]
    fn signature_matches_a_known_hmac() {
        // RFC 4231 test case 2.
        assert_eq!(
            sign(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
