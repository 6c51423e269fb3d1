//! The actor's phases, driven through its handle against the in-memory fake store with
//! failure injection (`store::fake`): every transition of the table in `phase`, and what each
//! phase may send.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};
use weft_crdt::{DocName, Inbound, SessionId};
use yrs::{GetString, ReadTxn, Text, Transact};

use crate::doc::handle::{Close, JoinError, Member, Refused};
use crate::doc::registry::{ActorSettings, Registry};
use crate::doc::DocHandle;
use crate::store::fake::{FakeStore, Mode};

const LIMIT: usize = 4 * 1024;
/// Long enough for a healthy actor to commit and send; what must *not* arrive is awaited this
/// long.
const QUIET: Duration = Duration::from_millis(300);

fn settings() -> ActorSettings {
    ActorSettings::for_tests(64, LIMIT)
}

struct Harness {
    registry: Registry,
    store: Arc<FakeStore>,
    name: DocName,
}

impl Harness {
    fn new() -> Harness {
        Harness::with(settings())
    }

    fn with(settings: ActorSettings) -> Harness {
        let store = Arc::new(FakeStore::default());
        Harness {
            registry: Registry::new(store.clone(), settings),
            store,
            name: DocName::parse("phases").expect("a valid name"),
        }
    }

    fn handle(&self) -> DocHandle {
        self.registry.handle(&self.name)
    }

    /// `a` writes "kept" (seen by `watcher`), the store turns `mode`, then `b`'s write over the
    /// size limit is refused (b closed 1009): the document is tainted. Returns (a, watcher, b).
    async fn tainted(&self, mode: Mode) -> (Session, Session, Session) {
        let a = self.join().await;
        let mut watcher = self.join().await;
        a.write("kept").await;
        assert!(watcher.until_text("kept", Duration::from_secs(2)).await);
        self.store.set(mode);
        let mut b = self.join().await;
        b.write(&big()).await;
        assert_eq!(
            b.closed_within(Duration::from_secs(2)).await,
            Some(Close::DocumentTooLarge)
        );
        (a, watcher, b)
    }

    async fn join(&self) -> Session {
        let (outbound, out) = mpsc::channel(256);
        let (close, closed) = oneshot::channel();
        let id = self.registry.next_session_id();
        let handle = self.handle();
        handle
            .join(Member {
                id,
                outbound: crate::ws::socket::Outbound::Queue(outbound),
                close,
                writes: true,
            })
            .await
            .expect("join");
        Session {
            id,
            handle,
            out,
            closed,
            doc: yrs::Doc::new(),
        }
    }

    /// The committed text, as a fresh load would see it.
    fn committed(&self) -> String {
        let parts = self.store.log(&self.name);
        let doc = weft_crdt::snapshot::rebuild(&parts).expect("the log rebuilds");
        let text = doc.get_or_insert_text("t");
        let s = text.get_string(&doc.transact());
        s
    }

    async fn read(&self) -> Option<Result<String, Refused>> {
        let state = self.handle().read(None).await?;
        Some(state.map(|s| {
            let doc = weft_crdt::snapshot::rebuild(&[s]).expect("a valid state");
            let text = doc.get_or_insert_text("t");
            let s = text.get_string(&doc.transact());
            s
        }))
    }
}

/// A session as a test sees it: what it receives is applied to `doc`.
struct Session {
    id: SessionId,
    handle: DocHandle,
    out: mpsc::Receiver<Bytes>,
    closed: oneshot::Receiver<Close>,
    doc: yrs::Doc,
}

impl Session {
    async fn send(&self, frame: Vec<u8>) {
        let messages = weft_crdt::codec::decode_frame(&frame).expect("a valid frame");
        self.handle
            .send(self.id, messages)
            .await
            .expect("the actor runs");
    }

    /// Appends to the Y.Text "t" locally and sends it.
    async fn write(&self, s: &str) {
        let text = self.doc.get_or_insert_text("t");
        let update = {
            let mut txn = self.doc.transact_mut();
            text.push(&mut txn, s);
            txn.encode_update_v1()
        };
        self.send(weft_crdt::codec::encode_update(&update)).await;
    }

    /// Asks for everything (sync step 1 with our state vector).
    async fn sync(&self) {
        let sv = self.doc.transact().state_vector();
        self.send(weft_crdt::codec::encode_sync_step1(&sv)).await;
    }

    /// Applies what arrives for `wait`; returns the number of frames.
    async fn receive(&mut self, wait: Duration) -> usize {
        let mut frames = 0;
        let until = tokio::time::Instant::now() + wait;
        while let Ok(Some(frame)) = tokio::time::timeout_at(until, self.out.recv()).await {
            frames += 1;
            for msg in weft_crdt::codec::decode_frame(&frame).expect("server frames decode") {
                if let Inbound::SyncStep2 { update, .. } | Inbound::Update { update, .. } = msg {
                    self.doc.transact_mut().apply_update(update).expect("apply");
                }
            }
        }
        frames
    }

    /// Receives until the text is `want` (true) or `wait` passes.
    async fn until_text(&mut self, want: &str, wait: Duration) -> bool {
        let until = tokio::time::Instant::now() + wait;
        while tokio::time::Instant::now() < until {
            if self.text() == want {
                return true;
            }
            self.receive(Duration::from_millis(20)).await;
        }
        self.text() == want
    }

    fn text(&self) -> String {
        let text = self.doc.get_or_insert_text("t");
        let s = text.get_string(&self.doc.transact());
        s
    }

    async fn closed_within(&mut self, wait: Duration) -> Option<Close> {
        tokio::time::timeout(wait, &mut self.closed)
            .await
            .ok()?
            .ok()
    }
}

fn big() -> String {
    "B".repeat(2 * LIMIT)
}

/// Live: an update is committed, then sent to the others; a joiner gets it.
#[tokio::test]
async fn live_commits_then_sends() {
    let h = Harness::new();
    let a = h.join().await;
    let mut b = h.join().await;
    a.write("hello").await;
    assert!(b.until_text("hello", Duration::from_secs(2)).await);
    assert_eq!(h.committed(), "hello");
    let mut c = h.join().await;
    c.sync().await;
    assert!(c.until_text("hello", Duration::from_secs(2)).await);
}

/// Loading fails: joiners are refused and nothing is created in the document's place.
#[tokio::test]
async fn a_failed_load_refuses_joiners() {
    let h = Harness::new();
    h.store.set(Mode::LoadFails);
    let (outbound, _out) = mpsc::channel(4);
    let (close, _closed) = oneshot::channel();
    let joined = h
        .handle()
        .join(Member {
            id: SessionId(1),
            outbound: crate::ws::socket::Outbound::Queue(outbound),
            close,
            writes: true,
        })
        .await;
    assert!(matches!(joined, Err(JoinError::LoadFailed(_))));
    assert_eq!(h.store.appends(), 0);
}

/// Live → Failing → Live: while commits fail, the update is held and so is every frame
/// revealing it; once the store answers, it is committed, then sent.
#[tokio::test]
async fn failing_holds_frames_until_the_commit() {
    let h = Harness::new();
    let a = h.join().await;
    let mut b = h.join().await;
    b.receive(QUIET).await;
    h.store.set(Mode::Down);
    a.write("held").await;
    let mut c = h.join().await;
    c.sync().await;
    b.receive(QUIET).await;
    c.receive(QUIET).await;
    assert_eq!(b.text(), "", "an uncommitted update was sent");
    assert_eq!(c.text(), "", "an uncommitted update was sent");
    assert_eq!(h.registry.failing_documents(), 1);
    h.store.set(Mode::Healthy);
    assert!(b.until_text("held", Duration::from_secs(5)).await);
    assert!(c.until_text("held", Duration::from_secs(5)).await);
    assert_eq!(h.committed(), "held");
    assert_eq!(h.registry.failing_documents(), 0);
}

/// A store that does not answer: nothing revealing the update is sent while the commit hangs.
#[tokio::test]
async fn a_hanging_commit_sends_nothing() {
    let h = Harness::new();
    let a = h.join().await;
    let mut b = h.join().await;
    b.receive(QUIET).await;
    h.store.set(Mode::Hang);
    a.write("slow").await;
    b.receive(QUIET).await;
    assert_eq!(b.text(), "");
    h.store.set(Mode::Healthy);
    assert!(b.until_text("slow", Duration::from_secs(2)).await);
}

/// Failing beyond `max_unsaved`: the writer is refused (1013), nothing is lost of the rest.
#[tokio::test]
async fn failing_beyond_max_unsaved_refuses_writers() {
    let mut s = settings();
    s.max_unsaved = 16;
    s.max_document_size = 1 << 20;
    let h = Harness::with(s);
    let mut a = h.join().await;
    h.store.set(Mode::Down);
    a.write(&"x".repeat(64)).await;
    a.write("more").await;
    assert_eq!(
        a.closed_within(Duration::from_secs(2)).await,
        Some(Close::StoreUnavailable)
    );
    h.store.set(Mode::Healthy);
    let mut b = h.join().await;
    b.sync().await;
    assert!(b.until_text(&"x".repeat(64), Duration::from_secs(5)).await);
}

/// Live → Tainted → Live: a write over the size limit is refused (1009); it was applied in
/// memory, and is gone once the document is rebuilt; nobody ever receives it.
#[tokio::test]
async fn a_refused_write_taints_and_the_rebuild_drops_it() {
    let h = Harness::new();
    let a = h.join().await;
    let mut watcher = h.join().await;
    a.write("kept").await;
    assert!(watcher.until_text("kept", Duration::from_secs(2)).await);
    let mut b = h.join().await;
    b.write(&big()).await;
    assert_eq!(
        b.closed_within(Duration::from_secs(2)).await,
        Some(Close::DocumentTooLarge)
    );
    let mut c = h.join().await;
    c.sync().await;
    assert!(c.until_text("kept", Duration::from_secs(2)).await);
    c.receive(QUIET).await;
    watcher.receive(QUIET).await;
    assert_eq!(c.text(), "kept");
    assert_eq!(watcher.text(), "kept");
    assert_eq!(h.read().await.expect("answered").expect("read"), "kept");
}

/// The case: Tainted while the store is down. Joiners, syncs and reads wait for the
/// rebuild (nothing from memory), then get the committed document without the refused write.
#[tokio::test]
async fn tainted_while_the_store_is_down_serves_nothing_until_rebuilt() {
    let h = Harness::new();
    let (_a, mut watcher, _b) = h.tainted(Mode::Down).await;
    let mut c = h.join().await;
    c.sync().await;
    let reader = {
        let handle = h.handle();
        tokio::spawn(async move { handle.read(None).await })
    };
    assert_eq!(
        c.receive(QUIET).await,
        0,
        "a tainted document greeted a joiner"
    );
    watcher.receive(QUIET).await;
    assert_eq!(watcher.text(), "kept");
    assert_eq!(h.registry.failing_documents(), 1);
    h.store.set(Mode::Healthy);
    assert!(c.until_text("kept", Duration::from_secs(5)).await);
    c.receive(QUIET).await;
    assert_eq!(c.text(), "kept");
    let read = reader
        .await
        .expect("reader")
        .expect("answered")
        .expect("read");
    let doc = weft_crdt::snapshot::rebuild(&[read]).expect("state");
    let text = doc.get_or_insert_text("t");
    assert_eq!(text.get_string(&doc.transact()), "kept");
    assert_eq!(h.registry.failing_documents(), 0);
}

/// Tainted → Failing-free Tainted → Live with a held update: what was committed before the
/// taint is committed first; what arrives while tainted waits and is applied after the
/// rebuild (nothing lost, nothing refused shown).
#[tokio::test]
async fn writes_while_tainted_wait_for_the_rebuild_and_are_kept() {
    let h = Harness::new();
    let a = h.join().await;
    let mut watcher = h.join().await;
    a.write("one").await;
    assert!(watcher.until_text("one", Duration::from_secs(2)).await);
    h.store.set(Mode::Down);
    a.write("-two").await;
    let b = h.join().await;
    b.write(&big()).await;
    a.write("-three").await;
    watcher.receive(QUIET).await;
    assert_eq!(watcher.text(), "one");
    h.store.set(Mode::Healthy);
    assert!(
        watcher
            .until_text("one-two-three", Duration::from_secs(5))
            .await
    );
    assert_eq!(h.committed(), "one-two-three");
}

/// A failed rebuild stays Tainted (never keeping the in-memory copy) and is retried: once
/// loads work again, the document is served, without the refused write.
#[tokio::test]
async fn a_failed_rebuild_stays_tainted_and_is_retried() {
    let h = Harness::new();
    let (_a, _watcher, _b) = h.tainted(Mode::LoadFails).await;
    let mut c = h.join().await;
    c.sync().await;
    assert_eq!(c.receive(Duration::from_millis(600)).await, 0);
    h.store.set(Mode::Healthy);
    assert!(c.until_text("kept", Duration::from_secs(8)).await);
    c.receive(QUIET).await;
    assert_eq!(c.text(), "kept");
}

/// Tainted too long: what waited gets a retryable refusal (sessions 1013, reads
/// `Refused::Recovering`), and the document keeps retrying its rebuild.
#[tokio::test]
async fn tainted_too_long_refuses_retryably() {
    let h = Harness::new();
    let (_a, _watcher, _b) = h.tainted(Mode::Down).await;
    let mut c = h.join().await;
    let read = h.read().await.expect("answered");
    assert!(matches!(read, Err(Refused::Recovering)), "{read:?}");
    assert_eq!(
        c.closed_within(Duration::from_secs(10)).await,
        Some(Close::Recovering)
    );
    assert_eq!(c.receive(Duration::ZERO).await, 0);
    h.store.set(Mode::Healthy);
    // Like a provider after a 1013: join again until the document is served.
    for _ in 0..5 {
        let mut d = h.join().await;
        d.sync().await;
        if d.until_text("kept", Duration::from_secs(10)).await {
            return;
        }
    }
    panic!("the document was never served again");
}

/// Deleting, even while Tainted: sessions are closed with 4404, the store forgets it.
#[tokio::test]
async fn delete_while_tainted_closes_everyone() {
    let h = Harness::new();
    let mut a = h.join().await;
    a.write("gone").await;
    let mut watcher = h.join().await;
    watcher.sync().await;
    assert!(watcher.until_text("gone", Duration::from_secs(2)).await);
    h.store.set(Mode::LoadFails);
    let b = h.join().await;
    b.write(&big()).await;
    tokio::time::sleep(QUIET).await;
    h.store.set(Mode::Healthy);
    let deleted = h
        .handle()
        .delete()
        .await
        .expect("answered")
        .expect("deleted");
    assert!(deleted);
    assert_eq!(
        a.closed_within(Duration::from_secs(2)).await,
        Some(Close::Deleted)
    );
    assert_eq!(
        watcher.closed_within(Duration::from_secs(2)).await,
        Some(Close::Deleted)
    );
    assert!(h.store.log(&h.name).is_empty());
}

/// Retiring: idle with no sessions, the actor commits, leaves the registry and a later
/// joiner gets a fresh actor that loads what was committed.
#[tokio::test]
async fn an_idle_document_retires_and_reloads() {
    let mut s = settings();
    s.doc_idle = Duration::from_millis(100);
    let h = Harness::with(s);
    let a = h.join().await;
    a.write("saved").await;
    a.handle.leave(a.id).await;
    let until = tokio::time::Instant::now() + Duration::from_secs(5);
    while h.registry.loaded() > 0 && tokio::time::Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(h.registry.loaded(), 0, "the actor did not retire");
    assert_eq!(h.committed(), "saved");
    let mut b = h.join().await;
    b.sync().await;
    assert!(b.until_text("saved", Duration::from_secs(2)).await);
}

/// ShuttingDown: what is held is committed once the store answers, then sessions get 1001.
#[tokio::test]
async fn shutdown_commits_then_closes_with_going_away() {
    let h = Harness::new();
    let mut a = h.join().await;
    h.store.set(Mode::Down);
    a.write("last").await;
    tokio::time::sleep(QUIET).await;
    let registry = h.registry.clone();
    let stopping = tokio::spawn(async move { registry.shutdown(Duration::from_secs(10)).await });
    tokio::time::sleep(QUIET).await;
    h.store.set(Mode::Healthy);
    assert!(
        stopping.await.expect("shutdown task"),
        "missed the deadline"
    );
    assert_eq!(h.committed(), "last");
    assert_eq!(
        a.closed_within(Duration::from_secs(1)).await,
        Some(Close::GoingAway)
    );
}

/// The first command of a batch is looked at against the phase too: a join queued right
/// behind the refused write is not greeted from memory.
#[tokio::test]
async fn a_joiner_in_the_same_batch_as_the_refused_write_waits() {
    let h = Harness::new();
    let a = h.join().await;
    a.write("kept").await;
    let mut watcher = h.join().await;
    watcher.sync().await;
    assert!(watcher.until_text("kept", Duration::from_secs(2)).await);
    h.store.set(Mode::Down);
    let b = h.join().await;
    // Queued together: the big write, then a fresh joiner's sync.
    let text = b.doc.get_or_insert_text("t");
    let update = {
        let mut txn = b.doc.transact_mut();
        text.push(&mut txn, &big());
        txn.encode_update_v1()
    };
    let (outbound, out) = mpsc::channel(256);
    let (close, closed) = oneshot::channel();
    let id = h.registry.next_session_id();
    let handle = h.handle();
    let big_frame =
        weft_crdt::codec::decode_frame(&weft_crdt::codec::encode_update(&update)).expect("frame");
    let step1 = weft_crdt::codec::decode_frame(&weft_crdt::codec::encode_sync_step1(
        &yrs::StateVector::default(),
    ))
    .expect("frame");
    let (send_big, join) = tokio::join!(
        handle.send(b.id, big_frame),
        handle.join(Member {
            id,
            outbound: crate::ws::socket::Outbound::Queue(outbound),
            close,
            writes: true,
        })
    );
    send_big.expect("sent");
    join.expect("joined");
    handle.send(id, step1).await.expect("sent");
    let mut c = Session {
        id,
        handle,
        out,
        closed,
        doc: yrs::Doc::new(),
    };
    c.receive(QUIET).await;
    assert!(!c.text().contains('B'), "refused characters were served");
    h.store.set(Mode::Healthy);
    assert!(c.until_text("kept", Duration::from_secs(5)).await);
}

/// A rebuild that fails for good (the stored data does not read back) is not retried: the
/// sessions are closed (1013), the actor ends, joiners get `LoadFailed` until the store reads
/// back, and never the refused write.
#[tokio::test]
async fn a_rebuild_that_fails_for_good_unloads_the_document() {
    let h = Harness::new();
    let mut a = h.join().await;
    let mut watcher = h.join().await;
    a.write("kept").await;
    assert!(watcher.until_text("kept", Duration::from_secs(2)).await);
    h.store.set(Mode::LoadCorrupt);
    let mut b = h.join().await;
    b.write(&big()).await;
    assert_eq!(
        b.closed_within(Duration::from_secs(2)).await,
        Some(Close::DocumentTooLarge)
    );
    assert_eq!(
        a.closed_within(Duration::from_secs(2)).await,
        Some(Close::Recovering)
    );
    watcher.receive(QUIET).await;
    assert_eq!(watcher.text(), "kept");
    let (outbound, _out) = mpsc::channel(4);
    let (close, _closed) = oneshot::channel();
    let joined = h
        .handle()
        .join(Member {
            id: h.registry.next_session_id(),
            outbound: crate::ws::socket::Outbound::Queue(outbound),
            close,
            writes: true,
        })
        .await;
    assert!(
        matches!(joined, Err(JoinError::LoadFailed(_))),
        "{joined:?}"
    );
    h.store.set(Mode::Healthy);
    let mut c = h.join().await;
    c.sync().await;
    assert!(c.until_text("kept", Duration::from_secs(2)).await);
}

/// A commit the store refuses for good is not retried: it is dropped with the frames that
/// would reveal it, every session is closed (1013) to resync, and the document is rebuilt from
/// what is committed.
#[tokio::test]
async fn a_commit_refused_for_good_is_dropped_not_retried() {
    let h = Harness::new();
    let a = h.join().await;
    let mut watcher = h.join().await;
    a.write("kept").await;
    assert!(watcher.until_text("kept", Duration::from_secs(2)).await);
    h.store.set(Mode::AppendRefused);
    a.write("-refused").await;
    assert_eq!(
        watcher.closed_within(Duration::from_secs(2)).await,
        Some(Close::Recovering)
    );
    assert_eq!(watcher.text(), "kept");
    let appends = h.store.appends();
    tokio::time::sleep(QUIET).await;
    assert_eq!(
        h.store.appends(),
        appends,
        "a permanent failure was retried"
    );
    h.store.set(Mode::Healthy);
    let mut c = h.join().await;
    c.sync().await;
    assert!(c.until_text("kept", Duration::from_secs(2)).await);
    c.receive(QUIET).await;
    assert_eq!(c.text(), "kept");
}

/// Versions are not taken from a tainted document: a request waits for the rebuild, then (the
/// store still failing) gets a retryable error; nothing was stored.
#[tokio::test]
async fn no_version_is_taken_from_a_tainted_document() {
    let h = Harness::new();
    let (_a, _watcher, _b) = h.tainted(Mode::LoadFails).await;
    let saved = h
        .handle()
        .save_version(crate::store::VersionKind::Manual, Some("now".into()))
        .await
        .expect("answered");
    assert!(
        matches!(&saved, Err(e) if e.is_retryable()),
        "a version of a tainted document: {saved:?}"
    );
}

/// Hibernation through the shell's timer, against the fake store: a joiner syncs from the
/// hibernated state, the first write after it is committed and delivered, and a store that
/// fails while the document is woken holds the write until it commits, like any other.
#[tokio::test]
async fn a_hibernated_document_syncs_wakes_and_commits_before_sending() {
    let mut s = settings();
    s.hibernate_after = Duration::from_millis(50);
    let h = Harness::with(s);
    let a = h.join().await;
    a.write("asleep").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut b = h.join().await;
    b.sync().await;
    assert!(b.until_text("asleep", Duration::from_secs(2)).await);
    h.store.set(Mode::Down);
    a.write(" awake").await;
    assert_eq!(b.receive(QUIET).await, 0, "sent before the commit");
    h.store.set(Mode::Healthy);
    assert!(b.until_text("asleep awake", Duration::from_secs(5)).await);
    assert_eq!(h.committed(), "asleep awake");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut c = h.join().await;
    c.sync().await;
    assert!(c.until_text("asleep awake", Duration::from_secs(2)).await);
}
