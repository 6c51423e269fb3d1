//! RFC 6455 conformance of the sockets Weft owns after the upgrade, frame by frame over raw
//! TCP: what a broken client gets (a close frame with the right code, then the end of the TCP
//! connection), and what a correct one gets (fragments reassembled around pings, a clean close
//! echoed).

mod common;

use std::time::Duration;

use common::Server;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use weft_crdt::codec::encode_sync_step1;
use yrs::StateVector;

/// A raw client: the upgrade by hand, then frames as bytes.
struct Raw {
    tcp: TcpStream,
    buf: Vec<u8>,
}

/// One server frame.
#[derive(Debug)]
struct Frame {
    fin: bool,
    /// RSV1: a permessage-deflate compressed message.
    rsv1: bool,
    op: u8,
    payload: Vec<u8>,
}

impl Raw {
    async fn connect(port: u16, doc: &str) -> Raw {
        Raw::connect_with(port, doc, "").await.0
    }

    /// Upgrades with `extra` header lines; returns the response head too.
    async fn connect_with(port: u16, doc: &str, extra: &str) -> (Raw, String) {
        let mut tcp = TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect");
        let head = format!(
            "GET /ws/{doc} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: 13\r\n{extra}\r\n"
        );
        tcp.write_all(head.as_bytes()).await.expect("send upgrade");
        let mut raw = Raw {
            tcp,
            buf: Vec::new(),
        };
        let end = loop {
            if let Some(i) = raw.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            assert!(raw.fill().await > 0, "connection closed during the upgrade");
        };
        let head = String::from_utf8_lossy(&raw.buf[..end]).to_string();
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        assert!(
            head.to_ascii_lowercase()
                .contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="),
            "{head}"
        );
        raw.buf.drain(..end);
        (raw, head)
    }

    async fn fill(&mut self) -> usize {
        let mut chunk = [0u8; 8192];
        let n = tokio::time::timeout(Duration::from_secs(10), self.tcp.read(&mut chunk))
            .await
            .expect("server answers within 10 s")
            .unwrap_or(0);
        self.buf.extend_from_slice(&chunk[..n]);
        n
    }

    /// A masked client frame.
    async fn send(&mut self, first: u8, payload: &[u8]) {
        self.send_raw(&frame(first, payload, true)).await;
    }

    async fn send_raw(&mut self, bytes: &[u8]) {
        self.tcp.write_all(bytes).await.expect("send frame");
    }

    /// The next server frame; `None` at the end of the TCP stream.
    async fn next(&mut self) -> Option<Frame> {
        loop {
            if let Some((frame, used)) = parse(&self.buf) {
                self.buf.drain(..used);
                return Some(frame);
            }
            if self.fill().await == 0 {
                return None;
            }
        }
    }

    /// Reads until a close frame, returns its code, then checks the server ends the TCP
    /// connection (within the close grace and well before it, since it half-closes at once).
    async fn expect_close(&mut self, code: u16, what: &str) {
        let close = loop {
            match self.next().await {
                Some(f) if f.op == 0x8 => break f,
                Some(_) => continue,
                None => panic!("{what}: connection ended without a close frame"),
            }
        };
        assert!(close.fin, "{what}: close frames are not fragmented");
        let got = u16::from_be_bytes([close.payload[0], close.payload[1]]);
        assert_eq!(got, code, "{what}: close code");
        let ended = tokio::time::timeout(Duration::from_secs(3), async {
            while self.next().await.is_some() {}
        })
        .await;
        assert!(
            ended.is_ok(),
            "{what}: TCP still open after the close frame"
        );
    }
}

fn frame(first: u8, payload: &[u8], masked: bool) -> Vec<u8> {
    let key = [0x37u8, 0xfa, 0x21, 0x3d];
    let mask_bit = if masked { 0x80 } else { 0 };
    let mut out = vec![first];
    match payload.len() {
        n if n < 126 => out.push(mask_bit | n as u8),
        n if n <= 0xFFFF => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    if masked {
        out.extend_from_slice(&key);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    } else {
        out.extend_from_slice(payload);
    }
    out
}

fn parse(buf: &[u8]) -> Option<(Frame, usize)> {
    if buf.len() < 2 {
        return None;
    }
    assert_eq!(buf[1] & 0x80, 0, "server frames are unmasked");
    let (len, mut at) = match buf[1] & 0x7f {
        126 => (u16::from_be_bytes([*buf.get(2)?, *buf.get(3)?]) as usize, 4),
        127 => (
            u64::from_be_bytes(buf.get(2..10)?.try_into().ok()?) as usize,
            10,
        ),
        n => (n as usize, 2),
    };
    let payload = buf.get(at..at + len)?.to_vec();
    at += len;
    Some((
        Frame {
            fin: buf[0] & 0x80 != 0,
            rsv1: buf[0] & 0x40 != 0,
            op: buf[0] & 0x0f,
            payload,
        },
        at,
    ))
}

fn server() -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("data"), &[]);
    (dir, server)
}

#[tokio::test]
async fn fragments_with_pings_between_them_are_one_message() {
    let (_dir, server) = server();
    let mut raw = Raw::connect(server.port, "rfc-fragments").await;
    let step1 = encode_sync_step1(&StateVector::default());
    let (a, b) = step1.split_at(step1.len() / 2);
    raw.send(0x02, a).await; // binary, not final
    raw.send(0x89, b"between").await; // ping
    raw.send(0x00, b).await; // continuation, not final... (empty tail next)
    raw.send(0x89, b"again").await;
    raw.send(0x80, b"").await; // final continuation
    let (mut pongs, mut step2) = (Vec::new(), false);
    while pongs.len() < 2 || !step2 {
        let f = raw.next().await.expect("server frames");
        match f.op {
            0xA => pongs.push(String::from_utf8(f.payload).expect("pong payload")),
            // y-protocols sync step 2: our reassembled step 1 was understood.
            0x2 if f.payload.starts_with(&[0, 1]) => step2 = true,
            0x8 => panic!("closed: {:?}", f.payload),
            _ => {}
        }
    }
    assert_eq!(pongs, ["between", "again"], "pings answered in order");
    raw.send(0x88, &1000u16.to_be_bytes()).await;
    raw.expect_close(1000, "clean close").await;
}

#[tokio::test]
async fn protocol_violations_close_with_1002_then_tcp() {
    let (_dir, server) = server();
    let mut nested = frame(0x02, b"\x00", true);
    nested.extend(frame(0x82, b"\x00", true));
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("unmasked client frame", frame(0x82, b"\x00\x00\x00", false)),
        ("RSV1 without an extension", frame(0xC2, b"\x00", true)),
        ("RSV2", frame(0xA2, b"\x00", true)),
        ("reserved data opcode", frame(0x83, b"\x00", true)),
        ("reserved control opcode", frame(0x8B, b"", true)),
        ("control frame over 125 bytes", frame(0x89, &[7; 126], true)),
        ("fragmented control frame", frame(0x09, b"x", true)),
        ("continuation without a start", frame(0x80, b"\x00", true)),
        ("a new message inside a fragmented one", nested),
        (
            "reserved close code 1005",
            frame(0x88, &1005u16.to_be_bytes(), true),
        ),
        (
            "reserved close code 2999",
            frame(0x88, &2999u16.to_be_bytes(), true),
        ),
    ];
    for (what, bytes) in cases {
        let mut raw = Raw::connect(server.port, "rfc-violations").await;
        raw.send_raw(&bytes).await;
        raw.expect_close(1002, what).await;
    }
}

#[tokio::test]
async fn invalid_utf8_text_closes_with_1007_and_text_with_1003() {
    let (_dir, server) = server();
    let mut raw = Raw::connect(server.port, "rfc-text").await;
    raw.send(
        0x81,
        &[
            0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5, 0xed, 0xa0, 0x80,
        ],
    )
    .await;
    raw.expect_close(1007, "invalid UTF-8").await;
    let mut raw = Raw::connect(server.port, "rfc-text").await;
    raw.send(0x81, b"hello").await;
    raw.expect_close(1003, "valid text").await;
}

#[tokio::test]
async fn the_server_is_still_serving_after_every_violation() {
    let (_dir, server) = server();
    for first in [0xC2u8, 0x83, 0x80] {
        let mut raw = Raw::connect(server.port, "rfc-alive").await;
        raw.send(first, b"\x00").await;
        raw.expect_close(1002, "violation").await;
    }
    let mut client = common::Client::connect(&server.url("rfc-alive")).await;
    client.push_text("t", "still here").await;
    let mut other = common::Client::connect(&server.url("rfc-alive")).await;
    assert!(
        other
            .until(common::SECS15, |d| common::text_of(d, "t") == "still here")
            .await
    );
    client.close().await;
    other.close().await;
}

const DEFLATE_OFFER: &str =
    "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n";

#[tokio::test]
async fn permessage_deflate_is_negotiated_and_large_messages_travel_compressed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("data"), &["--permessage-deflate", "true"]);
    let doc = "rfc-deflate";
    // A large document, written by a client that does not compress.
    let big = "compressible text ".repeat(20_000);
    let mut writer = common::Client::connect(&server.url(doc)).await;
    writer.push_text("t", &big).await;
    writer.drain().await;

    let (mut raw, head) = Raw::connect_with(server.port, doc, DEFLATE_OFFER).await;
    assert!(
        head.to_ascii_lowercase().contains(
            "sec-websocket-extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover"
        ),
        "{head}"
    );
    // Our sync step 1, compressed (RSV1), fragmented in two.
    let step1 = weft::ws::deflate::deflate(&encode_sync_step1(&StateVector::default()));
    let (a, b) = step1.split_at(step1.len() / 2);
    raw.send(0x02 | 0x40, a).await;
    raw.send(0x80, b).await;
    let step2 = loop {
        let f = raw.next().await.expect("server frames");
        assert_ne!(f.op, 0x8, "closed: {:?}", f.payload);
        let payload = if f.rsv1 {
            weft::ws::deflate::inflate(&f.payload, 64 << 20).expect("the server's frame inflates")
        } else {
            f.payload.clone()
        };
        if f.op == 0x2 && payload.starts_with(&[0, 1]) {
            assert!(f.rsv1, "a large first sync is compressed");
            assert!(
                f.payload.len() * 10 < payload.len(),
                "{} of {}",
                f.payload.len(),
                payload.len()
            );
            break payload;
        }
    };
    let doc_copy = yrs::Doc::new();
    for m in weft_crdt::codec::decode_frame(&step2).expect("y-protocols") {
        if let weft_crdt::Inbound::SyncStep2 { update, .. } = m {
            use yrs::Transact;
            doc_copy
                .transact_mut()
                .apply_update(update)
                .expect("applies");
        }
    }
    assert_eq!(common::text_of(&doc_copy, "t"), big);
    writer.close().await;
}

#[tokio::test]
async fn permessage_deflate_is_off_by_default() {
    let (_dir, server) = server();
    let (mut raw, head) = Raw::connect_with(server.port, "rfc-no-deflate", DEFLATE_OFFER).await;
    assert!(
        !head.to_ascii_lowercase().contains("permessage-deflate"),
        "{head}"
    );
    // Without the extension, RSV1 is a protocol error.
    raw.send(0xC2, b"\x00").await;
    raw.expect_close(1002, "RSV1 without the extension").await;
}
