use super::*;
use crate::codec::decode_frame;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use yrs::updates::decoder::Decode;
use yrs::{GetString, Text};

/// A client replica: a yrs doc plus the frames it has not received yet.
struct Replica {
    doc: Doc,
    inbox: Vec<Vec<u8>>,
}

impl Replica {
    fn receive(&mut self, frame: &[u8]) -> Vec<Vec<u8>> {
        let mut replies = Vec::new();
        for msg in decode_frame(frame).expect("server frames decode") {
            match msg {
                Inbound::SyncStep1(sv) => {
                    replies.push(encode_sync_step2(&self.doc.transact().encode_diff_v1(&sv)))
                }
                Inbound::SyncStep2 { update, .. } | Inbound::Update { update, .. } => {
                    self.doc.transact_mut().apply_update(update).expect("apply");
                }
                _ => {}
            }
        }
        replies
    }
}

fn deliver(server: &mut Document, from: usize, frame: &[u8], replicas: &mut [Replica]) {
    for msg in decode_frame(frame).expect("client frames decode") {
        let mut fx = Effects::default();
        server
            .handle(SessionId(from as u64), msg, 0, &mut fx)
            .expect("valid update");
        for f in fx.reply {
            replicas[from].inbox.push(f);
        }
        for f in fx.broadcast {
            for (i, r) in replicas.iter_mut().enumerate() {
                if i != from {
                    r.inbox.push(f.clone());
                }
            }
        }
    }
}

/// Replicas edit concurrently; the server relays in a random interleaving; all converge.
#[test]
fn seeded_random_orders_converge() {
    for seed in 0..20u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut server = Document::default();
        let mut replicas: Vec<Replica> = (0..4)
            .map(|_| Replica {
                doc: Doc::new(),
                inbox: Vec::new(),
            })
            .collect();
        // Handshake: each client sends step 1 and gets step 2.
        for i in 0..replicas.len() {
            let step1 = encode_sync_step1(&replicas[i].doc.transact().state_vector());
            deliver(&mut server, i, &step1, &mut replicas);
        }
        for _ in 0..300 {
            let i = rng.random_range(0..replicas.len());
            if rng.random_bool(0.5) {
                // local edit, sent as an update
                let text = replicas[i].doc.get_or_insert_text("t");
                let mut txn = replicas[i].doc.transact_mut();
                let len = text.get_string(&txn).len() as u32;
                if len > 0 && rng.random_bool(0.3) {
                    let at = rng.random_range(0..len);
                    text.remove_range(&mut txn, at, 1);
                } else {
                    let at = rng.random_range(0..=len);
                    text.insert(&mut txn, at, &format!("{}", rng.random_range(0..10)));
                }
                let update = txn.encode_update_v1();
                drop(txn);
                deliver(&mut server, i, &encode_update(&update), &mut replicas);
            } else if !replicas[i].inbox.is_empty() {
                // deliver some pending server frame
                let k = rng.random_range(0..replicas[i].inbox.len());
                let frame = replicas[i].inbox.remove(k);
                for reply in replicas[i].receive(&frame) {
                    deliver(&mut server, i, &reply, &mut replicas);
                }
            }
        }
        // Drain everything.
        while let Some(i) = replicas.iter().position(|r| !r.inbox.is_empty()) {
            let frame = replicas[i].inbox.remove(0);
            for reply in replicas[i].receive(&frame) {
                deliver(&mut server, i, &reply, &mut replicas);
            }
        }
        let expected = {
            let d = Doc::new();
            let t = d.get_or_insert_text("t");
            d.transact_mut()
                .apply_update(
                    Update::decode_v1(&server.encode_state().expect("encodes")).expect("state"),
                )
                .expect("apply");
            let s = t.get_string(&d.transact());
            s
        };
        for (i, r) in replicas.iter().enumerate() {
            let t = r.doc.get_or_insert_text("t");
            assert_eq!(
                t.get_string(&r.doc.transact()),
                expected,
                "seed {seed} replica {i}"
            );
        }
    }
}

#[test]
fn duplicate_update_is_not_persisted_or_broadcast_twice() {
    let client = Doc::new();
    let t = client.get_or_insert_text("t");
    let mut txn = client.transact_mut();
    t.push(&mut txn, "abc");
    let update = txn.encode_update_v1();
    drop(txn);
    let mut server = Document::default();
    for expected_persist in [1, 0] {
        let mut fx = Effects::default();
        let msg = decode_frame(&encode_update(&update))
            .expect("frame")
            .remove(0);
        server.handle(SessionId(1), msg, 0, &mut fx).expect("apply");
        assert_eq!(fx.persist.len(), expected_persist);
        assert_eq!(fx.broadcast.len(), expected_persist);
    }
}

#[test]
fn updates_missing_earlier_changes_are_refused() {
    let client = Doc::new();
    let t = client.get_or_insert_text("t");
    let mut updates = Vec::new();
    for chunk in ["first", &"x".repeat(200)] {
        let mut txn = client.transact_mut();
        t.push(&mut txn, chunk);
        updates.push(txn.encode_update_v1());
    }
    // The second update depends on the first, which never arrives: refused (the client
    // resyncs when it reconnects), whatever the pending bound.
    for mut server in [
        Document::default().with_max_pending_bytes(64),
        Document::default(),
    ] {
        let msg = decode_frame(&encode_update(&updates[1]))
            .expect("frame")
            .remove(0);
        let mut fx = Effects::default();
        let refused = server.handle(SessionId(1), msg, 0, &mut fx);
        assert!(
            matches!(&refused, Err(ApplyError::Rejected(why)) if why.contains("earlier changes")),
            "{refused:?}"
        );
        assert!(fx.persist.is_empty());
    }
    // In order, both apply.
    let mut server = Document::default();
    for update in &updates {
        let msg = decode_frame(&encode_update(update))
            .expect("frame")
            .remove(0);
        let mut fx = Effects::default();
        server
            .handle(SessionId(1), msg, 0, &mut fx)
            .expect("applies");
        assert_eq!(fx.persist.len(), 1);
    }
}

/// Hibernated: old and new clients sync from the encoded state, presence goes on, the
/// first update wakes the document (once) and it can hibernate again.
#[test]
fn a_hibernated_document_serves_reads_and_wakes_on_the_first_write() {
    let mut server = Document::default();
    let mut replicas: Vec<Replica> = (0..2)
        .map(|_| Replica {
            doc: Doc::new(),
            inbox: Vec::new(),
        })
        .collect();
    let edit = |r: &Replica, s: &str| {
        let text = r.doc.get_or_insert_text("t");
        let mut txn = r.doc.transact_mut();
        let len = text.get_string(&txn).len() as u32;
        text.insert(&mut txn, len, s);
        txn.encode_update_v1()
    };
    let update = edit(&replicas[0], "old");
    deliver(&mut server, 0, &encode_update(&update), &mut replicas);
    let sv = server.state_vector();
    let step2 = server.hibernate().expect("hibernates");
    assert!(server.is_hibernated());
    assert_eq!(server.state_vector(), sv);
    assert_eq!(server.hibernated_bytes(), Some(step2.len()));
    // A new client (empty state vector) and an old one (has everything) sync.
    for i in [1, 0] {
        let step1 = encode_sync_step1(&replicas[i].doc.transact().state_vector());
        deliver(&mut server, i, &step1, &mut replicas);
    }
    assert!(server.is_hibernated(), "reads do not wake it");
    // An old client's sync step 2 (what it has; nothing new) does not wake it either.
    let sv = server.state_vector();
    let step2 = encode_sync_step2(&replicas[0].doc.transact().encode_diff_v1(&sv));
    deliver(&mut server, 0, &step2, &mut replicas);
    assert!(server.is_hibernated(), "a step 2 with nothing new woke it");
    while let Some(i) = replicas.iter().position(|r| !r.inbox.is_empty()) {
        let frame = replicas[i].inbox.remove(0);
        replicas[i].receive(&frame);
    }
    let text = |r: &Replica| r.doc.get_or_insert_text("t").get_string(&r.doc.transact());
    assert_eq!(text(&replicas[1]), "old");
    // Presence does not wake it either.
    let frame = crate::codec::encode_awareness([(9u64, 1u32, "{}")].into_iter());
    deliver(&mut server, 1, &frame, &mut replicas);
    assert!(server.is_hibernated());
    assert_eq!(server.greeting().len(), 2);
    // The first update wakes it and is applied as usual.
    let update = edit(&replicas[1], " new");
    let mut fx = Effects::default();
    let msg = decode_frame(&encode_update(&update))
        .expect("frame")
        .remove(0);
    server
        .handle(SessionId(1), msg, 0, &mut fx)
        .expect("applies");
    assert!(!server.is_hibernated());
    assert_eq!(fx.persist.len(), 1);
    let state = server.encode_state().expect("encodes");
    assert!(server.hibernate().is_some(), "hibernates again");
    assert_eq!(server.encode_state().expect("encodes"), state);
}

#[test]
fn greeting_has_step1_and_presence() {
    let mut server = Document::default();
    assert_eq!(server.greeting().len(), 1);
    let frame = crate::codec::encode_awareness([(9u64, 1u32, "{}")].into_iter());
    let mut fx = Effects::default();
    let msg = decode_frame(&frame).expect("frame").remove(0);
    server.handle(SessionId(1), msg, 0, &mut fx).expect("ok");
    assert_eq!(fx.broadcast.len(), 1);
    assert_eq!(server.greeting().len(), 2);
    let mut fx = Effects::default();
    server.session_left(SessionId(1), 1, &mut fx);
    assert_eq!(fx.broadcast.len(), 1);
    assert_eq!(server.greeting().len(), 1);
}
