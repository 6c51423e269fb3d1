//! The core alone, deterministic: no store, no task, no clock. Each test plays the shell: it
//! hands commands and store outcomes to the core at chosen instants and looks at the effects.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::oneshot;
use tokio::time::Instant;
use weft_crdt::{DocName, Inbound, SessionId};
use yrs::updates::decoder::Decode;
use yrs::{GetString, Text, Transact};

use super::{Core, Effect, Io, Loaded, Rebuilt};
use crate::doc::actor::phase::{Phase, TAINTED_PATIENCE};
use crate::doc::fanout::Held;
use crate::doc::handle::{Close, Command, Refused};
use crate::doc::registry::ActorSettings;
use crate::store::{LogStats, StoreError};

const LIMIT: usize = 4 * 1024;

fn settings() -> Arc<ActorSettings> {
    Arc::new(ActorSettings::for_tests(8, LIMIT))
}

/// The core, loaded empty at `t0`, and a fake "store": the log the test commits to.
struct Play {
    core: Core,
    t0: Instant,
    log: Vec<Bytes>,
}

impl Play {
    fn new() -> Play {
        Play::with(settings())
    }

    fn with(settings: Arc<ActorSettings>) -> Play {
        let t0 = Instant::now();
        let mut core = Core::new(DocName::parse("core").expect("name"), settings, false, t0);
        core.loaded(Loaded {
            doc: yrs::Doc::new(),
            log: LogStats::default(),
            size: 0,
        });
        Play {
            core,
            t0,
            log: Vec::new(),
        }
    }

    fn at(&mut self, ms: u64) -> &mut Core {
        self.core.at(self.t0 + Duration::from_millis(ms))
    }

    /// What the shell does on a flush, with the store answering `ok` to appends and loading
    /// `self.log` (or failing) for rebuilds.
    fn flush(&mut self, ms: u64, append_ok: bool, load_ok: bool) -> Vec<Effect> {
        loop {
            let Some(io) = self.at(ms).next_io() else {
                break;
            };
            match io {
                Io::Append(batch) => {
                    let result = if append_ok {
                        self.log.extend(batch.iter().cloned());
                        Ok(LogStats {
                            entries: self.log.len() as u64,
                            ..LogStats::default()
                        })
                    } else {
                        Err(StoreError::Unavailable("down".into()))
                    };
                    self.at(ms).appended(batch, result);
                    if self.core.has_unsaved() {
                        return self.core.take_effects();
                    }
                }
                Io::Rebuild => {
                    let loaded = if load_ok {
                        let doc = weft_crdt::snapshot::rebuild(&self.log).expect("log rebuilds");
                        Ok(Loaded {
                            doc,
                            log: LogStats::default(),
                            size: self.log.iter().map(|p| p.len()).sum(),
                        })
                    } else {
                        Err(StoreError::Unavailable("store down".into()))
                    };
                    match self.at(ms).rebuilt(loaded) {
                        Rebuilt::Clean => {}
                        Rebuilt::Failed | Rebuilt::GaveUp => break,
                    }
                }
            }
        }
        self.at(ms).deliver();
        self.core.take_effects()
    }
}

fn update(doc: &yrs::Doc, s: &str) -> Command {
    let text = doc.get_or_insert_text("t");
    let update = {
        let mut txn = doc.transact_mut();
        text.push(&mut txn, s);
        txn.encode_update_v1()
    };
    let messages =
        weft_crdt::codec::decode_frame(&weft_crdt::codec::encode_update(&update)).expect("frame");
    Command::Messages {
        from: SessionId(0),
        messages,
    }
}

fn from(id: u64, cmd: Command) -> Command {
    match cmd {
        Command::Messages { messages, .. } => Command::Messages {
            from: SessionId(id),
            messages,
        },
        other => other,
    }
}

fn fresh_sync(id: u64) -> Command {
    let messages = weft_crdt::codec::decode_frame(&weft_crdt::codec::encode_sync_step1(
        &yrs::StateVector::default(),
    ))
    .expect("frame");
    Command::Messages {
        from: SessionId(id),
        messages,
    }
}

/// The text session `id` would hold after the frames sent to it in `effects`.
fn text_seen_by(effects: &[Effect], id: u64) -> String {
    let doc = yrs::Doc::new();
    let id = SessionId(id);
    let apply = |frame: &[u8]| {
        for msg in weft_crdt::codec::decode_frame(frame).expect("frames decode") {
            if let Inbound::SyncStep2 { update, .. } | Inbound::Update { update, .. } = msg {
                doc.transact_mut().apply_update(update).expect("apply");
            }
        }
    };
    for effect in effects {
        let Effect::Send(held) = effect else { continue };
        for h in held {
            match h {
                Held::Shared(to, frame) if *to == id => apply(frame.payload()),
                Held::Fx(sender, fx) => {
                    if *sender == Some(id) {
                        fx.reply.iter().for_each(|f| apply(f));
                    } else {
                        fx.broadcast.iter().for_each(|f| apply(f));
                    }
                }
                _ => {}
            }
        }
    }
    let text = doc.get_or_insert_text("t");
    let s = text.get_string(&doc.transact());
    s
}

fn sent_anything(effects: &[Effect]) -> bool {
    effects
        .iter()
        .any(|e| matches!(e, Effect::Send(h) if !h.is_empty()))
}

fn closes(effects: &[Effect]) -> Vec<(u64, Close)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Close(id, why) => Some((id.0, *why)),
            _ => None,
        })
        .collect()
}

#[test]
fn live_commits_before_it_sends() {
    let mut p = Play::new();
    p.at(0).joined(SessionId(1));
    p.at(0).joined(SessionId(2));
    let a = yrs::Doc::new();
    p.at(0).accept(from(1, update(&a, "hi")));
    // Nothing is released while the update is uncommitted.
    p.at(0).deliver();
    assert!(!sent_anything(&p.core.take_effects()));
    let fx = p.flush(0, true, true);
    assert_eq!(p.log.len(), 1);
    assert_eq!(text_seen_by(&fx, 2), "hi");
}

#[test]
fn failing_holds_frames_and_retries_on_the_backoff_schedule() {
    let mut p = Play::new();
    p.at(0).joined(SessionId(1));
    p.at(0).joined(SessionId(2));
    let a = yrs::Doc::new();
    p.at(0).accept(from(1, update(&a, "held")));
    let fx = p.flush(0, false, true);
    assert!(
        !sent_anything(&fx),
        "a frame revealing an uncommitted update was sent"
    );
    assert!(matches!(p.core.phase(), Phase::Failing(_)));
    assert!(p.core.phase().is_failing());
    // Not before the retry is due, whatever arrives.
    let retry_at = p.core.phase().retry_at().expect("a retry is scheduled");
    let early = (retry_at - p.t0).as_millis() as u64 - 1;
    assert!(p.at(early).next_io().is_none());
    let due = early + 1;
    let fx = p.flush(due, true, true);
    assert!(matches!(p.core.phase(), Phase::Live));
    assert_eq!(text_seen_by(&fx, 2), "held");
    assert!(fx.iter().any(|e| matches!(e, Effect::Changed)));
}

#[test]
fn a_refused_write_taints_and_nothing_is_served_until_the_rebuild() {
    let mut p = Play::new();
    for id in 1..=3 {
        p.at(0).joined(SessionId(id));
    }
    p.flush(0, true, true);
    let a = yrs::Doc::new();
    p.at(0).accept(from(1, update(&a, "kept")));
    assert_eq!(text_seen_by(&p.flush(0, true, true), 2), "kept");
    // The store goes down; B's write over the limit is refused.
    let b = yrs::Doc::new();
    p.at(10).accept(from(3, update(&b, &"B".repeat(2 * LIMIT))));
    let fx = p.core.take_effects();
    assert_eq!(closes(&fx), vec![(3, Close::DocumentTooLarge)]);
    assert!(p.core.phase().is_tainted());
    // A fresh joiner, a sync, a read: all wait.
    p.at(20).joined(SessionId(4));
    p.at(20).accept(fresh_sync(4));
    let (reply, mut read) = oneshot::channel();
    p.at(20).accept(Command::Read { sv: None, reply });
    let fx = p.flush(20, false, false);
    assert_eq!(
        text_seen_by(&fx, 4),
        "",
        "a tainted document answered a joiner"
    );
    assert!(
        read.try_recv().is_err(),
        "a tainted document answered a read"
    );
    assert!(p.core.phase().is_tainted(), "a failed rebuild left Tainted");
    assert!(p.core.phase().retry_at().is_some());
    // The store is back: rebuilt, then everything that waited is answered from the store.
    let later = (p.core.phase().retry_at().expect("retry") - p.t0).as_millis() as u64;
    let fx = p.flush(later, true, true);
    assert!(matches!(p.core.phase(), Phase::Live));
    assert_eq!(text_seen_by(&fx, 4), "kept");
    let state = read.try_recv().expect("answered").expect("read");
    let doc = weft_crdt::snapshot::rebuild(&[state]).expect("state");
    let text = doc.get_or_insert_text("t");
    assert_eq!(text.get_string(&doc.transact()), "kept");
}

#[test]
fn the_first_command_after_a_taint_in_the_same_batch_waits_too() {
    let mut p = Play::new();
    p.at(0).joined(SessionId(1));
    p.flush(0, true, true);
    let a = yrs::Doc::new();
    p.at(0).accept(from(1, update(&a, "kept")));
    p.flush(0, true, true);
    // One batch: the refused write, then a joiner's sync, before any flush.
    let b = yrs::Doc::new();
    p.at(5).joined(SessionId(2));
    p.at(5).accept(from(2, update(&b, &"B".repeat(2 * LIMIT))));
    p.at(5).joined(SessionId(3));
    p.at(5).accept(fresh_sync(3));
    let fx = p.flush(5, true, false);
    assert!(!text_seen_by(&fx, 3).contains('B'));
    assert_eq!(text_seen_by(&fx, 3), "");
    let later = (p.core.phase().retry_at().expect("retry") - p.t0).as_millis() as u64;
    let fx = p.flush(later, true, true);
    assert_eq!(text_seen_by(&fx, 3), "kept");
}

#[test]
fn waiting_too_long_is_refused_retryably() {
    let mut p = Play::new();
    p.at(0).joined(SessionId(1));
    p.flush(0, true, true);
    let b = yrs::Doc::new();
    p.at(0).accept(from(1, update(&b, &"B".repeat(2 * LIMIT))));
    p.at(1).joined(SessionId(2));
    let (reply, mut read) = oneshot::channel();
    p.at(1).accept(Command::Read { sv: None, reply });
    p.flush(1, false, false);
    let end = p.core.patience_ends().expect("something waits");
    assert_eq!(end, p.t0 + Duration::from_millis(1) + TAINTED_PATIENCE);
    let before = (end - p.t0).as_millis() as u64 - 1;
    p.at(before).refuse_expired();
    assert!(closes(&p.core.take_effects()).is_empty());
    p.at(before + 1).refuse_expired();
    assert_eq!(closes(&p.core.take_effects()), vec![(2, Close::Recovering)]);
    assert!(matches!(read.try_recv(), Ok(Err(Refused::Recovering))));
    assert!(p.core.patience_ends().is_none());
}

#[test]
fn parked_requests_are_bounded_the_oldest_is_refused() {
    let mut p = Play::new();
    p.at(0).joined(SessionId(1));
    p.flush(0, true, true);
    let b = yrs::Doc::new();
    p.at(0).accept(from(1, update(&b, &"B".repeat(2 * LIMIT))));
    let mut reads = Vec::new();
    for _ in 0..settings().queue + 1 {
        let (reply, read) = oneshot::channel();
        p.at(1).accept(Command::Read { sv: None, reply });
        reads.push(read);
    }
    assert!(matches!(reads[0].try_recv(), Ok(Err(Refused::Recovering))));
    assert!(reads[1].try_recv().is_err(), "a newer request was refused");
}

#[test]
fn delete_while_tainted_closes_everyone_and_answers_waiters() {
    let mut p = Play::new();
    p.at(0).joined(SessionId(1));
    p.at(0).joined(SessionId(2));
    p.flush(0, true, true);
    let b = yrs::Doc::new();
    p.at(0).accept(from(2, update(&b, &"B".repeat(2 * LIMIT))));
    let (reply, mut read) = oneshot::channel();
    p.at(1).accept(Command::Read { sv: None, reply });
    let (reply, _deleted) = oneshot::channel();
    p.at(1).accept(Command::Delete { reply });
    assert!(matches!(p.core.phase(), Phase::Deleting(_)));
    p.core.take_effects();
    assert!(p.at(2).begin_delete().is_some());
    assert_eq!(closes(&p.core.take_effects()), vec![(1, Close::Deleted)]);
    assert!(matches!(read.try_recv(), Ok(Err(Refused::Recovering))));
}

#[test]
fn retiring_needs_everything_committed_and_no_sessions() {
    let mut p = Play::new();
    p.at(0).joined(SessionId(1));
    let a = yrs::Doc::new();
    p.at(0).accept(from(1, update(&a, "x")));
    p.at(0).accept(Command::Leave { from: SessionId(1) });
    assert!(!p.at(1).retire(), "retired with an uncommitted update");
    p.flush(1, true, true);
    assert!(p.at(2).retire());
    assert!(matches!(p.core.phase(), Phase::Retiring));
}

#[test]
fn shutting_down_closes_every_session_with_going_away() {
    let mut p = Play::new();
    p.at(0).joined(SessionId(1));
    p.at(0).joined(SessionId(2));
    p.at(1).shut_down();
    assert_eq!(
        closes(&p.core.take_effects()),
        vec![(1, Close::GoingAway), (2, Close::GoingAway)]
    );
    assert!(matches!(p.core.phase(), Phase::ShuttingDown));
}

#[test]
fn a_permanent_rebuild_failure_gives_up_instead_of_retrying() {
    let mut p = Play::new();
    p.at(0).joined(SessionId(1));
    p.at(0).joined(SessionId(2));
    p.flush(0, true, true);
    let b = yrs::Doc::new();
    p.at(0).accept(from(2, update(&b, &"B".repeat(2 * LIMIT))));
    let (reply, mut read) = oneshot::channel();
    p.at(1).accept(Command::Read { sv: None, reply });
    p.core.take_effects();
    assert!(matches!(p.at(1).next_io(), Some(Io::Rebuild)));
    let outcome = p
        .at(1)
        .rebuilt(Err(StoreError::Database("does not decode".into())));
    assert!(matches!(outcome, Rebuilt::GaveUp));
    assert!(matches!(p.core.phase(), Phase::Retiring));
    assert!(
        p.core.phase().retry_at().is_none(),
        "a permanent failure scheduled a retry"
    );
    assert_eq!(closes(&p.core.take_effects()), vec![(1, Close::Recovering)]);
    assert!(matches!(read.try_recv(), Ok(Err(Refused::Recovering))));
}

#[test]
fn a_retryable_rebuild_failure_is_retried_with_backoff() {
    let mut p = Play::new();
    p.at(0).joined(SessionId(1));
    p.flush(0, true, true);
    let b = yrs::Doc::new();
    p.at(0).accept(from(1, update(&b, &"B".repeat(2 * LIMIT))));
    let mut last = None;
    for _ in 0..3 {
        let outcome = p
            .at(1)
            .rebuilt(Err(StoreError::Unavailable("connection lost".into())));
        assert!(matches!(outcome, Rebuilt::Failed));
        let at = p.core.phase().retry_at().expect("a retry");
        if let Some(last) = last {
            assert!(at > last, "the backoff did not grow");
        }
        last = Some(at);
    }
    assert!(p.core.phase().is_tainted());
}

#[test]
fn a_commit_refused_for_good_is_dropped_and_taints() {
    let mut p = Play::new();
    p.at(0).joined(SessionId(1));
    p.at(0).joined(SessionId(2));
    p.flush(0, true, true);
    let a = yrs::Doc::new();
    p.at(0).accept(from(1, update(&a, "never")));
    let Some(Io::Append(batch)) = p.at(0).next_io() else {
        panic!("an append was expected");
    };
    p.at(0)
        .appended(batch, Err(StoreError::Database("constraint".into())));
    assert!(
        !p.core.has_unsaved(),
        "a permanently refused batch is kept for a retry"
    );
    assert!(p.core.phase().is_tainted());
    assert!(p.core.phase().retry_at().is_none());
    let fx = p.core.take_effects();
    assert!(
        !sent_anything(&fx),
        "frames revealing the refused update were sent"
    );
    assert_eq!(
        closes(&fx),
        vec![(1, Close::Recovering), (2, Close::Recovering)]
    );
}

#[test]
fn presence_stays_live_while_tainted() {
    let mut p = Play::new();
    p.at(0).joined(SessionId(1));
    p.at(0).joined(SessionId(2));
    p.flush(0, true, true);
    let b = yrs::Doc::new();
    p.at(0).joined(SessionId(3));
    p.at(0).accept(from(3, update(&b, &"B".repeat(2 * LIMIT))));
    assert!(p.core.phase().is_tainted());
    p.core.take_effects();
    // A cursor move and an edit in one frame: the cursor is relayed, the edit waits.
    let a = yrs::Doc::new();
    let Command::Messages { mut messages, .. } = update(&a, "later") else {
        unreachable!("update() builds Messages")
    };
    let awareness =
        weft_crdt::codec::decode_frame(&[1, 11, 1, 1, 1, 7, 123, 34, 120, 34, 58, 49, 125])
            .expect("an awareness frame");
    messages.extend(awareness);
    p.at(1).accept(Command::Messages {
        from: SessionId(1),
        messages,
    });
    let fx = p.flush(1, false, false);
    let relayed = fx.iter().any(|e| {
        matches!(e, Effect::Send(held) if held.iter().any(|h| matches!(h, Held::Fx(Some(SessionId(1)), fx) if !fx.broadcast.is_empty())))
    });
    assert!(relayed, "presence was not relayed while tainted");
    assert_eq!(
        text_seen_by(&fx, 2),
        "",
        "an edit was applied to a tainted document"
    );
    assert!(p.core.patience_ends().is_some(), "the edit does not wait");
}

const HIBERNATE_MS: u64 = 1_000;

fn hibernating() -> Play {
    let mut s = ActorSettings::for_tests(8, LIMIT);
    s.hibernate_after = Duration::from_millis(HIBERNATE_MS);
    Play::with(Arc::new(s))
}

fn sync_from(id: u64, doc: &yrs::Doc) -> Command {
    let sv = yrs::ReadTxn::state_vector(&doc.transact());
    let messages =
        weft_crdt::codec::decode_frame(&weft_crdt::codec::encode_sync_step1(&sv)).expect("frame");
    Command::Messages {
        from: SessionId(id),
        messages,
    }
}

/// Hibernated: a new client and an old one sync from the encoded state, presence and API
/// reads go on, the first update wakes the document and is committed before it is sent,
/// and the document hibernates again after the next quiet period.
#[test]
fn a_hibernated_document_serves_reads_wakes_on_a_write_and_hibernates_again() {
    let mut p = hibernating();
    p.at(0).joined(SessionId(1));
    let a = yrs::Doc::new();
    p.at(0).accept(from(1, update(&a, "be")));
    // An old client: it has the first edit only.
    let old = yrs::Doc::new();
    old.transact_mut()
        .apply_update(
            yrs::Update::decode_v1(&p.core.doc.encode_state().expect("state")).expect("decodes"),
        )
        .expect("applies");
    p.at(0).accept(from(1, update(&a, "fore")));
    p.flush(0, true, true);
    // Not before the delay after the last update.
    let due = (p.core.hibernate_at().expect("scheduled") - p.t0).as_millis() as u64;
    assert_eq!(due, HIBERNATE_MS);
    p.at(due - 1).hibernate();
    assert!(!p.core.is_hibernated());
    p.at(due).hibernate();
    assert!(p.core.is_hibernated());
    assert!(p.core.hibernate_at().is_none());
    // A new client and an old one (the diff is computed against its state vector).
    p.at(due).joined(SessionId(2));
    p.at(due).joined(SessionId(3));
    p.at(due).accept(fresh_sync(2));
    p.at(due).accept(sync_from(3, &old));
    let (reply, read) = oneshot::channel();
    p.at(due).accept(Command::Read { sv: None, reply });
    let fx = p.flush(due, true, true);
    assert_eq!(text_seen_by(&fx, 2), "before");
    for effect in &fx {
        let Effect::Send(held) = effect else { continue };
        for h in held {
            if let Held::Fx(Some(SessionId(3)), fx) = h {
                for frame in &fx.reply {
                    for msg in weft_crdt::codec::decode_frame(frame).expect("frames decode") {
                        if let Inbound::SyncStep2 { update, .. } = msg {
                            old.transact_mut().apply_update(update).expect("apply");
                        }
                    }
                }
            }
        }
    }
    assert_eq!(
        old.get_or_insert_text("t").get_string(&old.transact()),
        "before"
    );
    let state = read.blocking_recv().expect("answered").expect("a state");
    let doc = weft_crdt::snapshot::rebuild(&[state]).expect("a valid state");
    assert_eq!(
        doc.get_or_insert_text("t").get_string(&doc.transact()),
        "before"
    );
    assert!(p.core.is_hibernated(), "reads woke the document");
    // Presence is relayed without waking it.
    let awareness =
        weft_crdt::codec::decode_frame(&[1, 11, 1, 1, 1, 7, 123, 34, 120, 34, 58, 49, 125])
            .expect("an awareness frame");
    p.at(due).accept(Command::Messages {
        from: SessionId(1),
        messages: awareness,
    });
    let fx = p.flush(due, true, true);
    assert!(sent_anything(&fx));
    assert!(p.core.is_hibernated(), "presence woke the document");
    // The first update wakes it: committed, then sent.
    let t = due + 5;
    p.at(t).accept(from(1, update(&a, " after")));
    p.at(t).take_effects();
    assert!(!p.core.is_hibernated());
    p.at(t).deliver();
    assert!(
        !sent_anything(&p.core.take_effects()),
        "sent before the commit"
    );
    let fx = p.flush(t, true, true);
    assert_eq!(p.log.len(), 3);
    assert!(
        sent_anything(&fx),
        "the update was not sent after its commit"
    );
    // And it hibernates again once quiet.
    let again = (p.core.hibernate_at().expect("scheduled") - p.t0).as_millis() as u64;
    assert_eq!(again, t + HIBERNATE_MS);
    p.at(again).hibernate();
    assert!(p.core.is_hibernated());
    p.at(again).joined(SessionId(4));
    p.at(again).accept(fresh_sync(4));
    let fx = p.flush(again, true, true);
    assert_eq!(text_seen_by(&fx, 4), "before after");
}

/// Nothing uncommitted is ever dropped: a failing store keeps the document materialized.
#[test]
fn a_document_with_uncommitted_updates_does_not_hibernate() {
    let mut p = hibernating();
    p.at(0).joined(SessionId(1));
    let a = yrs::Doc::new();
    p.at(0).accept(from(1, update(&a, "held")));
    p.flush(0, false, true);
    assert!(matches!(p.core.phase(), Phase::Failing(_)));
    assert!(
        p.core.hibernate_at().is_none(),
        "a failing document hibernates"
    );
    let retry = (p.core.phase().retry_at().expect("retry") - p.t0).as_millis() as u64;
    p.flush(retry, true, true);
    assert!(matches!(p.core.phase(), Phase::Live));
    p.at(HIBERNATE_MS).hibernate();
    assert!(p.core.is_hibernated());
    assert_eq!(p.log.len(), 1);
}

/// Off (zero): never.
#[test]
fn hibernation_off_never_hibernates() {
    let mut p = Play::new();
    assert!(p.core.hibernate_at().is_none());
    p.at(1_000_000).hibernate();
    assert!(!p.core.is_hibernated());
}

/// What the shell wakes off its thread: a write that adds something, nothing else; the
/// document it decoded is taken as is and the next update applies to it.
#[test]
fn only_a_write_that_adds_something_is_woken_off_the_thread() {
    let mut p = hibernating();
    p.at(0).joined(SessionId(1));
    let a = yrs::Doc::new();
    p.at(0).accept(from(1, update(&a, "kept")));
    p.flush(0, true, true);
    p.at(HIBERNATE_MS).hibernate();
    assert!(p.core.is_hibernated());
    assert!(
        !p.core.wakes_for(&sync_from(1, &a)),
        "a sync step 1 wakes it"
    );
    let nothing_new = {
        let state = yrs::ReadTxn::encode_state_as_update_v1(
            &a.transact(),
            &yrs::ReadTxn::state_vector(&a.transact()),
        );
        Command::Messages {
            from: SessionId(1),
            messages: weft_crdt::codec::decode_frame(&weft_crdt::codec::encode_sync_step2(&state))
                .expect("frame"),
        }
    };
    assert!(
        !p.core.wakes_for(&nothing_new),
        "a step 2 with nothing new wakes it"
    );
    let write = from(1, update(&a, " more"));
    assert!(p.core.wakes_for(&write));
    let state = p.core.hibernated_state().expect("hibernated");
    p.core
        .woken(weft_crdt::snapshot::rebuild(&[state]).expect("decodes"));
    assert!(!p.core.is_hibernated());
    p.at(HIBERNATE_MS + 1).accept(write);
    p.flush(HIBERNATE_MS + 1, true, true);
    p.at(HIBERNATE_MS + 1).joined(SessionId(2));
    p.at(HIBERNATE_MS + 1).accept(fresh_sync(2));
    let fx = p.flush(HIBERNATE_MS + 1, true, true);
    assert_eq!(text_seen_by(&fx, 2), "kept more");
}
