//! Go's `sync` package for goroutines, on a `sema.go`-style semaphore.
//!
//! # Layout (read in this order)
//!
//! - `mod.rs` (this file) — `Waiter` and `block`: the one way every primitive
//!   here (and the channels) registers a sleeper under a lock and parks it
//!   (`gopark(unlockf)`), or blocks the thread when called from outside a runtime.
//! - `sema.rs` — Go's `runtime/sema.go`: the address-keyed semaphore table
//!   (`semacquire1`, `semrelease1`, handoff, LIFO requeue), `notifyList` (the
//!   ticket queue under `Cond`), and the public [`Semaphore`].
//! - `runtime.rs` — Go's `sync/runtime.go`: the handful of runtime hooks the
//!   state machines call (`runtime_SemacquireMutex`, `runtime_canSpin`, …), as a
//!   trait so the loom models can run the real state machines on a model semaphore.
//! - `mutex.rs` — `internal/sync/mutex.go`: [`Mutex`] with normal and starvation mode.
//! - `rwlock.rs` — `sync/rwmutex.go`: [`RwLock`], writer-preferring.
//! - `waitgroup.rs` — `sync/waitgroup.go`: [`WaitGroup`] on one 64-bit state word.
//! - `once.rs` — `sync/once.go`: [`Once`].
//! - `cond.rs` — `sync/cond.go`: [`Cond`] on a `notifyList`.
//! - `pool.rs` — `sync/pool.go`: [`Pool`], per-P caches with a victim generation.
//! - `loom_model.rs` — loom models of the Mutex and WaitGroup state machines.
//!
//! Every blocking call parks the goroutine (with Go's wait reason:
//! `sync.Mutex.Lock`, `sync.RWMutex.RLock`, `sync.RWMutex.Lock`,
//! `sync.WaitGroup.Wait`, `sync.Cond.Wait`, `semacquire`), never the OS thread; the
//! same calls made from a plain thread outside any runtime block that thread, so a
//! program can wait for goroutines from `main`.
//!
//! `docs/sync.md` walks through these files beside Go's.
//!
//! # Example
//!
//! ```
//! use gort_runtime::sync::{Mutex, WaitGroup};
//! use std::sync::Arc;
//! // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
//! unsafe { gort_runtime::run(|| {
//!     let total = Arc::new(Mutex::new(0u64));
//!     let wg = WaitGroup::new();
//!     for i in 1..=10 {
//!         let total = total.clone();
//!         wg.go(move || *total.lock() += i);
//!     }
//!     wg.wait();
//!     assert_eq!(*total.lock(), 55);
//! }) };
//! ```

mod cond;
mod mutex;
mod once;
mod pool;
mod runtime;
mod rwlock;
mod sema;
mod waitgroup;

pub use cond::Cond;
pub use mutex::{Mutex, MutexGuard};
pub use once::Once;
pub use pool::{pool_cleanup, Pool};
pub use rwlock::{RwLock, RwLockReadGuard, RwLockWriteGuard};
pub use sema::Semaphore;
pub use waitgroup::WaitGroup;

use crate::proc::g::{WaitReason, G};
use crate::proc::m::getg;
use crate::proc::m::UnlockF;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Someone blocked on a primitive: a goroutine, or a thread outside the runtime.
pub(crate) enum Waiter {
    G(&'static G),
    Thread(Arc<ThreadWaiter>),
}

pub(crate) struct ThreadWaiter {
    woken: AtomicBool,
    thread: std::thread::Thread,
}

impl Waiter {
    /// Makes the waiter runnable again (`goready`, or unparks the thread).
    pub(crate) fn wake(self) {
        match self {
            Waiter::G(g) => crate::proc::sched::ready(g),
            Waiter::Thread(t) => {
                t.woken.store(true, Ordering::Release);
                t.thread.unpark();
            }
        }
    }
}

/// Registers the caller as a waiter with `register` while `guard` is held, releases
/// the lock, and blocks until [`Waiter::wake`]. On a goroutine the lock is released
/// on g0 after the goroutine has switched out (Go's `gopark(unlockf)`), so a waker
/// can never find a goroutine that is still running.
pub(crate) fn block<T>(
    mutex: &parking_lot::Mutex<T>,
    mut guard: parking_lot::MutexGuard<'_, T>,
    register: impl FnOnce(&mut T, Waiter),
    reason: WaitReason,
) {
    match getg() {
        Some(g) => {
            register(&mut guard, Waiter::G(g));
            std::mem::forget(guard);
            // SAFETY: `raw` is the primitive's own lock, borrowed by the caller for
            // the whole call. It is usually not on this goroutine's stack; when it is
            // (a primitive living in some goroutine's frame), it is still sound: the
            // unlock on g0 is the last access to it through `data`, and until that
            // unlock releases it nobody else can take the lock, so nobody can be
            // done with the primitive and free it (the same argument as for unlocking
            // std's Mutex just before another thread drops it).
            let raw = unsafe { mutex.raw() } as *const parking_lot::RawMutex as *const ();
            let u = UnlockF {
                f: unlock_raw_mutex,
                data: raw,
            };
            // SAFETY: `raw` satisfies gopark's contract (see above), and
            // `unlock_raw_mutex` is sound for it: see there.
            unsafe { crate::proc::sched::gopark(Some(u), reason) };
        }
        None => {
            let w = Arc::new(ThreadWaiter {
                woken: AtomicBool::new(false),
                thread: std::thread::current(),
            });
            register(&mut guard, Waiter::Thread(w.clone()));
            drop(guard);
            while !w.woken.load(Ordering::Acquire) {
                std::thread::park();
            }
        }
    }
}

/// g0's half of [`block`]: releases the lock the goroutine took and forgot.
///
/// # Safety
/// `data` points to a locked `parking_lot::RawMutex` whose guard was forgotten by the
/// goroutine that just switched out on this OS thread.
unsafe fn unlock_raw_mutex(data: *const (), _gp: &'static G) -> bool {
    use parking_lot::lock_api::RawMutex as _;
    // SAFETY: by the contract above, this thread holds the lock (g0 runs on the
    // same OS thread the goroutine locked it on).
    unsafe { (*(data as *const parking_lot::RawMutex)).unlock() };
    true
}
