//! The revoked token ids this node knows, consulted by every admission (see `gate`). Filled
//! and refreshed by `crate::live::revocation` from the store and the cluster channel; a token
//! whose `jti` is here is refused with 401 `token-revoked`.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::store::{unix_now, RevokedToken};

/// Revoked token ids and their tokens' expiry (cheap to clone; shared by every worker).
#[derive(Debug, Clone, Default)]
pub struct Revocations {
    /// Read on every admission, written on a revocation or a reload: a `std` lock held for a
    /// map lookup or swap only, never across an await.
    ids: Arc<RwLock<HashMap<String, u64>>>,
}

impl Revocations {
    /// Whether `jti` is revoked (and its token not yet expired).
    pub fn is_revoked(&self, jti: &str) -> bool {
        let ids = self.ids.read().unwrap_or_else(|p| p.into_inner());
        ids.get(jti).is_some_and(|exp| *exp > unix_now())
    }

    /// Adds one; `true` when it was not known yet.
    pub fn insert(&self, token: &RevokedToken) -> bool {
        let mut ids = self.ids.write().unwrap_or_else(|p| p.into_inner());
        let known = ids.get(&token.jti).copied();
        ids.insert(token.jti.clone(), known.unwrap_or(0).max(token.expires_at));
        known.is_none()
    }

    /// Merges what the store holds and drops expired ids (a revocation is never undone, so
    /// nothing else is dropped: an id revoked here while the store was being read stays).
    /// Returns the ids that were not known before (their sessions may still be open here).
    pub fn merge(&self, tokens: Vec<RevokedToken>) -> Vec<String> {
        let now = unix_now();
        let mut ids = self.ids.write().unwrap_or_else(|p| p.into_inner());
        ids.retain(|_, exp| *exp > now);
        let mut new = Vec::new();
        for token in tokens.into_iter().filter(|t| t.expires_at > now) {
            let exp = ids.entry(token.jti.clone()).or_insert_with(|| {
                new.push(token.jti.clone());
                0
            });
            *exp = (*exp).max(token.expires_at);
        }
        new
    }

    pub fn len(&self) -> usize {
        self.ids.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revoked_until_the_token_expires() {
        let r = Revocations::default();
        let later = unix_now() + 60;
        assert!(r.insert(&RevokedToken {
            jti: "a".into(),
            expires_at: later
        }));
        assert!(r.is_revoked("a"));
        assert!(!r.is_revoked("b"));
        assert!(!r.insert(&RevokedToken {
            jti: "a".into(),
            expires_at: later
        }));
        r.insert(&RevokedToken {
            jti: "old".into(),
            expires_at: unix_now() - 1,
        });
        assert!(!r.is_revoked("old"), "an expired token needs no revocation");
        let new = r.merge(vec![
            RevokedToken {
                jti: "a".into(),
                expires_at: later,
            },
            RevokedToken {
                jti: "c".into(),
                expires_at: later,
            },
        ]);
        assert_eq!(new, vec!["c".to_string()]);
        assert!(r.is_revoked("c"));
        assert_eq!(r.len(), 2, "the expired id is dropped");
    }
}
