//! Which allocator cache an allocation uses: the runtime half of `mallocgc`.
//!
//! Models the part of `runtime/malloc.go` that picks the cache (`mallocgc` →
//! `getMCache`): an allocation on a goroutine uses the mcache of the P its M holds,
//! with no lock — only the holder of a P touches its cache, and an allocation never
//! switches goroutines, so the P cannot change hands half-way. Code without a P (a
//! plain thread, a goroutine inside `syscall::blocking`) uses one shared cache under
//! a lock, as Go's allocations without a P use `mcache0`.
//!
//! The span allocator itself is the `gort-alloc` crate (`alloc/`). The collector
//! (`gc/`, not built yet) is meant to allocate its objects through here and flush
//! the caches at each cycle.
//!
//! # Flushing at a sweep cycle
//!
//! Every cache must be flushed (`MCache::prepare_for_sweep`) after
//! `Heap::start_sweep` and before it allocates again, or what it hands out from a
//! span cached before the cycle is swept as garbage. The P caches cannot allocate
//! while the world is stopped, and the stopper flushes them with
//! `StoppedWorld::for_each_p_cache`. The shared no-P cache is different: threads
//! without a P are not stopped by a stop-the-world, and may allocate through it
//! at any moment. So the stopper takes it with `StoppedWorld::no_p_cache`, which
//! holds its lock — every thread without a P waits — across `start_sweep` and the
//! flush:
//!
//! ```text
//! let mut world = stop_the_world();
//! // ... mark ...
//! {
//!     let mut no_p = world.no_p_cache(); // threads without a P wait from here
//!     heap.start_sweep();
//!     no_p.prepare_for_sweep();
//! }                                      // ... to here
//! world.for_each_p_cache(|_, c| c.prepare_for_sweep());
//! ```
//!
//! While the stopper holds the no-P cache it must not allocate through gort
//! itself: a stopper outside a goroutine has no P, so its allocations go to that
//! very cache. Such an allocation panics rather than deadlocks: `NO_P_HOLDER`
//! names the holding thread. A stopper that is a goroutine allocates through its
//! own P's cache instead, which is not flushed until `for_each_p_cache`: it must
//! not allocate between `start_sweep` and that flush either (debug builds catch
//! it when the cache next refills), as Go's mark termination does not.

use gort_alloc::MCache;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::LazyLock;

/// The cache for allocations made without a P.
static NO_P_CACHE: LazyLock<parking_lot::Mutex<MCache>> =
    LazyLock::new(|| parking_lot::Mutex::new(gort_alloc::Heap::global().new_mcache()));

/// The thread holding `NO_P_CACHE` through a [`NoPCache`] (0: none), so that its
/// own allocation panics instead of deadlocking. Written by the holder under the
/// cache's lock; compared by every allocation without a P against its own
/// thread (a stale value never equals the reader's own thread id unless the
/// reader itself wrote it).
static NO_P_HOLDER: AtomicUsize = AtomicUsize::new(0);

/// An id of the calling OS thread, never 0.
fn thread_key() -> usize {
    // SAFETY: `pthread_self` has no preconditions and cannot fail.
    let t = unsafe { libc::pthread_self() } as usize;
    debug_assert_ne!(t, 0);
    t
}

/// Allocates `size` zeroed bytes from the process-wide heap through the current P's
/// cache (`noscan`: the object holds no pointers). The memory lives until a sweep
/// finds it unmarked. Nothing in the runtime marks or sweeps (there is no
/// collector yet), so unless a caller runs a sweep cycle itself, as the tests do,
/// it lives for the process.
pub(crate) fn mallocgc(size: usize, noscan: bool) -> *mut u8 {
    let m = crate::proc::m::getm();
    let pp = m.filter(|m| !m.mcache_borrowed.get()).and_then(|m| m.p());
    match pp {
        // SAFETY: this M holds `pp`, and the allocation below does not switch
        // goroutines, so no other thread uses the cache meanwhile; no other reference
        // to it is alive on this thread (`mcache_borrowed` is false: a stopper is not
        // lending it out in `for_each_p_cache`).
        Some(pp) => unsafe { pp.mcache_mut() }.alloc(size, noscan),
        None => {
            if NO_P_HOLDER.load(Ordering::Relaxed) == thread_key() {
                panic!(
                    "gort: allocation while this thread holds the no-P cache \
                     (StoppedWorld::no_p_cache): it would deadlock"
                );
            }
            NO_P_CACHE.lock().alloc(size, noscan)
        }
    }
}

/// The shared cache for allocations without a P, held by a stopper (see the
/// module comment): while it lives, threads without a P wait to allocate. Get it
/// with [`crate::stw::StoppedWorld::no_p_cache`].
pub struct NoPCache<'w> {
    guard: parking_lot::MutexGuard<'static, MCache>,
    /// Borrows the stopped world: the cache is flushed while it is stopped.
    _world: PhantomData<&'w mut ()>,
}

impl NoPCache<'_> {
    /// Locks the no-P cache for the calling thread.
    pub(crate) fn lock<'w>() -> NoPCache<'w> {
        let guard = NO_P_CACHE.lock();
        NO_P_HOLDER.store(thread_key(), Ordering::Relaxed);
        NoPCache {
            guard,
            _world: PhantomData,
        }
    }
}

impl std::ops::Deref for NoPCache<'_> {
    type Target = MCache;
    fn deref(&self) -> &MCache {
        &self.guard
    }
}

impl std::ops::DerefMut for NoPCache<'_> {
    fn deref_mut(&mut self) -> &mut MCache {
        &mut self.guard
    }
}

impl Drop for NoPCache<'_> {
    fn drop(&mut self) {
        // Before the guard (a field, dropped after this) unlocks.
        NO_P_HOLDER.store(0, Ordering::Relaxed);
    }
}
