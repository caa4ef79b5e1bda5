//! Waiting for a collection of goroutines: Go's `sync/waitgroup.go`.
//!
//! # Design
//!
//! One 64-bit word holds the whole state: the **counter** (outstanding work) in
//! the high 32 bits, and the number of **waiters** parked in `wait` in the low 32
//! bits, plus a semaphore word the waiters sleep on.
//!
//! * `add(delta)` adds `delta << 32` in one atomic add. If the counter went
//!   negative, panic (`sync: negative WaitGroup counter`). If it is still positive,
//!   or nobody waits, done. If it reached zero with `w` waiters: reset the state to
//!   0 and release the semaphore `w` times.
//! * `wait()` loads the state; a zero counter returns at once. Otherwise it CASes
//!   the waiter count up by one and sleeps on the semaphore. When woken the state
//!   must be 0 again (the final `add` reset it).
//!
//! Because the counter and the waiter count share one word, the `add` that brings
//! the counter to zero sees every waiter that registered before it in the same
//! atomic read-modify-write, and a waiter whose CAS came after it would have seen a
//! zero counter and not waited: no waiter is ever left behind, and none leaves
//! early (it can only wake from a semaphore release, which happens only at zero).
//!
//! # Misuse detection (Go's, kept)
//!
//! * `sync: WaitGroup misuse: Add called concurrently with Wait` — a positive
//!   `add` that starts a new round while waiters are still registered (`w != 0`
//!   and the counter equals `delta`), or the state changed between the zero-reaching
//!   add and the reset (someone added or waited concurrently with the final `done`).
//! * `sync: WaitGroup is reused before previous Wait has returned` — a woken waiter
//!   finds the state non-zero: a new round started before all waiters of the last
//!   one left.
//!
//! Go's `WaitGroup.Go(f)` (Go 1.25) is [`WaitGroup::go`].
//!
//! # Memory ordering
//!
//! `add` is an `AcqRel` add: every `done` releases its goroutine's writes into the
//! state word, and the add that reaches zero acquires all of them before releasing
//! the semaphore, whose `SeqCst` operations carry them to the woken waiter. A
//! `wait` that finds the counter zero loads with `Acquire`, which pairs with the
//! releases of the adds that brought it there — or with the `Release` store that
//! resets the word after waking the waiters (Go's atomics are all sequentially
//! consistent, so Go needs no such care).
//!
//! # Differences from Go
//!
//! No synctest bubble flag (bit 31 of the waiter count in Go) and no race-detector
//! annotations. `WaitGroup` is a handle (an `Arc`) so clones share one group, which
//! is how Rust closures carry it into goroutines; Go passes a pointer.

use super::runtime::SyncRuntime;
use crate::loom::atomic::{AtomicU32, AtomicU64, Ordering};

/// The state machine of a WaitGroup: Go's `sync.WaitGroup` fields and methods.
pub(crate) struct WgState<R: SyncRuntime> {
    /// Counter (high 32 bits, signed) and waiter count (low 32 bits).
    pub(crate) state: AtomicU64,
    /// The semaphore waiters sleep on.
    pub(crate) sema: AtomicU32,
    rt: R,
}

impl<R: SyncRuntime> WgState<R> {
    pub(crate) fn new(rt: R) -> Self {
        WgState {
            state: AtomicU64::new(0),
            sema: AtomicU32::new(0),
            rt,
        }
    }

    /// `WaitGroup.Add`.
    pub(crate) fn add(&self, delta: i64) {
        let d = (delta as u64) << 32;
        let state = self.state.fetch_add(d, Ordering::AcqRel).wrapping_add(d);
        let v = (state >> 32) as i32;
        let w = state as u32;
        if v < 0 {
            panic!("sync: negative WaitGroup counter");
        }
        if w != 0 && delta > 0 && v as i64 == delta {
            panic!("sync: WaitGroup misuse: Add called concurrently with Wait");
        }
        if v > 0 || w == 0 {
            return;
        }
        // The counter is 0 and there are waiters. Nobody may change the state now:
        // adds must not happen concurrently with wait, and wait does not add
        // waiters when it sees a zero counter. Still a cheap check for misuse.
        if self.state.load(Ordering::Relaxed) != state {
            panic!("sync: WaitGroup misuse: Add called concurrently with Wait");
        }
        // Reset the waiter count to 0, then wake every waiter. Release, not
        // Relaxed: a `wait` that starts now reads this 0 and returns without
        // sleeping, so it must see every write the `done`s published (a plain
        // store does not continue the release sequence of our add; the loom model
        // `loom_sync_waitgroup_two_waiters` caught the Relaxed version).
        self.state.store(0, Ordering::Release);
        for _ in 0..w {
            self.rt.semrelease(&self.sema, false);
        }
    }

    /// `WaitGroup.Wait`.
    pub(crate) fn wait(&self) {
        let mut state = self.state.load(Ordering::Acquire);
        loop {
            if (state >> 32) as i32 == 0 {
                // Counter is 0, no need to wait.
                return;
            }
            // Increment the waiter count.
            match self
                .state
                .compare_exchange(state, state + 1, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => {
                    self.rt.semacquire_waitgroup(&self.sema);
                    if self.state.load(Ordering::Acquire) != 0 {
                        panic!("sync: WaitGroup is reused before previous Wait has returned");
                    }
                    return;
                }
                Err(cur) => state = cur,
            }
        }
    }
}

#[cfg(not(loom))]
pub use handle::WaitGroup;

#[cfg(not(loom))]
mod handle {
    use super::WgState;
    use crate::sync::runtime::Rt;
    use std::sync::Arc;

    /// Waits for a collection of goroutines to finish (Go's `sync.WaitGroup`).
    ///
    /// `add` the number of goroutines, have each call `done`, and `wait` for the
    /// counter to reach zero — or let [`WaitGroup::go`] do the counting. Clones
    /// share one counter. A negative counter panics with Go's message, and so do
    /// the misuses Go detects.
    ///
    /// # Example
    ///
    /// ```
    /// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    /// unsafe { gort_runtime::run(|| {
    ///     let wg = gort_runtime::sync::WaitGroup::new();
    ///     for _ in 0..10 {
    ///         wg.add(1);
    ///         let wg = wg.clone();
    ///         gort_runtime::go(move || wg.done());
    ///     }
    ///     wg.wait();
    /// }) };
    /// ```
    #[derive(Clone)]
    pub struct WaitGroup {
        inner: Arc<WgState<Rt>>,
    }

    impl Default for WaitGroup {
        /// Same as [`WaitGroup::new`].
        ///
        /// ```
        /// let wg = gort_runtime::sync::WaitGroup::default();
        /// wg.wait();
        /// ```
        fn default() -> Self {
            WaitGroup {
                inner: Arc::new(WgState::new(Rt)),
            }
        }
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

        /// Adds `delta` (which may be negative) to the counter; at zero, releases
        /// every waiter.
        ///
        /// # Panics
        /// `sync: negative WaitGroup counter` if the counter goes below zero;
        /// `sync: WaitGroup misuse: Add called concurrently with Wait` if a new
        /// round starts while the last round's waiters are still being released.
        ///
        /// ```
        /// let wg = gort_runtime::sync::WaitGroup::new();
        /// wg.add(2);
        /// wg.add(-2);
        /// wg.wait();
        /// ```
        pub fn add(&self, delta: i64) {
            self.inner.add(delta)
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
            self.inner.add(-1)
        }

        /// Blocks until the counter is zero: parks the goroutine (wait reason
        /// `sync.WaitGroup.Wait`), or blocks the thread outside a runtime.
        ///
        /// ```
        /// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
        /// unsafe { gort_runtime::run(|| {
        ///     let wg = gort_runtime::sync::WaitGroup::new();
        ///     wg.add(1);
        ///     let w = wg.clone();
        ///     gort_runtime::go(move || w.done());
        ///     wg.wait();
        /// }) };
        /// ```
        pub fn wait(&self) {
            crate::proc::sched::preempt_check();
            self.inner.wait()
        }

        /// Runs `f` in a new goroutine counted by this group (Go 1.25's
        /// `WaitGroup.Go`): `add(1)` now, `done()` when `f` returns — also if `f`
        /// panics (which, in a `go` goroutine, ends the program as in Go).
        ///
        /// # Panics
        /// Before `add(1)`, if `f` captures more than 1/32 of the stack size, as
        /// [`crate::go`] does.
        ///
        /// ```
        /// use std::sync::atomic::{AtomicU32, Ordering};
        /// use std::sync::Arc;
        /// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
        /// unsafe { gort_runtime::run(|| {
        ///     let wg = gort_runtime::sync::WaitGroup::new();
        ///     let n = Arc::new(AtomicU32::new(0));
        ///     for _ in 0..8 {
        ///         let n = n.clone();
        ///         wg.go(move || { n.fetch_add(1, Ordering::Relaxed); });
        ///     }
        ///     wg.wait();
        ///     assert_eq!(n.load(Ordering::Relaxed), 8);
        /// }) };
        /// ```
        pub fn go<F: FnOnce() + Send + 'static>(&self, f: F) {
            crate::api::check_capture::<F>();
            self.add(1);
            let wg = self.clone();
            // `go`'s body, without its check of the wrapper's size: `f` passed
            // it, and the handle the wrapper adds is the runtime's business.
            let body = move || {
                struct Done(WaitGroup);
                impl Drop for Done {
                    fn drop(&mut self) {
                        self.0.done();
                    }
                }
                let _done = Done(wg);
                f();
            };
            crate::api::newproc_go(body, std::any::type_name::<F>);
            crate::proc::sched::preempt_check();
        }
    }

    impl std::fmt::Debug for WaitGroup {
        /// Shows the counter and the number of waiters.
        ///
        /// ```
        /// let wg = gort_runtime::sync::WaitGroup::new();
        /// wg.add(3);
        /// assert_eq!(format!("{wg:?}"), "WaitGroup { counter: 3, waiters: 0 }");
        /// # wg.add(-3);
        /// ```
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            let s = self.inner.state.load(std::sync::atomic::Ordering::Relaxed);
            f.debug_struct("WaitGroup")
                .field("counter", &((s >> 32) as i32))
                .field("waiters", &(s as u32))
                .finish()
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn counter_and_waiters_share_one_word() {
            let wg = WaitGroup::new();
            wg.add(3);
            assert_eq!(
                wg.inner.state.load(std::sync::atomic::Ordering::Relaxed),
                3 << 32
            );
            wg.add(-3);
            assert_eq!(wg.inner.state.load(std::sync::atomic::Ordering::Relaxed), 0);
        }

        #[test]
        fn negative_counter_panics_with_gos_message() {
            let wg = WaitGroup::new();
            let e = std::panic::catch_unwind(|| wg.done()).unwrap_err();
            assert_eq!(
                e.downcast_ref::<&str>().copied(),
                Some("sync: negative WaitGroup counter")
            );
        }

        #[test]
        fn add_while_the_last_round_still_has_waiters_is_gos_misuse_panic() {
            let wg = WaitGroup::new();
            // The window Go's check guards: the counter reached 0 but the waiter it
            // must release is still registered (the reset has not happened yet).
            wg.inner
                .state
                .store(1, std::sync::atomic::Ordering::Relaxed);
            let e = std::panic::catch_unwind(|| wg.add(1)).unwrap_err();
            assert_eq!(
                e.downcast_ref::<&str>().copied(),
                Some("sync: WaitGroup misuse: Add called concurrently with Wait")
            );
        }

        #[test]
        fn a_plain_thread_waits_for_plain_threads() {
            let wg = WaitGroup::new();
            let flag = Arc::new(std::sync::atomic::AtomicBool::new(false));
            wg.add(1);
            let (w, f) = (wg.clone(), flag.clone());
            let t = std::thread::spawn(move || {
                f.store(true, std::sync::atomic::Ordering::Relaxed);
                w.done();
            });
            wg.wait();
            assert!(flag.load(std::sync::atomic::Ordering::Relaxed));
            t.join().unwrap();
        }
    }
}
