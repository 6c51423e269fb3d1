//! The HTTP receiver of document events: JSON POSTed to `WEFT_WEBHOOK_URL`, signed with
//! `WEFT_WEBHOOK_SECRET`, retried with exponential backoff, a bounded number in flight.

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use tokio::sync::Semaphore;
use tracing::{debug, info, warn};

use super::WebhookArgs;
use crate::access::Secret;

/// Deliveries in flight at once.
const CONCURRENT: usize = 16;

/// The HTTP webhook: where, how, and signed deliveries with retries.
pub(super) struct HttpSink {
    url: String,
    client: reqwest::Client,
    secret: Option<Secret>,
    /// Include the content in `document.changed`.
    pub(super) content: bool,
    attempts: u32,
    permits: Arc<Semaphore>,
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
        Ok(HttpSink {
            url,
            client,
            secret: args.webhook_secret.clone(),
            content: args.webhook_content,
            attempts: args.webhook_attempts.max(1),
            permits: Arc::new(Semaphore::new(CONCURRENT)),
        })
    }

    /// Sends `body` in the background, retrying with backoff.
    pub(super) fn deliver(&self, event: &'static str, body: Value) {
        let body = body.to_string();
        let signature = self
            .secret
            .as_ref()
            .map(|s| sign(s.expose(), body.as_bytes()));
        let delivery = uuid::Uuid::new_v4().to_string();
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
