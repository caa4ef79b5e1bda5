//! Run something exactly once: Go's `sync/once.go`.
//!
//! # Design
//!
//! A `done` flag and a [`Mutex`]. The fast path is one `Acquire` load of `done`:
//! once it is set, `call_once` returns without touching the mutex. Otherwise the
//! slow path (`doSlow`) takes the mutex, checks `done` again (another goroutine
//! may have run `f` while we waited), runs `f`, and sets `done` with `Release`
//! *after* `f` returns — so a goroutine that sees `done` also sees everything `f`
//! did. Concurrent callers park on the mutex until the first call finishes: no
//! caller returns before `f` has completed.
//!
//! As in Go (`defer o.done.Store(1)`), `done` is set even if `f` panics: the
//! panic propagates to the caller that ran `f`, and every later `call_once` returns
//! without running anything. Rust's `std::sync::Once` instead *poisons*; the Go
//! behaviour is what this module teaches.
//!
//! Go's `Once` is a value (`var once sync.Once`); ours is too: `Once::new` is
//! `const`, so a `Once` can be a `static`.

use super::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// Runs a function exactly once (Go's `sync.Once`), parking concurrent callers
/// until it has finished.
///
/// # Example
///
/// ```
/// use gort_runtime::sync::{Once, WaitGroup};
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::sync::Arc;
/// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
/// unsafe { gort_runtime::run(|| {
///     let once = Arc::new(Once::new());
///     let runs = Arc::new(AtomicU32::new(0));
///     let wg = WaitGroup::new();
///     for _ in 0..10 {
///         let (once, runs) = (once.clone(), runs.clone());
///         wg.go(move || once.call_once(|| { runs.fetch_add(1, Ordering::Relaxed); }));
///     }
///     wg.wait();
///     assert_eq!(runs.load(Ordering::Relaxed), 1);
/// }) };
/// ```
#[derive(Default)]
pub struct Once {
    /// Set (Release) once `f` has returned or panicked; read (Acquire) by the fast path.
    done: AtomicBool,
    m: Mutex<()>,
}

impl Once {
    /// A `Once` that has not run yet (`const`: it can be a `static`).
    ///
    /// ```
    /// static INIT: gort_runtime::sync::Once = gort_runtime::sync::Once::new();
    /// INIT.call_once(|| println!("initialised"));
    /// assert!(INIT.is_completed());
    /// let o = gort_runtime::sync::Once::new();
    /// assert!(!o.is_completed());
    /// ```
    pub const fn new() -> Self {
        Once {
            done: AtomicBool::new(false),
            m: Mutex::new(()),
        }
    }

    /// Calls `f` if and only if no call on this `Once` has run yet; callers that
    /// arrive while `f` runs wait for it to finish. If `f` panics the panic reaches
    /// this caller and the `Once` still counts as done (Go's behaviour).
    ///
    /// ```
    /// let o = gort_runtime::sync::Once::new();
    /// let mut n = 0;
    /// o.call_once(|| n += 1);
    /// o.call_once(|| n += 1);
    /// assert_eq!(n, 1);
    /// ```
    pub fn call_once<F: FnOnce()>(&self, f: F) {
        // Note: not a CAS on `done` — callers that lose must wait for `f` to
        // finish, not return early (Go's comment in once.go makes the same point).
        if !self.done.load(Ordering::Acquire) {
            self.do_slow(f);
        }
    }

    /// `Once.doSlow`.
    #[cold]
    fn do_slow<F: FnOnce()>(&self, f: F) {
        let _g = self.m.lock();
        if !self.done.load(Ordering::Relaxed) {
            // Go's `defer o.done.Store(1)`: set even when `f` unwinds. Declared
            // after `_g`, so it runs before the unlock.
            struct SetDone<'a>(&'a AtomicBool);
            impl Drop for SetDone<'_> {
                fn drop(&mut self) {
                    self.0.store(true, Ordering::Release);
                }
            }
            let _d = SetDone(&self.done);
            f();
        }
    }

    /// Whether a call has completed (returned or panicked).
    ///
    /// ```
    /// let o = gort_runtime::sync::Once::new();
    /// o.call_once(|| {});
    /// assert!(o.is_completed());
    /// ```
    pub fn is_completed(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }
}

impl std::fmt::Debug for Once {
    /// Shows whether it has run.
    ///
    /// ```
    /// let o = gort_runtime::sync::Once::new();
    /// assert_eq!(format!("{o:?}"), "Once { done: false }");
    /// ```
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Once")
            .field("done", &self.is_completed())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn done_after_a_panic_and_never_runs_again() {
        let o = Once::new();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            o.call_once(|| panic!("boom"))
        }));
        assert!(r.is_err());
        assert!(o.is_completed());
        let mut ran = false;
        o.call_once(|| ran = true);
        assert!(!ran);
    }
}
