//! `weft-loadgen`: the measurement the Node harness (`../shared/bench`) cannot make on two
//! cores without being the bottleneck itself.
//!
//! `join-storm`: N clients join one document at once, each speaking y-websocket's sync protocol
//! like a fresh provider (sync step 1 with an empty state vector), timed until its sync step 2
//! has fully arrived. The Node harness decodes every answer into a Y.Doc in one thread, so 200
//! joiners of a 5 MB document measure the harness (the reference server and Weft both took
//! ~15 s there). Here a client reads only the message header; `--verify K` clients also decode
//! and apply their answer with yrs and must all hold the same document.
//!
//! Works against any y-websocket server: a client connects to `{url}/{doc}`.
//!
//! `fanout`: like `fanout.mjs` with raw yrs clients, but keeping every document's latencies
//! apart, so a starving document shows (`fanout.mjs` pools them). See `fanout.rs`.
//!
//! `relay`: the floor for the fan-out measurements, not a server to use. A bare WebSocket
//! relay: every binary message a client sends goes to every other client of its room (the URL
//! path), with no CRDT, no storage and no protocol answers (providers sync each other through
//! it). One `send` per delivery is what any server pays; what a real server spends above this
//! relay in the same run is its own overhead.

use std::time::{Duration, Instant};

mod fanout;

use anyhow::{bail, Context};
use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use weft_crdt::codec::{decode_frame, encode_sync_step1, Inbound, MSG_SYNC, SYNC_STEP2};
use yrs::updates::encoder::Encode;
use yrs::{Doc, ReadTxn, StateVector, Transact};

#[derive(Parser)]
#[command(
    version,
    about = "Load generator for Weft's benchmarks (see BENCHMARKS.md)"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Subcommand)]
enum Cmd {
    /// N clients join one (already filled) document at once; time until every one is synced.
    JoinStorm(JoinStorm),
    /// A bare WebSocket relay (no CRDT, no storage): the floor for fan-out measurements.
    Relay(Relay),
    /// D documents x C writing clients; latency percentiles per document.
    Fanout(fanout::Args),
}

#[derive(clap::Args)]
struct Relay {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:1234")]
    listen: std::net::SocketAddr,
}

#[derive(clap::Args)]
struct JoinStorm {
    /// Server URL prefix; clients connect to `{url}/{doc}` (Weft: ws://127.0.0.1:PORT/ws, the
    /// reference server: ws://127.0.0.1:PORT).
    #[arg(long)]
    url: String,
    /// Document (room) to join; fill it first (bench/run.sh uses fanout.mjs).
    #[arg(long)]
    doc: String,
    /// Clients joining at once.
    #[arg(long, default_value_t = 200)]
    clients: usize,
    /// Clients that also decode and apply their sync step 2 with yrs; all must hold the same
    /// document.
    #[arg(long, default_value_t = 2)]
    verify: usize,
    /// PID of the server: its CPU seconds during the storm are reported (/proc/PID/stat).
    #[arg(long, default_value_t = 0)]
    server_pid: u32,
    /// Seconds allowed until every client is synced.
    #[arg(long, default_value_t = 60.0)]
    timeout: f64,
}

/// One client's join.
struct Joined {
    connected: Duration,
    synced: Duration,
    bytes: usize,
    /// The applied document's state vector (`--verify` clients only).
    state: Option<Vec<u8>>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().cmd {
        Cmd::JoinStorm(args) => join_storm(args).await,
        Cmd::Relay(args) => relay::serve(args.listen).await,
        Cmd::Fanout(args) => fanout::run(args).await,
    }
}

async fn join_storm(args: JoinStorm) -> anyhow::Result<()> {
    let url = format!("{}/{}", args.url.trim_end_matches('/'), args.doc);
    let cpu_before = cpu_seconds(args.server_pid);
    let start = Instant::now();
    let clients: Vec<_> = (0..args.clients)
        .map(|i| tokio::spawn(join(url.clone(), i < args.verify, start)))
        .collect();
    let deadline = Duration::from_secs_f64(args.timeout);
    let mut joined = Vec::with_capacity(clients.len());
    let mut failures = Vec::new();
    for (i, client) in clients.into_iter().enumerate() {
        let left = deadline.saturating_sub(start.elapsed());
        match tokio::time::timeout(left, client).await {
            Ok(Ok(Ok(j))) => joined.push(j),
            Ok(Ok(Err(e))) => failures.push(format!("client {i}: {e:#}")),
            Ok(Err(e)) => failures.push(format!("client {i}: {e}")),
            Err(_) => failures.push(format!("client {i}: not synced within {:?}", deadline)),
        }
    }
    let all_synced = joined.iter().map(|j| j.synced).max().unwrap_or_default();
    let cpu = match (cpu_before, cpu_seconds(args.server_pid)) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    let states: Vec<&Vec<u8>> = joined.iter().filter_map(|j| j.state.as_ref()).collect();
    if states.windows(2).any(|w| w[0] != w[1]) {
        failures.push("verified clients hold different documents".into());
    }
    if joined.iter().any(|j| j.bytes != joined[0].bytes) {
        // Not a failure: an answer may differ by a concurrent edit; reported for the record.
        eprintln!("note: clients received sync step 2 answers of different sizes");
    }
    let ms = |d: Duration| (d.as_secs_f64() * 1e4).round() / 10.0;
    let mut synced: Vec<Duration> = joined.iter().map(|j| j.synced).collect();
    synced.sort();
    let mut connected: Vec<Duration> = joined.iter().map(|j| j.connected).collect();
    connected.sort();
    let pct = |v: &[Duration], p: f64| {
        v.get(((v.len() as f64 * p).ceil() as usize).saturating_sub(1))
            .copied()
            .map(ms)
            .unwrap_or(f64::NAN)
    };
    let step2_bytes = joined.first().map(|j| j.bytes).unwrap_or(0);
    println!("== join-storm ==");
    println!("  url              {url}");
    println!(
        "  clients          {} joined at once, {} synced, {} failed; {} verified by applying",
        args.clients,
        joined.len(),
        failures.len(),
        states.len()
    );
    println!(
        "  sync step 2      {:.2} MB per client",
        step2_bytes as f64 / 1e6
    );
    println!(
        "  all synced       {:.1} ms (per client p50 {} p99 {} ms; connected p50 {} ms)",
        ms(all_synced),
        pct(&synced, 0.5),
        pct(&synced, 0.99),
        pct(&connected, 0.5)
    );
    if let Some(cpu) = cpu {
        println!("  server cpu       {cpu:.2} s");
    }
    for f in &failures {
        println!("  FAILED           {f}");
    }
    println!(
        "  result           {}",
        if failures.is_empty() { "PASS" } else { "FAIL" }
    );
    let summary = serde_json::json!({
        "tool": "weft-loadgen join-storm",
        "ok": failures.is_empty(),
        "url": url,
        "clients": args.clients,
        "synced": joined.len(),
        "verified": states.len(),
        "step2Bytes": step2_bytes,
        "allSyncedMs": ms(all_synced),
        "perClientSyncMs": { "p50": pct(&synced, 0.5), "p99": pct(&synced, 0.99), "max": ms(all_synced) },
        "connectedMs": { "p50": pct(&connected, 0.5), "max": connected.last().copied().map(ms) },
        "serverCpuSeconds": cpu,
        "failures": failures,
    });
    println!("{summary}");
    if !failures.is_empty() {
        std::process::exit(1);
    }
    Ok(())
}

/// Connects, sends sync step 1 with an empty state vector and waits for the sync step 2.
async fn join(url: String, verify: bool, start: Instant) -> anyhow::Result<Joined> {
    let (mut ws, _) = tokio_tungstenite::connect_async(&url)
        .await
        .with_context(|| format!("connecting to {url}"))?;
    let connected = start.elapsed();
    ws.send(Message::Binary(
        encode_sync_step1(&StateVector::default()).into(),
    ))
    .await?;
    while let Some(msg) = ws.next().await {
        let Message::Binary(frame) = msg? else {
            continue;
        };
        // y-protocols: varint message type 0 (sync), varint sync type 1 (step 2).
        if frame.len() < 2 || frame[0] != MSG_SYNC || frame[1] != SYNC_STEP2 {
            continue;
        }
        let synced = start.elapsed();
        let state = verify.then(|| apply(&frame)).transpose()?;
        let _ = ws.close(None).await;
        return Ok(Joined {
            connected,
            synced,
            bytes: frame.len(),
            state,
        });
    }
    bail!("connection closed before sync step 2")
}

/// Applies a sync step 2 frame to a new document; returns its state vector.
fn apply(frame: &[u8]) -> anyhow::Result<Vec<u8>> {
    let doc = Doc::new();
    for msg in decode_frame(frame)? {
        if let Inbound::SyncStep2 { update, .. } = msg {
            doc.transact_mut().apply_update(update)?;
        }
    }
    let sv = doc.transact().state_vector().encode_v1();
    Ok(sv)
}

/// The process' user + system CPU seconds (`/proc/PID/stat`, in clock ticks of 1/100 s).
pub(crate) fn cpu_seconds(pid: u32) -> Option<f64> {
    if pid == 0 {
        return None;
    }
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

mod relay {
    use std::collections::HashMap;
    use std::net::SocketAddr;
    use std::sync::{Arc, Mutex};

    use futures_util::{SinkExt, StreamExt};
    use tokio::net::{TcpListener, TcpStream};
    use tokio::sync::mpsc;
    use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
    use tokio_tungstenite::tungstenite::Message;

    /// Each room's clients: id and outgoing queue.
    type Rooms = Arc<Mutex<HashMap<String, Vec<(u64, mpsc::Sender<Message>)>>>>;

    /// Messages queued per client, like Weft's `--session-queue`; a client that falls this far
    /// behind loses messages (and the harness reports it), the relay never grows without bound.
    const QUEUE: usize = 4096;

    pub async fn serve(addr: SocketAddr) -> anyhow::Result<()> {
        let listener = TcpListener::bind(addr).await?;
        eprintln!("relay listening on ws://{addr}/ROOM");
        let rooms = Rooms::default();
        let mut next_id = 0u64;
        loop {
            let (stream, _) = listener.accept().await?;
            stream.set_nodelay(true)?;
            next_id += 1;
            tokio::spawn(client(stream, next_id, rooms.clone()));
        }
    }

    // tungstenite's handshake callback returns its `ErrorResponse` type; not ours to shrink.
    #[allow(clippy::result_large_err)]
    async fn client(stream: TcpStream, id: u64, rooms: Rooms) {
        let mut room = String::new();
        let ws = tokio_tungstenite::accept_hdr_async(stream, |req: &Request, res: Response| {
            room = req.uri().path().to_string();
            Ok(res)
        })
        .await;
        let Ok(ws) = ws else { return };
        let (mut sink, mut stream) = ws.split();
        let (tx, mut rx) = mpsc::channel::<Message>(QUEUE);
        rooms
            .lock()
            .expect("rooms")
            .entry(room.clone())
            .or_default()
            .push((id, tx));
        let writer = tokio::spawn(async move {
            while let Some(msg) = rx.recv().await {
                if sink.send(msg).await.is_err() {
                    break;
                }
            }
        });
        while let Some(Ok(msg)) = stream.next().await {
            if !msg.is_binary() {
                continue;
            }
            let rooms = rooms.lock().expect("rooms");
            for (other, tx) in rooms.get(&room).into_iter().flatten() {
                if *other != id {
                    let _ = tx.try_send(msg.clone());
                }
            }
        }
        if let Some(clients) = rooms.lock().expect("rooms").get_mut(&room) {
            clients.retain(|(other, _)| *other != id);
        }
        writer.abort();
    }
}
