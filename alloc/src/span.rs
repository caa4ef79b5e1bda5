//! `mspan`: a run of pages holding objects of one size class, with its bitmaps.
//!
//! Models `runtime/mheap.go` (`mspan`, `spanClass`, `makeSpanClass`, `mSpanState`,
//! `mspan.init`), `runtime/mbitmap.go` (`nextFreeIndex`, `refillAllocCache`,
//! `isFree`, `markBitsForIndex`, `objIndex`, `countAlloc`) and `runtime/malloc.go`
//! (`nextFreeFast`).
//!
//! # Design
//!
//! A span covers `npages` 8 KiB pages from `start_addr`. A small-object span is cut
//! into `nelems` slots of `elemsize` bytes; a large-object span (size class 0) holds
//! one object. Which slots are taken is told by two things together, as in Go:
//!
//! - `alloc_bits`: one bit per slot, *as of the last sweep* (the sweep copies the
//!   mark bits there). Allocation never writes it.
//! - `freeindex`: every slot below it has been considered by the allocator since
//!   that sweep. So slot `i` is allocated iff `i < freeindex || alloc_bits[i]`.
//!
//! The allocator walks slots upward from `freeindex` looking for a zero alloc bit.
//! To make that one instruction, `alloc_cache` holds the 64 alloc bits from
//! `freeindex` on, *inverted* and shifted so bit 0 is `freeindex`: the next free
//! slot is `freeindex + trailing_zeros(alloc_cache)` (`next_free_fast`). When the
//! window is used up, `next_free_index` reloads it from the next 64 alloc bits
//! (`refill_alloc_cache`).
//!
//! `gcmark_bits` is what the collector sets (atomically: several markers may mark
//! objects of one span). Sweeping makes the mark bits the new alloc bits and
//! clears the mark bits (`sweep.rs`).
//!
//! `sweepgen` says where the span stands against the heap's `sweepgen` `sg`
//! (which grows by 2 per collection): `sg − 2` needs sweeping, `sg − 1` is being
//! swept, `sg` is swept and ready, `sg + 1` was cached by an mcache before this
//! sweep began (and needs sweeping when it comes back), `sg + 3` was swept and then
//! cached. Changing it is how the sweeper and the mcentrals hand a span over.
//!
//! # Ownership and memory ordering
//!
//! The fields in `Cell`s (`freeindex`, `alloc_cache`, `alloc_count`, the geometry)
//! are written only by the span's current owner: the mheap under its lock while it
//! initialises the span; then the mcache that caches it; then whoever claimed it
//! by moving `sweepgen` to `sg − 1` (the sweeper) or holds it popped from an
//! mcentral set (the sets' lock hands it over with acquire/release). The geometry
//! (`start_addr`, `npages`, `elemsize`, `nelems`, `limit`) is fixed while the span
//! is in use, so `find_object` may read it from any thread once it has seen
//! `state == InUse` through the arena index (published with release by the mheap).
//! `sweepgen` is stored with release after a sweep and loaded with acquire, so
//! whoever sees "swept" sees the bits the sweep wrote.
//!
//! # What gort simplifies
//!
//! Go allocates the bitmaps out of `gcBits` arenas and swaps pointers at sweep;
//! gort keeps both bitmaps inline (128 bytes each, enough for the 1024 objects of
//! the 8-byte class) and copies 16 words at sweep — no arena to recycle, at the cost
//! of 256 bytes per span even for large ones. No `specials`, pinner bits,
//! `freeIndexForScan` or heap bits (no pointer maps yet: the collector is not built).

use crate::loom::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};
use crate::sizeclass::{div_mul, CLASS_TO_ALLOCNPAGES, CLASS_TO_NOBJS, CLASS_TO_SIZE, PAGE_SIZE};
use std::cell::Cell;

/// The most objects a span can hold (the 8-byte class: 8192 / 8).
///
/// ```
/// use gort_alloc::sizeclass::CLASS_TO_NOBJS;
/// assert_eq!(CLASS_TO_NOBJS.iter().max().copied(), Some(gort_alloc::span::MAX_OBJS_PER_SPAN as u16));
/// ```
pub const MAX_OBJS_PER_SPAN: usize = 1024;
const BITMAP_WORDS: usize = MAX_OBJS_PER_SPAN / 64;

/// A size class and a noscan bit: `sizeclass << 1 | noscan` (Go's `spanClass`).
///
/// Pointer-free objects get spans of their own so the collector never scans them.
///
/// ```
/// use gort_alloc::span::SpanClass;
/// let spc = SpanClass::new(2, true);
/// assert_eq!(spc.0, 5); // Go's tinySpanClass
/// assert_eq!((spc.sizeclass(), spc.noscan()), (2, true));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SpanClass(pub u8);

/// Number of span classes: 68 size classes × {scan, noscan} (Go's `numSpanClasses`).
///
/// ```
/// assert_eq!(gort_alloc::span::NUM_SPAN_CLASSES, 136);
/// ```
pub const NUM_SPAN_CLASSES: usize = crate::sizeclass::NUM_SIZE_CLASSES * 2;

impl SpanClass {
    /// `makeSpanClass(sizeclass, noscan)`.
    ///
    /// ```
    /// use gort_alloc::span::SpanClass;
    /// assert_eq!(SpanClass::new(0, false).0, 0); // large, may hold pointers
    /// ```
    #[inline]
    pub const fn new(sizeclass: u8, noscan: bool) -> SpanClass {
        SpanClass(sizeclass << 1 | noscan as u8)
    }
    /// The size class (0 = large object).
    ///
    /// ```
    /// use gort_alloc::span::SpanClass;
    /// assert_eq!(SpanClass(9).sizeclass(), 4);
    /// ```
    #[inline]
    pub const fn sizeclass(self) -> u8 {
        self.0 >> 1
    }
    /// Whether objects of this class hold no pointers.
    ///
    /// ```
    /// use gort_alloc::span::SpanClass;
    /// assert!(SpanClass(9).noscan());
    /// ```
    #[inline]
    pub const fn noscan(self) -> bool {
        self.0 & 1 != 0
    }
}

/// Where a span is in its life (Go's `mSpanState`).
///
/// ```
/// use gort_alloc::span::MSpanState;
/// assert_ne!(MSpanState::InUse, MSpanState::Dead);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum MSpanState {
    /// Free: its pages belong to the page allocator, the struct to the span fixalloc
    /// (Go's `mSpanDead`).
    Dead = 0,
    /// Holds heap objects, swept by the collector (Go's `mSpanInUse`).
    InUse = 1,
    /// Allocated for manual management — goroutine stacks (Go's `mSpanManual`).
    Manual = 2,
}

/// One bit per slot, set atomically (the collector marks from several threads).
pub(crate) struct GcBits([AtomicU64; BITMAP_WORDS]);

impl GcBits {
    fn new() -> GcBits {
        GcBits(std::array::from_fn(|_| AtomicU64::new(0)))
    }
    #[inline]
    pub(crate) fn word(&self, i: usize) -> u64 {
        self.0[i].load(Ordering::Relaxed)
    }
    #[inline]
    fn is_set(&self, i: usize) -> bool {
        self.word(i / 64) & (1 << (i % 64)) != 0
    }
    /// Sets bit `i`; true if this call set it (it was clear).
    #[inline]
    fn set(&self, i: usize) -> bool {
        let bit = 1 << (i % 64);
        self.0[i / 64].fetch_or(bit, Ordering::Relaxed) & bit == 0
    }
    fn clear_all(&self, nwords: usize) {
        for w in &self.0[..nwords] {
            w.store(0, Ordering::Relaxed);
        }
    }
    fn copy_from(&self, other: &GcBits, nwords: usize) {
        for i in 0..nwords {
            self.0[i].store(other.word(i), Ordering::Relaxed);
        }
    }
}

/// A run of pages and the objects in it (Go's `mspan`).
///
/// Spans are made and recycled by the mheap; users meet them through
/// [`crate::Heap::find_object`] and the collector's mark/sweep calls.
///
/// ```
/// let heap = gort_alloc::Heap::new();
/// let mut c = heap.new_mcache();
/// let p = c.alloc(100, true);
/// let (span, base, index) = heap.find_object(p as usize + 5).unwrap();
/// assert_eq!((base, index), (p as usize, span.object_index(p as usize)));
/// assert_eq!(span.elemsize(), 112);
/// ```
// Cache-line aligned (two lines: the adjacent-line prefetcher pairs them) so that
// spans cached by different threads never share a line their fast paths write.
#[repr(align(128))]
pub struct MSpan {
    start_addr: Cell<usize>,
    npages: Cell<usize>,
    /// Next slot to consider; slots below it are allocated (Go's `freeindex`).
    pub(crate) freeindex: Cell<usize>,
    nelems: Cell<usize>,
    /// Inverted alloc bits from `freeindex` on (Go's `allocCache`).
    pub(crate) alloc_cache: Cell<u64>,
    pub(crate) alloc_bits: GcBits,
    pub(crate) gcmark_bits: GcBits,
    /// See the module comment for the meaning against the heap's `sweepgen`.
    pub(crate) sweepgen: AtomicU32,
    div_mul: Cell<u32>,
    /// Objects allocated (Go's `allocCount`).
    pub(crate) alloc_count: Cell<usize>,
    /// `alloc_count` when an mcache took the span; the difference at release is
    /// what it allocated (Go's `allocCountBeforeCache`).
    pub(crate) alloc_count_before_cache: Cell<usize>,
    spanclass: Cell<SpanClass>,
    state: AtomicU8,
    /// The span's memory may hold old data: zero objects on allocation (Go's `needzero`).
    pub(crate) needzero: Cell<bool>,
    elemsize: Cell<usize>,
    limit: Cell<usize>,
}

// SAFETY: the `Cell` fields are written only by the span's single current owner
// (the module comment lists the hand-offs, each of which is a lock or an
// acquire/release pair), and the ones other threads read (`start_addr`, `npages`,
// `elemsize`, `nelems`, `limit`, `spanclass`) are not written while the span is in
// use. Everything else shared is atomic.
unsafe impl Sync for MSpan {}
// SAFETY: an MSpan holds no thread-bound data; see the `Sync` argument.
unsafe impl Send for MSpan {}

impl MSpan {
    pub(crate) fn new() -> MSpan {
        MSpan {
            start_addr: Cell::new(0),
            npages: Cell::new(0),
            freeindex: Cell::new(0),
            nelems: Cell::new(0),
            alloc_cache: Cell::new(!0),
            alloc_bits: GcBits::new(),
            gcmark_bits: GcBits::new(),
            sweepgen: AtomicU32::new(0),
            div_mul: Cell::new(0),
            alloc_count: Cell::new(0),
            alloc_count_before_cache: Cell::new(0),
            spanclass: Cell::new(SpanClass(0)),
            state: AtomicU8::new(MSpanState::Dead as u8),
            needzero: Cell::new(false),
            elemsize: Cell::new(0),
            limit: Cell::new(0),
        }
    }

    /// Sets the span up over `npages` pages at `base` for objects of `spanclass`
    /// (Go's `mspan.init` followed by `mheap.initSpan`). The caller owns the span.
    pub(crate) fn init(&self, base: usize, npages: usize, spanclass: SpanClass, sweepgen: u32) {
        self.start_addr.set(base);
        self.npages.set(npages);
        self.spanclass.set(spanclass);
        let sc = spanclass.sizeclass() as usize;
        let (elemsize, nelems) = if sc == 0 {
            (npages * PAGE_SIZE, 1)
        } else {
            debug_assert_eq!(npages, CLASS_TO_ALLOCNPAGES[sc] as usize);
            (CLASS_TO_SIZE[sc] as usize, CLASS_TO_NOBJS[sc] as usize)
        };
        self.elemsize.set(elemsize);
        self.nelems.set(nelems);
        self.div_mul.set(div_mul(elemsize));
        self.limit.set(base + nelems * elemsize);
        self.freeindex.set(0);
        self.alloc_cache.set(!0);
        self.alloc_count.set(0);
        let words = nelems.div_ceil(64);
        self.alloc_bits.clear_all(words);
        self.gcmark_bits.clear_all(words);
        self.sweepgen.store(sweepgen, Ordering::Relaxed);
    }

    /// First byte of the span (Go's `base()`).
    ///
    /// ```
    /// let heap = gort_alloc::Heap::new();
    /// let p = heap.new_mcache().alloc(64, true) as usize;
    /// let span = heap.span_of(p).unwrap();
    /// assert!(span.base() <= p && p < span.base() + span.npages() * 8192);
    /// ```
    #[inline]
    pub fn base(&self) -> usize {
        self.start_addr.get()
    }
    /// Pages in the span.
    ///
    /// ```
    /// let heap = gort_alloc::Heap::new();
    /// let p = heap.new_mcache().alloc(100_000, true) as usize;
    /// assert_eq!(heap.span_of(p).unwrap().npages(), 13); // ceil(100000 / 8192)
    /// ```
    #[inline]
    pub fn npages(&self) -> usize {
        self.npages.get()
    }
    /// Bytes per object (the whole span for a large object).
    ///
    /// ```
    /// let heap = gort_alloc::Heap::new();
    /// let p = heap.new_mcache().alloc(20, true) as usize;
    /// assert_eq!(heap.span_of(p).unwrap().elemsize(), 24);
    /// ```
    #[inline]
    pub fn elemsize(&self) -> usize {
        self.elemsize.get()
    }
    /// Object slots in the span.
    ///
    /// ```
    /// let heap = gort_alloc::Heap::new();
    /// let p = heap.new_mcache().alloc(8, false) as usize;
    /// assert_eq!(heap.span_of(p).unwrap().nelems(), 1024);
    /// ```
    #[inline]
    pub fn nelems(&self) -> usize {
        self.nelems.get()
    }
    /// End of the last slot: addresses in `[limit, base + npages·8192)` are tail waste.
    ///
    /// ```
    /// let heap = gort_alloc::Heap::new();
    /// let p = heap.new_mcache().alloc(24, true) as usize;
    /// let s = heap.span_of(p).unwrap();
    /// assert_eq!(s.limit(), s.base() + 341 * 24);
    /// ```
    #[inline]
    pub fn limit(&self) -> usize {
        self.limit.get()
    }
    /// The span's class.
    ///
    /// ```
    /// let heap = gort_alloc::Heap::new();
    /// let p = heap.new_mcache().alloc(16, false) as usize;
    /// assert_eq!(heap.span_of(p).unwrap().spanclass().0, 4);
    /// ```
    #[inline]
    pub fn spanclass(&self) -> SpanClass {
        self.spanclass.get()
    }
    /// The span's state.
    ///
    /// ```
    /// use gort_alloc::span::MSpanState;
    /// let heap = gort_alloc::Heap::new();
    /// let p = heap.new_mcache().alloc(16, false) as usize;
    /// assert_eq!(heap.span_of(p).unwrap().state(), MSpanState::InUse);
    /// ```
    #[inline]
    pub fn state(&self) -> MSpanState {
        match self.state.load(Ordering::Acquire) {
            1 => MSpanState::InUse,
            2 => MSpanState::Manual,
            _ => MSpanState::Dead,
        }
    }
    pub(crate) fn set_state(&self, s: MSpanState) {
        self.state.store(s as u8, Ordering::Release);
    }
    /// The span's `sweepgen` (see the module comment for its meaning).
    ///
    /// ```
    /// let heap = gort_alloc::Heap::new();
    /// let mut c = heap.new_mcache();
    /// let p = c.alloc(16, false) as usize;
    /// // Cached by the mcache after a sweep: heap sweepgen + 3.
    /// assert_eq!(heap.span_of(p).unwrap().sweepgen(), heap.sweepgen() + 3);
    /// ```
    #[inline]
    pub fn sweepgen(&self) -> u32 {
        self.sweepgen.load(Ordering::Acquire)
    }
    /// Objects allocated in the span (Go's `allocCount`); exact only for its owner.
    ///
    /// ```
    /// let heap = gort_alloc::Heap::new();
    /// let mut c = heap.new_mcache();
    /// let p = c.alloc(48, true) as usize;
    /// c.alloc(48, true);
    /// assert_eq!(heap.span_of(p).unwrap().alloc_count(), 2);
    /// ```
    #[inline]
    pub fn alloc_count(&self) -> usize {
        self.alloc_count.get()
    }

    /// The slot holding `addr`, an address inside `[base, limit)` (Go's `objIndex`,
    /// a multiply and a shift with the class's `divMul` instead of a divide).
    ///
    /// ```
    /// let heap = gort_alloc::Heap::new();
    /// let mut c = heap.new_mcache();
    /// let a = c.alloc(48, true) as usize;
    /// let b = c.alloc(48, true) as usize;
    /// let s = heap.span_of(a).unwrap();
    /// assert_eq!(s.object_index(b + 47), s.object_index(a) + 1);
    /// ```
    #[inline]
    pub fn object_index(&self, addr: usize) -> usize {
        let off = addr - self.base();
        if self.spanclass().sizeclass() == 0 {
            0
        } else {
            (off * self.div_mul.get() as usize) >> 32
        }
    }

    /// Whether slot `index` is free for allocation (Go's `isFree`): not below
    /// `freeindex` and not set in `alloc_bits`.
    ///
    /// ```
    /// let heap = gort_alloc::Heap::new();
    /// let mut c = heap.new_mcache();
    /// let p = c.alloc(48, true) as usize;
    /// let s = heap.span_of(p).unwrap();
    /// assert!(!s.is_free(0) && s.is_free(1));
    /// ```
    #[inline]
    pub fn is_free(&self, index: usize) -> bool {
        index >= self.freeindex.get() && !self.alloc_bits.is_set(index)
    }

    /// Sets the mark bit of slot `index`; true if it was not marked yet (the
    /// collector's `greyobject` check). Safe from several threads at once. Marking
    /// belongs between [`crate::Heap::finish_sweep`] and [`crate::Heap::start_sweep`].
    ///
    /// ```
    /// let heap = gort_alloc::Heap::new();
    /// let p = heap.new_mcache().alloc(48, true) as usize;
    /// let (s, _, i) = heap.find_object(p).unwrap();
    /// assert!(s.mark(i));
    /// assert!(!s.mark(i));
    /// assert!(s.is_marked(i));
    /// ```
    #[inline]
    pub fn mark(&self, index: usize) -> bool {
        debug_assert!(index < self.nelems());
        self.gcmark_bits.set(index)
    }

    /// Whether slot `index` is marked in this cycle.
    ///
    /// ```
    /// let heap = gort_alloc::Heap::new();
    /// let p = heap.new_mcache().alloc(48, true) as usize;
    /// let (s, _, i) = heap.find_object(p).unwrap();
    /// assert!(!s.is_marked(i));
    /// ```
    #[inline]
    pub fn is_marked(&self, index: usize) -> bool {
        self.gcmark_bits.is_set(index)
    }

    /// Claims the right to sweep a span that needs it: `sweepgen` from `sg − 2` to
    /// `sg − 1` (Go's `sweepLocker.tryAcquire`). False if it is swept, being swept,
    /// or cached.
    #[inline]
    pub(crate) fn try_acquire_sweep(&self, sg: u32) -> bool {
        self.sweepgen.load(Ordering::Relaxed) == sg.wrapping_sub(2)
            && self
                .sweepgen
                .compare_exchange(
                    sg.wrapping_sub(2),
                    sg.wrapping_sub(1),
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                )
                .is_ok()
    }

    /// Number of marked slots (Go's `countAlloc`).
    pub(crate) fn count_marked(&self) -> usize {
        let n = self.nelems();
        let mut count = 0;
        for w in 0..n.div_ceil(64) {
            count += self.gcmark_bits.word(w).count_ones() as usize;
        }
        count
    }

    /// Loads the inverted alloc bits of the 64-slot word starting at `index`
    /// (a multiple of 64) into `alloc_cache` (Go's `refillAllocCache`).
    #[inline]
    pub(crate) fn refill_alloc_cache(&self, index: usize) {
        debug_assert_eq!(index % 64, 0);
        self.alloc_cache.set(!self.alloc_bits.word(index / 64));
    }

    /// The fast path: the next free slot's address if `alloc_cache` shows one in
    /// the current 64-slot window, else `None` (Go's `nextFreeFast`).
    #[inline(always)]
    pub(crate) fn next_free_fast(&self) -> Option<usize> {
        let cache = self.alloc_cache.get();
        let bit = cache.trailing_zeros() as usize;
        if bit < 64 {
            let result = self.freeindex.get() + bit;
            let nelems = self.nelems.get();
            if result < nelems {
                let freeidx = result + 1;
                // Crossing into the next 64-slot word needs a cache refill: slow path.
                if freeidx % 64 == 0 && freeidx != nelems {
                    return None;
                }
                // `bit` may be 63: Go's shift by 64 gives 0, Rust's would overflow.
                self.alloc_cache
                    .set(cache.checked_shr(bit as u32 + 1).unwrap_or(0));
                self.freeindex.set(freeidx);
                self.alloc_count.set(self.alloc_count.get() + 1);
                return Some(result * self.elemsize.get() + self.start_addr.get());
            }
        }
        None
    }

    /// The next free slot at or after `freeindex`, advancing `freeindex` past it and
    /// refilling `alloc_cache` as needed; `nelems` if the span is full (Go's
    /// `nextFreeIndex`). The caller counts the allocation.
    pub(crate) fn next_free_index(&self) -> usize {
        let mut sfreeindex = self.freeindex.get();
        let snelems = self.nelems.get();
        if sfreeindex == snelems {
            return sfreeindex;
        }
        let mut bit = self.alloc_cache.get().trailing_zeros() as usize;
        while bit == 64 {
            // Move to the start of the next 64-slot word.
            sfreeindex = (sfreeindex + 64) & !63;
            if sfreeindex >= snelems {
                self.freeindex.set(snelems);
                return snelems;
            }
            self.refill_alloc_cache(sfreeindex);
            bit = self.alloc_cache.get().trailing_zeros() as usize;
        }
        let result = sfreeindex + bit;
        if result >= snelems {
            self.freeindex.set(snelems);
            return snelems;
        }
        // `bit` may be 63: Go's shift by 64 gives 0, Rust's would overflow.
        self.alloc_cache.set(
            self.alloc_cache
                .get()
                .checked_shr(bit as u32 + 1)
                .unwrap_or(0),
        );
        sfreeindex = result + 1;
        if sfreeindex % 64 == 0 && sfreeindex != snelems {
            self.refill_alloc_cache(sfreeindex);
        }
        self.freeindex.set(sfreeindex);
        result
    }

    /// Makes the mark bits the alloc bits, clears the mark bits and rewinds the
    /// allocator to slot 0; returns the number of objects that survived. The
    /// bitmap half of Go's `sweepLocked.sweep`; the caller owns the span.
    pub(crate) fn sweep_bits(&self) -> usize {
        let nalloc = self.count_marked();
        let words = self.nelems().div_ceil(64);
        self.alloc_bits.copy_from(&self.gcmark_bits, words);
        self.gcmark_bits.clear_all(words);
        self.freeindex.set(0);
        self.refill_alloc_cache(0);
        self.alloc_count.set(nalloc);
        nalloc
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sizeclass::NUM_SIZE_CLASSES;

    // These tests never touch the span's memory (a made-up base address), so they
    // run under Miri: `cargo +nightly miri test -p gort-alloc --lib span::`.
    const BASE: usize = 0x1000_0000;

    fn span_of_class(sc: u8) -> MSpan {
        let s = MSpan::new();
        s.init(
            BASE,
            CLASS_TO_ALLOCNPAGES[sc as usize] as usize,
            SpanClass::new(sc, true),
            0,
        );
        s
    }

    /// Allocates until full through the fast path with the slow path behind it
    /// (`mcache.nextFree`'s shape), returning the slot indices.
    fn drain(s: &MSpan) -> Vec<usize> {
        let mut got = Vec::new();
        loop {
            if let Some(a) = s.next_free_fast() {
                got.push((a - BASE) / s.elemsize());
                continue;
            }
            let i = s.next_free_index();
            if i == s.nelems() {
                return got;
            }
            s.alloc_count.set(s.alloc_count.get() + 1);
            got.push(i);
        }
    }

    #[test]
    fn a_fresh_span_hands_out_every_slot_once_in_order() {
        let classes: Vec<u8> = if cfg!(miri) {
            vec![1, 5, 44, 67]
        } else {
            (1..NUM_SIZE_CLASSES as u8).collect()
        };
        for sc in classes {
            let s = span_of_class(sc);
            let got = drain(&s);
            assert_eq!(got, (0..s.nelems()).collect::<Vec<_>>(), "class {sc}");
            assert_eq!(s.alloc_count(), s.nelems());
            assert_eq!(s.limit(), BASE + s.nelems() * s.elemsize());
        }
    }

    #[test]
    fn after_sweep_only_unmarked_slots_are_handed_out() {
        // 1024 slots (16 bitmap words) natively; Miri's atomics are slow, so 170.
        let s = span_of_class(if cfg!(miri) { 5 } else { 1 });
        let n = s.nelems();
        drain(&s);
        let is_marked = |i: usize| i % 3 == 0 || (130..160).contains(&i);
        let marked: Vec<usize> = (0..n).filter(|&i| is_marked(i)).collect();
        for &i in &marked {
            assert!(s.mark(i));
        }
        assert!(!s.mark(marked[0]), "second mark reports already marked");
        assert_eq!(s.sweep_bits(), marked.len());
        for i in 0..n {
            assert_eq!(s.is_free(i), !is_marked(i), "slot {i}");
            assert!(!s.is_marked(i));
        }
        let got = drain(&s);
        let want: Vec<usize> = (0..n).filter(|&i| !is_marked(i)).collect();
        assert_eq!(got, want);
        assert_eq!(s.alloc_count(), n);
    }

    #[test]
    fn a_fully_marked_word_is_skipped_by_the_cache_refill() {
        let s = span_of_class(1);
        drain(&s);
        for i in 0..192 {
            s.mark(i); // words 0..3 full
        }
        s.mark(500);
        s.sweep_bits();
        assert_eq!(s.next_free_index(), 192);
        assert_eq!(s.next_free_fast(), Some(BASE + 193 * 8));
    }

    #[test]
    fn object_index_matches_division_for_every_slot() {
        for sc in [3u8, 35, 52, 65] {
            let s = span_of_class(sc);
            for i in 0..s.nelems() {
                let a = BASE + i * s.elemsize();
                assert_eq!(s.object_index(a), i);
                assert_eq!(s.object_index(a + s.elemsize() - 1), i);
            }
        }
    }

    #[test]
    fn span_class_packs_size_class_and_noscan() {
        for sc in 0..NUM_SIZE_CLASSES as u8 {
            for noscan in [false, true] {
                let spc = SpanClass::new(sc, noscan);
                assert!((spc.0 as usize) < NUM_SPAN_CLASSES);
                assert_eq!((spc.sizeclass(), spc.noscan()), (sc, noscan));
            }
        }
    }
}
