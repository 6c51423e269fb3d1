//! # Weft
//!
//! A Yjs sync server: any editor using the stock `y-websocket` provider connects to
//! `ws://HOST:PORT/ws/{document}`. Every document is one actor task owning its `yrs` document;
//! every update it integrates is committed to the store **before** it is broadcast.
//!
//! ```text
//!  client ──frame──► ws::session ──[Inbound]──► doc::actor ──(1) commit──► store
//!                     (decode,                  (weft_crdt::Document       (group commit)
//!                      close codes)              → Effects)
//!                                                  └──(2) send──► every session's bounded queue ──► clients
//! ```
//!
//! Modules, in data-flow order: [`ws`] (upgrade, session loop, close codes), [`hocuspocus`]
//! (the Hocuspocus provider protocol on `/hocuspocus`, same actors), [`doc`] (actor,
//! handle, registry), [`store`] (trait, embedded SQLite), [`http`] (health, web client),
//! [`config`] (flags and env), [`tls`] (native HTTPS / `wss://`).
//!
//! [`run`] is the whole server as a function of (configuration, listener, shutdown signal):
//! `main` and the black-box tests both call it.

pub mod access;
pub mod api;
pub mod config;
pub mod doc;
pub mod hocuspocus;
pub mod hooks;
pub mod http;
pub mod metrics;
pub mod store;
pub mod tls;
pub mod webhooks;
pub mod ws;

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::{web, App, HttpServer};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::{ServeArgs, StoreArgs};
use crate::doc::versions::VersionPolicy;
use crate::doc::{ActorSettings, Registry};
use crate::store::{EmbeddedStore, PgSettings, PostgresStore, Store};
use crate::ws::WsSettings;

/// Why the server could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("store: {0}")]
    Store(#[from] store::StoreError),
    #[error("tls: {0}")]
    Tls(#[from] tls::TlsError),
    #[error("http server: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Config(String),
}

/// Opens the store the configuration names (PostgreSQL with a database URL, else embedded).
pub async fn open_store(args: &StoreArgs) -> Result<Arc<dyn Store>, ServeError> {
    Ok(match &args.database_url {
        Some(url) => Arc::new(PostgresStore::connect(&pg_settings(args, url)).await?),
        None => Arc::new(EmbeddedStore::open(&args.data_dir, args.sqlite_sync)?),
    })
}

/// The PostgreSQL settings of a store configuration.
pub fn pg_settings(args: &StoreArgs, url: &str) -> PgSettings {
    PgSettings {
        url: url.to_owned(),
        pool_size: args.pg_pool_size,
        connect_timeout: args.pg_connect_timeout,
        statement_timeout: args.pg_statement_timeout,
    }
}

/// Runs Weft on `listener` until `shutdown` is cancelled, then shuts down in order:
/// stop accepting → flush every document and close its sessions with 1001 → stop HTTP.
pub async fn run(
    args: ServeArgs,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    // Before anything else: a TLS misconfiguration must stop start-up, never fall back to HTTP.
    let tls = args.tls.server_config()?;
    let store = open_store(&args.store).await?;
    let webhooks = webhooks::Webhooks::start(&args.webhooks, store.clone(), None)
        .map_err(ServeError::Config)?;
    let registry = Registry::with_webhooks(
        store.clone(),
        ActorSettings {
            queue: args.doc_queue,
            doc_idle: args.doc_idle,
            compact_after: args.compact_after,
            max_unsaved: args.max_unsaved,
            max_awareness_per_doc: args.access.max_awareness_per_doc,
            max_awareness_per_session: args.access.max_awareness_ids_per_conn,
            max_pending_bytes: args.max_pending_bytes,
            max_document_size: args.max_document_size,
            versions: VersionPolicy {
                every_updates: args.version_every_updates,
                interval: args.version_interval,
                keep: args.versions_keep,
            },
        },
        webhooks,
    );
    let ws_settings = WsSettings {
        max_message_size: args.max_message_size,
        session_queue: args.session_queue,
        ping_interval: args.ping_interval,
        idle_timeout: args.idle_timeout,
    };
    let gate = access::Gate::new(&args.access);
    let api_settings = api::ApiSettings {
        max_body: args.max_api_body,
    };
    let web_dir = args.web_dir.clone();
    let prometheus = metrics::install();
    let addr = listener.local_addr()?;
    let app_registry = registry.clone();
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(app_registry.clone()))
            .app_data(web::Data::new(ws_settings.clone()))
            .app_data(web::Data::new(gate.clone()))
            .app_data(web::Data::new(prometheus.clone()))
            .route("/ws/{doc:.*}", web::get().to(ws::ws_route))
            .route("/hocuspocus", web::get().to(hocuspocus::hocuspocus_route))
            .route("/healthz", web::get().to(http::health::healthz))
            .route("/readyz", web::get().to(http::health::readyz))
            .route("/metrics", web::get().to(http::metrics::render))
            .route("/api/v1/tokens", web::post().to(access::mint::mint_route))
            .service(api::scope(api_settings.clone()))
            .configure(|cfg| http::web::configure(cfg, &web_dir))
    })
    .disable_signals()
    .shutdown_timeout(5)
    // A connection must finish its TLS handshake and send its request head (the upgrade) in
    // time, so idle sockets cannot pile up before the gate has even seen them.
    .client_request_timeout(args.handshake_timeout)
    .tls_handshake_timeout(args.handshake_timeout);
    let (http, ws) = if tls.is_some() {
        ("https", "wss")
    } else {
        ("http", "ws")
    };
    server = match tls {
        Some(config) => server.listen_rustls_0_23(listener, config)?,
        None => server.listen(listener)?,
    };
    if let Some(workers) = args.workers {
        server = server.workers(workers);
    }
    let server = server.run();
    let handle = server.handle();
    info!(%addr, store = store.kind(), "weft listening on {http}://{addr} (WebSocket: {ws}://{addr}/ws/{{document}})");
    let server_task = tokio::spawn(server);

    shutdown.cancelled().await;
    info!("shutting down: no new connections, flushing documents");
    handle.pause().await;
    if !registry.shutdown(args.shutdown_deadline).await {
        warn!(deadline = ?args.shutdown_deadline, "some documents did not finish flushing in time");
    }
    handle.stop(true).await;
    let _ = server_task.await;
    info!("shutdown complete");
    Ok(())
}
