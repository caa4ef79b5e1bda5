//! Goroutine-aware synchronisation. For now: the waiter record every blocking
//! primitive uses, `WaitGroup`, and the runtime `Semaphore`.
//!
//! Models `sync/waitgroup.go` and the waiting half of `runtime/sema.go`. Blocking
//! parks the goroutine (`gopark`), never the OS thread; the same calls made from a
//! plain thread outside any runtime block that thread instead, so a program can wait
//! for goroutines from `main`.
//!
//! The rest of `sync` (Mutex with starvation mode, RwLock, Once, Cond, Pool) and a
//! full `sema.go`-style semaphore table arrive with the blocking-primitives issue,
//! which will rebuild `WaitGroup` on that semaphore.

use crate::proc::g::{WaitReason, G};
use crate::proc::m::getg;
use crate::proc::m::UnlockF;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
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
            // SAFETY: the raw mutex lives in the primitive, not on this stack, and
            // outlives the park (the caller borrows it for the whole call).
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

/// Waits for a collection of goroutines to finish (Go's `sync.WaitGroup`).
///
/// `add` the number of goroutines, have each call `done`, and `wait` for the
/// counter to reach zero. Clones share one counter. A negative counter panics with
/// Go's message.
///
/// # Example
///
/// ```
/// gort_runtime::run(|| {
///     let wg = gort_runtime::sync::WaitGroup::new();
///     for _ in 0..10 {
///         wg.add(1);
///         let wg = wg.clone();
///         gort_runtime::go(move || wg.done());
///     }
///     wg.wait();
/// });
/// ```
#[derive(Clone, Default)]
pub struct WaitGroup {
    inner: Arc<WgInner>,
}

#[derive(Default)]
struct WgInner {
    counter: AtomicI64,
    waiters: parking_lot::Mutex<Vec<Waiter>>,
}

impl WaitGroup {
    /// A WaitGroup with counter zero.
    ///
    /// ```
    /// let wg = gort_runtime::sync::WaitGroup::new();
    /// wg.wait(); // zero: returns at once
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `delta` (which may be negative) to the counter; at zero, releases every
    /// waiter.
    ///
    /// # Panics
    /// `sync: negative WaitGroup counter` if the counter goes below zero.
    ///
    /// ```
    /// let wg = gort_runtime::sync::WaitGroup::new();
    /// wg.add(2);
    /// wg.add(-2);
    /// wg.wait();
    /// ```
    pub fn add(&self, delta: i64) {
        let v = self.inner.counter.fetch_add(delta, Ordering::AcqRel) + delta;
        if v < 0 {
            panic!("sync: negative WaitGroup counter");
        }
        if v == 0 && delta != 0 {
            let waiters = std::mem::take(&mut *self.inner.waiters.lock());
            for w in waiters {
                w.wake();
            }
        }
    }

    /// Decrements the counter by one.
    ///
    /// ```
    /// let wg = gort_runtime::sync::WaitGroup::new();
    /// wg.add(1);
    /// wg.done();
    /// wg.wait();
    /// ```
    pub fn done(&self) {
        self.add(-1);
    }

    /// Blocks until the counter is zero: parks the goroutine (wait reason
    /// `sync.WaitGroup.Wait`), or blocks the thread outside a runtime.
    ///
    /// ```
    /// gort_runtime::run(|| {
    ///     let wg = gort_runtime::sync::WaitGroup::new();
    ///     wg.add(1);
    ///     let w = wg.clone();
    ///     gort_runtime::go(move || w.done());
    ///     wg.wait();
    /// });
    /// ```
    pub fn wait(&self) {
        crate::proc::sched::preempt_check();
        if self.inner.counter.load(Ordering::Acquire) == 0 {
            return;
        }
        let guard = self.inner.waiters.lock();
        if self.inner.counter.load(Ordering::Acquire) == 0 {
            return;
        }
        block(
            &self.inner.waiters,
            guard,
            |ws, w| ws.push(w),
            WaitReason::SyncWaitGroupWait,
        );
    }
}

/// A counting semaphore that parks goroutines: Go's runtime semaphore
/// (`sema.go`: `semacquire`/`semrelease`), the wait queue Go's `sync` types are
/// built on.
///
/// `release` adds a permit and wakes the oldest waiter; the woken goroutine then
/// competes for the permit (Go's default, non-handoff mode), so a goroutine that
/// arrives meanwhile may take it and the waiter parks again.
///
/// # Example
///
/// ```
/// use std::sync::Arc;
/// gort_runtime::run(|| {
///     let (ping, pong) = (Arc::new(gort_runtime::sync::Semaphore::new(0)), Arc::new(gort_runtime::sync::Semaphore::new(0)));
///     let (p2, q2) = (ping.clone(), pong.clone());
///     gort_runtime::go(move || for _ in 0..100 { p2.acquire(); q2.release(); });
///     for _ in 0..100 { ping.release(); pong.acquire(); }
/// });
/// ```
pub struct Semaphore {
    /// Available permits.
    count: std::sync::atomic::AtomicU32,
    /// Waiters registered (Go's `semaRoot.nwait`), read lock-free by `release`.
    nwait: std::sync::atomic::AtomicU32,
    waiters: parking_lot::Mutex<std::collections::VecDeque<Waiter>>,
}

impl Semaphore {
    /// A semaphore holding `permits`.
    ///
    /// ```
    /// let s = gort_runtime::sync::Semaphore::new(1);
    /// assert!(s.try_acquire());
    /// assert!(!s.try_acquire());
    /// ```
    pub fn new(permits: u32) -> Self {
        Semaphore {
            count: std::sync::atomic::AtomicU32::new(permits),
            nwait: std::sync::atomic::AtomicU32::new(0),
            waiters: parking_lot::Mutex::new(std::collections::VecDeque::new()),
        }
    }

    /// Takes a permit if one is available (`cansemacquire`).
    ///
    /// ```
    /// let s = gort_runtime::sync::Semaphore::new(0);
    /// assert!(!s.try_acquire());
    /// s.release();
    /// assert!(s.try_acquire());
    /// ```
    pub fn try_acquire(&self) -> bool {
        let mut v = self.count.load(Ordering::SeqCst);
        while v > 0 {
            match self
                .count
                .compare_exchange_weak(v, v - 1, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => return true,
                Err(x) => v = x,
            }
        }
        false
    }

    /// Takes a permit, parking the goroutine (wait reason `semacquire`) until one is
    /// released.
    ///
    /// ```
    /// let s = gort_runtime::sync::Semaphore::new(1);
    /// s.acquire();
    /// ```
    pub fn acquire(&self) {
        self.acquire_reason(WaitReason::Semacquire)
    }

    pub(crate) fn acquire_reason(&self, reason: WaitReason) {
        crate::proc::sched::preempt_check();
        loop {
            if self.try_acquire() {
                return;
            }
            let q = self.waiters.lock();
            // Count ourselves before the last look, so a release either sees us or
            // left a permit we see (both sides store, then load: SeqCst).
            self.nwait.fetch_add(1, Ordering::SeqCst);
            if self.try_acquire() {
                self.nwait.fetch_sub(1, Ordering::SeqCst);
                return;
            }
            block(&self.waiters, q, |q, w| q.push_back(w), reason);
        }
    }

    /// Adds a permit and wakes the oldest waiter, if any.
    ///
    /// ```
    /// let s = gort_runtime::sync::Semaphore::new(0);
    /// s.release();
    /// s.acquire();
    /// ```
    pub fn release(&self) {
        self.count.fetch_add(1, Ordering::SeqCst);
        if self.nwait.load(Ordering::SeqCst) == 0 {
            return;
        }
        let w = {
            let mut q = self.waiters.lock();
            let w = q.pop_front();
            if w.is_some() {
                self.nwait.fetch_sub(1, Ordering::SeqCst);
            }
            w
        };
        if let Some(w) = w {
            w.wake();
        }
    }
}
