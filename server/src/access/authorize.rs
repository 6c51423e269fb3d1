//! The embedder's admission hook: an application that mounts Weft inside its own actix-web app
//! decides who may open which document with its own sessions, cookies or tokens.
//!
//! When a hook is set, [`super::Gate`] asks it instead of verifying Weft tokens, on every
//! endpoint: `/ws/{document}` (before the upgrade), `/hocuspocus` (per document, when its Auth
//! message arrives) and the document API. The rest of the gate still applies around it: the
//! Origin allow-list before the hook, the connection limits after it, and everything a session
//! enforces (read-only writes refused, message and awareness rates).
//!
//! A hook gets the HTTP request as the application sees it (headers, cookies, the query, its
//! own `app_data` and extensions), so it can reuse the application's authentication as is.
//! Requests are `!Send` in actix-web, so the trait is `#[async_trait(?Send)]`: the decision
//! runs on the worker that owns the connection, where the session will live.

use actix_web::HttpRequest;
use async_trait::async_trait;
use weft_crdt::DocName;

/// Who may do what with a document: implement it to replace Weft's tokens with your own
/// authentication (see `Weft::builder().authorize(...)`).
///
/// ```
/// use actix_web::HttpRequest;
/// use weft::{async_trait, Authorize, Decision, DocName};
///
/// /// Users from a header set by the application's login layer.
/// struct ByHeader;
///
/// #[async_trait(?Send)]
/// impl Authorize for ByHeader {
///     async fn authorize(&self, req: &HttpRequest, doc: &DocName, _token: Option<&str>) -> Decision {
///         match req.headers().get("x-user").and_then(|v| v.to_str().ok()) {
///             Some("alice") => Decision::write("alice"),
///             Some(user) if doc.as_str().starts_with("public/") => Decision::read(user),
///             Some(_) => Decision::forbidden("not your document"),
///             None => Decision::unauthorized("log in first"),
///         }
///     }
/// }
/// ```
#[async_trait(?Send)]
pub trait Authorize: Send + Sync + 'static {
    /// Decides access to `doc`. `req` is the WebSocket upgrade request (`/ws/{document}`,
    /// `/hocuspocus`) or the document API request. `token` is the credential the client sent
    /// with it, if any: on `/hocuspocus` the token of the document's Auth message (the
    /// provider's `token` option; several documents on one socket each bring their own), on
    /// the other endpoints `Authorization: Bearer …` or the `token` query parameter (what the
    /// y-websocket provider sends with `params: { token }`).
    ///
    /// On `/hocuspocus` it runs again when a provider re-sends its token on an open document;
    /// a denial then closes that document on the socket.
    async fn authorize(&self, req: &HttpRequest, doc: &DocName, token: Option<&str>) -> Decision;

    /// Decides whether the document API may list the documents whose names start with
    /// `prefix` (`GET …/api/v1/documents?prefix=`; `""` lists everything). Refused unless
    /// implemented: a listing shows every name under the prefix, which no per-document
    /// decision covers.
    async fn authorize_list(&self, req: &HttpRequest, prefix: &str) -> Decision {
        let _ = (req, prefix);
        Decision::forbidden("listing documents is not allowed")
    }
}

/// The answer of an [`Authorize`] hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Read and edit. `user` is for logs only.
    Write { user: Option<String> },
    /// Receive the document, its live updates and presence, and publish presence; edits are
    /// refused (the y-websocket permission-denied message, a `false` SyncStatus on
    /// Hocuspocus, 403 `read-only-token` on the API).
    Read { user: Option<String> },
    /// Refused. `/ws` and the API answer `status` with a problem+json whose `detail` is
    /// `reason`; `/hocuspocus` sends `reason` to the provider's `authenticationFailed`. The
    /// reason reaches the client: keep it free of secrets.
    Deny { status: DenyStatus, reason: String },
}

/// The HTTP status of a [`Decision::Deny`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenyStatus {
    /// 401: who the client is is unknown (not logged in, session expired).
    Unauthorized,
    /// 403: the client is known and may not open this document.
    Forbidden,
}

impl Decision {
    /// Read and edit, as `user`.
    pub fn write(user: impl Into<String>) -> Self {
        Decision::Write {
            user: Some(user.into()),
        }
    }

    /// Read only, as `user`.
    pub fn read(user: impl Into<String>) -> Self {
        Decision::Read {
            user: Some(user.into()),
        }
    }

    /// 401 with `reason`.
    pub fn unauthorized(reason: impl Into<String>) -> Self {
        Decision::Deny {
            status: DenyStatus::Unauthorized,
            reason: reason.into(),
        }
    }

    /// 403 with `reason`.
    pub fn forbidden(reason: impl Into<String>) -> Self {
        Decision::Deny {
            status: DenyStatus::Forbidden,
            reason: reason.into(),
        }
    }
}
