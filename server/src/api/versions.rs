//! Versions: list, take one, read one (as JSON or as an update), restore one.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use weft_crdt::DocName;

use super::documents::{doc_from, existing, refused, render, ContentQuery};
use super::{ask, finish, store_error, target, ApiResult, Problem, Version};
use crate::access::{Access, Gate};
use crate::doc::Registry;
use crate::http::problem::problem;
use crate::store::VersionKind;

/// A document's versions, newest first.
#[derive(Serialize, ToSchema)]
pub struct VersionList {
    pub versions: Vec<Version>,
}

/// Body of `POST .../versions`.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct NewVersionRequest {
    #[serde(default)]
    pub label: Option<String>,
}

/// Result of a restore.
#[derive(Serialize, ToSchema)]
pub struct Restored {
    /// The version restored.
    pub restored: i64,
    /// False when the document already had that content.
    pub changed: bool,
    /// The version taken of the restored state (kind `restore`).
    pub version: Version,
}

const LABEL_MAX: usize = 200;

fn version_id(req: &HttpRequest) -> ApiResult<i64> {
    let id = req
        .match_info()
        .get("id")
        .and_then(|s| s.parse().ok())
        .filter(|id| *id > 0)
        .ok_or_else(|| {
            problem(
                StatusCode::BAD_REQUEST,
                "invalid-version",
                "a version id is a positive integer",
            )
        })?;
    Ok(id)
}

/// The state of version `id` as one update.
async fn version_state(registry: &Registry, name: &DocName, id: i64) -> ApiResult<Vec<u8>> {
    let Some((_, parts)) = registry
        .store()
        .version_parts(name, id)
        .await
        .map_err(store_error)?
    else {
        return Err(problem(
            StatusCode::NOT_FOUND,
            "version-not-found",
            &format!("document {:?} has no version {id}", name.as_str()),
        )
        .into());
    };
    let state = tokio::task::spawn_blocking(move || weft_crdt::snapshot::compact(&parts))
        .await
        .map_err(|_| super::unavailable())?
        .map_err(|e| {
            problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                "corrupt-version",
                &e.to_string(),
            )
        })?;
    Ok(state)
}

/// List a document's versions, newest first.
#[utoipa::path(get, path = "/api/v1/documents/{name}/versions", tag = "versions", operation_id = "list_versions",
    params(("name" = String, Path, description = "Document name (a `/` as `%2F`)")),
    responses(
        (status = 200, description = "Versions", body = VersionList),
        (status = 404, description = "No such document", body = Problem),
    ))]
pub async fn list(
    req: HttpRequest,
    registry: web::Data<Registry>,
    gate: web::Data<Gate>,
) -> HttpResponse {
    finish(
        "versions_list",
        async {
            let name = target(&req, &gate, Access::Read).await?;
            existing(&registry, &gate, &name).await?;
            let versions = registry
                .store()
                .versions(&name)
                .await
                .map_err(store_error)?
                .into_iter()
                .map(Version::from)
                .collect();
            Ok(HttpResponse::Ok().json(VersionList { versions }))
        }
        .await,
    )
}

/// Take a version of the document's current (committed) state, with an optional label.
#[utoipa::path(post, path = "/api/v1/documents/{name}/versions", tag = "versions", operation_id = "create_version",
    params(("name" = String, Path, description = "Document name (a `/` as `%2F`)")),
    request_body = NewVersionRequest,
    responses(
        (status = 201, description = "The new version", body = Version),
        (status = 404, description = "No such document", body = Problem),
    ))]
pub async fn create(
    req: HttpRequest,
    body: Option<web::Json<NewVersionRequest>>,
    registry: web::Data<Registry>,
    gate: web::Data<Gate>,
) -> HttpResponse {
    finish(
        "versions_create",
        async {
            let name = target(&req, &gate, Access::Write).await?;
            let label = body.map(|b| b.into_inner()).unwrap_or_default().label;
            if label.as_ref().is_some_and(|l| l.len() > LABEL_MAX) {
                return Err(problem(
                    StatusCode::BAD_REQUEST,
                    "invalid-label",
                    &format!("a label has at most {LABEL_MAX} bytes"),
                )
                .into());
            }
            existing(&registry, &gate, &name).await?;
            let version = ask(&registry, &name, |doc| {
                let label = label.clone();
                async move { doc.save_version(VersionKind::Manual, label).await }
            })
            .await?
            .map_err(store_error)?;
            Ok(HttpResponse::Created().json(Version::from(version)))
        }
        .await,
    )
}

/// A version's content, like `GET .../content`.
#[utoipa::path(get, path = "/api/v1/documents/{name}/versions/{id}/content", tag = "versions", operation_id = "get_version_content",
    params(
        ("name" = String, Path, description = "Document name (a `/` as `%2F`)"),
        ("id" = i64, Path, description = "Version id"),
        ContentQuery,
    ),
    responses(
        (status = 200, description = "Content as JSON (or text/plain with type=text)", body = Object),
        (status = 404, description = "No such document or version", body = Problem),
    ))]
pub async fn content(
    req: HttpRequest,
    query: web::Query<ContentQuery>,
    registry: web::Data<Registry>,
    gate: web::Data<Gate>,
) -> HttpResponse {
    finish(
        "version_content",
        async {
            let name = target(&req, &gate, Access::Read).await?;
            let id = version_id(&req)?;
            let state = version_state(&registry, &name, id).await?;
            render(doc_from(state).await?, &query).await
        }
        .await,
    )
}

/// A version's state as one Yjs v1 update (to preview it in an editor).
#[utoipa::path(get, path = "/api/v1/documents/{name}/versions/{id}/update", tag = "versions", operation_id = "get_version_update",
    params(
        ("name" = String, Path, description = "Document name (a `/` as `%2F`)"),
        ("id" = i64, Path, description = "Version id"),
    ),
    responses(
        (status = 200, description = "A Yjs v1 update", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 404, description = "No such document or version", body = Problem),
    ))]
pub async fn update(
    req: HttpRequest,
    registry: web::Data<Registry>,
    gate: web::Data<Gate>,
) -> HttpResponse {
    finish(
        "version_update",
        async {
            let name = target(&req, &gate, Access::Read).await?;
            let id = version_id(&req)?;
            let state = version_state(&registry, &name, id).await?;
            Ok(HttpResponse::Ok()
                .content_type("application/octet-stream")
                .body(state))
        }
        .await,
    )
}

/// Restore a version: the live document gets one new update that makes its content equal to
/// the version's, so connected clients converge to it without reloading. A version of the
/// restored state is taken (kind `restore`) before the answer.
#[utoipa::path(post, path = "/api/v1/documents/{name}/versions/{id}/restore", tag = "versions", operation_id = "restore_version",
    params(
        ("name" = String, Path, description = "Document name (a `/` as `%2F`)"),
        ("id" = i64, Path, description = "Version id"),
    ),
    responses(
        (status = 200, description = "Restored", body = Restored),
        (status = 404, description = "No such document or version", body = Problem),
    ))]
pub async fn restore(
    req: HttpRequest,
    registry: web::Data<Registry>,
    gate: web::Data<Gate>,
) -> HttpResponse {
    finish(
        "version_restore",
        async {
            let name = target(&req, &gate, Access::Write).await?;
            let id = version_id(&req)?;
            existing(&registry, &gate, &name).await?;
            let state = version_state(&registry, &name, id).await?;
            let changed = ask(&registry, &name, |doc| {
                let state = state.clone();
                async move {
                    let target = weft_crdt::snapshot::rebuild(&[state]).ok()?;
                    doc.restore(target).await
                }
            })
            .await?
            .map_err(refused)?;
            // The restored state becomes a version of its own before we answer, so a client
            // that lists versions right after sees it.
            let label = format!("restored version {id}");
            let version = ask(&registry, &name, |doc| {
                let label = label.clone();
                async move { doc.save_version(VersionKind::Restore, Some(label)).await }
            })
            .await?
            .map_err(store_error)?;
            if let Some(webhooks) = registry.webhooks() {
                webhooks.event(
                    "document.restored",
                    &name,
                    json!({ "version": id, "new_version": version.id }),
                );
            }
            Ok(HttpResponse::Ok().json(Restored {
                restored: id,
                changed,
                version: Version::from(version),
            }))
        }
        .await,
    )
}
