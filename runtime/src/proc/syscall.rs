//! System calls: a goroutine about to block its thread lends its P to the rest of
//! the program, and the call itself runs on the M's own stack.
//!
//! Models `runtime/proc.go`: `entersyscall`/`reentersyscall`, `exitsyscall`,
//! `exitsyscallfast`, `exitsyscall0`, `handoffp`, and the syscall half of `retake`
//! (called by sysmon, `sysmon.rs`); and `systemstack` (`asm_amd64.s`), which the
//! call runs under.
//!
//! # The call runs on g0 ([`syscall`])
//!
//! Go's `entersyscall` records `gp.syscallsp`, the caller's stack pointer, so
//! that the collector scans a goroutine in a system call from there: Go's system
//! calls are short assembly stubs that do not touch the goroutine's stack below
//! it. gort's "system call" is the user's closure, arbitrary Rust that would keep
//! moving the stack pointer below any recorded value. So the goroutine does not
//! run it on its own stack: `arch::systemstack` (Go's `systemstack`) saves the
//! goroutine's context as a switch does and calls [`syscall_g0`] on its M's
//! thread stack (g0), just below g0's saved stack pointer. There `entersyscall`
//! runs, then the closure (a panic is caught, and the goroutine resumes it once
//! it is back), then `exitsyscall`; on its fast path `syscall_g0` returns and the
//! goroutine goes on.
//!
//! The save leaves the goroutine's context in `gp.sched_sp`, exactly as a park
//! does: its callee-saved registers are pushed on its own stack and
//! `[sched_sp, stack top)` holds every live word it has. That value is Go's
//! `syscallsp`, and it is exact for the whole time the goroutine is `Syscall`:
//! the status is set after the save (`entersyscall` runs on g0) and cleared
//! before the goroutine runs again (both ways out of `exitsyscall` run on g0),
//! and the goroutine's stack does not change in between. `StoppedWorld::goroutines`
//! reports it like a parked goroutine's. The closure's captures stay visible
//! there too: [`syscall`] reads the closure out of its frame without clearing its
//! bytes, which stay in the frame until the call returns. (What the closure makes
//! on g0's stack is not visible: it must not hold collected objects of its own.)
//!
//! Costs and consequences:
//!
//! - a `blocking` round trip costs about 10 ns more (`benches/sched.rs`,
//!   `sched/syscall_blocking`: 25 ns before, 36 ns now, in alternating runs on a
//!   loaded 2-core machine): a second save of the callee-saved registers and two
//!   stack-pointer moves, with calls and returns still paired. Switching with
//!   `gort_swap` both ways instead cost three times as much (56 ns against 24 in
//!   one sitting): every switch sends a `ret` somewhere the CPU did not predict;
//!   a real system call costs hundreds of nanoseconds;
//! - the closure gets the thread's 8 MiB stack instead of the rest of the
//!   goroutine's 256 KiB. A stack overflow there is the thread's, reported by
//!   std's handler (`thread 'gort-mN' has overflowed its stack`), not the
//!   goroutine's (`signal.rs` recognises goroutine guard pages only);
//! - a panic's backtrace, captured on g0 by the panic hook, still shows the whole
//!   stack: `gort_systemstack`'s unwind info leads from the closure's frames back
//!   to the goroutine's, and Go's report names the goroutine (`m.curg` is still
//!   it);
//! - `blocking` inside the closure finds no P and just runs its closure there
//!   (nesting is as before); the closure must not use the runtime, and the
//!   checks that say so still fire (the goroutine is `Syscall`).
//!
//! The slow way back (no P to be had) cannot return to the goroutine: g0 must
//! queue it (`exitsyscall0`) and park the M. `syscall_g0` switches to g0's saved
//! context (`After::ExitSyscall`) and is abandoned; the goroutine is already
//! saved at `sched_sp`, with `gort_swap`'s layout, so whichever M runs it next
//! resumes it there and `systemstack` returns into it as if `syscall_g0` had.
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
//! The M that lost its P tries any idle P; failing that, g0 (`exitsyscall0`)
//! queues the goroutine on the global queue and the M parks.
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
use std::mem::ManuallyDrop;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Bytes left free between g0's saved stack pointer and the stack pointer a
/// system call starts with. Nothing of g0 lives below its saved stack pointer (it
/// stopped inside `gort_swap`, which keeps nothing in the red zone), so this is
/// insurance: the size of x86-64's red zone, keeping the reasoning independent of
/// that fact.
const G0_GAP: usize = 128;

/// Runs `f` on the current M's g0 stack as a system call of the current goroutine
/// (see the module docs): the goroutine switches out, leaving its context at
/// `gp.sched_sp` (Go's `syscallsp`) for the whole call, and is resumed, holding a
/// P again and possibly on another M, when `f` has returned. A panic in `f` is
/// returned as `Err`, for the caller to resume on the goroutine.
///
/// Must be called on a goroutine whose M holds a running P.
pub(crate) fn syscall<T>(f: impl FnOnce() -> T) -> std::thread::Result<T> {
    let m = getm().expect("syscall: not on an M");
    let gp = m.curg().expect("syscall: no goroutine");
    // `f`'s bytes stay here, in the goroutine's frame above `sched_sp`, for the
    // whole call: `take` copies them out without clearing them, so a collector
    // scanning `[sched_sp, hi)` still sees what `f` captured.
    let mut f = ManuallyDrop::new(f);
    let mut result = None;
    let mut call = || {
        // SAFETY: `call` runs exactly once (`syscall_g0` calls it once), so `f` is
        // taken once, and never dropped in place.
        let f = unsafe { ManuallyDrop::take(&mut f) };
        result = Some(catch_unwind(AssertUnwindSafe(f)));
    };
    let mut on_g0 = OnG0 {
        call: &mut call,
        m,
        gp,
    };
    // A call from a `Drop` while the goroutine unwinds must come back to this
    // thread, which holds std's panic state, if it comes back the slow way: the
    // goroutine is locked to it meanwhile (`lockos.rs`).
    let unwinding = std::thread::panicking();
    if unwinding {
        crate::proc::lockos::lock_internal(m, gp);
    }
    // SAFETY: this goroutine runs on `m`, so g0 is suspended at `g0_sp` (`execute`
    // saved it there), and the g0 stack below it is unused until g0 resumes —
    // which happens only after `syscall_g0` has returned or switched away for
    // good (g0 is a thread stack of megabytes). `arg` points at `on_g0` in this
    // frame, which stays valid and untouched until `systemstack` returns.
    // `syscall_g0` does not unwind (the call catches its panic). Our context is
    // saved in `sched_sp`; if `syscall_g0` switches to g0 instead of returning,
    // g0 resumes us from there, once.
    unsafe {
        let arg = &mut on_g0 as *mut OnG0<'_> as *mut u8;
        crate::arch::systemstack(gp.sched_sp.get(), *m.g0_sp.get() - G0_GAP, syscall_g0, arg);
    }
    // Back on the goroutine, Running, with a P. (`m` may be stale: the slow path
    // resumes us on whichever M found us on the global queue.)
    if unwinding {
        let m = getm().expect("syscall: resumed off an M");
        crate::proc::lockos::unlock_internal(m, gp);
    }
    result.expect("syscall: resumed before the call ran")
}

/// What the goroutine hands the g0 side of its call: the call, and the M and G
/// it runs for (the g0 side runs on that M's thread, so they stay right).
struct OnG0<'a> {
    call: &'a mut dyn FnMut(),
    m: &'static M,
    gp: &'static G,
}

/// The g0 side of a system call (Go's `systemstack` function): enter, run the
/// call, exit. Returns to the goroutine if this M got a P back; otherwise hands
/// over to g0 for good (the slow path: `exitsyscall0` queues the goroutine, and
/// whichever M runs it next swaps to its `sched_sp`, returning from
/// `systemstack` as if this function had returned).
///
/// # Safety
/// `arg` is the `OnG0` that [`syscall`] passes, and this runs on g0's stack of
/// that M, below g0's saved context.
unsafe extern "C" fn syscall_g0(arg: *mut u8) {
    // SAFETY: the caller's contract: `arg` points at a live `OnG0` in the
    // suspended goroutine's frame, which nobody else touches meanwhile.
    let on_g0 = unsafe { &mut *(arg as *mut OnG0<'_>) };
    let (m, gp) = (on_g0.m, on_g0.gp);
    entersyscall(m, gp);
    (on_g0.call)();
    if exitsyscall(m, gp) {
        return;
    }
    m.after.set(After::ExitSyscall);
    // The save slot of this context, which nobody resumes: nothing in it needs
    // dropping.
    let mut abandoned = 0usize;
    // SAFETY: g0 is suspended at `g0_sp`, above this frame, which is never
    // touched again; gp's context is saved in `sched_sp` for whoever resumes it.
    unsafe { crate::arch::swap(&mut abandoned, *m.g0_sp.get()) };
    crate::panic::throw("syscall: the g0 side of a finished system call was resumed")
}

/// `reentersyscall`: `gp`, running on `m` and switched out to the g0 side of its
/// call, is about to block its thread.
fn entersyscall(m: &'static M, gp: &G) {
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

/// `exitsyscall`, on the g0 side of the call (`gp` is switched out): get a P back
/// before the goroutine runs again. True if this M holds one and `gp` is
/// `Running`; false if the slow path must queue `gp` (`exitsyscall0`).
fn exitsyscall(m: &'static M, gp: &'static G) -> bool {
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
        return true;
    }
    // Any idle P will do.
    if sched.npidle.load(Ordering::SeqCst) > 0 && exitsyscall_pidle(m, gp) {
        stop_if_shut_down(sched, gp);
        return true;
    }
    false
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

/// `exitsyscall0`, on g0 of an M without a P, for a goroutine whose call found no
/// P (`gp` is suspended at `sched_sp` since the call began). Returns true
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
