//! Wiring a goroutine to its OS thread: `lock_os_thread` / `unlock_os_thread`.
//!
//! Models `runtime/proc.go`: `LockOSThread`, `UnlockOSThread`, `dolockOSThread`,
//! `dounlockOSThread`, `lockOSThread`/`unlockOSThread` (the runtime's internal
//! lock), `stoplockedm`, `startlockedm`, and what `gdestroy` does to a locked thread.
//!
//! # Protocol
//!
//! Locking records the pair both ways (`g.lockedm`, `m.lockedg`) and counts the
//! nesting (`m.lockedExt`). From then on only that M runs that G, and that M runs
//! nothing else:
//!
//! - When the locked goroutine blocks or yields, its M comes back to `schedule`,
//!   sees `lockedg`, hands its P off ([`stoplockedm`]: `handoffp`) and sleeps on
//!   its park note, counted in `nmidlelocked` so that deadlock detection does not
//!   mistake it for a running M.
//! - When another M finds the locked goroutine runnable, it hands its own P to the
//!   locked M, wakes it, and parks itself ([`startlockedm`]). The locked M takes
//!   the P and runs its goroutine.
//! - A goroutine that exits while still locked takes its thread with it: the M
//!   gives its P away and the thread ends, because the goroutine may have left the
//!   thread in a state nobody else should inherit (Go's rule).
//!
//! Use it for thread-affine code: thread-local state of C libraries, GUI main
//! loops, per-thread namespaces or credentials.
//!
//! # The runtime's own lock: blocking while panicking
//!
//! Go counts two kinds of lock (`m.lockedExt` for `LockOSThread`, `m.lockedInt`
//! for the runtime's own uses); the goroutine stays wired while either is
//! non-zero. gort's one internal use is a goroutine that blocks while it unwinds
//! a panic — a `Drop` that takes a contended `sync::Mutex` or receives from a
//! channel, as Go's deferred calls may. Rust's panic state (the panic count, the
//! exception in flight) belongs to the OS thread, so such a goroutine must
//! resume on the thread it parked on, and that thread must run nothing else
//! meanwhile: exactly what a locked goroutine gets. `gopark` takes the internal
//! lock around the park when the thread is panicking ([`lock_internal`],
//! [`unlock_internal`]), and so does `syscall::blocking` around a call that may
//! come back the slow way; a user's own `lock_os_thread` nests with it. The M
//! sleeps in `stoplockedm`, counted in `nmidlelocked`, so a Drop that waits for
//! ever is still found by `checkdead` once nothing else can run. (`yield_now`
//! and preemption simply do nothing while panicking: there is no reason to
//! switch.)

use crate::loom::atomic::Ordering;
use crate::proc::g::G;
use crate::proc::m::{getm, M};
use crate::proc::sched::{acquirep, releasep};

/// `LockOSThread`. See [`crate::lock_os_thread`].
pub(crate) fn lock_os_thread() {
    let m = getm().expect("gort: lock_os_thread called outside a goroutine");
    let gp = m
        .curg()
        .expect("gort: lock_os_thread called outside a goroutine");
    let n = m.locked_ext.get();
    if n == u32::MAX {
        panic!("LockOSThread nesting overflow");
    }
    m.locked_ext.set(n + 1);
    dolock_os_thread(m, gp);
}

/// `UnlockOSThread`. See [`crate::unlock_os_thread`].
pub(crate) fn unlock_os_thread() {
    let Some(m) = getm() else { return };
    let Some(gp) = m.curg() else { return };
    let n = m.locked_ext.get();
    if n == 0 {
        return;
    }
    m.locked_ext.set(n - 1);
    dounlock_os_thread(m, gp);
}

/// `dolockOSThread`: wires `gp` and `m` to each other.
fn dolock_os_thread(m: &'static M, gp: &'static G) {
    gp.lockedm.store(m.as_ptr(), Ordering::Release);
    m.lockedg.store(gp.as_ptr(), Ordering::Release);
}

/// `dounlockOSThread`: unwires them once neither kind of lock holds.
fn dounlock_os_thread(m: &M, gp: &G) {
    if m.locked_ext.get() != 0 || m.locked_int.get() != 0 {
        return;
    }
    gp.lockedm.store(std::ptr::null_mut(), Ordering::Release);
    m.lockedg.store(std::ptr::null_mut(), Ordering::Release);
}

/// `lockOSThread`, the runtime's own: `gp` (running on `m`) stays on this thread
/// until [`unlock_internal`].
pub(crate) fn lock_internal(m: &'static M, gp: &'static G) {
    m.locked_int.set(m.locked_int.get() + 1);
    dolock_os_thread(m, gp);
}

/// `unlockOSThread`, the runtime's own.
pub(crate) fn unlock_internal(m: &M, gp: &G) {
    let n = m.locked_int.get();
    if n == 0 {
        crate::panic::throw("unlock_internal: the runtime's lock of the thread is not held");
    }
    m.locked_int.set(n - 1);
    dounlock_os_thread(m, gp);
}

/// The goroutine locked to `m`, if any.
pub(crate) fn lockedg(m: &M) -> Option<&'static G> {
    let g = m.lockedg.load(Ordering::Acquire);
    // SAFETY: Gs are never freed.
    (!g.is_null()).then(|| unsafe { G::from_ptr(g) })
}

/// The M `gp` is locked to, if any.
pub(crate) fn lockedm(gp: &G) -> Option<&'static M> {
    let m = gp.lockedm.load(Ordering::Acquire);
    // SAFETY: Ms are leaked and live for the process.
    (!m.is_null()).then(|| unsafe { &*m })
}

/// `stoplockedm`: `m`'s locked goroutine is not runnable; give the P away and sleep
/// until another M hands us one together with the goroutine. Returns false if the
/// runtime shut down meanwhile.
pub(crate) fn stoplockedm(m: &'static M) -> bool {
    let sched = m.sched;
    if m.p().is_some() {
        let pp = releasep(m);
        crate::proc::syscall::handoffp(sched, pp);
    }
    // checkdead must not count us as running: we wait for a goroutine like any
    // idle M. Under sched.lock, where checkdead reads it.
    {
        let l = sched.lock.lock();
        sched.nmidlelocked.fetch_add(1, Ordering::SeqCst);
        // Go's `incidlelocked(1)` judges: this may have been the last running M
        // (an M that went idle just before us counted us as running).
        crate::proc::sched::checkdead(sched, &l);
    }
    loop {
        if sched.shutdown.load(Ordering::SeqCst) {
            let _l = sched.lock.lock();
            sched.nmidlelocked.fetch_sub(1, Ordering::SeqCst);
            return false;
        }
        m.park();
        let pp = m.nextp.swap(std::ptr::null_mut(), Ordering::Acquire);
        if !pp.is_null() {
            // SAFETY: Ps live in the leaked allp.
            acquirep(m, unsafe { &*pp });
            return true;
        }
    }
}

/// `startlockedm`: this M (`m`) found `gp` runnable, but it belongs to `lm`. Hand
/// our P to `lm` and wake it; this M then has no P and goes idle.
pub(crate) fn startlockedm(m: &'static M, lm: &'static M) {
    let sched = m.sched;
    let pp = releasep(m);
    {
        let _l = sched.lock.lock();
        sched.nmidlelocked.fetch_sub(1, Ordering::SeqCst);
    }
    lm.nextp.store(pp as *const _ as *mut _, Ordering::Release);
    lm.park.wake();
}
