//! Live-session notes between the nodes of a cluster, on their own channel (`NOTIFY
//! weft_live`, JSON): stateless messages, "close every session of this document", token
//! revocations, and the sessions list (a request every node answers). Like presence they are
//! ephemeral: a node that misses one (its listener reconnecting) misses a stateless message
//! or a list answer; revocations are also re-read from the store periodically
//! (`--revocation-reload`), so none is missed for good.
//!
//! A notification payload is at most 8000 bytes: a stateless message too large for one is
//! delivered on its own node only (logged and counted); a sessions answer is split into
//! several notes (`last` marks the final one).

use serde::{Deserialize, Serialize};

use super::MAX_PAYLOAD;
use crate::live::SessionInfo;

/// The channel.
pub const CHANNEL: &str = "weft_live";

/// What one node tells the others.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LiveNote {
    /// A Hocuspocus stateless message for the document's sessions on every node.
    Stateless { doc: String, payload: String },
    /// Close every session of the document (4403).
    CloseDocument { doc: String },
    /// A token was revoked: close its sessions, refuse it from now on.
    Revoke { jti: String, expires_at: u64 },
    /// Who is connected to `doc`? Every node answers with [`LiveNote::Sessions`].
    ListSessions { request: String, doc: String },
    /// One part of a node's answer to [`LiveNote::ListSessions`].
    Sessions {
        request: String,
        sessions: Vec<SessionInfo>,
        last: bool,
    },
}

/// A note with the node that sent it.
#[derive(Debug, Serialize, Deserialize)]
struct Envelope {
    from: String,
    #[serde(flatten)]
    note: LiveNote,
}

impl LiveNote {
    /// The notification payload (JSON).
    pub fn encode(self, from: &str) -> String {
        let envelope = Envelope {
            from: from.to_string(),
            note: self,
        };
        // A struct of strings, numbers and lists: serializing it cannot fail.
        serde_json::to_string(&envelope).unwrap_or_default()
    }

    /// The sender and the note; `None` for a payload this version does not understand.
    pub fn decode(payload: &str) -> Option<(String, LiveNote)> {
        let envelope: Envelope = serde_json::from_str(payload).ok()?;
        Some((envelope.from, envelope.note))
    }

    /// Whether the encoded note fits in one notification.
    pub fn fits(encoded: &str) -> bool {
        encoded.len() <= MAX_PAYLOAD
    }
}

/// A node's sessions list as notes that each fit in one notification (at least one note,
/// the last marked).
pub fn sessions_answer(from: &str, request: &str, sessions: Vec<SessionInfo>) -> Vec<String> {
    let mut notes = Vec::new();
    let mut part: Vec<SessionInfo> = Vec::new();
    let encode = |sessions: Vec<SessionInfo>, last: bool| {
        LiveNote::Sessions {
            request: request.to_string(),
            sessions,
            last,
        }
        .encode(from)
    };
    for session in sessions {
        part.push(session);
        if !LiveNote::fits(&encode(part.clone(), false)) {
            let overflow = part.pop();
            if !part.is_empty() {
                notes.push(encode(std::mem::take(&mut part), false));
            }
            // A single session always fits (its fields are short and bounded).
            part.extend(overflow);
        }
    }
    notes.push(encode(part, true));
    notes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::Access;
    use crate::live::Protocol;

    #[test]
    fn notes_round_trip_and_long_answers_split() {
        let note = LiveNote::Stateless {
            doc: "a/b".into(),
            payload: "hi \u{0} there \"x\"".into(),
        };
        let (from, back) = LiveNote::decode(&note.clone().encode("node-1")).expect("decode");
        assert_eq!(from, "node-1");
        assert_eq!(back, note);
        assert!(LiveNote::decode("{\"from\":\"x\",\"kind\":\"from_the_future\"}").is_none());

        let session = SessionInfo {
            session: 1,
            document: "doc".into(),
            user: Some("u".repeat(40)),
            access: Access::Write,
            node: "node-1".into(),
            protocol: Protocol::Hocuspocus,
            connected_at: "2026-12-06T04:00:00.000Z".into(),
        };
        let many = vec![session; 300];
        let notes = sessions_answer("node-1", "req", many);
        assert!(notes.len() > 1);
        let mut total = 0;
        for (i, n) in notes.iter().enumerate() {
            assert!(LiveNote::fits(n));
            let Some((_, LiveNote::Sessions { sessions, last, .. })) = LiveNote::decode(n) else {
                panic!("not a sessions note");
            };
            assert_eq!(last, i == notes.len() - 1);
            total += sessions.len();
        }
        assert_eq!(total, 300);
        assert_eq!(sessions_answer("n", "r", Vec::new()).len(), 1);
    }
}
