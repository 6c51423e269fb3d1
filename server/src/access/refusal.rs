//! Why a request was refused at admission, and the one place each refusal becomes an HTTP
//! status, a stable problem `code` and a `weft_refusals_total` reason.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::HttpResponse;

use super::authorize::DenyStatus;
use super::limits::LimitHit;
use super::token::TokenError;
use crate::http::problem;

/// Why a request was refused before the upgrade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// 403: the `Origin` header is not in `WEFT_ALLOWED_ORIGINS`.
    Origin,
    /// 401: a secret is set and the request carries no token.
    MissingToken,
    /// 401: the token is malformed, wrongly signed or expired.
    BadToken(TokenError),
    /// 401: the token was revoked (`POST /api/v1/tokens/revoked`, `weft token revoke`).
    Revoked,
    /// 403: the token is valid but does not cover this document.
    OutOfScope,
    /// 429: too many open connections to this document or from this address.
    Limit(LimitHit),
    /// 401 or 403: the embedder's [`Authorize`](super::Authorize) hook said no, with a reason
    /// for the client.
    Denied { status: DenyStatus, reason: String },
}

impl Refusal {
    /// The `reason` label of `weft_refusals_total` (the problem `code`, in snake case).
    pub fn metric_reason(&self) -> &'static str {
        match self {
            Refusal::Origin => "origin_not_allowed",
            Refusal::MissingToken => "token_required",
            Refusal::BadToken(TokenError::Expired) => "token_expired",
            Refusal::BadToken(TokenError::Invalid) => "token_invalid",
            Refusal::Revoked => "token_revoked",
            Refusal::OutOfScope => "document_not_allowed",
            Refusal::Limit(LimitHit::PerDocument) => "too_many_connections_to_document",
            Refusal::Limit(LimitHit::PerIp) => "too_many_connections_from_address",
            Refusal::Denied {
                status: DenyStatus::Unauthorized,
                ..
            } => "unauthenticated",
            Refusal::Denied {
                status: DenyStatus::Forbidden,
                ..
            } => "access_denied",
        }
    }

    /// The stable problem `code` (also the reason a Hocuspocus provider's
    /// `authenticationFailed` event carries).
    pub fn code(&self) -> &'static str {
        self.parts().1
    }

    /// The HTTP answer (problem+json), in one place.
    pub fn response(&self) -> HttpResponse {
        let (status, code, detail) = self.parts();
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

    /// Status, code and detail (the detail never echoes the token).
    fn parts(&self) -> (StatusCode, &'static str, &str) {
        match self {
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
            Refusal::Revoked => (
                StatusCode::UNAUTHORIZED,
                "token-revoked",
                "this token was revoked; ask for a new one",
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
            Refusal::Denied { status, reason } => match status {
                DenyStatus::Unauthorized => {
                    (StatusCode::UNAUTHORIZED, "unauthenticated", reason.as_str())
                }
                DenyStatus::Forbidden => (StatusCode::FORBIDDEN, "access-denied", reason.as_str()),
            },
        }
    }
}
