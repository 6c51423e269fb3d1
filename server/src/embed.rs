//! # Embedding Weft in an actix-web application
//!
//! An application that already has an actix-web server, users and an editor mounts Weft's
//! endpoints inside it, under any path, and keeps its own authentication:
//!
//! 1. **Build** a [`Weft`] once, before the HTTP server: [`Weft::builder`], then the settings
//!    ([`ServeArgs`], e.g. [`ServeArgs::for_data_dir`]), optionally a store, an [`Authorize`]
//!    hook and [`DocumentHooks`], then [`WeftBuilder::build`]. This opens the store and starts
//!    the document registry; nothing listens yet.
//! 2. **Mount** it in every worker's `App` with [`Weft::configure`], usually inside a scope:
//!    `web::scope("/collab").configure(|cfg| weft.configure(cfg))` serves
//!    - `/collab/ws/{document}`: the y-websocket protocol (stock `y-websocket` provider with
//!      `serverUrl` `ws://HOST/collab/ws`),
//!    - `/collab/hocuspocus`: the Hocuspocus protocol (`@hocuspocus/provider`, Tiptap),
//!    - `/collab/api/v1/...`: the document HTTP API (documents, content, versions).
//! 3. **Stop** it with [`Weft::shutdown`] before stopping the HTTP server: every document is
//!    committed and every session closed with 1001, so the server's graceful stop does not
//!    wait for WebSockets that would never end by themselves.
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use actix_web::{web, App, HttpRequest, HttpServer};
//! use weft::{async_trait, Authorize, Decision, DocName, ServeArgs, Weft};
//!
//! /// The application's own login: here, a header its auth middleware sets.
//! struct AppUsers;
//!
//! #[async_trait(?Send)]
//! impl Authorize for AppUsers {
//!     async fn authorize(&self, req: &HttpRequest, _doc: &DocName, _token: Option<&str>) -> Decision {
//!         match req.headers().get("x-user").and_then(|v| v.to_str().ok()) {
//!             Some(user) => Decision::write(user),
//!             None => Decision::unauthorized("log in first"),
//!         }
//!     }
//! }
//!
//! #[actix_web::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let weft = Weft::builder()
//!         .settings(ServeArgs::for_data_dir("./collab-data"))
//!         .authorize(AppUsers)
//!         .build()
//!         .await?;
//!     let mounted = weft.clone();
//!     let server = HttpServer::new(move || {
//!         App::new()
//!             .route("/hello", web::get().to(|| async { "hello from the app" }))
//!             .service(web::scope("/collab").configure(|cfg| mounted.configure(cfg)))
//!     })
//!     // Lets Weft reset a WebSocket it closed whose client stopped reading.
//!     .on_connect(weft::ws::on_connect)
//!     .disable_signals()
//!     .bind("127.0.0.1:8080")?
//!     .run();
//!     let http = server.handle();
//!     let serving = actix_web::rt::spawn(server);
//!
//!     tokio::signal::ctrl_c().await?;
//!     http.pause().await; // no new connections
//!     weft.shutdown(Duration::from_secs(10)).await; // commit, close sessions (1001)
//!     http.stop(true).await;
//!     serving.await??;
//!     Ok(())
//! }
//! ```
//!
//! What differs when embedded: `weft serve` takes each WebSocket out of actix-web's HTTP
//! dispatcher after the upgrade (`ws::takeover`: no per-connection HTTP buffers, frames written
//! from the document actor straight into the socket); mounted in your server, actix-ws keeps
//! the connection and frames pass through the response body. Closing is bounded either way
//! (`--close-grace`), for clients that stop reading too when `on_connect` is installed.
//!
//! What stays the same when embedded: the durability promise (committed before broadcast),
//! the Origin allow-list and the connection and message limits from the settings, close
//! codes, the document API's JSON. What the embedding application owns: the listener, TLS,
//! logging (Weft logs through `tracing`), metrics (Weft records through the `metrics` crate;
//! install a recorder to see them) and, with an [`Authorize`] hook, who may open what.
//! `weft serve` itself is this builder plus `/healthz`, `/readyz`, `/metrics`,
//! `/api/v1/tokens` and the web client around it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actix_web::web;
use tokio::time::Instant;

use crate::access::{Authorize, Gate};
use crate::api::ApiSettings;
use crate::cluster::{self, Cluster};
use crate::config::ServeArgs;
use crate::doc::versions::VersionPolicy;
use crate::doc::{ActorSettings, Registry};
use crate::hooks::DocumentHooks;
use crate::live::Live;
use crate::store::{PostgresStore, Store};
use crate::webhooks::Webhooks;
use crate::ws::WsSettings;
use crate::{api, hocuspocus, pg_settings, ws, ServeError};

/// Where the embedded store lives when the caller gives neither settings nor a store.
const DEFAULT_DATA_DIR: &str = "./weft-data";

/// A running Weft, ready to be mounted: the document registry, the admission gate and the
/// endpoint settings. Cheap to clone (every part is shared), so each worker's `App` gets one.
#[derive(Clone)]
pub struct Weft {
    registry: Registry,
    gate: Gate,
    live: Live,
    ws: WsSettings,
    api: ApiSettings,
    events: Option<Webhooks>,
}

impl std::fmt::Debug for Weft {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Weft")
            .field("store", &self.registry.store().kind())
            .field("gate", &self.gate)
            .finish_non_exhaustive()
    }
}

impl Weft {
    /// Starts configuring a Weft (see [`WeftBuilder`]).
    pub fn builder() -> WeftBuilder {
        WeftBuilder::default()
    }

    /// Mounts the endpoints, relative to where `cfg` is mounted: `/ws/{document}`,
    /// `/hocuspocus` and the `/api/v1` scope. Their shared state goes in `cfg`'s app data, so
    /// inside a `web::scope` it stays private to that scope.
    pub fn configure(&self, cfg: &mut web::ServiceConfig) {
        cfg.app_data(web::Data::new(self.registry.clone()))
            .app_data(web::Data::new(self.ws.clone()))
            .app_data(web::Data::new(self.gate.clone()))
            .app_data(web::Data::new(self.live.clone()))
            .route("/ws/{doc:.*}", web::get().to(ws::ws_route))
            .route("/hocuspocus", web::get().to(hocuspocus::hocuspocus_route))
            .service(api::scope(self.api.clone()));
    }

    /// The loaded documents, their store, and a handle to each (to read or write a document
    /// from the application without going through HTTP).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The admission checks (Origin, tokens or the [`Authorize`] hook, connection limits).
    pub fn gate(&self) -> &Gate {
        &self.gate
    }

    /// Who is connected to which document on this node (stateless messages, closing a
    /// document's sessions, revoking tokens).
    pub fn live(&self) -> &Live {
        &self.live
    }

    /// Stops serving documents: new connections are refused (503), every document commits
    /// what it holds and closes its sessions with 1001, then the document events still
    /// waiting for their debounce are reported (hooks called). Waits up to `deadline`; false
    /// when something did not finish in time. Call it before stopping the HTTP server.
    pub async fn shutdown(&self, deadline: Duration) -> bool {
        let started = Instant::now();
        self.live.stop();
        let mut finished = self.registry.shutdown(deadline).await;
        if let Some(cluster) = self.registry.cluster() {
            cluster.leave().await; // the other nodes drop this node's presence at once
        }
        if let Some(events) = &self.events {
            let left = deadline.saturating_sub(started.elapsed());
            finished &= tokio::time::timeout(left, events.flush()).await.is_ok();
        }
        finished
    }
}

/// Configures a [`Weft`]; every part has a default.
#[derive(Default)]
#[must_use]
pub struct WeftBuilder {
    settings: Option<ServeArgs>,
    data_dir: Option<PathBuf>,
    store: Option<Arc<dyn Store>>,
    authorize: Option<Arc<dyn Authorize>>,
    hooks: Option<Arc<dyn DocumentHooks>>,
}

impl std::fmt::Debug for WeftBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WeftBuilder")
            .field("settings", &self.settings)
            .field("data_dir", &self.data_dir)
            .field("store", &self.store.as_ref().map(|s| s.kind()))
            .field("authorize", &self.authorize.is_some())
            .field("hooks", &self.hooks.is_some())
            .finish()
    }
}

impl WeftBuilder {
    /// Every setting `weft serve` has (limits, timeouts, versions, webhooks, access). Default:
    /// [`ServeArgs::for_data_dir`]`("./weft-data")`, which, like `weft serve`, reads the
    /// `WEFT_*` environment variables. Settings about the listener, TLS, logging, workers
    /// and the web client are for `weft serve` only: the embedding application owns those.
    pub fn settings(mut self, settings: ServeArgs) -> Self {
        self.settings = Some(settings);
        self
    }

    /// The embedded store's folder, over whatever the settings say (in any order).
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// Stores documents in `store` instead of the one the settings name (the embedded store
    /// in the data folder, or PostgreSQL with a database URL). Any [`Store`] implementation.
    /// Cluster mode needs the PostgreSQL store Weft opens itself: with a store given here,
    /// this Weft is not part of a cluster.
    pub fn store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }

    /// Decides access with `hook` instead of Weft tokens, on every endpoint (see
    /// [`Authorize`]). The Origin allow-list and the connection limits still apply.
    pub fn authorize(mut self, hook: impl Authorize) -> Self {
        self.authorize = Some(Arc::new(hook));
        self
    }

    /// Calls `hooks` when documents load, change and unload (see [`DocumentHooks`]); with a
    /// webhook URL in the settings, both receive the events.
    pub fn hooks(mut self, hooks: impl DocumentHooks) -> Self {
        self.hooks = Some(Arc::new(hooks));
        self
    }

    /// Opens the store (unless one was given), starts the event dispatcher and the document
    /// registry. Runs inside the application's runtime (`#[actix_web::main]`).
    pub async fn build(self) -> Result<Weft, ServeError> {
        let mut args = self
            .settings
            .unwrap_or_else(|| ServeArgs::for_data_dir(DEFAULT_DATA_DIR));
        if let Some(dir) = self.data_dir {
            args.store.data_dir = dir;
        }
        // This node's id: in the cluster, the sessions list and event bodies.
        let node = args
            .cluster
            .node_id
            .clone()
            .unwrap_or_else(cluster::default_node_id);
        let cluster = match self.store {
            Some(_) => None,
            None => cluster_of(&args, &node)?,
        };
        let store: Arc<dyn Store> = match (self.store, &args.store.pg.database_url, &cluster) {
            (Some(store), _, _) => store,
            // Cluster mode: every commit is announced to the other nodes on the database.
            (None, Some(url), Some(cluster)) => Arc::new(
                PostgresStore::connect(&pg_settings(&args.store, url))
                    .await?
                    .notify_as(cluster.node()),
            ),
            (None, _, _) => crate::open_store(&args.store).await?,
        };
        let events = Webhooks::start(&args.webhooks, &node, store.clone(), self.hooks)
            .map_err(ServeError::Config)?;
        let registry =
            Registry::with_webhooks(store.clone(), actor_settings(&args), events.clone());
        let gate = Gate::with_authorize(&args.access, self.authorize);
        let live = Live::start(
            node,
            &args.live,
            store,
            gate.revocations().clone(),
            cluster.clone(),
            events.clone(),
        );
        live.load_revocations().await;
        if let Some(cluster) = cluster {
            registry.join_cluster(cluster.clone());
            cluster.start(registry.clone());
        }
        Ok(Weft {
            registry,
            gate,
            live,
            ws: WsSettings {
                max_message_size: args.max_message_size,
                session_queue: args.session_queue,
                session_queue_bytes: args.session_queue_bytes,
                ping_interval: args.ping_interval,
                idle_timeout: args.idle_timeout,
                close_grace: args.close_grace,
                deflate: args.permessage_deflate,
            },
            api: ApiSettings {
                max_body: args.max_api_body,
            },
            events,
        })
    }
}

/// The cluster this node joins: with a database URL, unless turned off.
fn cluster_of(args: &ServeArgs, node: &str) -> Result<Option<Cluster>, ServeError> {
    match &args.store.pg.database_url {
        Some(url) if args.cluster.cluster => {
            let pg = crate::pg_settings(&args.store, url);
            let cluster =
                Cluster::new(&pg, &args.cluster, node.to_string()).map_err(ServeError::Config)?;
            Ok(Some(cluster))
        }
        _ => Ok(None),
    }
}

fn actor_settings(args: &ServeArgs) -> ActorSettings {
    ActorSettings {
        queue: args.doc_queue,
        doc_idle: args.doc_idle,
        hibernate_after: args.hibernate_after,
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
    }
}
