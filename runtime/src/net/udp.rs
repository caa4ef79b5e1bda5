//! UDP sockets (Go's `net.UDPConn`).

use super::{each_addr, resolve, NetFd};
use crate::netpoll::desc::Mode;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::{AsRawFd, RawFd};
use std::time::Instant;

/// A UDP socket (Go's `net.UDPConn`). Receives park the goroutine until a
/// datagram arrives or the read deadline passes.
///
/// # Example
///
/// ```
/// use gort_runtime::net::UdpSocket;
/// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
/// unsafe { gort_runtime::run(|| {
///     let a = UdpSocket::bind("127.0.0.1:0").unwrap();
///     let b = UdpSocket::bind("127.0.0.1:0").unwrap();
///     b.send_to(b"ping", a.local_addr().unwrap()).unwrap();
///     let mut buf = [0; 16];
///     let (n, from) = a.recv_from(&mut buf).unwrap();
///     assert_eq!(&buf[..n], b"ping");
///     assert_eq!(from, b.local_addr().unwrap());
/// }) };
/// ```
pub struct UdpSocket {
    fd: NetFd<mio::net::UdpSocket>,
}

impl UdpSocket {
    /// Binds to `addr` (`net.ListenUDP`); port 0 picks a free port.
    ///
    /// # Example
    ///
    /// ```
    /// let s = gort_runtime::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// assert_ne!(s.local_addr().unwrap().port(), 0);
    /// ```
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<UdpSocket> {
        each_addr(addr, |a| {
            Ok(UdpSocket {
                fd: NetFd::new(mio::net::UdpSocket::bind(a)?),
            })
        })
    }

    /// Takes a std socket (blocking or not) for use from goroutines.
    ///
    /// # Example
    ///
    /// ```
    /// let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// let s = gort_runtime::net::UdpSocket::from_std(s).unwrap();
    /// assert!(s.local_addr().is_ok());
    /// ```
    pub fn from_std(s: std::net::UdpSocket) -> io::Result<UdpSocket> {
        s.set_nonblocking(true)?;
        Ok(UdpSocket {
            fd: NetFd::new(mio::net::UdpSocket::from_std(s)),
        })
    }

    /// Sends one datagram to `addr`; returns the bytes sent.
    ///
    /// # Example
    ///
    /// ```
    /// use gort_runtime::net::UdpSocket;
    /// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    /// unsafe { gort_runtime::run(|| {
    ///     let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    ///     let n = a.send_to(b"x", a.local_addr().unwrap()).unwrap();
    ///     assert_eq!(n, 1);
    /// }) };
    /// ```
    pub fn send_to(&self, buf: &[u8], addr: impl ToSocketAddrs) -> io::Result<usize> {
        let to = resolve(addr)?[0];
        self.fd.io(Mode::Write, |s| s.send_to(buf, to))
    }

    /// Waits for one datagram; returns its length and sender. A datagram longer
    /// than `buf` is truncated.
    ///
    /// # Example
    ///
    /// ```
    /// use gort_runtime::net::UdpSocket;
    /// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    /// unsafe { gort_runtime::run(|| {
    ///     let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    ///     a.send_to(b"hey", a.local_addr().unwrap()).unwrap();
    ///     let mut buf = [0; 8];
    ///     assert_eq!(a.recv_from(&mut buf).unwrap().0, 3);
    /// }) };
    /// ```
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.fd.io(Mode::Read, |s| s.recv_from(buf))
    }

    /// Like [`recv_from`](Self::recv_from) without consuming the datagram.
    ///
    /// # Example
    ///
    /// ```
    /// use gort_runtime::net::UdpSocket;
    /// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    /// unsafe { gort_runtime::run(|| {
    ///     let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    ///     a.send_to(b"hey", a.local_addr().unwrap()).unwrap();
    ///     let mut buf = [0; 8];
    ///     assert_eq!(a.peek_from(&mut buf).unwrap().0, 3);
    ///     assert_eq!(a.recv_from(&mut buf).unwrap().0, 3);
    /// }) };
    /// ```
    pub fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.fd.io(Mode::Read, |s| s.peek_from(buf))
    }

    /// Sets the default peer: [`send`](Self::send) goes there and
    /// [`recv`](Self::recv) takes datagrams only from it (`net.DialUDP`).
    ///
    /// # Example
    ///
    /// ```
    /// use gort_runtime::net::UdpSocket;
    /// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    /// unsafe { gort_runtime::run(|| {
    ///     let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    ///     let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    ///     b.connect(a.local_addr().unwrap()).unwrap();
    ///     b.send(b"hi").unwrap();
    ///     let mut buf = [0; 4];
    ///     assert_eq!(a.recv_from(&mut buf).unwrap().0, 2);
    /// }) };
    /// ```
    pub fn connect(&self, addr: impl ToSocketAddrs) -> io::Result<()> {
        each_addr(addr, |a| self.fd.sock().connect(a))
    }

    /// Sends one datagram to the connected peer.
    ///
    /// # Example
    ///
    /// ```
    /// use gort_runtime::net::UdpSocket;
    /// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    /// unsafe { gort_runtime::run(|| {
    ///     let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    ///     a.connect(a.local_addr().unwrap()).unwrap();
    ///     assert_eq!(a.send(b"me").unwrap(), 2);
    /// }) };
    /// ```
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.fd.io(Mode::Write, |s| s.send(buf))
    }

    /// Waits for one datagram from the connected peer.
    ///
    /// # Example
    ///
    /// ```
    /// use gort_runtime::net::UdpSocket;
    /// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    /// unsafe { gort_runtime::run(|| {
    ///     let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    ///     a.connect(a.local_addr().unwrap()).unwrap();
    ///     a.send(b"me").unwrap();
    ///     let mut buf = [0; 4];
    ///     assert_eq!(a.recv(&mut buf).unwrap(), 2);
    /// }) };
    /// ```
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.fd.io(Mode::Read, |s| s.recv(buf))
    }

    /// The address the socket is bound to.
    ///
    /// # Example
    ///
    /// ```
    /// let s = gort_runtime::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// assert!(s.local_addr().unwrap().ip().is_loopback());
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.fd.sock().local_addr()
    }

    /// The connected peer's address.
    ///
    /// # Example
    ///
    /// ```
    /// let s = gort_runtime::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// assert!(s.peer_addr().is_err()); // not connected
    /// ```
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.fd.sock().peer_addr()
    }

    /// Receives after `at` fail with `TimedOut` (Go's `SetReadDeadline`).
    ///
    /// # Example
    ///
    /// ```
    /// use gort_runtime::net::UdpSocket;
    /// use std::time::{Duration, Instant};
    /// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    /// unsafe { gort_runtime::run(|| {
    ///     let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    ///     a.set_read_deadline(Some(Instant::now() + Duration::from_millis(5)));
    ///     let e = a.recv_from(&mut [0; 4]).unwrap_err();
    ///     assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
    /// }) };
    /// ```
    pub fn set_read_deadline(&self, at: Option<Instant>) {
        self.fd.set_deadline(Mode::Read, at);
    }

    /// Sends after `at` fail with `TimedOut` (Go's `SetWriteDeadline`).
    ///
    /// # Example
    ///
    /// ```
    /// use gort_runtime::net::UdpSocket;
    /// use std::time::Instant;
    /// let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    /// a.set_write_deadline(Some(Instant::now()));
    /// assert!(a.send_to(b"x", a.local_addr().unwrap()).is_err());
    /// ```
    pub fn set_write_deadline(&self, at: Option<Instant>) {
        self.fd.set_deadline(Mode::Write, at);
    }

    /// Both deadlines at once (Go's `SetDeadline`).
    ///
    /// # Example
    ///
    /// ```
    /// let a = gort_runtime::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// a.set_deadline(None);
    /// ```
    pub fn set_deadline(&self, at: Option<Instant>) {
        self.set_read_deadline(at);
        self.set_write_deadline(at);
    }
}

impl AsRawFd for UdpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.sock().as_raw_fd()
    }
}

impl std::fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UdpSocket")
            .field("addr", &self.local_addr().ok())
            .field("fd", &self.as_raw_fd())
            .finish()
    }
}
