//! Live sessions: who is connected to which document on this node, and what can be done to
//! them from outside their connection: Hocuspocus stateless messages between a document's
//! sessions, closing every session of a document, revoking a token, listing sessions across
//! the cluster, and the `session.*` events.
//!
//! ```text
//!  session (/ws, /hocuspocus) ──register──► directory (doc → session → control queue)
//!         ▲                                      │
//!         └──── Control::Close / ::Stateless ────┘◄── API (sessions, revocations), other nodes
//!                                                      (cluster::live, NOTIFY weft_live),
//!                                                      the periodic revocation reload
//! ```
//!
//! - [`directory`]: the sessions of this node and their control queues; a [`Registration`]
//!   guard removes its session when dropped.
//! - [`revocation`]: revoking a token (store, then close its sessions here and, through the
//!   cluster, everywhere), the periodic reload, `weft token revoke`.
//! - [`listing`]: the sessions of a document on every node.
//! - [`stateless`]: the size and rate limits of stateless messages.
//!
//! The module never touches a document's state or its actor: sessions are reached through
//! their own control queue, so a document actor's code is the same with or without it.

pub mod directory;
pub mod listing;
pub mod revocation;
pub mod stateless;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use actix_ws::CloseReason;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tracing::debug;
use utoipa::ToSchema;
use weft_crdt::{DocName, SessionId};

use crate::access::{Access, Revocations};
use crate::cluster::live::LiveNote;
use crate::cluster::Cluster;
use crate::store::Store;
use crate::webhooks::Webhooks;
use directory::Directory;
pub use directory::{Control, Registration};
pub use stateless::StatelessLimits;

/// Default largest stateless message (its payload, bytes). Stateless messages are signals
/// ("saved", "comment added"), not documents; this also fits in one cluster notification
/// (8000 bytes), so every node delivers it.
pub const DEFAULT_MAX_STATELESS_SIZE: &str = "4KiB";
/// Default sustained stateless messages per second per connection.
pub const DEFAULT_MAX_STATELESS_PER_SEC: u32 = 20;
/// Default stateless messages a connection may send at once after being quiet.
pub const DEFAULT_STATELESS_BURST: u32 = 50;
/// Default interval of the revocation reload (a node that missed a notification, or a
/// revocation written by `weft token revoke` to the embedded store).
pub const DEFAULT_REVOCATION_RELOAD: &str = "30s";

/// Flags of live sessions.
#[derive(Debug, Clone, clap::Args)]
pub struct LiveArgs {
    /// Largest Hocuspocus stateless message (payload bytes, or with a unit); a larger one closes the connection with 1009 (as Hocuspocus does for a message too big). Across cluster nodes a message must also fit a PostgreSQL notification (~7.9 KB encoded); a larger one reaches only the sender's node (logged).
    #[arg(long, env = "WEFT_MAX_STATELESS_SIZE", default_value = DEFAULT_MAX_STATELESS_SIZE, value_parser = crate::config::parse_size)]
    pub max_stateless_size: usize,

    /// Sustained stateless messages per second per connection; faster ones are dropped with a log line (the connection stays open). 0: no limit.
    #[arg(long, env = "WEFT_MAX_STATELESS_PER_SEC", default_value_t = DEFAULT_MAX_STATELESS_PER_SEC)]
    pub max_stateless_per_sec: u32,

    /// Stateless messages a connection may send in a burst above --max-stateless-per-sec.
    #[arg(long, env = "WEFT_STATELESS_BURST", default_value_t = DEFAULT_STATELESS_BURST)]
    pub stateless_burst: u32,

    /// How often revoked tokens are re-read from the store (and expired ones purged).
    #[arg(long, env = "WEFT_REVOCATION_RELOAD", default_value = DEFAULT_REVOCATION_RELOAD, value_parser = humantime::parse_duration)]
    pub revocation_reload: Duration,
}

/// Which endpoint a session came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum Protocol {
    #[serde(rename = "y-websocket")]
    YWebsocket,
    #[serde(rename = "hocuspocus")]
    Hocuspocus,
}

/// One connected session, as the sessions API lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SessionInfo {
    /// The session's id on its node.
    pub session: u64,
    pub document: String,
    /// The token's `user` (or the embedder's hook's), null when there is none.
    pub user: Option<String>,
    #[schema(value_type = String, example = "write")]
    pub access: Access,
    /// The node the session is connected to.
    pub node: String,
    pub protocol: Protocol,
    /// RFC 3339, milliseconds.
    pub connected_at: String,
}

/// The live-session service of this node (cheap to clone).
#[derive(Clone)]
pub struct Live {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Live")
            .field("node", &self.inner.node)
            .finish_non_exhaustive()
    }
}

struct Inner {
    node: String,
    directory: Directory,
    revoked: Revocations,
    store: Arc<dyn Store>,
    cluster: Option<Cluster>,
    events: Option<Webhooks>,
    stateless: StatelessLimits,
    lists: listing::Pending,
    stop: CancellationToken,
}

impl Live {
    /// The service for node `node`; starts the revocation reload.
    pub fn start(
        node: String,
        args: &LiveArgs,
        store: Arc<dyn Store>,
        revoked: Revocations,
        cluster: Option<Cluster>,
        events: Option<Webhooks>,
    ) -> Live {
        let live = Live {
            inner: Arc::new(Inner {
                node,
                directory: Directory::default(),
                revoked,
                store,
                cluster: cluster.clone(),
                events,
                stateless: StatelessLimits {
                    max_size: args.max_stateless_size,
                    per_sec: args.max_stateless_per_sec,
                    burst: args.stateless_burst,
                },
                lists: listing::Pending::default(),
                stop: CancellationToken::new(),
            }),
        };
        if let Some(cluster) = &cluster {
            cluster.serve_live(live.clone());
        }
        tokio::spawn(revocation::reload_loop(
            live.clone(),
            args.revocation_reload,
        ));
        live
    }

    /// Reads the revoked tokens from the store now (at start-up, so no revoked token is
    /// admitted before the first reload); a failure is logged and retried by the reload.
    pub async fn load_revocations(&self) {
        if let Err(e) = revocation::reload(self).await {
            tracing::warn!(error = %e, "cannot read the revoked tokens at start-up; retrying at the next reload");
        }
    }

    /// Stops the revocation reload (shutdown).
    pub fn stop(&self) {
        self.inner.stop.cancel();
    }

    pub fn node(&self) -> &str {
        &self.inner.node
    }

    pub fn stateless_limits(&self) -> StatelessLimits {
        self.inner.stateless
    }

    /// Lists a session until the returned guard is dropped, and reports `session.connected`
    /// (then `session.disconnected`). `control` is the connection's control queue.
    pub fn register(
        &self,
        session: NewSession,
        control: tokio::sync::mpsc::Sender<Control>,
    ) -> Registration {
        let info = SessionInfo {
            session: session.id.0,
            document: session.doc.as_str().to_string(),
            user: session.user,
            access: session.access,
            node: self.inner.node.clone(),
            protocol: session.protocol,
            connected_at: now_rfc3339(),
        };
        self.event("session.connected", &session.doc, &info);
        self.inner
            .directory
            .insert(&session.doc, info, session.jti, control);
        Registration::new(self.clone(), session.doc, session.id)
    }

    fn unregister(&self, doc: &DocName, id: SessionId) {
        if let Some(info) = self.inner.directory.remove(doc, id) {
            self.event("session.disconnected", doc, &info);
        }
    }

    fn event(&self, event: &'static str, doc: &DocName, info: &SessionInfo) {
        if let Some(events) = &self.inner.events {
            events.live_event(
                event,
                doc,
                json!({
                    "session": info.session,
                    "user": info.user,
                    "access": info.access,
                    "protocol": info.protocol,
                    "connected_at": info.connected_at,
                }),
            );
        }
    }

    /// A stateless message from a local session: to the document's other Hocuspocus sessions
    /// here and on every node, and to the embedder's hooks.
    pub fn stateless(&self, doc: &DocName, from: SessionId, user: Option<&str>, payload: String) {
        let payload: Arc<str> = payload.into();
        let delivered = self.inner.directory.stateless(doc, Some(from), &payload);
        debug!(doc = %doc, session = from.0, len = payload.len(), delivered, "stateless message");
        crate::metrics::stateless("received");
        if let Some(events) = &self.inner.events {
            events.stateless(doc, &payload, user);
        }
        if let Some(cluster) = &self.inner.cluster {
            let note = LiveNote::Stateless {
                doc: doc.as_str().to_string(),
                payload: payload.to_string(),
            };
            if !cluster.publish_live(note) {
                tracing::info!(doc = %doc, len = payload.len(), "stateless message not relayed to other nodes (too large for a notification, or the queue is full)");
            }
        }
    }

    /// Closes every session of `doc` here and on every node, with 4403; how many were here.
    pub fn close_document(&self, doc: &DocName) -> usize {
        if let Some(cluster) = &self.inner.cluster {
            let note = LiveNote::CloseDocument {
                doc: doc.as_str().to_string(),
            };
            if !cluster.publish_live(note) {
                tracing::warn!(doc = %doc, "the other nodes could not be told to close the document's sessions (notification queue full); retry");
            }
        }
        self.inner.directory.close_document(doc, access_changed())
    }

    /// A note from another node.
    pub fn from_cluster(&self, from: &str, note: LiveNote) {
        match note {
            LiveNote::Stateless { doc, payload } => {
                if let Ok(doc) = DocName::parse(&doc) {
                    self.inner.directory.stateless(&doc, None, &payload.into());
                }
            }
            LiveNote::CloseDocument { doc } => {
                if let Ok(doc) = DocName::parse(&doc) {
                    let closed = self.inner.directory.close_document(&doc, access_changed());
                    tracing::info!(doc = %doc, closed, node = from, "closing the document's sessions (asked by another node)");
                }
            }
            LiveNote::Revoke { jti, expires_at } => {
                revocation::apply(self, &crate::store::RevokedToken { jti, expires_at });
            }
            LiveNote::ListSessions { request, doc } => listing::answer(self, &request, &doc),
            LiveNote::Sessions {
                request,
                sessions,
                last,
            } => self.inner.lists.deliver(&request, from, sessions, last),
        }
    }
}

/// What [`Live::register`] needs to know about a session.
#[derive(Debug)]
pub struct NewSession {
    pub doc: DocName,
    pub id: SessionId,
    pub protocol: Protocol,
    pub access: Access,
    pub user: Option<String>,
    pub jti: Option<String>,
}

/// 4403: the session's access changed (`DELETE …/sessions`); reconnect to be admitted again.
fn access_changed() -> CloseReason {
    crate::ws::close::forbidden("access changed; reconnect")
}

fn now_rfc3339() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}
