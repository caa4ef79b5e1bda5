//! Poll descriptors: one per socket, the goroutine-facing half of the netpoller
//! (`pollDesc`, `pollCache`, `poll_runtime_pollWait`, `poll_runtime_pollSetDeadline`,
//! `poll_runtime_pollUnblock`, `netpolldeadlineimpl` in Go's `runtime/netpoll.go`).
//!
//! # Lifetime
//!
//! Descriptors never go back to the Rust allocator: they come from a process-wide
//! cache that grows in blocks of about 4 KiB and reuses freed descriptors, as Go's
//! `pollCache` does. That makes a descriptor's address safe to put in the epoll
//! event (mio's `Token`) and in a timer's closure: an event or a timer firing for
//! a socket that has since been closed finds a live descriptor, and the
//! descriptor's `fdseq` — bumped at every reuse, its low 16 bits carried in the
//! token — tells a stale event from a current one (Go tags the pointer the same
//! way).
//!
//! # Registration
//!
//! A socket is registered with its runtime's epoll instance once, for read and
//! write, edge-triggered (`netpollopen`: EPOLLIN|EPOLLOUT|EPOLLRDHUP|EPOLLET),
//! the first time a goroutine must wait on it. Go registers when the socket is
//! made; registering lazily lets a socket be made outside any runtime (in `main`,
//! before `gort::run`) and still belong to the runtime that first waits on it.
//! Adding an fd to epoll reports its current readiness, so nothing that arrived
//! before the registration is missed. Code that is not a goroutine (a plain
//! thread) never registers: it waits with `poll(2)` on the socket.
//!
//! # Deadlines
//!
//! A deadline is an absolute `Instant` per direction, kept under the descriptor's
//! lock. Once the descriptor is registered, a future deadline is a runtime timer
//! whose function (`deadline_fired`, Go's `netpolldeadlineimpl`) marks the
//! direction expired in the lock-free `info` bits and unblocks its waiter with no
//! readiness; the waiter sees the bit and returns a timeout. A deadline already in
//! the past expires at once. The timer's sequence number, recorded when it was
//! armed, lets a firing that a later `set_*_deadline` overtook do nothing. Go
//! shares one timer when the read and write deadlines are equal; here each
//! direction has its own timer, made on first use and kept with the descriptor.

use super::waiter::{self, PD_NIL, PD_READY};
use super::Netpoll;
use crate::proc::g::{WaitReason, G};
use crate::proc::m::{getg, UnlockF};
use crate::proc::sched::{self, Sched};
use crate::time::timer::Timer;
use parking_lot::Mutex;
use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicI32, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// `info` bit: the socket is being closed (`pollClosing`).
const POLL_CLOSING: u32 = 1 << 0;
/// `info` bit: epoll reported an error with no readiness (`pollEventErr`).
const POLL_EVENT_ERR: u32 = 1 << 1;
/// `info` bit: the read deadline has passed (`pollExpiredReadDeadline`).
const POLL_EXPIRED_READ: u32 = 1 << 2;
/// `info` bit: the write deadline has passed (`pollExpiredWriteDeadline`).
const POLL_EXPIRED_WRITE: u32 = 1 << 3;

/// Bits of `fdseq` carried in the epoll token.
const TAG_BITS: u32 = 16;
/// Pointers must fit in the token's upper 48 bits.
const ADDR_BITS: u32 = 64 - TAG_BITS;

/// A direction of I/O (`mode` `'r'` / `'w'` in Go).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Mode {
    Read,
    Write,
}

/// Why a wait ended without readiness (`pollErrClosing` … `pollErrNotPollable`).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PollErr {
    /// The descriptor is closing.
    Closing,
    /// The direction's deadline passed.
    Timeout,
    /// epoll reported only an error on the socket (Go's `ErrNotPollable`).
    EventErr,
}

impl PollErr {
    /// The `io::Error` a socket call returns for this outcome.
    pub(crate) fn into_io(self) -> io::Error {
        match self {
            PollErr::Closing => io::Error::new(
                io::ErrorKind::NotConnected,
                "use of closed network connection",
            ),
            PollErr::Timeout => io::Error::new(io::ErrorKind::TimedOut, "i/o timeout"),
            PollErr::EventErr => io::Error::other("the poller reported an error on the socket"),
        }
    }
}

/// Per-direction deadline state, under the descriptor's lock.
#[derive(Default)]
struct Deadline {
    /// When the direction expires; None = never.
    at: Option<Instant>,
    /// The direction's timer, made on first use, dropped at close.
    timer: Option<Arc<Timer>>,
    /// The timer's sequence number for the arming in force, None when disarmed.
    seq: Option<u64>,
}

struct Deadlines {
    read: Deadline,
    write: Deadline,
}

impl Deadlines {
    fn get(&mut self, mode: Mode) -> &mut Deadline {
        match mode {
            Mode::Read => &mut self.read,
            Mode::Write => &mut self.write,
        }
    }
}

/// A poll descriptor (`pollDesc`).
pub(crate) struct PollDesc {
    /// The read waiter word (`rg`): see `waiter.rs`.
    rg: AtomicUsize,
    /// The write waiter word (`wg`).
    wg: AtomicUsize,
    /// Closing / event error / expired bits, read without the lock (`atomicInfo`).
    info: AtomicU32,
    /// Bumped each time the descriptor is freed; tags epoll tokens (`fdseq`).
    fdseq: AtomicU64,
    /// The runtime the socket is registered with; null until the first wait.
    sched: AtomicPtr<Sched>,
    /// The socket, while registered (`fd`), -1 otherwise.
    fd: AtomicI32,
    /// Deadlines and their timers (`lock`, `rd`/`wd`, `rt`/`wt`, `rseq`/`wseq`).
    lock: Mutex<Deadlines>,
}

/// Descriptors ready for reuse (`pollCache`).
static POLL_CACHE: Mutex<Vec<&'static PollDesc>> = Mutex::new(Vec::new());

impl PollDesc {
    fn new() -> PollDesc {
        PollDesc {
            rg: AtomicUsize::new(PD_NIL),
            wg: AtomicUsize::new(PD_NIL),
            info: AtomicU32::new(0),
            fdseq: AtomicU64::new(0),
            sched: AtomicPtr::new(std::ptr::null_mut()),
            fd: AtomicI32::new(-1),
            lock: Mutex::new(Deadlines {
                read: Deadline::default(),
                write: Deadline::default(),
            }),
        }
    }

    /// `pollCache.alloc`: a fresh descriptor (no deadlines, not registered).
    pub(crate) fn alloc() -> &'static PollDesc {
        let mut free = POLL_CACHE.lock();
        if free.is_empty() {
            // About 4 KiB of descriptors at a time, never freed (see the module
            // comment).
            let n = (4096 / std::mem::size_of::<PollDesc>()).max(1);
            let block: &'static [PollDesc] = Box::leak(
                (0..n)
                    .map(|_| PollDesc::new())
                    .collect::<Vec<_>>()
                    .into_boxed_slice(),
            );
            let end = block.as_ptr_range().end as u64;
            if end >> ADDR_BITS != 0 {
                crate::panic::throw("runtime: poll descriptor address does not fit an epoll token");
            }
            free.extend(block.iter().rev());
        }
        let pd = free.pop().expect("poll cache refilled");
        drop(free);
        // A stale event may have marked a word READY between the close and now
        // (Go accepts that too): start clean.
        pd.rg.store(PD_NIL, Ordering::Relaxed);
        pd.wg.store(PD_NIL, Ordering::Relaxed);
        pd.info.store(0, Ordering::Relaxed);
        pd
    }

    fn gpp(&self, mode: Mode) -> &AtomicUsize {
        match mode {
            Mode::Read => &self.rg,
            Mode::Write => &self.wg,
        }
    }

    fn expired_bit(mode: Mode) -> u32 {
        match mode {
            Mode::Read => POLL_EXPIRED_READ,
            Mode::Write => POLL_EXPIRED_WRITE,
        }
    }

    /// The epoll token for this descriptor's current use (`taggedPointerPack`).
    pub(super) fn token(&'static self) -> mio::Token {
        let tag = self.fdseq.load(Ordering::Relaxed) & ((1 << TAG_BITS) - 1);
        mio::Token(((self as *const PollDesc as usize) << TAG_BITS) | tag as usize)
    }

    /// The descriptor an epoll token names, if the token is not stale.
    pub(super) fn from_token(token: mio::Token) -> Option<&'static PollDesc> {
        let ptr = (token.0 >> TAG_BITS) as *const PollDesc;
        let tag = (token.0 & ((1 << TAG_BITS) - 1)) as u64;
        // SAFETY: tokens are only made by `token` from descriptors, which are never
        // freed (module comment); epoll hands back exactly the data we registered.
        let pd = unsafe { &*ptr };
        (pd.fdseq.load(Ordering::Relaxed) & ((1 << TAG_BITS) - 1) == tag).then_some(pd)
    }

    /// `netpollcheckerr`: why a wait in `mode` cannot go on, if it cannot.
    pub(crate) fn check_err(&self, mode: Mode) -> Result<(), PollErr> {
        let info = self.info.load(Ordering::SeqCst);
        if info & POLL_CLOSING != 0 {
            return Err(PollErr::Closing);
        }
        if info & Self::expired_bit(mode) != 0 {
            return Err(PollErr::Timeout);
        }
        // Only reads report epoll's error: a write would see it from the call.
        if mode == Mode::Read && info & POLL_EVENT_ERR != 0 {
            return Err(PollErr::EventErr);
        }
        Ok(())
    }

    /// `pollReset` (`prepareRead`/`prepareWrite`): before the I/O call, fail on an
    /// expired deadline or a close, and forget readiness the call itself will see.
    pub(crate) fn prepare_io(&self, mode: Mode) -> Result<(), PollErr> {
        self.check_err(mode)?;
        let _ =
            self.gpp(mode)
                .compare_exchange(PD_READY, PD_NIL, Ordering::AcqRel, Ordering::Relaxed);
        Ok(())
    }

    /// Records epoll's error report (`setEventErr`).
    pub(super) fn set_event_err(&self, on: bool) {
        if on {
            self.info.fetch_or(POLL_EVENT_ERR, Ordering::SeqCst);
        } else if self.info.load(Ordering::Relaxed) & POLL_EVENT_ERR != 0 {
            self.info.fetch_and(!POLL_EVENT_ERR, Ordering::SeqCst);
        }
    }

    /// `netpollready`'s half for one direction: records readiness and returns a
    /// parked goroutine to run.
    pub(super) fn ready(&self, mode: Mode) -> Option<&'static G> {
        waiter::unblock(self.gpp(mode), true).map(parked_g)
    }

    /// Registers `fd` with `sched`'s poller if this is the descriptor's first wait
    /// there (module comment); arms the deadlines set before.
    fn ensure_registered(&'static self, sched: &'static Sched, fd: RawFd) -> io::Result<()> {
        let cur = self.sched.load(Ordering::Acquire);
        if std::ptr::eq(cur, sched) {
            return Ok(());
        }
        let mut d = self.lock.lock();
        let cur = self.sched.load(Ordering::Acquire);
        if cur.is_null() {
            let np = Netpoll::get_or_init(sched)?;
            np.register(fd, self.token())?;
            self.fd.store(fd, Ordering::Relaxed);
            // Arm the deadlines set before, *then* publish the runtime: a waiter of
            // the other direction takes the fast path above only after that, and
            // then finds an expired bit already set. Any waiter these arms end is
            // woken, not dropped.
            let woken: Vec<_> = [Mode::Read, Mode::Write]
                .into_iter()
                .filter_map(|mode| self.arm_deadline(&mut d, mode, Some(sched)))
                .collect();
            self.sched
                .store(sched as *const Sched as *mut Sched, Ordering::Release);
            drop(d);
            for gp in woken {
                netpollgoready(gp);
            }
            Ok(())
        } else if std::ptr::eq(cur, sched) {
            Ok(())
        } else {
            Err(io::Error::other(
                "gort: this socket belongs to another runtime (it was first used there)",
            ))
        }
    }

    fn registered_sched(&self) -> Option<&'static Sched> {
        let p = self.sched.load(Ordering::Acquire);
        // SAFETY: Sched values are leaked (`Sched::new`) and never freed.
        (!p.is_null()).then(|| unsafe { &*p })
    }

    /// `poll_runtime_pollWait` for the calling goroutine, or `poll(2)` on a plain
    /// thread: waits until `fd` may be ready in `mode`, its deadline passes or
    /// the descriptor closes. `Ok` means "retry the call".
    pub(crate) fn wait(&'static self, fd: RawFd, mode: Mode) -> io::Result<()> {
        let Some(gp) = getg() else {
            return self.wait_thread(fd, mode);
        };
        self.ensure_registered(gp.sched, fd)?;
        self.check_err(mode).map_err(PollErr::into_io)?;
        while !self.netpollblock(mode) {
            self.check_err(mode).map_err(PollErr::into_io)?;
        }
        Ok(())
    }

    /// `netpollblock` (with `waitio` false): true if readiness ended the wait.
    fn netpollblock(&'static self, mode: Mode) -> bool {
        let gpp = self.gpp(mode);
        if waiter::prepare(gpp) {
            return true;
        }
        if self.check_err(mode).is_ok() {
            // SAFETY: `gpp` lives in a descriptor that is never freed, not on this
            // goroutine's stack; `netpollblockcommit` reads only it.
            unsafe {
                sched::gopark(
                    Some(UnlockF {
                        f: netpollblockcommit,
                        data: gpp as *const AtomicUsize as *const (),
                    }),
                    WaitReason::IoWait,
                )
            };
        }
        waiter::finish(gpp)
    }

    /// A plain thread's wait: `poll(2)` until ready or the deadline.
    fn wait_thread(&self, fd: RawFd, mode: Mode) -> io::Result<()> {
        self.check_err(mode).map_err(PollErr::into_io)?;
        let at = self.lock.lock().get(mode).at;
        let timeout_ms = match at {
            None => -1,
            Some(at) => {
                let left = at.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(PollErr::Timeout.into_io());
                }
                // Round up, so the deadline has passed when poll returns.
                left.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32
            }
        };
        let events = match mode {
            Mode::Read => libc::POLLIN | libc::POLLRDHUP,
            Mode::Write => libc::POLLOUT,
        };
        let mut pfd = libc::pollfd {
            fd,
            events,
            revents: 0,
        };
        // SAFETY: one valid pollfd, and its count.
        let r = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
        if r < 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::Interrupted {
                Ok(())
            } else {
                Err(e)
            };
        }
        if r == 0 {
            return Err(PollErr::Timeout.into_io());
        }
        Ok(())
    }

    /// `poll_runtime_pollSetDeadline` for one direction.
    pub(crate) fn set_deadline(&'static self, mode: Mode, at: Option<Instant>) {
        let mut d = self.lock.lock();
        d.get(mode).at = at;
        let sched = self.registered_sched();
        let wake = self.arm_deadline(&mut d, mode, sched);
        drop(d);
        if let Some(gp) = wake {
            netpollgoready(gp);
        }
    }

    /// Brings `mode`'s timer and expired bit in line with its deadline, with the
    /// lock held. Returns a waiter to wake if the deadline is already past.
    fn arm_deadline(
        &'static self,
        d: &mut Deadlines,
        mode: Mode,
        sched: Option<&'static Sched>,
    ) -> Option<&'static G> {
        let dl = d.get(mode);
        let bit = Self::expired_bit(mode);
        dl.seq = None;
        if let Some(t) = &dl.timer {
            t.stop();
        }
        match dl.at {
            None => {
                self.info.fetch_and(!bit, Ordering::SeqCst);
                None
            }
            Some(at) if at <= Instant::now() => {
                // Already past: expire now and end any wait (Go sets rd = -1).
                self.info.fetch_or(bit, Ordering::SeqCst);
                waiter::unblock(self.gpp(mode), false).map(parked_g)
            }
            Some(at) => {
                self.info.fetch_and(!bit, Ordering::SeqCst);
                if let Some(sched) = sched {
                    let when = at.saturating_duration_since(sched.start).as_nanos();
                    let when = (when.min(i64::MAX as u128) as i64).max(1);
                    let t = dl
                        .timer
                        .get_or_insert_with(|| {
                            Timer::new(Box::new(move |seq, _| self.deadline_fired(mode, seq)))
                        })
                        .clone();
                    dl.seq = Some(crate::time::arm(sched, &t, when, 0).seq);
                }
                None
            }
        }
    }

    /// `netpolldeadlineimpl`: `mode`'s deadline timer fired (arming `seq`).
    fn deadline_fired(&self, mode: Mode, seq: u64) {
        let mut d = self.lock.lock();
        let dl = d.get(mode);
        if dl.seq != Some(seq) {
            // A later set_deadline, a close or a reuse overtook this firing.
            return;
        }
        dl.seq = None;
        self.info
            .fetch_or(Self::expired_bit(mode), Ordering::SeqCst);
        let gp = waiter::unblock(self.gpp(mode), false).map(parked_g);
        drop(d);
        if let Some(gp) = gp {
            netpollgoready(gp);
        }
    }

    /// `poll_runtime_pollUnblock` + `poll_runtime_pollClose` + `pollCache.free`:
    /// ends any wait with a "closed" error, deregisters `fd` and returns the
    /// descriptor to the cache. The socket is closed after this.
    pub(crate) fn close(&'static self) {
        let mut d = self.lock.lock();
        self.info.fetch_or(POLL_CLOSING, Ordering::SeqCst);
        let mut woken = Vec::new();
        for mode in [Mode::Read, Mode::Write] {
            let dl = d.get(mode);
            dl.at = None;
            dl.seq = None;
            // Stopped and dropped: a stopped timer may still sit in the heap of
            // this runtime's P, and the next user of the descriptor may belong to
            // another runtime, whose clock and poller the timer must not use.
            if let Some(t) = dl.timer.take() {
                t.stop();
            }
            if let Some(g) = waiter::unblock(self.gpp(mode), false) {
                woken.push(parked_g(g));
            }
        }
        let sched = self.registered_sched();
        let fd = self.fd.swap(-1, Ordering::Relaxed);
        drop(d);
        for gp in woken {
            netpollgoready(gp);
        }
        if let (Some(sched), true) = (sched, fd >= 0) {
            if let Some(np) = sched.netpoll.get() {
                np.deregister(fd);
            }
        }
        // A goroutine woken above still has to run `finish` on this descriptor:
        // wait until both words are back to NIL before reusing it (Go's fdMutex
        // guarantees no waiter remains; our sockets are only dropped unshared).
        for gpp in [&self.rg, &self.wg] {
            while gpp.load(Ordering::Acquire) > PD_READY {
                std::thread::yield_now();
            }
            gpp.store(PD_NIL, Ordering::Release);
        }
        self.sched.store(std::ptr::null_mut(), Ordering::Release);
        self.fdseq.fetch_add(1, Ordering::Relaxed);
        POLL_CACHE.lock().push(self);
    }
}

/// The goroutine a waiter word held (a value `unblock` returned).
fn parked_g(g: usize) -> &'static G {
    // SAFETY: a waiter word above PD_WAIT only ever holds the address of a parked
    // G, stored by `netpollblockcommit`, and Gs are never freed.
    unsafe { G::from_ptr(g as *mut G) }
}

/// `netpollblockcommit`: g0's half of a park on a socket (see `waiter.rs`).
///
/// # Safety
/// `data` is the waiter word of a live descriptor, as `netpollblock` passes it.
unsafe fn netpollblockcommit(data: *const (), gp: &'static G) -> bool {
    // SAFETY: the caller's contract.
    let gpp = unsafe { &*(data as *const AtomicUsize) };
    let np = gp
        .sched
        .netpoll
        .get()
        .expect("a registered descriptor has a poller");
    // Count the waiter before publishing it, so a poller that takes it right away
    // never sees the count below the number of parked goroutines.
    np.waiters.fetch_add(1, Ordering::SeqCst);
    if waiter::commit(gpp, gp.as_ptr() as usize) {
        true
    } else {
        np.waiters.fetch_sub(1, Ordering::SeqCst);
        false
    }
}

/// `netpollgoready`: a deadline or close ended `gp`'s wait.
fn netpollgoready(gp: &'static G) {
    if let Some(np) = gp.sched.netpoll.get() {
        np.waiters.fetch_sub(1, Ordering::SeqCst);
    }
    sched::ready(gp);
}

/// Descriptors in the cache, for tests.
#[cfg(test)]
pub(crate) fn cached() -> usize {
    POLL_CACHE.lock().len()
}
