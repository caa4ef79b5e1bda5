//! The runtime hooks the `sync` state machines call: Go's `sync/runtime.go`.
//!
//! In Go, `sync` cannot import `runtime`, so `sync/runtime.go` declares a few
//! functions (`runtime_SemacquireMutex`, `runtime_Semrelease`, `runtime_canSpin`,
//! `runtime_doSpin`, `runtime_nanotime`) that the runtime provides by linkname.
//! gort keeps that seam as a trait, [`SyncRuntime`], for a different reason: the
//! loom models (`loom_model.rs`) run the *real* `Mutex` and `WaitGroup` state
//! machines (`mutex.rs`, `waitgroup.rs`) on a model semaphore whose sleepers park
//! on a note, with a clock the model controls; the runtime's own implementation,
//! [`Rt`], is a zero-sized type whose calls inline to `sema.rs`.
//!
//! `can_spin` approximates Go's `sync_runtime_canSpin` with what the scheduler
//! exposes: at most 4 rounds, only with more than one CPU, only if some other P
//! is running (`gomaxprocs > npidle + nmspinning + 1`) and only if this P's local
//! run queue is empty (spinning would delay a runnable goroutine that may be the
//! very one holding the lock). `do_spin` is Go's `procyield(30)`: 30 pause
//! instructions.

use crate::loom::atomic::AtomicU32;

/// Go's `active_spin`: at most this many spin rounds before queueing.
#[cfg_attr(loom, allow(dead_code))]
pub(crate) const ACTIVE_SPIN: u32 = 4;
/// Go's `active_spin_cnt`: pause instructions per spin round.
#[cfg_attr(loom, allow(dead_code))]
pub(crate) const ACTIVE_SPIN_CNT: u32 = 30;

/// What the `sync` state machines need from the runtime (Go's `sync/runtime.go`).
pub(crate) trait SyncRuntime {
    /// `runtime_SemacquireMutex`: waits on `sema` (wait reason `sync.Mutex.Lock`),
    /// at the head of the queue with `lifo`.
    fn semacquire_mutex(&self, sema: &AtomicU32, lifo: bool);
    /// `runtime_SemacquireWaitGroup` (wait reason `sync.WaitGroup.Wait`).
    fn semacquire_waitgroup(&self, sema: &AtomicU32);
    /// `runtime_Semrelease`: with `handoff`, the permit goes straight to the first
    /// waiter and the caller yields to it.
    fn semrelease(&self, sema: &AtomicU32, handoff: bool);
    /// `runtime_canSpin`: whether spin round `iter` is worth it.
    fn can_spin(&self, iter: u32) -> bool;
    /// `runtime_doSpin`: one round of busy-waiting.
    fn do_spin(&self);
    /// `runtime_nanotime`: a monotonic clock in nanoseconds.
    fn nanotime(&self) -> i64;
}

/// The runtime's implementation: `sema.rs` and the scheduler's counters.
#[cfg(not(loom))]
#[derive(Clone, Copy, Default)]
pub(crate) struct Rt;

#[cfg(not(loom))]
impl SyncRuntime for Rt {
    #[inline]
    fn semacquire_mutex(&self, sema: &AtomicU32, lifo: bool) {
        super::sema::semacquire1(sema, lifo, crate::proc::g::WaitReason::SyncMutexLock)
    }

    #[inline]
    fn semacquire_waitgroup(&self, sema: &AtomicU32) {
        super::sema::semacquire1(sema, false, crate::proc::g::WaitReason::SyncWaitGroupWait)
    }

    #[inline]
    fn semrelease(&self, sema: &AtomicU32, handoff: bool) {
        super::sema::semrelease1(sema, handoff)
    }

    fn can_spin(&self, iter: u32) -> bool {
        use std::sync::atomic::Ordering::Relaxed;
        if iter >= ACTIVE_SPIN || ncpu() <= 1 {
            return false;
        }
        // On a plain thread there is no P and no scheduler to ask: don't spin.
        let Some(m) = crate::proc::m::getm() else {
            return false;
        };
        let sched = m.sched;
        let busy_elsewhere = sched.npidle.load(Relaxed) + sched.nmspinning.load(Relaxed) + 1;
        if sched.gomaxprocs <= busy_elsewhere {
            return false;
        }
        match m.p() {
            Some(pp) => pp.runq.is_empty(),
            None => false,
        }
    }

    fn do_spin(&self) {
        for _ in 0..ACTIVE_SPIN_CNT {
            std::hint::spin_loop();
        }
    }

    fn nanotime(&self) -> i64 {
        static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
        START
            .get_or_init(std::time::Instant::now)
            .elapsed()
            .as_nanos() as i64
    }
}

/// Go's `ncpu`: CPUs this process may use, read once.
#[cfg(not(loom))]
fn ncpu() -> usize {
    static NCPU: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *NCPU.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}
