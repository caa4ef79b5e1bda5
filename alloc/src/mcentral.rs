//! `mcentral`: the spans of one span class that no mcache holds, in four sets.
//!
//! Models `runtime/mcentral.go` (`mcentral`, `cacheSpan`, `uncacheSpan`, `grow`,
//! `partialSwept`, `partialUnswept`, `fullSwept`, `fullUnswept`) and the
//! `spanSet` of `runtime/mspanset.go`.
//!
//! # Design
//!
//! There is one mcentral per span class (136). It keeps spans in `partial` (some
//! free slots) and `full` (none) sets, and each of those twice: one set holds spans
//! already swept in this cycle, the other spans still to sweep. Which index is
//! which flips with every collection: the swept set is `[sweepgen / 2 % 2]`, the
//! unswept set the other one. Since the heap's `sweepgen` grows by 2 when a sweep
//! cycle starts, every swept set becomes the unswept set at that moment without
//! moving a single span — Go's sweepgen trick.
//!
//! `cache_span` (an mcache needs a span with free slots):
//! 1. pop a partial swept span;
//! 2. else pop partial unswept spans, claim one (`sweepgen` CAS `sg−2 → sg−1`: the
//!    background sweeper may be racing for it), sweep it and use it — a span that
//!    had free slots before the sweep still has them after;
//! 3. else do the same with full unswept spans, keeping the first one that the
//!    sweep freed a slot in, and putting the ones still full on the full swept set;
//!    steps 2–3 give up after 100 spans (`spanBudget`) so one allocation never
//!    sweeps a whole class;
//! 4. else `grow`: a fresh span from the mheap.
//!
//! `uncache_span` (the mcache is done with it): if the span's `sweepgen` is
//! `sg + 1`, a sweep cycle started while it was cached, so it is swept now;
//! otherwise it goes back on the partial or full swept set.
//!
//! # Memory ordering
//!
//! A span in a set belongs to the set; popping it under the set's lock transfers
//! ownership (the lock's release/acquire orders the previous owner's `Relaxed`
//! writes to its allocation state before the new owner's reads). Spans in an unswept set can be
//! popped by two parties — `cache_span` and the background sweeper — but each pop
//! is exclusive, and the CAS on `sweepgen` decides sweeping rights against spans
//! that the sweeper reached by other means. See the loom models in `sweep.rs`.
//!
//! A batch of full spans an mcache files late (`file_full`) may hold spans a new
//! cycle overtook: they are in no set, so the sweeper cannot reach them, and the
//! filer sweeps them itself.
//!
//! # What gort simplifies
//!
//! Go's `spanSet` is a lock-free growable array of blocks; ours is a `Vec` behind a
//! mutex per set (the same operations, push and pop), with a lock-free check for
//! the empty set. It is touched once per span, not per object, and the mutexes
//! are per set and per class, each on its own cache lines. Go charges sweep credit (`deductSweepCredit`) and counts `heapLive` here;
//! gort has no pacer yet.

use crate::loom::atomic::{AtomicUsize, Ordering};
use crate::loom::Mutex;
use crate::mheap::{Heap, PCaches};
use crate::sizeclass::CLASS_TO_ALLOCNPAGES;
use crate::span::{MSpan, SpanClass};
use std::ptr::NonNull;

/// A span pointer that may be sent between threads: spans live in the heap's span
/// fixalloc for the heap's lifetime, and ownership is passed by the protocols
/// described in each module.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct SpanPtr(pub(crate) NonNull<MSpan>);
// SAFETY: see the type's comment; MSpan itself is Sync.
unsafe impl Send for SpanPtr {}

impl SpanPtr {
    /// The span.
    #[inline]
    pub(crate) fn get<'a>(self) -> &'a MSpan {
        // SAFETY: span structs are never deallocated while the heap lives, and a
        // SpanPtr never outlives its heap (it is held by the heap's own structures
        // or by an mcache that keeps the heap alive through an Arc).
        unsafe { self.0.as_ref() }
    }
}

/// A set of spans (Go's `spanSet`), on cache lines of its own.
///
/// `len` mirrors the vector's length (written under the lock) so that `pop` on an
/// empty set — the common case for the unswept sets, and for the partial set of
/// a class whose spans are all cached — returns without taking the lock, as
/// Go's lock-free `spanSet.pop` does when head meets tail. A pop racing with a
/// push may miss the new span; the caller then grows the heap or moves on,
/// which is what it would have done a moment earlier.
#[repr(align(128))]
pub(crate) struct SpanSet {
    spans: Mutex<Vec<SpanPtr>>,
    len: AtomicUsize,
}

impl SpanSet {
    fn new() -> SpanSet {
        SpanSet {
            spans: Mutex::new(Vec::new()),
            len: AtomicUsize::new(0),
        }
    }
    pub(crate) fn push(&self, s: SpanPtr) {
        let mut v = self.spans.lock();
        v.push(s);
        self.len.store(v.len(), Ordering::Relaxed);
    }
    /// Pushes several spans under one lock acquisition.
    pub(crate) fn push_many(&self, spans: impl IntoIterator<Item = SpanPtr>) {
        let mut v = self.spans.lock();
        v.extend(spans);
        self.len.store(v.len(), Ordering::Relaxed);
    }
    pub(crate) fn pop(&self) -> Option<SpanPtr> {
        if self.len.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let mut v = self.spans.lock();
        let s = v.pop();
        self.len.store(v.len(), Ordering::Relaxed);
        s
    }
}

/// The central free lists of one span class (Go's `mcentral`).
pub(crate) struct MCentral {
    pub(crate) spanclass: SpanClass,
    partial: [SpanSet; 2],
    full: [SpanSet; 2],
}

/// How many spans `cache_span` may sweep before it grows the heap (Go's `spanBudget`).
const SPAN_BUDGET: usize = 100;

impl MCentral {
    pub(crate) fn new(spanclass: SpanClass) -> MCentral {
        MCentral {
            spanclass,
            partial: [SpanSet::new(), SpanSet::new()],
            full: [SpanSet::new(), SpanSet::new()],
        }
    }

    /// Spans with free slots, swept this cycle.
    pub(crate) fn partial_swept(&self, sg: u32) -> &SpanSet {
        &self.partial[(sg / 2 % 2) as usize]
    }
    /// Spans with free slots as of the last cycle, not swept yet.
    pub(crate) fn partial_unswept(&self, sg: u32) -> &SpanSet {
        &self.partial[(1 - sg / 2 % 2) as usize]
    }
    /// Full spans, swept this cycle.
    pub(crate) fn full_swept(&self, sg: u32) -> &SpanSet {
        &self.full[(sg / 2 % 2) as usize]
    }
    /// Full spans as of the last cycle, not swept yet.
    pub(crate) fn full_unswept(&self, sg: u32) -> &SpanSet {
        &self.full[(1 - sg / 2 % 2) as usize]
    }

    /// A span with at least one free slot, for an mcache (Go's `cacheSpan`).
    /// Returns it owned by the caller, swept, with `alloc_cache` set up. `sg` is
    /// the heap's sweepgen as the caller read it (once, for its whole refill).
    pub(crate) fn cache_span(&self, heap: &Heap, sg: u32, pp: Option<&mut PCaches>) -> SpanPtr {
        let s = 'havespan: {
            if let Some(s) = self.partial_swept(sg).pop() {
                break 'havespan s;
            }
            // The sweeper numbers the unswept sets 2·class (full) and
            // 2·class + 1 (partial), and has passed both once its cursor is
            // beyond them: nothing to sweep here, go straight to `grow`.
            let full_index = self.spanclass.0 as usize * 2;
            if heap.sweep.drained(full_index + 1) {
                return self.grow(heap, pp);
            }
            let mut budget = SPAN_BUDGET;
            while budget > 0 {
                let Some(s) = self.partial_unswept(sg).pop() else {
                    break;
                };
                budget -= 1;
                if s.get().try_acquire_sweep(sg) {
                    crate::sweep::sweep(heap, s, true);
                    break 'havespan s;
                }
                // The background sweeper claimed it; it will file it.
            }
            while budget > 0 {
                let Some(s) = self.full_unswept(sg).pop() else {
                    break;
                };
                budget -= 1;
                if s.get().try_acquire_sweep(sg) {
                    crate::sweep::sweep(heap, s, true);
                    let span = s.get();
                    // SAFETY: we claimed the span (the CAS above) and kept it.
                    let free = unsafe { span.next_free_index() };
                    if free != span.nelems() {
                        // next_free_index moved freeindex past the slot; give it
                        // back (the cache window is re-seeded below).
                        // SAFETY: ours, as above.
                        unsafe { span.seed_alloc_cache(free) };
                        break 'havespan s;
                    }
                    self.full_swept(sg).push(s);
                }
            }
            return self.grow(heap, pp);
        };
        let span = s.get();
        debug_assert!(
            span.alloc_count() < span.nelems(),
            "cache_span: span has no free slots"
        );
        // Seed the cache window at freeindex (cacheSpan's tail).
        // SAFETY: popped from a set, claimed by CAS, or grown: ours.
        unsafe { span.seed_alloc_cache(span.freeindex()) };
        s
    }

    /// Takes back a span from an mcache (Go's `uncacheSpan`); `sg` is the heap's
    /// sweepgen as the caller read it.
    pub(crate) fn uncache_span(&self, heap: &Heap, s: SpanPtr, sg: u32) {
        let span = s.get();
        // A cached span is "swept, then cached" in this cycle (`sg + 3`) or in the
        // one before (`sg + 1`); anything else means a cache missed a flush
        // across two cycles, or a span was cached twice.
        debug_assert!(
            span.sweepgen() == sg.wrapping_add(1) || span.sweepgen() == sg.wrapping_add(3),
            "uncache_span: span sweepgen {} against heap sweepgen {sg}",
            span.sweepgen()
        );
        let stale = span.sweepgen() == sg.wrapping_add(1);
        if stale {
            // Cached before this sweep cycle began: we own it, so mark it "being
            // swept" (no CAS needed: no one else can reach it) and sweep it, which
            // files it or frees it.
            span.sweepgen.store(sg.wrapping_sub(1), Ordering::Relaxed);
            crate::sweep::sweep(heap, s, false);
        } else {
            span.sweepgen.store(sg, Ordering::Release);
            if span.alloc_count() < span.nelems() {
                self.partial_swept(sg).push(s);
            } else {
                self.full_swept(sg).push(s);
            }
        }
    }

    /// Files full spans an mcache gave back in a batch (see `MCache::uncache`).
    ///
    /// A span swept in this cycle (`sweepgen == sg`) goes onto the full swept set.
    /// A span a new cycle overtook while it waited in the batch reads `sg − 2`,
    /// "needs sweeping", but it is in no set: the background sweeper may already
    /// have passed this class, and then nobody would sweep it before the sets swap
    /// roles at the next cycle — it would sit on the swept set unswept, and be
    /// dropped as stale the cycle after (lost, with its pages). So, as Go's
    /// `uncacheSpan` does for a span cached across a cycle start, the batch's owner
    /// claims it (no CAS: no one else can reach it) and sweeps it now, which files
    /// or frees it.
    ///
    /// Empties `spans` in place, keeping its buffer: the batch is the mcache's and
    /// is refilled at once (no allocation per batch on the refill path).
    pub(crate) fn file_full(&self, heap: &Heap, spans: &mut Vec<SpanPtr>) {
        let sg = heap.sweepgen();
        // Usually all of them: a cycle overtakes a batch at most once per cycle.
        let nswept = spans.iter().filter(|s| s.get().sweepgen() == sg).count();
        if nswept > 0 {
            self.full_swept(sg)
                .push_many(spans.iter().copied().filter(|s| s.get().sweepgen() == sg));
        }
        if nswept == spans.len() {
            spans.clear();
            return;
        }
        spans.retain(|s| s.get().sweepgen() != sg);
        for s in spans.drain(..) {
            let span = s.get();
            // Exactly one cycle overtook it: a cache is flushed at every cycle.
            debug_assert_eq!(
                span.sweepgen(),
                sg.wrapping_sub(2),
                "file_full: a batched span missed a cycle"
            );
            span.sweepgen.store(sg.wrapping_sub(1), Ordering::Relaxed);
            crate::sweep::sweep(heap, s, false);
        }
    }

    /// A fresh span of this class from the heap (Go's `mcentral.grow`).
    ///
    /// If its pages held objects before (`needzero`), gort zeroes the whole span
    /// here, with one `memset`, and clears `needzero`; Go instead zeroes each
    /// object as it is allocated. Same bytes cleared — every slot of a cached span
    /// is handed out before the span goes back — in one call instead of one per
    /// object, which matters for small classes (512 calls for a 16-byte span).
    fn grow(&self, heap: &Heap, pp: Option<&mut PCaches>) -> SpanPtr {
        let npages = CLASS_TO_ALLOCNPAGES[self.spanclass.sizeclass() as usize] as usize;
        let s = heap.alloc_span(npages, self.spanclass, pp);
        let span = s.get();
        if span.needzero() {
            // SAFETY: the span is fresh from the heap and ours alone; its pages
            // [base, base + npages·8192) are mapped heap memory holding no
            // objects, and the struct is ours to update.
            unsafe {
                (span.base() as *mut u8).write_bytes(0, npages * crate::sizeclass::PAGE_SIZE);
                span.set_needzero(false);
            };
        }
        s
    }
}
