//! Documents: create, list, metadata, delete, content, state as an update, apply an update.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use weft_crdt::codec::decode_update;
use weft_crdt::DocName;
use yrs::updates::decoder::Decode;
use yrs::{StateVector, Text, Transact};

use super::{ask, authorize, finish, not_found, store_error, target, ApiResult, Document, Problem};
use crate::access::{Access, ApiTarget, Gate};
use crate::doc::{Refused, Registry};
use crate::http::problem::problem;

/// Body of `POST /api/v1/documents`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDocument {
    /// The document's name (1–256 bytes: letters, digits and `-_.~/`).
    pub name: String,
    /// Initial content as a Yjs v1 update, base64.
    #[serde(default)]
    pub update: Option<String>,
    /// Initial content as plain text in a `Y.Text`.
    #[serde(default)]
    pub text: Option<TextContent>,
}

/// Plain text for the `Y.Text` named `key`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TextContent {
    pub key: String,
    pub value: String,
}

/// A page of documents.
#[derive(Serialize, ToSchema)]
pub struct DocumentList {
    pub documents: Vec<Document>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Result of `POST .../update`.
#[derive(Serialize, ToSchema)]
pub struct Applied {
    /// False when the update added nothing the document did not already have.
    pub applied: bool,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only names starting with this.
    pub prefix: Option<String>,
    /// Page size, 1–1000 (default 100).
    pub limit: Option<u32>,
    /// From a previous page's `next_cursor`.
    pub cursor: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ContentQuery {
    /// `text` for the plain text of one root type (with `key`); `prosemirror`, `markdown` or
    /// `html` for a y-prosemirror / Tiptap `Y.XmlFragment` (`key`, default `default`);
    /// default: every root as JSON.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// The root type for `type=text` (required) and the rich formats (default `default`).
    pub key: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UpdateQuery {
    /// A Yjs state vector (base64, standard or URL-safe): answer only what it lacks.
    pub sv: Option<String>,
}

fn invalid_update(detail: &str) -> HttpResponse {
    problem(StatusCode::BAD_REQUEST, "invalid-update", detail)
}

pub(crate) fn decode_base64(raw: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    URL_SAFE_NO_PAD
        .decode(raw.trim_end_matches('='))
        .or_else(|_| STANDARD.decode(raw))
        .ok()
}

/// The answer to an update the actor refused.
pub(crate) fn refused(r: Refused) -> HttpResponse {
    match r {
        Refused::Invalid(e) => invalid_update(&e.to_string()),
        Refused::TooLarge { .. } => problem(
            StatusCode::PAYLOAD_TOO_LARGE,
            "document-too-large",
            &r.to_string(),
        ),
        Refused::StoreBehind | Refused::Recovering | Refused::Unavailable => {
            super::retry_later(problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                &r.to_string(),
            ))
        }
    }
}

/// The document's metadata, or 404.
pub(crate) async fn existing(
    registry: &Registry,
    gate: &Gate,
    name: &DocName,
) -> ApiResult<Document> {
    match registry.store().meta(name).await.map_err(store_error)? {
        Some(meta) => Ok(Document::new(meta, gate.connections(name))),
        None => Err(not_found(name).into()),
    }
}

/// Applies `update` through the document's actor (committed and broadcast like a client's).
pub(crate) async fn apply(registry: &Registry, name: &DocName, update: &[u8]) -> ApiResult<bool> {
    // Decoded per attempt: a `yrs::Update` cannot be cloned.
    decode_update(update).map_err(|e| invalid_update(&e.to_string()))?;
    ask(registry, name, |doc| async move {
        let update = decode_update(update).ok()?;
        doc.apply(update).await
    })
    .await?
    .map_err(|r| refused(r).into())
}

/// Create a document, optionally with initial content.
#[utoipa::path(post, path = "/api/v1/documents", tag = "documents", operation_id = "create_document",
    request_body = CreateDocument,
    responses(
        (status = 201, description = "Created", body = Document),
        (status = 400, description = "Invalid name or content", body = Problem),
        (status = 409, description = "A document with this name exists", body = Problem),
    ))]
pub async fn create(
    req: HttpRequest,
    body: web::Json<CreateDocument>,
    registry: web::Data<Registry>,
    gate: web::Data<Gate>,
) -> HttpResponse {
    finish(
        "create",
        async {
            let body = body.into_inner();
            let name = DocName::parse(&body.name)
                .map_err(|e| problem(StatusCode::BAD_REQUEST, "invalid-name", &e.to_string()))?;
            authorize(&req, &gate, ApiTarget::Doc(&name), Access::Write).await?;
            let initial = match (body.update, body.text) {
                (Some(_), Some(_)) => {
                    return Err(problem(
                        StatusCode::BAD_REQUEST,
                        "invalid-content",
                        "give either update or text, not both",
                    )
                    .into())
                }
                (Some(b64), None) => Some(
                    decode_base64(&b64)
                        .ok_or_else(|| invalid_update("update is not valid base64"))?,
                ),
                (None, Some(text)) => {
                    let doc = yrs::Doc::new();
                    let root = doc.get_or_insert_text(text.key.as_str());
                    let mut txn = doc.transact_mut();
                    root.push(&mut txn, &text.value);
                    Some(txn.encode_update_v1())
                }
                (None, None) => None,
            };
            if let Some(update) = &initial {
                decode_update(update).map_err(|e| invalid_update(&e.to_string()))?;
            }
            let store = registry.store();
            if !store.create(&name).await.map_err(store_error)? {
                return Err(problem(
                    StatusCode::CONFLICT,
                    "document-exists",
                    &format!("a document named {:?} exists", name.as_str()),
                )
                .into());
            }
            if let Some(update) = &initial {
                if let Err(e) = apply(&registry, &name, update).await {
                    // Creation is all or nothing.
                    let _ = ask(&registry, &name, |doc| async move { doc.delete().await }).await;
                    return Err(e);
                }
            }
            if let Some(webhooks) = registry.webhooks() {
                webhooks.event("document.created", &name, json!({}));
            }
            let doc = existing(&registry, &gate, &name).await?;
            // Relative to where the API is mounted (an embedding app may put it under a scope).
            let location = format!(
                "{}/{}",
                req.path().trim_end_matches('/'),
                percent_encoding::utf8_percent_encode(
                    name.as_str(),
                    percent_encoding::NON_ALPHANUMERIC
                )
            );
            Ok(HttpResponse::Created()
                .insert_header((header::LOCATION, location))
                .json(doc))
        }
        .await,
    )
}

/// List documents by name, with a prefix filter and cursor pagination.
#[utoipa::path(get, path = "/api/v1/documents", tag = "documents", operation_id = "list_documents",
    params(ListQuery),
    responses((status = 200, description = "A page of documents", body = DocumentList)))]
pub async fn list(
    req: HttpRequest,
    query: web::Query<ListQuery>,
    registry: web::Data<Registry>,
    gate: web::Data<Gate>,
) -> HttpResponse {
    finish(
        "list",
        async {
            let prefix = query.prefix.clone().unwrap_or_default();
            authorize(&req, &gate, ApiTarget::Prefix(&prefix), Access::Read).await?;
            let limit = query.limit.unwrap_or(100).clamp(1, 1000);
            let mut page = registry
                .store()
                .list(&prefix, query.cursor.as_deref(), limit + 1)
                .await
                .map_err(store_error)?;
            let next_cursor = if page.len() > limit as usize {
                page.truncate(limit as usize);
                page.last().map(|m| m.name.clone())
            } else {
                None
            };
            let documents = page
                .into_iter()
                .map(|meta| {
                    let connections = DocName::parse(&meta.name)
                        .map(|n| gate.connections(&n))
                        .unwrap_or(0);
                    Document::new(meta, connections)
                })
                .collect();
            Ok(HttpResponse::Ok().json(DocumentList {
                documents,
                next_cursor,
            }))
        }
        .await,
    )
}

/// A document's metadata.
#[utoipa::path(get, path = "/api/v1/documents/{name}", tag = "documents", operation_id = "get_document",
    params(("name" = String, Path, description = "Document name (a `/` as `%2F`)")),
    responses(
        (status = 200, description = "Metadata", body = Document),
        (status = 404, description = "No such document", body = Problem),
    ))]
pub async fn meta(
    req: HttpRequest,
    registry: web::Data<Registry>,
    gate: web::Data<Gate>,
) -> HttpResponse {
    finish(
        "meta",
        async {
            let name = target(&req, &gate, Access::Read).await?;
            let doc = existing(&registry, &gate, &name).await?;
            Ok(HttpResponse::Ok().json(doc))
        }
        .await,
    )
}

/// Delete a document: its live sessions are closed with 4404 and every stored trace
/// (log, snapshot, versions) is removed.
#[utoipa::path(delete, path = "/api/v1/documents/{name}", tag = "documents", operation_id = "delete_document",
    params(("name" = String, Path, description = "Document name (a `/` as `%2F`)")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such document", body = Problem),
    ))]
pub async fn delete(
    req: HttpRequest,
    registry: web::Data<Registry>,
    gate: web::Data<Gate>,
) -> HttpResponse {
    finish(
        "delete",
        async {
            let name = target(&req, &gate, Access::Write).await?;
            existing(&registry, &gate, &name).await?;
            let deleted = ask(&registry, &name, |doc| async move { doc.delete().await })
                .await?
                .map_err(store_error)?;
            if !deleted {
                return Err(not_found(&name).into());
            }
            if let Some(webhooks) = registry.webhooks() {
                webhooks.event("document.deleted", &name, json!({}));
            }
            Ok(HttpResponse::NoContent().finish())
        }
        .await,
    )
}

/// Builds a yrs document from one update, off the async threads.
pub(crate) async fn doc_from(state: Vec<u8>) -> ApiResult<yrs::Doc> {
    let doc = tokio::task::spawn_blocking(move || weft_crdt::snapshot::rebuild(&[state]))
        .await
        .map_err(|_| super::unavailable())?
        .map_err(|e| {
            problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                "corrupt-document",
                &e.to_string(),
            )
        })?;
    Ok(doc)
}

/// The content as JSON (or one root's plain text with `type=text&key=NAME`).
pub(crate) async fn render(doc: yrs::Doc, query: &ContentQuery) -> ApiResult<HttpResponse> {
    match query.kind.as_deref() {
        None | Some("json") => {
            let json = tokio::task::spawn_blocking(move || weft_crdt::content::to_json(&doc))
                .await
                .map_err(|_| super::unavailable())?;
            Ok(HttpResponse::Ok().json(json))
        }
        Some("text") => {
            let key = query.key.clone().ok_or_else(|| {
                problem(
                    StatusCode::BAD_REQUEST,
                    "key-required",
                    "type=text needs key=NAME (the root type to read)",
                )
            })?;
            let text = weft_crdt::content::to_text(&doc, &key).ok_or_else(|| {
                problem(
                    StatusCode::NOT_FOUND,
                    "root-not-found",
                    &format!("the document has no root type named {key:?}"),
                )
            })?;
            Ok(HttpResponse::Ok()
                .content_type("text/plain; charset=utf-8")
                .body(text))
        }
        Some(rich @ ("prosemirror" | "markdown" | "html")) => {
            let format = rich
                .parse()
                .map_err(|e: String| problem(StatusCode::BAD_REQUEST, "invalid-type", &e))?;
            super::content::export(doc, format, query.key.clone()).await
        }
        Some(other) => Err(problem(
            StatusCode::BAD_REQUEST,
            "invalid-type",
            &format!("type must be json, text, prosemirror, markdown or html, not {other:?}"),
        )
        .into()),
    }
}

/// The document's content: each root type by name (text as a string, map as an object, array
/// as a list, XML fragment as a list of `{tag, attributes, children}` / `{text}` nodes), one
/// root's plain text, or a Tiptap / y-prosemirror field as ProseMirror JSON (equal to
/// y-prosemirror's `yXmlFragmentToProsemirrorJSON`), Markdown or HTML.
#[utoipa::path(get, path = "/api/v1/documents/{name}/content", tag = "documents", operation_id = "get_content",
    params(("name" = String, Path, description = "Document name (a `/` as `%2F`)"), ContentQuery),
    responses(
        (status = 200, description = "Content as JSON (text/plain with type=text, text/markdown with type=markdown, text/html with type=html)", body = Object),
        (status = 404, description = "No such document or root", body = Problem),
        (status = 409, description = "The root type holds another kind of content than the type asks for", body = Problem),
    ))]
pub async fn content(
    req: HttpRequest,
    query: web::Query<ContentQuery>,
    registry: web::Data<Registry>,
    gate: web::Data<Gate>,
) -> HttpResponse {
    finish(
        "content",
        async {
            let name = target(&req, &gate, Access::Read).await?;
            existing(&registry, &gate, &name).await?;
            let state = ask(&registry, &name, |doc| async move { doc.read(None).await })
                .await?
                .map_err(refused)?;
            render(doc_from(state).await?, &query).await
        }
        .await,
    )
}

/// The document's state as one Yjs v1 update (with `sv`, only what that state vector lacks).
#[utoipa::path(get, path = "/api/v1/documents/{name}/update", tag = "documents", operation_id = "get_update",
    params(("name" = String, Path, description = "Document name (a `/` as `%2F`)"), UpdateQuery),
    responses(
        (status = 200, description = "A Yjs v1 update", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 400, description = "Invalid state vector", body = Problem),
        (status = 404, description = "No such document", body = Problem),
    ))]
pub async fn get_update(
    req: HttpRequest,
    query: web::Query<UpdateQuery>,
    registry: web::Data<Registry>,
    gate: web::Data<Gate>,
) -> HttpResponse {
    finish(
        "get_update",
        async {
            let name = target(&req, &gate, Access::Read).await?;
            let sv = match &query.sv {
                Some(raw) => Some(
                    decode_base64(raw)
                        .and_then(|b| StateVector::decode_v1(&b).ok())
                        .ok_or_else(|| {
                            problem(
                                StatusCode::BAD_REQUEST,
                                "invalid-state-vector",
                                "sv must be a base64 Yjs state vector",
                            )
                        })?,
                ),
                None => None,
            };
            existing(&registry, &gate, &name).await?;
            let update = ask(&registry, &name, |doc| {
                let sv = sv.clone();
                async move { doc.read(sv).await }
            })
            .await?
            .map_err(refused)?;
            Ok(HttpResponse::Ok()
                .content_type("application/octet-stream")
                .body(update))
        }
        .await,
    )
}

/// Apply a Yjs v1 update (the raw body): committed, then broadcast to every live session.
#[utoipa::path(post, path = "/api/v1/documents/{name}/update", tag = "documents", operation_id = "post_update",
    params(("name" = String, Path, description = "Document name (a `/` as `%2F`)")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses(
        (status = 200, description = "Committed", body = Applied),
        (status = 400, description = "Not a valid update", body = Problem),
        (status = 404, description = "No such document", body = Problem),
        (status = 413, description = "Body or document too large", body = Problem),
    ))]
pub async fn post_update(
    req: HttpRequest,
    body: web::Bytes,
    registry: web::Data<Registry>,
    gate: web::Data<Gate>,
) -> HttpResponse {
    finish(
        "post_update",
        async {
            let name = target(&req, &gate, Access::Write).await?;
            existing(&registry, &gate, &name).await?;
            let applied = apply(&registry, &name, &body).await?;
            Ok(HttpResponse::Ok().json(Applied { applied }))
        }
        .await,
    )
}
