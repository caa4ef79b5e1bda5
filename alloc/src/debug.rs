//! `runtime/debug`-style entry points on the process-wide heap ([`Heap::global`]):
//! Go's `runtime.ReadMemStats` and `debug.FreeOSMemory`. The `gort` crate
//! re-exports them.

use crate::{Heap, MemStats};

/// Statistics of the process-wide heap (Go's `runtime.ReadMemStats`).
///
/// ```
/// let mut c = gort_alloc::Heap::global().new_mcache();
/// c.alloc(100_000, true);
/// assert!(gort_alloc::debug::mem_stats().heap_inuse >= 100_000);
/// ```
pub fn mem_stats() -> MemStats {
    Heap::global().mem_stats()
}

/// Returns every free page of the process-wide heap to the OS now (Go's
/// `debug.FreeOSMemory`, after its collection). Returns the bytes released.
///
/// ```
/// gort_alloc::debug::free_os_memory();
/// let m = gort_alloc::debug::mem_stats();
/// assert_eq!(m.heap_released, m.heap_idle);
/// ```
pub fn free_os_memory() -> usize {
    Heap::global().free_os_memory()
}
