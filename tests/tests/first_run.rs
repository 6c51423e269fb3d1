//! What an operator meets on a fresh server, black-box: `/metrics` lists every figure from
//! the first second, log lines are plain text when stdout is not a terminal, and each
//! subcommand's `--help` offers only its own options.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;

/// Families shown at zero before anything happens (no labels, or labels known in advance).
const AT_ZERO: &[&str] = &[
    "weft_connections",
    "weft_documents_loaded",
    "weft_bytes_in_total",
    "weft_frames_out_total",
    "weft_bytes_out_total",
    "weft_store_commit_failures_total",
    "weft_committed_updates_total",
    "weft_pending_store_bytes",
    "weft_caught_panics_total",
    "weft_documents_tainted_total",
    "weft_versions_saved_total",
    "weft_version_bytes_total",
    "weft_update_apply_seconds_count",
    "weft_store_commit_seconds_count",
    "weft_messages_in_total{kind=\"update\"}",
    "weft_compactions_total{result=\"ok\"}",
];

/// Families whose series come with their labels; listed (HELP, TYPE) from the start.
const LABELLED: &[&str] = &[
    "weft_closes_total",
    "weft_refusals_total",
    "weft_api_requests_total",
    "weft_webhooks_total",
];

const PROCESS: &[&str] = &[
    "process_resident_memory_bytes",
    "process_cpu_seconds_total",
    "process_open_fds",
    "process_start_time_seconds",
];

#[test]
fn a_fresh_server_lists_every_metric() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &[]);
    let (status, body) = http_get(server.port, "/metrics").expect("/metrics answers");
    assert_eq!(status, 200);
    let mut missing = Vec::new();
    for series in AT_ZERO {
        if !body.lines().any(|l| l == format!("{series} 0")) {
            missing.push(series.to_string());
        }
    }
    for family in LABELLED {
        if !body.contains(&format!("# TYPE {family} counter")) {
            missing.push(family.to_string());
        }
    }
    for family in PROCESS {
        let listed = body.lines().any(|l| {
            l.strip_prefix(family)
                .is_some_and(|rest| rest.starts_with(' '))
        });
        if !listed {
            missing.push(family.to_string());
        }
    }
    let build = format!(
        "weft_build_info{{version=\"{}\",commit=\"",
        env!("CARGO_PKG_VERSION")
    );
    if !body
        .lines()
        .any(|l| l.starts_with(&build) && l.ends_with("\"} 1"))
    {
        missing.push("weft_build_info".into());
    }
    assert!(missing.is_empty(), "missing {missing:?} in\n{body}");
    // A single node shows no cluster figures.
    assert!(!body.contains("weft_cluster_"), "{body}");
}

#[test]
fn logs_are_plain_text_when_stdout_is_not_a_terminal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = weft_command()
        .args(["serve", "--listen", "127.0.0.1:0", "--log", "info"])
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("--web-dir")
        .arg(dir.path().join("no-web"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start weft");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("a log line");
        let listening = line.contains("weft listening on");
        lines.push(line);
        if listening || Instant::now() > deadline {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        lines.iter().any(|l| l.contains("weft listening on")),
        "no start-up line in {lines:?}"
    );
    assert!(
        lines.iter().all(|l| !l.contains('\x1b')),
        "ANSI escape codes in piped logs: {lines:?}"
    );
    assert!(lines.iter().any(|l| l.contains(" INFO ")), "{lines:?}");
}

fn help(args: &[&str]) -> String {
    let out = weft_command().args(args).output().expect("run weft");
    assert!(out.status.success(), "weft {args:?} failed");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn each_subcommand_offers_only_its_own_options() {
    let migrate = help(&["migrate", "--help"]);
    for option in ["--database-url", "--pg-sslrootcert", "--pg-connect-timeout"] {
        assert!(
            migrate.contains(option),
            "migrate lacks {option}:\n{migrate}"
        );
    }
    for option in ["--data-dir", "--sqlite-sync", "--pg-pool-size", "--listen"] {
        assert!(
            !migrate.contains(option),
            "migrate offers {option}:\n{migrate}"
        );
    }
    // `weft` alone is `weft serve`: both offer the store's options.
    for args in [&["--help"][..], &["serve", "--help"][..]] {
        let serve = help(args);
        for option in ["--data-dir", "--database-url", "--pg-pool-size", "--listen"] {
            assert!(serve.contains(option), "{args:?} lacks {option}");
        }
    }
}
