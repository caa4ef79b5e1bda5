//! TCP: listeners and streams (Go's `net.TCPListener`, `net.TCPConn`).

use super::{each_addr, NetFd};
use crate::netpoll::desc::Mode;
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

/// A TCP socket listening for connections (Go's `net.TCPListener`).
///
/// `accept` parks the calling goroutine until a connection arrives; the thread
/// runs other goroutines meanwhile.
///
/// # Example
///
/// ```
/// use gort_runtime::net::{TcpListener, TcpStream};
/// use std::io::{Read, Write};
///
/// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
/// unsafe { gort_runtime::run(|| {
///     let ln = TcpListener::bind("127.0.0.1:0").unwrap();
///     let addr = ln.local_addr().unwrap();
///     gort_runtime::go(move || {
///         let (mut c, _) = ln.accept().unwrap();
///         c.write_all(b"hello").unwrap();
///     });
///     let mut s = TcpStream::connect(addr).unwrap();
///     let mut buf = String::new();
///     s.read_to_string(&mut buf).unwrap();
///     assert_eq!(buf, "hello");
/// }) };
/// ```
pub struct TcpListener {
    fd: NetFd<mio::net::TcpListener>,
}

/// The listen backlog: the system's maximum, as Go uses (`maxListenerBacklog`).
fn listen_backlog() -> i32 {
    std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok())
        .filter(|&n| n > 0)
        .unwrap_or(4096)
        .min(65535)
}

impl TcpListener {
    /// Binds to `addr` and listens (`net.Listen("tcp", addr)`). Port 0 picks a
    /// free port; [`local_addr`](Self::local_addr) tells which.
    ///
    /// # Example
    ///
    /// ```
    /// let ln = gort_runtime::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// assert_ne!(ln.local_addr().unwrap().port(), 0);
    /// ```
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        each_addr(addr, |a| {
            let l = mio::net::TcpListener::bind(a)?;
            // mio listens with a backlog of 1024; Linux lets a second listen()
            // raise it to the system's maximum, as Go's listeners use.
            // SAFETY: a valid listening socket we own.
            if unsafe { libc::listen(l.as_raw_fd(), listen_backlog()) } != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(TcpListener { fd: NetFd::new(l) })
        })
    }

    /// Takes a std listener (made blocking or not) for use from goroutines.
    ///
    /// # Example
    ///
    /// ```
    /// let std_ln = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let ln = gort_runtime::net::TcpListener::from_std(std_ln).unwrap();
    /// assert!(ln.local_addr().is_ok());
    /// ```
    pub fn from_std(l: std::net::TcpListener) -> io::Result<TcpListener> {
        l.set_nonblocking(true)?;
        Ok(TcpListener {
            fd: NetFd::new(mio::net::TcpListener::from_std(l)),
        })
    }

    /// Waits for the next connection (`Accept`). The new stream is non-blocking
    /// and close-on-exec.
    ///
    /// # Example
    ///
    /// ```
    /// use gort_runtime::net::{TcpListener, TcpStream};
    /// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    /// unsafe { gort_runtime::run(|| {
    ///     let ln = TcpListener::bind("127.0.0.1:0").unwrap();
    ///     let c = TcpStream::connect(ln.local_addr().unwrap()).unwrap();
    ///     let (s, peer) = ln.accept().unwrap();
    ///     assert_eq!(peer, c.local_addr().unwrap());
    ///     assert_eq!(s.peer_addr().unwrap(), peer);
    /// }) };
    /// ```
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        // A connection the peer aborted before we took it is skipped, as Go's
        // accept does (ECONNABORTED).
        let (s, a) = loop {
            match self.fd.io(Mode::Read, |l| l.accept()) {
                Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => continue,
                r => break r?,
            }
        };
        // Go's `newTCPConn` turns Nagle's algorithm off, ignoring a failure.
        let _ = s.set_nodelay(true);
        Ok((TcpStream { fd: NetFd::new(s) }, a))
    }

    /// An endless iterator of [`accept`](Self::accept) results.
    ///
    /// # Example
    ///
    /// ```
    /// use gort_runtime::net::{TcpListener, TcpStream};
    /// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    /// unsafe { gort_runtime::run(|| {
    ///     let ln = TcpListener::bind("127.0.0.1:0").unwrap();
    ///     let _c = TcpStream::connect(ln.local_addr().unwrap()).unwrap();
    ///     for s in ln.incoming() {
    ///         assert!(s.is_ok());
    ///         break;
    ///     }
    /// }) };
    /// ```
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { l: self }
    }

    /// The address the listener is bound to.
    ///
    /// # Example
    ///
    /// ```
    /// let ln = gort_runtime::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// assert!(ln.local_addr().unwrap().ip().is_loopback());
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.fd.sock().local_addr()
    }

    /// Makes [`accept`](Self::accept) fail with `TimedOut` once `at` passes;
    /// `None` waits forever (Go's `TCPListener.SetDeadline`).
    ///
    /// # Example
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    /// unsafe { gort_runtime::run(|| {
    ///     let ln = gort_runtime::net::TcpListener::bind("127.0.0.1:0").unwrap();
    ///     ln.set_deadline(Some(Instant::now() + Duration::from_millis(10)));
    ///     let e = ln.accept().unwrap_err();
    ///     assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
    /// }) };
    /// ```
    pub fn set_deadline(&self, at: Option<Instant>) {
        self.fd.set_deadline(Mode::Read, at);
    }
}

impl AsRawFd for TcpListener {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.sock().as_raw_fd()
    }
}

impl std::fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpListener")
            .field("addr", &self.local_addr().ok())
            .field("fd", &self.as_raw_fd())
            .finish()
    }
}

/// The iterator of [`TcpListener::incoming`].
#[derive(Debug)]
pub struct Incoming<'a> {
    l: &'a TcpListener,
}

impl Iterator for Incoming<'_> {
    type Item = io::Result<TcpStream>;
    fn next(&mut self) -> Option<io::Result<TcpStream>> {
        Some(self.l.accept().map(|(s, _)| s))
    }
}

/// A TCP connection (Go's `net.TCPConn`), readable and writable through
/// `std::io::Read`/`Write` on `TcpStream` or `&TcpStream`.
///
/// A read or write that would block parks the goroutine (wait reason
/// `IO wait`). One goroutine may read while another writes; concurrent readers
/// (or writers) take turns. Deadlines ([`set_read_deadline`](Self::set_read_deadline)
/// and friends) bound every later call until changed.
///
/// # Example
///
/// ```
/// use gort_runtime::net::{TcpListener, TcpStream};
/// use std::io::{BufRead, BufReader, Write};
///
/// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
/// unsafe { gort_runtime::run(|| {
///     let ln = TcpListener::bind("127.0.0.1:0").unwrap();
///     let addr = ln.local_addr().unwrap();
///     gort_runtime::go(move || {
///         // An echo server: one goroutine per connection.
///         let (s, _) = ln.accept().unwrap();
///         let mut line = String::new();
///         BufReader::new(&s).read_line(&mut line).unwrap();
///         (&s).write_all(line.as_bytes()).unwrap();
///     });
///     let mut c = TcpStream::connect(addr).unwrap();
///     c.write_all(b"ping\n").unwrap();
///     let mut back = String::new();
///     BufReader::new(&c).read_line(&mut back).unwrap();
///     assert_eq!(back, "ping\n");
/// }) };
/// ```
pub struct TcpStream {
    fd: NetFd<mio::net::TcpStream>,
}

impl TcpStream {
    /// Connects to `addr` (`net.Dial("tcp", addr)`), trying each resolved
    /// address in turn. The goroutine parks while the handshake is in flight.
    ///
    /// # Example
    ///
    /// ```
    /// use gort_runtime::net::{TcpListener, TcpStream};
    /// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    /// unsafe { gort_runtime::run(|| {
    ///     let ln = TcpListener::bind("127.0.0.1:0").unwrap();
    ///     let s = TcpStream::connect(ln.local_addr().unwrap()).unwrap();
    ///     assert_eq!(s.peer_addr().unwrap(), ln.local_addr().unwrap());
    /// }) };
    /// ```
    pub fn connect(addr: impl ToSocketAddrs) -> io::Result<TcpStream> {
        each_addr(addr, |a| Self::connect_one(a, None))
    }

    /// Like [`connect`](Self::connect) to one address, failing with `TimedOut`
    /// if the handshake takes longer than `timeout`.
    ///
    /// # Example
    ///
    /// ```
    /// use gort_runtime::net::{TcpListener, TcpStream};
    /// use std::time::Duration;
    /// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    /// unsafe { gort_runtime::run(|| {
    ///     let ln = TcpListener::bind("127.0.0.1:0").unwrap();
    ///     let addr = ln.local_addr().unwrap();
    ///     assert!(TcpStream::connect_timeout(&addr, Duration::from_secs(5)).is_ok());
    /// }) };
    /// ```
    pub fn connect_timeout(addr: &SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
        Self::connect_one(*addr, Some(Instant::now() + timeout))
    }

    fn connect_one(a: SocketAddr, deadline: Option<Instant>) -> io::Result<TcpStream> {
        let s = TcpStream {
            fd: NetFd::new(mio::net::TcpStream::connect(a)?),
        };
        s.fd.set_deadline(Mode::Write, deadline);
        // Go's `netFD.connect`: wait for writability, then ask the socket how
        // the handshake ended (SO_ERROR).
        loop {
            if let Some(e) = s.fd.sock().take_error()? {
                return Err(e);
            }
            match s.fd.sock().peer_addr() {
                Ok(_) => break,
                Err(e) if e.kind() == io::ErrorKind::NotConnected => s.fd.wait(Mode::Write)?,
                Err(e) => return Err(e),
            }
        }
        s.fd.set_deadline(Mode::Write, None);
        s.set_nodelay(true)?;
        Ok(s)
    }

    /// Takes a connected std stream (blocking or not) for use from goroutines.
    ///
    /// # Example
    ///
    /// ```
    /// let ln = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let c = std::net::TcpStream::connect(ln.local_addr().unwrap()).unwrap();
    /// let s = gort_runtime::net::TcpStream::from_std(c).unwrap();
    /// assert!(s.peer_addr().is_ok());
    /// ```
    pub fn from_std(s: std::net::TcpStream) -> io::Result<TcpStream> {
        s.set_nonblocking(true)?;
        Ok(TcpStream {
            fd: NetFd::new(mio::net::TcpStream::from_std(s)),
        })
    }

    /// The remote address.
    ///
    /// # Example
    ///
    /// ```
    /// use gort_runtime::net::{TcpListener, TcpStream};
    /// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    /// unsafe { gort_runtime::run(|| {
    ///     let ln = TcpListener::bind("127.0.0.1:0").unwrap();
    ///     let s = TcpStream::connect(ln.local_addr().unwrap()).unwrap();
    ///     assert_eq!(s.peer_addr().unwrap().port(), ln.local_addr().unwrap().port());
    /// }) };
    /// ```
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.fd.sock().peer_addr()
    }

    /// The local address.
    ///
    /// # Example
    ///
    /// ```
    /// use gort_runtime::net::{TcpListener, TcpStream};
    /// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    /// unsafe { gort_runtime::run(|| {
    ///     let ln = TcpListener::bind("127.0.0.1:0").unwrap();
    ///     let s = TcpStream::connect(ln.local_addr().unwrap()).unwrap();
    ///     assert!(s.local_addr().unwrap().ip().is_loopback());
    /// }) };
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.fd.sock().local_addr()
    }

    /// Shuts down the read half, the write half or both (`CloseRead`,
    /// `CloseWrite`). The peer reads EOF after a write shutdown.
    ///
    /// # Example
    ///
    /// ```
    /// use gort_runtime::net::{TcpListener, TcpStream};
    /// use std::io::Read;
    /// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    /// unsafe { gort_runtime::run(|| {
    ///     let ln = TcpListener::bind("127.0.0.1:0").unwrap();
    ///     let c = TcpStream::connect(ln.local_addr().unwrap()).unwrap();
    ///     let (mut s, _) = ln.accept().unwrap();
    ///     c.shutdown(std::net::Shutdown::Write).unwrap();
    ///     assert_eq!(s.read(&mut [0; 8]).unwrap(), 0);
    /// }) };
    /// ```
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.fd.sock().shutdown(how)
    }

    /// Sets or clears TCP_NODELAY. As in Go, streams from `accept` and `connect`
    /// start with it set (no Nagle delay on small writes).
    ///
    /// # Example
    ///
    /// ```
    /// use gort_runtime::net::{TcpListener, TcpStream};
    /// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    /// unsafe { gort_runtime::run(|| {
    ///     let ln = TcpListener::bind("127.0.0.1:0").unwrap();
    ///     let s = TcpStream::connect(ln.local_addr().unwrap()).unwrap();
    ///     s.set_nodelay(true).unwrap();
    ///     assert!(s.nodelay().unwrap());
    /// }) };
    /// ```
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.fd.sock().set_nodelay(on)
    }

    /// Whether TCP_NODELAY is set.
    ///
    /// # Example
    ///
    /// ```
    /// use gort_runtime::net::{TcpListener, TcpStream};
    /// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    /// unsafe { gort_runtime::run(|| {
    ///     let ln = TcpListener::bind("127.0.0.1:0").unwrap();
    ///     let s = TcpStream::connect(ln.local_addr().unwrap()).unwrap();
    ///     let _ = s.nodelay().unwrap();
    /// }) };
    /// ```
    pub fn nodelay(&self) -> io::Result<bool> {
        self.fd.sock().nodelay()
    }

    /// Reads and writes after `at` fail with `TimedOut` ("i/o timeout"), including
    /// one already waiting; `None` removes the deadline (Go's `SetDeadline`).
    ///
    /// # Example
    ///
    /// ```
    /// use gort_runtime::net::{TcpListener, TcpStream};
    /// use std::io::Read;
    /// use std::time::{Duration, Instant};
    /// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    /// unsafe { gort_runtime::run(|| {
    ///     let ln = TcpListener::bind("127.0.0.1:0").unwrap();
    ///     let mut s = TcpStream::connect(ln.local_addr().unwrap()).unwrap();
    ///     s.set_deadline(Some(Instant::now() + Duration::from_millis(10)));
    ///     let e = s.read(&mut [0; 8]).unwrap_err();
    ///     assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
    /// }) };
    /// ```
    pub fn set_deadline(&self, at: Option<Instant>) {
        self.fd.set_deadline(Mode::Read, at);
        self.fd.set_deadline(Mode::Write, at);
    }

    /// Reads after `at` fail with `TimedOut` (Go's `SetReadDeadline`).
    ///
    /// # Example
    ///
    /// ```
    /// use gort_runtime::net::{TcpListener, TcpStream};
    /// use std::io::Read;
    /// use std::time::{Duration, Instant};
    /// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    /// unsafe { gort_runtime::run(|| {
    ///     let ln = TcpListener::bind("127.0.0.1:0").unwrap();
    ///     let mut s = TcpStream::connect(ln.local_addr().unwrap()).unwrap();
    ///     s.set_read_deadline(Some(Instant::now())); // already past
    ///     assert_eq!(s.read(&mut [0; 8]).unwrap_err().kind(), std::io::ErrorKind::TimedOut);
    ///     s.set_read_deadline(None);
    /// }) };
    /// ```
    pub fn set_read_deadline(&self, at: Option<Instant>) {
        self.fd.set_deadline(Mode::Read, at);
    }

    /// Writes after `at` fail with `TimedOut` (Go's `SetWriteDeadline`).
    ///
    /// # Example
    ///
    /// ```
    /// use gort_runtime::net::{TcpListener, TcpStream};
    /// use std::io::Write;
    /// use std::time::Instant;
    /// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    /// unsafe { gort_runtime::run(|| {
    ///     let ln = TcpListener::bind("127.0.0.1:0").unwrap();
    ///     let mut s = TcpStream::connect(ln.local_addr().unwrap()).unwrap();
    ///     s.set_write_deadline(Some(Instant::now()));
    ///     assert_eq!(s.write(b"x").unwrap_err().kind(), std::io::ErrorKind::TimedOut);
    /// }) };
    /// ```
    pub fn set_write_deadline(&self, at: Option<Instant>) {
        self.fd.set_deadline(Mode::Write, at);
    }

    /// The pending socket error (SO_ERROR), cleared by reading it.
    ///
    /// # Example
    ///
    /// ```
    /// use gort_runtime::net::{TcpListener, TcpStream};
    /// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    /// unsafe { gort_runtime::run(|| {
    ///     let ln = TcpListener::bind("127.0.0.1:0").unwrap();
    ///     let s = TcpStream::connect(ln.local_addr().unwrap()).unwrap();
    ///     assert!(s.take_error().unwrap().is_none());
    /// }) };
    /// ```
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.fd.sock().take_error()
    }

    /// Receives without consuming (MSG_PEEK), waiting like a read.
    ///
    /// # Example
    ///
    /// ```
    /// use gort_runtime::net::{TcpListener, TcpStream};
    /// use std::io::Write;
    /// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    /// unsafe { gort_runtime::run(|| {
    ///     let ln = TcpListener::bind("127.0.0.1:0").unwrap();
    ///     let mut c = TcpStream::connect(ln.local_addr().unwrap()).unwrap();
    ///     let (s, _) = ln.accept().unwrap();
    ///     c.write_all(b"hi").unwrap();
    ///     let mut b = [0; 2];
    ///     assert_eq!(s.peek(&mut b).unwrap(), 2);
    /// }) };
    /// ```
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.fd.io(Mode::Read, |s| s.peek(buf))
    }
}

impl Read for &TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.fd.io(Mode::Read, |mut s| s.read(buf))
    }
    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        self.fd.io(Mode::Read, |mut s| s.read_vectored(bufs))
    }
}

impl Write for &TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.fd.io(Mode::Write, |mut s| s.write(buf))
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.fd.io(Mode::Write, |mut s| s.write_vectored(bufs))
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Read for TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }
    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        (&*self).read_vectored(bufs)
    }
}

impl Write for TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        (&*self).write_vectored(bufs)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl AsRawFd for TcpStream {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.sock().as_raw_fd()
    }
}

impl std::fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpStream")
            .field("local", &self.local_addr().ok())
            .field("peer", &self.peer_addr().ok())
            .field("fd", &self.as_raw_fd())
            .finish()
    }
}
