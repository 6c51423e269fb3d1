//! `fanout`: D documents x C clients, every client writing, with the latency of every delivery
//! kept **per document**, which `fanout.mjs` pools. The question it answers: does any document
//! starve while the others are busy?
//!
//! Each client is a yrs document speaking y-websocket's sync protocol (step 1 on connect, step 2
//! to the server's step 1, updates both ways; no awareness). An edit inserts `--edit-size`
//! characters into `Y.Text "text"` and sets the writer's key in `Y.Map "lat"` to its send time;
//! a receiving client reads the keys that changed when it applies an update, so the latency is
//! measured from the writer's transaction to the observer's apply, like `fanout.mjs`. At the
//! end every client of a document must hold the same text.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;
use weft_crdt::codec::{
    decode_frame, encode_sync_step1, encode_sync_step2, encode_update, Inbound,
};
use yrs::{Any, Doc, GetString, Map, Out, ReadTxn, Text, Transact};

#[derive(clap::Args)]
pub struct Args {
    /// Server URL prefix; clients connect to `{url}/{room}-{i}`.
    #[arg(long)]
    url: String,
    #[arg(long, default_value_t = 100)]
    docs: usize,
    /// Clients per document, all writing.
    #[arg(long, default_value_t = 10)]
    clients: usize,
    /// Edits per second per document, spread over its clients.
    #[arg(long, default_value_t = 20.0)]
    rate: f64,
    #[arg(long, default_value_t = 3)]
    edit_size: usize,
    /// Seconds of editing, warmup included.
    #[arg(long, default_value_t = 20.0)]
    duration: f64,
    /// Seconds at the start left out of the latency figures.
    #[arg(long, default_value_t = 3.0)]
    warmup: f64,
    /// Room name prefix (default: a fresh one).
    #[arg(long)]
    room: Option<String>,
    /// PID of the server: its CPU seconds during the measured window are reported.
    #[arg(long, default_value_t = 0)]
    server_pid: u32,
}

/// What one client saw.
struct Report {
    doc: usize,
    /// Latencies (ms) of updates it received from others, sent after the warmup.
    latencies: Vec<f64>,
    /// Its edits sent after the warmup.
    sent: usize,
    text: String,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let room = args.room.clone().unwrap_or_else(|| {
        format!(
            "lg-fanout-{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis())
                .unwrap_or(0)
        )
    });
    let start = Instant::now();
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = Vec::new();
    for d in 0..args.docs {
        for c in 0..args.clients {
            let url = format!("{}/{room}-{d}", args.url.trim_end_matches('/'));
            // Writers of a document take turns: client c starts c/C of a period late.
            let period = Duration::from_secs_f64(args.clients as f64 / args.rate);
            let phase = period.mul_f64(c as f64 / args.clients as f64);
            let client = Client {
                doc: d,
                id: c,
                url,
                period,
                phase,
                edit_size: args.edit_size,
                start,
                warmup_ms: args.warmup * 1e3,
                stop: stop_rx.clone(),
            };
            tasks.push(tokio::spawn(client.run()));
            // Do not open 1,000 connections in the same millisecond.
            if tasks.len() % 50 == 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }
    let connected = start.elapsed();
    tokio::time::sleep(Duration::from_secs_f64(args.warmup)).await;
    let cpu_before = crate::cpu_seconds(args.server_pid);
    tokio::time::sleep(Duration::from_secs_f64(args.duration - args.warmup)).await;
    let cpu = crate::cpu_seconds(args.server_pid)
        .zip(cpu_before)
        .map(|(b, a)| b - a);
    let _ = stop_tx.send(true);
    let mut failures = Vec::new();
    let mut reports = Vec::new();
    for task in tasks {
        match task.await {
            Ok(Ok(r)) => reports.push(r),
            Ok(Err(e)) => failures.push(format!("{e:#}")),
            Err(e) => failures.push(e.to_string()),
        }
    }
    // Per document: its latencies, deliveries against what was sent, and convergence.
    let mut per_doc: Vec<(Vec<f64>, usize, usize, Vec<String>)> =
        (0..args.docs).map(|_| Default::default()).collect();
    for r in reports {
        let entry = &mut per_doc[r.doc];
        entry.0.extend(r.latencies);
        entry.2 += r.sent;
        entry.3.push(r.text);
    }
    let mut doc_p99 = Vec::new();
    let mut all = Vec::new();
    let (mut delivered, mut expected) = (0usize, 0usize);
    for (d, (lat, _, sent, texts)) in per_doc.iter_mut().enumerate() {
        lat.sort_by(|a, b| a.total_cmp(b));
        delivered += lat.len();
        expected += *sent * (args.clients - 1);
        if texts.windows(2).any(|w| w[0] != w[1]) {
            failures.push(format!("document {d}: clients hold different texts"));
        }
        if let Some(p) = pct(lat, 0.99) {
            doc_p99.push((d, p));
        }
        all.extend_from_slice(lat);
    }
    all.sort_by(|a, b| a.total_cmp(b));
    doc_p99.sort_by(|a, b| a.1.total_cmp(&b.1));
    let p99s: Vec<f64> = doc_p99.iter().map(|(_, p)| *p).collect();
    let worst = doc_p99.last().copied();
    let window = args.duration - args.warmup;
    println!("== fanout (per-document latency) ==");
    println!("  url              {}/{room}-*", args.url);
    println!(
        "  layout           {} docs x {} clients, {} edits/s per doc, {} chars/edit; clients started in {:.0} ms",
        args.docs,
        args.clients,
        args.rate,
        args.edit_size,
        connected.as_secs_f64() * 1e3
    );
    println!(
        "  delivered        {delivered} of {expected} expected in the {window} s window ({:.3})",
        delivered as f64 / expected.max(1) as f64
    );
    println!(
        "  latency ms       all: p50 {:.1} p99 {:.1} max {:.1}",
        pct(&all, 0.5).unwrap_or(f64::NAN),
        pct(&all, 0.99).unwrap_or(f64::NAN),
        all.last().copied().unwrap_or(f64::NAN)
    );
    println!(
        "  per-doc p99 ms   best {:.1}, median {:.1}, worst {:.1} (document {})",
        p99s.first().copied().unwrap_or(f64::NAN),
        pct(&p99s, 0.5).unwrap_or(f64::NAN),
        worst.map(|w| w.1).unwrap_or(f64::NAN),
        worst.map(|w| w.0.to_string()).unwrap_or_default()
    );
    if let Some(cpu) = cpu {
        println!("  server cpu       {cpu:.2} s in the window");
    }
    for f in failures.iter().take(5) {
        println!("  FAILED           {f}");
    }
    // Every delivery is counted unless an observer applied two of a writer's edits at once.
    let ok = failures.is_empty() && delivered * 1000 >= expected * 999;
    println!("  result           {}", if ok { "PASS" } else { "FAIL" });
    let summary = serde_json::json!({
        "tool": "weft-loadgen fanout",
        "ok": ok,
        "docs": args.docs,
        "clientsPerDoc": args.clients,
        "ratePerDoc": args.rate,
        "windowS": window,
        "delivered": delivered,
        "expected": expected,
        "deliveryRatio": delivered as f64 / expected.max(1) as f64,
        "latencyMs": { "p50": pct(&all, 0.5), "p99": pct(&all, 0.99), "max": all.last() },
        "perDocP99Ms": {
            "best": p99s.first(),
            "median": pct(&p99s, 0.5),
            "p90": pct(&p99s, 0.9),
            "worst": worst.map(|w| w.1),
            "worstDoc": worst.map(|w| w.0),
            "all": p99s,
        },
        "serverCpuSeconds": cpu,
        "failures": failures,
    });
    println!("{summary}");
    if !ok {
        std::process::exit(1);
    }
    Ok(())
}

fn pct(sorted: &[f64], p: f64) -> Option<f64> {
    let i = ((sorted.len() as f64 * p).ceil() as usize).checked_sub(1)?;
    sorted.get(i).copied()
}

struct Client {
    doc: usize,
    id: usize,
    url: String,
    period: Duration,
    phase: Duration,
    edit_size: usize,
    start: Instant,
    warmup_ms: f64,
    stop: watch::Receiver<bool>,
}

impl Client {
    async fn run(mut self) -> anyhow::Result<Report> {
        let (ws, _) = tokio_tungstenite::connect_async(&self.url)
            .await
            .with_context(|| format!("connecting to {}", self.url))?;
        let (mut tx, mut rx) = ws.split();
        let doc = Doc::new();
        let text = doc.get_or_insert_text("text");
        let lat = doc.get_or_insert_map("lat");
        let me = format!("w{}", self.id);
        let sv = doc.transact().state_vector();
        tx.send(Message::Binary(encode_sync_step1(&sv).into()))
            .await?;
        let mut seen: HashMap<String, f64> = HashMap::new();
        let mut latencies = Vec::new();
        let mut sent = 0;
        let mut tick = tokio::time::interval_at(
            tokio::time::Instant::now() + self.phase + Duration::from_millis(500),
            self.period,
        );
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut seed = (self.doc * 7919 + self.id * 104_729 + 1) as u64;
        let mut stopping: Option<tokio::time::Instant> = None;
        loop {
            tokio::select! {
                msg = rx.next() => {
                    let Some(msg) = msg else { bail!("{}: connection closed", self.url) };
                    let Message::Binary(frame) = msg? else { continue };
                    for m in decode_frame(&frame)? {
                        match m {
                            Inbound::SyncStep1(sv) => {
                                let diff = doc.transact().encode_state_as_update_v1(&sv);
                                tx.send(Message::Binary(encode_sync_step2(&diff).into())).await?;
                            }
                            Inbound::SyncStep2 { update, .. } | Inbound::Update { update, .. } => {
                                doc.transact_mut().apply_update(update)?;
                                let now = self.start.elapsed().as_secs_f64() * 1e3;
                                let txn = doc.transact();
                                for (key, value) in lat.iter(&txn) {
                                    let Out::Any(Any::Number(at)) = value else { continue };
                                    let Some(at) = at.as_f64() else { continue };
                                    if key == me.as_str() || seen.get(key) == Some(&at) {
                                        continue;
                                    }
                                    seen.insert(key.to_string(), at);
                                    if at >= self.warmup_ms {
                                        latencies.push(now - at);
                                    }
                                }
                            }
                            _ => {}
                        }
                    }
                }
                _ = tick.tick(), if stopping.is_none() => {
                    // xorshift: positions differ per client and run the same every time.
                    seed ^= seed << 13; seed ^= seed >> 7; seed ^= seed << 17;
                    let update = {
                        let mut txn = doc.transact_mut();
                        let len = text.len(&txn);
                        let pos = if len == 0 { 0 } else { (seed % (len as u64 + 1)) as u32 };
                        text.insert(&mut txn, pos, &"x".repeat(self.edit_size));
                        let at = self.start.elapsed().as_secs_f64() * 1e3;
                        lat.insert(&mut txn, me.as_str(), at);
                        if at >= self.warmup_ms {
                            sent += 1;
                        }
                        txn.encode_update_v1()
                    };
                    tx.send(Message::Binary(encode_update(&update).into())).await?;
                }
                _ = self.stop.changed(), if stopping.is_none() => {
                    // Stop writing, then give the last updates time to arrive everywhere.
                    stopping = Some(tokio::time::Instant::now() + Duration::from_secs(5));
                }
                _ = tokio::time::sleep_until(stopping.unwrap_or_else(tokio::time::Instant::now)), if stopping.is_some() => {
                    break;
                }
            }
        }
        let _ = tx.close().await;
        let text = text.get_string(&doc.transact());
        Ok(Report {
            doc: self.doc,
            latencies,
            sent,
            text,
        })
    }
}
