//! Prometheus metrics: every figure Weft exports is named here, once, with its unit and
//! labels, and recorded through these functions so call sites stay one line.
//!
//! The recorder is process-global (the `metrics` facade); [`install`] sets it up once and
//! returns the handle `/metrics` renders.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{counter, gauge, histogram, KeyName, SharedString, Unit};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Latency buckets (seconds) for commits and applies: 50 µs to 5 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 5.0,
];

/// Installs the recorder (first call) and returns the handle to render.
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                .map(|b| b.build_recorder());
            let recorder = match recorder {
                Ok(r) => r,
                // The bucket list is a non-empty constant; this cannot fail.
                Err(e) => unreachable!("invalid metric buckets: {e}"),
            };
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed; /metrics shows Weft's own only if it is this one");
            }
            describe();
            zero(AtStart);
            process().collect();
            handle
        })
        .clone()
}

/// What kind of series a family is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// When a family's series appear on `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shown {
    /// From the start, at zero (no labels, or labels whose values are all known).
    AtStart,
    /// Its `# HELP` and `# TYPE` lines from the start; series as their labels occur.
    Labelled,
    /// From the moment the node joins a cluster, at zero (a single node shows none).
    InCluster,
}

/// One metric family: everything Weft exports is listed here, once.
struct Family {
    name: &'static str,
    kind: Kind,
    unit: Option<Unit>,
    help: &'static str,
    shown: Shown,
}

const fn family(name: &'static str, kind: Kind, shown: Shown, help: &'static str) -> Family {
    Family {
        name,
        kind,
        unit: None,
        help,
        shown,
    }
}

const fn in_unit(f: Family, unit: Unit) -> Family {
    Family {
        unit: Some(unit),
        ..f
    }
}

use Kind::{Counter, Gauge, Histogram};
use Shown::{AtStart, InCluster, Labelled};

#[rustfmt::skip]
const FAMILIES: &[Family] = &[
    family("weft_build_info", Gauge, AtStart, "Always 1; the version and git commit of this build as labels."),
    family("weft_connections", Gauge, AtStart, "Open WebSocket connections."),
    family("weft_documents_loaded", Gauge, AtStart, "Documents loaded in memory (one actor each)."),
    family("weft_documents", Gauge, AtStart, "Loaded documents by state: live (materialized) or hibernated (encoded state only)."),
    in_unit(family("weft_document_wake_seconds", Histogram, AtStart, "Time to wake a hibernated document: decoding its state off the actor's thread (or, woken in place, decoding it and applying the update that woke it)."), Unit::Seconds),
    in_unit(family("weft_document_state_bytes", Gauge, AtStart, "Bytes of document state by state: hibernated, exactly what is held; live, the stored size at load or wake (the materialized document holds several times it)."), Unit::Bytes),
    family("weft_messages_in_total", Counter, AtStart, "y-protocols messages received, by kind."),
    in_unit(family("weft_bytes_in_total", Counter, AtStart, "WebSocket payload bytes received."), Unit::Bytes),
    family("weft_frames_out_total", Counter, AtStart, "Frames queued to clients."),
    in_unit(family("weft_bytes_out_total", Counter, AtStart, "Frame bytes queued to clients."), Unit::Bytes),
    in_unit(family("weft_update_apply_seconds", Histogram, AtStart, "Time to integrate one update."), Unit::Seconds),
    in_unit(family("weft_store_commit_seconds", Histogram, AtStart, "Time of one store append (group commit)."), Unit::Seconds),
    family("weft_store_commit_failures_total", Counter, AtStart, "Store appends that failed (retried)."),
    family("weft_committed_updates_total", Counter, AtStart, "Updates committed to the store."),
    in_unit(family("weft_pending_store_bytes", Gauge, AtStart, "Update bytes held in memory, not yet committed."), Unit::Bytes),
    family("weft_closes_total", Counter, Labelled, "WebSocket closes sent by the server, by close code."),
    family("weft_refusals_total", Counter, Labelled, "Requests or messages refused, by reason."),
    family("weft_compactions_total", Counter, AtStart, "Log compactions, by result."),
    family("weft_caught_panics_total", Counter, AtStart, "Panics caught around yrs (the document was rebuilt)."),
    family("weft_documents_tainted_total", Counter, AtStart, "Times a document held a refused write in memory and stopped serving it until rebuilt."),
    family("weft_versions_saved_total", Counter, AtStart, "Versions stored."),
    in_unit(family("weft_version_bytes_total", Counter, AtStart, "Bytes stored for versions (deltas and full states)."), Unit::Bytes),
    family("weft_api_requests_total", Counter, Labelled, "Document API requests, by operation and status."),
    family("weft_webhooks_total", Counter, Labelled, "Webhook deliveries, by event and result."),
    family("weft_stateless_messages_total", Counter, AtStart, "Hocuspocus stateless messages, by outcome (received, delivered, dropped)."),
    family("weft_node_info", Gauge, InCluster, "Always 1; this cluster node's id as a label."),
    family("weft_cluster_nodes", Gauge, InCluster, "Live nodes of the cluster (fresh heartbeats), this one included."),
    family("weft_cluster_listening", Gauge, InCluster, "1 while this node receives the other nodes' notifications (PostgreSQL LISTEN)."),
    family("weft_cluster_notifications_total", Counter, InCluster, "Cluster notifications, by kind (update, awareness) and outcome."),
    family("weft_cluster_catchup_entries_total", Counter, InCluster, "Log entries read to catch up with other nodes' commits."),
    family("weft_cluster_reloads_total", Counter, InCluster, "Documents reloaded because compaction merged entries not yet read."),
];

/// The labels of `weft_messages_in_total`, all known in advance.
const MESSAGE_KINDS: &[&str] = &[
    "sync_step1",
    "sync_step2",
    "update",
    "awareness",
    "query_awareness",
    "auth",
];

/// The labels of `weft_documents` and `weft_document_state_bytes`.
const DOCUMENT_STATES: &[&str] = &["live", "hibernated"];

/// The labels of `weft_cluster_notifications_total` that occur (see `cluster_notification`).
const CLUSTER_NOTIFICATIONS: &[(&str, &str)] = &[
    ("update", "received"),
    ("update", "deferred"),
    ("awareness", "received"),
    ("awareness", "sent"),
    ("awareness", "failed"),
    ("awareness", "too_large"),
    ("awareness", "dropped"),
];

/// This build's git commit (see build.rs).
const COMMIT: &str = env!("WEFT_BUILD_COMMIT");

fn describe() {
    for f in FAMILIES {
        let (name, help) = (
            KeyName::from_const_str(f.name),
            SharedString::const_str(f.help),
        );
        metrics::with_recorder(|r| match f.kind {
            Counter => r.describe_counter(name, f.unit, help),
            Gauge => r.describe_gauge(name, f.unit, help),
            Histogram => r.describe_histogram(name, f.unit, help),
        });
    }
    process().describe();
}

/// Registers `shown`'s families at zero, so they are on `/metrics` before anything happens.
fn zero(shown: Shown) {
    for f in FAMILIES.iter().filter(|f| f.shown == shown) {
        match (f.name, f.kind) {
            ("weft_build_info", _) => {
                gauge!(f.name, "version" => env!("CARGO_PKG_VERSION"), "commit" => COMMIT).set(1.0)
            }
            ("weft_node_info", _) => {} // labelled with the node id, set when it joins
            ("weft_messages_in_total", _) => {
                for kind in MESSAGE_KINDS {
                    counter!(f.name, "kind" => *kind).increment(0);
                }
            }
            ("weft_cluster_notifications_total", _) => {
                for (kind, outcome) in CLUSTER_NOTIFICATIONS {
                    counter!(f.name, "kind" => *kind, "outcome" => *outcome).increment(0);
                }
            }
            ("weft_documents" | "weft_document_state_bytes", _) => {
                for state in DOCUMENT_STATES {
                    gauge!(f.name, "state" => *state).increment(0.0);
                }
            }
            ("weft_stateless_messages_total", _) => {
                for outcome in ["received", "delivered", "dropped"] {
                    counter!(f.name, "outcome" => outcome).absolute(0);
                }
            }
            ("weft_compactions_total", _) => {
                for result in ["ok", "error"] {
                    counter!(f.name, "result" => result).increment(0);
                }
            }
            (_, Counter) => counter!(f.name).increment(0),
            (_, Gauge) => gauge!(f.name).increment(0.0),
            (_, Histogram) => drop(histogram!(f.name)),
        }
    }
}

/// The process's own figures (memory, CPU, descriptors, start time), read on every scrape.
fn process() -> &'static metrics_process::Collector {
    static PROCESS: OnceLock<metrics_process::Collector> = OnceLock::new();
    PROCESS.get_or_init(metrics_process::Collector::default)
}

/// The Prometheus text of every figure: the process's read now, and the `# HELP`/`# TYPE`
/// lines of labelled families that have no series yet.
pub fn render(handle: &PrometheusHandle) -> String {
    process().collect();
    let mut out = handle.render();
    for f in FAMILIES.iter().filter(|f| f.shown == Labelled) {
        if !out.contains(&format!("# TYPE {} ", f.name)) {
            let kind = match f.kind {
                Counter => "counter",
                Gauge => "gauge",
                Histogram => "histogram",
            };
            out.push_str(&format!(
                "# HELP {} {}\n# TYPE {} {kind}\n",
                f.name, f.help, f.name
            ));
        }
    }
    out
}

/// The node joined a cluster: its figures are shown from now on.
pub fn cluster_joined(node: &str) {
    zero(InCluster);
    gauge!("weft_node_info", "node" => node.to_string()).set(1.0);
}

pub fn connection_opened() {
    gauge!("weft_connections").increment(1.0);
}

pub fn connection_closed() {
    gauge!("weft_connections").decrement(1.0);
}

pub fn documents_loaded(n: usize) {
    gauge!("weft_documents_loaded").set(n as f64);
}

/// A document's share of the state gauges: `docs` (+1/-1) and `bytes` in `state`.
pub fn document_state(state: &'static str, docs: f64, bytes: f64) {
    gauge!("weft_documents", "state" => state).increment(docs);
    gauge!("weft_document_state_bytes", "state" => state).increment(bytes);
}

/// A hibernated document woke for an update (decode, then apply).
pub fn document_woke(took: Duration) {
    histogram!("weft_document_wake_seconds").record(took.as_secs_f64());
}

pub fn frame_in(bytes: usize, messages: &[weft_crdt::Inbound]) {
    counter!("weft_bytes_in_total").increment(bytes as u64);
    for m in messages {
        let kind = match m {
            weft_crdt::Inbound::SyncStep1(_) => "sync_step1",
            weft_crdt::Inbound::SyncStep2 { .. } => "sync_step2",
            weft_crdt::Inbound::Update { .. } => "update",
            weft_crdt::Inbound::Awareness(_) => "awareness",
            weft_crdt::Inbound::QueryAwareness => "query_awareness",
            weft_crdt::Inbound::Auth => "auth",
        };
        counter!("weft_messages_in_total", "kind" => kind).increment(1);
    }
}

pub fn frames_out(frames: u64, bytes: u64) {
    counter!("weft_frames_out_total").increment(frames);
    counter!("weft_bytes_out_total").increment(bytes);
}

pub fn update_applied(took: Duration) {
    histogram!("weft_update_apply_seconds").record(took.as_secs_f64());
}

pub fn commit(took: Duration, updates: usize, ok: bool) {
    histogram!("weft_store_commit_seconds").record(took.as_secs_f64());
    if ok {
        counter!("weft_committed_updates_total").increment(updates as u64);
    } else {
        counter!("weft_store_commit_failures_total").increment(1);
    }
}

pub fn pending_store_bytes(delta: f64) {
    gauge!("weft_pending_store_bytes").increment(delta);
}

pub fn closed_with(code: u16) {
    counter!("weft_closes_total", "code" => code.to_string()).increment(1);
}

/// A refusal: `reason` is a stable, low-cardinality label (`rate_limit`, `token_invalid`, ...).
pub fn refused(reason: &'static str) {
    counter!("weft_refusals_total", "reason" => reason).increment(1);
}

pub fn compaction(ok: bool) {
    counter!("weft_compactions_total", "result" => if ok { "ok" } else { "error" }).increment(1);
}

pub fn caught_panic() {
    counter!("weft_caught_panics_total").increment(1);
}

/// A document entered the tainted phase (it is rebuilt from the store before serving again).
pub fn document_tainted() {
    counter!("weft_documents_tainted_total").increment(1);
}

pub fn version_saved(bytes: u64) {
    counter!("weft_versions_saved_total").increment(1);
    counter!("weft_version_bytes_total").increment(bytes);
}

/// One document API request: `op` is the route's stable name.
pub fn api_request(op: &'static str, status: u16) {
    counter!("weft_api_requests_total", "op" => op, "status" => status.to_string()).increment(1);
}

/// One webhook delivery attempt's outcome: `result` is `ok`, `retry` or `dropped`.
pub fn webhook(event: &'static str, result: &'static str) {
    counter!("weft_webhooks_total", "event" => event, "result" => result).increment(1);
}

pub fn cluster_members(n: usize) {
    gauge!("weft_cluster_nodes").set(n as f64);
}

pub fn cluster_listening(on: bool) {
    gauge!("weft_cluster_listening").set(if on { 1.0 } else { 0.0 });
}

/// `kind`: `update` or `awareness`; `outcome`: `received`, `deferred`, `sent`, `failed`,
/// `too_large`, `dropped` (queue full). A new pair belongs in `CLUSTER_NOTIFICATIONS` too.
pub fn cluster_notification(kind: &'static str, outcome: &'static str) {
    counter!("weft_cluster_notifications_total", "kind" => kind, "outcome" => outcome).increment(1);
}

pub fn cluster_catchup(entries: usize, reloaded: bool) {
    counter!("weft_cluster_catchup_entries_total").increment(entries as u64);
    if reloaded {
        counter!("weft_cluster_reloads_total").increment(1);
    }
}

/// A Hocuspocus stateless message: `received` from a local session, `delivered` to a session's
/// queue, `dropped` (a full queue, or over the rate limit).
pub fn stateless(outcome: &'static str) {
    counter!("weft_stateless_messages_total", "outcome" => outcome).increment(1);
}
