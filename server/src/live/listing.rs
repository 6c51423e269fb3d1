//! The sessions of a document on every node: this node's directory, plus the answers of the
//! other live members to a `ListSessions` note, gathered for at most [`WAIT`]. A node that
//! does not answer in time is named in `missing` (its sessions are not listed).

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::mpsc;
use utoipa::ToSchema;
use weft_crdt::DocName;

use super::{Live, SessionInfo};
use crate::cluster::live::{sessions_answer, LiveNote};

/// How long the other nodes have to answer.
pub const WAIT: Duration = Duration::from_secs(1);
/// Answer parts queued per request before more are dropped.
const PARTS: usize = 1024;

/// The answer of `GET /api/v1/documents/{name}/sessions`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionList {
    pub sessions: Vec<SessionInfo>,
    /// The nodes whose sessions are listed (this one first).
    pub nodes: Vec<String>,
    /// Live nodes that did not answer within a second (their sessions are missing).
    pub missing: Vec<String>,
}

type Part = (String, Vec<SessionInfo>, bool);

/// Requests waiting for other nodes' answers.
#[derive(Default)]
pub(super) struct Pending {
    requests: Mutex<HashMap<String, mpsc::Sender<Part>>>,
}

impl Pending {
    pub fn deliver(&self, request: &str, from: &str, sessions: Vec<SessionInfo>, last: bool) {
        let requests = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(tx) = requests.get(request) {
            let _ = tx.try_send((from.to_string(), sessions, last));
        }
    }
}

/// Answers another node's `ListSessions` with this node's sessions of `doc`.
pub(super) fn answer(live: &Live, request: &str, doc: &str) {
    let (Ok(doc), Some(cluster)) = (DocName::parse(doc), &live.inner.cluster) else {
        return;
    };
    let sessions = live.inner.directory.list(&doc);
    for note in sessions_answer(&live.inner.node, request, sessions) {
        cluster.publish_live_raw(note);
    }
}

impl Live {
    /// The sessions of `doc` on every live node of the cluster (on this node alone without a
    /// cluster).
    pub async fn sessions(&self, doc: &DocName) -> SessionList {
        let mut list = SessionList {
            sessions: self.inner.directory.list(doc),
            nodes: vec![self.inner.node.clone()],
            missing: Vec::new(),
        };
        let Some(cluster) = &self.inner.cluster else {
            return list;
        };
        let mut waiting: HashSet<String> = cluster
            .member_ids()
            .into_iter()
            .filter(|n| *n != self.inner.node)
            .collect();
        if waiting.is_empty() {
            return list;
        }
        let request = uuid::Uuid::new_v4().to_string();
        let (tx, mut rx) = mpsc::channel(PARTS);
        self.inner
            .lists
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(request.clone(), tx);
        cluster.publish_live(LiveNote::ListSessions {
            request: request.clone(),
            doc: doc.as_str().to_string(),
        });
        let deadline = tokio::time::sleep(WAIT);
        tokio::pin!(deadline);
        while !waiting.is_empty() {
            tokio::select! {
                _ = &mut deadline => break,
                part = rx.recv() => {
                    let Some((from, sessions, last)) = part else { break };
                    list.sessions.extend(sessions);
                    if last && waiting.remove(&from) {
                        list.nodes.push(from);
                    }
                }
            }
        }
        self.inner
            .lists
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&request);
        list.missing = waiting.into_iter().collect();
        list.missing.sort();
        list
    }
}
