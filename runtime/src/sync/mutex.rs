//! A mutual exclusion lock that parks goroutines: Go's `internal/sync/mutex.go`
//! (the code behind `sync.Mutex`).
//!
//! # Design
//!
//! The whole lock is two words: `state` and `sema` (a semaphore word for
//! `sema.rs`). `state` packs
//!
//! | bits        | name              | meaning                                         |
//! |-------------|-------------------|-------------------------------------------------|
//! | 0           | `MUTEX_LOCKED`    | held                                            |
//! | 1           | `MUTEX_WOKEN`     | a waiter is awake and competing (so `unlock` need not wake another) |
//! | 2           | `MUTEX_STARVING`  | starvation mode                                 |
//! | 3..         | waiters           | goroutines queued on `sema` (`state >> MUTEX_WAITER_SHIFT`) |
//!
//! **Fast paths.** `lock` is one CAS 0 → locked; `unlock` one atomic subtract that
//! leaves 0 when nobody waits. Everything else is `lock_slow`/`unlock_slow`.
//!
//! **Normal mode.** Waiters queue FIFO on the semaphore, but a woken waiter does
//! not own the lock: it competes with goroutines that are arriving right now,
//! which have the advantage of already running on a CPU. Newcomers may spin a few
//! rounds (`can_spin`) hoping the holder releases soon; a spinner sets
//! `MUTEX_WOKEN` so `unlock` does not wake a sleeper that would only lose to it.
//! A woken waiter that loses requeues at the *head* (LIFO), having already waited.
//! This mode has much better throughput: a goroutine can take the lock many times
//! in a row without ever parking.
//!
//! **Starvation mode.** A waiter that fails to get the lock for more than 1 ms
//! (`STARVATION_THRESHOLD_NS`) sets `MUTEX_STARVING`. Then `unlock` hands the lock
//! straight to the first waiter (a semaphore *handoff*: the permit goes to it and
//! the unlocker yields so it runs next); newcomers neither spin nor grab the lock,
//! even if it looks unlocked, and queue at the tail. The waiter that receives
//! ownership switches back to normal mode if it is the last waiter or waited less
//! than 1 ms. This bounds tail latency.
//!
//! In starvation mode the `MUTEX_LOCKED` bit is *not* set during the handoff: the
//! new owner sets it itself (together with removing itself from the waiter count
//! in one atomic add), and the starving bit keeps newcomers away meanwhile.
//!
//! # Go functions modelled
//!
//! `Mutex.Lock` → [`RawMutex::lock`], `lockSlow` → [`RawMutex::lock_slow`],
//! `TryLock` → [`RawMutex::try_lock`], `Unlock` → [`RawMutex::unlock`],
//! `unlockSlow` → [`RawMutex::unlock_slow`]. The state machine is generic over
//! [`SyncRuntime`] (Go's `sync/runtime.go` hooks) so that `loom_model.rs` runs this
//! very code under loom.
//!
//! # Memory ordering
//!
//! Every successful transition of `state` is an `AcqRel` read-modify-write: taking
//! the lock (a CAS that sets `MUTEX_LOCKED`, or the new owner's add in starvation
//! mode) acquires, and `unlock`'s subtract releases, so the data protected by the
//! lock is ordered between consecutive owners. Plain loads of `state` only seed
//! the next CAS, so they are `Relaxed`. The sleep/wake-up handshake is the
//! semaphore's: a waiter is counted in `state` *before* it calls `semacquire`, and
//! the semaphore keeps a release that arrives before the sleep (the permit waits in
//! `sema`), so no wake-up is lost.
//!
//! # Differences from Go, on purpose
//!
//! * The Rust surface is guard-based ([`Mutex::lock`] returns a [`MutexGuard`]), so
//!   Go's `fatal error: sync: unlock of unlocked mutex` cannot happen through the
//!   public API; the check stays in `unlock_slow` for the state machine's sake.
//! * No race-detector or mutex-profile hooks (`acquiretime`, `mutexevent`).
//! * `can_spin` approximates Go's `canSpin` (see `runtime.rs`).

use super::runtime::SyncRuntime;
use crate::loom::atomic::{AtomicU32, Ordering};

pub(crate) const MUTEX_LOCKED: u32 = 1;
pub(crate) const MUTEX_WOKEN: u32 = 2;
pub(crate) const MUTEX_STARVING: u32 = 4;
pub(crate) const MUTEX_WAITER_SHIFT: u32 = 3;
/// Go's `starvationThresholdNs`: 1 ms.
pub(crate) const STARVATION_THRESHOLD_NS: i64 = 1_000_000;

/// The lock's state machine without the data: Go's `internal/sync.Mutex`.
pub(crate) struct RawMutex<R: SyncRuntime> {
    /// Lock bits and waiter count (see the module table). Any goroutine may CAS it.
    pub(crate) state: AtomicU32,
    /// The semaphore word waiters sleep on (its address keys `sema.rs`'s table).
    pub(crate) sema: AtomicU32,
    rt: R,
}

/// The runtime reports an impossible state (Go's `fatal`/`throw`); under loom, a
/// panic that fails the model.
fn fatal(msg: &str) -> ! {
    #[cfg(not(loom))]
    crate::panic::fatal(msg);
    #[cfg(loom)]
    panic!("fatal error: {msg}");
}

impl<R: SyncRuntime> RawMutex<R> {
    /// A mutex on any runtime (the loom models' `ModelRt`); the runtime's own is
    /// `new_rt`, which is `const`.
    #[cfg_attr(not(loom), allow(dead_code))]
    pub(crate) fn new(rt: R) -> Self {
        RawMutex {
            state: AtomicU32::new(0),
            sema: AtomicU32::new(0),
            rt,
        }
    }

    /// `Mutex.Lock`.
    #[inline]
    pub(crate) fn lock(&self) {
        // Fast path: grab an unlocked, waiter-free mutex.
        if self
            .state
            .compare_exchange(0, MUTEX_LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            return;
        }
        self.lock_slow();
    }

    /// `Mutex.TryLock`: never waits, and never takes the lock from a starving
    /// waiter.
    #[cfg_attr(loom, allow(dead_code))]
    pub(crate) fn try_lock(&self) -> bool {
        let old = self.state.load(Ordering::Relaxed);
        if old & (MUTEX_LOCKED | MUTEX_STARVING) != 0 {
            return false;
        }
        // There may be a goroutine waiting for the mutex, but we are running now and
        // can try to grab it before that goroutine wakes up.
        self.state
            .compare_exchange(
                old,
                old | MUTEX_LOCKED,
                Ordering::Acquire,
                Ordering::Relaxed,
            )
            .is_ok()
    }

    /// `Mutex.lockSlow`.
    #[cold]
    pub(crate) fn lock_slow(&self) {
        let mut wait_start_time: i64 = 0;
        let mut starving = false;
        let mut awoke = false;
        let mut iter: u32 = 0;
        let mut old = self.state.load(Ordering::Relaxed);
        loop {
            // Don't spin in starvation mode: ownership is handed to the waiters, so
            // we could not take the lock anyway.
            if old & (MUTEX_LOCKED | MUTEX_STARVING) == MUTEX_LOCKED && self.rt.can_spin(iter) {
                // Active spinning makes sense. Try to set the woken flag to tell
                // unlock not to wake other blocked goroutines.
                if !awoke
                    && old & MUTEX_WOKEN == 0
                    && old >> MUTEX_WAITER_SHIFT != 0
                    && self
                        .state
                        .compare_exchange(
                            old,
                            old | MUTEX_WOKEN,
                            Ordering::Relaxed,
                            Ordering::Relaxed,
                        )
                        .is_ok()
                {
                    awoke = true;
                }
                self.rt.do_spin();
                iter += 1;
                old = self.state.load(Ordering::Relaxed);
                continue;
            }
            let mut new = old;
            // Don't try to acquire a starving mutex: new arrivals must queue.
            if old & MUTEX_STARVING == 0 {
                new |= MUTEX_LOCKED;
            }
            if old & (MUTEX_LOCKED | MUTEX_STARVING) != 0 {
                new = new.wrapping_add(1 << MUTEX_WAITER_SHIFT);
            }
            // The current goroutine switches the mutex to starvation mode, but only
            // if it is locked (an unlocked one would stay starving with nobody to
            // hand it to).
            if starving && old & MUTEX_LOCKED != 0 {
                new |= MUTEX_STARVING;
            }
            if awoke {
                // We were woken (or claimed to be, while spinning): clear the flag
                // either way.
                if new & MUTEX_WOKEN == 0 {
                    fatal("sync: inconsistent mutex state");
                }
                new &= !MUTEX_WOKEN;
            }
            match self
                .state
                .compare_exchange(old, new, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => {
                    if old & (MUTEX_LOCKED | MUTEX_STARVING) == 0 {
                        break; // locked the mutex with the CAS
                    }
                    // If we were already waiting before, queue at the front.
                    let queue_lifo = wait_start_time != 0;
                    if wait_start_time == 0 {
                        wait_start_time = self.rt.nanotime();
                    }
                    self.rt.semacquire_mutex(&self.sema, queue_lifo);
                    starving =
                        starving || self.rt.nanotime() - wait_start_time > STARVATION_THRESHOLD_NS;
                    old = self.state.load(Ordering::Relaxed);
                    if old & MUTEX_STARVING != 0 {
                        // Ownership was handed to us, but the state still says
                        // unlocked and counts us as a waiter: fix both at once.
                        if old & (MUTEX_LOCKED | MUTEX_WOKEN) != 0 || old >> MUTEX_WAITER_SHIFT == 0
                        {
                            fatal("sync: inconsistent mutex state");
                        }
                        let mut delta = MUTEX_LOCKED.wrapping_sub(1 << MUTEX_WAITER_SHIFT);
                        if !starving || old >> MUTEX_WAITER_SHIFT == 1 {
                            // Exit starvation mode. Critical to do it here, with the
                            // waiter's own wait time in mind: staying in starvation
                            // mode with no waiters left would hand off to nobody.
                            delta = delta.wrapping_sub(MUTEX_STARVING);
                        }
                        self.state.fetch_add(delta, Ordering::AcqRel);
                        break;
                    }
                    awoke = true;
                    iter = 0;
                }
                Err(cur) => old = cur,
            }
        }
    }

    /// `Mutex.Unlock`.
    #[inline]
    pub(crate) fn unlock(&self) {
        // Fast path: drop the lock bit.
        let new = self
            .state
            .fetch_sub(MUTEX_LOCKED, Ordering::AcqRel)
            .wrapping_sub(MUTEX_LOCKED);
        if new != 0 {
            // Outlined slow path, so the fast path inlines.
            self.unlock_slow(new);
        }
    }

    /// `Mutex.unlockSlow`.
    #[cold]
    pub(crate) fn unlock_slow(&self, new: u32) {
        if new.wrapping_add(MUTEX_LOCKED) & MUTEX_LOCKED == 0 {
            fatal("sync: unlock of unlocked mutex");
        }
        if new & MUTEX_STARVING == 0 {
            let mut old = new;
            loop {
                // Nobody to wake, or someone already woken/holding/handed the lock:
                // nothing to do.
                if old >> MUTEX_WAITER_SHIFT == 0
                    || old & (MUTEX_LOCKED | MUTEX_WOKEN | MUTEX_STARVING) != 0
                {
                    return;
                }
                // Grab the right to wake someone.
                let new = old.wrapping_sub(1 << MUTEX_WAITER_SHIFT) | MUTEX_WOKEN;
                match self
                    .state
                    .compare_exchange(old, new, Ordering::Relaxed, Ordering::Relaxed)
                {
                    Ok(_) => {
                        self.rt.semrelease(&self.sema, false);
                        return;
                    }
                    Err(cur) => old = cur,
                }
            }
        } else {
            // Starving: hand ownership to the next waiter and yield our time slice
            // so it starts at once. MUTEX_LOCKED stays clear; the waiter sets it.
            // MUTEX_STARVING keeps newcomers out meanwhile.
            self.rt.semrelease(&self.sema, true);
        }
    }
}

#[cfg(not(loom))]
impl RawMutex<super::runtime::Rt> {
    /// The runtime's mutex, in a `const` context (so `Mutex`, `RwLock`, `Once` and
    /// `Cond` can be `static`s). loom's atomics have no `const` constructor, hence
    /// the separate function.
    pub(crate) const fn new_rt() -> Self {
        RawMutex {
            state: AtomicU32::new(0),
            sema: AtomicU32::new(0),
            rt: super::runtime::Rt,
        }
    }
}

#[cfg(not(loom))]
pub use guarded::{Mutex, MutexGuard};

#[cfg(not(loom))]
mod guarded {
    use super::RawMutex;
    use crate::sync::runtime::Rt;
    use std::cell::UnsafeCell;
    use std::ops::{Deref, DerefMut};

    /// A mutual exclusion lock for goroutines: Go's `sync.Mutex`, holding the data it
    /// protects.
    ///
    /// A contended `lock` spins briefly, then parks the goroutine (wait reason
    /// `sync.Mutex.Lock`); the OS thread runs other goroutines meanwhile. Waiters
    /// compete with newcomers (normal mode) until one has waited over 1 ms, which
    /// switches the lock to starvation mode: ownership then passes straight from
    /// `unlock` to the oldest waiter. From a plain thread outside any runtime,
    /// `lock` blocks the thread.
    ///
    /// Do not hold a guard across a call that may *block the OS thread* (a
    /// `std::sync::Mutex`, a blocking syscall): waiters park fine, but the holder
    /// must keep running to release it.
    ///
    /// # A panic releases it
    ///
    /// A goroutine that panics while holding the lock releases it: the guard's
    /// `Drop` runs as the panic unwinds, and the data is not poisoned (unlike
    /// `std::sync::Mutex`). Go differs: a panic runs only deferred calls, so a
    /// `sync.Mutex` locked without `defer mu.Unlock()` stays locked, and every
    /// later `Lock` waits for good. Code that recovers from a panic (here, a
    /// [`crate::JoinHandle`] that returns it) must therefore not assume the data
    /// is consistent: whatever the goroutine left half-done is visible.
    ///
    /// ```
    /// use gort_runtime::sync::Mutex;
    /// use std::sync::Arc;
    /// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    /// unsafe { gort_runtime::run(|| {
    ///     let m = Arc::new(Mutex::new(0));
    ///     let m2 = m.clone();
    ///     let r = gort_runtime::spawn(move || {
    ///         let mut g = m2.lock();
    ///         *g += 1;
    ///         panic!("while holding the lock");
    ///     })
    ///     .join();
    ///     assert!(r.is_err());
    ///     assert_eq!(*m.lock(), 1); // released by the unwinding guard, not poisoned
    /// }) };
    /// ```
    ///
    /// # Example
    ///
    /// ```
    /// use gort_runtime::sync::{Mutex, WaitGroup};
    /// use std::sync::Arc;
    /// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    /// unsafe { gort_runtime::run(|| {
    ///     let hits = Arc::new(Mutex::new(0));
    ///     let wg = WaitGroup::new();
    ///     for _ in 0..100 {
    ///         let hits = hits.clone();
    ///         wg.go(move || *hits.lock() += 1);
    ///     }
    ///     wg.wait();
    ///     assert_eq!(*hits.lock(), 100);
    /// }) };
    /// ```
    pub struct Mutex<T: ?Sized> {
        raw: RawMutex<Rt>,
        data: UnsafeCell<T>,
    }

    // SAFETY: the lock gives one goroutine at a time access to `data`; moving a `T`
    // between goroutines (and so threads) needs `T: Send`, as for std's Mutex.
    unsafe impl<T: ?Sized + Send> Send for Mutex<T> {}
    // SAFETY: as above: shared access to the Mutex only ever yields exclusive access
    // to `T`, so `T: Send` suffices.
    unsafe impl<T: ?Sized + Send> Sync for Mutex<T> {}

    /// Proof of holding a [`Mutex`]; unlocks when dropped.
    ///
    /// ```
    /// let m = gort_runtime::sync::Mutex::new(vec![1]);
    /// let mut g = m.lock();
    /// g.push(2);
    /// drop(g);
    /// assert_eq!(*m.lock(), [1, 2]);
    /// ```
    #[must_use = "if unused the Mutex will immediately unlock"]
    pub struct MutexGuard<'a, T: ?Sized> {
        mutex: &'a Mutex<T>,
    }

    // SAFETY: a shared guard only hands out `&T`, which other threads may hold if
    // `T: Sync`.
    unsafe impl<T: ?Sized + Sync> Sync for MutexGuard<'_, T> {}

    impl<T> Mutex<T> {
        /// A new, unlocked mutex holding `value`. `const`, so a `Mutex` can be a
        /// `static` (Go's zero-value `var mu sync.Mutex`).
        ///
        /// ```
        /// use gort_runtime::sync::Mutex;
        /// static NAMES: Mutex<Vec<&str>> = Mutex::new(Vec::new());
        /// NAMES.lock().push("gopher");
        /// let m = Mutex::new(5);
        /// assert_eq!(*m.lock(), 5);
        /// ```
        pub const fn new(value: T) -> Self {
            Mutex {
                raw: RawMutex::new_rt(),
                data: UnsafeCell::new(value),
            }
        }

        /// Consumes the mutex and returns the data (no locking needed: nobody else
        /// can hold it).
        ///
        /// ```
        /// let m = gort_runtime::sync::Mutex::new(String::from("x"));
        /// assert_eq!(m.into_inner(), "x");
        /// ```
        pub fn into_inner(self) -> T {
            self.data.into_inner()
        }
    }

    impl<T: ?Sized> Mutex<T> {
        /// Locks, parking the goroutine until the lock is free.
        ///
        /// ```
        /// let m = gort_runtime::sync::Mutex::new(1);
        /// *m.lock() += 1;
        /// assert_eq!(*m.lock(), 2);
        /// ```
        #[inline]
        pub fn lock(&self) -> MutexGuard<'_, T> {
            // A safepoint even on the fast path: a loop of uncontended locks makes
            // no other runtime call, and would otherwise never yield to sysmon's
            // preemption request (Go preempts it asynchronously instead).
            crate::proc::sched::preempt_check();
            self.raw.lock();
            MutexGuard { mutex: self }
        }

        /// Locks if the lock is free right now (Go's `TryLock`); never waits, and
        /// fails while a starving waiter is being handed the lock.
        ///
        /// ```
        /// let m = gort_runtime::sync::Mutex::new(());
        /// let g = m.try_lock().unwrap();
        /// assert!(m.try_lock().is_none());
        /// drop(g);
        /// assert!(m.try_lock().is_some());
        /// ```
        pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
            self.raw.try_lock().then(|| MutexGuard { mutex: self })
        }

        /// Mutable access through a unique borrow (no locking needed).
        ///
        /// ```
        /// let mut m = gort_runtime::sync::Mutex::new(1);
        /// *m.get_mut() = 3;
        /// assert_eq!(*m.lock(), 3);
        /// ```
        pub fn get_mut(&mut self) -> &mut T {
            self.data.get_mut()
        }

        /// The guard's way back to its mutex (for `Cond::wait`).
        pub(crate) fn guard_mutex<'a>(g: &MutexGuard<'a, T>) -> &'a Mutex<T> {
            g.mutex
        }
    }

    impl<T: Default> Default for Mutex<T> {
        /// A mutex holding `T::default()`.
        ///
        /// ```
        /// let m: gort_runtime::sync::Mutex<u32> = Default::default();
        /// assert_eq!(*m.lock(), 0);
        /// ```
        fn default() -> Self {
            Mutex::new(T::default())
        }
    }

    impl<T: ?Sized + std::fmt::Debug> std::fmt::Debug for Mutex<T> {
        /// Shows the data if the lock is free, `<locked>` otherwise.
        ///
        /// ```
        /// let m = gort_runtime::sync::Mutex::new(1);
        /// assert_eq!(format!("{m:?}"), "Mutex { data: 1 }");
        /// ```
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            match self.try_lock() {
                Some(g) => f.debug_struct("Mutex").field("data", &&*g).finish(),
                None => f.debug_struct("Mutex").field("data", &"<locked>").finish(),
            }
        }
    }

    impl<T: ?Sized> Deref for MutexGuard<'_, T> {
        type Target = T;
        fn deref(&self) -> &T {
            // SAFETY: the guard proves this goroutine holds the lock, so no one else
            // has a reference into `data`.
            unsafe { &*self.mutex.data.get() }
        }
    }

    impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
        fn deref_mut(&mut self) -> &mut T {
            // SAFETY: as in `deref`, and `&mut self` makes this borrow unique.
            unsafe { &mut *self.mutex.data.get() }
        }
    }

    impl<T: ?Sized> Drop for MutexGuard<'_, T> {
        #[inline]
        fn drop(&mut self) {
            self.mutex.raw.unlock();
        }
    }

    #[cfg(test)]
    mod tests {
        use super::super::*;
        use crate::loom::atomic::Ordering;

        #[test]
        fn state_bits_follow_lock_and_unlock() {
            let m = Mutex::new(0);
            let g = m.lock();
            assert_eq!(m.raw.state.load(Ordering::Relaxed), MUTEX_LOCKED);
            assert!(m.try_lock().is_none());
            drop(g);
            assert_eq!(m.raw.state.load(Ordering::Relaxed), 0);
        }

        #[test]
        fn try_lock_refuses_a_starving_mutex_even_when_unlocked() {
            let m = Mutex::new(());
            // A handoff in flight: unlocked, starving, one waiter being handed the lock.
            m.raw.state.store(
                MUTEX_STARVING | (1 << MUTEX_WAITER_SHIFT),
                Ordering::Relaxed,
            );
            assert!(m.try_lock().is_none());
            m.raw.state.store(0, Ordering::Relaxed);
        }

        #[test]
        fn plain_threads_contend_and_count_exactly() {
            let m = std::sync::Arc::new(Mutex::new(0u64));
            let ts: Vec<_> = (0..4)
                .map(|_| {
                    let m = m.clone();
                    std::thread::spawn(move || {
                        for _ in 0..10_000 {
                            *m.lock() += 1;
                        }
                    })
                })
                .collect();
            for t in ts {
                t.join().unwrap();
            }
            assert_eq!(*m.lock(), 40_000);
            assert_eq!(m.raw.state.load(Ordering::Relaxed), 0);
        }
    }
}
