//! Cluster mode, black-box: three `weft serve` processes over one real PostgreSQL database,
//! clients spread over them.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::pg::{admin_count, admin_url, fresh_db};
use common::*;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use weft_crdt::codec::encode_awareness;

struct Nodes {
    servers: Vec<Server>,
    _dirs: Vec<tempfile::TempDir>,
    db: String,
}

async fn three_nodes() -> Nodes {
    let url = fresh_db(&admin_url()).await;
    let db = url.rsplit('/').next().expect("db").to_string();
    let mut servers = Vec::new();
    let mut dirs = Vec::new();
    for i in 0..3 {
        let dir = tempfile::tempdir().expect("tempdir");
        let node = format!("node-{i}");
        servers.push(start_node(dir.path(), &url, &node));
        dirs.push(dir);
    }
    Nodes {
        servers,
        _dirs: dirs,
        db,
    }
}

fn start_node(dir: &Path, url: &str, node: &str) -> Server {
    let server = Server::start(
        dir,
        &[
            "--database-url",
            url,
            "--node-id",
            node,
            "--heartbeat",
            "300ms",
            "--node-expiry",
            "2s",
        ],
    );
    wait_ready(&server);
    server
}

/// `/readyz` is 200 once the node listens for the others.
fn wait_ready(server: &Server) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if http_get(server.port, "/readyz").is_some_and(|(s, _)| s == 200) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("node on port {} never became ready", server.port);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writers_on_every_node_converge_everywhere() {
    let nodes = three_nodes().await;
    let stop = CancellationToken::new();
    let mut writers = Vec::new();
    for server in &nodes.servers {
        writers.extend(spawn_writers(&server.url("spread"), 2, stop.clone()));
    }
    // Observers on each node see every writer's items as they happen.
    let mut observers = Vec::new();
    for server in &nodes.servers {
        observers.push(Client::connect(&server.url("spread")).await);
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.cancel();
    let mut all = Vec::new();
    for w in writers {
        all.extend(w.await.expect("writer"));
    }
    assert!(all.len() > 30, "writers wrote {}", all.len());
    for (i, o) in observers.iter_mut().enumerate() {
        let ok = o
            .until(SECS15, |d| {
                let have = array_strings(d, "items");
                all.iter().all(|s| have.contains(s))
            })
            .await;
        assert!(
            ok,
            "observer on node {i}: {} of {} items",
            array_strings(&o.doc, "items").len(),
            all.len()
        );
    }
    for server in &nodes.servers {
        fresh_client_has_items(&server.url("spread"), &all).await;
    }
    let (_, metrics) = http_get(nodes.servers[0].port, "/metrics").expect("metrics");
    assert!(
        metrics.contains("weft_node_info{node=\"node-0\"} 1"),
        "node identity in /metrics"
    );
    assert!(
        metrics.contains("weft_cluster_nodes 3"),
        "three live members"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_crosses_nodes_and_leaves_with_its_node() {
    let mut nodes = three_nodes().await;
    let mut on_a = Client::connect(&nodes.servers[0].url("presence")).await;
    let mut on_b = Client::connect(&nodes.servers[1].url("presence")).await;
    let mut on_c = Client::connect(&nodes.servers[2].url("presence")).await;
    on_a.send(encode_awareness(
        [(101u64, 1u32, r#"{"user":"ann"}"#)].into_iter(),
    ))
    .await;
    on_b.send(encode_awareness(
        [(202u64, 1u32, r#"{"user":"bob"}"#)].into_iter(),
    ))
    .await;
    let both = |c: &Client| c.awareness.contains_key(&101) && c.awareness.contains_key(&202);
    assert!(
        until_aware(&mut on_c, SECS5, both).await,
        "c sees ann and bob: {:?}",
        on_c.awareness
    );
    assert!(until_aware(&mut on_a, SECS5, |c| c.awareness.contains_key(&202)).await);
    // A graceful leave is relayed.
    drop(on_b);
    let bob_gone = |c: &Client| !c.awareness.contains_key(&202);
    assert!(
        until_aware(&mut on_c, SECS5, bob_gone).await,
        "bob left: {:?}",
        on_c.awareness
    );
    // A node that dies takes its clients' presence with it (heartbeat expiry).
    nodes.servers[0].kill9();
    let ann_gone = |c: &Client| !c.awareness.contains_key(&101);
    assert!(
        until_aware(&mut on_c, Duration::from_secs(10), ann_gone).await,
        "ann's node died: {:?}",
        on_c.awareness
    );
    drop(on_a);
}

/// Pumps `client` until `cond` holds; false after `timeout`.
async fn until_aware(
    client: &mut Client,
    timeout: Duration,
    cond: impl Fn(&Client) -> bool,
) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if cond(client) {
            return true;
        }
        client.pump_once(Duration::from_millis(50)).await;
    }
    cond(client)
}

/// kill -9 of a node mid-edit: nothing any client received is lost, and its clients carry on
/// through another node and converge.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_node_loses_nothing_and_its_clients_move_on() {
    let mut nodes = three_nodes().await;
    let stop = CancellationToken::new();
    let writers = spawn_writers(&nodes.servers[0].url("crash"), 3, stop.clone());
    let mut observer = Client::connect(&nodes.servers[1].url("crash")).await;
    let until = Instant::now() + Duration::from_millis(1200);
    while Instant::now() < until {
        observer.pump_once(Duration::from_millis(10)).await;
    }
    nodes.servers[0].kill9();
    stop.cancel();
    for w in writers {
        let _ = w.await;
    }
    let seen = array_strings(&observer.doc, "items");
    assert!(seen.len() > 10, "the observer saw {} items", seen.len());
    // The crashed node's clients reconnect elsewhere and keep editing.
    let mut moved = Client::connect(&nodes.servers[2].url("crash")).await;
    assert!(
        moved
            .until(SECS15, |d| {
                let have = array_strings(d, "items");
                seen.iter().all(|s| have.contains(s))
            })
            .await,
        "everything the observer saw survived the crash"
    );
    moved.push_item("items", "after the crash").await;
    assert!(
        observer
            .until(SECS5, |d| array_strings(d, "items")
                .contains(&"after the crash".to_string()))
            .await
    );
    // The crashed node comes back and serves the whole document.
    nodes.servers[0].restart();
    wait_ready(&nodes.servers[0]);
    let mut all = seen.clone();
    all.push("after the crash".into());
    fresh_client_has_items(&nodes.servers[0].url("crash"), &all).await;
}

/// A node whose notification connection drops misses notifications; it catches up from the
/// log by position when it reconnects, and its clients converge.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_missed_notifications_catches_up() {
    let nodes = three_nodes().await;
    let mut on_b = Client::connect(&nodes.servers[1].url("gap")).await;
    let mut on_a = Client::connect(&nodes.servers[0].url("gap")).await;
    on_a.push_item("items", "before").await;
    assert!(
        on_b.until(SECS5, |d| array_strings(d, "items").len() == 1)
            .await
    );
    // Cut every node's listening connection, write meanwhile.
    let cut = admin_count(
        &admin_url(),
        &format!(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE datname = '{}' AND application_name = 'weft-cluster' \
             AND query LIKE 'LISTEN%'",
            nodes.db
        ),
    )
    .await;
    assert_eq!(cut, 3, "every node's listening connection was cut");
    for i in 0..20 {
        on_a.push_item("items", &format!("during {i}")).await;
    }
    let ok = on_b
        .until(SECS15, |d| array_strings(d, "items").len() == 21)
        .await;
    assert!(
        ok,
        "b has {} of 21",
        array_strings(&on_b.doc, "items").len()
    );
    for server in &nodes.servers {
        wait_ready(server);
    }
}

/// The shared conformance tool, its clients spread over the three nodes by a round-robin
/// proxy (every reconnect may land on another node): they must converge and a fresh client
/// must get exactly that state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn converge_tool_across_nodes() {
    let tool = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/bench/dist/converge.mjs");
    if !tool.is_file() {
        eprintln!("skipped: {} not found (the shared harness)", tool.display());
        return;
    }
    let nodes = three_nodes().await;
    let ports: Vec<u16> = nodes.servers.iter().map(|s| s.port).collect();
    let proxy = round_robin_proxy(ports).await;
    let out = tokio::process::Command::new("node")
        .arg(&tool)
        .args([
            "--url",
            &format!("ws://127.0.0.1:{proxy}/ws"),
            "--clients",
            "6",
            "--duration",
            "6",
            "--reconnects",
            "2",
            "--check-persist",
            "--quiet",
        ])
        .output()
        .await
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary = stdout.lines().last().unwrap_or_default();
    assert!(
        out.status.success(),
        "converge.mjs failed: {summary}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(summary.contains("\"ok\":true"), "{summary}");
}

/// A TCP proxy that sends each new connection to the next port in turn.
async fn round_robin_proxy(ports: Vec<u16>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        let mut next = 0;
        loop {
            let Ok((mut inbound, _)) = listener.accept().await else {
                return;
            };
            let target = ports[next % ports.len()];
            next += 1;
            tokio::spawn(async move {
                if let Ok(mut outbound) = TcpStream::connect(("127.0.0.1", target)).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    port
}
