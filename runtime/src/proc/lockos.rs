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
//!   its park note, listed in `midlelocked` (Go's count `nmidlelocked`) so that
//!   deadlock detection does not mistake it for a running M.
//! - When another M finds the locked goroutine runnable, it hands its own P to the
//!   locked M, wakes it, and parks itself ([`startlockedm`]). The locked M takes
//!   the P and runs its goroutine.
//! - The two can meet in either order: a goroutine that yields is runnable at
//!   once, and another M may hand the locked M a P before that M has listed
//!   itself idle. Both look under `sched.lock`: the later of the two sees what
//!   the earlier did (listed: unlist, hand over, wake; not listed yet: hand over
//!   only, and the locked M takes the P without sleeping). Go uncounts blindly
//!   (`incidlelocked(-1)` in `startlockedm`), so its `nmidlelocked` can read -1
//!   for a moment; gort's count, the list's length, cannot.
//!   `proc/lockos_model.rs` checks both orders, and shutdown, under loom.
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
use crate::proc::sched::{acquirep, releasep, Locked};

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
///
/// The goroutine may be runnable again before we get here (it yielded, or was
/// woken at once) and another M may already have run [`startlockedm`] for it.
/// Whether it found us listed in `midlelocked` decides who does what, and both
/// sides look and act under `sched.lock`: listed, it unlists us, hands us its P
/// and wakes us; not listed yet, it only sets our `nextp`, and we take the P
/// here without sleeping. Shutdown is read under the lock too, so once we have
/// left for it no P is handed to us any more.
pub(crate) fn stoplockedm(m: &'static M) -> bool {
    let sched = m.sched;
    if m.p().is_some() {
        let pp = releasep(m);
        crate::proc::syscall::handoffp(sched, pp);
    }
    let mut listed = false;
    loop {
        {
            let mut l = sched.lock.lock();
            let pp = m.nextp.swap(std::ptr::null_mut(), Ordering::Acquire);
            if !pp.is_null() {
                drop(l);
                // SAFETY: `nextp` is null or a P of the leaked allp.
                acquirep(m, unsafe { &*pp });
                return true;
            }
            if sched.shutdown.load(Ordering::SeqCst) {
                // No P was handed to us, so we are still listed if we listed
                // ourselves.
                unlist(&mut l, m);
                return false;
            }
            if !listed {
                // checkdead must not count us as running: we wait for a
                // goroutine like any idle M.
                l.midlelocked.push(m);
                listed = true;
                // Go's `incidlelocked(1)` judges: this may have been the last
                // running M (an M that went idle just before us counted us as
                // running).
                crate::proc::sched::checkdead(sched, &l);
            }
        }
        // Woken by startlockedm (nextp is set) or by the runtime's drop.
        m.park();
    }
}

/// `startlockedm`: this M (`m`) found `gp` runnable, but it belongs to `lm`. Hand
/// our P to `lm` and wake it if it sleeps; this M then has no P and goes idle.
///
/// Go decrements `nmidlelocked` here unconditionally (`incidlelocked(-1)`),
/// before `lm` may have counted itself in `stoplockedm`: the count reads -1
/// until it does (scheddetail printed `nmidlelocked=-1`). gort unlists `lm`
/// only if it is listed; if it is not, it has yet to look at `nextp` under the
/// lock and will find the P there, so it needs no wake-up either.
///
/// Unless the runtime is shutting down: then an unlisted `lm` may have left for
/// good (`stoplockedm` returned false), and a P handed to it would stay in its
/// `nextp`, counted running, for ever. We keep the P, and `gp` is abandoned
/// as `execute` would have abandoned it on `lm` (`shutdown_abandons`); our
/// next `find_runnable` puts the P back on the idle list.
pub(crate) fn startlockedm(m: &'static M, gp: &'static G, lm: &'static M) {
    let sched = m.sched;
    let mut l = sched.lock.lock();
    let asleep = unlist(&mut l, lm);
    if !asleep && sched.shutdown.load(Ordering::SeqCst) {
        crate::proc::idle::globrunqput(sched, &mut l, gp);
        drop(l);
        crate::proc::sched::abandon(gp);
        return;
    }
    let pp = releasep(m);
    lm.nextp.store(pp as *const _ as *mut _, Ordering::Release);
    drop(l);
    if asleep {
        lm.park.wake();
    }
}

/// Takes `m` off `midlelocked`; returns whether it was there.
fn unlist(l: &mut Locked, m: &M) -> bool {
    let Some(i) = l.midlelocked.iter().position(|&x| x == m) else {
        return false;
    };
    l.midlelocked.swap_remove(i);
    true
}
