//! `mcache`: a per-P (here: per-owner) cache of spans, the lock-free fast path.
//!
//! Models `runtime/malloc.go` (`mallocgc`, `mallocgcTiny`, `mallocgcSmallNoscan`,
//! `mallocgcLarge`, `nextFreeFast`, `zerobase`) and `runtime/mcache.go` (`mcache`,
//! `nextFree`, `refill`, `allocLarge`, `releaseAll`, `prepareForSweep`).
//!
//! # Design
//!
//! An [`MCache`] holds one span per span class (`alloc[136]`). It belongs to one
//! thread at a time (in gort's runtime: to a P, like Go), so allocation takes no
//! lock and no atomic read-modify-write. `alloc(size, noscan)` walks `mallocgc`:
//!
//! 1. `size == 0`: the address of `ZEROBASE`, shared by all zero-size objects.
//! 2. Tiny (noscan and under 16 bytes): bump `tiny_offset` inside the current
//!    16-byte block, aligned to 8, 4 or 2 by the size's low bits; when it does not
//!    fit, take a new block from size class 2 (span class 5) and keep whichever
//!    block has more room left. Several tiny objects share a block, which stays
//!    allocated until all of them are dead — the collector frees the block.
//! 3. Small (up to 32 KiB): size class from the lookup tables, then
//!    `next_free_fast` on the class's span (ctz on `alloc_cache`); else `next_free`
//!    (reload the cache window, or `refill` the span from its mcentral when full).
//!    Memory from a span that held objects before (`needzero`) is zeroed — the
//!    whole slot, as in Go, since the collector scans whole slots — so every
//!    allocation reads as zeros.
//! 4. Large (over 32 KiB): a span of its own straight from the mheap
//!    (`alloc_large`), filed on the class-0 mcentral's full set so that the
//!    sweeper finds it.
//!
//! `refill(spc)` hands the full span back (`uncache_span`), gets one with free slots
//! (`cache_span`, which may grow the heap through this cache's page cache), and
//! marks it `sweepgen = sg + 3` ("swept, then cached").
//!
//! # Invariants
//!
//! - Every `alloc[spc]` is either `empty_span` (no free slots) or a span of class
//!   `spc` owned by this cache, in use, with `sweepgen == sg + 3` (or `sg + 1` once
//!   a sweep cycle started without this cache being flushed).
//! - When a sweep cycle starts, every mcache must be flushed
//!   ([`MCache::prepare_for_sweep`]) before it allocates again: the sweep frees
//!   unmarked objects, and objects allocated after marking are not marked. In Go
//!   the collector does this for every P at mark termination.
//!
//! # What gort simplifies
//!
//! Pointer maps are `mbitmap.rs`'s: `alloc(size, noscan)` writes none, the
//! typed entry points there (`alloc_heap_bits`, `alloc_header`) do. No sampling for the heap profiler, no
//! assist credit, no `gcmarknewobject` (allocating black is the collector's, when
//! it exists). Go allocates mcaches from a fixalloc; a gort `MCache` is an
//! ordinary value (boxed by whoever keeps it in a P). What Go keeps in the P
//! beside the mcache — the page cache, the mspan cache, the stats deltas — gort
//! keeps in the `MCache` itself (`pp`, `stats`). Full spans given back by
//! `refill` are filed on their mcentral in batches of 32 (Go files each one at
//! once, lock-free, but both still write the class's shared set once per
//! filing: batching makes that once per 32 spans); `release_all` files the rest, and a span a new sweep cycle
//! overtook while it waited in a batch is swept as it is filed (`file_full`).

use crate::loom::atomic::Ordering;
use crate::mcentral::SpanPtr;
use crate::mheap::{Heap, PCaches};
use crate::sizeclass::{
    size_to_class, MAX_SMALL_SIZE, PAGE_SHIFT, PAGE_SIZE, TINY_SIZE, TINY_SIZE_CLASS,
};
use crate::span::{MSpan, SpanClass, NUM_SPAN_CLASSES};
use crate::stats::LocalStats;
use std::ptr::NonNull;
use std::sync::Arc;

/// What every zero-size allocation returns (Go's `zerobase`).
static ZEROBASE: u64 = 0;

/// Span class of the tiny allocator's blocks (Go's `tinySpanClass`).
///
/// ```
/// assert_eq!(gort_alloc::mcache::TINY_SPAN_CLASS.0, 5);
/// ```
pub const TINY_SPAN_CLASS: SpanClass = SpanClass::new(TINY_SIZE_CLASS, true);

/// A per-thread allocation cache (Go's `mcache`).
///
/// ```
/// let heap = gort_alloc::Heap::new();
/// let mut c = heap.new_mcache();
/// let p = c.alloc(33, false);
/// // SAFETY (of this example): p points at 33 (in fact 48) fresh, zeroed bytes.
/// unsafe {
///     assert_eq!(*p.add(32), 0);
///     p.write_bytes(7, 33);
/// }
/// ```
// Cache-line aligned (two lines, for the adjacent-line prefetcher), so that two
// mcaches — in a `Vec`, or boxed side by side by the runtime's Ps — never share
// a line: `refill` writes the page cache, the batch and the tiny counter at one
// end of the struct and every allocation reads `alloc` in the middle. Unpadded,
// one thread's refills invalidated the line the other thread's allocations read.
#[repr(align(128))]
pub struct MCache {
    heap: Arc<Heap>,
    /// Base of the current tiny block (0: none) (Go's `tiny`).
    tiny: usize,
    /// Bytes of the tiny block used (Go's `tinyoffset`).
    tiny_offset: usize,
    /// Tiny allocations not yet added to the heap's stats (Go's `tinyAllocs`).
    tiny_allocs: u64,
    /// The heap's sweepgen when this cache was last flushed (Go's `flushGen`).
    flush_gen: u32,
    /// The span cached per span class (Go's `alloc`).
    alloc: [NonNull<MSpan>; NUM_SPAN_CLASSES],
    /// Pages and span structs for lock-free span allocation (Go keeps these in
    /// the P: `pcache`, `mspancache`).
    pp: PCaches,
    /// This cache's allocation counters (Go's per-P stats delta).
    stats: Arc<LocalStats>,
    /// Full spans given back by `refill` and not filed yet, per span class.
    full: Vec<Vec<SpanPtr>>,
}

/// Full spans an mcache files per mcentral lock acquisition. Every thread
/// allocating from a class files onto the same set, so each filing may move the
/// set's lock line between cores; 32 makes that rare next to the 32 refills
/// around it. The spans wait in the batch until it fills or the cache is
/// released (every sweep cycle): they are full, so nothing is lost meanwhile.
const FULL_BATCH: usize = 32;

// SAFETY: an MCache may move between threads (a P's cache moves with the P); the
// spans it points at are owned by it alone, and the heap is shared through Arc.
unsafe impl Send for MCache {}

impl MCache {
    pub(crate) fn new(heap: Arc<Heap>) -> MCache {
        let empty = NonNull::from(&*heap.empty_span);
        heap.stats
            .mcache_inuse
            .fetch_add(std::mem::size_of::<MCache>(), Ordering::Relaxed);
        let stats = heap.stats.add_local();
        let pp = PCaches {
            stats: Some(stats.clone()),
            ..Default::default()
        };
        MCache {
            flush_gen: heap.sweepgen(),
            heap,
            tiny: 0,
            tiny_offset: 0,
            tiny_allocs: 0,
            alloc: [empty; NUM_SPAN_CLASSES],
            pp,
            stats,
            full: vec![Vec::new(); NUM_SPAN_CLASSES],
        }
    }

    /// The heap this cache allocates from.
    ///
    /// ```
    /// let heap = gort_alloc::Heap::new();
    /// let c = heap.new_mcache();
    /// assert!(std::sync::Arc::ptr_eq(c.heap(), &heap));
    /// ```
    pub fn heap(&self) -> &Arc<Heap> {
        &self.heap
    }

    /// Allocates `size` bytes of zeroed memory; `noscan` says the object holds no
    /// pointers (Go's `mallocgc(size, typ, needzero=true)` with `typ.PtrBytes == 0`).
    ///
    /// The memory stays valid until a sweep finds the object unmarked. Alignment:
    /// 8 bytes for sizes of 8 or more (16 from 32 on, more for power-of-two
    /// classes), the size's own alignment for tiny sizes; zero-size allocations all
    /// return one shared address.
    ///
    /// ```
    /// let heap = gort_alloc::Heap::new();
    /// let mut c = heap.new_mcache();
    /// let a = c.alloc(5, true);  // tiny: shares a 16-byte block
    /// let b = c.alloc(3, true);
    /// assert_eq!(b as usize, a as usize + 5);
    /// let big = c.alloc(40 << 10, false); // large: a span of its own
    /// assert_eq!(big as usize % 8192, 0);
    /// assert_eq!(c.alloc(0, true), c.alloc(0, false));
    /// ```
    #[inline]
    pub fn alloc(&mut self, size: usize, noscan: bool) -> *mut u8 {
        if size == 0 {
            return std::ptr::addr_of!(ZEROBASE) as *mut u8;
        }
        if size <= MAX_SMALL_SIZE {
            if noscan && size < TINY_SIZE {
                return self.alloc_tiny(size);
            }
            let spc = SpanClass::new(size_to_class(size), noscan);
            self.alloc_small(spc) as *mut u8
        } else {
            self.alloc_large(size, noscan)
        }
    }

    /// A zeroed slot of span class `spc`: the fast path, else `next_free`.
    #[inline(always)]
    pub(crate) fn alloc_small(&mut self, spc: SpanClass) -> usize {
        let span = self.cached_span(spc);
        // SAFETY: this cache owns the span (or it is the empty span, which
        // has no free slot, so `next_free_fast` writes nothing to it).
        let (v, needzero, elemsize) = match unsafe { span.next_free_fast() } {
            Some(v) => (v, span.needzero(), span.elemsize()),
            None => self.next_free(spc),
        };
        if needzero {
            // The whole slot, not just the bytes asked for: the collector scans
            // whole slots conservatively, and old pointers in the tail would keep
            // dead objects alive (Go zeroes the class's full size too).
            // SAFETY: v is a fresh slot of `elemsize` bytes that this cache
            // just took; no one else refers to it.
            unsafe { (v as *mut u8).write_bytes(0, elemsize) };
        }
        v
    }

    /// The span cached for `spc` (after an allocation of that class: the span
    /// the slot came from).
    #[inline(always)]
    pub(crate) fn cached_span(&self, spc: SpanClass) -> &MSpan {
        // SAFETY: alloc[spc] always points at a live span (the heap's empty
        // span or one this cache owns), see the module invariants.
        unsafe { self.alloc[spc.0 as usize].as_ref() }
    }

    /// Go's `mallocgcTiny`.
    #[inline]
    fn alloc_tiny(&mut self, size: usize) -> *mut u8 {
        let mut off = self.tiny_offset;
        // Align for the size: an 8-byte multiple at 8, etc. (Go's tiny alignment).
        if size & 7 == 0 {
            off = (off + 7) & !7;
        } else if size & 3 == 0 {
            off = (off + 3) & !3;
        } else if size & 1 == 0 {
            off = (off + 1) & !1;
        }
        if off + size <= TINY_SIZE && self.tiny != 0 {
            self.tiny_offset = off + size;
            self.tiny_allocs += 1;
            return (self.tiny + off) as *mut u8;
        }
        // A new 16-byte block.
        // SAFETY: as in `alloc`.
        let span = unsafe { self.alloc[TINY_SPAN_CLASS.0 as usize].as_ref() };
        // SAFETY: as in `alloc`.
        let (v, _, _) = match unsafe { span.next_free_fast() } {
            Some(v) => (v, true, TINY_SIZE),
            None => self.next_free(TINY_SPAN_CLASS),
        };
        // SAFETY: v is a fresh 16-byte slot owned by this cache.
        unsafe { (v as *mut [u64; 2]).write([0, 0]) };
        // Keep the block with more room left (Go: `size < c.tinyoffset || c.tiny == 0`).
        if size < self.tiny_offset || self.tiny == 0 {
            self.tiny = v;
            self.tiny_offset = size;
        }
        v as *mut u8
    }

    /// The slow path for a small object: the next free slot of the cached span,
    /// refilling it if full (Go's `mcache.nextFree`). Returns the address,
    /// whether it needs zeroing, and the slot size.
    #[inline(never)]
    fn next_free(&mut self, spc: SpanClass) -> (usize, bool, usize) {
        // SAFETY: as in `alloc`.
        let mut span = unsafe { self.alloc[spc.0 as usize].as_ref() };
        // SAFETY: this cache owns the span, or it is the empty span, whose
        // `freeindex == nelems == 0` makes `next_free_index` return at once.
        let mut index = unsafe { span.next_free_index() };
        if index == span.nelems() {
            self.refill(spc);
            // SAFETY: refill installed a live span this cache owns.
            span = unsafe { self.alloc[spc.0 as usize].as_ref() };
            // SAFETY: as just said, ours.
            index = unsafe { span.next_free_index() };
            debug_assert!(index < span.nelems(), "refill gave a full span");
        }
        // SAFETY: ours (a full empty span was replaced by refill above).
        unsafe { span.count_alloc() };
        (
            span.base() + index * span.elemsize(),
            span.needzero(),
            span.elemsize(),
        )
    }

    /// Gives back the (full) span of `spc` and caches one with free slots (Go's
    /// `mcache.refill`).
    #[inline(never)]
    fn refill(&mut self, spc: SpanClass) {
        // One read of the heap's sweepgen for the whole refill: the span given
        // back, the sets searched and the "swept, then cached" mark all agree on
        // one cycle. (Were a cycle to start meanwhile, the new span would read
        // `sg + 1` under the new sweepgen — "cached before this cycle" — and be
        // swept when given back, which is right.)
        let sg = self.heap.sweepgen();
        // Go's refill throws "bad sweepgen in refill" here: a cache must be
        // flushed (`prepare_for_sweep`) after a cycle starts and before it
        // allocates again, or objects it hands out from a span cached before the
        // cycle would be swept as garbage.
        debug_assert_eq!(
            self.flush_gen, sg,
            "refill: a sweep cycle started and this mcache was not flushed (prepare_for_sweep)"
        );
        let old = self.alloc[spc.0 as usize];
        if old != NonNull::from(&*self.heap.empty_span) {
            self.uncache(spc, SpanPtr(old), sg);
        }
        self.stats.tiny_alloc(std::mem::take(&mut self.tiny_allocs));
        let heap = &*self.heap;
        let s = heap.central(spc).cache_span(heap, sg, Some(&mut self.pp));
        let span = s.get();
        // SAFETY: cache_span handed the span to us.
        unsafe { span.note_cached() };
        span.sweepgen.store(sg.wrapping_add(3), Ordering::Release);
        self.alloc[spc.0 as usize] = s.0;
    }

    /// Gives a cached span back (Go's `uncacheSpan`, from `refill` and
    /// `releaseAll`), counting what was allocated from it.
    ///
    /// A full span swept in this cycle only needs filing on its mcentral's full
    /// set, where the next cycle's sweeper finds it. gort files those in batches
    /// of `FULL_BATCH` per class — one lock acquisition instead of 32; Go's
    /// lock-free `spanSet.push` files each at once — and files the rest of a
    /// batch when the cache is released (every cycle, in `prepare_for_sweep`).
    fn uncache(&mut self, spc: SpanClass, s: SpanPtr, sg: u32) {
        let span = s.get();
        let used = span.allocated_since_cached();
        self.stats.small_alloc(spc.sizeclass(), used);
        if span.alloc_count() == span.nelems() && span.sweepgen() == sg.wrapping_add(3) {
            span.sweepgen.store(sg, Ordering::Release);
            let pending = &mut self.full[spc.0 as usize];
            pending.push(s);
            if pending.len() >= FULL_BATCH {
                self.heap.central(spc).file_full(&self.heap, pending);
            }
        } else {
            self.heap.central(spc).uncache_span(&self.heap, s, sg);
        }
    }

    /// A large object: a span of its own (Go's `mcache.allocLarge` and
    /// `mallocgcLarge`).
    #[inline(never)]
    fn alloc_large(&mut self, size: usize, noscan: bool) -> *mut u8 {
        let npages = size.div_ceil(PAGE_SIZE);
        assert!(
            npages < (1 << (usize::BITS as usize - PAGE_SHIFT - 1)),
            "gort-alloc: allocation of {size} bytes is too large"
        );
        let heap = &*self.heap;
        let spc = SpanClass::new(0, noscan);
        let s = heap.alloc_span(npages, spc, Some(&mut self.pp));
        let span = s.get();
        // One object, allocated: freeindex past it.
        // SAFETY: fresh from the heap, ours until filed below.
        unsafe { span.set_large_allocated() };
        self.stats.large_alloc(npages * PAGE_SIZE);
        let base = span.base();
        if span.needzero() {
            // SAFETY: the span's pages are ours alone and at least `size` bytes.
            unsafe { (base as *mut u8).write_bytes(0, size) };
        }
        // Visible to the sweeper from now on (Go files it on the full swept set).
        // One read of sweepgen: the span's mark and the set it goes on agree.
        let sg = heap.sweepgen();
        span.sweepgen.store(sg, Ordering::Release);
        heap.central(spc).full_swept(sg).push(s);
        base as *mut u8
    }

    /// Returns every cached span to its mcentral and drops the tiny block, adding
    /// this cache's counts to the heap's statistics (Go's `mcache.releaseAll`).
    ///
    /// ```
    /// let heap = gort_alloc::Heap::new();
    /// let mut c = heap.new_mcache();
    /// c.alloc(64, true);
    /// assert_eq!(heap.mem_stats().mallocs, 0); // still in the cache's span
    /// c.release_all();
    /// assert_eq!(heap.mem_stats().mallocs, 1);
    /// ```
    pub fn release_all(&mut self) {
        let empty = NonNull::from(&*self.heap.empty_span);
        let sg = self.heap.sweepgen();
        for i in 0..NUM_SPAN_CLASSES {
            let s = self.alloc[i];
            if s != empty {
                self.uncache(SpanClass(i as u8), SpanPtr(s), sg);
                self.alloc[i] = empty;
            }
        }
        for i in 0..NUM_SPAN_CLASSES {
            if !self.full[i].is_empty() {
                self.heap
                    .central(SpanClass(i as u8))
                    .file_full(&self.heap, &mut self.full[i]);
            }
        }
        self.tiny = 0;
        self.tiny_offset = 0;
        self.stats.tiny_alloc(std::mem::take(&mut self.tiny_allocs));
    }

    /// Flushes the cache if a sweep cycle started since it was last flushed (Go's
    /// `mcache.prepareForSweep`, which every P runs at mark termination). Call it
    /// for every cache after [`Heap::start_sweep`] and before the cache allocates
    /// again (debug builds check it when the cache next refills).
    ///
    /// ```
    /// let heap = gort_alloc::Heap::new();
    /// let mut c = heap.new_mcache();
    /// let p = c.alloc(64, true) as usize; // not marked: garbage at the next sweep
    /// heap.start_sweep();
    /// c.prepare_for_sweep(); // the cached span goes back and is swept
    /// heap.finish_sweep();
    /// assert!(heap.find_object(p).is_none()); // its span was emptied and freed
    /// ```
    pub fn prepare_for_sweep(&mut self) {
        let sg = self.heap.sweepgen();
        if self.flush_gen == sg {
            return;
        }
        self.release_all();
        self.flush_gen = sg;
    }
}

impl Drop for MCache {
    fn drop(&mut self) {
        self.release_all();
        self.heap.flush_pcaches(&mut self.pp);
        self.heap.stats.remove_local(&self.stats);
        self.heap
            .stats
            .mcache_inuse
            .fetch_sub(std::mem::size_of::<MCache>(), Ordering::Relaxed);
    }
}

#[cfg(all(test, not(miri)))]
mod tests {
    use crate::sizeclass::{size_to_class, CLASS_TO_SIZE, MAX_SMALL_SIZE};
    use crate::Heap;

    #[test]
    fn every_small_size_lands_in_a_slot_of_its_class() {
        let heap = Heap::new();
        let mut c = heap.new_mcache();
        for size in (16..=MAX_SMALL_SIZE).step_by(13) {
            for noscan in [false, true] {
                let p = c.alloc(size, noscan) as usize;
                let (s, base, _) = heap.find_object(p).unwrap();
                assert_eq!(base, p);
                assert_eq!(
                    s.spanclass().sizeclass(),
                    size_to_class(size),
                    "size {size}"
                );
                assert_eq!(s.spanclass().noscan(), noscan);
                assert_eq!(
                    s.elemsize(),
                    CLASS_TO_SIZE[size_to_class(size) as usize] as usize
                );
                assert!(p + size <= s.limit());
            }
        }
    }

    #[test]
    fn tiny_objects_share_blocks_aligned_by_size() {
        let heap = Heap::new();
        let mut c = heap.new_mcache();
        let a = c.alloc(1, true) as usize;
        let b = c.alloc(2, true) as usize; // 2-aligned
        let d = c.alloc(4, true) as usize; // 4-aligned
        let e = c.alloc(8, true) as usize; // 8-aligned
        assert_eq!(a % 16, 0);
        assert_eq!((b - a, d - a, e - a), (2, 4, 8));
        let f = c.alloc(3, true) as usize; // 16 used: next block
        assert_eq!(f, a + 16);
        let (s, base, _) = heap.find_object(e).unwrap();
        assert_eq!((s.spanclass(), base), (crate::mcache::TINY_SPAN_CLASS, a));
        // Pointerful small objects never go through the tiny allocator.
        let g = c.alloc(3, false) as usize;
        assert_eq!(heap.find_object(g).unwrap().0.elemsize(), 8);
    }

    #[test]
    fn reused_memory_is_zeroed() {
        let heap = Heap::new();
        let mut c = heap.new_mcache();
        let mut ptrs = Vec::new();
        for size in [24usize, 500, 5000, 100_000] {
            for _ in 0..50 {
                let p = c.alloc(size, true);
                // SAFETY: size fresh bytes are ours.
                unsafe { p.write_bytes(0xee, size) };
                ptrs.push((p, size));
            }
        }
        heap.start_sweep(); // nothing marked: all garbage
        c.prepare_for_sweep();
        heap.finish_sweep();
        for &(_, size) in &ptrs {
            let p = c.alloc(size, true);
            // SAFETY: size fresh bytes are ours to read.
            let bytes = unsafe { std::slice::from_raw_parts(p, size) };
            assert!(bytes.iter().all(|b| *b == 0), "size {size} not zeroed");
        }
    }

    /// A reused slot is zeroed whole, not just the `size` bytes asked for: the
    /// collector scans whole slots, and a stale pointer in the tail would keep a
    /// dead object alive.
    #[test]
    fn reused_slots_are_zeroed_to_the_end_of_the_slot() {
        let heap = Heap::new();
        let mut c = heap.new_mcache();
        let first: Vec<usize> = (0..200).map(|_| c.alloc(112, false) as usize).collect();
        for &p in &first {
            // SAFETY: 112 fresh bytes are ours.
            unsafe { (p as *mut u8).write_bytes(0xee, 112) };
        }
        // One survivor per span keeps the spans (emptied spans go back to the
        // page allocator and are zeroed whole when reused).
        let per_span = heap.span_of(first[0]).unwrap().nelems();
        for p in first.iter().step_by(per_span) {
            assert!(heap.mark(*p));
        }
        heap.start_sweep();
        c.prepare_for_sweep();
        heap.finish_sweep();
        for _ in 0..150 {
            let p = c.alloc(100, false); // class 112 too
            assert!(first.contains(&(p as usize)), "a reused slot");
            assert_eq!(heap.find_object(p as usize).unwrap().0.elemsize(), 112);
            // SAFETY: the slot is 112 bytes, all ours.
            let slot = unsafe { std::slice::from_raw_parts(p, 112) };
            assert!(slot.iter().all(|b| *b == 0), "slot tail not zeroed");
        }
    }

    /// Full spans waiting in a cache's batch when a sweep cycle starts, filed
    /// only after the background sweeper has passed their class (here: after
    /// `finish_sweep`), must still be swept in that cycle. Filed onto the
    /// unswept set behind the sweeper's cursor instead, they would become
    /// "swept" at the next cycle without being swept, and be dropped as stale the
    /// cycle after: their pages would never come back.
    #[test]
    fn full_spans_filed_late_are_swept_and_never_lost() {
        let heap = Heap::new();
        let mut c = heap.new_mcache();
        // 3 full spans of 64-byte objects (128 per span) wait in the batch (fewer
        // than FULL_BATCH), plus one partial span still cached.
        let n = 3 * 128 + 5;
        const { assert!(3 < super::FULL_BATCH) };
        let objs: Vec<usize> = (0..n).map(|_| c.alloc(64, true) as usize).collect();
        let span_bytes = 8192u64;
        assert_eq!(heap.mem_stats().heap_inuse, 4 * span_bytes);
        // Keep one object of the first span; everything else is garbage.
        assert!(heap.mark(objs[0]));
        heap.start_sweep();
        heap.finish_sweep(); // the sweeper passes every class; the cache is not flushed yet
        c.prepare_for_sweep(); // files the batch late
                               // Three cycles, nothing marked from here on but `objs[0]`.
        for _ in 0..3 {
            heap.finish_sweep();
            heap.mark(objs[0]);
            heap.start_sweep();
            c.prepare_for_sweep();
            heap.finish_sweep();
            let m = heap.mem_stats();
            assert_eq!(m.heap_objects, 1, "every garbage object reclaimed");
            assert_eq!(m.heap_inuse, span_bytes, "only the survivor's span in use");
        }
        // The freed slots and pages are handed out again.
        let (s, _, _) = heap.find_object(objs[0]).unwrap();
        assert!(!s.is_free(0));
        for _ in 0..127 {
            let p = c.alloc(64, true) as usize;
            assert!(
                p > objs[0] && p < objs[0] + 8192,
                "reuses the survivor's span"
            );
        }
    }

    #[test]
    fn two_caches_get_different_spans_and_refill_from_the_central_lists() {
        let heap = Heap::new();
        let mut c1 = heap.new_mcache();
        let mut c2 = heap.new_mcache();
        let a: Vec<usize> = (0..1000).map(|_| c1.alloc(256, false) as usize).collect();
        let b: Vec<usize> = (0..1000).map(|_| c2.alloc(256, false) as usize).collect();
        let mut all: Vec<usize> = a.iter().chain(&b).copied().collect();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 2000);
        for w in all.windows(2) {
            assert!(w[1] - w[0] >= 256, "objects overlap");
        }
        c1.release_all();
        c2.release_all();
        assert_eq!(heap.mem_stats().heap_objects, 2000);
    }
}
