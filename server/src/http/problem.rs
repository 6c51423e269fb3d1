//! Errors as `application/problem+json` (RFC 9457) with a stable `code` clients can match on.

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use serde::Serialize;

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    code: &'a str,
    detail: &'a str,
}

/// A problem response; `code` is stable, `detail` is for humans.
pub fn problem(status: StatusCode, code: &str, detail: &str) -> HttpResponse {
    let body = Problem {
        kind: format!("https://weft.dev/problems/{code}"),
        title: status.canonical_reason().unwrap_or("error"),
        status: status.as_u16(),
        code,
        detail,
    };
    HttpResponse::build(status)
        .content_type("application/problem+json")
        .json(body)
}

pub fn bad_request(code: &str, detail: &str) -> HttpResponse {
    problem(StatusCode::BAD_REQUEST, code, detail)
}
