//! The checks a WebSocket request passes before the upgrade, in order: Origin allow-list (403),
//! token (401), token scope (403), connection limits (429). Each refusal is one [`Refusal`]
//! variant with one HTTP status and a stable problem `code`; the detail never echoes the token.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use tracing::{info, warn};
use weft_crdt::DocName;

use super::limits::{ConnLimits, ConnPermit, LimitHit};
use super::token::{Access, Keys, TokenError};
use super::{AccessArgs, Secret};
use crate::http::problem;

/// What a session may do, decided at admission.
#[derive(Debug)]
pub struct Admission {
    pub access: Access,
    /// The token's `user`, for logs.
    pub user: Option<String>,
    /// Time left on the token; the session is closed with 4401 when it runs out.
    pub expires_in: Option<Duration>,
    /// Holds this connection's slots in the connection limits until the session ends.
    pub permit: ConnPermit,
}

/// Per-session limits, enforced by the session loop.
#[derive(Debug, Clone, Copy)]
pub struct SessionLimits {
    pub max_messages_per_sec: u32,
    pub message_burst: u32,
    /// Largest awareness message in bytes (see [`super::limits::awareness_bytes`]); 0: none.
    pub max_awareness_size: usize,
    pub max_awareness_per_sec: u32,
    pub awareness_burst: u32,
}

/// Why a request was refused before the upgrade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// 403: the `Origin` header is not in `WEFT_ALLOWED_ORIGINS`.
    Origin,
    /// 401: a secret is set and the request carries no token.
    MissingToken,
    /// 401: the token is malformed, wrongly signed or expired.
    BadToken(TokenError),
    /// 403: the token is valid but does not cover this document.
    OutOfScope,
    /// 429: too many open connections to this document or from this address.
    Limit(LimitHit),
}

impl Refusal {
    /// The `reason` label of `weft_refusals_total` (the problem `code`, in snake case).
    pub fn metric_reason(&self) -> &'static str {
        match self {
            Refusal::Origin => "origin_not_allowed",
            Refusal::MissingToken => "token_required",
            Refusal::BadToken(TokenError::Expired) => "token_expired",
            Refusal::BadToken(TokenError::Invalid) => "token_invalid",
            Refusal::OutOfScope => "document_not_allowed",
            Refusal::Limit(LimitHit::PerDocument) => "too_many_connections_to_document",
            Refusal::Limit(LimitHit::PerIp) => "too_many_connections_from_address",
        }
    }

    /// The HTTP answer (problem+json), in one place.
    pub fn response(&self) -> HttpResponse {
        let (status, code, detail) = match self {
            Refusal::Origin => (
                StatusCode::FORBIDDEN,
                "origin-not-allowed",
                "this origin may not connect",
            ),
            Refusal::MissingToken => (
                StatusCode::UNAUTHORIZED,
                "token-required",
                "an access token is required (token query parameter or Authorization: Bearer)",
            ),
            Refusal::BadToken(TokenError::Expired) => {
                (StatusCode::UNAUTHORIZED, "token-expired", "token expired")
            }
            Refusal::BadToken(TokenError::Invalid) => (
                StatusCode::UNAUTHORIZED,
                "token-invalid",
                "token signature or format invalid",
            ),
            Refusal::OutOfScope => (
                StatusCode::FORBIDDEN,
                "document-not-allowed",
                "the token does not grant access to this document",
            ),
            Refusal::Limit(LimitHit::PerDocument) => (
                StatusCode::TOO_MANY_REQUESTS,
                "too-many-connections-to-document",
                "this document has too many open connections; retry later",
            ),
            Refusal::Limit(LimitHit::PerIp) => (
                StatusCode::TOO_MANY_REQUESTS,
                "too-many-connections-from-address",
                "too many open connections from this address; retry later",
            ),
        };
        crate::metrics::refused(self.metric_reason());
        let mut response = problem::problem(status, code, detail);
        let headers = response.headers_mut();
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if status == StatusCode::TOO_MANY_REQUESTS {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        response
    }
}

struct Inner {
    keys: Option<Keys>,
    /// `WEFT_ADMIN_KEY`, for `POST /api/v1/tokens` (see `mint`).
    admin_key: Option<Secret>,
    /// Lower-cased origins without a trailing slash; `None`: any origin.
    origins: Option<Vec<String>>,
    conns: ConnLimits,
    session: SessionLimits,
}

/// The admission checks, shared by every worker (cheap to clone).
#[derive(Clone)]
pub struct Gate {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gate")
            .field("auth", &self.inner.keys.is_some())
            .field("origins", &self.inner.origins)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

fn normalize_origin(origin: &str) -> String {
    origin.trim().trim_end_matches('/').to_ascii_lowercase()
}

impl Gate {
    /// Builds the gate and says, loudly, when Weft runs without authentication.
    pub fn new(args: &AccessArgs) -> Self {
        let keys = args.auth_secret.as_ref().map(|s| {
            if s.expose().len() < 32 {
                warn!("WEFT_AUTH_SECRET is shorter than 32 bytes; use a long random secret");
            }
            Keys::new(s.expose())
        });
        if keys.is_none() {
            warn!(
                "RUNNING OPEN: WEFT_AUTH_SECRET (--auth-secret) is not set, so anyone who can reach \
                 this server can read and write every document. Set a secret to require tokens."
            );
        }
        if args.admin_key.is_some() && keys.is_none() {
            warn!("WEFT_ADMIN_KEY is set without WEFT_AUTH_SECRET: there is nothing to sign tokens with, so POST /api/v1/tokens stays off");
        }
        let origins: Vec<String> = args
            .allowed_origins
            .iter()
            .map(|o| normalize_origin(o))
            .filter(|o| !o.is_empty())
            .collect();
        let origins = (!origins.is_empty() && !origins.iter().any(|o| o == "*")).then_some(origins);
        Gate {
            inner: Arc::new(Inner {
                keys,
                admin_key: args.admin_key.clone(),
                origins,
                conns: ConnLimits::new(args.max_conns_per_doc, args.max_conns_per_ip),
                session: SessionLimits {
                    max_messages_per_sec: args.max_messages_per_sec,
                    message_burst: args.message_burst,
                    max_awareness_size: args.max_awareness_size,
                    max_awareness_per_sec: args.max_awareness_per_sec,
                    awareness_burst: args.awareness_burst,
                },
            }),
        }
    }

    /// The admin key and the signing keys, when both are configured (token minting on).
    pub(super) fn minting(&self) -> Option<(&Secret, &Keys)> {
        Some((self.inner.admin_key.as_ref()?, self.inner.keys.as_ref()?))
    }

    pub fn session_limits(&self) -> SessionLimits {
        self.inner.session
    }

    /// Runs every check for a request to open `doc`; logs refusals (never the token).
    pub fn admit(&self, req: &HttpRequest, doc: &DocName) -> Result<Admission, Refusal> {
        let result = self.check(req, doc);
        if let Err(refusal) = &result {
            let peer = req
                .peer_addr()
                .map(|a| a.ip().to_string())
                .unwrap_or_default();
            info!(doc = %doc, %peer, refusal = ?refusal, "connection refused before upgrade");
        }
        result
    }

    fn check(&self, req: &HttpRequest, doc: &DocName) -> Result<Admission, Refusal> {
        if let Some(allowed) = &self.inner.origins {
            if let Some(origin) = req.headers().get(header::ORIGIN) {
                let origin = normalize_origin(origin.to_str().unwrap_or_default());
                if !allowed.contains(&origin) {
                    return Err(Refusal::Origin);
                }
            }
        }
        let (access, user, expires_in) = match &self.inner.keys {
            None => (Access::Write, None, None),
            Some(keys) => {
                let token = token_of(req).ok_or(Refusal::MissingToken)?;
                let claims = keys.verify(&token).map_err(Refusal::BadToken)?;
                if !claims.covers(doc) {
                    return Err(Refusal::OutOfScope);
                }
                let remaining = claims.remaining();
                (claims.access, claims.user, Some(remaining))
            }
        };
        let ip: Option<IpAddr> = req.peer_addr().map(|a| a.ip());
        let permit = self.inner.conns.acquire(doc, ip).map_err(Refusal::Limit)?;
        Ok(Admission {
            access,
            user,
            expires_in,
            permit,
        })
    }
}

/// What a valid token grants on one document (see [`Gate::authorize`]).
#[derive(Debug, Clone)]
pub struct Grant {
    pub access: Access,
    /// The token's `user`, for logs.
    pub user: Option<String>,
    /// Time left on the token (`None` when Weft runs open).
    pub expires_in: Option<Duration>,
}

/// Checks for endpoints whose tokens arrive *after* the upgrade, in a message: the Hocuspocus
/// endpoint carries several documents on one connection, each authenticated by its own Auth
/// message. The same rules as [`Gate::admit`], split so each runs when its input exists.
impl Gate {
    /// The Origin allow-list alone (403), before the upgrade.
    pub fn check_origin(&self, req: &HttpRequest) -> Result<(), Refusal> {
        if let Some(allowed) = &self.inner.origins {
            if let Some(origin) = req.headers().get(header::ORIGIN) {
                let origin = normalize_origin(origin.to_str().unwrap_or_default());
                if !allowed.contains(&origin) {
                    info!(refusal = ?Refusal::Origin, "connection refused before upgrade");
                    return Err(Refusal::Origin);
                }
            }
        }
        Ok(())
    }

    /// Token and scope for `doc` (`None` or empty: no token given), without counting a
    /// connection. Runs again when a client re-sends its token on an open document.
    pub fn authorize(&self, token: Option<&str>, doc: &DocName) -> Result<Grant, Refusal> {
        let Some(keys) = &self.inner.keys else {
            return Ok(Grant {
                access: Access::Write,
                user: None,
                expires_in: None,
            });
        };
        let token = token
            .filter(|t| !t.is_empty())
            .ok_or(Refusal::MissingToken)?;
        let claims = keys.verify(token).map_err(Refusal::BadToken)?;
        if !claims.covers(doc) {
            return Err(Refusal::OutOfScope);
        }
        Ok(Grant {
            access: claims.access,
            expires_in: Some(claims.remaining()),
            user: claims.user,
        })
    }

    /// [`Gate::authorize`], then a slot in the connection limits for `doc` from `ip` (each
    /// document on a multiplexed connection counts as one connection). Logs refusals.
    pub fn admit_in_band(
        &self,
        token: Option<&str>,
        doc: &DocName,
        ip: Option<IpAddr>,
    ) -> Result<Admission, Refusal> {
        let result = self.authorize(token, doc).and_then(|grant| {
            let permit = self.inner.conns.acquire(doc, ip).map_err(Refusal::Limit)?;
            Ok(Admission {
                access: grant.access,
                user: grant.user,
                expires_in: grant.expires_in,
                permit,
            })
        });
        if let Err(refusal) = &result {
            crate::metrics::refused(refusal.metric_reason());
            let peer = ip.map(|ip| ip.to_string()).unwrap_or_default();
            info!(doc = %doc, %peer, refusal = ?refusal, "document refused on a multiplexed connection");
        }
        result
    }
}

/// What a document API request is about.
#[derive(Debug, Clone, Copy)]
pub enum ApiTarget<'a> {
    /// One document.
    Doc(&'a DocName),
    /// Every document whose name starts with this (listing).
    Prefix(&'a str),
}

impl Gate {
    /// Open connections to `doc`, on either endpoint.
    pub fn connections(&self, doc: &DocName) -> usize {
        self.inner.conns.on_doc(doc)
    }

    /// Access for a document API request: the Origin allow-list, then the admin key (any
    /// document, write) or a token covering the target. A listing needs a token whose scope is
    /// a prefix (`notes/*`) of the requested prefix. Weft running open grants write.
    pub fn api_access(&self, req: &HttpRequest, target: ApiTarget<'_>) -> Result<Access, Refusal> {
        self.check_origin(req)?;
        let Some(keys) = &self.inner.keys else {
            return Ok(Access::Write);
        };
        if let Some(admin) = &self.inner.admin_key {
            if super::mint::presents_key(req, admin.expose()) == Some(true) {
                return Ok(Access::Write);
            }
        }
        let token = token_of(req).ok_or(Refusal::MissingToken)?;
        let claims = keys.verify(&token).map_err(Refusal::BadToken)?;
        let covered = match target {
            ApiTarget::Doc(doc) => claims.covers(doc),
            ApiTarget::Prefix(prefix) => claims
                .doc
                .strip_suffix('*')
                .is_some_and(|scope| prefix.starts_with(scope)),
        };
        if covered {
            Ok(claims.access)
        } else {
            Err(Refusal::OutOfScope)
        }
    }
}

/// The token from `Authorization: Bearer …`, else from the `token` query parameter (what the
/// stock y-websocket provider sends with `params: { token }`; browsers cannot set headers on a
/// WebSocket).
fn token_of(req: &HttpRequest) -> Option<String> {
    if let Some(value) = req.headers().get(header::AUTHORIZATION) {
        let value = value.to_str().ok()?.trim();
        let (scheme, rest) = value.split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| rest.trim().to_owned())
            .filter(|t| !t.is_empty());
    }
    web::Query::<TokenQuery>::from_query(req.query_string())
        .ok()?
        .into_inner()
        .token
        .filter(|t| !t.is_empty())
}
