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
//! Modules, in data-flow order: [`ws`] (upgrade, session loop, close codes), [`doc`] (actor,
//! handle, registry), [`store`] (trait, embedded SQLite), [`http`] (health, web client),
//! [`config`] (flags and env).
//!
//! [`run`] is the whole server as a function of (configuration, listener, shutdown signal):
//! `main` and the black-box tests both call it.

pub mod config;
pub mod doc;
pub mod http;
pub mod store;
pub mod ws;

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::{web, App, HttpServer};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::ServeArgs;
use crate::doc::{ActorSettings, Registry};
use crate::store::{EmbeddedStore, Store};
use crate::ws::WsSettings;

/// Why the server could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("store: {0}")]
    Store(#[from] store::StoreError),
    #[error("http server: {0}")]
    Io(#[from] std::io::Error),
}

/// Opens the store the configuration names.
pub fn open_store(args: &ServeArgs) -> Result<Arc<dyn Store>, ServeError> {
    Ok(Arc::new(EmbeddedStore::open(
        &args.data_dir,
        args.sqlite_sync,
    )?))
}

/// Runs Weft on `listener` until `shutdown` is cancelled, then shuts down in order:
/// stop accepting → flush every document and close its sessions with 1001 → stop HTTP.
pub async fn run(
    args: ServeArgs,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    let store = open_store(&args)?;
    let registry = Registry::new(
        store.clone(),
        ActorSettings {
            queue: args.doc_queue,
            doc_idle: args.doc_idle,
            compact_after: args.compact_after,
            max_unsaved: args.max_unsaved,
        },
    );
    let ws_settings = WsSettings {
        max_message_size: args.max_message_size,
        session_queue: args.session_queue,
        ping_interval: args.ping_interval,
        idle_timeout: args.idle_timeout,
    };
    let web_dir = args.web_dir.clone();
    let addr = listener.local_addr()?;
    let app_registry = registry.clone();
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(app_registry.clone()))
            .app_data(web::Data::new(ws_settings.clone()))
            .route("/ws/{doc:.*}", web::get().to(ws::ws_route))
            .route("/healthz", web::get().to(http::health::healthz))
            .route("/readyz", web::get().to(http::health::readyz))
            .configure(|cfg| http::web::configure(cfg, &web_dir))
    })
    .listen(listener)?
    .disable_signals()
    .shutdown_timeout(5);
    if let Some(workers) = args.workers {
        server = server.workers(workers);
    }
    let server = server.run();
    let handle = server.handle();
    info!(%addr, store = store.kind(), data_dir = %args.data_dir.display(), "weft listening on http://{addr} (WebSocket: ws://{addr}/ws/{{document}})");
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
