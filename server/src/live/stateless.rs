//! Limits on Hocuspocus stateless messages, per connection: a payload over the size limit
//! closes the connection with 1009 (what Hocuspocus does with a message too big: an
//! application sending one has a bug to see); one over the rate is dropped with a log line
//! and the connection stays open (a stateless message is an ephemeral signal, and closing
//! would cut the editing session of every document on the socket for it; the general message
//! rate limit, 1008, still stops floods).

use tokio::time::Instant;

use crate::access::limits::TokenBucket;

/// The configured limits (see `LiveArgs`).
#[derive(Debug, Clone, Copy)]
pub struct StatelessLimits {
    /// Largest payload in bytes; 0: none (the message size limit still applies).
    pub max_size: usize,
    /// Sustained messages per second; 0: none.
    pub per_sec: u32,
    pub burst: u32,
}

/// What to do with one stateless message.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    /// Over the size limit: close with 1009.
    TooBig,
    /// Over the rate: drop it.
    RateLimited,
}

/// One connection's stateless limiter.
#[derive(Debug)]
pub struct StatelessLimiter {
    max_size: usize,
    bucket: TokenBucket,
}

impl StatelessLimiter {
    pub fn new(limits: StatelessLimits, now: Instant) -> Self {
        StatelessLimiter {
            max_size: limits.max_size,
            bucket: TokenBucket::new(limits.per_sec, limits.burst, now),
        }
    }

    pub fn check(&mut self, payload: &str, now: Instant) -> Verdict {
        if self.max_size > 0 && payload.len() > self.max_size {
            return Verdict::TooBig;
        }
        if !self.bucket.take(now) {
            return Verdict::RateLimited;
        }
        Verdict::Pass
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_closes_rate_drops() {
        let now = Instant::now();
        let mut l = StatelessLimiter::new(
            StatelessLimits {
                max_size: 10,
                per_sec: 1,
                burst: 2,
            },
            now,
        );
        assert_eq!(l.check("12345678901", now), Verdict::TooBig);
        assert_eq!(l.check("a", now), Verdict::Pass);
        assert_eq!(l.check("a", now), Verdict::Pass);
        assert_eq!(l.check("a", now), Verdict::RateLimited);
        assert_eq!(
            l.check("a", now + std::time::Duration::from_secs(2)),
            Verdict::Pass
        );
    }
}
