//! Rich content in and out: a document's `Y.XmlFragment` as ProseMirror JSON, Markdown or HTML
//! (`GET .../content?type=`, rendered by `weft_crdt::content::convert`), and content written
//! from those formats or plain text (`PUT` replaces, `POST` appends).
//!
//! An import is planned on a copy of the committed state and sent to the document's actor as
//! one update, the same path as `POST .../update`: committed, then broadcast, so open editors
//! see it at once. A version of the document is taken before a replace.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use utoipa::IntoParams;
use weft_crdt::content::convert::{self, ConvertError};
use weft_crdt::content::{Format, Mode};

use super::documents::{apply, doc_from, existing, refused, Applied};
use super::{ask, finish, store_error, target, unavailable, ApiResult, Problem};
use crate::access::{Access, Gate};
use crate::doc::Registry;
use crate::http::problem::problem;
use crate::store::VersionKind;

/// The root type rich formats read and write when no `key` is given (Tiptap's and
/// y-prosemirror's default field).
pub const DEFAULT_KEY: &str = "default";

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// `markdown`, `html`, `prosemirror` (JSON) or `text` (plain text into a `Y.Text`).
    #[serde(rename = "type")]
    pub kind: String,
    /// The root type to write (default `default`; required for `type=text`).
    pub key: Option<String>,
}

fn invalid_type(detail: &str) -> HttpResponse {
    problem(StatusCode::BAD_REQUEST, "invalid-type", detail)
}

/// The answer to a conversion that cannot be done.
pub(crate) fn convert_error(e: ConvertError) -> HttpResponse {
    let detail = e.to_string();
    match e {
        ConvertError::NoRoot(_) => problem(StatusCode::NOT_FOUND, "root-not-found", &detail),
        ConvertError::WrongKind { .. } => problem(StatusCode::CONFLICT, "wrong-root-type", &detail),
        ConvertError::NotJson(_) | ConvertError::Invalid(_) | ConvertError::TooDeep => {
            problem(StatusCode::BAD_REQUEST, "invalid-content", &detail)
        }
    }
}

/// Root `key` (default [`DEFAULT_KEY`]) of `doc` in a rich format, for `GET .../content`.
pub(crate) async fn export(
    doc: yrs::Doc,
    format: Format,
    key: Option<String>,
) -> ApiResult<HttpResponse> {
    let key = key.unwrap_or_else(|| DEFAULT_KEY.to_string());
    let body = tokio::task::spawn_blocking(move || convert::export(&doc, &key, format))
        .await
        .map_err(|_| unavailable())?
        .map_err(convert_error)?;
    Ok(HttpResponse::Ok()
        .content_type(format.media_type())
        .body(body))
}

async fn import(
    req: HttpRequest,
    query: ImportQuery,
    body: web::Bytes,
    registry: &Registry,
    gate: &Gate,
    mode: Mode,
) -> ApiResult<HttpResponse> {
    let name = target(&req, gate, Access::Write).await?;
    let format: Format = query.kind.parse().map_err(|e: String| invalid_type(&e))?;
    let key = match (&query.key, format) {
        (Some(k), _) => k.clone(),
        (None, Format::Text) => {
            return Err(problem(
                StatusCode::BAD_REQUEST,
                "key-required",
                "type=text needs key=NAME (the Y.Text to write)",
            )
            .into())
        }
        (None, _) => DEFAULT_KEY.to_string(),
    };
    let body = String::from_utf8(body.to_vec()).map_err(|_| {
        problem(
            StatusCode::BAD_REQUEST,
            "invalid-content",
            "the body is not UTF-8 text",
        )
    })?;
    existing(registry, gate, &name).await?;
    if mode == Mode::Replace {
        // What is replaced stays reachable: a version of it first.
        ask(registry, &name, |doc| async move {
            doc.save_version(VersionKind::Auto, Some("before content import".into()))
                .await
        })
        .await?
        .map_err(store_error)?;
    }
    let state = ask(registry, &name, |doc| async move { doc.read(None).await })
        .await?
        .map_err(refused)?;
    let copy = doc_from(state).await?;
    let update =
        tokio::task::spawn_blocking(move || convert::import(&copy, &key, format, &body, mode))
            .await
            .map_err(|_| unavailable())?
            .map_err(convert_error)?;
    let applied = apply(registry, &name, &update).await?;
    Ok(HttpResponse::Ok().json(Applied { applied }))
}

/// Replace a root type's content with the body, in `type` format. A version of the document is
/// taken first; the change is one update, committed and then broadcast to open editors.
#[utoipa::path(put, path = "/api/v1/documents/{name}/content", tag = "documents", operation_id = "put_content",
    params(("name" = String, Path, description = "Document name (a `/` as `%2F`)"), ImportQuery),
    request_body(content = String, description = "The content: Markdown, HTML, ProseMirror JSON (`{\"type\":\"doc\",...}`) or plain text", content_type = "text/plain"),
    responses(
        (status = 200, description = "Committed and broadcast", body = Applied),
        (status = 400, description = "Unknown type, or content that does not parse (ProseMirror JSON: the JSON path where it fails)", body = Problem),
        (status = 404, description = "No such document", body = Problem),
        (status = 409, description = "The root type holds another kind of content", body = Problem),
        (status = 413, description = "Body or document too large", body = Problem),
    ))]
pub async fn put(
    req: HttpRequest,
    query: web::Query<ImportQuery>,
    body: web::Bytes,
    registry: web::Data<Registry>,
    gate: web::Data<Gate>,
) -> HttpResponse {
    finish(
        "put_content",
        import(
            req,
            query.into_inner(),
            body,
            &registry,
            &gate,
            Mode::Replace,
        )
        .await,
    )
}

/// Append the body, in `type` format, to a root type's content: one update, committed and then
/// broadcast to open editors.
#[utoipa::path(post, path = "/api/v1/documents/{name}/content", tag = "documents", operation_id = "post_content",
    params(("name" = String, Path, description = "Document name (a `/` as `%2F`)"), ImportQuery),
    request_body(content = String, description = "The content: Markdown, HTML, ProseMirror JSON or plain text", content_type = "text/plain"),
    responses(
        (status = 200, description = "Committed and broadcast", body = Applied),
        (status = 400, description = "Unknown type, or content that does not parse", body = Problem),
        (status = 404, description = "No such document", body = Problem),
        (status = 409, description = "The root type holds another kind of content", body = Problem),
        (status = 413, description = "Body or document too large", body = Problem),
    ))]
pub async fn post(
    req: HttpRequest,
    query: web::Query<ImportQuery>,
    body: web::Bytes,
    registry: web::Data<Registry>,
    gate: web::Data<Gate>,
) -> HttpResponse {
    finish(
        "post_content",
        import(
            req,
            query.into_inner(),
            body,
            &registry,
            &gate,
            Mode::Append,
        )
        .await,
    )
}
