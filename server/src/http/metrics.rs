//! `GET /metrics`: the Prometheus text exposition of everything `crate::metrics` records.

use actix_web::{web, HttpResponse};
use metrics_exporter_prometheus::PrometheusHandle;

pub async fn render(handle: web::Data<PrometheusHandle>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(crate::metrics::render(&handle))
}
