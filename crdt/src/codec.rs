//! The y-protocols wire format, as spoken by the stock `y-websocket` provider.
//!
//! A WebSocket frame holds one or more messages, each a varuint type tag followed by its body:
//! `0` sync (step 1: state vector, step 2: update, 2: update), `1` awareness update,
//! `2` auth, `3` query-awareness. [`decode_frame`] turns a whole frame into typed
//! [`Inbound`] messages *before* anything reaches a document actor, so malformed input is
//! refused at the session and never touches shared state. Updates are decoded here
//! (off the actor), and awareness JSON is checked here.
//!
//! Encoders write frames for the server's side of the conversation.

use std::panic::{catch_unwind, AssertUnwindSafe};

use yrs::encoding::read::{Cursor, Read};
use yrs::encoding::write::Write;
use yrs::sync::awareness::AwarenessUpdate;
use yrs::updates::decoder::Decode;
use yrs::updates::encoder::Encode;
use yrs::{StateVector, Update};

pub const MSG_SYNC: u8 = 0;
pub const MSG_AWARENESS: u8 = 1;
pub const MSG_AUTH: u8 = 2;
pub const MSG_QUERY_AWARENESS: u8 = 3;
pub const SYNC_STEP1: u8 = 0;
pub const SYNC_STEP2: u8 = 1;
pub const SYNC_UPDATE: u8 = 2;

/// A message from a client, fully decoded and validated.
#[derive(Debug)]
pub enum Inbound {
    /// "Here is my state vector; send me what I miss."
    SyncStep1(StateVector),
    /// The answer to our step 1: everything we missed. `len` is the encoded size.
    SyncStep2 { update: Update, len: usize },
    /// A live incremental update.
    Update { update: Update, len: usize },
    /// Presence changes; every entry's JSON has been checked.
    Awareness(AwarenessUpdate),
    /// "Send me every awareness state you know."
    QueryAwareness,
    /// Auth messages are server-to-client in y-websocket; a client sending one is ignored.
    Auth,
}

impl Inbound {
    /// True for messages that change the document (refused for read-only sessions).
    pub fn is_write(&self) -> bool {
        matches!(self, Inbound::SyncStep2 { .. } | Inbound::Update { .. })
    }
}

/// Why a frame was refused. Each maps to one WebSocket close code in the server.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("empty frame")]
    Empty,
    #[error("malformed frame: {0}")]
    Malformed(String),
    #[error("unknown message type {0}")]
    UnknownType(u64),
    #[error("unknown sync message type {0}")]
    UnknownSyncType(u64),
    #[error("undecodable update: {0}")]
    BadUpdate(String),
    #[error("awareness state of client {client} is not valid JSON")]
    BadAwarenessJson { client: u64 },
}

impl DecodeError {
    /// Whether the frame's structure was broken (protocol error, 1002) rather than its
    /// payload being invalid (1007).
    pub fn is_protocol_error(&self) -> bool {
        matches!(
            self,
            DecodeError::Empty
                | DecodeError::Malformed(_)
                | DecodeError::UnknownType(_)
                | DecodeError::UnknownSyncType(_)
        )
    }
}

fn malformed(e: impl std::fmt::Display) -> DecodeError {
    DecodeError::Malformed(e.to_string())
}

/// Decodes every message in one binary frame. Any error refuses the whole frame.
pub fn decode_frame(frame: &[u8]) -> Result<Vec<Inbound>, DecodeError> {
    if frame.is_empty() {
        return Err(DecodeError::Empty);
    }
    let mut cursor = Cursor::new(frame);
    let mut out = Vec::with_capacity(1);
    while cursor.has_content() {
        out.push(decode_one(&mut cursor)?);
    }
    Ok(out)
}

fn decode_one(cursor: &mut Cursor<'_>) -> Result<Inbound, DecodeError> {
    let tag: u64 = cursor.read_var().map_err(malformed)?;
    match tag {
        t if t == MSG_SYNC as u64 => {
            let sub: u64 = cursor.read_var().map_err(malformed)?;
            let body = cursor.read_buf().map_err(malformed)?;
            match sub {
                s if s == SYNC_STEP1 as u64 => {
                    check_count(body, 2, "state vector").map_err(malformed)?;
                    StateVector::decode_v1(body)
                        .map(Inbound::SyncStep1)
                        .map_err(malformed)
                }
                s if s == SYNC_STEP2 as u64 => Ok(Inbound::SyncStep2 {
                    update: decode_update(body)?,
                    len: body.len(),
                }),
                s if s == SYNC_UPDATE as u64 => Ok(Inbound::Update {
                    update: decode_update(body)?,
                    len: body.len(),
                }),
                other => Err(DecodeError::UnknownSyncType(other)),
            }
        }
        t if t == MSG_AWARENESS as u64 => {
            let body = cursor.read_buf().map_err(malformed)?;
            check_count(body, 3, "awareness update").map_err(malformed)?;
            let update = AwarenessUpdate::decode_v1(body).map_err(malformed)?;
            for (client, entry) in &update.clients {
                if serde_json::from_str::<serde::de::IgnoredAny>(&entry.json).is_err() {
                    return Err(DecodeError::BadAwarenessJson {
                        client: client.get(),
                    });
                }
            }
            Ok(Inbound::Awareness(update))
        }
        t if t == MSG_AUTH as u64 => {
            let granted: u64 = cursor.read_var().map_err(malformed)?;
            if granted == 0 {
                cursor.read_string().map_err(malformed)?;
            }
            Ok(Inbound::Auth)
        }
        t if t == MSG_QUERY_AWARENESS as u64 => Ok(Inbound::QueryAwareness),
        other => Err(DecodeError::UnknownType(other)),
    }
}

/// Refuses a body whose leading entry count cannot fit in it, each entry taking at least
/// `min_entry` bytes. yrs reserves room for a declared count before reading the entries, so a
/// few bytes declaring a billion entries made it allocate (and, for its hash maps, touch)
/// gigabytes: found by the `decode_frame` and `apply_update` fuzz targets (see
/// `crdt/tests/fuzz_regressions.rs`). Applies to awareness updates (3 bytes per entry), state
/// vectors (2) and the client count of updates (3).
fn check_count(body: &[u8], min_entry: usize, what: &str) -> Result<(), String> {
    let mut cursor = Cursor::new(body);
    let count: u64 = cursor.read_var().map_err(|e| e.to_string())?;
    if count > (body.len() / min_entry) as u64 {
        return Err(format!(
            "{what} declares {count} entries in {} bytes",
            body.len()
        ));
    }
    Ok(())
}

/// Decodes a v1 update from an untrusted client. yrs has panicked on malformed updates
/// before (y-crdt #415), so a panic here is caught and reported as a bad update: the decode
/// touches no shared state.
///
/// The update is also *normalized* (merged with nothing, as `Y.mergeUpdates` would): its
/// blocks end up sorted, one run per client, without overlaps. yrs 0.28.1 trusts that shape:
/// an update that lists the same client twice with overlapping clocks makes
/// `BlockStore::push` free an integrated item it takes for a placeholder, a use-after-free
/// the `apply_update` fuzz target found (`fuzz/known-issues/`). Normalizing costs one pass
/// over the decoded blocks.
pub fn decode_update(body: &[u8]) -> Result<Update, DecodeError> {
    check_count(body, 3, "update").map_err(DecodeError::BadUpdate)?;
    match catch_unwind(AssertUnwindSafe(|| {
        Update::decode_v1(body).map(|u| Update::merge_updates([u]))
    })) {
        Ok(Ok(update)) => Ok(update),
        Ok(Err(e)) => Err(DecodeError::BadUpdate(e.to_string())),
        Err(_) => Err(DecodeError::BadUpdate("decoder panicked".into())),
    }
}

// ---- encoders (server → client) ----

fn sync_frame(sub: u8, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 8);
    out.write_var(MSG_SYNC);
    out.write_var(sub);
    out.write_buf(body);
    out
}

/// Sync step 1: our state vector, asking the client for what we miss.
pub fn encode_sync_step1(sv: &StateVector) -> Vec<u8> {
    sync_frame(SYNC_STEP1, &sv.encode_v1())
}

/// Sync step 2: the update a client misses.
pub fn encode_sync_step2(update: &[u8]) -> Vec<u8> {
    sync_frame(SYNC_STEP2, update)
}

/// A live update, as broadcast to co-editors.
pub fn encode_update(update: &[u8]) -> Vec<u8> {
    sync_frame(SYNC_UPDATE, update)
}

/// An awareness update with `(client id, clock, JSON state)` entries; `"null"` removes a client.
pub fn encode_awareness<'a>(
    entries: impl ExactSizeIterator<Item = (u64, u32, &'a str)>,
) -> Vec<u8> {
    let mut body = Vec::new();
    body.write_var(entries.len());
    for (client, clock, json) in entries {
        body.write_var(client);
        body.write_var(clock);
        body.write_string(json);
    }
    let mut out = Vec::with_capacity(body.len() + 6);
    out.write_var(MSG_AWARENESS);
    out.write_buf(&body);
    out
}

/// y-protocols auth "permission denied", with a reason the client can show.
pub fn encode_permission_denied(reason: &str) -> Vec<u8> {
    let mut out = Vec::new();
    out.write_var(MSG_AUTH);
    out.write_var(0u8);
    out.write_string(reason);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use yrs::{Doc, GetString, Text, Transact};

    fn text_update(s: &str) -> Vec<u8> {
        let doc = Doc::new();
        let t = doc.get_or_insert_text("t");
        let mut txn = doc.transact_mut();
        t.push(&mut txn, s);
        txn.encode_update_v1()
    }

    #[test]
    fn several_messages_in_one_frame() {
        let mut frame = encode_sync_step1(&StateVector::default());
        frame.extend(encode_update(&text_update("hi")));
        frame.push(MSG_QUERY_AWARENESS);
        let msgs = decode_frame(&frame).expect("valid frame");
        assert_eq!(msgs.len(), 3);
        assert!(matches!(msgs[0], Inbound::SyncStep1(_)));
        assert!(matches!(msgs[1], Inbound::Update { .. }));
        assert!(matches!(msgs[2], Inbound::QueryAwareness));
    }

    #[test]
    fn truncated_and_garbage_frames_are_refused() {
        for bad in [
            &[][..],
            &[0x00, 0x02, 0xff][..],
            &[0x00, 0x01, 0xff, 0xff, 0xff, 0xff, 0x0f][..],
            &[0x07][..],
            &[0x00, 0x09, 0x00][..],
            &[0x00, 0x02, 0x03, 0xff, 0xff, 0xff][..],
        ] {
            assert!(decode_frame(bad).is_err(), "{bad:?} accepted");
        }
    }

    /// Fuzzing finding (`decode_frame`, `apply_update`): an awareness message declaring ~1.4
    /// billion entries in 7 bytes made yrs reserve a 66 GB hash map (an abort under a memory
    /// limit). Now refused as malformed before yrs sees it.
    #[test]
    fn absurd_counts_are_refused_before_allocating() {
        let awareness_bomb = [0x01, 0x07, 0x81, 0xf9, 0x85, 0xcf, 0x05, 0x00, 0x04];
        assert!(matches!(
            decode_frame(&awareness_bomb),
            Err(DecodeError::Malformed(_))
        ));
        let mut update_bomb = vec![MSG_SYNC, SYNC_UPDATE, 6];
        update_bomb.extend([0xff, 0xff, 0xff, 0xff, 0x0f, 0x00]);
        assert!(matches!(
            decode_frame(&update_bomb),
            Err(DecodeError::BadUpdate(_))
        ));
    }

    #[test]
    fn invalid_awareness_json_is_refused() {
        let frame = encode_awareness([(7u64, 1u32, "{not json")].into_iter());
        assert_eq!(
            decode_frame(&frame).unwrap_err(),
            DecodeError::BadAwarenessJson { client: 7 }
        );
    }

    proptest! {
        #[test]
        fn update_round_trip(s in "\\PC{0,40}") {
            let update = text_update(&s);
            let expected_len = update.len();
            let mut msgs = decode_frame(&encode_update(&update)).expect("round trip");
            let Inbound::Update { update, len } = msgs.remove(0) else { panic!("not an update") };
            prop_assert_eq!(len, expected_len);
            let doc = Doc::new();
            let t = doc.get_or_insert_text("t");
            doc.transact_mut().apply_update(update).expect("apply");
            prop_assert_eq!(t.get_string(&doc.transact()), s);
        }

        #[test]
        fn awareness_round_trip(entries in proptest::collection::btree_map(any::<u32>(), (any::<u32>(), "[a-z]{0,8}"), 0..8)) {
            let jsons: Vec<(u64, u32, String)> = entries.iter()
                .map(|(id, (clock, s))| (*id as u64, *clock, serde_json::to_string(s).expect("json")))
                .collect();
            let frame = encode_awareness(jsons.iter().map(|(a, b, c)| (*a, *b, c.as_str())));
            let msgs = decode_frame(&frame).expect("round trip");
            let Inbound::Awareness(update) = &msgs[0] else { panic!("not awareness") };
            prop_assert_eq!(update.clients.len(), jsons.len());
            for (id, clock, json) in &jsons {
                let e = &update.clients[&yrs::block::ClientID::new(*id)];
                prop_assert_eq!(e.clock, *clock);
                prop_assert_eq!(&*e.json, json.as_str());
            }
        }

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode_frame(&bytes);
        }
    }
}
