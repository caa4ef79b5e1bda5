//! System calls: a goroutine about to block its thread lends its P to the rest of
//! the program.
//!
//! Models `runtime/proc.go`: `entersyscall`/`reentersyscall`, `exitsyscall`,
//! `exitsyscallfast`, `exitsyscall0`, `handoffp`, and the syscall half of `retake`
//! (called by sysmon, `sysmon.rs`).
//!
//! # Protocol
//!
//! A goroutine entering a blocking call ([`entersyscall`]) stays on its M, but the
//! M unwires its P: the P's status becomes `Syscall`, `m.oldp` remembers it, and
//! neither points at the other any more. The P now belongs to whoever changes its
//! status first, with one compare-and-swap:
//!
//! - the M itself, coming back quickly ([`exitsyscall`]'s fast path:
//!   `Syscall → Running`) — the common case costs two atomic stores and a CAS;
//! - sysmon's `retake`, once the call has lasted a sysmon tick and the P has work
//!   to do or nobody else is looking for work, or 10 ms in any case
//!   (`Syscall → Idle`, then [`handoffp`] gives it to another M, starting a thread
//!   if none is idle — this is why threads grow under blocking calls);
//! - stop-the-world (`Syscall → GcStop`), which must not wait for a call that may
//!   never return.
//!
//! The M that lost its P tries any idle P; failing that it switches to g0
//! (`exitsyscall0`), queues the goroutine on the global queue and parks.
//!
//! This is Go's design up to 1.25 (`_Psyscall`). Go 1.26 keeps the P in `_Prunning`
//! during a call and arbitrates through the goroutine's `_Gscan` bit instead, which
//! saves work on the fast path; the explicit status is easier to read and to
//! model, and the race it decides is the same.
//!
//! Code inside [`crate::syscall::blocking`] runs without a P: it must not call back
//! into the runtime (spawn, channels, sleep). gort checks this and panics.

use crate::loom::atomic::Ordering;
use crate::proc::g::{Status, G};
use crate::proc::idle;
use crate::proc::m::{getm, After, M};
use crate::proc::p::{PStatus, P};
use crate::proc::sched::{acquirep, startm, Locked, Sched};

/// `reentersyscall`: the current goroutine is about to block its thread.
pub(crate) fn entersyscall() {
    let m = getm().expect("entersyscall: not on an M");
    let gp = m.curg().expect("entersyscall: no goroutine");
    let pp = m.p().expect("entersyscall: no P");
    let sched = m.sched;
    gp.cas_status(Status::Running, Status::Syscall);
    m.oldp.store(pp as *const P as *mut P, Ordering::Relaxed);
    pp.m.store(std::ptr::null_mut(), Ordering::Relaxed);
    m.p.store(std::ptr::null_mut(), Ordering::Relaxed);
    // SeqCst store, then SeqCst load of gcwaiting: stop-the-world does the mirror
    // image (gcwaiting, then every P's status), so at least one of us sees the
    // other and the P is stopped exactly once (both sides CAS it).
    pp.status.store(PStatus::Syscall as u32, Ordering::SeqCst);
    if sched.gcwaiting.load(Ordering::SeqCst) {
        entersyscall_gcwait(sched, pp);
    }
}

/// Stop-the-world is pending: give it our P at once.
fn entersyscall_gcwait(sched: &Sched, pp: &P) {
    let mut l = sched.lock.lock();
    if l.stopwait > 0 && stop_syscall_p(&mut l, pp) && l.stopwait == 0 {
        sched.stopnote.wake();
    }
}

/// With `sched.lock` held (`l`): if `pp`'s M is in a system call, stop the P for
/// a pending stop-the-world and count it. The CAS races with `exitsyscall`'s fast
/// path and sysmon's retake; exactly one of them gets the P. Used by
/// `entersyscall` and by the stopper (`stw.rs`).
pub(crate) fn stop_syscall_p(l: &mut Locked, pp: &P) -> bool {
    let stopped = pp
        .status
        .compare_exchange(
            PStatus::Syscall as u32,
            PStatus::GcStop as u32,
            Ordering::SeqCst,
            Ordering::Relaxed,
        )
        .is_ok();
    if stopped {
        pp.syscalltick.fetch_add(1, Ordering::Relaxed);
        l.stopwait -= 1;
    }
    stopped
}

/// `exitsyscallfast_pidle`: take any idle P and run on. False if none is idle or a
/// stop-the-world is pending.
fn exitsyscall_pidle(m: &'static M, gp: &G) -> bool {
    let sched = m.sched;
    if sched.gcwaiting.load(Ordering::SeqCst) {
        return false;
    }
    let pp = {
        let mut l = sched.lock.lock();
        idle::pidleget(sched, &mut l)
    };
    let Some(pp) = pp else { return false };
    acquirep(m, pp);
    gp.cas_status(Status::Syscall, Status::Running);
    true
}

/// `exitsyscall`: the call returned; get a P back before running Go code again.
pub(crate) fn exitsyscall() {
    let m = getm().expect("exitsyscall: not on an M");
    let gp = m.curg().expect("exitsyscall: no goroutine");
    let sched = m.sched;
    let oldp = m.oldp.swap(std::ptr::null_mut(), Ordering::Relaxed);
    // SAFETY: Ps live in the leaked allp; oldp was set by entersyscall.
    let oldp: &'static P = unsafe { &*oldp };
    // Fast path: nobody took our P.
    if oldp
        .status
        .compare_exchange(
            PStatus::Syscall as u32,
            PStatus::Running as u32,
            Ordering::SeqCst,
            Ordering::Relaxed,
        )
        .is_ok()
    {
        acquirep(m, oldp);
        oldp.syscalltick.fetch_add(1, Ordering::Relaxed);
        gp.cas_status(Status::Syscall, Status::Running);
        stop_if_shut_down(sched, gp);
        return;
    }
    // Any idle P will do.
    if sched.npidle.load(Ordering::SeqCst) > 0 && exitsyscall_pidle(m, gp) {
        stop_if_shut_down(sched, gp);
        return;
    }
    if std::thread::panicking() {
        // Unwinding out of the call: switching goroutines now would hand std's
        // per-thread panic count to whichever goroutine runs next on this thread.
        // Wait on this thread for a P instead (rare: every P busy while a call
        // panics).
        while !exitsyscall_pidle(m, gp) {
            std::thread::sleep(std::time::Duration::from_micros(50));
        }
        return;
    }
    // Slow path: g0 queues us and parks this M (`exitsyscall0`); some M with a P
    // resumes us later, and the call returns then.
    m.mcall(gp, After::ExitSyscall);
}

/// Back from a call with a P: if the runtime was dropped meanwhile, sysmon may
/// have stopped looking (it saw our P in a system call, or idle), so the
/// goroutine asks itself to stop at its next safepoint. (SeqCst after the SeqCst
/// CAS that took the P, against sysmon's SeqCst reads of the P statuses.)
fn stop_if_shut_down(sched: &Sched, gp: &G) {
    if sched.shutdown.load(Ordering::SeqCst) {
        gp.preempt.store(true, Ordering::Relaxed);
    }
}

/// `exitsyscall0`, on g0 of an M without a P after `gp` switched out. Returns true
/// if it found a P, in which case the caller resumes `gp` at once.
pub(crate) fn exitsyscall0(m: &'static M, gp: &'static G) -> bool {
    let sched = m.sched;
    let mut l = sched.lock.lock();
    gp.cas_status(Status::Syscall, Status::Runnable);
    let pp = if sched.gcwaiting.load(Ordering::SeqCst) {
        None
    } else {
        idle::pidleget(sched, &mut l)
    };
    match pp {
        Some(pp) => {
            drop(l);
            acquirep(m, pp);
            gp.cas_status(Status::Runnable, Status::Running);
            true
        }
        None => {
            // Every P is busy (or stopped): whoever holds one finds it here.
            l.runq.push_back(gp.as_ptr());
            sched.runqsize.store(l.runq.size, Ordering::Relaxed);
            false
        }
    }
}

/// `handoffp`: `pp` was taken from an M blocked in a system call (or from one that
/// is parking for good). Start an M for it if there is anything it could do;
/// otherwise put it on the idle list.
pub(crate) fn handoffp(sched: &Sched, pp: &'static P) {
    // Local or global work: run it.
    if !pp.runq.is_empty() || sched.runqsize.load(Ordering::SeqCst) != 0 {
        startm(sched, Some(pp), false);
        return;
    }
    // No one is looking for work and no P is idle: this P becomes a spinning M's,
    // which may find work somewhere.
    if sched.nmspinning.load(Ordering::SeqCst) + sched.npidle.load(Ordering::SeqCst) == 0
        && sched
            .nmspinning
            .compare_exchange(0, 1, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    {
        sched.needspinning.store(0, Ordering::SeqCst);
        startm(sched, Some(pp), true);
        return;
    }
    let mut l = sched.lock.lock();
    if sched.gcwaiting.load(Ordering::SeqCst) {
        pp.set_status(PStatus::GcStop);
        l.stopwait -= 1;
        if l.stopwait == 0 {
            sched.stopnote.wake();
        }
        return;
    }
    if l.runq.size != 0 {
        drop(l);
        startm(sched, Some(pp), false);
        return;
    }
    // The last running P, and no M waits in the poller: someone must stay awake to
    // run timers (Go: to poll the network).
    if sched.npidle.load(Ordering::SeqCst) == sched.gomaxprocs - 1
        && sched.lastpoll.load(Ordering::SeqCst) != 0
    {
        drop(l);
        startm(sched, Some(pp), false);
        return;
    }
    let when = pp.timers.wake_time();
    idle::pidleput(sched, &mut l, pp);
    drop(l);
    if when != 0 {
        crate::time::wake_netpoller(sched, when);
    }
}

/// The syscall half of `retake`, for one P seen in `Syscall` by sysmon at `now`.
/// Returns whether it took the P.
pub(crate) fn retake_syscall(sched: &Sched, pp: &'static P, now: u64) -> bool {
    let t = pp.syscalltick.load(Ordering::Relaxed);
    if pp.sysmon_syscalltick.load(Ordering::Relaxed) != t {
        // A new call since our last look: give it one sysmon tick (≥ 20 µs).
        pp.sysmon_syscalltick.store(t, Ordering::Relaxed);
        pp.sysmon_syscallwhen.store(now, Ordering::Relaxed);
        return false;
    }
    // Nothing for the P to do, and someone else is looking for work anyway: leave
    // it, unless the call has gone on for 10 ms (then take it, so sysmon can rest).
    if pp.runq.is_empty()
        && sched.nmspinning.load(Ordering::SeqCst) + sched.npidle.load(Ordering::SeqCst) > 0
        && pp.sysmon_syscallwhen.load(Ordering::Relaxed) + crate::proc::sysmon::FORCE_PREEMPT_NS
            > now
    {
        return false;
    }
    if pp
        .status
        .compare_exchange(
            PStatus::Syscall as u32,
            PStatus::Idle as u32,
            Ordering::SeqCst,
            Ordering::Relaxed,
        )
        .is_err()
    {
        return false;
    }
    pp.syscalltick.fetch_add(1, Ordering::Relaxed);
    handoffp(sched, pp);
    true
}
