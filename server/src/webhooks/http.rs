//! The HTTP receiver of document events: JSON POSTed to `WEFT_WEBHOOK_URL`, signed with
//! `WEFT_WEBHOOK_SECRET`, retried with exponential backoff.
//!
//! Deliveries go through one bounded queue served by [`WORKERS`] tasks (never one task per
//! delivery): with a dead receiver they cannot pile up. When the queue is full the oldest
//! waiting delivery is dropped, with a metric (`weft_webhooks_total{result="overflow"}`) and a
//! log line. A document's deliveries are made one at a time, in order (a worker never takes a
//! delivery while an earlier one of the same document is in flight or retrying).
//! [`HttpSink::drained`] waits until nothing is queued or in flight (the shutdown does, within
//! its deadline).

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use tokio::sync::Notify;
use tracing::{debug, info, warn};
use weft_crdt::DocName;

use super::WebhookArgs;
use crate::access::Secret;

/// Deliveries in flight at once (the workers serving the queue).
const WORKERS: usize = 16;
/// Deliveries waiting for a worker; beyond it the oldest waiting one is dropped.
const QUEUE: usize = 1024;

/// The HTTP webhook: where, how, and signed deliveries with retries.
pub(super) struct HttpSink {
    secret: Option<Secret>,
    /// Include the content in `document.changed`.
    pub(super) content: bool,
    queue: Arc<Deliveries>,
}

/// One request to make (the same body, signature and id on every attempt).
#[derive(Debug)]
struct Delivery {
    event: &'static str,
    doc: DocName,
    body: String,
    signature: Option<String>,
    id: String,
}

/// The bounded queue of deliveries, shared by the dispatcher, the workers and `flush`.
#[derive(Debug, Default)]
pub(super) struct Deliveries {
    state: Mutex<State>,
    /// Something was queued or a document became free: idle workers look again.
    work: Notify,
    /// A delivery ended: `drained` looks again.
    progress: Notify,
}

#[derive(Debug, Default)]
struct State {
    waiting: VecDeque<Delivery>,
    /// Documents with a delivery in flight (their next one waits).
    busy: HashSet<DocName>,
}

impl Deliveries {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Held for queue operations only, never across an await; a panic cannot leave the
        // queue inconsistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn push(&self, delivery: Delivery) {
        let dropped = {
            let mut state = self.lock();
            let dropped = if state.waiting.len() >= QUEUE {
                state.waiting.pop_front()
            } else {
                None
            };
            state.waiting.push_back(delivery);
            dropped
        };
        if let Some(old) = dropped {
            crate::metrics::webhook(old.event, "overflow");
            warn!(event = old.event, doc = %old.doc, queued = QUEUE,
                  "webhook queue full; dropped the oldest waiting delivery");
        }
        self.work.notify_waiters();
    }

    /// The oldest delivery whose document has none in flight (taken, its document marked).
    fn take(&self) -> Option<Delivery> {
        let mut state = self.lock();
        let index = state
            .waiting
            .iter()
            .position(|d| !state.busy.contains(&d.doc))?;
        let delivery = state.waiting.remove(index)?;
        state.busy.insert(delivery.doc.clone());
        Some(delivery)
    }

    fn done(&self, doc: &DocName) {
        self.lock().busy.remove(doc);
        self.work.notify_waiters();
        self.progress.notify_waiters();
    }

    fn is_empty(&self) -> bool {
        let state = self.lock();
        state.waiting.is_empty() && state.busy.is_empty()
    }

    /// Waits until nothing is queued or in flight.
    pub(super) async fn drained(&self) {
        loop {
            let progress = self.progress.notified();
            tokio::pin!(progress);
            progress.as_mut().enable();
            if self.is_empty() {
                return;
            }
            progress.await;
        }
    }
}

/// How a worker delivers.
struct Sender {
    url: String,
    client: reqwest::Client,
    attempts: u32,
}

impl HttpSink {
    pub(super) fn new(args: &WebhookArgs, url: String) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .timeout(args.webhook_timeout)
            .user_agent(concat!("weft/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("webhook client: {e}"))?;
        if args.webhook_secret.is_none() {
            warn!("WEFT_WEBHOOK_URL is set without WEFT_WEBHOOK_SECRET: webhook requests are not signed");
        }
        info!("webhooks enabled");
        let queue = Arc::new(Deliveries::default());
        let sender = Arc::new(Sender {
            url,
            client,
            attempts: args.webhook_attempts.max(1),
        });
        for _ in 0..WORKERS {
            tokio::spawn(work(queue.clone(), sender.clone()));
        }
        Ok(HttpSink {
            secret: args.webhook_secret.clone(),
            content: args.webhook_content,
            queue,
        })
    }

    /// The queue, for waiting until it is drained.
    pub(super) fn queue(&self) -> Arc<Deliveries> {
        self.queue.clone()
    }

    /// Queues `body` for delivery (never waits; see the module docs for the overflow policy).
    pub(super) fn deliver(&self, event: &'static str, doc: &DocName, body: Value) {
        let body = body.to_string();
        let signature = self
            .secret
            .as_ref()
            .map(|s| sign(s.expose(), body.as_bytes()));
        self.queue.push(Delivery {
            event,
            doc: doc.clone(),
            body,
            signature,
            id: uuid::Uuid::new_v4().to_string(),
        });
    }
}

/// A worker: takes the next delivery it may make, makes it (with its retries), and so on.
async fn work(queue: Arc<Deliveries>, sender: Arc<Sender>) {
    loop {
        let work = queue.work.notified();
        tokio::pin!(work);
        work.as_mut().enable();
        let Some(delivery) = queue.take() else {
            work.await;
            continue;
        };
        sender.send(&delivery).await;
        queue.done(&delivery.doc);
    }
}

impl Sender {
    /// One delivery, retried with backoff on a network error or a non-2xx answer.
    async fn send(&self, d: &Delivery) {
        let mut backoff = Duration::from_secs(1);
        for attempt in 1..=self.attempts {
            let mut req = self
                .client
                .post(&self.url)
                .header("content-type", "application/json")
                .header("x-weft-event", d.event)
                .header("x-weft-delivery", &d.id)
                .body(d.body.clone());
            if let Some(sig) = &d.signature {
                req = req.header("x-weft-signature", sig);
            }
            let outcome = match req.send().await {
                Ok(resp) if resp.status().is_success() => Ok(()),
                Ok(resp) => Err(format!("HTTP {}", resp.status())),
                Err(e) => Err(e.to_string()),
            };
            match outcome {
                Ok(()) => {
                    crate::metrics::webhook(d.event, "ok");
                    debug!(event = d.event, attempt, "webhook delivered");
                    return;
                }
                Err(e) if attempt < self.attempts => {
                    crate::metrics::webhook(d.event, "retry");
                    debug!(event = d.event, attempt, error = %e, retry_in = ?backoff, "webhook failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(60));
                }
                Err(e) => {
                    crate::metrics::webhook(d.event, "dropped");
                    warn!(event = d.event, attempts = self.attempts, error = %e, "webhook dropped after its last attempt");
                }
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(doc: &str, n: usize) -> Delivery {
        Delivery {
            event: "document.changed",
            doc: DocName::parse(doc).expect("name"),
            body: n.to_string(),
            signature: None,
            id: n.to_string(),
        }
    }

    /// Full: the oldest waiting delivery goes. A document's next delivery waits for the one
    /// in flight, other documents' do not.
    #[tokio::test]
    async fn the_queue_is_bounded_and_keeps_each_documents_order() {
        let queue = Deliveries::default();
        for n in 0..QUEUE + 1 {
            queue.push(delivery("a", n));
        }
        // Full: each push drops the oldest waiting (a0, then a1).
        queue.push(delivery("b", 0));
        let first = queue.take().expect("a delivery");
        assert_eq!((first.doc.as_str(), first.body.as_str()), ("a", "2"));
        let next = queue.take().expect("another document's");
        assert_eq!((next.doc.as_str(), next.body.as_str()), ("b", "0"));
        assert!(
            queue.take().is_none(),
            "a's next delivery overtook the one in flight"
        );
        queue.done(&first.doc);
        let then = queue.take().expect("a's next");
        assert_eq!(then.body, "3");
        assert!(!queue.is_empty());
    }

    #[test]
    fn signature_matches_a_known_hmac() {
        // RFC 4231 test case 2.
        assert_eq!(
            sign(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
