//! Live sessions over HTTP, with the admin key (`Authorization: Bearer ADMIN_KEY`):
//!
//! - `GET /api/v1/documents/{name}/sessions`: who is connected, on every node of the cluster.
//! - `DELETE /api/v1/documents/{name}/sessions`: closes them all with 4403, on every node
//!   (after a permission change: clients reconnect and are admitted with their new access).
//! - `POST /api/v1/tokens/revoked`: revokes a token by its id (`jti`), or given the token
//!   itself; its sessions close with 4403 within a second on every node, and it is refused
//!   from then on.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{finish, name_of, store_error, ApiResult};
use crate::access::mint::{require_admin, MAX_TTL_SECONDS};
use crate::access::Gate;
use crate::http::problem::problem;
use crate::live::listing::SessionList;
use crate::live::revocation::valid_jti;
use crate::live::Live;
use crate::store::{unix_now, RevokedToken};

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/documents/{name}/sessions", web::get().to(list))
        .route("/documents/{name}/sessions", web::delete().to(close))
        .route("/tokens/revoked", web::post().to(revoke));
}

/// The answer of `DELETE …/sessions`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Closed {
    /// Sessions closed on the node that answered (the other nodes close theirs too).
    pub closed: usize,
    pub node: String,
}

/// A token to revoke: its id, or the token itself.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeRequest {
    /// The token's id (its `jti` claim).
    pub jti: Option<String>,
    /// Or the token itself: its `jti` and `exp` are read from it (its signature is checked).
    pub token: Option<String>,
    /// When the token expires (seconds since the Unix epoch): the revocation is kept until
    /// then. Default: the token's `exp` when `token` is given, else 30 days from now (the
    /// longest token `POST /api/v1/tokens` mints).
    pub expires_at: Option<u64>,
}

/// A revocation, as stored.
#[derive(Debug, Serialize, ToSchema)]
pub struct Revoked {
    pub jti: String,
    pub expires_at: u64,
    /// Sessions closed on the node that answered (the other nodes close theirs too).
    pub closed: usize,
}

#[utoipa::path(get, path = "/api/v1/documents/{name}/sessions", tag = "sessions", operation_id = "list_sessions",
    params(("name" = String, Path, description = "Document name (a `/` as `%2F`)")),
    responses(
        (status = 200, description = "The sessions connected to the document on every node that answered within a second", body = SessionList),
        (status = 401, description = "Admin key missing or wrong", body = super::Problem),
        (status = 404, description = "No admin key is configured", body = super::Problem),
    ),
    security(("bearer" = [])))]
pub async fn list(req: HttpRequest, gate: web::Data<Gate>, live: web::Data<Live>) -> HttpResponse {
    finish(
        "list_sessions",
        async {
            require_admin(&req, &gate)?;
            let name = name_of(&req)?;
            Ok(HttpResponse::Ok().json(live.sessions(&name).await))
        }
        .await,
    )
}

#[utoipa::path(delete, path = "/api/v1/documents/{name}/sessions", tag = "sessions", operation_id = "close_sessions",
    params(("name" = String, Path, description = "Document name (a `/` as `%2F`)")),
    responses(
        (status = 200, description = "Every session of the document is being closed with 4403, on every node", body = Closed),
        (status = 401, description = "Admin key missing or wrong", body = super::Problem),
        (status = 404, description = "No admin key is configured", body = super::Problem),
    ),
    security(("bearer" = [])))]
pub async fn close(req: HttpRequest, gate: web::Data<Gate>, live: web::Data<Live>) -> HttpResponse {
    finish(
        "close_sessions",
        async {
            require_admin(&req, &gate)?;
            let name = name_of(&req)?;
            let closed = live.close_document(&name);
            tracing::info!(doc = %name, closed, "closing every session of the document (API)");
            Ok(HttpResponse::Ok().json(Closed {
                closed,
                node: live.node().to_string(),
            }))
        }
        .await,
    )
}

#[utoipa::path(post, path = "/api/v1/tokens/revoked", tag = "sessions", operation_id = "revoke_token",
    request_body = RevokeRequest,
    responses(
        (status = 200, description = "Revoked: refused from now on, its sessions closed with 4403 on every node", body = Revoked),
        (status = 400, description = "Bad body", body = super::Problem),
        (status = 401, description = "Admin key missing or wrong", body = super::Problem),
        (status = 404, description = "No admin key is configured", body = super::Problem),
        (status = 503, description = "The store failed; retry", body = super::Problem),
    ),
    security(("bearer" = [])))]
pub async fn revoke(
    req: HttpRequest,
    body: web::Bytes,
    gate: web::Data<Gate>,
    live: web::Data<Live>,
) -> HttpResponse {
    finish(
        "revoke_token",
        revoke_inner(&req, &body, &gate, &live).await,
    )
}

async fn revoke_inner(
    req: &HttpRequest,
    body: &[u8],
    gate: &Gate,
    live: &Live,
) -> ApiResult<HttpResponse> {
    require_admin(req, gate)?;
    let bad = |detail: &str| problem(StatusCode::BAD_REQUEST, "invalid-revocation", detail);
    let request: RevokeRequest = serde_json::from_slice(body)
        .map_err(|e| bad(&format!("expected {{jti or token, expires_at?}}: {e}")))?;
    let now = unix_now();
    let (jti, exp) = match (request.jti, request.token) {
        (Some(jti), None) => (jti, None),
        (None, Some(token)) => {
            let claims = match gate.claims_of(&token) {
                None => {
                    return Err(bad(
                        "this server has no auth secret to read tokens with; give the jti",
                    )
                    .into())
                }
                Some(Err(e)) => return Err(bad(&format!("{e}: nothing to revoke")).into()),
                Some(Ok(claims)) => claims,
            };
            let Some(jti) = claims.jti else {
                return Err(bad("this token has no jti: it cannot be revoked, only expire").into());
            };
            (jti, Some(claims.exp))
        }
        _ => return Err(bad("give either jti or token").into()),
    };
    if !valid_jti(&jti) {
        return Err(bad("jti must be 1 to 200 characters").into());
    }
    let expires_at = request
        .expires_at
        .or(exp)
        .unwrap_or_else(|| now.saturating_add(MAX_TTL_SECONDS));
    if expires_at <= now {
        return Err(bad("expires_at is in the past: that token is refused already").into());
    }
    let token = RevokedToken { jti, expires_at };
    let closed = live.revoke(&token).await.map_err(store_error)?;
    tracing::info!(jti = %token.jti, expires_at, closed, "token revoked (API)");
    Ok(HttpResponse::Ok().json(Revoked {
        jti: token.jti,
        expires_at,
        closed,
    }))
}
