//! The one door to atomics, locks and thread parking: `std`/`parking_lot` in a normal
//! build, `loom`'s model-checked versions under `RUSTFLAGS="--cfg loom"`.
//!
//! Every lock-free protocol in the runtime (the run queue, the M park note, the
//! spinning-M counters) imports its atomics from here and never from `std::sync`
//! directly, so the same source is what loom explores. This mirrors tokio's
//! `src/loom/` split: the std side adapts `parking_lot` to one small API (`lock()`
//! returns the guard, `Condvar::wait(&mut guard)`), and the mocked side wraps loom's
//! std-shaped types to that same API.
//!
//! What loom cannot model (stack switching, real OS threads blocking in the kernel)
//! stays outside this module; the models in `proc/runq.rs` and `proc/note.rs` check
//! the protocols with the switch abstracted away.

#[cfg(not(loom))]
mod imp {
    // Same names either way, whether or not every module uses each one.
    #[allow(unused_imports)]
    pub(crate) mod atomic {
        pub(crate) use std::sync::atomic::{
            fence, AtomicBool, AtomicI32, AtomicI64, AtomicPtr, AtomicU32, AtomicU64, AtomicU8,
            AtomicUsize, Ordering,
        };
    }

    /// A mutex whose `lock` returns the guard directly (parking_lot's shape).
    pub(crate) type Mutex<T> = parking_lot::Mutex<T>;
    pub(crate) type MutexGuard<'a, T> = parking_lot::MutexGuard<'a, T>;

    /// A condition variable paired with [`Mutex`].
    #[derive(Default)]
    pub(crate) struct Condvar(parking_lot::Condvar);

    impl Condvar {
        pub(crate) const fn new() -> Self {
            Condvar(parking_lot::Condvar::new())
        }
        pub(crate) fn wait<T>(&self, guard: &mut MutexGuard<'_, T>) {
            self.0.wait(guard);
        }
        /// Waits at most `dur`; spurious wake-ups are allowed, callers loop.
        pub(crate) fn wait_for<T>(&self, guard: &mut MutexGuard<'_, T>, dur: std::time::Duration) {
            let _ = self.0.wait_for(guard, dur);
        }
        pub(crate) fn notify_one(&self) {
            self.0.notify_one();
        }
    }
}

#[cfg(loom)]
mod imp {
    // The facade offers the same names either way; a loom build compiles only the
    // modelled modules, which use some of them.
    #[allow(unused_imports)]
    pub(crate) mod atomic {
        pub(crate) use loom::sync::atomic::{
            fence, AtomicBool, AtomicI32, AtomicI64, AtomicPtr, AtomicU32, AtomicU64, AtomicU8,
            AtomicUsize, Ordering,
        };
    }

    /// loom's mutex, adapted so that `lock` returns the guard as parking_lot's does.
    pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);
    pub(crate) type MutexGuard<'a, T> = loom::sync::MutexGuard<'a, T>;

    impl<T> Mutex<T> {
        pub(crate) fn new(v: T) -> Self {
            Mutex(loom::sync::Mutex::new(v))
        }
        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            self.0.lock().unwrap()
        }
    }

    pub(crate) struct Condvar(loom::sync::Condvar);

    impl Condvar {
        pub(crate) fn new() -> Self {
            Condvar(loom::sync::Condvar::new())
        }
        pub(crate) fn wait<'a, T>(&self, guard: &mut MutexGuard<'a, T>) {
            // loom's wait consumes the guard; swap it out through a raw read/write so
            // the caller keeps the parking_lot-shaped `&mut guard` API.
            // SAFETY: `guard` is read out and written back before anyone else can
            // observe it; if `wait` panicked the model run is torn down anyway.
            unsafe {
                let g = std::ptr::read(guard);
                let g = self.0.wait(g).unwrap();
                std::ptr::write(guard, g);
            }
        }
        #[allow(dead_code)]
        pub(crate) fn wait_for<'a, T>(
            &self,
            guard: &mut MutexGuard<'a, T>,
            _dur: std::time::Duration,
        ) {
            self.wait(guard)
        }
        pub(crate) fn notify_one(&self) {
            self.0.notify_one();
        }
    }
}

pub(crate) use imp::*;
