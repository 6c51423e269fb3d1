//! The document HTTP API under `/api/v1`: JSON in and out, errors as `application/problem+json`
//! with stable codes, described by the OpenAPI document at `/api/v1/openapi.json` (generated
//! from these handlers by utoipa).
//!
//! - [`documents`]: create, list, metadata, delete, content as JSON or text, state as a Yjs
//!   update, apply an update.
//! - [`content`]: a Tiptap field as ProseMirror JSON, Markdown or HTML, and content written
//!   from those (or plain text) as one live edit.
//! - [`versions`]: list, take, read and restore versions.
//! - [`sessions`]: who is connected (every node), closing a document's sessions, revoking a
//!   token (admin key).
//!
//! A document name is one path segment: a `/` in it is sent as `%2F`. Every write goes through
//! the document's actor, exactly like a WebSocket client's update: committed first, then
//! broadcast to live sessions. Reads answer with what is committed.

pub mod content;
pub mod documents;
pub mod sessions;
pub mod versions;

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use percent_encoding::percent_decode_str;
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};
use weft_crdt::DocName;

use crate::access::{Access, ApiTarget, Gate};
use crate::doc::{DocHandle, Registry};
use crate::http::problem::problem;
use crate::store::{DocMeta, StoreError, VersionMeta};

/// How long an API call waits for a document (its load, its commit) before answering 503.
const DOC_TIMEOUT: Duration = Duration::from_secs(15);

/// API knobs (from the configuration).
#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// Largest request body.
    pub max_body: usize,
}

/// The `/api/v1/documents` routes and `/api/v1/openapi.json`.
pub fn scope(settings: ApiSettings) -> actix_web::Scope {
    let limit = settings.max_body;
    web::scope("/api/v1")
        .app_data(web::PayloadConfig::new(limit))
        .app_data(
            web::JsonConfig::default()
                .limit(limit)
                .error_handler(|e, _| {
                    let detail = e.to_string();
                    actix_web::error::InternalError::from_response(
                        e,
                        problem(StatusCode::BAD_REQUEST, "invalid-json", &detail),
                    )
                    .into()
                }),
        )
        .app_data(web::Data::new(settings))
        .route("/openapi.json", web::get().to(openapi))
        .route("/documents", web::post().to(documents::create))
        .route("/documents", web::get().to(documents::list))
        .route("/documents/{name}", web::get().to(documents::meta))
        .route("/documents/{name}", web::delete().to(documents::delete))
        .route(
            "/documents/{name}/content",
            web::get().to(documents::content),
        )
        .route("/documents/{name}/content", web::put().to(content::put))
        .route("/documents/{name}/content", web::post().to(content::post))
        .route(
            "/documents/{name}/update",
            web::get().to(documents::get_update),
        )
        .route(
            "/documents/{name}/update",
            web::post().to(documents::post_update),
        )
        .route("/documents/{name}/versions", web::get().to(versions::list))
        .route(
            "/documents/{name}/versions",
            web::post().to(versions::create),
        )
        .route(
            "/documents/{name}/versions/{id}/content",
            web::get().to(versions::content),
        )
        .route(
            "/documents/{name}/versions/{id}/update",
            web::get().to(versions::update),
        )
        .route(
            "/documents/{name}/versions/{id}/restore",
            web::post().to(versions::restore),
        )
        .configure(sessions::routes)
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Weft document API",
        description = "Read and write Yjs documents over HTTP. Names are one path segment (a `/` is sent as `%2F`). When Weft runs with an auth secret, every call needs `Authorization: Bearer TOKEN` (a document token, or the admin key).",
        version = "1"
    ),
    paths(
        documents::create,
        documents::list,
        documents::meta,
        documents::delete,
        documents::content,
        content::put,
        content::post,
        documents::get_update,
        documents::post_update,
        versions::list,
        versions::create,
        versions::content,
        versions::update,
        versions::restore,
        sessions::list,
        sessions::close,
        sessions::revoke,
    ),
    components(schemas(
        Problem,
        Document,
        documents::CreateDocument,
        documents::TextContent,
        documents::DocumentList,
        documents::Applied,
        Version,
        versions::VersionList,
        versions::NewVersionRequest,
        versions::Restored,
        crate::live::SessionInfo,
        crate::live::Protocol,
        crate::live::listing::SessionList,
        sessions::Closed,
        sessions::RevokeRequest,
        sessions::Revoked,
    )),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

async fn openapi() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}

/// An error (RFC 9457); `code` is stable, `detail` is for humans.
#[derive(Serialize, ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    /// Stable: `document-not-found`, `document-exists`, `invalid-name`, `invalid-update`,
    /// `invalid-json`, `document-too-large`, `version-not-found`, `read-only-token`,
    /// `token-required`, `token-invalid`, `token-expired`, `token-revoked`,
    /// `document-not-allowed`, `unavailable`, `store-error`, `invalid-content`,
    /// `wrong-root-type`, `root-not-found`, `admin-key-required`, `admin-key-invalid`,
    /// `admin-key-not-configured`, `invalid-revocation`.
    pub code: String,
    pub detail: String,
}

/// A document's metadata.
#[derive(Serialize, ToSchema)]
pub struct Document {
    pub name: String,
    /// RFC 3339.
    pub created_at: String,
    pub updated_at: String,
    /// Stored bytes (snapshot plus log not yet compacted).
    pub size_bytes: u64,
    /// Update log entries not yet compacted.
    pub log_entries: u64,
    /// Open WebSocket sessions on this server.
    pub connections: usize,
}

impl Document {
    fn new(meta: DocMeta, connections: usize) -> Self {
        Document {
            name: meta.name,
            created_at: rfc3339(meta.created_ms),
            updated_at: rfc3339(meta.updated_ms),
            size_bytes: meta.stored_bytes,
            log_entries: meta.log_entries,
            connections,
        }
    }
}

/// One version of a document.
#[derive(Serialize, ToSchema)]
pub struct Version {
    pub id: i64,
    pub label: Option<String>,
    /// `auto`, `manual` or `restore`.
    pub kind: String,
    pub created_at: String,
    /// Bytes this version adds to the store.
    pub size_bytes: u64,
}

impl From<VersionMeta> for Version {
    fn from(v: VersionMeta) -> Self {
        Version {
            id: v.id,
            label: v.label,
            kind: v.kind.as_str().to_string(),
            created_at: rfc3339(v.created_ms),
            size_bytes: v.size_bytes,
        }
    }
}

pub(crate) fn rfc3339(ms: i64) -> String {
    let t = std::time::UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_millis(t).to_string()
}

/// A failed call: the response to send (boxed: a response is large).
#[derive(Debug)]
pub struct ApiError(Box<HttpResponse>);

impl From<HttpResponse> for ApiError {
    fn from(response: HttpResponse) -> Self {
        ApiError(Box::new(response))
    }
}

impl From<Box<HttpResponse>> for ApiError {
    fn from(response: Box<HttpResponse>) -> Self {
        ApiError(response)
    }
}

pub(crate) type ApiResult<T> = Result<T, ApiError>;

pub(crate) fn not_found(name: &DocName) -> HttpResponse {
    problem(
        StatusCode::NOT_FOUND,
        "document-not-found",
        &format!("no document named {:?}", name.as_str()),
    )
}

pub(crate) fn store_error(e: StoreError) -> HttpResponse {
    tracing::warn!(error = %e, "document API: store error");
    retry_later(problem(
        StatusCode::SERVICE_UNAVAILABLE,
        "store-error",
        "the store failed; retry later",
    ))
}

pub(crate) fn unavailable() -> HttpResponse {
    retry_later(problem(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "the document did not answer in time (loading, or the store is failing); retry later",
    ))
}

/// Every 503 of the API is worth retrying: it says when.
pub(crate) fn retry_later(mut response: HttpResponse) -> HttpResponse {
    response.headers_mut().insert(
        actix_web::http::header::RETRY_AFTER,
        actix_web::http::header::HeaderValue::from(crate::doc::RETRY_AFTER_SECS),
    );
    response
}

/// The document named by the `{name}` segment, after the access check (`need` = write for
/// calls that change it).
pub(crate) async fn target(req: &HttpRequest, gate: &Gate, need: Access) -> ApiResult<DocName> {
    let name = name_of(req)?;
    authorize(req, gate, ApiTarget::Doc(&name), need).await?;
    Ok(name)
}

/// The document named by the `{name}` segment (no access check).
pub(crate) fn name_of(req: &HttpRequest) -> ApiResult<DocName> {
    let raw = req.match_info().get("name").unwrap_or_default();
    let decoded = percent_decode_str(raw).decode_utf8().map_err(|_| {
        problem(
            StatusCode::BAD_REQUEST,
            "invalid-name",
            "document name is not UTF-8",
        )
    })?;
    DocName::parse(&decoded)
        .map_err(|e| problem(StatusCode::BAD_REQUEST, "invalid-name", &e.to_string()).into())
}

pub(crate) async fn authorize(
    req: &HttpRequest,
    gate: &Gate,
    target: ApiTarget<'_>,
    need: Access,
) -> ApiResult<()> {
    let access = gate
        .api_access(req, target)
        .await
        .map_err(|r| r.response())?;
    if need == Access::Write && access == Access::Read {
        return Err(problem(
            StatusCode::FORBIDDEN,
            "read-only-token",
            "the token grants read access only",
        )
        .into());
    }
    Ok(())
}

/// Asks the document's actor (loading it if needed), retrying when it is retiring, within
/// [`DOC_TIMEOUT`].
pub(crate) async fn ask<T, F, Fut>(registry: &Registry, name: &DocName, f: F) -> ApiResult<T>
where
    F: Fn(DocHandle) -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let attempt = async {
        loop {
            if let Some(answer) = f(registry.handle(name)).await {
                return answer;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(DOC_TIMEOUT, attempt)
        .await
        .map_err(|_| unavailable().into())
}

/// Records the request in `weft_api_requests_total` and returns the response.
pub(crate) fn finish(op: &'static str, result: ApiResult<HttpResponse>) -> HttpResponse {
    let response = result.unwrap_or_else(|e| *e.0);
    crate::metrics::api_request(op, response.status().as_u16());
    response
}
