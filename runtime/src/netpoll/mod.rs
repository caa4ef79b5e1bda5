//! The network poller: goroutines that wait for sockets park, and the scheduler
//! asks epoll (through mio) which of them can run again.
//!
//! Models Go's `runtime/netpoll.go` and `runtime/netpoll_epoll.go`; the scheduler
//! side (`findRunnable`'s two polls, `injectglist`, sysmon's poll) is in
//! `proc/sched.rs` and `proc/sysmon.rs`, the socket side in `net/`.
//!
//! # Pieces
//!
//! - **One epoll instance per runtime** ([`Netpoll`]): a `mio::Poll`, the
//!   `mio::Registry` sockets are added through, and a `mio::Waker` (an eventfd)
//!   that breaks a blocking poll (`netpollBreak`). It is made on first need — the
//!   first socket wait or the first time an idle M sleeps until a timer — as Go
//!   makes its poller on the first timer or socket, and closed when the runtime
//!   shuts down.
//! - **Poll descriptors** (`desc.rs`): per socket, the read and write waiter
//!   words (`waiter.rs`, the `pdReady`/`pdWait` state machine), deadlines and the
//!   closing/expired bits.
//! - **[`netpoll`]** (`netpoll(delay)`): one `epoll_wait` for up to 128 events;
//!   each event readies the waiters of its descriptor's directions (IN, RDHUP,
//!   HUP, ERR → read; OUT, HUP, ERR → write) and returns the goroutines that were
//!   parked, for the caller to inject into run queues (`injectglist`).
//!
//! # Who polls
//!
//! - `find_runnable`, after the local and global queues and before stealing: a
//!   non-blocking poll when goroutines wait on sockets and no M is blocked in the
//!   poller (`lastpoll != 0`).
//! - `find_runnable`'s last step: the one M that would otherwise park with
//!   nothing to do claims the poller (`lastpoll.swap(0)`) and blocks in epoll
//!   until an event, the earliest timer, or a break. Other idle Ms park.
//! - sysmon, when nobody has polled for 10 ms (all Ps busy running goroutines).
//!
//! Polls are serialized by a lock around the `mio::Poll` (mio's `poll` takes
//! `&mut`); a non-blocking poll that finds the lock taken skips, since the holder
//! will deliver what is ready.
//!
//! # The wake-up
//!
//! `netpoll_break` writes the eventfd at most once until a blocking poll consumes
//! it (`netpollWakeSig`). mio registers the eventfd edge-triggered, so an event a
//! non-blocking poll takes is gone for the blocking poller it was meant for: a
//! non-blocking poll that finds it while some M has claimed the poller
//! (`lastpoll == 0`) writes it again. (Go's eventfd is level-triggered and
//! non-blocking polls simply leave it.)

pub(crate) mod desc;
pub(crate) mod waiter;

#[cfg(test)]
mod tests;

use crate::proc::g::GQueue;
use crate::proc::sched::Sched;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Registry, Token, Waker};
use parking_lot::Mutex;
use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};
use std::time::Duration;

/// The waker's token; descriptor tokens are never 0 (they carry a pointer).
const WAKE_TOKEN: Token = Token(0);
/// Events per `epoll_wait` (Go's `var events [128]epollevent`).
const MAX_EVENTS: usize = 128;

/// A runtime's epoll instance (`epfd`, `netpollEventFd`, `netpollWakeSig`,
/// `netpollWaiters`).
pub(crate) struct Netpoll {
    /// The poll and its event buffer; None once closed.
    poll: Mutex<Option<(Poll, Events)>>,
    /// Where sockets are added (a second handle on the same epoll fd).
    registry: Mutex<Option<Registry>>,
    /// Breaks a blocking poll.
    waker: Mutex<Option<Waker>>,
    /// A break is pending (`netpollWakeSig`).
    wake_sig: AtomicU32,
    /// Goroutines parked on sockets (`netpollWaiters`).
    pub(crate) waiters: AtomicI32,
}

impl Netpoll {
    fn new() -> io::Result<Netpoll> {
        raise_fd_limit();
        let poll = Poll::new()?;
        let registry = poll.registry().try_clone()?;
        let waker = Waker::new(poll.registry(), WAKE_TOKEN)?;
        Ok(Netpoll {
            poll: Mutex::new(Some((poll, Events::with_capacity(MAX_EVENTS)))),
            registry: Mutex::new(Some(registry)),
            waker: Mutex::new(Some(waker)),
            wake_sig: AtomicU32::new(0),
            waiters: AtomicI32::new(0),
        })
    }

    /// `netpollGenericInit`: `sched`'s poller, made if it does not exist yet.
    pub(crate) fn get_or_init(sched: &Sched) -> io::Result<&Netpoll> {
        if let Some(np) = sched.netpoll.get() {
            return Ok(np);
        }
        // Two Ms racing here both make one; the loser's is dropped (its fds closed).
        let np = Netpoll::new()?;
        Ok(sched.netpoll.get_or_init(|| np))
    }

    /// `netpollopen`: adds `fd` for read and write readiness, edge-triggered.
    pub(crate) fn register(&self, fd: RawFd, token: Token) -> io::Result<()> {
        match &*self.registry.lock() {
            Some(r) => r.register(
                &mut SourceFd(&fd),
                token,
                Interest::READABLE | Interest::WRITABLE,
            ),
            None => Err(io::Error::other("gort: the runtime has shut down")),
        }
    }

    /// `netpollclose`.
    pub(crate) fn deregister(&self, fd: RawFd) {
        if let Some(r) = &*self.registry.lock() {
            let _ = r.deregister(&mut SourceFd(&fd));
        }
    }

    /// `netpollBreak`: interrupts a blocking [`netpoll`], now or the next one.
    pub(crate) fn wake(&self) {
        if self
            .wake_sig
            .compare_exchange(0, 1, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            self.write_waker();
        }
    }

    fn write_waker(&self) {
        if let Some(w) = &*self.waker.lock() {
            if let Err(e) = w.wake() {
                crate::panic::throw(&format!("runtime: netpollBreak write failed: {e}"));
            }
        }
    }

    /// Any goroutine parked on a socket (`netpollAnyWaiters`).
    pub(crate) fn any_waiters(&self) -> bool {
        self.waiters.load(Ordering::SeqCst) > 0
    }

    /// Closes the epoll instance, its second handle and the eventfd (at shutdown,
    /// once no M is left).
    pub(crate) fn close(&self) {
        self.poll.lock().take();
        self.registry.lock().take();
        self.waker.lock().take();
    }
}

/// Raises the soft limit on open files to the hard limit, once per process, as
/// Go's `os` package does at start (`os/rlimit.go`): a server holding thousands
/// of connections should not fail at the historical default of 1024. Children
/// the program starts inherit the raised limit (Go restores the old one for
/// them; gort does not).
fn raise_fd_limit() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: a valid rlimit to fill in and then pass back.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
                lim.rlim_cur = lim.rlim_max;
                libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
            }
        }
    });
}

/// `netpoll(delay)`: waits up to `delay_ns` (< 0: until something happens, 0: not
/// at all) for socket readiness and returns the goroutines it made runnable,
/// still in `Waiting` (the caller injects them), and how many there are, to
/// subtract from the waiter count once they are queued (`netpollAdjustWaiters`).
pub(crate) fn netpoll(sched: &Sched, delay_ns: i64) -> (GQueue, i32) {
    let mut list = GQueue::new();
    let Some(np) = sched.netpoll.get() else {
        return (list, 0);
    };
    let mut guard = if delay_ns == 0 {
        match np.poll.try_lock() {
            Some(g) => g,
            None => return (list, 0),
        }
    } else {
        np.poll.lock()
    };
    let Some((poll, events)) = guard.as_mut() else {
        return (list, 0);
    };
    // Go: < 0 blocks, 0 polls, under 1 ms waits 1 ms, else whole ms (max 1e9 ms).
    let timeout = match delay_ns {
        d if d < 0 => None,
        0 => Some(Duration::ZERO),
        d if d < 1_000_000 => Some(Duration::from_millis(1)),
        d => Some(Duration::from_millis(
            ((d / 1_000_000) as u64).min(1_000_000_000),
        )),
    };
    if let Err(e) = poll.poll(events, timeout) {
        if e.kind() == io::ErrorKind::Interrupted {
            // A signal: the caller recomputes how long to wait.
            return (list, 0);
        }
        crate::panic::throw(&format!("runtime: netpoll failed: {e}"));
    }
    let mut delta = 0;
    for ev in events.iter() {
        if ev.token() == WAKE_TOKEN {
            if delay_ns != 0 || sched.lastpoll.load(Ordering::SeqCst) != 0 {
                // Consumed by the poll it was for, or nobody has claimed the
                // poller: the next blocking poll recomputes its wait anyway.
                np.wake_sig.store(0, Ordering::SeqCst);
            } else {
                // A blocking poller is about to wait: hand the wake-up on.
                np.write_waker();
            }
            continue;
        }
        let Some(pd) = desc::PollDesc::from_token(ev.token()) else {
            continue;
        };
        let err = ev.is_error();
        let r = ev.is_readable() || ev.is_read_closed() || err;
        let w = ev.is_writable() || ev.is_write_closed() || err;
        // Go records an error only for an event that is EPOLLERR alone.
        pd.set_event_err(
            err && !ev.is_readable()
                && !ev.is_writable()
                && !ev.is_read_closed()
                && !ev.is_write_closed(),
        );
        if r {
            if let Some(gp) = pd.ready(desc::Mode::Read) {
                list.push_back(gp.as_ptr());
                delta += 1;
            }
        }
        if w {
            if let Some(gp) = pd.ready(desc::Mode::Write) {
                list.push_back(gp.as_ptr());
                delta += 1;
            }
        }
    }
    (list, delta)
}

/// `netpollAdjustWaiters`: `n` goroutines returned by [`netpoll`] are queued.
pub(crate) fn adjust_waiters(sched: &Sched, n: i32) {
    if n != 0 {
        if let Some(np) = sched.netpoll.get() {
            np.waiters.fetch_sub(n, Ordering::SeqCst);
        }
    }
}

/// Whether goroutines wait on sockets of `sched` (`netpollinited() &&
/// netpollAnyWaiters()`).
pub(crate) fn any_waiters(sched: &Sched) -> bool {
    sched.netpoll.get().is_some_and(Netpoll::any_waiters)
}

/// `netpollBreak` for `sched`: makes the blocking poll (now or next) return.
pub(crate) fn netpoll_break(sched: &Sched) {
    // Made if missing: an M may have claimed the poller and be about to make it.
    match Netpoll::get_or_init(sched) {
        Ok(np) => np.wake(),
        Err(e) => crate::panic::throw(&format!("runtime: cannot make the netpoller: {e}")),
    }
}
