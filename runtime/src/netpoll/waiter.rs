//! The per-direction waiter word of a poll descriptor: `pollDesc.rg` / `pollDesc.wg`
//! and the functions that move it (`netpollblock`, `netpollblockcommit`,
//! `netpollunblock` in Go's `runtime/netpoll.go`).
//!
//! # States
//!
//! One word per direction (read, write) holds
//!
//! - [`PD_NIL`] (0): nothing pending, nobody waiting;
//! - [`PD_READY`] (1): the poller saw readiness that nobody has consumed yet;
//! - [`PD_WAIT`] (2): a goroutine is about to park (it has announced itself but
//!   has not switched out yet);
//! - a `*G` (any larger value): that goroutine is parked on this direction.
//!
//! # The protocol
//!
//! A goroutine whose read returned `WouldBlock` calls [`prepare`]: a pending
//! `READY` is consumed at once (the data arrived between the syscall and now, so
//! retry the syscall); otherwise `NIL → WAIT`. After the goroutine has switched
//! out, g0 runs [`commit`] (`WAIT → G`); if that CAS fails, the word was moved by
//! the poller, a deadline or a close in the meantime, and the goroutine is resumed
//! at once instead of parking — no wake-up is lost in the window between deciding
//! to park and being parked. Either way the goroutine ends with [`finish`], which
//! resets the word to `NIL` and reports whether readiness was the reason.
//!
//! The other side — the poller with readiness, or a deadline/close without it —
//! calls [`unblock`]: readiness leaves `READY` behind (so a later wait consumes it
//! without parking), a deadline or close leaves `NIL`; a parked goroutine found in
//! the word is returned for the caller to make runnable.
//!
//! A deadline or close publishes its reason (the descriptor's `info` bits) before
//! calling [`unblock`]; the waiter reads those bits after [`prepare`]. Both sides
//! put a SeqCst fence between their write and their read (a store-buffer
//! pattern), so at least one of them sees the other: either the waiter sees the
//! reason and does not park, or the unblocker sees `WAIT`/`G` and moves it. The
//! loom models (`loom_model.rs`) check the races on these functions, and a
//! negative model shows that publishing the reason *after* unblocking loses the
//! wake-up.

use crate::loom::atomic::{fence, AtomicUsize, Ordering};

/// Nothing pending (`pdNil`).
pub(crate) const PD_NIL: usize = 0;
/// Readiness seen, not consumed yet (`pdReady`).
pub(crate) const PD_READY: usize = 1;
/// A goroutine is about to park (`pdWait`).
pub(crate) const PD_WAIT: usize = 2;

/// The first half of `netpollblock`: returns true if readiness was pending (and is
/// now consumed: retry the I/O), false if the caller is now announced as waiting
/// (`WAIT`) and must check for errors, then park or [`finish`].
pub(crate) fn prepare(gpp: &AtomicUsize) -> bool {
    loop {
        if gpp
            .compare_exchange(PD_READY, PD_NIL, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            return true;
        }
        if gpp
            .compare_exchange(PD_NIL, PD_WAIT, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            // Order the announcement before the caller's read of the error bits
            // (see the module comment).
            fence(Ordering::SeqCst);
            return false;
        }
        let v = gpp.load(Ordering::Acquire);
        if v != PD_READY && v != PD_NIL {
            double_wait();
        }
    }
}

#[cold]
fn double_wait() -> ! {
    #[cfg(not(loom))]
    crate::panic::throw(
        "runtime: netpollblock: double wait (two goroutines wait on one direction of a socket)",
    );
    #[cfg(loom)]
    panic!("netpollblock: double wait");
}

/// `netpollblockcommit`: run on g0 once the goroutine `g` has switched out.
/// Publishes it as the waiter; false if the word moved since [`prepare`] (the
/// goroutine must be resumed at once, not parked).
pub(crate) fn commit(gpp: &AtomicUsize, g: usize) -> bool {
    debug_assert!(g > PD_WAIT);
    gpp.compare_exchange(PD_WAIT, g, Ordering::AcqRel, Ordering::Acquire)
        .is_ok()
}

/// The end of `netpollblock`, after the goroutine resumed (or never parked):
/// resets the word and returns whether readiness woke it.
pub(crate) fn finish(gpp: &AtomicUsize) -> bool {
    let old = gpp.swap(PD_NIL, Ordering::AcqRel);
    if old > PD_WAIT {
        #[cfg(not(loom))]
        crate::panic::throw("runtime: netpollblock: corrupted state");
        #[cfg(loom)]
        panic!("netpollblock: corrupted state");
    }
    old == PD_READY
}

/// `netpollunblock`: with `ioready`, records readiness; without, a deadline or
/// close ends any wait. Returns the parked goroutine to wake, if there is one.
/// A caller without `ioready` must have published its reason before this call.
pub(crate) fn unblock(gpp: &AtomicUsize, ioready: bool) -> Option<usize> {
    if !ioready {
        fence(Ordering::SeqCst);
    }
    loop {
        let old = gpp.load(Ordering::Acquire);
        if old == PD_READY {
            return None;
        }
        if old == PD_NIL && !ioready {
            // Nobody waits; nothing to record for a deadline or close.
            return None;
        }
        let new = if ioready { PD_READY } else { PD_NIL };
        if gpp
            .compare_exchange(old, new, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            // WAIT → the goroutine has not parked yet; its commit will fail.
            return (old > PD_WAIT).then_some(old);
        }
    }
}
