//! `POST /api/v1/tokens`: a backend mints access tokens over HTTP with the admin key
//! (`WEFT_ADMIN_KEY`), so it needs neither the signing secret nor a JWT library.
//!
//! ```text
//!  POST /api/v1/tokens   Authorization: Bearer ADMIN_KEY
//!  {"doc": "notes/*", "access": "write", "ttl_seconds": 3600, "user": "ann"}
//!  → 200 {"token": "...", "expires_at": 1767225600, "jti": "…"}
//! ```
//!
//! 404 when minting is off (no admin key, or no auth secret to sign with), 401 without the
//! key or with a wrong one (compared in constant time), 400 for a bad body. The key is checked
//! before the body is read. Neither the key nor the token is ever logged.

use std::time::{SystemTime, UNIX_EPOCH};

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use tracing::{info, warn};

use super::{valid_scope, Access, Claims, Gate};
use crate::http::problem;

/// The longest token the endpoint mints (30 days); also how long a revocation without an
/// expiry is kept.
pub const MAX_TTL_SECONDS: u64 = 30 * 24 * 3600;

/// The request body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MintRequest {
    /// A document name, or a prefix ending in `*`.
    pub doc: String,
    pub access: Access,
    /// 1 to [`MAX_TTL_SECONDS`].
    pub ttl_seconds: u64,
    #[serde(default)]
    pub user: Option<String>,
}

/// The answer: the token and its expiry (seconds since the Unix epoch).
#[derive(Debug, Serialize)]
pub struct MintResponse {
    pub token: String,
    pub expires_at: u64,
    /// The token's id, for `POST /api/v1/tokens/revoked`.
    pub jti: String,
}

fn refuse(status: StatusCode, code: &'static str, detail: &str) -> HttpResponse {
    crate::metrics::refused(match code {
        "admin-key-required" => "admin_key_required",
        "admin-key-invalid" => "admin_key_invalid",
        _ => "mint_request_invalid",
    });
    let mut response = problem::problem(status, code, detail);
    if status == StatusCode::UNAUTHORIZED {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

/// Whether the request's `Authorization: Bearer …` is the admin key (constant time in the
/// key's content; a length difference is all that can leak).
pub(crate) fn presents_key(req: &HttpRequest, key: &[u8]) -> Option<bool> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, given) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    Some(bool::from(given.trim().as_bytes().ct_eq(key)))
}

/// The admin-key check of every admin endpoint: `Err` is the answer (404 when no key is
/// configured: the endpoint is off; 401 without the key or with a wrong one).
pub fn require_admin(req: &HttpRequest, gate: &Gate) -> Result<(), Box<HttpResponse>> {
    let Some(admin_key) = gate.admin_key() else {
        return Err(Box::new(problem::problem(
            StatusCode::NOT_FOUND,
            "admin-key-not-configured",
            "this endpoint needs WEFT_ADMIN_KEY (--admin-key) to be set on the server",
        )));
    };
    check_key(req, admin_key)
}

fn check_key(req: &HttpRequest, admin_key: &super::Secret) -> Result<(), Box<HttpResponse>> {
    match presents_key(req, admin_key.expose()) {
        None => Err(Box::new(refuse(
            StatusCode::UNAUTHORIZED,
            "admin-key-required",
            "Authorization: Bearer <admin key> is required",
        ))),
        Some(false) => {
            let peer = req
                .peer_addr()
                .map(|a| a.ip().to_string())
                .unwrap_or_default();
            warn!(%peer, path = req.path(), "admin request refused: wrong admin key");
            Err(Box::new(refuse(
                StatusCode::UNAUTHORIZED,
                "admin-key-invalid",
                "wrong admin key",
            )))
        }
        Some(true) => Ok(()),
    }
}

/// `POST /api/v1/tokens`.
pub async fn mint_route(req: HttpRequest, body: web::Bytes, gate: web::Data<Gate>) -> HttpResponse {
    let Some((admin_key, keys)) = gate.minting() else {
        return HttpResponse::NotFound().finish();
    };
    if let Err(refused) = check_key(&req, admin_key) {
        return *refused;
    }
    let request: MintRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "invalid-mint-request",
                &format!("expected {{doc, access, ttl_seconds, user?}}: {e}"),
            )
        }
    };
    if !valid_scope(&request.doc) {
        return refuse(
            StatusCode::BAD_REQUEST,
            "invalid-mint-request",
            "doc must be a document name or a prefix ending in '*'",
        );
    }
    if request.ttl_seconds == 0 || request.ttl_seconds > MAX_TTL_SECONDS {
        return refuse(
            StatusCode::BAD_REQUEST,
            "invalid-mint-request",
            &format!("ttl_seconds must be between 1 and {MAX_TTL_SECONDS}"),
        );
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let expires_at = now.saturating_add(request.ttl_seconds);
    let jti = super::token::new_jti();
    let claims = Claims {
        doc: request.doc.clone(),
        access: request.access,
        exp: expires_at,
        user: request.user.clone(),
        jti: Some(jti.clone()),
    };
    match keys.sign(&claims) {
        Ok(token) => {
            info!(doc = %request.doc, access = ?request.access, ttl = request.ttl_seconds, user = request.user.as_deref().unwrap_or(""), %jti, "token minted");
            HttpResponse::Ok().json(MintResponse {
                token,
                expires_at,
                jti,
            })
        }
        Err(e) => {
            warn!(error = %e, "token signing failed");
            problem::problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                "mint-failed",
                "the token could not be signed",
            )
        }
    }
}
