//! Sweeping: turning mark bits into free slots, span by span.
//!
//! Models `runtime/mgcsweep.go` (`sweepLocked.sweep`, `sweepone`,
//! `sweepLocker.tryAcquire`, `finishsweep_m`, `nextSpanForSweep`) and the sweep
//! start in `runtime/mgc.go` (`gcSweep`).
//!
//! # Design: the API the collector drives
//!
//! 1. The collector marks reachable objects: [`MSpan::mark`](crate::span::MSpan::mark)
//!    (or [`Heap::mark`] from an address).
//! 2. With the world stopped, it calls [`Heap::start_sweep`] (Go's `gcSweep`):
//!    the heap's `sweepgen` grows by 2, which at once turns every mcentral's swept
//!    sets into its unswept sets (see `mcentral.rs`), and every mcache is flushed
//!    with [`MCache::prepare_for_sweep`](crate::MCache::prepare_for_sweep).
//! 3. Spans are then swept lazily and concurrently with allocation: by
//!    `cache_span` when an mcache needs a span of that class, by `uncache_span`
//!    for spans that were cached when the cycle began, and by whoever calls
//!    [`Heap::sweepone`] (Go's background sweeper) or [`Heap::finish_sweep`].
//!
//! Sweeping one span (`sweep`, Go's `sweepLocked.sweep`) is: count the marked
//! objects, make the mark bits the alloc bits, clear the mark bits, rewind
//! `freeindex` to 0 (the allocator now skips exactly the survivors), note that
//! freed memory needs zeroing, publish `sweepgen = sg`, and then file the span:
//! no survivors → its pages go back to the mheap; all slots taken → full swept
//! set; otherwise the partial swept set. When the caller will use the span at once
//! (`preserve`, from `cache_span`) it is not filed.
//!
//! # Memory ordering
//!
//! Only the thread that moved a span's `sweepgen` from `sg − 2` to `sg − 1` (CAS,
//! acquire-release) sweeps it. The sweep's writes are published by the release
//! store of `sg`; the mark bits it reads were set before the world stopped
//! (`start_sweep`'s caller orders them). The loom models below check the hand-off.
//!
//! # What gort simplifies
//!
//! No finalizers/specials, no proportional sweep pacing, no `reclaim` by page
//! count; `start_sweep` finishes the previous cycle itself (Go's `finishsweep_m` at
//! the start of a GC). [`Heap::finish_sweep`] and `start_sweep` assume no other
//! thread is sweeping at the same moment (the world is stopped); Go counts active
//! sweepers (`sweep.active`) to know when a cycle is really done.

use crate::loom::atomic::{AtomicUsize, Ordering};
use crate::mcentral::SpanPtr;
use crate::mheap::Heap;
use crate::sizeclass::PAGE_SIZE;
use crate::span::NUM_SPAN_CLASSES;

/// The background sweeper's position (Go's `sweep.centralIndex`): span class × 2,
/// plus 0 for the full unswept set, 1 for the partial one.
pub(crate) struct SweepState {
    cursor: AtomicUsize,
}

impl SweepState {
    pub(crate) fn new() -> SweepState {
        SweepState { cursor: AtomicUsize::new(0) }
    }
}

/// Sweeps a span this thread claimed (`sweepgen == sg − 1`); files it, or frees
/// it to the heap, unless `preserve`. Returns true if the span was freed.
pub(crate) fn sweep(heap: &Heap, s: SpanPtr, preserve: bool) -> bool {
    let span = s.get();
    let sg = heap.sweepgen();
    debug_assert_eq!(span.sweepgen.load(Ordering::Relaxed), sg.wrapping_sub(1), "sweeping an unclaimed span");
    let spc = span.spanclass();
    let before = span.alloc_count();
    let nalloc = span.sweep_bits();
    let nfreed = before - nalloc;
    if nfreed > 0 {
        span.needzero.set(true);
        if spc.sizeclass() == 0 {
            heap.stats.large_free(span.npages() * PAGE_SIZE);
        } else {
            heap.stats.small_free(spc.sizeclass(), nfreed);
        }
    }
    span.sweepgen.store(sg, Ordering::Release);
    if preserve {
        return false;
    }
    if nalloc == 0 {
        heap.free_span(s);
        return true;
    }
    let c = heap.central(spc);
    if nalloc == span.nelems() {
        c.full_swept(sg).push(s);
    } else {
        c.partial_swept(sg).push(s);
    }
    false
}

impl Heap {
    /// Starts a sweep cycle (Go's `gcSweep` at mark termination): finishes the
    /// previous cycle, then advances `sweepgen` by 2 so that every span not cached
    /// becomes "needs sweeping". Call it with the world stopped, after marking, and
    /// flush every mcache ([`crate::MCache::prepare_for_sweep`]) before it allocates
    /// again.
    ///
    /// ```
    /// let heap = gort_alloc::Heap::new();
    /// let mut c = heap.new_mcache();
    /// let keep = c.alloc(32, true) as usize;
    /// let drop = c.alloc(32, true) as usize;
    /// heap.mark(keep);
    /// heap.start_sweep();
    /// c.prepare_for_sweep();
    /// heap.finish_sweep();
    /// let (span, _, i) = heap.find_object(keep).unwrap();
    /// assert!(!span.is_free(i));
    /// assert!(span.is_free(span.object_index(drop)));
    /// ```
    pub fn start_sweep(&self) {
        self.finish_sweep();
        self.sweep.cursor.store(0, Ordering::Relaxed);
        self.sweepgen.fetch_add(2, Ordering::AcqRel);
    }

    /// Sweeps one unswept span not held by an mcache, if any is left; returns its
    /// page count (Go's `sweepone`, the background sweeper's step). Safe to call
    /// from any thread, concurrently with allocation and other `sweepone`s.
    ///
    /// ```
    /// let heap = gort_alloc::Heap::new();
    /// let mut c = heap.new_mcache();
    /// c.alloc(100_000, true); // a 13-page large object, never marked
    /// heap.start_sweep();
    /// c.prepare_for_sweep();
    /// assert_eq!(heap.sweepone(), Some(13));
    /// assert_eq!(heap.sweepone(), None);
    /// assert_eq!(heap.mem_stats().heap_inuse, 0);
    /// ```
    pub fn sweepone(&self) -> Option<usize> {
        let sg = self.sweepgen();
        loop {
            let i = self.sweep.cursor.load(Ordering::Relaxed);
            if i >= NUM_SPAN_CLASSES * 2 {
                return None;
            }
            let c = &self.central[i / 2].0;
            let set = if i % 2 == 0 { c.full_unswept(sg) } else { c.partial_unswept(sg) };
            match set.pop() {
                Some(s) => {
                    if s.get().try_acquire_sweep(sg) {
                        let npages = s.get().npages();
                        sweep(self, s, false);
                        return Some(npages);
                    }
                }
                None => {
                    let _ = self.sweep.cursor.compare_exchange(i, i + 1, Ordering::Relaxed, Ordering::Relaxed);
                }
            }
        }
    }

    /// Sweeps every span left in this cycle (Go's `finishsweep_m`). Spans still
    /// cached by unflushed mcaches are swept when those caches give them back.
    ///
    /// ```
    /// let heap = gort_alloc::Heap::new();
    /// let mut c = heap.new_mcache();
    /// for _ in 0..10_000 {
    ///     c.alloc(48, true);
    /// }
    /// heap.start_sweep();
    /// c.prepare_for_sweep();
    /// heap.finish_sweep();
    /// let m = heap.mem_stats();
    /// assert_eq!((m.heap_objects, m.frees, m.heap_inuse), (0, 10_000, 0));
    /// ```
    pub fn finish_sweep(&self) {
        while self.sweepone().is_some() {}
    }
}
