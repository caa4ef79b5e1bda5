//! A reader/writer lock that parks goroutines: Go's `sync/rwmutex.go`.
//!
//! # Design
//!
//! Five fields, as in Go: `w`, a [`RawMutex`] that writers hold for their whole
//! critical section (so writers queue among themselves with the Mutex's fairness);
//! `writer_sem` and `reader_sem`, semaphores a writer and readers sleep on;
//! `reader_count`, the readers inside or arriving; `reader_wait`, the readers a
//! waiting writer still has to wait for.
//!
//! * **Read lock**: increment `reader_count`. Non-negative: no writer, go in.
//!   Negative: a writer is pending — sleep on `reader_sem`.
//! * **Write lock**: take `w`, then announce the writer by subtracting
//!   `RWMUTEX_MAX_READERS` (2^30) from `reader_count`; the value before tells how
//!   many readers are inside. Add that to `reader_wait`; if readers remain, sleep
//!   on `writer_sem`. From the subtraction on, new readers see a negative count and
//!   queue: **writer preference**, so a stream of readers cannot starve a writer.
//! * **Read unlock**: decrement `reader_count`; if negative, a writer waits: the
//!   last departing reader (`reader_wait` → 0) releases `writer_sem`.
//! * **Write unlock**: add 2^30 back; the value is the number of readers that
//!   queued meanwhile: release `reader_sem` that many times, then unlock `w`.
//!
//! # Memory ordering
//!
//! All counter updates are `AcqRel` read-modify-writes: a reader's increment
//! acquires the last writer's release (its add of 2^30), and the writer's
//! subtraction acquires the readers' decrements. The hand-offs through the
//! semaphores are `SeqCst` inside `sema.rs`.
//!
//! # Differences from Go
//!
//! The guards make Go's `fatal error: sync: RUnlock of unlocked RWMutex` and
//! `sync: Unlock of unlocked RWMutex` impossible through this API; the checks stay
//! for the state machine's sake. The counters are 64-bit here (Go's are 32-bit);
//! with a maximum of 2^30 readers the arithmetic is the same.

use super::mutex::RawMutex;
use super::runtime::Rt;
use super::sema::{semacquire1, semrelease1};
use crate::loom::atomic::{AtomicI64, AtomicU32, Ordering};
use crate::proc::g::WaitReason;
use std::cell::UnsafeCell;
use std::ops::{Deref, DerefMut};

/// Go's `rwmutexMaxReaders`.
const RWMUTEX_MAX_READERS: i64 = 1 << 30;

/// A reader/writer lock for goroutines (Go's `sync.RWMutex`) holding the data it
/// protects. Any number of readers, or one writer; a waiting writer blocks new
/// readers (writer preference).
///
/// # Example
///
/// ```
/// use gort_runtime::sync::{RwLock, WaitGroup};
/// use std::sync::Arc;
/// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
/// unsafe { gort_runtime::run(|| {
///     let config = Arc::new(RwLock::new(String::from("v1")));
///     let wg = WaitGroup::new();
///     for _ in 0..4 {
///         let c = config.clone();
///         wg.go(move || assert!(c.read().starts_with('v')));
///     }
///     *config.write() = String::from("v2");
///     wg.wait();
///     assert_eq!(*config.read(), "v2");
/// }) };
/// ```
pub struct RwLock<T: ?Sized> {
    /// Held by the writer (pending or active).
    w: RawMutex<Rt>,
    /// The writer sleeps here until departing readers finish.
    writer_sem: AtomicU32,
    /// Readers sleep here until the writer finishes.
    reader_sem: AtomicU32,
    /// Readers in or arriving; minus 2^30 while a writer is pending or active.
    reader_count: AtomicI64,
    /// Readers the pending writer still waits for.
    reader_wait: AtomicI64,
    data: UnsafeCell<T>,
}

// SAFETY: the lock hands out either shared `&T` to readers on several threads
// (needs `T: Sync`) or `&mut T` to one writer (needs `T: Send`).
unsafe impl<T: ?Sized + Send> Send for RwLock<T> {}
// SAFETY: as above.
unsafe impl<T: ?Sized + Send + Sync> Sync for RwLock<T> {}

/// Shared access to an [`RwLock`]'s data; read-unlocks when dropped.
///
/// ```
/// let l = gort_runtime::sync::RwLock::new(1);
/// let (a, b) = (l.read(), l.read());
/// assert_eq!(*a + *b, 2);
/// ```
#[must_use = "if unused the RwLock will immediately unlock"]
pub struct RwLockReadGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
}

/// Exclusive access to an [`RwLock`]'s data; unlocks when dropped.
///
/// ```
/// let l = gort_runtime::sync::RwLock::new(1);
/// *l.write() += 1;
/// assert_eq!(*l.read(), 2);
/// ```
#[must_use = "if unused the RwLock will immediately unlock"]
pub struct RwLockWriteGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
}

// SAFETY: guards hand out `&T` (read) or `&T`/`&mut T` through `&`/`&mut` of the
// guard; sharing the guard shares `&T`, which needs `T: Sync`.
unsafe impl<T: ?Sized + Sync> Sync for RwLockReadGuard<'_, T> {}
// SAFETY: as above.
unsafe impl<T: ?Sized + Sync> Sync for RwLockWriteGuard<'_, T> {}

impl<T> RwLock<T> {
    /// A new, unlocked lock holding `value` (`const`: it can be a `static`).
    ///
    /// ```
    /// static CONFIG: gort_runtime::sync::RwLock<u32> = gort_runtime::sync::RwLock::new(1);
    /// assert_eq!(*CONFIG.read(), 1);
    /// let l = gort_runtime::sync::RwLock::new(vec![1, 2]);
    /// assert_eq!(l.read().len(), 2);
    /// ```
    pub const fn new(value: T) -> Self {
        RwLock {
            w: RawMutex::new_rt(),
            writer_sem: AtomicU32::new(0),
            reader_sem: AtomicU32::new(0),
            reader_count: AtomicI64::new(0),
            reader_wait: AtomicI64::new(0),
            data: UnsafeCell::new(value),
        }
    }

    /// Consumes the lock and returns the data.
    ///
    /// ```
    /// let l = gort_runtime::sync::RwLock::new(3);
    /// assert_eq!(l.into_inner(), 3);
    /// ```
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> RwLock<T> {
    /// Read-locks (Go's `RLock`), parking (wait reason `sync.RWMutex.RLock`) while
    /// a writer is pending or active.
    ///
    /// ```
    /// let l = gort_runtime::sync::RwLock::new(5);
    /// assert_eq!(*l.read(), 5);
    /// ```
    pub fn read(&self) -> RwLockReadGuard<'_, T> {
        crate::proc::sched::preempt_check();
        if self.reader_count.fetch_add(1, Ordering::AcqRel) + 1 < 0 {
            // A writer is pending: wait for it.
            semacquire1(&self.reader_sem, false, WaitReason::SyncRwMutexRLock);
        }
        RwLockReadGuard { lock: self }
    }

    /// Read-locks if no writer is pending or active (Go's `TryRLock`).
    ///
    /// ```
    /// let l = gort_runtime::sync::RwLock::new(());
    /// let w = l.write();
    /// assert!(l.try_read().is_none());
    /// drop(w);
    /// assert!(l.try_read().is_some());
    /// ```
    pub fn try_read(&self) -> Option<RwLockReadGuard<'_, T>> {
        let mut c = self.reader_count.load(Ordering::Relaxed);
        loop {
            if c < 0 {
                return None;
            }
            match self
                .reader_count
                .compare_exchange(c, c + 1, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return Some(RwLockReadGuard { lock: self }),
                Err(cur) => c = cur,
            }
        }
    }

    /// `RUnlock`.
    fn read_unlock(&self) {
        let r = self.reader_count.fetch_sub(1, Ordering::AcqRel) - 1;
        if r < 0 {
            // Outlined slow path.
            self.read_unlock_slow(r);
        }
    }

    /// `rUnlockSlow`: a writer is pending; the last departing reader wakes it.
    #[cold]
    fn read_unlock_slow(&self, r: i64) {
        if r + 1 == 0 || r + 1 == -RWMUTEX_MAX_READERS {
            crate::panic::fatal("sync: RUnlock of unlocked RWMutex");
        }
        if self.reader_wait.fetch_sub(1, Ordering::AcqRel) - 1 == 0 {
            // The last reader unblocks the writer.
            semrelease1(&self.writer_sem, false);
        }
    }

    /// Write-locks (Go's `Lock`), parking while another writer holds the lock
    /// (`sync.Mutex.Lock`, on the writers' mutex) or readers are still inside
    /// (`sync.RWMutex.Lock`).
    ///
    /// ```
    /// let l = gort_runtime::sync::RwLock::new(0);
    /// *l.write() = 9;
    /// assert_eq!(*l.read(), 9);
    /// ```
    pub fn write(&self) -> RwLockWriteGuard<'_, T> {
        crate::proc::sched::preempt_check();
        // First, resolve competition with other writers.
        self.w.lock();
        // Announce to readers there is a pending writer.
        let r = self
            .reader_count
            .fetch_sub(RWMUTEX_MAX_READERS, Ordering::AcqRel);
        // Wait for active readers.
        if r != 0 && self.reader_wait.fetch_add(r, Ordering::AcqRel) + r != 0 {
            semacquire1(&self.writer_sem, false, WaitReason::SyncRwMutexLock);
        }
        RwLockWriteGuard { lock: self }
    }

    /// Write-locks if nobody holds the lock in any mode (Go's `TryLock`).
    ///
    /// ```
    /// let l = gort_runtime::sync::RwLock::new(());
    /// let r = l.read();
    /// assert!(l.try_write().is_none());
    /// drop(r);
    /// assert!(l.try_write().is_some());
    /// ```
    pub fn try_write(&self) -> Option<RwLockWriteGuard<'_, T>> {
        if !self.w.try_lock() {
            return None;
        }
        if self
            .reader_count
            .compare_exchange(0, -RWMUTEX_MAX_READERS, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
        {
            self.w.unlock();
            return None;
        }
        Some(RwLockWriteGuard { lock: self })
    }

    /// `Unlock`.
    fn write_unlock(&self) {
        // Announce to readers there is no active writer.
        let r = self
            .reader_count
            .fetch_add(RWMUTEX_MAX_READERS, Ordering::AcqRel)
            + RWMUTEX_MAX_READERS;
        if r >= RWMUTEX_MAX_READERS {
            crate::panic::fatal("sync: Unlock of unlocked RWMutex");
        }
        // Unblock the readers that queued meanwhile, if any.
        for _ in 0..r {
            semrelease1(&self.reader_sem, false);
        }
        // Allow other writers to proceed.
        self.w.unlock();
    }

    /// Mutable access through a unique borrow (no locking needed).
    ///
    /// ```
    /// let mut l = gort_runtime::sync::RwLock::new(1);
    /// *l.get_mut() = 2;
    /// assert_eq!(*l.read(), 2);
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }
}

impl<T: Default> Default for RwLock<T> {
    /// A lock holding `T::default()`.
    ///
    /// ```
    /// let l: gort_runtime::sync::RwLock<u8> = Default::default();
    /// assert_eq!(*l.read(), 0);
    /// ```
    fn default() -> Self {
        RwLock::new(T::default())
    }
}

impl<T: ?Sized + std::fmt::Debug> std::fmt::Debug for RwLock<T> {
    /// Shows the data if it can be read-locked right now.
    ///
    /// ```
    /// let l = gort_runtime::sync::RwLock::new(1);
    /// assert_eq!(format!("{l:?}"), "RwLock { data: 1 }");
    /// ```
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.try_read() {
            Some(g) => f.debug_struct("RwLock").field("data", &&*g).finish(),
            None => f.debug_struct("RwLock").field("data", &"<locked>").finish(),
        }
    }
}

impl<T: ?Sized> Deref for RwLockReadGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: a read guard exists only while reader_count counts it and no
        // writer is active (a writer waits for reader_wait to drain), so only shared
        // references to `data` exist.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for RwLockReadGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.read_unlock();
    }
}

impl<T: ?Sized> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the write guard is exclusive: `w` is held and every reader has
        // left (or is parked on reader_sem) until it is dropped.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, and `&mut self` makes this borrow unique.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for RwLockWriteGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.write_unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pending_writer_turns_the_count_negative() {
        let l = RwLock::new(());
        let w = l.write();
        assert_eq!(l.reader_count.load(Ordering::Relaxed), -RWMUTEX_MAX_READERS);
        drop(w);
        assert_eq!(l.reader_count.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn plain_threads_read_together_and_write_alone() {
        let l = std::sync::Arc::new(RwLock::new(0u64));
        let ts: Vec<_> = (0..4)
            .map(|i| {
                let l = l.clone();
                std::thread::spawn(move || {
                    for _ in 0..5_000 {
                        if i % 2 == 0 {
                            *l.write() += 1;
                        } else {
                            let _ = *l.read();
                        }
                    }
                })
            })
            .collect();
        for t in ts {
            t.join().unwrap();
        }
        assert_eq!(*l.read(), 10_000);
    }
}
