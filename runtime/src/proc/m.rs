//! M: an OS thread running the scheduler, and the one audited door to "where am I".
//!
//! Models `runtime/runtime2.go` (`type m`) and `runtime/proc.go` (`newm`, `mstart`,
//! `mput`, `mget`, `acquirep`, `releasep`).
//!
//! Each M runs `schedule` on its own thread stack — Go's g0 — and switches into
//! goroutines from there. `g0_sp` is where g0's context is saved while a goroutine
//! runs; `after` is the note a goroutine leaves for g0 when it switches back (Go's
//! `mcall(fn)` argument): park, yield, exit or die.
//!
//! # The thread-local hazard
//!
//! A goroutine may park on one thread and resume on another. LLVM may compute the
//! address of a thread-local once and reuse it across a call, so a goroutine must
//! never hold a `thread_local!` reference across a switch. The runtime reaches the
//! current M only through [`getm`], which is `#[inline(never)]` and returns a plain
//! pointer, fetched afresh after every switch. User code must follow the same rule
//! for its own thread-locals: it is the `# Safety` contract of `run`.

use crate::loom::atomic::{AtomicBool, AtomicPtr, Ordering};
use crate::proc::g::G;
use crate::proc::note::Note;
use crate::proc::p::P;
use crate::proc::sched::Sched;
use std::cell::{Cell, UnsafeCell};

/// Go's `gopark(unlockf, lock)`: a function g0 calls with `data` after the goroutine
/// has switched out. `data` must not point into the goroutine's stack: the moment
/// `f` publishes the goroutine, another M may resume it and reuse that memory while
/// `f` is still running (typically `data` is the address of the primitive's lock).
#[derive(Clone, Copy)]
pub(crate) struct UnlockF {
    /// Returns false to cancel the park and resume the goroutine at once.
    pub(crate) f: unsafe fn(data: *const (), gp: &'static G) -> bool,
    pub(crate) data: *const (),
}

/// What a goroutine asks g0 to do after switching away (Go's `mcall` functions).
pub(crate) enum After {
    /// Nothing pending.
    None,
    /// `park_m`: mark the G waiting, then run `unlockf` (if any); if it returns
    /// false, resume the G at once.
    Park(Option<UnlockF>),
    /// `gosched_m` / `gopreempt_m`: back to the global run queue.
    Gosched,
    /// `goexit0`: the goroutine returned.
    Exit,
    /// A `go` goroutine panicked with this message: print it with the goroutine's
    /// backtrace and exit the process with status 2.
    FatalPanic(String),
    /// `exitsyscall0`: the goroutine's system call returned and found no P; run
    /// it on an idle P if one appeared, else queue it globally and stop this M.
    /// Left by the g0 side of the call (`proc/syscall.rs`), not by the goroutine,
    /// whose context is in `sched_sp` since the call began.
    ExitSyscall,
}

/// An M: one OS thread of the runtime.
pub(crate) struct M {
    /// `M<id>` in traces.
    pub(crate) id: i64,
    pub(crate) sched: &'static Sched,
    /// g0's saved stack pointer while a goroutine runs on this M.
    pub(crate) g0_sp: UnsafeCell<usize>,
    /// The goroutine running on this M, or null.
    pub(crate) curg: AtomicPtr<G>,
    /// The P held, or null. Written by this M (acquirep/releasep), read by traces.
    pub(crate) p: AtomicPtr<P>,
    /// The P handed over by whoever woke this M (`startm` sets it, `stopm` takes it).
    pub(crate) nextp: AtomicPtr<P>,
    /// Whether this M is looking for work (counted in `sched.nmspinning`).
    pub(crate) spinning: AtomicBool,
    /// Parked on `park` in `stopm`.
    pub(crate) blocked: AtomicBool,
    /// Where the M sleeps when idle.
    pub(crate) park: Note,
    /// g0's instruction from the goroutine that just switched out. Touched only on
    /// this M's thread.
    pub(crate) after: Cell<After>,
    /// Per-M random state for steal order (`cheaprand`).
    rand: Cell<u64>,
    /// The P this M held when its goroutine entered a system call (`m.oldp`); it
    /// tries to take it back on the way out.
    pub(crate) oldp: AtomicPtr<P>,
    /// The goroutine locked to this thread (`m.lockedg`), or null.
    pub(crate) lockedg: AtomicPtr<G>,
    /// `lock_os_thread` nesting depth (`m.lockedExt`). Touched only by the locked
    /// goroutine, on this thread.
    pub(crate) locked_ext: Cell<u32>,
    /// The runtime's own locks of the goroutine to this thread (`m.lockedInt`):
    /// a goroutine that blocks while unwinding a panic (`lockos.rs`). Touched only
    /// by that goroutine, on this thread.
    pub(crate) locked_int: Cell<u32>,
    /// The thread should end once its locked goroutine has exited (Go's `gdestroy`
    /// of a locked G: the thread's state may have been changed, so it is not reused).
    pub(crate) exiting: Cell<bool>,
    /// A stopper on this M has lent its P's mcache to a `for_each_p_cache` callback:
    /// allocations meanwhile use the shared cache (`malloc.rs`).
    pub(crate) mcache_borrowed: Cell<bool>,
}

// SAFETY: the Cell/UnsafeCell fields (`g0_sp`, `after`, `rand`, `locked_ext`,
// `locked_int`, `exiting`, `mcache_borrowed`) are touched only on
// this M's own thread (by g0 or by the goroutine it runs); others read atomics only.
unsafe impl Sync for M {}
// SAFETY: as above.
unsafe impl Send for M {}

/// An M is its own identity: two references are equal when they are the same M.
impl PartialEq for M {
    fn eq(&self, other: &M) -> bool {
        std::ptr::eq(self, other)
    }
}

impl M {
    pub(crate) fn new(id: i64, sched: &'static Sched) -> &'static M {
        Box::leak(Box::new(M {
            id,
            sched,
            g0_sp: UnsafeCell::new(0),
            curg: AtomicPtr::new(std::ptr::null_mut()),
            p: AtomicPtr::new(std::ptr::null_mut()),
            nextp: AtomicPtr::new(std::ptr::null_mut()),
            spinning: AtomicBool::new(false),
            blocked: AtomicBool::new(false),
            park: Note::new(),
            after: Cell::new(After::None),
            rand: Cell::new(
                0x9E37_79B9_7F4A_7C15 ^ (id as u64).wrapping_mul(0xD1B5_4A32_D192_ED03),
            ),
            oldp: AtomicPtr::new(std::ptr::null_mut()),
            lockedg: AtomicPtr::new(std::ptr::null_mut()),
            locked_ext: Cell::new(0),
            locked_int: Cell::new(0),
            exiting: Cell::new(false),
            mcache_borrowed: Cell::new(false),
        }))
    }

    /// The P this M holds. Only meaningful on this M's thread.
    pub(crate) fn p(&self) -> Option<&'static P> {
        let p = self.p.load(Ordering::Relaxed);
        // SAFETY: Ps live in the leaked `allp` of a leaked Sched.
        (!p.is_null()).then(|| unsafe { &*p })
    }

    pub(crate) fn curg(&self) -> Option<&'static G> {
        let g = self.curg.load(Ordering::Relaxed);
        // SAFETY: Gs are never freed.
        (!g.is_null()).then(|| unsafe { G::from_ptr(g) })
    }

    /// A fast per-M pseudo-random number (xorshift64*), Go's `cheaprand`.
    pub(crate) fn cheaprand(&self) -> u32 {
        let mut x = self.rand.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rand.set(x);
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32) as u32
    }

    pub(crate) fn as_ptr(&'static self) -> *mut M {
        self as *const M as *mut M
    }

    /// Waits for a wake-up: `mPark`.
    pub(crate) fn park(&self) {
        self.blocked.store(true, Ordering::Relaxed);
        self.park.sleep();
        self.blocked.store(false, Ordering::Relaxed);
    }

    /// Leaves an instruction for g0 and switches to it (Go's `mcall`). Returns when
    /// some M resumes this goroutine — possibly a different one, so callers must
    /// call [`getm`] again rather than reuse `self`.
    pub(crate) fn mcall(&self, gp: &'static G, after: After) {
        if gp.panic_counted.get() && !std::thread::panicking() {
            // A panic the hook counted was caught by the user's own `catch_unwind`
            // (the `go` wrapper's would have called `fatalpanic`): not running.
            crate::panic::uncount_panic(gp);
        }
        if std::thread::panicking()
            && matches!(after, After::Park(_) | After::Gosched)
            && !crate::proc::lockos::lockedm(gp).is_some_and(|lm| lm == self)
        {
            // std's panic count is per thread: a goroutine that switched out while
            // unwinding must come back to this thread, and nothing else may run
            // here meanwhile. `gopark` locks it to the thread for that; `yield_now`
            // and preemption do nothing while panicking. Reaching here is a bug.
            crate::panic::throw("a goroutine tried to switch away from its thread while panicking");
        }
        self.after.set(after);
        // SAFETY: we are on `gp`'s stack, running on this M; g0's context was saved
        // in `g0_sp` by `execute` when it switched to `gp` and g0 is suspended there.
        unsafe { crate::arch::swap(gp.sched_sp.get(), *self.g0_sp.get()) }
    }
}

#[cfg(not(loom))]
std::thread_local! {
    static CURRENT_M: Cell<*const M> = const { Cell::new(std::ptr::null()) };
}

/// The M running on this OS thread, or None on a thread that is not a gort M.
///
/// `#[inline(never)]` and returning a plain `&'static`: every call reads the thread
/// pointer afresh, so a goroutine that migrated to another thread gets its new M.
/// Never keep the result across a park, yield or any other runtime call that may
/// switch.
#[cfg(not(loom))]
#[inline(never)]
pub(crate) fn getm() -> Option<&'static M> {
    let p = CURRENT_M.with(|c| c.get());
    // SAFETY: Ms are leaked and live for the process.
    (!p.is_null()).then(|| unsafe { &*p })
}

#[cfg(not(loom))]
pub(crate) fn set_current_m(m: Option<&'static M>) {
    CURRENT_M.with(|c| c.set(m.map_or(std::ptr::null(), |m| m as *const M)));
}

/// The goroutine running on this thread, if any.
#[cfg(not(loom))]
pub(crate) fn getg() -> Option<&'static G> {
    getm().and_then(|m| m.curg())
}
