//! The one door to atomics and locks: `std`/`parking_lot` in a normal build, `loom`'s
//! model-checked versions under `RUSTFLAGS="--cfg loom"`.
//!
//! The allocator's lock-free protocols — a span's `sweepgen` claim (sweeper against
//! `cacheSpan`/`uncacheSpan`), the mark bits the collector sets while the sweeper
//! waits, the heap's `sweepgen` — take their atomics from here and never from
//! `std::sync` directly, so the source loom explores is the source that runs. Same
//! shape as `gort-runtime`'s `loom.rs` (itself tokio's `src/loom/` split): the std
//! side is `parking_lot`'s mutex, the mocked side wraps loom's to the same API
//! (`lock()` returns the guard).

#[cfg(not(loom))]
mod imp {
    pub(crate) mod atomic {
        pub(crate) use std::sync::atomic::{
            AtomicBool, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering,
        };
    }

    /// A mutex whose `lock` returns the guard directly (parking_lot's shape).
    pub(crate) type Mutex<T> = parking_lot::Mutex<T>;
}

#[cfg(loom)]
mod imp {
    #[allow(unused_imports)]
    pub(crate) mod atomic {
        pub(crate) use loom::sync::atomic::{
            AtomicBool, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering,
        };
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
}

pub(crate) use imp::*;

/// The 8-byte word of span memory at `addr`, as an atomic.
///
/// Span memory is not a Rust object but mapped heap, so the words the heap
/// itself keeps there (the heap bits at a span's end, the malloc header at an
/// object's start) are reached through an address. They are read by the
/// collector while the span's owner may write them, so every access is atomic —
/// std's atomic in both builds: loom can only model atomics it created, not a
/// word at an arbitrary address. The protocol on these words is the span's
/// ownership (one writer, the owner; readers get a snapshot), which the loom
/// models of `sweep.rs` check on the span's own fields.
///
/// # Safety
/// `addr` is 8-aligned and inside a span of this heap that stays mapped for
/// `'a` (heap memory is never unmapped while the heap lives).
#[inline]
pub(crate) unsafe fn span_word<'a>(addr: usize) -> &'a std::sync::atomic::AtomicU64 {
    debug_assert_eq!(addr % 8, 0);
    // SAFETY: the caller promises an aligned address of mapped memory that lives
    // for 'a; every access to the word goes through an atomic (see above).
    unsafe { std::sync::atomic::AtomicU64::from_ptr(addr as *mut u64) }
}
