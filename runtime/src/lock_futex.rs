//! The runtime's own mutex: a futex word with Go's spin-then-sleep policy.
//!
//! Models `runtime/lock_futex.go` (`lock2`, `unlock2`; Go 1.24 moved to the
//! "spinbit" design in `lock_spinbit.go`, which adds fairness between spinning Ms
//! but keeps the same shape). Used where the runtime holds a lock for a few dozen
//! instructions and many threads may want it at once: the channel lock.
//!
//! # Design
//!
//! One `u32`: 0 unlocked, 1 locked, 2 locked with (possibly) sleepers. Taking it
//! is one CAS when free. Otherwise, as Go does on a multicore machine: spin a few
//! rounds with the CPU's pause hint (the holder is running and will be done in
//! nanoseconds), yield the thread once, and only then sleep in the kernel
//! (`futex(FUTEX_WAIT)`) after marking the word 2. Releasing is one atomic swap to
//! 0; only if the old value was 2 is a sleeper woken (`FUTEX_WAKE`, one thread).
//! A thread that wakes takes the lock with state 2 (it cannot know whether others
//! still sleep), so no sleeper is ever forgotten — Drepper's "futexes are tricky"
//! mutex #2.
//!
//! Why not `parking_lot`: its slow path parks through a global hash table of
//! queues and unparks through it too, so under heavy contention (four producers
//! and four consumers on one channel across two cores) every hand-over of the
//! lock touches more shared cache lines than the lock word itself. The futex word
//! is the only shared line here.
//!
//! The lock has no owner: it may be released by another context on the same
//! thread (g0 releasing a lock a goroutine took before parking, Go's `gopark`
//! unlock function), which a futex word allows.

use std::sync::atomic::{AtomicU32, Ordering};

const UNLOCKED: u32 = 0;
const LOCKED: u32 = 1;
const SLEEPING: u32 = 2;

/// Spin rounds before yielding (`active_spin`), and pause hints per round
/// (`active_spin_cnt`), as in Go's `lock_futex.go`.
const ACTIVE_SPIN: u32 = 4;
const ACTIVE_SPIN_CNT: u32 = 30;

/// A futex mutex (Go's runtime `mutex` on Linux).
pub(crate) struct RawLock {
    key: AtomicU32,
}

impl RawLock {
    pub(crate) const fn new() -> RawLock {
        RawLock {
            key: AtomicU32::new(UNLOCKED),
        }
    }

    /// `lock2`.
    #[inline]
    pub(crate) fn lock(&self) {
        if self
            .key
            .compare_exchange(UNLOCKED, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            return;
        }
        self.lock_slow();
    }

    #[cold]
    fn lock_slow(&self) {
        // Once we might sleep we must leave the word at SLEEPING, so every
        // acquisition from here on uses SLEEPING ("wait" in Go's comments).
        let mut wait = LOCKED;
        loop {
            for _ in 0..ACTIVE_SPIN {
                if self.try_take(wait) {
                    return;
                }
                for _ in 0..ACTIVE_SPIN_CNT {
                    std::hint::spin_loop();
                }
            }
            // `passive_spin`: let the holder's thread run if it shares our CPU.
            std::thread::yield_now();
            if self.try_take(wait) {
                return;
            }
            // Sleep: mark the word, and go to sleep only if it is still marked.
            if self.key.swap(SLEEPING, Ordering::Acquire) == UNLOCKED {
                return;
            }
            wait = SLEEPING;
            futex_wait(&self.key, SLEEPING);
        }
    }

    /// Takes the lock if it is free, leaving the word at `state` (LOCKED, or
    /// SLEEPING once this thread may have slept). Loads first so that spinners
    /// share the cache line until it is worth a CAS.
    #[inline]
    fn try_take(&self, state: u32) -> bool {
        self.key.load(Ordering::Relaxed) == UNLOCKED
            && self
                .key
                .compare_exchange(UNLOCKED, state, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
    }

    /// `unlock2`.
    ///
    /// # Safety
    /// The lock is held (by this thread or by the goroutine it is releasing it for).
    #[inline]
    pub(crate) unsafe fn unlock(&self) {
        if self.key.swap(UNLOCKED, Ordering::Release) == SLEEPING {
            futex_wake_one(&self.key);
        }
    }
}

/// Sleeps while `*key == val` (a spurious return is fine: the caller re-checks).
fn futex_wait(key: &AtomicU32, val: u32) {
    // SAFETY: FUTEX_WAIT_PRIVATE reads the u32 at `key`, which is a live atomic;
    // the remaining arguments are a null timeout and unused slots.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            key.as_ptr(),
            libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
            val,
            std::ptr::null::<libc::timespec>(),
        );
    }
}

/// Wakes one thread sleeping on `key`.
fn futex_wake_one(key: &AtomicU32) {
    // SAFETY: FUTEX_WAKE_PRIVATE only uses the address as a key; waking nobody is
    // harmless.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            key.as_ptr(),
            libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
            1,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// Four threads increment a plain counter under the lock: no update is lost,
    /// so the lock excludes, and nobody sleeps forever, so no wake-up is lost.
    #[test]
    fn excludes_and_wakes_under_contention() {
        struct Shared {
            lock: RawLock,
            n: std::cell::UnsafeCell<u64>,
        }
        // SAFETY: `n` is only touched with `lock` held.
        unsafe impl Sync for Shared {}
        let s = Arc::new(Shared {
            lock: RawLock::new(),
            n: std::cell::UnsafeCell::new(0),
        });
        let hs: Vec<_> = (0..4)
            .map(|_| {
                let s = s.clone();
                std::thread::spawn(move || {
                    for i in 0..100_000 {
                        s.lock.lock();
                        // SAFETY: the lock is held.
                        unsafe { *s.n.get() += 1 };
                        if i % 1000 == 0 {
                            // Hold it a while so the others go to sleep.
                            std::thread::sleep(std::time::Duration::from_micros(50));
                        }
                        // SAFETY: we took it above.
                        unsafe { s.lock.unlock() };
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        // SAFETY: every thread has finished.
        assert_eq!(unsafe { *s.n.get() }, 400_000);
    }
}
