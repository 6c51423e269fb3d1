//! Awareness size and rate limits against the real `weft` binary, on both endpoints: a message
//! whose entries total more than `--max-awareness-size` closes the connection with 1009; more
//! awareness messages than `--max-awareness-per-sec` allows (after the burst) close it with 1008
//! `awareness rate limit`; the document's other clients carry on; refusals are counted.

mod common;

use std::time::Duration;

use common::*;
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use weft::hocuspocus::codec::{key_prefix, wrap};
use weft_crdt::codec::encode_awareness;

fn big_json() -> String {
    format!("{{\"user\":\"{}\"}}", "x".repeat(2048))
}

fn metric_has(port: u16, reason: &str) -> bool {
    let (_, body) = http_get(port, "/metrics").expect("metrics answers");
    let needle = format!("weft_refusals_total{{reason=\"{reason}\"}} ");
    body.lines().any(|l| l.starts_with(&needle))
}

#[tokio::test]
async fn an_oversized_awareness_message_closes_with_1009() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &["--max-awareness-size", "1KiB"]);
    let url = server.url("presence/size");
    let mut calm = Client::connect(&url).await;
    let mut big = Client::connect(&url).await;
    // A normal presence passes.
    big.send(encode_awareness(
        [(7u64, 1u32, "{\"user\":\"ann\"}")].into_iter(),
    ))
    .await;
    big.until(Duration::from_millis(200), |_| false).await;
    assert!(big.closed.is_none(), "{:?}", big.closed);
    let json = big_json();
    big.send(encode_awareness([(7u64, 2u32, json.as_str())].into_iter()))
        .await;
    assert_eq!(big.until_closed(SECS5).await, Some(CloseCode::Size));
    assert_eq!(
        big.closed.as_ref().map(|(_, r)| r.as_str()),
        Some("awareness message too big")
    );
    // The same bytes as a document update would be fine: only awareness has the smaller limit.
    calm.push_text("t", &"y".repeat(2048)).await;
    let mut late = Client::connect(&url).await;
    assert!(late.until(SECS5, |d| text_of(d, "t").len() == 2048).await);
    assert!(metric_has(server.port, "awareness_too_big"));
}

#[tokio::test]
async fn awareness_faster_than_its_own_rate_closes_with_1008() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(
        dir.path(),
        &["--max-awareness-per-sec", "5", "--awareness-burst", "5"],
    );
    let url = server.url("presence/rate");
    let mut calm = Client::connect(&url).await;
    let mut chatty = Client::connect(&url).await;
    for clock in 1..=50u32 {
        let frame = encode_awareness([(9u64, clock, "{}")].into_iter());
        if chatty.ws.send(Message::Binary(frame.into())).await.is_err() {
            break;
        }
    }
    assert_eq!(chatty.until_closed(SECS5).await, Some(CloseCode::Policy));
    assert_eq!(
        chatty.closed.as_ref().map(|(_, r)| r.as_str()),
        Some("awareness rate limit")
    );
    // Document messages are not awareness: the calm client edits many times, unaffected.
    for i in 0..30 {
        calm.push_text("t", &i.to_string()).await;
    }
    calm.until(Duration::from_millis(300), |_| false).await;
    assert!(calm.closed.is_none(), "{:?}", calm.closed);
    assert!(metric_has(server.port, "awareness_rate_limit"));
}

/// Reads a raw socket until the server's close frame.
async fn close_of(ws: &mut Ws) -> Option<(CloseCode, String)> {
    let deadline = tokio::time::Instant::now() + SECS5;
    while let Ok(Some(Ok(msg))) = tokio::time::timeout_at(deadline, ws.next()).await {
        if let Message::Close(frame) = msg {
            return frame.map(|f| (f.code, f.reason.to_string()));
        }
    }
    None
}

#[tokio::test]
async fn hocuspocus_applies_the_same_awareness_limits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(
        dir.path(),
        &[
            "--max-awareness-size",
            "1KiB",
            "--max-awareness-per-sec",
            "5",
            "--awareness-burst",
            "5",
        ],
    );
    let url = format!("ws://127.0.0.1:{}/hocuspocus", server.port);
    let prefix = key_prefix("hp/presence");

    // Too big: 1009. (Running open, the first message opens the document.)
    let (mut ws, _) = tokio_tungstenite::connect_async(&url)
        .await
        .expect("connect");
    let json = big_json();
    let frame = wrap(
        &prefix,
        &encode_awareness([(3u64, 1u32, json.as_str())].into_iter()),
    );
    ws.send(Message::Binary(frame.into())).await.expect("send");
    let (code, reason) = close_of(&mut ws).await.expect("closed");
    assert_eq!(
        (code, reason.as_str()),
        (CloseCode::Size, "awareness message too big")
    );

    // Too fast: 1008.
    let (mut ws, _) = tokio_tungstenite::connect_async(&url)
        .await
        .expect("connect");
    for clock in 1..=50u32 {
        let frame = wrap(
            &prefix,
            &encode_awareness([(4u64, clock, "{}")].into_iter()),
        );
        if ws.send(Message::Binary(frame.into())).await.is_err() {
            break;
        }
    }
    let (code, reason) = close_of(&mut ws).await.expect("closed");
    assert_eq!(
        (code, reason.as_str()),
        (CloseCode::Policy, "awareness rate limit")
    );
}
