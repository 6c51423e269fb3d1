//! The registry: which documents are loaded, and the one place actors are created.
//!
//! Creation is single-flight: under the map's lock, a missing document gets a channel and an
//! actor spawned at once, so concurrent first joins all receive the same handle and share one
//! load (the actor loads before it reads its queue). An actor leaves the map itself when it
//! retires (`remove_if` with its own id, so a newer actor is never removed by an older one).
//!
//! The lock is a `std::sync::Mutex`: it guards a map lookup/insert only and is never held
//! across an await.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use weft_crdt::{DocName, SessionId};

use super::actor::{Actor, Links};
use super::handle::DocHandle;
use super::versions::VersionPolicy;
use crate::cluster::Cluster;
use crate::store::Store;
use crate::webhooks::Webhooks;

/// Knobs of every document actor (from the configuration).
#[derive(Debug, Clone)]
pub struct ActorSettings {
    /// Commands queued per actor.
    pub queue: usize,
    /// Delay before an actor with no sessions flushes and unloads.
    pub doc_idle: Duration,
    /// A document with no update for this long keeps only its encoded state (zero: never).
    pub hibernate_after: Duration,
    /// Log entries that trigger a background compaction.
    pub compact_after: u64,
    /// Uncommitted bytes held while the store fails before writes are refused.
    pub max_unsaved: usize,
    /// Distinct awareness ids tracked per document.
    pub max_awareness_per_doc: usize,
    /// Awareness ids one session may own (more close it with 1008).
    pub max_awareness_per_session: usize,
    /// Update bytes allowed to wait for missing dependencies per document.
    pub max_pending_bytes: usize,
    /// Largest document (stored bytes, approximately); writes beyond it close with 1009.
    pub max_document_size: usize,
    /// When versions are taken.
    pub versions: VersionPolicy,
}

#[cfg(test)]
impl ActorSettings {
    /// Small limits for the actor's tests: `queue` commands, documents up to `max_document_size`,
    /// no automatic versions.
    pub(crate) fn for_tests(queue: usize, max_document_size: usize) -> Self {
        ActorSettings {
            queue,
            doc_idle: Duration::from_secs(60),
            hibernate_after: Duration::ZERO,
            compact_after: 1_000,
            max_unsaved: 64 * 1024,
            max_awareness_per_doc: 100,
            max_awareness_per_session: 10,
            max_pending_bytes: 64 * 1024,
            max_document_size,
            versions: VersionPolicy {
                every_updates: 0,
                interval: Duration::ZERO,
                keep: 5,
            },
        }
    }
}

#[derive(Clone)]
pub struct Registry {
    inner: Arc<Inner>,
}

struct Inner {
    docs: Mutex<HashMap<DocName, DocHandle>>,
    store: Arc<dyn Store>,
    settings: Arc<ActorSettings>,
    shutdown: CancellationToken,
    tasks: TaskTracker,
    next_actor: AtomicU64,
    next_session: AtomicU64,
    /// Documents whose store is failing (they hold updates and retry), shared with the
    /// actors.
    failing: Arc<AtomicUsize>,
    webhooks: Option<Webhooks>,
    cluster: OnceLock<Cluster>,
}

impl Registry {
    pub fn new(store: Arc<dyn Store>, settings: ActorSettings) -> Self {
        Self::with_webhooks(store, settings, None)
    }

    /// A registry whose documents report their commits to `webhooks`.
    pub fn with_webhooks(
        store: Arc<dyn Store>,
        settings: ActorSettings,
        webhooks: Option<Webhooks>,
    ) -> Self {
        Registry {
            inner: Arc::new(Inner {
                docs: Mutex::new(HashMap::new()),
                store,
                settings: Arc::new(settings),
                shutdown: CancellationToken::new(),
                tasks: TaskTracker::new(),
                next_actor: AtomicU64::new(1),
                next_session: AtomicU64::new(1),
                failing: Arc::new(AtomicUsize::new(0)),
                webhooks,
                cluster: OnceLock::new(),
            }),
        }
    }

    fn docs(&self) -> std::sync::MutexGuard<'_, HashMap<DocName, DocHandle>> {
        // Poisoning needs a panic while holding the lock; the map stays consistent anyway.
        self.inner.docs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The handle of a loaded document, or of a freshly spawned actor that is loading it.
    pub fn handle(&self, name: &DocName) -> DocHandle {
        let mut docs = self.docs();
        if let Some(handle) = docs.get(name) {
            if !handle.tx.is_closed() {
                return handle.clone();
            }
        }
        let (tx, rx) = mpsc::channel(self.inner.settings.queue);
        let id = self.inner.next_actor.fetch_add(1, Ordering::Relaxed);
        let handle = DocHandle { tx, actor_id: id };
        docs.insert(name.clone(), handle.clone());
        crate::metrics::documents_loaded(docs.len());
        let actor = Actor::new(name.clone(), rx, self.links());
        // The actor knows nothing of the registry: its entry is removed here once it ends
        // (it closes its queue first, so `handle` stops returning it even before that).
        let registry = self.clone();
        let name = name.clone();
        self.inner.tasks.spawn(async move {
            actor.run().await;
            registry.remove_if(&name, id);
        });
        handle
    }

    /// What a new actor is given (see [`Links`]).
    fn links(&self) -> Links {
        Links {
            store: self.inner.store.clone(),
            settings: self.inner.settings.clone(),
            webhooks: self.inner.webhooks.clone(),
            cluster: self.inner.cluster.get().cloned(),
            failing: self.inner.failing.clone(),
            shutdown: self.inner.shutdown.clone(),
            tasks: self.inner.tasks.clone(),
        }
    }

    fn remove_if(&self, name: &DocName, actor_id: u64) {
        let mut docs = self.docs();
        if docs.get(name).is_some_and(|h| h.actor_id == actor_id) {
            docs.remove(name);
            crate::metrics::documents_loaded(docs.len());
        }
    }

    /// Where document events go, when a webhook URL or in-process hooks are configured.
    pub fn webhooks(&self) -> Option<&Webhooks> {
        self.inner.webhooks.as_ref()
    }

    /// Makes this registry's documents part of `cluster` (once, before documents load).
    pub fn join_cluster(&self, cluster: Cluster) {
        let _ = self.inner.cluster.set(cluster);
    }

    /// The cluster this node belongs to, if any.
    pub fn cluster(&self) -> Option<&Cluster> {
        self.inner.cluster.get()
    }

    /// Handles of every loaded document.
    pub fn loaded_handles(&self) -> Vec<DocHandle> {
        self.docs()
            .values()
            .filter(|h| !h.tx.is_closed())
            .cloned()
            .collect()
    }

    /// Every loaded document, with its handle.
    pub fn loaded_documents(&self) -> Vec<(DocName, DocHandle)> {
        self.docs()
            .iter()
            .filter(|(_, h)| !h.tx.is_closed())
            .map(|(name, h)| (name.clone(), h.clone()))
            .collect()
    }

    /// The handle of a loaded document; `None` when it is not loaded.
    pub fn loaded_handle(&self, name: &DocName) -> Option<DocHandle> {
        self.docs().get(name).filter(|h| !h.tx.is_closed()).cloned()
    }

    /// Number of documents loaded (or loading).
    pub fn loaded(&self) -> usize {
        self.docs().len()
    }

    /// Number of documents currently unable to commit (for `/readyz`).
    pub fn failing_documents(&self) -> usize {
        self.inner.failing.load(Ordering::Relaxed)
    }

    pub fn next_session_id(&self) -> SessionId {
        SessionId(self.inner.next_session.fetch_add(1, Ordering::Relaxed))
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    pub fn settings(&self) -> &ActorSettings {
        &self.inner.settings
    }

    pub fn is_shutting_down(&self) -> bool {
        self.inner.shutdown.is_cancelled()
    }

    /// Tells every actor to flush and close its sessions (1001); waits up to `deadline`.
    /// Returns false if some actor did not finish in time.
    pub async fn shutdown(&self, deadline: Duration) -> bool {
        self.inner.shutdown.cancel();
        self.inner.tasks.close();
        tokio::time::timeout(deadline, self.inner.tasks.wait())
            .await
            .is_ok()
    }
}
