//! Plain HTTP: health checks, the web client's files, and error responses.
//!
//! - [`health`]: `/healthz` (process alive) and `/readyz` (store answers).
//! - [`metrics`]: `/metrics` in the Prometheus text format (names in `crate::metrics`).
//! - [`web`]: the built web client at `/`, with the page fallbacks a single-page app needs.
//! - [`problem`]: `application/problem+json` errors with stable codes.
//! - [`listener`]: the listening socket (a deep accept backlog).

pub mod health;
pub mod listener;
pub mod metrics;
pub mod problem;
pub mod web;
