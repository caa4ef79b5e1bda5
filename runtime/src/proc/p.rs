//! P: a processor, the right to run Go code. GOMAXPROCS of them exist; an M must hold
//! one to run goroutines.
//!
//! Models `runtime/runtime2.go` (`type p`, `_Pidle` … `_Pdead`) and the P-side
//! helpers of `runtime/proc.go` (`gfput`, `gfget`, goid batches).
//!
//! A P carries everything that makes the fast paths lock-free: the local run queue
//! and `runnext` (`runq.rs`), the gFree list, a batch of goroutine ids, and a slot for
//! the allocator's per-P cache (`mcache`) from the process-wide heap. Only
//! the M holding the P touches its non-atomic fields; other threads read the atomic
//! ones (status, tick counters, run queue length) for stealing and tracing.

use crate::loom::atomic::{AtomicI64, AtomicPtr, AtomicU32, AtomicU64, Ordering};
use crate::proc::g::{GQueue, G};
use crate::proc::m::M;
use crate::proc::runq::RunQ;
use std::cell::{Cell, UnsafeCell};

/// A P's status (numbered as Go's, so scheddetail's `status=N` matches).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum PStatus {
    /// Not running user code; on the idle list (`_Pidle`).
    Idle = 0,
    /// Held by an M running user code or the scheduler (`_Prunning`).
    Running = 1,
    /// Its M is in a system call (`_Psyscall`, Go's design up to 1.25; see
    /// `proc/syscall.rs`). Whoever CASes it away first — the M returning, sysmon's
    /// `retake`, or stop-the-world — owns the P.
    Syscall = 2,
    /// Halted for stop-the-world (`_Pgcstop`).
    GcStop = 3,
    /// Beyond GOMAXPROCS (`_Pdead`).
    Dead = 4,
}

/// Goroutine ids taken from the global counter at a time (`_GoidCacheBatch`).
const GOID_CACHE_BATCH: u64 = 16;
/// A P's gFree list moves Gs to the global list when it holds this many …
pub(crate) const GFREE_LOCAL_MAX: u32 = 64;
/// … down to this many; an empty list refills up to this many.
pub(crate) const GFREE_LOCAL_KEEP: u32 = 32;

/// A processor.
pub(crate) struct P {
    /// Index in `allp`.
    pub(crate) id: u32,
    /// `PStatus` as u32. Written under `sched.lock` or by the holding M.
    pub(crate) status: AtomicU32,
    /// The M holding this P, or null. Read by scheddetail and stealers.
    pub(crate) m: AtomicPtr<M>,
    /// Incremented on every scheduler call that is not an inherited time slice.
    /// sysmon compares it across its rounds to find a goroutine running too long.
    pub(crate) schedtick: AtomicU32,
    /// Incremented on every system call (used by the syscall work).
    pub(crate) syscalltick: AtomicU32,
    /// Local run queue and `runnext`.
    pub(crate) runq: RunQ<G>,
    /// Dead Gs with stacks, for reuse. Owner only.
    pub(crate) gfree: UnsafeCell<GQueue>,
    /// Mirror of `gfree.size` for traces.
    pub(crate) gfreecnt: AtomicU32,
    /// Next goroutine id to hand out, and the end of this P's batch. Owner only.
    goidcache: Cell<u64>,
    goidcacheend: Cell<u64>,
    /// The allocator's per-P cache (Go's `p.mcache`), made with the P and kept with
    /// it across Ms. Only the holder of the P uses it (`malloc.rs`), or a stopper
    /// while the world is stopped (`StoppedWorld::for_each_p_cache`).
    pub(crate) mcache: UnsafeCell<gort_alloc::MCache>,
    /// Goroutines started minus goroutines ended on this P. Written only by the
    /// holder of the P; summed by `Sched::gcount`.
    pub(crate) gcount: AtomicI64,
    /// sysmon's view: the schedtick it last saw and when (ns since runtime start).
    pub(crate) sysmon_schedtick: AtomicU32,
    pub(crate) sysmon_schedwhen: AtomicU64,
    /// sysmon's view of system calls: the syscalltick it last saw and when.
    pub(crate) sysmon_syscalltick: AtomicU32,
    pub(crate) sysmon_syscallwhen: AtomicU64,
    /// This P's timers (`p.timers`): a 4-ary heap run from the scheduler loop.
    pub(crate) timers: crate::time::timer::Timers,
}

// SAFETY: the Cell/UnsafeCell fields are owner-only: used only by the M that holds
// the P, and holding passes between Ms under `sched.lock` (acquirep/releasep). The
// mcache is also lent to a stopper while the world is stopped, when no M runs on
// the P (`StoppedWorld::for_each_p_cache`).
unsafe impl Sync for P {}
// SAFETY: as above.
unsafe impl Send for P {}

impl P {
    pub(crate) fn new(id: u32) -> P {
        P {
            id,
            status: AtomicU32::new(PStatus::Idle as u32),
            m: AtomicPtr::new(std::ptr::null_mut()),
            schedtick: AtomicU32::new(0),
            syscalltick: AtomicU32::new(0),
            runq: RunQ::new(),
            gfree: UnsafeCell::new(GQueue::new()),
            gfreecnt: AtomicU32::new(0),
            goidcache: Cell::new(0),
            goidcacheend: Cell::new(0),
            mcache: UnsafeCell::new(gort_alloc::Heap::global().new_mcache()),
            gcount: AtomicI64::new(0),
            sysmon_schedtick: AtomicU32::new(0),
            sysmon_schedwhen: AtomicU64::new(0),
            sysmon_syscalltick: AtomicU32::new(0),
            sysmon_syscallwhen: AtomicU64::new(0),
            timers: crate::time::timer::Timers::new(),
        }
    }

    pub(crate) fn status(&self) -> PStatus {
        match self.status.load(Ordering::Acquire) {
            0 => PStatus::Idle,
            1 => PStatus::Running,
            2 => PStatus::Syscall,
            3 => PStatus::GcStop,
            _ => PStatus::Dead,
        }
    }

    pub(crate) fn set_status(&self, s: PStatus) {
        self.status.store(s as u32, Ordering::Release);
    }

    /// Next goroutine id, from this P's batch (`newproc1`'s goidcache).
    pub(crate) fn next_goid(&self, goidgen: &AtomicU64) -> u64 {
        if self.goidcache.get() == self.goidcacheend.get() {
            let end = goidgen.fetch_add(GOID_CACHE_BATCH, Ordering::Relaxed) + GOID_CACHE_BATCH;
            self.goidcache.set(end - GOID_CACHE_BATCH + 1);
            self.goidcacheend.set(end + 1);
        }
        let id = self.goidcache.get();
        self.goidcache.set(id + 1);
        id
    }

    /// Owner only: adds `d` to this P's goroutine count (a plain load and store, no
    /// read-modify-write: nobody else writes it).
    pub(crate) fn gcount_add(&self, d: i64) {
        self.gcount
            .store(self.gcount.load(Ordering::Relaxed) + d, Ordering::Relaxed);
    }

    /// The owner's view of this P's allocator cache.
    ///
    /// # Safety
    /// Only the M holding this P (or the stopper of a stopped world) may call it,
    /// and must not keep two results alive.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn mcache_mut(&self) -> &mut gort_alloc::MCache {
        // SAFETY: by the caller's contract, no other reference exists.
        unsafe { &mut *self.mcache.get() }
    }

    /// The owner's view of the local gFree list.
    ///
    /// # Safety
    /// Only the M holding this P may call it, and must not keep two results alive.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn gfree_mut(&self) -> &mut GQueue {
        // SAFETY: by the caller's contract, no other reference exists.
        unsafe { &mut *self.gfree.get() }
    }
}
