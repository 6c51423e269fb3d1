//! The socket as a session sees it, whichever way the connection is held:
//!
//! - [`Socket::Owned`]: Weft owns the connection after the upgrade (`takeover`; what `weft
//!   serve` does). Reads wait for readiness and borrow a per-thread buffer; a connection keeps
//!   a buffer of its own only while a frame is incomplete. Writes go straight into the socket
//!   (`conn`), and the document actor writes there too ([`Outbound::Direct`]).
//! - [`Socket::Mounted`]: an embedder's actix-web server still owns the connection (Weft is
//!   mounted as a scope; actix-ws frames it). The actor's frames go through a bounded queue
//!   that the response body drains (`outbound`).
//!
//! Both give the session the same messages and the same close rules: the session decides a
//! close, the socket sends the close frame and the connection is gone within the close grace.

use std::cell::RefCell;
use std::sync::OnceLock;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_ws::{AggregatedMessage, AggregatedMessageStream, CloseReason, ProtocolError};
use bytes::{Bytes, BytesMut};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

use super::conn::{Conn, SendError};
use super::outbound::Grace;
use super::wire::{self, Deframer, Message, WireError};

/// What one read from a socket borrows: big enough for a burst of small frames. A frame that
/// does not fit moves to a buffer of its connection's own until it is complete.
const SCRATCH: usize = 16 * 1024;
/// A scratch buffer grown past this (a large frame announced) is replaced after use.
const SCRATCH_KEEP: usize = 64 * 1024;

thread_local! {
    static SCRATCH_BUF: RefCell<BytesMut> = RefCell::new(BytesMut::with_capacity(SCRATCH));
}

/// What a session reads: a message, a refusal of what the client sent, or the end.
pub type Received = Option<Result<Message, WireError>>;

pub enum Socket {
    Owned(Owned),
    /// Boxed: every idle session carries its socket, and most are owned.
    Mounted(Box<Mounted>),
}

pub struct Owned {
    conn: Conn,
    deframer: Deframer,
    /// Bytes read but not yet a whole message; empty (unallocated) between messages.
    partial: BytesMut,
    /// The client's close frame, echoed when the session closes.
    peer_closed: Option<Option<CloseReason>>,
    grace: Duration,
}

pub struct Mounted {
    session: actix_ws::Session,
    stream: AggregatedMessageStream,
    /// The actor's queue into the response body.
    outbound: mpsc::Sender<Bytes>,
    /// Ends the response body (and so the connection) once the close grace is over.
    grace: Grace,
}

/// Where the document actor sends a session's frames.
#[derive(Debug, Clone)]
pub enum Outbound {
    /// Straight into an owned socket.
    Direct(Conn),
    /// Straight into an owned Hocuspocus socket, each message behind its document's key
    /// (`varString(key)`).
    Prefixed { conn: Conn, prefix: Bytes },
    /// Into a bounded queue (a mounted socket's response body, or a Hocuspocus session on a
    /// mounted socket, which prefixes each frame itself).
    Queue(mpsc::Sender<Bytes>),
}

/// One message of the actor for its sessions: the payload, and its WebSocket frame made once
/// for every owned socket it goes to. Shared (`Arc`) where one message serves many sends over
/// time: the sync step 2 every fresh joiner gets is framed and compressed once.
#[derive(Debug)]
pub struct OutFrame {
    payload: Bytes,
    framed: OnceLock<Bytes>,
    /// The same, compressed, for sockets that negotiated permessage-deflate.
    deflated: OnceLock<Bytes>,
    /// The frame behind a Hocuspocus key (the prefix, then the frame, as the deflate flag
    /// says): every provider on one document uses the same key, so one is kept.
    prefixed: OnceLock<(Bytes, bool, Bytes)>,
}

impl OutFrame {
    pub fn new(payload: Bytes) -> Self {
        OutFrame {
            payload,
            framed: OnceLock::new(),
            deflated: OnceLock::new(),
            prefixed: OnceLock::new(),
        }
    }

    /// The payload's size (for metrics).
    pub fn payload_len(&self) -> usize {
        self.payload.len()
    }

    /// The y-protocols message itself.
    pub fn payload(&self) -> &Bytes {
        &self.payload
    }

    fn prefixed(&self, prefix: &Bytes, deflate: bool) -> Bytes {
        let frame = || {
            let mut message = Vec::with_capacity(prefix.len() + self.payload.len());
            message.extend_from_slice(prefix);
            message.extend_from_slice(&self.payload);
            OutFrame::new(message.into()).framed(deflate)
        };
        let (p, d, framed) = self
            .prefixed
            .get_or_init(|| (prefix.clone(), deflate, frame()));
        if p == prefix && *d == deflate {
            framed.clone()
        } else {
            frame()
        }
    }

    fn framed(&self, deflate: bool) -> Bytes {
        if deflate && self.payload.len() >= super::deflate::THRESHOLD {
            return self
                .deflated
                .get_or_init(|| wire::binary_deflated(&self.payload))
                .clone();
        }
        self.framed
            .get_or_init(|| wire::binary(&self.payload))
            .clone()
    }
}

impl Outbound {
    /// Sends without waiting. `Full`: the client cannot keep up; `Gone`: it left.
    pub fn try_send(&self, frame: &OutFrame) -> Result<(), SendError> {
        match self {
            Outbound::Direct(conn) => conn.send(frame.framed(conn.deflates())),
            Outbound::Prefixed { conn, prefix } => {
                conn.send(frame.prefixed(prefix, conn.deflates()))
            }
            Outbound::Queue(tx) => tx.try_send(frame.payload.clone()).map_err(|e| match e {
                TrySendError::Full(_) => SendError::Full,
                TrySendError::Closed(_) => SendError::Gone,
            }),
        }
    }
}

impl Socket {
    /// `read`: what the client sent after its request head (usually nothing: it waits for
    /// the 101). The HTTP dispatcher's read buffer is not kept.
    pub fn owned(conn: Conn, max_message: usize, grace: Duration, read: BytesMut) -> Self {
        Socket::Owned(Owned {
            deframer: Deframer::new(max_message, conn.deflates()),
            conn,
            partial: if read.is_empty() {
                BytesMut::new()
            } else {
                BytesMut::from(&read[..])
            },
            peer_closed: None,
            grace,
        })
    }

    pub fn mounted(
        session: actix_ws::Session,
        stream: AggregatedMessageStream,
        outbound: mpsc::Sender<Bytes>,
        grace: Grace,
    ) -> Self {
        Socket::Mounted(Box::new(Mounted {
            session,
            stream,
            outbound,
            grace,
        }))
    }

    /// Where the actor sends a Hocuspocus document's frames, behind `prefix`: straight into
    /// an owned socket; `None` on a mounted one (the session prefixes them itself).
    pub fn prefixed(&self, prefix: Bytes) -> Option<Outbound> {
        match self {
            Socket::Owned(o) => Some(Outbound::Prefixed {
                conn: o.conn.clone(),
                prefix,
            }),
            Socket::Mounted(_) => None,
        }
    }

    /// Where the actor sends this session's frames.
    pub fn outbound(&self) -> Outbound {
        match self {
            Socket::Owned(o) => Outbound::Direct(o.conn.clone()),
            Socket::Mounted(m) => Outbound::Queue(m.outbound.clone()),
        }
    }

    /// The next message. `None`: the client is gone (end of stream, or the socket failed).
    /// Cancel-safe: nothing read is lost if the future is dropped.
    pub async fn recv(&mut self) -> Received {
        match self {
            Socket::Owned(o) => o.recv().await,
            Socket::Mounted(m) => {
                let msg = from_actix(m.stream.recv().await);
                if let Some(Ok(Message::Close(reason))) = &msg {
                    // Echoed at once, as actix-ws expects; the session then ends.
                    let _ = Box::pin(m.session.clone().close(reason.clone())).await;
                }
                msg
            }
        }
    }

    /// Sends a binary message of the session's own (not the actor's).
    pub async fn send(&mut self, payload: Bytes) -> Result<(), SendError> {
        match self {
            Socket::Owned(o) => o
                .conn
                .send(OutFrame::new(payload).framed(o.conn.deflates())),
            Socket::Mounted(m) => m.session.binary(payload).await.map_err(|_| SendError::Gone),
        }
    }

    /// Answers a ping. Like any frame, a pong the client does not read counts against its
    /// queue, so a client that pings but never reads is a slow consumer.
    pub async fn pong(&mut self, payload: &[u8]) -> Result<(), SendError> {
        match self {
            Socket::Owned(o) => o.conn.send(wire::pong(payload)),
            Socket::Mounted(m) => m.session.pong(payload).await.map_err(|_| SendError::Gone),
        }
    }

    pub async fn ping(&mut self) -> Result<(), SendError> {
        match self {
            Socket::Owned(o) => o.conn.send(wire::ping(b"")),
            Socket::Mounted(m) => m.session.ping(b"").await.map_err(|_| SendError::Gone),
        }
    }

    /// Binary messages a vanished client had already delivered (see `frames::unread`).
    pub async fn unread(&mut self) -> Vec<Bytes> {
        match self {
            // An owned socket reads everything before it reports the end of the stream.
            Socket::Owned(_) => Vec::new(),
            Socket::Mounted(m) => super::frames::unread(&mut m.stream).await,
        }
    }

    /// Ends the connection: with `reason`, a close frame (or the echo of the client's own close)
    /// after everything queued; the TCP connection is gone within the close grace whatever the
    /// client does.
    pub async fn close(self, reason: Option<CloseReason>) {
        match self {
            Socket::Owned(o) => {
                let frame = match (&o.peer_closed, &reason) {
                    (Some(echo), _) => Some(wire::close(echo.as_ref().unwrap_or(&CloseReason {
                        code: actix_ws::CloseCode::Normal,
                        description: None,
                    }))),
                    (None, Some(reason)) => Some(wire::close(reason)),
                    (None, None) => None,
                };
                o.conn.close(frame, o.grace).await;
            }
            Socket::Mounted(m) => {
                if reason.is_some() {
                    let _ = m.session.close(reason).await;
                }
                m.grace.run_out().await;
            }
        }
    }
}

impl Owned {
    /// Polled, not an `async fn`: an idle connection waits in the socket's own readiness
    /// slots, so its session future carries no waiter.
    async fn recv(&mut self) -> Received {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Received> {
        loop {
            if !self.partial.is_empty() {
                let next = self.deframer.next(&mut self.partial);
                if self.partial.is_empty() {
                    self.partial = BytesMut::new(); // nothing in flight: hold no buffer
                }
                match next {
                    Ok(Some(msg)) => return Poll::Ready(Some(Ok(self.note(msg)))),
                    Ok(None) => {}
                    Err(e) => return Poll::Ready(Some(Err(e))),
                }
            }
            // Frames the socket did not take are flushed while waiting to read.
            if self.conn.poll_writes(cx).is_ready() {
                return Poll::Ready(None);
            }
            match self.conn.poll_readable(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(_)) => return Poll::Ready(None),
                Poll::Ready(Ok(())) => {}
            }
            match self.read() {
                Ok(Some(msg)) => return Poll::Ready(Some(Ok(self.note(msg)))),
                Ok(None) | Err(ReadEnd::WouldBlock) => {}
                Err(ReadEnd::Gone) => return Poll::Ready(None),
                Err(ReadEnd::Refused(e)) => return Poll::Ready(Some(Err(e))),
            }
        }
    }

    fn note(&mut self, msg: Message) -> Message {
        if let Message::Close(reason) = &msg {
            self.peer_closed = Some(reason.clone());
        }
        msg
    }

    /// One read. Between messages it reads into this thread's scratch buffer and keeps only an
    /// incomplete remainder; mid-message it reads into the connection's own buffer.
    fn read(&mut self) -> Result<Option<Message>, ReadEnd> {
        if !self.partial.is_empty() || self.deframer.is_mid_message() {
            if self.partial.capacity() - self.partial.len() < 4096 {
                self.partial.reserve(SCRATCH);
            }
            return match self.conn.try_read(&mut self.partial) {
                Ok(0) => Err(ReadEnd::Gone),
                Ok(_) => Ok(None), // parsed at the top of `recv`
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Err(ReadEnd::WouldBlock),
                Err(_) => Err(ReadEnd::Gone),
            };
        }
        SCRATCH_BUF.with(|scratch| {
            let mut scratch = scratch.borrow_mut();
            scratch.clear();
            scratch.reserve(SCRATCH);
            let result = match self.conn.try_read(&mut scratch) {
                Ok(0) => Err(ReadEnd::Gone),
                Ok(_) => match self.deframer.next(&mut scratch) {
                    // Copied out, so the scratch buffer is free again for the next read.
                    Ok(msg) => Ok(msg.map(detach)),
                    Err(e) => Err(ReadEnd::Refused(e)),
                },
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Err(ReadEnd::WouldBlock),
                Err(_) => Err(ReadEnd::Gone),
            };
            if result.is_ok() && !scratch.is_empty() {
                self.partial = BytesMut::from(&scratch[..]);
            }
            scratch.clear();
            if scratch.capacity() > SCRATCH_KEEP {
                *scratch = BytesMut::with_capacity(SCRATCH);
            }
            result
        })
    }
}

enum ReadEnd {
    WouldBlock,
    Gone,
    Refused(WireError),
}

/// A message's payload in an allocation of its own (not a slice of the scratch buffer).
fn detach(msg: Message) -> Message {
    match msg {
        Message::Binary(b) => Message::Binary(Bytes::copy_from_slice(&b)),
        Message::Ping(b) => Message::Ping(Bytes::copy_from_slice(&b)),
        other => other,
    }
}

fn from_actix(msg: Option<Result<AggregatedMessage, ProtocolError>>) -> Received {
    Some(match msg? {
        Ok(AggregatedMessage::Binary(b)) => Ok(Message::Binary(b)),
        Ok(AggregatedMessage::Text(_)) => Ok(Message::Text),
        Ok(AggregatedMessage::Ping(b)) => Ok(Message::Ping(b)),
        Ok(AggregatedMessage::Pong(_)) => Ok(Message::Pong),
        Ok(AggregatedMessage::Close(reason)) => Ok(Message::Close(reason)),
        Err(ProtocolError::Overflow) => Err(WireError::TooBig),
        Err(ProtocolError::Io(io))
            if io.get_ref().is_some_and(|inner| {
                inner
                    .downcast_ref::<actix_web::error::PayloadError>()
                    .is_some()
            }) =>
        {
            // The connection dropped without a close frame.
            return None;
        }
        // actix-ws reports a reassembled (continuation) message over the limit as an I/O
        // error rather than `Overflow`; it is the same refusal, 1009.
        Err(ProtocolError::Io(io)) if io.to_string().contains("continuation size") => {
            Err(WireError::TooBig)
        }
        Err(_) => Err(WireError::Protocol("invalid frame")),
    })
}
