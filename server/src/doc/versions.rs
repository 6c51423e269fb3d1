//! Version history of one document, as its actor sees it: *when* to take a version, and taking
//! it without stalling the actor.
//!
//! A version is taken after `version_every_updates` committed updates, after
//! `version_interval` of activity, when the last session leaves (if anything changed since the
//! last version), after a restore, and on request. The actor only encodes its state (one
//! full-state encode); a background job turns that into a delta against the newest stored
//! version and stores it (see `store::NewVersion`). Jobs of one document run one at a time, in
//! order; a failed one is logged and the next version simply covers more.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::Instant;
use tracing::{debug, info_span, warn, Instrument};
use weft_crdt::{DocName, Document};
use yrs::updates::decoder::Decode;
use yrs::updates::encoder::Encode;
use yrs::{ReadTxn, StateVector, Transact};

use crate::store::{NewVersion, Store, StoreError, VersionKind, VersionMeta};

/// Deltas stored after a full version before the next one is full again: bounds how many rows
/// reading one version merges.
const MAX_CHAIN: u32 = 32;

/// When versions are taken automatically (from the configuration).
#[derive(Debug, Clone)]
pub struct VersionPolicy {
    /// Committed updates that trigger a version (0: never by count).
    pub every_updates: u64,
    /// Time since the last version, with changes, that triggers one (zero: never by time).
    pub interval: Duration,
    /// Versions kept per document; older ones are folded away.
    pub keep: usize,
}

pub type VersionReply = oneshot::Sender<Result<VersionMeta, StoreError>>;

struct Request {
    kind: VersionKind,
    label: Option<String>,
    reply: Option<VersionReply>,
}

/// The actor's version bookkeeping.
pub struct Versions {
    policy: VersionPolicy,
    /// Updates committed since the last version was asked for.
    changes: u64,
    last: Instant,
    queue: VecDeque<Request>,
    /// The running job, if any.
    running: Option<oneshot::Receiver<()>>,
}

impl Versions {
    pub fn new(policy: VersionPolicy) -> Self {
        Versions {
            policy,
            changes: 0,
            last: Instant::now(),
            queue: VecDeque::new(),
            running: None,
        }
    }

    /// `updates` were committed; asks for a version when the count is reached.
    pub fn committed(&mut self, updates: usize) {
        self.changes += updates as u64;
        if self.policy.every_updates > 0 && self.changes >= self.policy.every_updates {
            self.auto();
        }
    }

    /// Periodic check: a version after `interval` of activity.
    pub fn tick(&mut self) {
        if self.changes > 0
            && !self.policy.interval.is_zero()
            && self.last.elapsed() >= self.policy.interval
        {
            self.auto();
        }
    }

    /// The last session left: keep what it did.
    pub fn last_session_left(&mut self) {
        if self.changes > 0 {
            self.auto();
        }
    }

    fn auto(&mut self) {
        if self.queue.iter().any(|r| r.kind == VersionKind::Auto) {
            return;
        }
        self.request(VersionKind::Auto, None, None);
    }

    /// Asks for a version (taken at the next commit point).
    pub fn request(
        &mut self,
        kind: VersionKind,
        label: Option<String>,
        reply: Option<VersionReply>,
    ) {
        self.changes = 0;
        self.last = Instant::now();
        self.queue.push_back(Request { kind, label, reply });
    }

    /// Whether a job is running (the actor waits for it in its loop).
    pub fn running(&mut self) -> Option<&mut oneshot::Receiver<()>> {
        self.running.as_mut()
    }

    pub fn job_done(&mut self) {
        self.running = None;
    }

    /// The next requested version, from the document's current (committed) state: encoded
    /// here (one full-state encode), stored by the returned job, which the caller runs beside
    /// the actor (tracked, so shutdown waits for it). `None` while one runs or none is asked.
    pub fn start_next(&mut self, doc: &mut Document, name: &DocName) -> Option<VersionJob> {
        if self.running.is_some() {
            return None;
        }
        let req = self.queue.pop_front()?;
        let state = match doc.encode_state() {
            Ok(state) => state,
            Err(e) => {
                warn!(doc = %name, error = %e, "no version: the document cannot be encoded");
                return None;
            }
        };
        let sv = doc.state_vector().encode_v1();
        let (done, running) = oneshot::channel();
        self.running = Some(running);
        Some(VersionJob {
            name: name.clone(),
            state,
            sv,
            req,
            keep: self.policy.keep,
            done,
        })
    }
}

/// One version to store (see [`Versions::start_next`]).
pub struct VersionJob {
    name: DocName,
    state: Vec<u8>,
    sv: Vec<u8>,
    req: Request,
    keep: usize,
    /// Dropped or sent when the job ends: the actor then starts the next one.
    done: oneshot::Sender<()>,
}

impl VersionJob {
    /// Stores the version (a delta against the newest stored one) and answers who asked.
    pub async fn run(self, store: Arc<dyn Store>) {
        let VersionJob {
            name,
            state,
            sv,
            req,
            keep,
            done,
        } = self;
        let span = info_span!("version", doc = %name);
        async move {
            let result = save(&*store, &name, state, sv, req.kind, req.label, keep).await;
            match &result {
                Ok(v) => {
                    crate::metrics::version_saved(v.size_bytes);
                    debug!(
                        id = v.id,
                        kind = v.kind.as_str(),
                        bytes = v.size_bytes,
                        "version saved"
                    )
                }
                Err(e) => warn!(error = %e, "version not saved; the next one will cover it"),
            }
            if let Some(reply) = req.reply {
                let _ = reply.send(result);
            }
            let _ = done.send(());
        }
        .instrument(span)
        .await
    }
}

/// Stores one version: a delta against the newest stored one (or the full state), retried if
/// another writer stored a version meanwhile.
async fn save(
    store: &dyn Store,
    name: &DocName,
    state: Vec<u8>,
    sv: Vec<u8>,
    kind: VersionKind,
    label: Option<String>,
    keep: usize,
) -> Result<VersionMeta, StoreError> {
    let state = Arc::new(state);
    let mut attempts = 0;
    loop {
        attempts += 1;
        let head = store.version_head(name).await?;
        let (base, data) = match &head {
            Some(h) if h.since_base < MAX_CHAIN => {
                let (full, head_sv) = (state.clone(), h.state_vector.clone());
                let delta = tokio::task::spawn_blocking(move || delta_since(&full, &head_sv))
                    .await
                    .map_err(|e| StoreError::Database(e.to_string()))?;
                match delta {
                    Some(delta) => (false, delta),
                    None => (true, state.to_vec()),
                }
            }
            _ => (true, state.to_vec()),
        };
        let version = NewVersion {
            kind,
            label: label.clone(),
            base,
            state_vector: sv.clone(),
            data,
            created_ms: None,
        };
        match store
            .put_version(name, version, head.map(|h| h.id), keep)
            .await
        {
            Err(StoreError::VersionRace) if attempts < 3 => continue,
            other => return other,
        }
    }
}

/// The part of `state` a peer at `sv` lacks; `None` if either cannot be read (a full version
/// is stored instead).
fn delta_since(state: &[u8], sv: &[u8]) -> Option<Vec<u8>> {
    let sv = StateVector::decode_v1(sv).ok()?;
    let doc = weft_crdt::snapshot::rebuild(&[state]).ok()?;
    let delta = doc.transact().encode_diff_v1(&sv);
    Some(delta)
}
