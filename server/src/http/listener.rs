//! The listening socket, made here rather than with `std::net::TcpListener::bind`, whose
//! accept backlog is 128: when 200 clients connect at once (a class starting, a reconnect after
//! a deploy), the kernel drops the SYNs past the backlog and those clients retry only after
//! the 1 s SYN timeout. With a deeper backlog they wait for `accept` instead.

use std::io;
use std::net::{SocketAddr, TcpListener};

use socket2::{Domain, Protocol, Socket, Type};

/// Connections the kernel queues before `accept` (capped by `net.core.somaxconn`).
pub const BACKLOG: i32 = 4096;

/// Binds `addr` for serving: address reuse (a restart need not wait out TIME_WAIT) and a
/// backlog of [`BACKLOG`].
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}
