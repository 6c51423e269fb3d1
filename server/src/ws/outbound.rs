//! The outbound side of a *mounted* `/ws` socket (an embedder's actix-web server owns the
//! connection; see `socket`): what the document actor queues for a connection goes straight into
//! the HTTP response body, which the connection's dispatcher writes.
//!
//! ```text
//!  actor ──Bytes──► outbound queue (bounded) ──► Outbound body ──► dispatcher ──► socket
//!  session ──pong / ping / close──► actix-ws body ──┘
//! ```
//!
//! A broadcast frame costs one wake-up of the connection's dispatcher, not a hop through the
//! session task first; the session task only reads. Frames queued while the dispatcher was busy
//! are framed together and leave in one write. A full queue still means the client cannot keep
//! up (the actor closes it with 1013), since the dispatcher polls the body only while the
//! socket takes what it writes.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use actix_http::ws::{Codec, Message};
use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::HttpResponse;
use bytes::{Bytes, BytesMut};
use tokio::sync::mpsc;
use tokio::time::Sleep;
use tokio_util::codec::Encoder;

/// Most bytes framed into one chunk before it is handed to the dispatcher.
const MAX_CHUNK: usize = 64 * 1024;

/// The response body of an upgraded `/ws` connection: the actor's frames (binary messages)
/// merged with the session's control frames from actix-ws.
struct Outbound {
    /// The document's frames; `None` once the actor dropped the queue (the session then
    /// closes the connection through `control`).
    data: Option<mpsc::Receiver<Bytes>>,
    /// actix-ws's own body: what the session sends with `actix_ws::Session` (pongs, pings,
    /// permission-denied, the close frame). It ends after the close frame.
    control: BoxBody,
    codec: Codec,
    control_done: bool,
    grace: Grace,
    /// Runs once the session decided to close: when it fires the body fails, and the
    /// dispatcher drops the connection.
    expiry: Option<Pin<Box<Sleep>>>,
}

/// The close grace of a mounted socket, shared by its session (which starts it) and its
/// response body (which ends the connection when it is over). Both live on one worker thread.
#[derive(Clone)]
pub struct Grace(Rc<RefCell<GraceState>>);

struct GraceState {
    grace: Duration,
    started: bool,
    body: Option<Waker>,
    /// The response body (so the dispatcher, and the socket) still exists.
    alive: bool,
    /// The socket, when the embedder's server records it (see [`on_connect`]).
    socket: Option<SocketHandle>,
}

/// A second handle on a connection's socket (a duplicated descriptor), recorded by
/// [`on_connect`]; dropped with the connection.
#[derive(Debug, Clone)]
pub struct SocketHandle(Rc<socket2::Socket>);

/// For an embedder's `HttpServer::on_connect`: records each connection's socket so that a
/// mounted WebSocket the server closes is gone at the TCP level within the close grace, even
/// when the client stops reading (without it, only clients that read are bounded). It costs
/// one more descriptor per connection.
///
/// ```no_run
/// # use actix_web::{App, HttpServer};
/// HttpServer::new(|| App::new())
///     .on_connect(weft::ws::on_connect)
/// # ;
/// ```
pub fn on_connect(conn: &dyn std::any::Any, data: &mut actix_web::dev::Extensions) {
    if let Some(tcp) = conn.downcast_ref::<actix_web::rt::net::TcpStream>() {
        if let Ok(dup) = socket2::SockRef::from(tcp).try_clone() {
            data.insert(SocketHandle(Rc::new(dup)));
        }
    }
}

impl Grace {
    pub fn new(grace: Duration, socket: Option<SocketHandle>) -> Self {
        Grace(Rc::new(RefCell::new(GraceState {
            grace,
            started: false,
            body: None,
            alive: true,
            socket,
        })))
    }

    /// The session is closing: the connection has `grace` left. Returns once it is over; the
    /// socket is then reset if the dispatcher still holds it (a client that does not read
    /// keeps the dispatcher from ever polling the body again).
    pub async fn run_out(&self) {
        let grace = {
            let mut st = self.0.borrow_mut();
            st.started = true;
            if let Some(waker) = st.body.take() {
                waker.wake();
            }
            st.grace
        };
        tokio::time::sleep(grace).await;
        let st = self.0.borrow();
        // The body lives in the dispatcher, which owns the socket: while it is alive, the
        // connection is still open.
        if let (true, Some(socket)) = (st.alive, &st.socket) {
            let _ = socket.0.set_linger(Some(Duration::ZERO));
            let _ = socket.0.shutdown(std::net::Shutdown::Both);
        }
    }
}

impl Drop for Outbound {
    fn drop(&mut self) {
        self.grace.0.borrow_mut().alive = false;
    }
}

/// Replaces the body of actix-ws's upgrade response with one that also carries the frames
/// `queue` receives. The actix-ws body stays inside it, so `actix_ws::Session` keeps working
/// and the connection ends when the session's close frame is written.
pub fn attach(response: HttpResponse, queue: mpsc::Receiver<Bytes>, grace: Grace) -> HttpResponse {
    response
        .map_body(|_, control| Outbound {
            data: Some(queue),
            control,
            codec: Codec::new(),
            control_done: false,
            grace,
            expiry: None,
        })
        .map_into_boxed_body()
}

impl MessageBody for Outbound {
    type Error = Box<dyn std::error::Error>;

    fn size(&self) -> BodySize {
        BodySize::Stream
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let this = self.get_mut();
        if this.expiry.is_none() {
            let mut grace = this.grace.0.borrow_mut();
            if grace.started {
                this.expiry = Some(Box::pin(tokio::time::sleep(grace.grace)));
            } else {
                grace.body = Some(cx.waker().clone());
            }
        }
        if let Some(expiry) = this.expiry.as_mut() {
            if expiry.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Some(
                    Err("close grace over; dropping the connection".into()),
                ));
            }
        }
        if this.control_done {
            // After the close frame, the body stays open until the client ends the connection
            // or the grace is over, so the dispatcher cannot linger with the socket unbounded.
            return if this.expiry.is_some() {
                Poll::Pending
            } else {
                Poll::Ready(None)
            };
        }
        let mut buf = BytesMut::new();
        // The document's frames first: anything queued before the session's close frame goes
        // out before it.
        if let Some(data) = this.data.as_mut() {
            while buf.len() < MAX_CHUNK {
                match data.poll_recv(cx) {
                    Poll::Ready(Some(frame)) => {
                        this.codec.encode(Message::Binary(frame), &mut buf)?;
                    }
                    Poll::Ready(None) => {
                        this.data = None;
                        break;
                    }
                    Poll::Pending => break,
                }
            }
        }
        match Pin::new(&mut this.control).poll_next(cx) {
            Poll::Ready(Some(Ok(bytes))) => buf.extend_from_slice(&bytes),
            Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
            Poll::Ready(None) => this.control_done = true,
            Poll::Pending => {}
        }
        if !buf.is_empty() {
            Poll::Ready(Some(Ok(buf.freeze())))
        } else if this.control_done && this.expiry.is_none() {
            Poll::Ready(None)
        } else {
            Poll::Pending
        }
    }
}
