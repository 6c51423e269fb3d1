//! RFC 6455 framing on the sockets Weft owns after the upgrade (see `conn`): client frames in,
//! whole messages out, and the server's own frames encoded once.
//!
//! Frame headers are parsed and payloads unmasked by actix-http's `ws::Parser`; this module
//! adds what a message needs beyond one frame, and every refusal RFC 6455 asks of a server:
//!
//! | input | answer |
//! | --- | --- |
//! | unmasked client frame, RSV bits set (RSV1 is allowed on a message's first frame once permessage-deflate is negotiated, see `deflate`), reserved opcode | 1002 |
//! | control frame over 125 bytes or fragmented | 1002 |
//! | continuation without a start, a new message inside a fragmented one | 1002 |
//! | close frame with a reserved code or a reason that is not UTF-8 | 1002 |
//! | text message that is not UTF-8 | 1007 |
//! | a frame or reassembled message over the size limit | 1009, refused from its header |
//!
//! Nothing here does I/O: [`Deframer::next`] takes what has been read so far and leaves an
//! incomplete frame where it is.

use actix_http::ws::{CloseCode, CloseReason, OpCode, Parser, ProtocolError};
use bytes::{Bytes, BytesMut};

/// One message from the client.
#[derive(Debug, PartialEq)]
pub enum Message {
    Binary(Bytes),
    /// A text message (valid UTF-8); y-protocols speaks binary only.
    Text,
    Ping(Bytes),
    Pong,
    Close(Option<CloseReason>),
}

/// Why the client's bytes are refused; each is one close code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// 1002.
    #[error("websocket protocol error: {0}")]
    Protocol(&'static str),
    /// 1007.
    #[error("text message is not UTF-8")]
    InvalidUtf8,
    /// 1009.
    #[error("message over the size limit")]
    TooBig,
}

/// Turns the bytes of one connection into messages.
#[derive(Debug)]
pub struct Deframer {
    max_message: usize,
    /// A fragmented message being reassembled: its kind, and its bytes so far.
    fragmented: Option<(Kind, BytesMut)>,
    /// permessage-deflate was negotiated (see `deflate`): RSV1 marks a compressed message.
    deflate: bool,
    /// The frame at the front of the buffer had RSV1 set, cleared before actix-http's parser
    /// (which refuses every RSV bit) saw it; kept while that frame is incomplete.
    front_rsv1: bool,
}

/// What a data message is.
#[derive(Debug, Clone, Copy)]
struct Kind {
    text: bool,
    compressed: bool,
}

impl Deframer {
    pub fn new(max_message: usize, deflate: bool) -> Self {
        Deframer {
            max_message,
            fragmented: None,
            deflate,
            front_rsv1: false,
        }
    }

    /// Whether a fragmented message is waiting for its next frame.
    pub fn is_mid_message(&self) -> bool {
        self.fragmented.is_some()
    }

    /// The next whole message at the front of `buf` (consumed), or `None` when `buf` ends in
    /// an incomplete frame (left in place).
    pub fn next(&mut self, buf: &mut BytesMut) -> Result<Option<Message>, WireError> {
        loop {
            // The size limit is enforced from the header: a client announcing a frame past it
            // is refused before any of its payload is buffered.
            if self.deflate && !self.front_rsv1 && buf.first().is_some_and(|b| b & RSV1 != 0) {
                buf[0] &= !RSV1;
                self.front_rsv1 = true;
            }
            if let Some(len) = announced_len(buf) {
                let so_far = self.fragmented.as_ref().map_or(0, |(_, b)| b.len());
                if len.saturating_add(so_far as u64) > self.max_message as u64 {
                    return Err(WireError::TooBig);
                }
            }
            let Some((fin, op, payload)) =
                Parser::parse(buf, true, self.max_message).map_err(refusal)?
            else {
                return Ok(None);
            };
            let payload = payload.unwrap_or_default();
            let rsv1 = std::mem::take(&mut self.front_rsv1);
            if rsv1 && !matches!(op, OpCode::Text | OpCode::Binary) {
                return Err(WireError::Protocol(
                    "RSV1 on a frame that does not start a message",
                ));
            }
            match op {
                OpCode::Ping | OpCode::Pong | OpCode::Close if !fin => {
                    return Err(WireError::Protocol("fragmented control frame"));
                }
                OpCode::Ping => return Ok(Some(Message::Ping(payload.freeze()))),
                OpCode::Pong => return Ok(Some(Message::Pong)),
                OpCode::Close => {
                    let reason = Parser::try_parse_close_payload(&payload)
                        .map_err(|_| WireError::Protocol("invalid close frame"))?;
                    return Ok(Some(Message::Close(reason)));
                }
                OpCode::Text | OpCode::Binary => {
                    if self.fragmented.is_some() {
                        return Err(WireError::Protocol("new message inside a fragmented one"));
                    }
                    let kind = Kind {
                        text: op == OpCode::Text,
                        compressed: rsv1,
                    };
                    if fin {
                        return self.whole(kind, payload).map(Some);
                    }
                    self.fragmented = Some((kind, payload));
                }
                OpCode::Continue => {
                    let Some((kind, mut so_far)) = self.fragmented.take() else {
                        return Err(WireError::Protocol("continuation without a start"));
                    };
                    so_far.extend_from_slice(&payload);
                    if fin {
                        return self.whole(kind, so_far).map(Some);
                    }
                    self.fragmented = Some((kind, so_far));
                }
                OpCode::Bad => return Err(WireError::Protocol("reserved opcode")),
            }
        }
    }
}

impl Deframer {
    fn whole(&self, kind: Kind, payload: BytesMut) -> Result<Message, WireError> {
        let payload = if kind.compressed {
            Bytes::from(super::deflate::inflate(&payload, self.max_message)?)
        } else {
            payload.freeze()
        };
        if !kind.text {
            return Ok(Message::Binary(payload));
        }
        std::str::from_utf8(&payload).map_err(|_| WireError::InvalidUtf8)?;
        Ok(Message::Text)
    }
}

/// The first header bit after FIN: permessage-deflate's "compressed" flag.
const RSV1: u8 = 0x40;

fn refusal(e: ProtocolError) -> WireError {
    match e {
        ProtocolError::Overflow => WireError::TooBig,
        ProtocolError::UnmaskedFrame => WireError::Protocol("unmasked client frame"),
        ProtocolError::InvalidOpcode(_) => WireError::Protocol("reserved opcode"),
        ProtocolError::InvalidLength(_) => WireError::Protocol("control frame over 125 bytes"),
        ProtocolError::Io(_) => WireError::Protocol("reserved bits set"),
        _ => WireError::Protocol("invalid frame"),
    }
}

/// The payload length a frame header at the front of `buf` announces, once its length field
/// has arrived.
fn announced_len(buf: &[u8]) -> Option<u64> {
    let len = *buf.get(1)? & 0x7F;
    match len {
        126 => Some(u16::from_be_bytes(buf.get(2..4)?.try_into().ok()?).into()),
        127 => Some(u64::from_be_bytes(buf.get(2..10)?.try_into().ok()?)),
        n => Some(n.into()),
    }
}

/// A binary message as one server frame (unmasked, so the same bytes serve every peer).
pub fn binary(payload: &[u8]) -> Bytes {
    encode(payload, OpCode::Binary)
}

/// A binary message compressed for peers that negotiated permessage-deflate (RSV1 set).
pub fn binary_deflated(payload: &[u8]) -> Bytes {
    let mut out = BytesMut::from(&encode(&super::deflate::deflate(payload), OpCode::Binary)[..]);
    out[0] |= RSV1;
    out.freeze()
}

pub fn ping(payload: &[u8]) -> Bytes {
    encode(payload, OpCode::Ping)
}

pub fn pong(payload: &[u8]) -> Bytes {
    encode(payload, OpCode::Pong)
}

/// A close frame; the reason is cut to what fits a control frame.
pub fn close(reason: &CloseReason) -> Bytes {
    let mut payload = Vec::with_capacity(125);
    payload.extend_from_slice(&u16::from(reason.code).to_be_bytes());
    if let Some(text) = &reason.description {
        let mut end = text.len().min(123);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        payload.extend_from_slice(&text.as_bytes()[..end]);
    }
    encode(&payload, OpCode::Close)
}

/// The close code of a refusal.
pub fn close_code(e: WireError) -> CloseCode {
    match e {
        WireError::Protocol(_) => CloseCode::Protocol,
        WireError::InvalidUtf8 => CloseCode::Invalid,
        WireError::TooBig => CloseCode::Size,
    }
}

fn encode(payload: &[u8], op: OpCode) -> Bytes {
    let mut out = BytesMut::with_capacity(payload.len() + 10);
    Parser::write_message(&mut out, payload, op, true, false);
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client frame: masked with a fixed key.
    fn frame(first: u8, payload: &[u8]) -> Vec<u8> {
        let key = [1u8, 2, 3, 4];
        let mut out = vec![first];
        match payload.len() {
            n if n < 126 => out.push(0x80 | n as u8),
            n if n <= 0xFFFF => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(0x80 | 127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(&key);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        out
    }

    fn read(bytes: &[u8], max: usize) -> Vec<Result<Message, WireError>> {
        let mut d = Deframer::new(max, false);
        let mut buf = BytesMut::from(bytes);
        let mut out = Vec::new();
        loop {
            match d.next(&mut buf) {
                Ok(Some(m)) => out.push(Ok(m)),
                Ok(None) => return out,
                Err(e) => {
                    out.push(Err(e));
                    return out;
                }
            }
        }
    }

    #[test]
    fn fragments_with_pings_between_reassemble() {
        let mut input = frame(0x02, b"ab");
        input.extend(frame(0x89, b"p"));
        input.extend(frame(0x00, b"cd"));
        input.extend(frame(0x80, b"e"));
        assert_eq!(
            read(&input, 100),
            vec![
                Ok(Message::Ping(Bytes::from_static(b"p"))),
                Ok(Message::Binary(Bytes::from_static(b"abcde")))
            ]
        );
    }

    #[test]
    fn an_incomplete_frame_stays_in_the_buffer() {
        let whole = frame(0x82, b"hello");
        let mut d = Deframer::new(100, false);
        let mut buf = BytesMut::from(&whole[..4]);
        assert_eq!(d.next(&mut buf), Ok(None));
        assert_eq!(buf.len(), 4);
        buf.extend_from_slice(&whole[4..]);
        assert_eq!(
            d.next(&mut buf),
            Ok(Some(Message::Binary(Bytes::from_static(b"hello"))))
        );
        assert!(buf.is_empty());
    }

    #[test]
    fn protocol_violations_are_1002() {
        let unmasked = vec![0x82, 0x01, b'x'];
        let rsv = frame(0xC2, b"x");
        let reserved_op = frame(0x83, b"x");
        let long_ping = frame(0x89, &[0; 126]);
        let fragmented_ping = frame(0x09, b"x");
        let lone_continuation = frame(0x80, b"x");
        let mut nested = frame(0x02, b"a");
        nested.extend(frame(0x82, b"b"));
        let reserved_close = frame(0x88, &1005u16.to_be_bytes());
        for input in [
            unmasked,
            rsv,
            reserved_op,
            long_ping,
            fragmented_ping,
            lone_continuation,
            nested,
            reserved_close,
        ] {
            let out = read(&input, 1000);
            let last = out.last().expect("an answer");
            assert!(
                matches!(last, Err(WireError::Protocol(_))),
                "{input:?}: {out:?}"
            );
            if let Err(e) = last {
                assert_eq!(close_code(*e), CloseCode::Protocol);
            }
        }
    }

    #[test]
    fn invalid_utf8_text_is_1007_and_valid_text_is_reported() {
        assert_eq!(
            read(&frame(0x81, &[0xff, 0xfe]), 100),
            vec![Err(WireError::InvalidUtf8)]
        );
        assert_eq!(read(&frame(0x81, b"hi"), 100), vec![Ok(Message::Text)]);
    }

    #[test]
    fn oversized_frames_and_messages_are_refused_from_the_header() {
        let header_only = &frame(0x82, &[0; 2000])[..8];
        assert_eq!(read(header_only, 1000), vec![Err(WireError::TooBig)]);
        let mut parts = frame(0x02, &[0; 600]);
        parts.extend(frame(0x80, &[0; 600]));
        assert_eq!(read(&parts, 1000), vec![Err(WireError::TooBig)]);
    }

    #[test]
    fn close_frames_carry_their_reason() {
        let mut payload = 1000u16.to_be_bytes().to_vec();
        payload.extend_from_slice(b"bye");
        let out = read(&frame(0x88, &payload), 100);
        let Ok(Message::Close(Some(reason))) = &out[0] else {
            panic!("{out:?}")
        };
        assert_eq!(reason.code, CloseCode::Normal);
        assert_eq!(reason.description.as_deref(), Some("bye"));
    }

    #[test]
    fn compressed_messages_inflate_when_negotiated_and_are_1002_otherwise() {
        let payload = vec![7u8; 5000];
        let squeezed = crate::ws::deflate::deflate(&payload);
        let (a, b) = squeezed.split_at(squeezed.len() / 2);
        let mut input = frame(0x02 | 0x40, a); // RSV1 on the first frame only
        input.extend(frame(0x89, b"p"));
        input.extend(frame(0x80, b));
        let mut d = Deframer::new(100_000, true);
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        // Byte by byte: the cleared RSV1 survives incomplete headers.
        for byte in &input {
            buf.extend_from_slice(&[*byte]);
            while let Some(m) = d.next(&mut buf).expect("valid") {
                got.push(m);
            }
        }
        assert_eq!(
            got,
            vec![
                Message::Ping(Bytes::from_static(b"p")),
                Message::Binary(Bytes::from(payload))
            ]
        );
        assert!(matches!(
            read(&frame(0xC2, &squeezed), 100_000)[0],
            Err(WireError::Protocol(_))
        ));
        let mut d = Deframer::new(100_000, true);
        let mut rsv1_ping = BytesMut::from(&frame(0xC9, b"x")[..]);
        assert!(matches!(
            d.next(&mut rsv1_ping),
            Err(WireError::Protocol(_))
        ));
        let mut d = Deframer::new(1000, true);
        let mut bomb = BytesMut::from(&frame(0xC2, &squeezed)[..]);
        assert_eq!(d.next(&mut bomb), Err(WireError::TooBig));
    }

    #[test]
    fn server_frames_are_unmasked_and_close_reasons_fit() {
        assert_eq!(&binary(b"abc")[..], &[0x82, 3, b'a', b'b', b'c']);
        let long = CloseReason {
            code: CloseCode::Away,
            description: Some("é".repeat(100)),
        };
        let frame = close(&long);
        assert!(frame.len() <= 127, "{}", frame.len());
    }
}
