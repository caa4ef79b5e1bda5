//! The one door to atomics, locks and cells: `std`/`parking_lot` in a normal
//! build, `loom`'s model-checked versions under `RUSTFLAGS="--cfg loom"`.
//!
//! The collector's lock-free protocol — the work-buffer lists (`mgcwork.rs`:
//! the lock-free stacks of full and empty buffers, and the `nwait` count that
//! tells parallel markers when the mark is done) — takes its atomics from here,
//! so the source loom explores is the source that runs. Same shape as
//! `gort-alloc`'s `loom.rs`; `UnsafeCell` is tokio's `with`/`with_mut` shape, so
//! that loom checks every access to a work buffer's contents against the
//! hand-offs that are meant to order it.
//!
//! Words of GC objects are not here on purpose: an object lives in span memory
//! (not a Rust object loom created), and the marker reads its pointer words by
//! address. So `GcSlot`, `GcVec`'s length and the marker's loads use std's
//! atomics in both builds ([`word_at`]); loom could not model them anyway.

#[cfg(not(loom))]
mod imp {
    pub(crate) mod atomic {
        pub(crate) use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, Ordering};
    }

    /// A mutex whose `lock` returns the guard directly (parking_lot's shape).
    pub(crate) type Mutex<T> = parking_lot::Mutex<T>;

    /// What a waiting marker does between two looks at the global lists.
    pub(crate) fn spin_wait() {
        std::thread::yield_now();
    }

    /// `std::cell::UnsafeCell` with loom's closure-based API.
    #[derive(Debug)]
    pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

    impl<T> UnsafeCell<T> {
        pub(crate) const fn new(v: T) -> UnsafeCell<T> {
            UnsafeCell(std::cell::UnsafeCell::new(v))
        }
        /// Reads through a raw pointer: the caller's protocol orders the read.
        #[inline(always)]
        pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
            f(self.0.get())
        }
        /// Writes through a raw pointer: the caller's protocol makes it exclusive.
        #[inline(always)]
        pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }
    }
}

#[cfg(loom)]
mod imp {
    pub(crate) mod atomic {
        pub(crate) use loom::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, Ordering};
    }

    /// loom's mutex, adapted so that `lock` returns the guard as parking_lot's does.
    pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

    impl<T> Mutex<T> {
        pub(crate) fn new(v: T) -> Self {
            Mutex(loom::sync::Mutex::new(v))
        }
        pub(crate) fn lock(&self) -> loom::sync::MutexGuard<'_, T> {
            self.0.lock().unwrap()
        }
    }

    /// A waiting marker lets loom run the others.
    pub(crate) fn spin_wait() {
        loom::thread::yield_now();
    }

    pub(crate) use loom::cell::UnsafeCell;
}

pub(crate) use imp::*;

/// The word at `addr` of GC memory (an object, a root range) as an atomic, in
/// both builds (see the module comment).
///
/// # Safety
/// `addr` is 8-aligned and points at memory that stays allocated for `'a` and is
/// only ever accessed atomically while others may access it.
#[inline(always)]
pub(crate) unsafe fn word_at<'a>(addr: usize) -> &'a std::sync::atomic::AtomicUsize {
    debug_assert_eq!(addr % std::mem::align_of::<usize>(), 0);
    // SAFETY: the caller's promise (alignment, lifetime, atomic access only).
    unsafe { &*(addr as *const std::sync::atomic::AtomicUsize) }
}
