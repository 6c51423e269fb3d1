//! A WebSocket connection Weft owns after the upgrade (see `takeover`): the socket itself,
//! shared by the connection's task, which reads, and every sender of frames (the document
//! actor, the session), which write.
//!
//! ```text
//!  actor ──frame──► Conn::send ──(socket takes it)──► kernel          no task woken
//!                        └──(socket full)──► queue (bounded) ──► Conn::drive_writes (the
//!                                                                connection's task, on writable)
//!  kernel ──readable──► Conn::read_into (into a buffer the caller lends) ──► session
//! ```
//!
//! A frame is written by whoever sends it, straight into the socket, when nothing is queued
//! before it; only what the socket does not take waits, in order, in a queue of at most
//! `limit` frames that the connection's own task flushes when the socket becomes writable. A
//! full queue refuses the frame ([`SendError::Full`]): the sender closes the session with 1013
//! (the client resyncs on reconnect), so memory never grows with the slowest client.
//!
//! An idle connection holds no buffer: reads wait for readiness and then read into a buffer
//! the caller lends (see `socket`). TLS connections keep rustls's state behind a lock and
//! follow the same path; rustls holds the TLS records it could not write yet.
//!
//! Closing is bounded: [`Conn::close`] queues the close frame, flushes it, half-closes, and
//! waits for the peer to finish, all within the close grace; past it the socket is reset
//! (`SO_LINGER` 0), so nothing the peer does keeps it open.

use std::collections::VecDeque;
use std::io::{self, IoSlice, Read, Write};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use futures_util::task::AtomicWaker;
use rustls::ServerConnection;
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Most queued frames handed to one `writev`.
const MAX_IOV: usize = 64;

/// Why a frame was not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// The queue is at its limit: the client does not read fast enough.
    Full,
    /// The connection is closing or gone.
    Gone,
}

/// How much one connection may hold queued while its socket does not take more.
#[derive(Debug, Clone, Copy)]
pub struct QueueLimits {
    pub frames: usize,
    pub bytes: usize,
}

/// A cloneable handle to one owned connection.
#[derive(Clone)]
pub struct Conn(Arc<Inner>);

struct Inner {
    tcp: TcpStream,
    /// rustls's state on a `wss://` connection (boxed: it is large, and plain connections
    /// should not carry its size).
    tls: Option<Box<Mutex<ServerConnection>>>,
    state: Mutex<Writes>,
    /// Wakes the connection's task when frames wait in the queue. (A waker, not a `Notify`:
    /// the task waits by polling, so an idle connection's future holds no waiter of its own.)
    queued: AtomicWaker,
    limits: QueueLimits,
    /// The client negotiated permessage-deflate.
    deflate: bool,
}

#[derive(Default)]
struct Writes {
    /// Frames (the first possibly partly written) waiting for the socket to take them.
    queue: VecDeque<Bytes>,
    /// Bytes in `queue`.
    bytes: usize,
    state: State,
}

/// Where the connection's writing stands.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Frames are taken.
    #[default]
    Open,
    /// The close frame is queued: what is queued is still written, no new frame is taken.
    Closing,
    /// The socket failed or was reset: nothing more is written.
    Dead,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("peer", &self.0.tcp.peer_addr().ok())
            .field("tls", &self.0.tls.is_some())
            .finish()
    }
}

impl Conn {
    /// Takes over `tcp` (and its TLS session, if any).
    pub fn new(
        tcp: TcpStream,
        tls: Option<ServerConnection>,
        limits: QueueLimits,
        deflate: bool,
    ) -> Self {
        Conn(Arc::new(Inner {
            tcp,
            tls: tls.map(|tls| Box::new(Mutex::new(tls))),
            state: Mutex::new(Writes::default()),
            queued: AtomicWaker::new(),
            limits,
            deflate,
        }))
    }

    /// Whether the client negotiated permessage-deflate (see `deflate`).
    pub fn deflates(&self) -> bool {
        self.0.deflate
    }

    /// Sends one encoded frame (see `wire`) without waiting: written at once when nothing is
    /// queued and the socket takes it, else queued for the connection's task.
    pub fn send(&self, frame: Bytes) -> Result<(), SendError> {
        self.push(frame, false)
    }

    fn push(&self, frame: Bytes, closing: bool) -> Result<(), SendError> {
        let inner = &*self.0;
        let mut st = lock(&inner.state);
        if st.state != State::Open {
            return Err(SendError::Gone);
        }
        if closing {
            st.state = State::Closing;
        }
        if st.queue.is_empty() && !inner.tls_backlog() {
            match inner.write(&frame) {
                // Over TLS, rustls may still hold records of it: the task writes them.
                Ok(n) if n == frame.len() && !inner.tls_backlog() => return Ok(()),
                Ok(n) if n == frame.len() => {}
                Ok(n) => st.enqueue(frame.slice(n..)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => st.enqueue(frame),
                Err(_) => {
                    st.state = State::Dead;
                    return Err(SendError::Gone);
                }
            }
            drop(st);
            inner.queued.wake();
            return Ok(());
        }
        let full =
            st.queue.len() >= inner.limits.frames || st.bytes + frame.len() > inner.limits.bytes;
        if full && !closing && !st.queue.is_empty() {
            return Err(SendError::Full);
        }
        st.enqueue(frame);
        drop(st);
        // The task is already flushing (it was woken when the queue became non-empty), but a
        // TLS backlog alone does not wake it.
        inner.queued.wake();
        Ok(())
    }

    /// Flushes the queue whenever the socket can take more. Polled beside the connection's
    /// reads in its task; ready only when the socket fails.
    pub fn poll_writes(&self, cx: &mut Context<'_>) -> Poll<io::Error> {
        let inner = &*self.0;
        loop {
            if inner.pending() {
                match inner.tcp.poll_write_ready(cx) {
                    Poll::Ready(Ok(())) => {
                        if let Err(e) = inner.flush() {
                            return Poll::Ready(e);
                        }
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(e),
                    Poll::Pending => return Poll::Pending,
                }
            } else {
                inner.queued.register(cx.waker());
                // Queued between the look and the registration: flush it now.
                if !inner.pending() {
                    return Poll::Pending;
                }
            }
        }
    }

    /// Ready when the socket has something to read (or plaintext is buffered in rustls).
    pub fn poll_readable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(tls) = &self.0.tls {
            let buffered = lock(tls).process_new_packets().map_or(true, |io| {
                io.plaintext_bytes_to_read() > 0 || io.peer_has_closed()
            });
            if buffered {
                return Poll::Ready(Ok(()));
            }
        }
        self.0.tcp.poll_read_ready(cx)
    }

    /// Reads what is there into `buf` without waiting: `Ok(0)` is the end of the stream,
    /// `WouldBlock` means nothing yet (wait with [`Conn::poll_readable`]).
    pub fn try_read(&self, buf: &mut BytesMut) -> io::Result<usize> {
        let inner = &*self.0;
        let Some(tls) = &inner.tls else {
            return inner.tcp.try_read_buf(buf);
        };
        let mut tls = lock(tls);
        loop {
            let mut chunk = [0u8; 8192];
            match tls.reader().read(&mut chunk) {
                // 0: close_notify, the peer is done.
                Ok(n) => {
                    buf.extend_from_slice(&chunk[..n]);
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e),
            }
            if tls.read_tls(&mut TcpIo(&inner.tcp))? == 0 {
                return Ok(0);
            }
            let state = tls.process_new_packets();
            if tls.wants_write() {
                // Handshake messages, alerts or key updates to answer: the task writes them.
                inner.queued.wake();
            }
            state.map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        }
    }

    /// Closes the connection: `close_frame` goes out after everything queued before it, the
    /// connection is half-closed once it is written, then the peer has until `grace` is over
    /// to finish (its bytes are read and dropped). After `grace` the socket is reset, whatever
    /// the peer does. Either way no more frames are taken from the moment this is called.
    pub async fn close(&self, close_frame: Option<Bytes>, grace: Duration) {
        let deadline = Instant::now() + grace;
        match close_frame {
            Some(frame) => {
                let _ = self.push(frame, true);
            }
            None => {
                let mut st = lock(&self.0.state);
                if st.state == State::Open {
                    st.state = State::Closing;
                }
            }
        }
        let finished = tokio::time::timeout_at(deadline, self.finish()).await;
        if !matches!(finished, Ok(Ok(()))) {
            self.reset();
        }
    }

    /// Flushes, half-closes, and reads until the peer's end of stream.
    async fn finish(&self) -> io::Result<()> {
        let inner = &*self.0;
        while inner.pending() {
            inner.tcp.writable().await?;
            inner.flush()?;
        }
        if let Some(tls) = &inner.tls {
            lock(&**tls).send_close_notify();
            while inner.pending() {
                inner.tcp.writable().await?;
                inner.flush()?;
            }
        }
        socket2::SockRef::from(&inner.tcp).shutdown(std::net::Shutdown::Write)?;
        let mut sink = BytesMut::new();
        loop {
            inner.tcp.readable().await?;
            sink.clear();
            match inner.tcp.try_read_buf(&mut sink) {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Drops the connection now: the kernel discards what is unsent and answers with a reset,
    /// so a peer that reads nothing cannot hold the socket or its buffers.
    pub fn reset(&self) {
        let inner = &*self.0;
        let mut st = lock(&inner.state);
        st.state = State::Dead;
        st.clear();
        drop(st);
        let sock = socket2::SockRef::from(&inner.tcp);
        let _ = sock.set_linger(Some(Duration::ZERO));
        let _ = sock.shutdown(std::net::Shutdown::Both);
    }
}

impl Writes {
    fn enqueue(&mut self, frame: Bytes) {
        self.bytes += frame.len();
        self.queue.push_back(frame);
    }

    fn dequeue(&mut self) -> Option<Bytes> {
        let frame = self.queue.pop_front()?;
        self.bytes -= frame.len();
        Some(frame)
    }

    fn clear(&mut self) {
        self.queue.clear();
        self.bytes = 0;
    }
}

impl Inner {
    /// Whether anything waits to be written (queued frames, or TLS records rustls holds).
    fn pending(&self) -> bool {
        let st = lock(&self.state);
        st.state != State::Dead && (!st.queue.is_empty() || self.tls_backlog())
    }

    fn tls_backlog(&self) -> bool {
        self.tls.as_ref().is_some_and(|tls| lock(tls).wants_write())
    }

    /// Writes as much of the queue as the socket takes now.
    fn flush(&self) -> io::Result<()> {
        let mut st = lock(&self.state);
        if st.state == State::Dead {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        let result = self.flush_locked(&mut st);
        if let Err(e) = &result {
            if e.kind() != io::ErrorKind::WouldBlock {
                st.state = State::Dead;
                st.clear();
                return result;
            }
        }
        Ok(())
    }

    fn flush_locked(&self, st: &mut Writes) -> io::Result<()> {
        if let Some(tls) = &self.tls {
            let mut tls = lock(tls);
            while let Some(front) = st.queue.front_mut() {
                let n = tls_write(&mut tls, &self.tcp, front)?;
                if n == front.len() {
                    st.dequeue();
                } else {
                    front.advance(n);
                    st.bytes -= n;
                    if n == 0 {
                        return Ok(()); // the socket is full; rustls holds what it took
                    }
                }
            }
            return tls_write(&mut tls, &self.tcp, &[]).map(|_| ());
        }
        while !st.queue.is_empty() {
            let mut slices = [IoSlice::new(&[]); MAX_IOV];
            let mut count = 0;
            for (slot, frame) in slices.iter_mut().zip(&st.queue) {
                *slot = IoSlice::new(frame);
                count += 1;
            }
            let mut n = self.tcp.try_write_vectored(&slices[..count])?;
            while n > 0 {
                let Some(front) = st.queue.front_mut() else {
                    break;
                };
                if n >= front.len() {
                    n -= front.len();
                    st.dequeue();
                } else {
                    front.advance(n);
                    st.bytes -= n;
                    n = 0;
                }
            }
        }
        Ok(())
    }

    /// Writes `frame` now, as far as the socket takes it. Over TLS, rustls may keep records
    /// of what it took that the socket did not (`tls_backlog`).
    fn write(&self, frame: &[u8]) -> io::Result<usize> {
        match &self.tls {
            None => self.tcp.try_write(frame),
            Some(tls) => tls_write(&mut lock(tls), &self.tcp, frame),
        }
    }
}

/// Hands `data` to rustls as far as its send buffer takes it, and writes rustls's records to
/// the socket as far as the socket takes them; the plaintext bytes taken. `Ok(0)` with records
/// left: the socket is full (the caller waits for it to be writable).
fn tls_write(tls: &mut ServerConnection, tcp: &TcpStream, data: &[u8]) -> io::Result<usize> {
    let mut taken = 0;
    loop {
        while tls.wants_write() {
            match tls.write_tls(&mut TcpIo(tcp)) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(taken),
                Err(e) => return Err(e),
            }
        }
        if taken == data.len() {
            return Ok(taken);
        }
        match tls.writer().write(&data[taken..])? {
            0 => return Ok(taken),
            n => taken += n,
        }
    }
}

/// A lock whose holder cannot leave its data half-changed: every critical section here is a
/// few field updates and non-blocking syscalls, so a poisoned lock still holds consistent data.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The socket as `Read`/`Write` for rustls: non-blocking, `WouldBlock` when not ready.
struct TcpIo<'a>(&'a TcpStream);

impl Read for TcpIo<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.try_read(buf)
    }
}

impl Write for TcpIo<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.try_write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
