//! permessage-deflate (RFC 7692) on owned sockets, when `--permessage-deflate true`: negotiated
//! without context takeover in either direction, so every message is compressed on its own and
//! one compressed frame serves every peer that negotiated it.
//!
//! - Negotiation ([`negotiate`]): the first `permessage-deflate` offer Weft can honour is
//!   accepted as `permessage-deflate; server_no_context_takeover; client_no_context_takeover`
//!   (RFC 7692 lets a server add both). An offer that limits the server's window
//!   (`server_max_window_bits` below 15) is declined: the connection then runs uncompressed.
//! - Inbound ([`inflate`]): a message whose first frame has RSV1 set is inflated, and refused
//!   (1009) as soon as it inflates past the message size limit, so a small compressed message
//!   cannot become a large one in memory.
//! - Outbound ([`deflate`]): binary messages of at least [`THRESHOLD`] bytes (sync step 2
//!   answers, large updates) are compressed once; smaller ones (typing, presence) go as they
//!   are, which the extension allows message by message.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use super::wire::WireError;

/// Smallest payload compressed on the way out: below it deflate saves little and costs CPU.
pub const THRESHOLD: usize = 1024;

/// The extension's response header value.
pub const ACCEPTED: &str =
    "permessage-deflate; server_no_context_takeover; client_no_context_takeover";

/// The tail a sync flush ends with, removed from sent messages and restored before inflating
/// (RFC 7692 §7.2.1-2).
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// Whether one of the `Sec-WebSocket-Extensions` offers is a permessage-deflate Weft accepts.
pub fn negotiate<'a>(offers: impl IntoIterator<Item = &'a str>) -> bool {
    offers
        .into_iter()
        .flat_map(|header| header.split(','))
        .any(acceptable)
}

fn acceptable(offer: &str) -> bool {
    let mut parts = offer.split(';').map(str::trim);
    if parts.next() != Some("permessage-deflate") {
        return false;
    }
    let mut seen = Vec::new();
    for param in parts {
        let (name, value) = match param.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v.trim().trim_matches('"'))),
            None => (param, None),
        };
        if seen.contains(&name) {
            return false; // RFC 7692 §7: a repeated parameter makes the offer invalid
        }
        seen.push(name);
        let ok = match (name, value) {
            ("server_no_context_takeover" | "client_no_context_takeover", None) => true,
            // The client may use any window up to 15: inflating with 15 reads them all.
            ("client_max_window_bits", None) => true,
            ("client_max_window_bits", Some(v)) => window_bits(v).is_some(),
            ("server_max_window_bits", Some(v)) => window_bits(v) == Some(15),
            _ => false,
        };
        if !ok {
            return false;
        }
    }
    true
}

fn window_bits(v: &str) -> Option<u8> {
    v.parse().ok().filter(|b| (8..=15).contains(b))
}

/// A compressed message's payload, compressed once.
pub fn deflate(payload: &[u8]) -> Vec<u8> {
    let mut z = Compress::new(Compression::fast(), false);
    let mut out = Vec::with_capacity(payload.len() / 2 + 64);
    loop {
        let before = z.total_in() as usize;
        out.reserve(payload.len() / 4 + 64);
        // Writing into a Vec cannot fail (the only error is a stream misuse).
        let _ = z.compress_vec(&payload[before..], &mut out, FlushCompress::Sync);
        if z.total_in() as usize == payload.len() && out.ends_with(&TAIL) {
            break;
        }
    }
    out.truncate(out.len() - TAIL.len());
    out
}

/// Inflates one compressed message, refusing it past `max` bytes.
pub fn inflate(compressed: &[u8], max: usize) -> Result<Vec<u8>, WireError> {
    let mut z = Decompress::new(false);
    let mut input = Vec::with_capacity(compressed.len() + TAIL.len());
    input.extend_from_slice(compressed);
    input.extend_from_slice(&TAIL);
    let mut out = Vec::with_capacity((compressed.len() * 3).min(max).max(64));
    loop {
        let consumed = z.total_in() as usize;
        if out.len() == out.capacity() {
            out.reserve((out.len()).clamp(4096, 1 << 20));
        }
        let status = z
            .decompress_vec(&input[consumed..], &mut out, FlushDecompress::Sync)
            .map_err(|_| WireError::Protocol("invalid compressed message"))?;
        if out.len() > max {
            return Err(WireError::TooBig);
        }
        let done = z.total_in() as usize == input.len() && out.len() < out.capacity();
        if done || status == Status::StreamEnd {
            return Ok(out);
        }
        if status == Status::BufError
            && z.total_in() as usize == consumed
            && out.len() < out.capacity()
        {
            return Err(WireError::Protocol("invalid compressed message"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offers_browsers_and_ws_send_are_accepted() {
        assert!(negotiate(["permessage-deflate; client_max_window_bits"]));
        assert!(negotiate(["permessage-deflate"]));
        assert!(negotiate([
            "permessage-deflate; server_max_window_bits=10, permessage-deflate"
        ]));
        assert!(negotiate([
            "permessage-deflate; client_max_window_bits=12; server_no_context_takeover"
        ]));
    }

    #[test]
    fn offers_weft_cannot_honour_are_declined() {
        assert!(!negotiate([
            "permessage-deflate; server_max_window_bits=10"
        ]));
        assert!(!negotiate(["permessage-deflate; client_max_window_bits=7"]));
        assert!(!negotiate(["permessage-deflate; foo"]));
        assert!(!negotiate([
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover"
        ]));
        assert!(!negotiate(["x-webkit-deflate-frame"]));
        assert!(!negotiate(Vec::<&str>::new()));
    }

    #[test]
    fn round_trip() {
        let payload: Vec<u8> = (0..200_000u32)
            .map(|i| (i % 251) as u8 ^ (i / 7) as u8)
            .collect();
        let small = deflate(&payload);
        assert!(!small.ends_with(&TAIL));
        assert_eq!(inflate(&small, 1 << 20).expect("inflates"), payload);
        assert_eq!(inflate(&deflate(b""), 10).expect("empty"), b"");
    }

    #[test]
    fn a_bomb_is_refused_at_the_limit() {
        let zeros = vec![0u8; 10 << 20];
        let bomb = deflate(&zeros);
        assert!(bomb.len() < 64 * 1024, "{}", bomb.len());
        assert_eq!(inflate(&bomb, 1 << 20), Err(WireError::TooBig));
    }

    #[test]
    fn garbage_is_a_protocol_error() {
        assert!(matches!(
            inflate(&[0xff, 0xff, 0xff, 0x00, 0x12], 1000),
            Err(WireError::Protocol(_))
        ));
    }
}
