//! The checks a WebSocket request passes before the upgrade, in order: Origin allow-list (403),
//! token (401), token scope (403), connection limits (429). Each refusal is one [`Refusal`]
//! (see `refusal`: its HTTP status and stable problem `code`).
//!
//! An embedder's [`Authorize`] hook, when set, takes the place of the token and scope checks
//! (every endpoint, same decision); the Origin allow-list and the limits stay around it.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::header;
use actix_web::{web, HttpRequest};
use serde::Deserialize;
use tracing::{info, warn};
use weft_crdt::DocName;

use super::authorize::{Authorize, Decision};
use super::limits::{ConnLimits, ConnPermit};
use super::refusal::Refusal;
use super::revoked::Revocations;
use super::token::{Access, Keys};
use super::{AccessArgs, Secret};

/// What a session may do, decided at admission.
#[derive(Debug)]
pub struct Admission {
    pub access: Access,
    /// The token's `user`, for logs.
    pub user: Option<String>,
    /// Time left on the token; the session is closed with 4401 when it runs out.
    pub expires_in: Option<Duration>,
    /// The token's id (`jti`): its session is closed when it is revoked.
    pub jti: Option<String>,
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

struct Inner {
    keys: Option<Keys>,
    /// `WEFT_ADMIN_KEY`, for `POST /api/v1/tokens` (see `mint`).
    admin_key: Option<Secret>,
    /// Lower-cased origins without a trailing slash; `None`: any origin.
    origins: Option<Vec<String>>,
    conns: ConnLimits,
    session: SessionLimits,
    /// The embedder's hook; when set, it decides instead of `keys` (see [`Authorize`]).
    authorize: Option<Arc<dyn Authorize>>,
    /// Revoked token ids, refused here (kept up to date by `crate::live`).
    revoked: Revocations,
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
            .field("hook", &self.inner.authorize.is_some())
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
        Self::with_authorize(args, None)
    }

    /// A gate whose admission is decided by `authorize` (when given) instead of tokens.
    pub fn with_authorize(args: &AccessArgs, authorize: Option<Arc<dyn Authorize>>) -> Self {
        let keys = args.auth_secret.as_ref().map(|s| {
            if s.expose().len() < 32 {
                warn!("WEFT_AUTH_SECRET is shorter than 32 bytes; use a long random secret");
            }
            Keys::new(s.expose())
        });
        if authorize.is_some() {
            if keys.is_some() {
                info!("an authorize hook is set: it decides access instead of WEFT_AUTH_SECRET tokens");
            }
        } else if keys.is_none() {
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
                authorize,
                revoked: Revocations::default(),
            }),
        }
    }

    /// The revoked token ids this gate refuses.
    pub fn revocations(&self) -> &Revocations {
        &self.inner.revoked
    }

    /// The admin key, when one is configured (the sessions and revocation endpoints).
    pub(crate) fn admin_key(&self) -> Option<&Secret> {
        self.inner.admin_key.as_ref()
    }

    /// The admin key and the signing keys, when both are configured (token minting on).
    pub(super) fn minting(&self) -> Option<(&Secret, &Keys)> {
        Some((self.inner.admin_key.as_ref()?, self.inner.keys.as_ref()?))
    }

    /// A token's claims (signature and expiry checked; revocation not), for revoking it by the
    /// token itself. `None` when Weft has no secret to check it with.
    pub fn claims_of(&self, token: &str) -> Option<Result<super::Claims, super::TokenError>> {
        Some(self.inner.keys.as_ref()?.verify(token))
    }

    pub fn session_limits(&self) -> SessionLimits {
        self.inner.session
    }

    /// Runs every check for a request to open `doc`; logs refusals (never the token).
    pub async fn admit(&self, req: &HttpRequest, doc: &DocName) -> Result<Admission, Refusal> {
        let result = self.check(req, doc).await;
        if let Err(refusal) = &result {
            let peer = req
                .peer_addr()
                .map(|a| a.ip().to_string())
                .unwrap_or_default();
            info!(doc = %doc, %peer, refusal = ?refusal, "connection refused before upgrade");
        }
        result
    }

    async fn check(&self, req: &HttpRequest, doc: &DocName) -> Result<Admission, Refusal> {
        self.origin(req)?;
        let grant = self.authorize(req, token_of(req).as_deref(), doc).await?;
        let ip: Option<IpAddr> = req.peer_addr().map(|a| a.ip());
        let permit = self.inner.conns.acquire(doc, ip).map_err(Refusal::Limit)?;
        Ok(Admission {
            access: grant.access,
            user: grant.user,
            expires_in: grant.expires_in,
            jti: grant.jti,
            permit,
        })
    }

    fn origin(&self, req: &HttpRequest) -> Result<(), Refusal> {
        if let Some(allowed) = &self.inner.origins {
            if let Some(origin) = req.headers().get(header::ORIGIN) {
                let origin = normalize_origin(origin.to_str().unwrap_or_default());
                if !allowed.contains(&origin) {
                    return Err(Refusal::Origin);
                }
            }
        }
        Ok(())
    }

    /// What `doc` grants, without counting a connection: the embedder's hook's decision for
    /// `req` and `token` when there is a hook, else `token` (`None` or empty: no token given)
    /// checked for signature, expiry and scope; everything when Weft runs open. Runs again
    /// when a Hocuspocus client re-sends its token on an open document.
    pub async fn authorize(
        &self,
        req: &HttpRequest,
        token: Option<&str>,
        doc: &DocName,
    ) -> Result<Grant, Refusal> {
        if let Some(hook) = &self.inner.authorize {
            return decided(hook.authorize(req, doc, token).await);
        }
        let Some(keys) = &self.inner.keys else {
            return Ok(Grant {
                access: Access::Write,
                user: None,
                expires_in: None,
                jti: None,
            });
        };
        let token = token
            .filter(|t| !t.is_empty())
            .ok_or(Refusal::MissingToken)?;
        let claims = self.verify(keys, token)?;
        if !claims.covers(doc) {
            return Err(Refusal::OutOfScope);
        }
        Ok(Grant {
            access: claims.access,
            expires_in: Some(claims.remaining()),
            user: claims.user,
            jti: claims.jti,
        })
    }

    /// Signature, expiry, then revocation.
    fn verify(&self, keys: &Keys, token: &str) -> Result<super::Claims, Refusal> {
        let claims = keys.verify(token).map_err(Refusal::BadToken)?;
        if claims
            .jti
            .as_deref()
            .is_some_and(|jti| self.inner.revoked.is_revoked(jti))
        {
            return Err(Refusal::Revoked);
        }
        Ok(claims)
    }
}

/// A hook's decision as a grant (hooks give no expiry: the session lasts until it closes).
fn decided(decision: Decision) -> Result<Grant, Refusal> {
    let (access, user) = match decision {
        Decision::Write { user } => (Access::Write, user),
        Decision::Read { user } => (Access::Read, user),
        Decision::Deny { status, reason } => return Err(Refusal::Denied { status, reason }),
    };
    Ok(Grant {
        access,
        user,
        expires_in: None,
        jti: None,
    })
}

/// What a valid token (or the embedder's hook) grants on one document (see
/// [`Gate::authorize`]).
#[derive(Debug, Clone)]
pub struct Grant {
    pub access: Access,
    /// The token's (or the hook's) `user`, for logs.
    pub user: Option<String>,
    /// Time left on the token (`None` when Weft runs open or a hook decided).
    pub expires_in: Option<Duration>,
    /// The token's id (`jti`), when it has one.
    pub jti: Option<String>,
}

/// Checks for endpoints whose tokens arrive *after* the upgrade, in a message: the Hocuspocus
/// endpoint carries several documents on one connection, each authenticated by its own Auth
/// message. The same rules as [`Gate::admit`], split so each runs when its input exists.
impl Gate {
    /// The Origin allow-list alone (403), before the upgrade.
    pub fn check_origin(&self, req: &HttpRequest) -> Result<(), Refusal> {
        let result = self.origin(req);
        if let Err(refusal) = &result {
            info!(refusal = ?refusal, "connection refused before upgrade");
        }
        result
    }

    /// [`Gate::authorize`], then a slot in the connection limits for `doc` from the request's
    /// address (each document on a multiplexed connection counts as one connection). Logs
    /// refusals.
    pub async fn admit_in_band(
        &self,
        req: &HttpRequest,
        token: Option<&str>,
        doc: &DocName,
    ) -> Result<Admission, Refusal> {
        let ip = req.peer_addr().map(|a| a.ip());
        let result = self.authorize(req, token, doc).await.and_then(|grant| {
            let permit = self.inner.conns.acquire(doc, ip).map_err(Refusal::Limit)?;
            Ok(Admission {
                access: grant.access,
                user: grant.user,
                expires_in: grant.expires_in,
                jti: grant.jti,
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
    /// a prefix (`notes/*`) of the requested prefix. Weft running open grants write. With a
    /// hook, the hook decides instead of the key and the tokens.
    pub async fn api_access(
        &self,
        req: &HttpRequest,
        target: ApiTarget<'_>,
    ) -> Result<Access, Refusal> {
        self.check_origin(req)?;
        if let Some(hook) = &self.inner.authorize {
            let decision = match target {
                ApiTarget::Doc(doc) => hook.authorize(req, doc, token_of(req).as_deref()).await,
                ApiTarget::Prefix(prefix) => hook.authorize_list(req, prefix).await,
            };
            return decided(decision).map(|grant| grant.access);
        }
        let Some(keys) = &self.inner.keys else {
            return Ok(Access::Write);
        };
        if let Some(admin) = &self.inner.admin_key {
            if super::mint::presents_key(req, admin.expose()) == Some(true) {
                return Ok(Access::Write);
            }
        }
        let token = token_of(req).ok_or(Refusal::MissingToken)?;
        let claims = self.verify(keys, &token)?;
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
