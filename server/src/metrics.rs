//! Prometheus metrics: every figure Weft exports is named here, once, with its unit and
//! labels, and recorded through these functions so call sites stay one line.
//!
//! The recorder is process-global (the `metrics` facade); [`install`] sets it up once and
//! returns the handle `/metrics` renders.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{
    counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram, Unit,
};
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
            handle
        })
        .clone()
}

fn describe() {
    describe_gauge!("weft_connections", "Open WebSocket connections.");
    describe_gauge!(
        "weft_documents_loaded",
        "Documents loaded in memory (one actor each)."
    );
    describe_gauge!(
        "weft_documents",
        "Loaded documents by state: live (materialized) or hibernated (encoded state only)."
    );
    describe_gauge!(
        "weft_document_state_bytes",
        Unit::Bytes,
        "Bytes of document state by state: hibernated, exactly what is held; live, the stored size at load or wake (the materialized document holds several times it)."
    );
    describe_histogram!(
        "weft_document_wake_seconds",
        Unit::Seconds,
        "Time to wake a hibernated document: decoding its state off the actor's thread (or, woken in place, decoding it and applying the update that woke it)."
    );
    describe_counter!(
        "weft_messages_in_total",
        "y-protocols messages received, by kind."
    );
    describe_counter!(
        "weft_bytes_in_total",
        Unit::Bytes,
        "WebSocket payload bytes received."
    );
    describe_counter!("weft_frames_out_total", "Frames queued to clients.");
    describe_counter!(
        "weft_bytes_out_total",
        Unit::Bytes,
        "Frame bytes queued to clients."
    );
    describe_histogram!(
        "weft_update_apply_seconds",
        Unit::Seconds,
        "Time to integrate one update."
    );
    describe_histogram!(
        "weft_store_commit_seconds",
        Unit::Seconds,
        "Time of one store append (group commit)."
    );
    describe_counter!(
        "weft_store_commit_failures_total",
        "Store appends that failed (retried)."
    );
    describe_counter!(
        "weft_committed_updates_total",
        "Updates committed to the store."
    );
    describe_gauge!(
        "weft_pending_store_bytes",
        Unit::Bytes,
        "Update bytes held in memory, not yet committed."
    );
    describe_counter!(
        "weft_closes_total",
        "WebSocket closes sent by the server, by close code."
    );
    describe_counter!(
        "weft_refusals_total",
        "Requests or messages refused, by reason."
    );
    describe_counter!("weft_compactions_total", "Log compactions, by result.");
    describe_counter!(
        "weft_caught_panics_total",
        "Panics caught around yrs (the document was rebuilt)."
    );
    describe_counter!(
        "weft_documents_tainted_total",
        "Times a document held a refused write in memory and stopped serving it until rebuilt."
    );
    describe_counter!("weft_versions_saved_total", "Versions stored.");
    describe_counter!(
        "weft_version_bytes_total",
        Unit::Bytes,
        "Bytes stored for versions (deltas and full states)."
    );
    describe_counter!(
        "weft_api_requests_total",
        "Document API requests, by operation and status."
    );
    describe_counter!(
        "weft_webhooks_total",
        "Webhook deliveries, by event and result."
    );
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

pub fn node_info(node: &str) {
    gauge!("weft_node_info", "node" => node.to_string()).set(1.0);
}

pub fn cluster_members(n: usize) {
    gauge!("weft_cluster_nodes").set(n as f64);
}

pub fn cluster_listening(on: bool) {
    gauge!("weft_cluster_listening").set(if on { 1.0 } else { 0.0 });
}

/// `kind`: `update` or `awareness`; `outcome`: `received`, `sent`, `failed`, `too_large`, `dropped` (queue full).
pub fn cluster_notification(kind: &'static str, outcome: &'static str) {
    counter!("weft_cluster_notifications_total", "kind" => kind, "outcome" => outcome).increment(1);
}

pub fn cluster_catchup(entries: usize, reloaded: bool) {
    counter!("weft_cluster_catchup_entries_total").increment(entries as u64);
    if reloaded {
        counter!("weft_cluster_reloads_total").increment(1);
    }
}
