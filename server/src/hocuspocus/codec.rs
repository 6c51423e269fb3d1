//! The Hocuspocus wire format (provider v2 and later), as far as Weft speaks it.
//!
//! Every WebSocket frame holds one message: `varString(routing key)`, `varUint(type)`, body.
//! The routing key is the document name, or `name\0sessionId` when a v4 provider sets
//! `sessionAwareness` (several providers of one document on one socket); replies echo the key
//! verbatim. Types: `0` sync, `1` awareness, `2` auth, `3` query-awareness, `4` sync-reply,
//! `5` stateless, `6` broadcast-stateless, `7` close, `8` sync-status; a v4 provider also
//! answers a bare one-byte `9` (ping) with a bare `10` (pong).
//!
//! The bodies of sync, awareness and query-awareness are exactly y-protocols messages, so they
//! are decoded by [`weft_crdt::codec::decode_frame`] (with its validation) and reach the
//! document actor as the same [`Inbound`]s a y-websocket session sends. Auth bodies:
//! `varUint(0 = token) varString(token) [varString(provider version), v4]` from the client;
//! `varUint(1) varString(reason)` (permission denied) or `varUint(2) varString(scope)`
//! (authenticated, `read-write` or `readonly`) from the server.
//!
//! Everything here is pure: bytes in, typed messages out, and the server's frames back.

use weft_crdt::codec::decode_frame;
use weft_crdt::{DecodeError, Inbound};
use yrs::encoding::read::{Cursor, Read};
use yrs::encoding::write::Write;

pub const MSG_SYNC: u64 = 0;
pub const MSG_AWARENESS: u64 = 1;
pub const MSG_AUTH: u64 = 2;
pub const MSG_QUERY_AWARENESS: u64 = 3;
/// Sync without asking for the sender's state back (server-to-server in Hocuspocus).
pub const MSG_SYNC_REPLY: u64 = 4;
pub const MSG_STATELESS: u64 = 5;
pub const MSG_BROADCAST_STATELESS: u64 = 6;
pub const MSG_CLOSE: u64 = 7;
pub const MSG_SYNC_STATUS: u64 = 8;
/// Connection-level keepalive of v4 providers: a frame of exactly this one byte.
pub const MSG_PING: u8 = 9;
pub const MSG_PONG: u8 = 10;

pub const AUTH_TOKEN: u64 = 0;
pub const AUTH_PERMISSION_DENIED: u64 = 1;
pub const AUTH_AUTHENTICATED: u64 = 2;

/// One decoded frame from a client.
#[derive(Debug)]
pub enum Frame {
    /// A message for one document (by its routing key).
    Doc { key: String, message: Message },
    /// Connection-level ping (one byte `9`): answer with [`pong`].
    Ping,
    /// Connection-level pong (one byte `10`): nothing to do.
    Pong,
}

/// What a client says about one document.
#[derive(Debug)]
pub enum Message {
    /// Sync, awareness or query-awareness, decoded and validated by `weft_crdt`.
    Yjs(Vec<Inbound>),
    /// The client's token (the empty string when the provider has none).
    Auth {
        token: String,
        /// Sent by v4 providers after the token.
        provider_version: Option<String>,
    },
    /// `provider.sendStateless(payload)`: relayed to the document's other Hocuspocus sessions
    /// (on every node) and given to the embedder's `DocumentHooks::stateless`.
    Stateless(String),
    /// Hocuspocus's server-internal relay opcode; its server refuses it from a client, Weft
    /// ignores it.
    BroadcastStateless(String),
    /// The provider detached from this document (the socket stays open for the others).
    Close,
    /// A well-formed message Weft does not act on (an auth sub-type only servers send, a
    /// message type from a newer provider). Hocuspocus ignores these too.
    Ignored(u64),
}

fn malformed(e: impl std::fmt::Display) -> DecodeError {
    DecodeError::Malformed(e.to_string())
}

/// Decodes one client frame. Errors keep the `weft_crdt` meaning: structure (1002) or payload
/// (1007); either closes only this connection.
pub fn decode(frame: &[u8]) -> Result<Frame, DecodeError> {
    match frame {
        [] => return Err(DecodeError::Empty),
        [MSG_PING] => return Ok(Frame::Ping),
        [MSG_PONG] => return Ok(Frame::Pong),
        _ => {}
    }
    let mut cursor = Cursor::new(frame);
    let key = cursor.read_string().map_err(malformed)?.to_owned();
    let type_at = cursor.next;
    let kind: u64 = cursor.read_var().map_err(malformed)?;
    let message = match kind {
        MSG_SYNC | MSG_AWARENESS | MSG_QUERY_AWARENESS => {
            Message::Yjs(decode_frame(&frame[type_at..])?)
        }
        MSG_SYNC_REPLY => {
            // The same body as a sync message: re-tag it so `decode_frame` reads it.
            let mut retagged = Vec::with_capacity(frame.len() - cursor.next + 1);
            retagged.write_var(MSG_SYNC);
            retagged.extend_from_slice(&frame[cursor.next..]);
            Message::Yjs(decode_frame(&retagged)?)
        }
        MSG_AUTH => {
            let sub: u64 = cursor.read_var().map_err(malformed)?;
            if sub == AUTH_TOKEN {
                let token = cursor.read_string().map_err(malformed)?.to_owned();
                let provider_version = if cursor.has_content() {
                    Some(cursor.read_string().map_err(malformed)?.to_owned())
                } else {
                    None
                };
                Message::Auth {
                    token,
                    provider_version,
                }
            } else {
                Message::Ignored(kind)
            }
        }
        MSG_STATELESS => Message::Stateless(cursor.read_string().map_err(malformed)?.to_owned()),
        MSG_BROADCAST_STATELESS => {
            Message::BroadcastStateless(cursor.read_string().map_err(malformed)?.to_owned())
        }
        MSG_CLOSE => Message::Close,
        other => Message::Ignored(other),
    };
    Ok(Frame::Doc { key, message })
}

/// The leading `varString(key)` of every frame for one document; computed once per document.
pub fn key_prefix(key: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(key.len() + 4);
    out.write_string(key);
    out
}

/// A y-websocket frame from the document actor (`type`, body), addressed to `key`.
pub fn wrap(prefix: &[u8], frame: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(prefix.len() + frame.len());
    out.extend_from_slice(prefix);
    out.extend_from_slice(frame);
    out
}

fn message(key: &str, kind: u64) -> Vec<u8> {
    let mut out = key_prefix(key);
    out.write_var(kind);
    out
}

/// Auth accepted, with the scope the provider reports in its `authenticated` event.
pub fn authenticated(key: &str, read_only: bool) -> Vec<u8> {
    let mut out = message(key, MSG_AUTH);
    out.write_var(AUTH_AUTHENTICATED);
    out.write_string(if read_only { "readonly" } else { "read-write" });
    out
}

/// Auth refused; the provider emits `authenticationFailed` with `reason`.
pub fn permission_denied(key: &str, reason: &str) -> Vec<u8> {
    let mut out = message(key, MSG_AUTH);
    out.write_var(AUTH_PERMISSION_DENIED);
    out.write_string(reason);
    out
}

/// The answer to each sync step 2 or update: `true` when it was accepted (the provider counts
/// its unsynced changes down with these), `false` when it was refused (read-only).
pub fn sync_status(key: &str, applied: bool) -> Vec<u8> {
    let mut out = message(key, MSG_SYNC_STATUS);
    out.write_var(u64::from(applied));
    out
}

/// The server stopped serving this document on this connection.
pub fn close(key: &str, reason: &str) -> Vec<u8> {
    let mut out = message(key, MSG_CLOSE);
    out.write_string(reason);
    out
}

/// A stateless message for `key` (type 5, what Hocuspocus's `document.broadcastStateless`
/// sends; the provider emits its `stateless` event with `payload`).
pub fn stateless(key: &str, payload: &str) -> Vec<u8> {
    let mut out = message(key, MSG_STATELESS);
    out.write_string(payload);
    out
}

/// The answer to a connection-level ping.
pub fn pong() -> Vec<u8> {
    vec![MSG_PONG]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use weft_crdt::codec::{encode_awareness, encode_sync_step1, encode_update};
    use yrs::{Doc, StateVector, Text, Transact};

    fn text_update(s: &str) -> Vec<u8> {
        let doc = Doc::new();
        let t = doc.get_or_insert_text("t");
        let mut txn = doc.transact_mut();
        t.push(&mut txn, s);
        txn.encode_update_v1()
    }

    fn auth(key: &str, token: &str, version: Option<&str>) -> Vec<u8> {
        let mut out = message(key, MSG_AUTH);
        out.write_var(AUTH_TOKEN);
        out.write_string(token);
        if let Some(v) = version {
            out.write_string(v);
        }
        out
    }

    fn doc_message(frame: &[u8]) -> (String, Message) {
        match decode(frame).expect("valid frame") {
            Frame::Doc { key, message } => (key, message),
            other => panic!("not a document message: {other:?}"),
        }
    }

    #[test]
    fn auth_with_and_without_provider_version() {
        let (key, msg) = doc_message(&auth("notes/a", "t0k", Some("4.8.0")));
        assert_eq!(key, "notes/a");
        assert!(matches!(
            msg,
            Message::Auth { token, provider_version: Some(v) } if token == "t0k" && v == "4.8.0"
        ));
        let (_, msg) = doc_message(&auth("a", "", None));
        assert!(matches!(msg, Message::Auth { token, provider_version: None } if token.is_empty()));
    }

    #[test]
    fn yjs_bodies_are_decoded_by_the_crdt_codec() {
        let prefix = key_prefix("doc\0session");
        let (key, msg) = doc_message(&wrap(&prefix, &encode_update(&text_update("hi"))));
        assert_eq!(key, "doc\0session");
        assert!(matches!(&msg, Message::Yjs(m) if matches!(m[..], [Inbound::Update { .. }])));
        let (_, msg) = doc_message(&wrap(&prefix, &encode_sync_step1(&StateVector::default())));
        assert!(matches!(&msg, Message::Yjs(m) if matches!(m[..], [Inbound::SyncStep1(_)])));
        let aw = encode_awareness([(7u64, 1u32, "{\"user\":1}")].into_iter());
        let (_, msg) = doc_message(&wrap(&prefix, &aw));
        assert!(matches!(&msg, Message::Yjs(m) if matches!(m[..], [Inbound::Awareness(_)])));
        let (_, msg) = doc_message(&message("d", MSG_QUERY_AWARENESS));
        assert!(matches!(&msg, Message::Yjs(m) if matches!(m[..], [Inbound::QueryAwareness])));
        // Sync-reply carries a sync body.
        let mut reply = message("d", MSG_SYNC_REPLY);
        reply.extend_from_slice(&encode_update(&text_update("x"))[1..]);
        let (_, msg) = doc_message(&reply);
        assert!(matches!(&msg, Message::Yjs(m) if matches!(m[..], [Inbound::Update { .. }])));
    }

    #[test]
    fn close_stateless_ping_and_unknown_types() {
        assert!(matches!(
            doc_message(&message("d", MSG_CLOSE)).1,
            Message::Close
        ));
        let mut s = message("d", MSG_STATELESS);
        s.write_string("{\"a\":1}");
        assert!(matches!(doc_message(&s).1, Message::Stateless(p) if p == "{\"a\":1}"));
        assert!(matches!(
            doc_message(&message("d", 42)).1,
            Message::Ignored(42)
        ));
        assert!(matches!(decode(&[MSG_PING]), Ok(Frame::Ping)));
        assert!(matches!(decode(&[MSG_PONG]), Ok(Frame::Pong)));
    }

    #[test]
    fn malformed_frames_are_refused() {
        let mut bad_update = message("d", MSG_SYNC);
        bad_update.extend_from_slice(&[2, 3, 0xff, 0xff, 0xff]);
        let mut trailing = wrap(&key_prefix("d"), &encode_update(&text_update("x")));
        trailing.push(0x63);
        for bad in [
            &[][..],
            &[0x05, b'a'][..],                   // name longer than the frame
            &[0x01, b'a'][..],                   // no type
            &[0x01, 0xff, 0x00][..],             // name not UTF-8
            &[0x01, b'a', 0x02, 0x00, 0x09][..], // token longer than the frame
            &bad_update[..],
            &trailing[..],
        ] {
            assert!(decode(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn server_messages() {
        let frame = authenticated("d", true);
        let mut c = Cursor::new(&frame);
        assert_eq!(c.read_string().expect("key"), "d");
        assert_eq!(c.read_var::<u64>().expect("type"), MSG_AUTH);
        assert_eq!(c.read_var::<u64>().expect("sub"), AUTH_AUTHENTICATED);
        assert_eq!(c.read_string().expect("scope"), "readonly");
        assert_eq!(sync_status("d", true), vec![1, b'd', 8, 1]);
        assert_eq!(sync_status("d", false), vec![1, b'd', 8, 0]);
        assert_eq!(close("d", "x"), vec![1, b'd', 7, 1, b'x']);
        assert_eq!(pong(), vec![10]);
    }

    proptest! {
        #[test]
        fn key_and_update_round_trip(key in "\\PC{0,40}", s in "\\PC{0,40}") {
            let update = text_update(&s);
            let frame = wrap(&key_prefix(&key), &encode_update(&update));
            let (k, msg) = doc_message(&frame);
            prop_assert_eq!(k, key);
            prop_assert!(matches!(&msg, Message::Yjs(m) if m.len() == 1));
        }

        #[test]
        fn permission_denied_round_trip(key in "\\PC{1,40}", reason in "\\PC{0,80}") {
            let frame = permission_denied(&key, &reason);
            let mut c = Cursor::new(&frame);
            prop_assert_eq!(c.read_string().expect("key"), key.as_str());
            prop_assert_eq!(c.read_var::<u64>().expect("type"), MSG_AUTH);
            prop_assert_eq!(c.read_var::<u64>().expect("sub"), AUTH_PERMISSION_DENIED);
            prop_assert_eq!(c.read_string().expect("reason"), reason.as_str());
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode(&bytes);
        }
    }
}
