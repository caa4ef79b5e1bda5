//! Which allocator cache an allocation uses: the runtime half of `mallocgc`.
//!
//! Models the part of `runtime/malloc.go` that picks the cache (`mallocgc` →
//! `getMCache`): an allocation on a goroutine uses the mcache of the P its M holds,
//! with no lock — only the holder of a P touches its cache, and an allocation never
//! switches goroutines, so the P cannot change hands half-way. Code without a P (a
//! plain thread, a goroutine inside `syscall::blocking`) uses one shared cache under
//! a lock, as Go's allocations without a P use `mcache0`.
//!
//! The span allocator itself is the `gort-alloc` crate (`alloc/`); the collector
//! (a later issue) will allocate its objects through here and flush the caches at
//! each cycle through `StoppedWorld::for_each_p_cache`.

use gort_alloc::MCache;
use std::sync::LazyLock;

/// The cache for allocations made without a P.
static NO_P_CACHE: LazyLock<parking_lot::Mutex<MCache>> =
    LazyLock::new(|| parking_lot::Mutex::new(gort_alloc::Heap::global().new_mcache()));

/// Allocates `size` zeroed bytes from the process-wide heap through the current P's
/// cache (`noscan`: the object holds no pointers). The memory lives until a sweep
/// finds it unmarked; nothing sweeps yet, so for now it lives for the process.
pub(crate) fn mallocgc(size: usize, noscan: bool) -> *mut u8 {
    let m = crate::proc::m::getm();
    let pp = m.filter(|m| !m.mcache_borrowed.get()).and_then(|m| m.p());
    match pp {
        // SAFETY: this M holds `pp`, and the allocation below does not switch
        // goroutines, so no other thread uses the cache meanwhile; no other reference
        // to it is alive on this thread (`mcache_borrowed` is false: a stopper is not
        // lending it out in `for_each_p_cache`).
        Some(pp) => unsafe { pp.mcache_mut() }.alloc(size, noscan),
        None => NO_P_CACHE.lock().alloc(size, noscan),
    }
}
