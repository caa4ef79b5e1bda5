//! Sockets for goroutines: [`TcpListener`], [`TcpStream`] and [`UdpSocket`], with
//! Go's deadlines.
//!
//! Models Go's `net` package over `internal/poll` (`fd_unix.go`, `fd_poll_runtime.go`):
//! every socket is non-blocking; a call that would block parks the goroutine on
//! the socket's poll descriptor (`netpoll/desc.rs`, wait reason `IO wait`) and the
//! scheduler's network poller readies it when epoll reports the socket ready. So
//! code reads like blocking code — one goroutine per connection — while
//! thousands of connections share a few threads.
//!
//! # A read
//!
//! 1. Take the socket's read lock (Go's `fdMutex`): one reader at a time, so two
//!    goroutines reading one socket queue up instead of both waiting in epoll.
//! 2. `prepare`: an expired deadline or a closing socket fails now.
//! 3. Call `read(2)`. Data, EOF or an error: done. `WouldBlock`: wait on the
//!    descriptor (park; woken by readiness, the deadline timer or a close) and
//!    try again.
//!
//! Writes are the same on the write side. A deadline that passes returns an
//! error of kind `TimedOut` ("i/o timeout"); the socket stays usable, and moving
//! the deadline (or clearing it with `None`) makes the next call wait again.
//!
//! # Outside a goroutine
//!
//! On a plain thread (no runtime) the same types work: a would-block call waits in
//! `poll(2)` on the one socket, honouring the deadline. A socket belongs to the
//! runtime whose goroutine first waits on it; using it from a goroutine of
//! another runtime is an error.

mod tcp;
mod udp;

pub use tcp::{Incoming, TcpListener, TcpStream};
pub use udp::UdpSocket;

use crate::netpoll::desc::{Mode, PollDesc, PollErr};
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::{AsRawFd, RawFd};
use std::time::Instant;

/// A non-blocking socket and its poll descriptor (Go's `netFD` + `poll.FD`).
pub(crate) struct NetFd<S: AsRawFd> {
    sock: S,
    pd: &'static PollDesc,
    rlock: crate::sync::Mutex<()>,
    wlock: crate::sync::Mutex<()>,
}

impl<S: AsRawFd> NetFd<S> {
    /// Wraps a socket already in non-blocking mode.
    pub(crate) fn new(sock: S) -> NetFd<S> {
        NetFd {
            sock,
            pd: PollDesc::alloc(),
            rlock: crate::sync::Mutex::new(()),
            wlock: crate::sync::Mutex::new(()),
        }
    }

    pub(crate) fn sock(&self) -> &S {
        &self.sock
    }

    fn fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }

    /// Runs `f` until it does not return `WouldBlock`, parking between tries
    /// (`fd.Read`'s loop around `pd.waitRead`).
    pub(crate) fn io<T>(
        &self,
        mode: Mode,
        mut f: impl FnMut(&S) -> io::Result<T>,
    ) -> io::Result<T> {
        let _g = match mode {
            Mode::Read => self.rlock.lock(),
            Mode::Write => self.wlock.lock(),
        };
        self.pd.prepare_io(mode).map_err(PollErr::into_io)?;
        loop {
            match f(&self.sock) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.pd.wait(self.fd(), mode)?;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                r => return r,
            }
        }
    }

    /// Waits once for `mode` readiness (a connect in progress).
    pub(crate) fn wait(&self, mode: Mode) -> io::Result<()> {
        self.pd.wait(self.fd(), mode)
    }

    pub(crate) fn set_deadline(&self, mode: Mode, at: Option<Instant>) {
        self.pd.set_deadline(mode, at);
    }
}

impl<S: AsRawFd> Drop for NetFd<S> {
    fn drop(&mut self) {
        // Deregister and recycle the descriptor before the socket's fd closes
        // (the field drops after this), so the fd number cannot be reused while
        // still registered.
        self.pd.close();
    }
}

/// Resolves `addr`, in a system call section when on a goroutine (a name lookup
/// may block on DNS). Errors like std's when nothing resolves.
pub(crate) fn resolve(addr: impl ToSocketAddrs) -> io::Result<Vec<SocketAddr>> {
    let addrs: Vec<SocketAddr> = crate::syscall::blocking(|| addr.to_socket_addrs())?.collect();
    if addrs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "could not resolve to any addresses",
        ));
    }
    Ok(addrs)
}

/// Tries `f` on each address in turn; the last error if none works.
pub(crate) fn each_addr<T>(
    addr: impl ToSocketAddrs,
    mut f: impl FnMut(SocketAddr) -> io::Result<T>,
) -> io::Result<T> {
    let mut last = None;
    for a in resolve(addr)? {
        match f(a) {
            Ok(t) => return Ok(t),
            Err(e) => last = Some(e),
        }
    }
    Err(last.expect("resolve returns at least one address"))
}
