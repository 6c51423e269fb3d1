//! Resource exhaustion: clients that stop reading, clients that ping but never read, and
//! connections that trickle an upgrade request one byte at a time must all be let go by the
//! server (its open descriptors back to where they were), while honest clients on the same
//! busy document keep low latency and converge.
//!
//! Against one document with 3 writers replacing 4 KB each 20 times a second:
//! - 60 clients send sync step 1, then never read;
//! - 60 clients do the same and ping every 20 ms;
//! - 100 connections send an upgrade request head one byte every 3 s and never finish it.
//!
//! Within 90 s of the attack's start, the server's descriptors are back to the baseline; its
//! RSS grew by less than 256 MiB; the honest clients' p99 stayed under 1 s; they and a fresh
//! client agree.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{Client, Server};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;
use weft_crdt::codec::encode_sync_step1;
use yrs::types::ToJson;
use yrs::{Any, Map, Out, StateVector, Transact};

const WRITERS: usize = 3;
const ATTACK_LIMIT: Duration = Duration::from_secs(90);

fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs_f64()
        * 1000.0
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// A masked client frame.
fn frame(op: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0x80 | op];
    match payload.len() {
        n if n < 126 => out.push(0x80 | n as u8),
        n => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
    }
    out.extend_from_slice(&[0, 0, 0, 0]); // a zero mask: the payload goes as it is
    out.extend_from_slice(payload);
    out
}

fn upgrade_head(port: u16, doc: &str) -> String {
    format!(
        "GET /ws/{doc} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n\r\n"
    )
}

/// Upgrades, sends sync step 1, then never reads; with `ping`, pings every 20 ms until the
/// server drops the connection (a write fails) or `stop`.
async fn non_reader(port: u16, doc: String, ping: bool, stop: CancellationToken) {
    let Ok(mut tcp) = TcpStream::connect(("127.0.0.1", port)).await else {
        return;
    };
    if tcp
        .write_all(upgrade_head(port, &doc).as_bytes())
        .await
        .is_err()
    {
        return;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let step1 = frame(0x2, &encode_sync_step1(&StateVector::default()));
    if tcp.write_all(&step1).await.is_err() {
        return;
    }
    while !stop.is_cancelled() {
        if ping {
            let ping = frame(0x9, b"hi");
            let write = tcp.write_all(&ping);
            match tokio::time::timeout(Duration::from_millis(500), write).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return, // reset by the server
                Err(_) => {}          // our side is full too; keep trying
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        } else {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// Sends an upgrade request head one byte every 3 s, never finishing it.
async fn trickler(port: u16, doc: String, stop: CancellationToken) {
    let Ok(mut tcp) = TcpStream::connect(("127.0.0.1", port)).await else {
        return;
    };
    for byte in upgrade_head(port, &doc).bytes() {
        if stop.is_cancelled() || tcp.write_all(&[byte]).await.is_err() {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(3)) => {}
            _ = stop.cancelled() => return,
        }
    }
}

/// An honest writer: replaces its 4 KB value 20 times a second, with the time it wrote it,
/// reading everything it receives; records the delay of every other writer's stamp it sees.
async fn writer(
    url: String,
    w: usize,
    stop: CancellationToken,
    latencies: Arc<Mutex<Vec<f64>>>,
) -> Client {
    let mut client = Client::connect(&url).await;
    let map = client.doc.get_or_insert_map("m");
    let mut seen = [0f64; WRITERS];
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    let mut n = 0u64;
    while !stop.is_cancelled() {
        tokio::select! {
            _ = tick.tick() => {
                n += 1;
                let blob = format!("{w}:{n}:{}", "x".repeat(4000));
                let stamp = now_ms();
                client
                    .edit(|txn| {
                        map.insert(txn, format!("blob{w}"), blob);
                        map.insert(txn, format!("stamp{w}"), format!("{stamp}"));
                    })
                    .await;
            }
            alive = client.pump_once(Duration::from_millis(50)) => {
                assert!(alive, "writer {w} was closed by the server: {:?}", client.closed);
                let txn = client.doc.transact();
                for (other, last) in seen.iter_mut().enumerate() {
                    if other == w {
                        continue;
                    }
                    let stamp = match map.get(&txn, &format!("stamp{other}")) {
                        Some(Out::Any(Any::String(s))) => s.parse::<f64>().unwrap_or(0.0),
                        _ => continue,
                    };
                    {
                        if stamp > *last {
                            *last = stamp;
                            latencies.lock().expect("latencies").push(now_ms() - stamp);
                        }
                    }
                }
            }
        }
    }
    client
}

fn p99(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::INFINITY;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[(v.len() * 99 / 100).min(v.len() - 1)]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attackers_are_dropped_while_honest_clients_keep_going() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("data"), &[]);
    let pid = server.child.id();
    let doc = "exhaustion";
    let url = server.url(doc);

    let stop_writers = CancellationToken::new();
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            tokio::spawn(writer(
                url.clone(),
                w,
                stop_writers.clone(),
                latencies.clone(),
            ))
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let baseline_fds = open_fds(pid);
    let baseline_rss = rss_kib(pid);
    latencies.lock().expect("latencies").clear();

    let attack = Instant::now();
    let stop_attack = CancellationToken::new();
    let mut attackers = Vec::new();
    for i in 0..120 {
        let ping = i >= 60;
        attackers.push(tokio::spawn(non_reader(
            server.port,
            doc.to_string(),
            ping,
            stop_attack.clone(),
        )));
    }
    for _ in 0..100 {
        attackers.push(tokio::spawn(trickler(
            server.port,
            doc.to_string(),
            stop_attack.clone(),
        )));
    }

    // Until every attacker socket is gone from the server (some time after the attack has
    // been seen to raise the descriptor count).
    let mut peak_fds = 0;
    let mut peak_rss = baseline_rss;
    let mut back_at = None;
    while attack.elapsed() < ATTACK_LIMIT {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let fds = open_fds(pid);
        peak_fds = peak_fds.max(fds);
        peak_rss = peak_rss.max(rss_kib(pid));
        if peak_fds > baseline_fds + 200 && fds <= baseline_fds + 2 {
            back_at = Some(attack.elapsed());
            break;
        }
    }
    let attack_p99 = p99(latencies.lock().expect("latencies").clone());
    stop_attack.cancel();
    for a in attackers {
        let _ = a.await;
    }
    stop_writers.cancel();
    let mut clients = Vec::new();
    for w in writers {
        clients.push(w.await.expect("writer task"));
    }

    let growth_mib = peak_rss.saturating_sub(baseline_rss) / 1024;
    eprintln!(
        "baseline fds {baseline_fds}, peak {peak_fds}, back after {back_at:?}; RSS +{growth_mib} MiB; honest p99 {attack_p99:.1} ms"
    );
    assert!(
        peak_fds > baseline_fds + 200,
        "the attack did not reach the server ({peak_fds} fds at most, baseline {baseline_fds})"
    );
    let back_at = back_at.unwrap_or_else(|| {
        panic!(
            "attacker sockets still open after {ATTACK_LIMIT:?}: {} fds, baseline {baseline_fds}",
            open_fds(pid)
        )
    });
    assert!(back_at <= ATTACK_LIMIT);
    assert!(growth_mib < 256, "RSS grew by {growth_mib} MiB");
    assert!(attack_p99 < 1000.0, "honest p99 {attack_p99:.1} ms");

    // The honest clients converge, and a fresh client sees the same document.
    for c in &mut clients {
        c.drain().await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    for c in &mut clients {
        c.drain().await;
    }
    let want = {
        let map = clients[0].doc.get_or_insert_map("m");
        map.to_json(&clients[0].doc.transact())
    };
    let mut fresh = Client::connect(&url).await;
    let fresh_map = fresh.doc.get_or_insert_map("m");
    assert!(
        fresh
            .until(common::SECS15, |d| fresh_map.to_json(&d.transact()) == want)
            .await,
        "a fresh client differs from writer 0"
    );
    for (w, c) in clients.iter_mut().enumerate() {
        let map = c.doc.get_or_insert_map("m");
        assert!(
            c.until(common::SECS15, |d| map.to_json(&d.transact()) == want)
                .await,
            "writer {w} differs from a fresh client"
        );
    }
    for c in clients {
        c.close().await;
    }
    fresh.close().await;
}
