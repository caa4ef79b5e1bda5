//! Condition variables: Go's `sync/cond.go` on the runtime's `notifyList`
//! (`sema.go`).
//!
//! # Design
//!
//! A `Cond` is only a ticket queue ([`NotifyList`]). `wait(guard)`:
//!
//! 1. takes a ticket (`notifyListAdd`) *while still holding the mutex*;
//! 2. unlocks the mutex (drops the guard);
//! 3. sleeps until its ticket is notified (`notifyListWait`) — at once if a
//!    `signal`/`broadcast` already covered it between 2 and 3;
//! 4. locks the mutex again and returns the new guard.
//!
//! Taking the ticket before unlocking is what makes the classic pattern safe: a
//! goroutine that changes the condition under the mutex and then signals is
//! ordered after the waiter's ticket, so the signal cannot fall between "checked
//! the condition" and "went to sleep". `signal` wakes the oldest unnotified ticket
//! — the longest waiter — and never a goroutine whose ticket was taken after the
//! signal; `broadcast` wakes every ticket taken so far.
//!
//! As in Go, a woken waiter re-competes for the mutex, so it must re-check its
//! condition in a loop.
//!
//! # Differences from Go
//!
//! Go's `Cond` holds its `Locker` (`c.L`) and panics `sync.Cond is copied` if the
//! struct is copied after first use. In Rust the mutex comes with the guard each
//! call passes in (any [`Mutex`], like `std::sync::Condvar`), and a `Cond` cannot
//! be moved while a goroutine borrows it, so the copy check has no counterpart.

use super::sema::NotifyList;
use super::{Mutex, MutexGuard};
use crate::proc::g::WaitReason;

/// A condition variable for goroutines (Go's `sync.Cond`), used with a [`Mutex`].
///
/// # Example
///
/// ```
/// use gort_runtime::sync::{Cond, Mutex};
/// use std::sync::Arc;
/// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
/// unsafe { gort_runtime::run(|| {
///     let state = Arc::new((Mutex::new(false), Cond::new()));
///     let s = state.clone();
///     gort_runtime::go(move || {
///         *s.0.lock() = true;
///         s.1.signal();
///     });
///     let (m, c) = &*state;
///     let mut ready = m.lock();
///     while !*ready {
///         ready = c.wait(ready);
///     }
/// }) };
/// ```
pub struct Cond {
    notify: NotifyList,
}

impl Cond {
    /// A condition variable with no waiters.
    ///
    /// ```
    /// let c = gort_runtime::sync::Cond::new();
    /// c.signal(); // nobody waits: nothing happens
    /// ```
    pub const fn new() -> Self {
        Cond {
            notify: NotifyList::new(),
        }
    }

    /// Atomically unlocks the guard's mutex and parks the goroutine (wait reason
    /// `sync.Cond.Wait`) until a `signal` or `broadcast`; relocks before returning.
    /// Wake-ups are not tied to the condition: re-check it in a loop.
    ///
    /// ```
    /// use gort_runtime::sync::{Cond, Mutex};
    /// use std::sync::Arc;
    /// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    /// unsafe { gort_runtime::run(|| {
    ///     let p = Arc::new((Mutex::new(0), Cond::new()));
    ///     let q = p.clone();
    ///     gort_runtime::go(move || { *q.0.lock() = 7; q.1.broadcast(); });
    ///     let mut v = p.0.lock();
    ///     while *v == 0 { v = p.1.wait(v); }
    ///     assert_eq!(*v, 7);
    /// }) };
    /// ```
    pub fn wait<'a, T: ?Sized>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        let m: &'a Mutex<T> = Mutex::guard_mutex(&guard);
        let t = self.notify.add();
        drop(guard);
        self.notify.wait(t, WaitReason::SyncCondWait);
        m.lock()
    }

    /// Wakes the goroutine that has waited longest, if any. The caller need not
    /// hold the mutex (Go allows both).
    ///
    /// ```
    /// let c = gort_runtime::sync::Cond::new();
    /// c.signal();
    /// ```
    pub fn signal(&self) {
        self.notify.notify_one()
    }

    /// Wakes every waiting goroutine.
    ///
    /// ```
    /// let c = gort_runtime::sync::Cond::new();
    /// c.broadcast();
    /// ```
    pub fn broadcast(&self) {
        self.notify.notify_all()
    }
}

impl Default for Cond {
    /// Same as [`Cond::new`].
    ///
    /// ```
    /// let c: gort_runtime::sync::Cond = Default::default();
    /// c.broadcast();
    /// ```
    fn default() -> Self {
        Cond::new()
    }
}

impl std::fmt::Debug for Cond {
    /// Opaque: `Cond { .. }`.
    ///
    /// ```
    /// assert_eq!(format!("{:?}", gort_runtime::sync::Cond::new()), "Cond { .. }");
    /// ```
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cond").finish_non_exhaustive()
    }
}
