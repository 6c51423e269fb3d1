//! The sessions of this node, by document, each with its connection's control queue.
//!
//! A control queue is bounded ([`CONTROL_QUEUE`]): a stateless message that does not fit is
//! dropped and counted (it is ephemeral, like presence); a close that does not fit is sent
//! from a task of its own, so it is never lost (closes are rare: an admin's call).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use actix_ws::CloseReason;
use tokio::sync::mpsc;
use weft_crdt::{DocName, SessionId};

use super::{Live, Protocol, SessionInfo};
use crate::access::Access;

/// Control messages queued per connection.
pub const CONTROL_QUEUE: usize = 64;

/// What the outside asks of a session's connection.
#[derive(Debug)]
pub enum Control {
    /// End the session with this close (a Hocuspocus connection closes only that document,
    /// and the socket when it was its last).
    Close {
        session: SessionId,
        reason: CloseReason,
    },
    /// A stateless message for a Hocuspocus session.
    Stateless {
        session: SessionId,
        payload: Arc<str>,
    },
}

struct Entry {
    info: SessionInfo,
    jti: Option<String>,
    control: mpsc::Sender<Control>,
}

/// The sessions of this node. The lock is held for map operations only, never across an await.
#[derive(Default)]
pub(super) struct Directory {
    docs: Mutex<HashMap<DocName, HashMap<SessionId, Entry>>>,
}

impl Directory {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<DocName, HashMap<SessionId, Entry>>> {
        self.docs.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn insert(
        &self,
        doc: &DocName,
        info: SessionInfo,
        jti: Option<String>,
        control: mpsc::Sender<Control>,
    ) {
        let id = SessionId(info.session);
        self.lock()
            .entry(doc.clone())
            .or_default()
            .insert(id, Entry { info, jti, control });
    }

    pub fn remove(&self, doc: &DocName, id: SessionId) -> Option<SessionInfo> {
        let mut docs = self.lock();
        let sessions = docs.get_mut(doc)?;
        let entry = sessions.remove(&id)?;
        if sessions.is_empty() {
            docs.remove(doc);
        }
        Some(entry.info)
    }

    /// The sessions of `doc`.
    pub fn list(&self, doc: &DocName) -> Vec<SessionInfo> {
        let mut sessions: Vec<SessionInfo> = self
            .lock()
            .get(doc)
            .map(|s| s.values().map(|e| e.info.clone()).collect())
            .unwrap_or_default();
        sessions.sort_by_key(|s| s.session);
        sessions
    }

    /// Queues a stateless message for every Hocuspocus session of `doc` but `except`; how many
    /// took it.
    pub fn stateless(&self, doc: &DocName, except: Option<SessionId>, payload: &Arc<str>) -> usize {
        let docs = self.lock();
        let Some(sessions) = docs.get(doc) else {
            return 0;
        };
        let mut delivered = 0;
        for (id, entry) in sessions {
            if Some(*id) == except || entry.info.protocol != Protocol::Hocuspocus {
                continue;
            }
            let sent = entry.control.try_send(Control::Stateless {
                session: *id,
                payload: payload.clone(),
            });
            if sent.is_ok() {
                delivered += 1;
                crate::metrics::stateless("delivered");
            } else {
                crate::metrics::stateless("dropped");
            }
        }
        delivered
    }

    /// Closes every session of `doc`; how many.
    pub fn close_document(&self, doc: &DocName, reason: CloseReason) -> usize {
        let targets: Vec<(SessionId, mpsc::Sender<Control>)> = self
            .lock()
            .get(doc)
            .map(|s| s.iter().map(|(id, e)| (*id, e.control.clone())).collect())
            .unwrap_or_default();
        close_all(targets, &reason)
    }

    /// Closes every session admitted with token `jti`; how many.
    pub fn close_token(&self, jti: &str, reason: CloseReason) -> usize {
        let targets: Vec<(SessionId, mpsc::Sender<Control>)> = self
            .lock()
            .values()
            .flat_map(|s| s.iter())
            .filter(|(_, e)| e.jti.as_deref() == Some(jti))
            .map(|(id, e)| (*id, e.control.clone()))
            .collect();
        close_all(targets, &reason)
    }
}

fn close_all(targets: Vec<(SessionId, mpsc::Sender<Control>)>, reason: &CloseReason) -> usize {
    let n = targets.len();
    for (session, control) in targets {
        let close = Control::Close {
            session,
            reason: reason.clone(),
        };
        if let Err(mpsc::error::TrySendError::Full(close)) = control.try_send(close) {
            // Full of stateless messages: the close waits its turn, off this thread.
            tokio::spawn(async move {
                let _ = control.send(close).await;
            });
        }
    }
    n
}

/// Keeps a session listed; dropping it removes the session (and reports
/// `session.disconnected`).
pub struct Registration {
    live: Live,
    doc: DocName,
    id: SessionId,
}

impl Registration {
    pub(super) fn new(live: Live, doc: DocName, id: SessionId) -> Self {
        Registration { live, doc, id }
    }

    /// The session was admitted again with another token (a Hocuspocus re-auth).
    pub fn update(&self, access: Access, user: Option<String>, jti: Option<String>) {
        let mut docs = self.live.inner.directory.lock();
        if let Some(entry) = docs.get_mut(&self.doc).and_then(|s| s.get_mut(&self.id)) {
            entry.info.access = access;
            entry.info.user = user;
            entry.jti = jti;
        }
    }
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration")
            .field("doc", &self.doc)
            .field("session", &self.id.0)
            .finish()
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.live.unregister(&self.doc, self.id);
    }
}
