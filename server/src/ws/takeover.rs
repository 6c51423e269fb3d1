//! The HTTP server `weft serve` runs: actix-web for every request, and for a WebSocket upgrade,
//! the socket handed over to Weft once the 101 is written.
//!
//! ```text
//!  TcpStream ──(TLS handshake)──► actix-http HTTP/1 dispatcher ──► App (routes, API, web client)
//!                                      │ Connection: upgrade
//!                                      ▼
//!                 handle(): the same App answers the request (name check, origin, tokens,
//!                 limits; every refusal an ordinary response), marked `Ownable`
//!                   ├─ 101 with a `Takeover` ──► write the head, take the socket (and its
//!                   │                           TLS state) out of the dispatcher ──► session
//!                   └─ anything else ──► written as is, then the connection closes
//! ```
//!
//! Once taken over, a connection is no longer the dispatcher's: no 8 KiB read and write
//! buffers per socket, no task between the document actor and the socket (see `conn`), and
//! closing it is Weft's decision alone. actix-web's own `HttpServer` has no hook for this,
//! so this module assembles the same parts (actix-server, actix-http's HTTP/1 service with
//! its upgrade handler, the App) itself. Embedders that mount Weft in their own `HttpServer`
//! keep actix-ws's path (see `socket`).

use std::future::poll_fn;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::pin::pin;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use actix_codec::Framed;
use actix_http::body::{BodySize, BoxBody, MessageBody};
use actix_http::error::DispatchError;
use actix_http::h1::{self, Message};
use actix_http::{HttpMessage, HttpService, Request, Response, StatusCode};
use actix_service::boxed::{BoxService, BoxServiceFactory};
use actix_service::{
    fn_factory, fn_service, map_config, IntoServiceFactory, Service, ServiceFactory,
    ServiceFactoryExt,
};
use actix_web::dev::{AppConfig, ServiceRequest, ServiceResponse};
use actix_web::App;
use bytes::BytesMut;
use futures_util::SinkExt;
use rustls::ServerConfig;
use tokio::net::TcpStream;
use tracing::debug;

/// The application as this server runs it: one instance per worker for requests, one for
/// upgrade requests.
pub type AppFactory = BoxServiceFactory<(), Request, ServiceResponse, actix_web::Error, ()>;
type AppService = BoxService<Request, ServiceResponse, actix_web::Error>;

/// Boxes an actix-web `App` for [`serve`].
pub fn app<T>(app: App<T>) -> AppFactory
where
    T: ServiceFactory<
            ServiceRequest,
            Config = (),
            Response = ServiceResponse<BoxBody>,
            Error = actix_web::Error,
            InitError = (),
        > + 'static,
    T::Future: 'static,
{
    actix_service::boxed::factory(map_config(app.into_factory(), |_| AppConfig::default()))
}

/// In an upgrade request's extensions: the route may take the connection over by answering
/// 101 with a [`Takeover`].
#[derive(Debug, Clone, Copy)]
pub struct Ownable;

/// In a 101 response's extensions: what runs on the connection once it is Weft's (the socket,
/// its TLS state, and the bytes the client sent after its request head).
pub struct Takeover(Box<dyn FnOnce(TcpStream, Option<rustls::ServerConnection>, BytesMut)>);

impl Takeover {
    pub fn new(
        start: impl FnOnce(TcpStream, Option<rustls::ServerConnection>, BytesMut) + 'static,
    ) -> Self {
        Takeover(Box::new(start))
    }
}

/// How the server runs (from the configuration).
#[derive(Debug, Clone)]
pub struct ServerOptions {
    pub workers: Option<usize>,
    pub blocking_threads: usize,
    /// Time a connection has for its TLS handshake and its request head.
    pub handshake_timeout: Duration,
    pub shutdown_timeout: u64,
}

/// Serves `app` on `listener` (over TLS with `tls`), with WebSocket upgrades taken over.
pub fn serve(
    app: impl Fn() -> AppFactory + Send + Clone + 'static,
    listener: TcpListener,
    tls: Option<ServerConfig>,
    opts: &ServerOptions,
) -> io::Result<actix_server::Server> {
    let mut builder = actix_server::Server::build()
        .disable_signals()
        .shutdown_timeout(opts.shutdown_timeout)
        .worker_max_blocking_threads(opts.blocking_threads);
    if let Some(workers) = opts.workers {
        builder = builder.workers(workers);
    }
    let handshake = opts.handshake_timeout;
    // Lets idle keep-alive HTTP connections go at once on a graceful stop (as actix-web's
    // `HttpServer` does), instead of holding the stop for its whole timeout.
    let stopping = builder.graceful_shutdown_signal();
    let builder = match tls {
        None => builder.listen("weft", listener, move || {
            let accept = fn_service(|tcp: TcpStream| async move {
                let peer = prepare(&tcp);
                Ok::<_, DispatchError>((tcp, peer))
            });
            accept.and_then(http1::<TcpStream>(&app, handshake, stopping.clone()))
        })?,
        Some(config) => {
            let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
            let stopping = stopping.clone();
            builder.listen("weft-tls", listener, move || {
                let acceptor = acceptor.clone();
                let accept = fn_service(move |tcp: TcpStream| {
                    let acceptor = acceptor.clone();
                    async move {
                        let peer = prepare(&tcp);
                        let tls = tokio::time::timeout(handshake, acceptor.accept(tcp))
                            .await
                            .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??;
                        Ok::<_, DispatchError>((tls, peer))
                    }
                });
                accept.and_then(http1::<tokio_rustls::server::TlsStream<TcpStream>>(
                    &app,
                    handshake,
                    stopping.clone(),
                ))
            })?
        }
    };
    Ok(builder.run())
}

/// Every frame is a small message someone is waiting for: send it now. With Nagle's
/// algorithm on, a frame written while an earlier one is unacknowledged waits for the peer's
/// delayed ACK (40 ms on Linux).
fn prepare(tcp: &TcpStream) -> Option<SocketAddr> {
    let _ = tcp.set_nodelay(true);
    tcp.peer_addr().ok()
}

fn http1<T: Owned>(
    app: &(impl Fn() -> AppFactory + Clone + 'static),
    handshake: Duration,
    stopping: actix_server::GracefulShutdownSignal,
) -> impl ServiceFactory<
    (T, Option<SocketAddr>),
    Config = (),
    Response = (),
    Error = DispatchError,
    InitError = (),
> {
    let upgrade_app = app.clone();
    HttpService::build()
        // The request head must arrive in time, so idle sockets cannot pile up before the
        // access checks have even seen them.
        .client_request_timeout(handshake)
        .graceful_shutdown_signal(move || {
            let stopping = stopping.clone();
            async move { stopping.notified().await }
        })
        .upgrade(fn_factory(move || {
            let service = upgrade_app().new_service(());
            async move {
                let service: Rc<AppService> = Rc::new(service.await?);
                Ok::<_, ()>(fn_service(
                    move |(req, framed): (Request, Framed<T, h1::Codec>)| {
                        handle(service.clone(), req, framed)
                    },
                ))
            }
        }))
        .h1(app())
}

/// One upgrade request: answered by the App, then taken over or written and closed.
async fn handle<T: Owned>(
    app: Rc<AppService>,
    req: Request,
    mut framed: Framed<T, h1::Codec>,
) -> Result<(), actix_web::Error> {
    req.extensions_mut().insert(Ownable);
    let res: Response<BoxBody> = match app.call(req).await {
        Ok(res) => res.into(),
        Err(e) => e.error_response().into(),
    };
    let (mut head, body) = res.into_parts();
    let takeover = head.extensions_mut().remove::<Takeover>();
    match takeover {
        Some(Takeover(start)) if head.status() == StatusCode::SWITCHING_PROTOCOLS => {
            framed.send(Message::Item((head, BodySize::None))).await?;
            let parts = framed.into_parts();
            let (tcp, tls) = parts.io.into_owned();
            start(tcp, tls, parts.read_buf);
        }
        _ => {
            // A refusal (or any other answer to an upgrade request): written as is; the
            // connection then closes.
            let size = body.size();
            framed.send(Message::Item((head, size))).await?;
            let mut body = pin!(body);
            while let Some(chunk) = poll_fn(|cx| body.as_mut().poll_next(cx)).await {
                let chunk = chunk.map_err(|e| {
                    debug!(error = %e, "response body failed");
                    io::Error::other("response body failed")
                })?;
                framed.send(Message::Chunk(Some(chunk))).await?;
            }
            framed.send(Message::Chunk(None)).await?;
        }
    }
    Ok(())
}

/// A connection's I/O that can leave the HTTP dispatcher: the socket, and its TLS state.
pub trait Owned: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + 'static {
    fn into_owned(self) -> (TcpStream, Option<rustls::ServerConnection>);
}

impl Owned for TcpStream {
    fn into_owned(self) -> (TcpStream, Option<rustls::ServerConnection>) {
        (self, None)
    }
}

impl Owned for tokio_rustls::server::TlsStream<TcpStream> {
    fn into_owned(self) -> (TcpStream, Option<rustls::ServerConnection>) {
        let (tcp, tls) = self.into_inner();
        (tcp, Some(tls))
    }
}
