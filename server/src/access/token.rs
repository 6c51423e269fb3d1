//! Access tokens: JWT, HS256 only, signed with the server's secret (`WEFT_AUTH_SECRET`).
//!
//! Claims: `doc` (an exact document name, or a prefix ending in `*`), `access` (`read` or
//! `write`), `exp` (seconds since the Unix epoch, required, no leeway), an optional `user`
//! (a name for logs and the sessions list) and an optional `jti` (the token's id, which
//! revocation names: Weft mints every token with a random one). The signature is checked by `jsonwebtoken` (HMAC verification through the
//! `hmac` crate compares in constant time). Tokens are never logged, nor put in errors.

use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use weft_crdt::DocName;

use crate::store::unix_now;

/// What a token allows on the documents it covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    /// Receive the document and live updates, publish awareness; writes are refused.
    Read,
    /// Everything `Read` allows, plus updates.
    Write,
}

/// The claims Weft reads and writes. Unknown claims (`iat`, `sub`, …) are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Exact document name, or a prefix ending in `*` (`notes/*`; `*` alone covers all).
    pub doc: String,
    pub access: Access,
    /// Expiry, seconds since the Unix epoch.
    pub exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The token's id (JWT `jti`): what `weft token revoke` and `POST /api/v1/tokens/revoked`
    /// name. Tokens without one cannot be revoked (only expire).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
}

/// A fresh token id: a UUID v4 (122 random bits).
pub fn new_jti() -> String {
    uuid::Uuid::new_v4().to_string()
}

impl Claims {
    /// Whether the token's `doc` claim covers `name`.
    pub fn covers(&self, name: &DocName) -> bool {
        match self.doc.strip_suffix('*') {
            Some(prefix) => name.as_str().starts_with(prefix),
            None => self.doc == name.as_str(),
        }
    }

    /// Time left before expiry (zero if already expired).
    pub fn remaining(&self) -> Duration {
        let now = unix_now();
        Duration::from_secs(self.exp.saturating_sub(now))
    }
}

/// Why a token was refused. The messages are safe to send to the client (no token content).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token expired")]
    Expired,
    #[error("token signature or format invalid")]
    Invalid,
}

/// The signing and verification keys derived from the secret.
pub struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(<secret>)")
    }
}

impl Keys {
    pub fn new(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        // Expiry is exact: a token refused at 12:00:00 is not accepted at 12:00:30.
        validation.leeway = 0;
        validation.validate_exp = true;
        validation.set_required_spec_claims(&["exp"]);
        Keys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        }
    }

    /// Verifies signature, algorithm (HS256 only) and expiry.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        use jsonwebtoken::errors::ErrorKind;
        match jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation) {
            Ok(data) => Ok(data.claims),
            Err(e) if matches!(e.kind(), ErrorKind::ExpiredSignature) => Err(TokenError::Expired),
            Err(_) => Err(TokenError::Invalid),
        }
    }

    /// Signs the given claims (tests use it for already-expired tokens).
    pub fn sign(&self, claims: &Claims) -> Result<String, jsonwebtoken::errors::Error> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
    }

    /// Signs a token for `doc` with `access`, valid for `ttl`.
    pub fn mint(
        &self,
        doc: &str,
        access: Access,
        ttl: Duration,
        user: Option<&str>,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let claims = Claims {
            doc: doc.to_owned(),
            access,
            exp: unix_now().saturating_add(ttl.as_secs()),
            user: user.map(str::to_owned),
            jti: Some(new_jti()),
        };
        self.sign(&claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> DocName {
        DocName::parse(s).expect("valid name")
    }

    #[test]
    fn round_trip_and_scope() {
        let keys = Keys::new(b"a test secret that is long enough!");
        let token = keys
            .mint(
                "notes/*",
                Access::Read,
                Duration::from_secs(60),
                Some("ann"),
            )
            .expect("mint");
        let claims = keys.verify(&token).expect("valid");
        assert_eq!(claims.access, Access::Read);
        assert_eq!(
            claims.jti.as_deref().map(str::len),
            Some(36),
            "minted with a jti"
        );
        assert_eq!(claims.user.as_deref(), Some("ann"));
        assert!(claims.covers(&name("notes/a")));
        assert!(!claims.covers(&name("other")));
        let exact = Claims {
            doc: "a".into(),
            ..claims
        };
        assert!(exact.covers(&name("a")));
        assert!(!exact.covers(&name("ab")));
    }

    #[test]
    fn wrong_secret_expired_and_other_algorithms_are_refused() {
        let keys = Keys::new(b"secret one");
        let other = Keys::new(b"secret two");
        let token = other
            .mint("a", Access::Write, Duration::from_secs(60), None)
            .expect("mint");
        assert_eq!(keys.verify(&token), Err(TokenError::Invalid));
        let expired = Claims {
            doc: "a".into(),
            access: Access::Write,
            exp: unix_now() - 5,
            user: None,
            jti: None,
        };
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &expired,
            &EncodingKey::from_secret(b"secret one"),
        )
        .expect("encode");
        assert_eq!(keys.verify(&token), Err(TokenError::Expired));
        // alg=none (unsigned) is refused.
        let unsigned = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJkb2MiOiIqIiwiYWNjZXNzIjoid3JpdGUiLCJleHAiOjk5OTk5OTk5OTl9.";
        assert_eq!(keys.verify(unsigned), Err(TokenError::Invalid));
        assert_eq!(keys.verify("garbage"), Err(TokenError::Invalid));
    }
}
