//! Resource limits enforced at the edge: open connections per document and per client IP
//! (counted before the upgrade, refused with HTTP 429), and a token bucket for messages per
//! second on one connection (enforced by the session, close 1008), and the awareness limits
//! of one connection: size per message (1009) and a token bucket of their own (1008).
//!
//! Counting uses a `std::sync::Mutex`: the critical section is a hash-map increment, never held
//! across an `.await`, and shared by every actix worker thread.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use tokio::time::Instant;
use weft_crdt::DocName;
use yrs::sync::awareness::AwarenessUpdate;

/// Which connection limit a request hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitHit {
    PerDocument,
    PerIp,
}

#[derive(Debug, Default)]
struct Counts {
    per_doc: HashMap<DocName, usize>,
    per_ip: HashMap<IpAddr, usize>,
}

/// Open connections, per document and per IP. `0` disables a limit.
#[derive(Debug, Clone)]
pub struct ConnLimits {
    max_per_doc: usize,
    max_per_ip: usize,
    counts: Arc<Mutex<Counts>>,
}

/// One counted connection; dropping it (when the session ends) frees its slots.
#[derive(Debug)]
pub struct ConnPermit {
    limits: ConnLimits,
    doc: DocName,
    ip: Option<IpAddr>,
}

impl ConnLimits {
    pub fn new(max_per_doc: usize, max_per_ip: usize) -> Self {
        ConnLimits {
            max_per_doc,
            max_per_ip,
            counts: Arc::default(),
        }
    }

    /// Counts a new connection, or says which limit it would exceed.
    pub fn acquire(&self, doc: &DocName, ip: Option<IpAddr>) -> Result<ConnPermit, LimitHit> {
        let mut counts = self.lock();
        let on_doc = counts.per_doc.get(doc).copied().unwrap_or(0);
        if self.max_per_doc > 0 && on_doc >= self.max_per_doc {
            return Err(LimitHit::PerDocument);
        }
        if let Some(ip) = ip {
            let on_ip = counts.per_ip.get(&ip).copied().unwrap_or(0);
            if self.max_per_ip > 0 && on_ip >= self.max_per_ip {
                return Err(LimitHit::PerIp);
            }
            *counts.per_ip.entry(ip).or_insert(0) += 1;
        }
        *counts.per_doc.entry(doc.clone()).or_insert(0) += 1;
        Ok(ConnPermit {
            limits: self.clone(),
            doc: doc.clone(),
            ip,
        })
    }

    /// Open connections to `doc` (for tests and metrics).
    pub fn on_doc(&self, doc: &DocName) -> usize {
        self.lock().per_doc.get(doc).copied().unwrap_or(0)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counts> {
        // A panic while holding this lock cannot leave the maps inconsistent (each operation
        // is a single increment or decrement), so a poisoned lock is still usable.
        self.counts.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn decrement<K: std::hash::Hash + Eq>(map: &mut HashMap<K, usize>, key: &K) {
    if let Some(n) = map.get_mut(key) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            map.remove(key);
        }
    }
}

impl Drop for ConnPermit {
    fn drop(&mut self) {
        let mut counts = self.limits.lock();
        decrement(&mut counts.per_doc, &self.doc);
        if let Some(ip) = self.ip {
            decrement(&mut counts.per_ip, &ip);
        }
    }
}

/// Messages per second on one connection: `rate` tokens per second, at most `burst` saved.
/// A rate of `0` disables it.
#[derive(Debug)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    pub fn new(rate: u32, burst: u32, now: Instant) -> Self {
        let burst = f64::from(burst.max(rate).max(1));
        TokenBucket {
            rate: f64::from(rate),
            burst,
            tokens: burst,
            last: now,
        }
    }

    /// Takes one token; false when the connection is over its rate.
    /// The sustained rate, messages per second (for log lines).
    pub fn rate(&self) -> f64 {
        self.rate
    }

    pub fn take(&mut self, now: Instant) -> bool {
        if self.rate <= 0.0 {
            return true;
        }
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Bytes an awareness message's entries hold: each entry's JSON, plus 16 for its client id
/// and clock (their varint encodings take at most 10 + 5).
pub fn awareness_bytes(update: &AwarenessUpdate) -> usize {
    update
        .clients
        .values()
        .map(|entry| entry.json.len().saturating_add(16))
        .fold(0, usize::saturating_add)
}

/// Why an awareness message was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AwarenessRefusal {
    /// Its entries total more than `--max-awareness-size` (1009); carries their size.
    TooBig(usize),
    /// The connection sends awareness faster than `--max-awareness-per-sec` (1008).
    RateLimited,
}

impl AwarenessRefusal {
    /// The `reason` label of `weft_refusals_total`.
    pub fn metric_reason(&self) -> &'static str {
        match self {
            AwarenessRefusal::TooBig(_) => "awareness_too_big",
            AwarenessRefusal::RateLimited => "awareness_rate_limit",
        }
    }
}

/// The awareness limits of one connection. Awareness is relayed to every client of the
/// document, so it gets a smaller size limit and a slower bucket than document messages, which
/// it also counts against.
#[derive(Debug)]
pub struct AwarenessLimiter {
    /// 0: no size limit beyond the message size limit.
    max_size: usize,
    bucket: TokenBucket,
}

impl AwarenessLimiter {
    pub fn new(max_size: usize, rate: u32, burst: u32, now: Instant) -> Self {
        AwarenessLimiter {
            max_size,
            bucket: TokenBucket::new(rate, burst, now),
        }
    }

    /// Checks one awareness message: size first (a too-big message takes no token), then rate.
    pub fn check(
        &mut self,
        update: &AwarenessUpdate,
        now: Instant,
    ) -> Result<(), AwarenessRefusal> {
        let size = awareness_bytes(update);
        if self.max_size > 0 && size > self.max_size {
            return Err(AwarenessRefusal::TooBig(size));
        }
        if !self.bucket.take(now) {
            return Err(AwarenessRefusal::RateLimited);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn name(s: &str) -> DocName {
        DocName::parse(s).expect("valid name")
    }

    #[test]
    fn per_doc_and_per_ip_limits_free_their_slots_on_drop() {
        let limits = ConnLimits::new(2, 3);
        let ip: IpAddr = [127, 0, 0, 1].into();
        let a1 = limits.acquire(&name("a"), Some(ip)).expect("first");
        let a2 = limits.acquire(&name("a"), Some(ip)).expect("second");
        assert_eq!(
            limits.acquire(&name("a"), Some(ip)).unwrap_err(),
            LimitHit::PerDocument
        );
        let b1 = limits.acquire(&name("b"), Some(ip)).expect("third on ip");
        assert_eq!(
            limits.acquire(&name("b"), Some(ip)).unwrap_err(),
            LimitHit::PerIp
        );
        drop(a1);
        assert_eq!(limits.on_doc(&name("a")), 1);
        let _a3 = limits.acquire(&name("a"), Some(ip)).expect("slot freed");
        drop((a2, b1));
        assert_eq!(limits.on_doc(&name("b")), 0);
        assert!(ConnLimits::new(0, 0).acquire(&name("a"), None).is_ok());
    }

    #[test]
    fn bucket_allows_a_burst_then_the_rate() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(10, 20, start);
        for _ in 0..20 {
            assert!(bucket.take(start));
        }
        assert!(!bucket.take(start));
        assert!(bucket.take(start + Duration::from_millis(100)));
        assert!(!bucket.take(start + Duration::from_millis(100)));
        let mut off = TokenBucket::new(0, 0, start);
        assert!((0..10_000).all(|_| off.take(start)));
    }

    fn awareness(entries: &[(u64, &str)]) -> AwarenessUpdate {
        use yrs::sync::awareness::AwarenessUpdateEntry;
        AwarenessUpdate {
            clients: entries
                .iter()
                .map(|&(id, json)| {
                    (
                        yrs::block::ClientID::new(id),
                        AwarenessUpdateEntry {
                            clock: 1,
                            json: json.into(),
                        },
                    )
                })
                .collect(),
        }
    }

    #[test]
    fn awareness_is_limited_in_size_and_rate() {
        let start = Instant::now();
        let small = awareness(&[(1, "{\"user\":\"ann\"}")]);
        assert_eq!(awareness_bytes(&small), 14 + 16);
        let big_json = format!("{{\"x\":\"{}\"}}", "a".repeat(200));
        let big = awareness(&[(1, &big_json), (2, "{}")]);
        let mut limiter = AwarenessLimiter::new(100, 2, 3, start);
        assert_eq!(
            limiter.check(&big, start),
            Err(AwarenessRefusal::TooBig(big_json.len() + 16 + 2 + 16))
        );
        // The refused message took no token: the burst of 3 is intact.
        for _ in 0..3 {
            assert_eq!(limiter.check(&small, start), Ok(()));
        }
        assert_eq!(
            limiter.check(&small, start),
            Err(AwarenessRefusal::RateLimited)
        );
        assert_eq!(
            limiter.check(&small, start + Duration::from_millis(500)),
            Ok(())
        );
        let mut unlimited = AwarenessLimiter::new(0, 0, 0, start);
        assert!((0..1000).all(|_| unlimited.check(&big, start).is_ok()));
    }
}
