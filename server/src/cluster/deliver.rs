//! Handing notifications to document actors without ever waiting on one. The listener serves
//! every document of the node: if it waited while one busy document's queue is full, every
//! other document would stop hearing about the cluster too.
//!
//! What a full queue cannot take is remembered per document and offered again on a short
//! tick: "another node committed" becomes one owed catch-up (the actor reads the log after its
//! own position, so any number of notices collapse into one), a departed node is kept until
//! delivered. Presence frames are dropped (ephemeral; the next one replaces them). What is
//! owed to a document that unloads meanwhile is forgotten: its next load reads the store.

use std::collections::HashMap;
use std::sync::Mutex;

use weft_crdt::DocName;

use super::Remote;
use crate::doc::handle::Delivery;
use crate::doc::{DocHandle, Registry};

#[derive(Default)]
pub(super) struct Owed {
    docs: Mutex<HashMap<DocName, Debt>>,
}

#[derive(Default)]
struct Debt {
    catch_up: bool,
    gone: Vec<String>,
}

impl Owed {
    /// Hands `what` to the document's actor at once, or remembers it (see the module docs).
    pub fn offer(&self, doc: &DocName, handle: &DocHandle, what: Remote) {
        let Delivery::Full(what) = handle.try_remote(what) else {
            return;
        };
        let mut docs = self.docs.lock().unwrap_or_else(|p| p.into_inner());
        match what {
            Remote::Committed(_) | Remote::CatchUp => {
                crate::metrics::cluster_notification("update", "deferred");
                docs.entry(doc.clone()).or_default().catch_up = true;
            }
            Remote::NodeGone(node) => docs.entry(doc.clone()).or_default().gone.push(node),
            Remote::Awareness { .. } => {
                crate::metrics::cluster_notification("awareness", "dropped");
            }
        }
    }

    /// Offers again what full queues could not take, to the documents still loaded.
    pub fn redeliver(&self, registry: &Registry) {
        self.redeliver_to(|doc| registry.loaded_handle(doc))
    }

    fn redeliver_to(&self, loaded: impl Fn(&DocName) -> Option<DocHandle>) {
        let owed = std::mem::take(&mut *self.docs.lock().unwrap_or_else(|p| p.into_inner()));
        for (doc, debt) in owed {
            let Some(handle) = loaded(&doc) else {
                continue;
            };
            for node in debt.gone {
                self.offer(&doc, &handle, Remote::NodeGone(node));
            }
            if debt.catch_up {
                self.offer(&doc, &handle, Remote::CatchUp);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::sync::mpsc;

    use super::*;
    use crate::doc::handle::Command;

    fn remote(cmd: Option<Command>) -> Option<Remote> {
        match cmd? {
            Command::Remote(what) => Some(what),
            _ => None,
        }
    }

    /// A full queue never makes the listener wait: notices collapse into one owed catch-up,
    /// a departed node is kept, presence is dropped; all is offered again once there is room.
    #[tokio::test]
    async fn a_full_queue_is_owed_not_waited_on() {
        let (tx, mut rx) = mpsc::channel(1);
        let handle = DocHandle { tx, actor_id: 1 };
        let doc = DocName::parse("busy").expect("name");
        let owed = Owed::default();
        owed.offer(&doc, &handle, Remote::Committed(1));
        for position in 2..100 {
            owed.offer(&doc, &handle, Remote::Committed(position));
        }
        owed.offer(&doc, &handle, Remote::NodeGone("other".into()));
        owed.offer(
            &doc,
            &handle,
            Remote::Awareness {
                node: "other".into(),
                session: weft_crdt::SessionId(1),
                frame: Vec::new(),
            },
        );
        assert!(matches!(
            remote(rx.recv().await),
            Some(Remote::Committed(1))
        ));
        owed.redeliver_to(|_| Some(handle.clone()));
        assert!(matches!(remote(rx.recv().await), Some(Remote::NodeGone(n)) if n == "other"));
        owed.redeliver_to(|_| Some(handle.clone()));
        assert!(matches!(remote(rx.recv().await), Some(Remote::CatchUp)));
        owed.redeliver_to(|_| Some(handle.clone()));
        assert!(rx.try_recv().is_err(), "more was delivered than owed");
    }
}
