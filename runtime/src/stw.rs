//! Stop-the-world and start-the-world, and what the collector may look at while the
//! world is stopped: every goroutine's stack bounds and saved stack pointer, and
//! every P's allocator-cache slot.
//!
//! Models `runtime/proc.go`: `stopTheWorldWithSema`, `startTheWorldWithSema`,
//! `gcstopm`, `preemptall`, and the `forEachG` walk the collector's root marking uses.
//!
//! # Protocol
//!
//! 1. Take `worldsema` (one stopper at a time).
//! 2. Under `sched.lock`: set `stopwait = gomaxprocs` and `gcwaiting`, flag every
//!    running goroutine for preemption, and stop every idle P at once (`_Pgcstop`,
//!    `stopwait -= 1` each). If the stopper is itself a goroutine, its own P counts as
//!    stopped: it keeps it, Go's way.
//! 3. Each running goroutine reaches a safepoint (any runtime call, or
//!    `preempt_point()`), yields, and its M, back in `find_runnable`, sees `gcwaiting`
//!    and calls `gcstopm`: its P becomes `_Pgcstop`, `stopwait -= 1`, the last one
//!    wakes the stopper, and the M parks.
//! 4. The stopper waits on `stopnote` in 100 µs slices, re-flagging running
//!    goroutines each time (a goroutine may have been scheduled in between).
//!
//! Starting the world clears `gcwaiting`, gives every stopped P with work to an M
//! and puts the others on the idle list, then calls `wakep` in case there is more
//! work than Ms. The pause (from step 1 until every P stopped) is measured and
//! reported, as Go's `gctrace` reports its STW phases.
//!
//! A goroutine that never reaches a safepoint (a tight loop with no calls into the
//! runtime) holds the world up indefinitely: that is Go before 1.14, and the
//! `tight_loop` example shows it. gort has no signal-based asynchronous
//! preemption (Go 1.14's answer).

use crate::loom::atomic::Ordering;
use crate::proc::g::{Status, WaitReason};
use crate::proc::idle;
use crate::proc::m::{getm, M};
use crate::proc::p::{PStatus, P};
use crate::proc::sched::{releasep, startm, wakep, Sched};
use std::time::{Duration, Instant};

pub use crate::malloc::NoPCache;

/// A goroutine's stack as the collector sees it while the world is stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GoroutineStack {
    /// Goroutine id.
    pub goid: u64,
    /// Its status (never `Running` except for the goroutine that stopped the world).
    pub status: Status,
    /// Why it waits, if it does.
    pub wait_reason: WaitReason,
    /// Lowest usable address of its stack.
    pub lo: usize,
    /// One past the highest address; stacks grow down from here.
    pub hi: usize,
    /// The saved stack pointer: `[sp, hi)` holds every live word of the goroutine,
    /// its callee-saved registers included (the context switch pushes them there).
    /// For a goroutine in `syscall::blocking` (status `Syscall`), where it saved
    /// its context to run the call on its thread's stack (Go's `syscallsp`): the
    /// range stays unchanged until the call returns. For the stopping goroutine
    /// itself, an address in its current frame.
    pub sp: usize,
}

/// Proof that the world is stopped; starts it again when dropped.
///
/// It stays on the thread that stopped the world: it is neither `Send` nor
/// `Sync`. A stopping goroutine keeps its P, and [`for_each_p_cache`] and
/// [`no_p_cache`] lend that P's allocation cache and the shared no-P cache. What
/// keeps the stopper's own allocations off a lent cache is state of the stopping
/// thread's M; from another thread that guard would not apply, and the stopper
/// and the borrower could hand out the same slots.
///
/// [`for_each_p_cache`]: StoppedWorld::for_each_p_cache
/// [`no_p_cache`]: StoppedWorld::no_p_cache
///
/// # Example
///
/// ```
/// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
/// unsafe { gort_runtime::run(|| {
///     let world = gort_runtime::stw::stop_the_world();
///     for g in world.goroutines() {
///         assert!(g.lo <= g.sp && g.sp <= g.hi);
///     }
///     println!("stopped in {:?}", world.pause());
/// }) }; // (dropping `world` started it again)
/// ```
///
/// It cannot be moved to another thread:
///
/// ```compile_fail
/// fn on_another_thread<T: Send>(_: T) {}
/// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
/// unsafe { gort_runtime::run(|| {
///     on_another_thread(gort_runtime::stw::stop_the_world());
/// }) };
/// ```
///
/// nor shared with one:
///
/// ```compile_fail
/// fn shared_with_another_thread<T: Sync>(_: &T) {}
/// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
/// unsafe { gort_runtime::run(|| {
///     shared_with_another_thread(&gort_runtime::stw::stop_the_world());
/// }) };
/// ```
pub struct StoppedWorld {
    sched: &'static Sched,
    pause: Duration,
    /// The P kept by a stopping goroutine (Go keeps the caller's P).
    own_p: Option<&'static P>,
    started: Instant,
    /// Neither `Send` nor `Sync`: the lent caches' exclusivity is checked on the
    /// stopping thread only.
    _not_send: std::marker::PhantomData<*const ()>,
}

impl StoppedWorld {
    /// How long stopping took: from the request until the last P halted.
    pub fn pause(&self) -> Duration {
        self.pause
    }

    /// Every live goroutine's stack bounds and saved stack pointer.
    pub fn goroutines(&self) -> Vec<GoroutineStack> {
        let me = crate::proc::m::getg();
        let here = approx_sp();
        self.sched
            .allgs
            .lock()
            .iter()
            .filter(|g| !matches!(g.status(), Status::Dead | Status::Idle))
            .map(|g| {
                let current = me.is_some_and(|m| std::ptr::eq(m, *g));
                GoroutineStack {
                    goid: g.goid(),
                    status: g.status(),
                    wait_reason: g.waitreason(),
                    lo: g.stack().lo,
                    hi: g.stack().hi,
                    sp: if current { here } else { g.saved_sp() },
                }
            })
            .collect()
    }

    /// Calls `f` with each P's id and its allocator cache (Go's `p.mcache`), e.g. to
    /// flush the caches before a sweep (`prepare_for_sweep`, `release_all`).
    /// Allocations `f` itself makes meanwhile go through the shared no-P cache,
    /// never the one it is holding. That shared cache is not visited here: flush
    /// it with [`StoppedWorld::no_p_cache`], first.
    ///
    /// ```
    /// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    /// unsafe { gort_runtime::run(|| {
    ///     let mut world = gort_runtime::stw::stop_the_world();
    ///     let mut n = 0;
    ///     world.for_each_p_cache(|_, c| {
    ///         c.release_all();
    ///         n += 1;
    ///     });
    ///     assert_eq!(n, gort_runtime::gomaxprocs());
    /// }) };
    /// ```
    pub fn for_each_p_cache(&mut self, mut f: impl FnMut(usize, &mut gort_alloc::MCache)) {
        /// Clears the borrow mark even if `f` panics.
        struct Lent(Option<&'static M>);
        impl Drop for Lent {
            fn drop(&mut self) {
                if let Some(m) = self.0 {
                    m.mcache_borrowed.set(false);
                }
            }
        }
        let me = getm().filter(|m| std::ptr::eq(m.sched, self.sched));
        if let Some(m) = me {
            m.mcache_borrowed.set(true);
        }
        let _lent = Lent(me);
        for pp in self.sched.allp.iter() {
            // SAFETY: the world is stopped, so no M runs on any P but the stopper's
            // own, and the stopper's allocations go to the shared cache while
            // `mcache_borrowed` is set; `&mut self` keeps two calls from overlapping.
            f(pp.id as usize, unsafe { pp.mcache_mut() });
        }
    }

    /// Holds the shared cache of allocations without a P (Go's `mcache0`) so the
    /// stopper can flush it. Threads without a P are not stopped by a
    /// stop-the-world, so, unlike the P caches, this one can be allocated from
    /// while the world is stopped: hold it across `Heap::start_sweep` *and*
    /// `prepare_for_sweep`, and no thread allocates from one of its spans cached
    /// before the cycle (see `malloc.rs`). Meanwhile threads without a P wait, and
    /// the stopper must not allocate through gort (that panics: its allocations
    /// would need this very cache). Then flush the P caches with
    /// [`StoppedWorld::for_each_p_cache`].
    ///
    /// ```
    /// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    /// unsafe { gort_runtime::run(|| {
    ///     let heap = gort_alloc::Heap::global();
    ///     let mut world = gort_runtime::stw::stop_the_world();
    ///     {
    ///         let mut no_p = world.no_p_cache();
    ///         heap.start_sweep();
    ///         no_p.prepare_for_sweep();
    ///     }
    ///     world.for_each_p_cache(|_, c| c.prepare_for_sweep());
    /// }) };
    /// ```
    pub fn no_p_cache(&mut self) -> crate::malloc::NoPCache<'_> {
        crate::malloc::NoPCache::lock()
    }

    /// How long the world has been stopped so far.
    pub fn stopped_for(&self) -> Duration {
        self.started.elapsed()
    }
}

impl Drop for StoppedWorld {
    fn drop(&mut self) {
        start_the_world(self.sched, self.own_p);
    }
}

#[inline(never)]
fn approx_sp() -> usize {
    let marker = 0u8;
    std::hint::black_box(&marker) as *const u8 as usize
}

/// Stops the world of the runtime the calling goroutine belongs to.
///
/// # Panics
/// If called outside a goroutine; use [`crate::Runtime::stop_the_world`] there.
pub fn stop_the_world() -> StoppedWorld {
    let m = getm().expect("gort: stop_the_world called outside a goroutine");
    stop_the_world_sched(m.sched)
}

/// `stopTheWorldWithSema`.
pub(crate) fn stop_the_world_sched(sched: &'static Sched) -> StoppedWorld {
    let start = Instant::now();
    sched.worldsema.acquire();
    let own_p = getm()
        .filter(|m| std::ptr::eq(m.sched, sched))
        .and_then(|m| m.p());
    let wait = {
        let mut l = sched.lock.lock();
        // A wake-up left over from the previous stop (its last P stopped after the
        // stopper had already seen `stopwait == 0`) must not end this one early.
        // Every wake happens under this lock, so clearing here is exact.
        sched.stopnote.clear();
        l.stopwait = sched.gomaxprocs as i32;
        sched.gcwaiting.store(true, Ordering::SeqCst);
        // Our own P stops first, so that preemptall (which flags goroutines on
        // running Ps) leaves the stopping goroutine alone.
        if let Some(pp) = own_p {
            pp.set_status(PStatus::GcStop);
            l.stopwait -= 1;
        }
        preemptall(sched);
        if own_p.is_some() {
            // A request sysmon made earlier would make us yield with the world
            // stopped; we are the one goroutine that must keep running.
            if let Some(g) = crate::proc::m::getg() {
                g.preempt.store(false, Ordering::Relaxed);
            }
        }
        stop_syscall_ps(sched, &mut l);
        while let Some(pp) = l.pidle.pop() {
            sched.npidle.fetch_sub(1, Ordering::SeqCst);
            pp.set_status(PStatus::GcStop);
            l.stopwait -= 1;
        }
        l.stopwait > 0
    };
    if wait {
        // `stopwait` under the lock is the truth; the note only hurries us along.
        loop {
            let woken = sched.stopnote.sleep_for(Duration::from_micros(100));
            let mut l = sched.lock.lock();
            if !woken {
                stop_syscall_ps(sched, &mut l);
            }
            if l.stopwait == 0 {
                break;
            }
            drop(l);
            if !woken {
                preemptall(sched);
            }
        }
    }
    debug_assert_eq!(sched.lock.lock().stopwait, 0);
    StoppedWorld {
        sched,
        pause: start.elapsed(),
        own_p,
        started: Instant::now(),
        _not_send: std::marker::PhantomData,
    }
}

/// `startTheWorldWithSema`.
fn start_the_world(sched: &'static Sched, own_p: Option<&'static P>) {
    let mut with_work = Vec::new();
    {
        let mut l = sched.lock.lock();
        sched.gcwaiting.store(false, Ordering::SeqCst);
        // sysmon may have gone to sleep deeply because the world was stopping
        // (it decides under this lock); the stopper's own P runs on without
        // passing through the idle list, which is where sysmon is otherwise
        // woken, so wake it here (Go's startTheWorldWithSema does the same).
        // Asleep, it would neither preempt nor poll the network for a minute.
        if sched.sysmonwait.load(Ordering::Relaxed) {
            sched.sysmonwait.store(false, Ordering::Relaxed);
            sched.sysmonnote.wake();
        }
        for pp in sched.allp.iter() {
            if own_p.is_some_and(|o| std::ptr::eq(o, pp)) {
                pp.set_status(PStatus::Running);
                continue;
            }
            if pp.status() != PStatus::GcStop {
                continue;
            }
            if pp.runq.is_empty() {
                idle::pidleput(sched, &mut l, pp);
            } else {
                pp.set_status(PStatus::Idle);
                with_work.push(pp);
            }
        }
    }
    for pp in with_work {
        startm(sched, Some(pp), false);
    }
    sched.worldsema.release();
    wakep(sched);
}

/// Stops every P whose M is in a system call: the call may never return, so the
/// world does not wait for it (the M finds its P gone when it comes back).
fn stop_syscall_ps(sched: &Sched, l: &mut crate::proc::sched::Locked) {
    for pp in sched.allp.iter() {
        crate::proc::syscall::stop_syscall_p(l, pp);
    }
}

/// `preemptall`: flag every running goroutine to yield at its next safepoint.
fn preemptall(sched: &Sched) {
    for pp in sched.allp.iter() {
        if pp.status() != PStatus::Running {
            continue;
        }
        let m = pp.m.load(Ordering::Acquire);
        if m.is_null() {
            continue;
        }
        // SAFETY: Ms are leaked; the pointer stays valid.
        if let Some(g) = unsafe { &*m }.curg() {
            g.preempt.store(true, Ordering::Relaxed);
        }
    }
}

/// `gcstopm`: this M's P halts for a pending stop-the-world, and the M parks.
pub(crate) fn gcstopm(m: &'static M) {
    let sched = m.sched;
    if m.p().is_some_and(|pp| pp.status() == PStatus::GcStop) {
        // Only the stopper's own P is already stopped: the goroutine holding the
        // StoppedWorld yielded or blocked. Nobody could ever start the world again.
        crate::panic::throw("a goroutine blocked or yielded while it held the world stopped");
    }
    idle::drop_spinning(sched, m);
    let pp = releasep(m);
    {
        let mut l = sched.lock.lock();
        pp.set_status(PStatus::GcStop);
        l.stopwait -= 1;
        if l.stopwait == 0 {
            sched.stopnote.wake();
        }
    }
    // Park until start-the-world hands us a P (or hands ours to someone else).
    idle::stopm(sched, m);
}
