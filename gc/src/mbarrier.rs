//! The write barrier's place: what every `GcSlot` store calls.
//!
//! Models the call site of `runtime/mbarrier.go`'s barrier (the compiler's
//! `if writeBarrier.enabled { gcWriteBarrier(...) }` before a pointer store).
//!
//! # Design (part 2 of the collector, not built yet)
//!
//! Go's hybrid barrier shades both the overwritten pointer (Yuasa: what a
//! goroutine may have taken from the heap onto an unscanned stack) and the new
//! one (Dijkstra: what it may be hiding from a scanned stack). Go's
//! implementation does not test the stack's colour: whenever
//! `writeBarrier.enabled` is set (during mark and mark termination), it records
//! both values in the current P's 512-entry `wbBuf` (`mwbbuf.go`), and a full
//! buffer is flushed by greying every entry. `GcSlot::swap` gets the exact old
//! value from its atomic swap, so the barrier runs after the store with both
//! values in hand.
//!
//! Today the collector marks only with the world stopped (part 1), when no
//! `GcSlot` store can run, so the hook does nothing. It must never contain a
//! safepoint (no yield, no allocation): a goroutine inside it cannot be stopped.

/// Called by every `GcSlot` store with the old and the new pointer (0: none).
/// Part 2 turns it into Go's `wbBuf` put while the barrier is enabled.
///
/// ```
/// // What `GcSlot::store` does after its swap; a no-op while no mark runs.
/// gort_gc::mbarrier::gc_write_barrier(0, 0);
/// ```
#[inline(always)]
pub fn gc_write_barrier(old: usize, new: usize) {
    let _ = (old, new);
}
