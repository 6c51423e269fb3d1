//! `/healthz`: the process answers. `/readyz`: the store answers, no document is holding
//! updates it failed to commit (503 `degraded` otherwise; load balancers use it) and, in a
//! cluster, this node receives the others' notifications.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::doc::Registry;
use crate::http::problem::problem;

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok\n")
}

pub async fn readyz(registry: web::Data<Registry>) -> HttpResponse {
    if registry.is_shutting_down() {
        return problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting-down",
            "server is shutting down",
        );
    }
    if let Some(cluster) = registry.cluster() {
        if !cluster.is_listening() {
            return problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "cluster-not-listening",
                "this node cannot receive the other nodes' updates (PostgreSQL LISTEN); it reconnects by itself",
            );
        }
    }
    let failing = registry.failing_documents();
    match registry.store().ping().await {
        Ok(()) if failing == 0 => HttpResponse::Ok().json(json!({
            "status": "ready",
            "store": registry.store().kind(),
            "documents_loaded": registry.loaded(),
            "node": registry.cluster().map(|c| c.node()),
            "cluster_nodes": registry.cluster().map(|c| c.members()),
        })),
        Ok(()) => HttpResponse::ServiceUnavailable().json(json!({
            "status": "degraded",
            "store": registry.store().kind(),
            "documents_loaded": registry.loaded(),
            "documents_failing_to_commit": failing,
        })),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "store-unavailable",
                "the document store does not answer",
            )
        }
    }
}
