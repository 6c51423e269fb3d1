//! Cluster mode: every `weft serve` on the same PostgreSQL database is a node of one cluster.
//! Clients of one document may be spread over any nodes; PostgreSQL itself carries updates
//! between them, so there is no other moving part.
//!
//! ```text
//!  node A actor ──append (one statement: INSERT … + pg_notify('weft_updates', "A 812 notes"))──► PostgreSQL
//!                                                                                   │ LISTEN
//!  node B listener ◄─────────────────────────────────────────────────────────────────┘
//!     └─► actor of "notes" (if loaded on B): read the log after its position, apply in order,
//!         broadcast to B's sessions
//! ```
//!
//! - **Updates**: the notification carries only the node, the log position and the document
//!   (payloads are limited to 8000 bytes); the receiving actor reads what it misses from the
//!   log by position, so large updates and missed notifications are handled the same way. If
//!   compaction merged entries it has not read, it reloads the document (snapshot + log) and
//!   merges it instead. After the listening connection drops and comes back, every loaded
//!   document catches up the same way. Nothing is skipped.
//! - **Awareness** (presence) is relayed with `NOTIFY weft_awareness` (node, session, frame);
//!   each remote session appears to the document as a session of its own, with the same
//!   quotas. It is removed when that session leaves or when its node stops renewing its
//!   heartbeat (table `nodes`) for `--node-expiry`.
//! - **Live sessions** (stateless messages, closing a document's sessions, revocations, the
//!   sessions list) travel on `NOTIFY weft_live` as JSON notes (see [`live`]), handled by
//!   `crate::live`.
//! - `/readyz` fails while the node cannot listen; `/metrics` shows the node id, the live
//!   members and notification counts.

use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use base64::Engine;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio_postgres::AsyncMessage;
use tokio_postgres_rustls::MakeRustlsConnect;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};
use weft_crdt::{DocName, SessionId};

use crate::doc::Registry;
use crate::store::PgSettings;

mod deliver;
pub mod live;

/// PostgreSQL's limit on a notification payload is 8000 bytes.
const MAX_PAYLOAD: usize = 7900;
/// Session ids of remote sessions have this bit set (local ones count up from 1).
const REMOTE: u64 = 1 << 63;
/// Awareness frames queued for other nodes before new ones are dropped.
const AWARENESS_QUEUE: usize = 1024;
/// How often what full document queues could not take is offered again.
const REDELIVER_EVERY: Duration = Duration::from_millis(50);

#[derive(Debug, Clone, clap::Args)]
pub struct ClusterArgs {
    /// Join the cluster of every Weft on the same PostgreSQL database (only with --database-url).
    #[arg(long, env = "WEFT_CLUSTER", default_value_t = true, action = clap::ArgAction::Set)]
    pub cluster: bool,

    /// This node's id in the cluster (default: a UUID v4).
    #[arg(long, env = "WEFT_NODE_ID")]
    pub node_id: Option<String>,

    /// How often this node renews its heartbeat.
    #[arg(long, env = "WEFT_HEARTBEAT", default_value = "2s", value_parser = humantime::parse_duration)]
    pub heartbeat: Duration,

    /// A node silent for this long is gone: its clients' presence is removed.
    #[arg(long, env = "WEFT_NODE_EXPIRY", default_value = "10s", value_parser = humantime::parse_duration)]
    pub node_expiry: Duration,
}

/// The id a node uses when none is configured: a UUID v4 (122 random bits). Two nodes with
/// the same id would each discard the other's notifications as their own and the cluster would
/// silently diverge, so it must never collide (16 random bits after host and pid did).
pub fn default_node_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// This node's side of the cluster (cheap to clone).
#[derive(Clone)]
pub struct Cluster {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("node", &self.inner.node)
            .finish()
    }
}

struct Inner {
    node: String,
    config: tokio_postgres::Config,
    /// TLS as the store's connections (see `store::postgres::tls`).
    tls: MakeRustlsConnect,
    /// For NOTIFY and heartbeats (the listener has a connection of its own).
    pool: Pool,
    heartbeat: Duration,
    expiry: Duration,
    listening: AtomicBool,
    members: Mutex<HashSet<String>>,
    registry: OnceLock<Registry>,
    stop: CancellationToken,
    /// Awareness frames and live-session notes waiting for the publisher task, with their
    /// channel (bounded: both are ephemeral, and a full queue drops them rather than piling up
    /// while PostgreSQL is slow).
    awareness_tx: mpsc::Sender<(&'static str, String)>,
    awareness_rx: Mutex<Option<mpsc::Receiver<(&'static str, String)>>>,
    /// Where live-session notes from other nodes go.
    live: OnceLock<crate::live::Live>,
    /// What documents' full queues could not take yet (see `deliver`).
    owed: deliver::Owed,
}

/// What a notification asks of a document's actor.
#[derive(Debug)]
pub enum Remote {
    /// Another node committed up to this log position.
    Committed(u64),
    /// Something may have been missed: read the log after the last known position.
    CatchUp,
    /// A remote session's awareness frame.
    Awareness {
        node: String,
        session: SessionId,
        frame: Vec<u8>,
    },
    /// A node is gone: drop the presence of its sessions.
    NodeGone(String),
}

impl Cluster {
    /// A cluster handle for `node` on the database at `url` (nothing runs until [`Cluster::start`]).
    /// `pg`: the store's PostgreSQL settings; the cluster's own connections (two: queries and
    /// the LISTEN connection) use its URL and timeouts.
    pub fn new(pg: &PgSettings, args: &ClusterArgs, node: String) -> Result<Cluster, String> {
        let target = pg.target("weft-cluster").map_err(|e| e.to_string())?;
        let (config, tls) = (target.config, target.tls);
        let pool = Pool::builder(Manager::from_config(
            config.clone(),
            tls.clone(),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        ))
        .max_size(2)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(pg.connect_timeout))
        .create_timeout(Some(pg.connect_timeout))
        .build()
        .map_err(|e| e.to_string())?;
        let (awareness_tx, awareness_rx) = mpsc::channel(AWARENESS_QUEUE);
        Ok(Cluster {
            inner: Arc::new(Inner {
                node,
                config,
                tls,
                pool,
                heartbeat: args.heartbeat,
                expiry: args.node_expiry,
                listening: AtomicBool::new(false),
                members: Mutex::new(HashSet::new()),
                registry: OnceLock::new(),
                stop: CancellationToken::new(),
                awareness_tx,
                awareness_rx: Mutex::new(Some(awareness_rx)),
                live: OnceLock::new(),
                owed: deliver::Owed::default(),
            }),
        })
    }

    pub fn node(&self) -> &str {
        &self.inner.node
    }

    /// Whether notifications are being received (for `/readyz`).
    pub fn is_listening(&self) -> bool {
        self.inner.listening.load(Ordering::Relaxed)
    }

    /// Live members (nodes with a fresh heartbeat), this one included once it has beaten.
    pub fn members(&self) -> usize {
        self.inner
            .members
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }

    /// Starts listening and heart-beating for the documents of `registry`.
    pub fn start(&self, registry: Registry) {
        let _ = self.inner.registry.set(registry);
        crate::metrics::cluster_joined(&self.inner.node);
        info!(node = %self.inner.node, "cluster mode: joining the nodes on this database");
        tokio::spawn(self.clone().listen());
        tokio::spawn(self.clone().beat());
        tokio::spawn(self.clone().publish());
        tokio::spawn(self.clone().redeliver());
    }

    /// Offers again, on a short tick, what full document queues could not take.
    async fn redeliver(self) {
        let mut tick = tokio::time::interval(REDELIVER_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = self.inner.stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            if let Some(registry) = self.inner.registry.get() {
                self.inner.owed.redeliver(registry);
            }
        }
    }

    /// Leaves the cluster: the others drop this node's presence at once.
    pub async fn leave(&self) {
        self.inner.stop.cancel();
        if let Ok(client) = self.inner.pool.get().await {
            let _ = client
                .execute(
                    "SELECT pg_notify('weft_nodes', $1)",
                    &[&format!("{} left", self.inner.node)],
                )
                .await;
            let _ = client
                .execute("DELETE FROM nodes WHERE id = $1", &[&self.inner.node])
                .await;
        }
    }

    /// Relays a local session's awareness frame to the other nodes (fire and forget: presence
    /// is ephemeral, and a frame too large for a notification is skipped).
    pub fn publish_awareness(&self, doc: &DocName, session: SessionId, frame: &[u8]) {
        let b64 = base64::engine::general_purpose::STANDARD.encode(frame);
        let payload = format!("{} {} {} {b64}", self.inner.node, session.0, doc.as_str());
        if payload.len() > MAX_PAYLOAD {
            debug!(doc = %doc, bytes = frame.len(), "awareness frame too large to relay");
            crate::metrics::cluster_notification("awareness", "too_large");
            return;
        }
        if self
            .inner
            .awareness_tx
            .try_send(("weft_awareness", payload))
            .is_err()
        {
            crate::metrics::cluster_notification("awareness", "dropped");
        }
    }

    /// Hands live-session notes from other nodes to `live` (before [`Cluster::start`]).
    pub fn serve_live(&self, live: crate::live::Live) {
        let _ = self.inner.live.set(live);
    }

    /// Sends a live-session note to the other nodes (fire and forget, like presence); `false`
    /// when it was not queued (too large for a notification, or the queue is full).
    pub fn publish_live(&self, note: live::LiveNote) -> bool {
        let payload = note.encode(&self.inner.node);
        if !live::LiveNote::fits(&payload) {
            crate::metrics::cluster_notification("live", "too_large");
            return false;
        }
        self.publish_live_raw(payload)
    }

    /// Sends an encoded note (see [`live::sessions_answer`]).
    pub fn publish_live_raw(&self, payload: String) -> bool {
        let queued = self
            .inner
            .awareness_tx
            .try_send((live::CHANNEL, payload))
            .is_ok();
        if !queued {
            crate::metrics::cluster_notification("live", "dropped");
        }
        queued
    }

    /// The ids of the live members (nodes with a fresh heartbeat), this one included once it
    /// has beaten.
    pub fn member_ids(&self) -> Vec<String> {
        self.inner
            .members
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned()
            .collect()
    }

    /// Sends the queued awareness frames, one at a time, in order.
    async fn publish(self) {
        let Some(mut rx) = self
            .inner
            .awareness_rx
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        else {
            return;
        };
        while let Some((channel, payload)) = rx.recv().await {
            let sent = match self.inner.pool.get().await {
                Ok(client) => client
                    .execute("SELECT pg_notify($1, $2)", &[&channel, &payload])
                    .await
                    .is_ok(),
                Err(_) => false,
            };
            let kind = if channel == live::CHANNEL {
                "live"
            } else {
                "awareness"
            };
            crate::metrics::cluster_notification(kind, if sent { "sent" } else { "failed" });
        }
    }

    /// The notification loop; reconnects (and has every loaded document catch up) after a
    /// dropped connection.
    async fn listen(self) {
        let mut backoff = Duration::from_millis(100);
        loop {
            if self.inner.stop.is_cancelled() {
                return;
            }
            match self.inner.config.connect(self.inner.tls.clone()).await {
                Ok((client, mut connection)) => {
                    let mut messages =
                        futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
                    let listen = client.batch_execute(
                        "LISTEN weft_updates; LISTEN weft_awareness; LISTEN weft_nodes; LISTEN weft_live;",
                    );
                    // The LISTEN completes only while the connection is polled.
                    let listened = tokio::select! {
                        r = listen => r.is_ok(),
                        _ = messages.next() => false,
                    };
                    if listened {
                        backoff = Duration::from_millis(100);
                        self.set_listening(true);
                        info!(node = %self.inner.node, "listening for other nodes' commits");
                        self.every_loaded_document(|| Remote::CatchUp);
                        loop {
                            tokio::select! {
                                _ = self.inner.stop.cancelled() => return,
                                msg = messages.next() => match msg {
                                    Some(Ok(AsyncMessage::Notification(n))) => {
                                        self.dispatch(n.channel(), n.payload()).await
                                    }
                                    Some(Ok(_)) => {}
                                    Some(Err(e)) => {
                                        warn!(error = %e, "cluster listener connection lost; reconnecting");
                                        break;
                                    }
                                    None => break,
                                },
                            }
                        }
                    }
                    drop(client);
                    self.set_listening(false);
                }
                Err(e) => {
                    let error = crate::store::postgres::tls::explain(&e);
                    warn!(%error, retry_in = ?backoff, "cluster listener cannot connect");
                }
            }
            tokio::select! {
                _ = self.inner.stop.cancelled() => return,
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }

    fn dispatch_live(&self, payload: &str) {
        let Some((from, note)) = live::LiveNote::decode(payload) else {
            return warn!("malformed or unknown live-session notification");
        };
        if from == self.inner.node {
            return;
        }
        crate::metrics::cluster_notification("live", "received");
        if let Some(live) = self.inner.live.get() {
            live.from_cluster(&from, note);
        }
    }

    fn set_listening(&self, on: bool) {
        self.inner.listening.store(on, Ordering::Relaxed);
        crate::metrics::cluster_listening(on);
    }

    async fn dispatch(&self, channel: &str, payload: &str) {
        if channel == live::CHANNEL {
            return self.dispatch_live(payload);
        }
        let mut parts = payload.splitn(4, ' ');
        let node = parts.next().unwrap_or_default();
        if node == self.inner.node {
            return;
        }
        match channel {
            "weft_updates" => {
                crate::metrics::cluster_notification("update", "received");
                let (Some(Ok(position)), Some(Ok(doc))) = (
                    parts.next().map(str::parse::<u64>),
                    parts.next().map(DocName::parse),
                ) else {
                    return warn!(payload, "malformed cluster notification");
                };
                self.to_document(&doc, Remote::Committed(position));
            }
            "weft_awareness" => {
                crate::metrics::cluster_notification("awareness", "received");
                let (Some(Ok(session)), Some(Ok(doc)), Some(frame)) = (
                    parts.next().map(str::parse::<u64>),
                    parts.next().map(DocName::parse),
                    parts
                        .next()
                        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok()),
                ) else {
                    return warn!("malformed cluster awareness notification");
                };
                let session = remote_session(node, session);
                self.to_document(
                    &doc,
                    Remote::Awareness {
                        node: node.to_string(),
                        session,
                        frame,
                    },
                );
            }
            "weft_nodes" => {
                info!(node, "a node left the cluster");
                let node = node.to_string();
                self.forget(&node);
                self.every_loaded_document(|| Remote::NodeGone(node.clone()));
            }
            _ => {}
        }
    }

    /// Hands `what` to the document's actor if it is loaded here (else there is nobody to tell:
    /// a later load reads the store). Never waits on the actor: what its full queue cannot
    /// take is owed and offered again (see `deliver`), so one busy document never stalls the
    /// notifications of the others.
    fn to_document(&self, doc: &DocName, what: Remote) {
        let Some(registry) = self.inner.registry.get() else {
            return;
        };
        if let Some(handle) = registry.loaded_handle(doc) {
            self.inner.owed.offer(doc, &handle, what);
        }
    }

    fn every_loaded_document(&self, what: impl Fn() -> Remote) {
        let Some(registry) = self.inner.registry.get() else {
            return;
        };
        for (doc, handle) in registry.loaded_documents() {
            self.inner.owed.offer(&doc, &handle, what());
        }
    }

    fn forget(&self, node: &str) {
        self.inner
            .members
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(node);
    }

    /// Renews this node's heartbeat and notices nodes that stopped renewing theirs.
    async fn beat(self) {
        let mut tick = tokio::time::interval(self.inner.heartbeat);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = self.inner.stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            let alive = match self.heartbeat_once().await {
                Ok(alive) => alive,
                Err(e) => {
                    debug!(error = %e, "heartbeat failed");
                    continue;
                }
            };
            let gone: Vec<String> = {
                let mut members = self.inner.members.lock().unwrap_or_else(|p| p.into_inner());
                let gone = members.difference(&alive).cloned().collect();
                *members = alive;
                crate::metrics::cluster_members(members.len());
                gone
            };
            for node in gone {
                info!(node = %node, "a node stopped renewing its heartbeat; dropping its presence");
                self.every_loaded_document(|| Remote::NodeGone(node.clone()));
            }
        }
    }

    async fn heartbeat_once(&self) -> Result<HashSet<String>, String> {
        let client = self.inner.pool.get().await.map_err(|e| e.to_string())?;
        client
            .execute(
                "INSERT INTO nodes (id) VALUES ($1)
                 ON CONFLICT (id) DO UPDATE SET heartbeat_at = now()",
                &[&self.inner.node],
            )
            .await
            .map_err(|e| e.to_string())?;
        let expiry = self.inner.expiry.as_secs_f64();
        let rows = client
            .query(
                "SELECT id FROM nodes WHERE heartbeat_at > now() - make_interval(secs => $1)",
                &[&expiry],
            )
            .await
            .map_err(|e| e.to_string())?;
        client
            .execute(
                "DELETE FROM nodes WHERE heartbeat_at < now() - interval '1 day'",
                &[],
            )
            .await
            .map_err(|e| e.to_string())?;
        Ok(rows.iter().map(|r| r.get::<_, String>(0)).collect())
    }
}

/// The session id a remote session has on this node: stable for (node, its session id).
pub fn remote_session(node: &str, session: u64) -> SessionId {
    let mut h = DefaultHasher::new();
    node.hash(&mut h);
    session.hash(&mut h);
    SessionId(REMOTE | (h.finish() >> 1))
}

/// Whether a session id belongs to a session on another node.
pub fn is_remote(session: SessionId) -> bool {
    session.0 & REMOTE != 0
}
