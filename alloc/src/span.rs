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
//! - `alloc_bits` (`SpanBits::alloc`, Go's `allocBits`): one bit per slot, *as of
//!   the last sweep* (the sweep copies the mark bits there). Allocation never
//!   writes it.
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
//! `gcmark_bits` (`SpanBits::mark`, Go's `gcmarkBits`) is what the collector sets (atomically: several markers may mark
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
//! A span has one *owner* at a time: the mheap while it initialises the span;
//! then the mcache that caches it; then whoever claimed it by moving `sweepgen` to
//! `sg − 1` (the sweeper) or holds it popped from an mcentral set (the sets' lock
//! hands it over with acquire/release). Only the owner changes the allocation
//! state (`freeindex`, `alloc_cache`, `alloc_count`, `needzero`) or the geometry;
//! the methods that do are `unsafe fn`s whose contract is "the caller owns the
//! span" — two owners would hand out one slot twice.
//!
//! Other threads read a span without owning it: the collector through
//! [`crate::Heap::find_object`] (geometry, `state`, `is_free`, the mark bits) and
//! the SIGSEGV handler through `span_of` (geometry, `state`). So *every* field is
//! an atomic (through the `loom` facade, so the loom models check the hand-offs):
//! a reader racing the owner gets a snapshot, never a data race. `Relaxed` is
//! enough for the allocation state, whose readers want a snapshot only
//! (`is_free`, `alloc_count` are exact for the owner alone). The geometry
//! (`start_addr`, `npages`, `elemsize`, `nelems`, `limit`, `div_mul`,
//! `spanclass`) is fixed while the span is in use and published by the release
//! store of `state` and of the arena index entry (`arena.rs`), which `span_of`
//! loads with acquire. `sweepgen` is stored with release after a sweep and loaded
//! with acquire, so whoever sees "swept" sees the bits the sweep wrote.
//!
//! Span structs live in the heap's fixallocs for the heap's lifetime and are
//! reused: a span the caller found may be freed and its struct reused for another
//! span at any moment unless the caller keeps spans from being freed (the
//! collector calls `span_of`/`find_object` with the world stopped or while
//! marking, when nothing frees spans). Reading a reused struct is still
//! memory-safe — its fields are atomics and are only ever written as atomics
//! (`init` re-initialises with stores, never by overwriting the struct) — but
//! the answers then describe the other span.
//!
//! # Bitmaps out of line
//!
//! The alloc, mark and header bitmaps (128 bytes each: 1024 slots) are not in
//! the `MSpan` but in a `SpanBits` the struct points at. Heap spans (small and large
//! objects) come from a fixalloc of structs that each got their own `SpanBits`
//! when first carved and keep them for life, so the pointer never changes and
//! costs nothing per allocation; manual spans (goroutine stacks) come from a
//! second fixalloc of structs without bitmaps. That keeps a stack's span struct at
//! 128 bytes instead of 512.
//!
//! The pointer bits of small objects (Go 1.22's heap bits) are not among them:
//! they live in the span's own last bytes, as in Go (`mbitmap.rs`).
//!
//! # What gort simplifies
//!
//! Go allocates the bitmaps out of `gcBits` arenas, a fresh mark bitmap per span
//! per cycle, and swaps pointers at sweep; gort gives each heap span struct one
//! set for life and copies the words at sweep (16 at most) — no arena to
//! recycle, at the cost of 384 bytes per heap span even for large objects. No
//! `specials`, pinner bits or `freeIndexForScan`.

use crate::loom::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use crate::sizeclass::{div_mul, CLASS_TO_ALLOCNPAGES, CLASS_TO_NOBJS, CLASS_TO_SIZE, PAGE_SIZE};
use std::ptr::NonNull;

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
    /// Keeps only the bits also set in `other` (a sweep: header bits of freed
    /// slots go).
    fn and_from(&self, other: &GcBits, nwords: usize) {
        for i in 0..nwords {
            self.0[i].store(self.word(i) & other.word(i), Ordering::Relaxed);
        }
    }
}

/// A heap span's three bitmaps, out of line (see the module comment).
pub(crate) struct SpanBits {
    /// Slots allocated as of the last sweep (Go's `allocBits`).
    alloc: GcBits,
    /// Slots marked in this cycle (Go's `gcmarkBits`).
    mark: GcBits,
    /// Slots of a small scan span whose object starts with a malloc header
    /// instead of having heap bits (`mbitmap.rs`: a type the heap bits cannot
    /// describe). Set by the span's owner as it allocates such an object,
    /// cleared for freed slots by the sweep. Go has no such bitmap: its small
    /// objects always have heap bits, because its compiler can describe every
    /// type with a bitmap; a Rust enum's layout cannot be read on stable.
    header: GcBits,
}

impl SpanBits {
    pub(crate) fn new() -> SpanBits {
        SpanBits {
            alloc: GcBits::new(),
            mark: GcBits::new(),
            header: GcBits::new(),
        }
    }
}

/// A span struct's bitmaps: set when the struct is first made and never changed,
/// so reading the pointer needs no synchronisation.
struct BitsRef(Option<NonNull<SpanBits>>);

// SAFETY: the pointer is written once, before the struct is shared, and never
// again; it points at a `SpanBits` (atomics only, so `Sync`) in the heap's bits
// fixalloc, which lives exactly as long as the span fixalloc holding this struct.
unsafe impl Send for BitsRef {}
// SAFETY: as for `Send`: an immutable pointer to `Sync` data.
unsafe impl Sync for BitsRef {}

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
// Every field is atomic (see the module comment: other threads read spans they
// do not own); "owner" below is the span's single current owner.
#[repr(align(128))]
pub struct MSpan {
    /// First byte. Geometry (down to `spanclass`): written by the owner in
    /// `init`, read by anyone.
    start_addr: AtomicUsize,
    npages: AtomicUsize,
    nelems: AtomicUsize,
    elemsize: AtomicUsize,
    limit: AtomicUsize,
    div_mul: AtomicU32,
    spanclass: AtomicU8,
    /// Written by the mheap (release), read by anyone (acquire).
    state: AtomicU8,
    /// The span's memory may hold old data: zero objects on allocation (Go's
    /// `needzero`). Owner only.
    needzero: AtomicBool,
    /// See the module comment for the meaning against the heap's `sweepgen`.
    /// Written by the owner, or CASed by a sweeper claiming the span; read by
    /// anyone.
    pub(crate) sweepgen: AtomicU32,
    /// Next slot to consider; slots below it are allocated (Go's `freeindex`).
    /// Written by the owner; read by anyone as a snapshot (`is_free`).
    freeindex: AtomicUsize,
    /// Inverted alloc bits from `freeindex` on (Go's `allocCache`). Owner only.
    alloc_cache: AtomicU64,
    /// Objects allocated (Go's `allocCount`). Written by the owner; read by
    /// anyone as a snapshot.
    alloc_count: AtomicUsize,
    /// `alloc_count` when an mcache took the span; the difference at release is
    /// what it allocated (Go's `allocCountBeforeCache`). Owner only.
    alloc_count_before_cache: AtomicUsize,
    /// Heap bits shortcut (`mbitmap.rs`): with `heap_bits_state == UNIFORM`,
    /// every slot's heap bits already hold this mask. Owner only.
    pub(crate) uniform_mask: AtomicU64,
    /// `HEAP_BITS_FRESH`, `_UNIFORM` or `_MIXED` (`mbitmap.rs`). Owner only.
    pub(crate) heap_bits_state: AtomicU8,
    /// The bitmaps (none for manual spans and the empty span).
    bits: BitsRef,
}

impl MSpan {
    /// A dead span struct; `bits` are its bitmaps for life (`None`: a struct for
    /// manual spans, which have no slots to track, or the empty span).
    pub(crate) fn new(bits: Option<NonNull<SpanBits>>) -> MSpan {
        MSpan {
            start_addr: AtomicUsize::new(0),
            npages: AtomicUsize::new(0),
            nelems: AtomicUsize::new(0),
            elemsize: AtomicUsize::new(0),
            limit: AtomicUsize::new(0),
            div_mul: AtomicU32::new(0),
            spanclass: AtomicU8::new(0),
            state: AtomicU8::new(MSpanState::Dead as u8),
            needzero: AtomicBool::new(false),
            sweepgen: AtomicU32::new(0),
            freeindex: AtomicUsize::new(0),
            alloc_cache: AtomicU64::new(!0),
            alloc_count: AtomicUsize::new(0),
            alloc_count_before_cache: AtomicUsize::new(0),
            uniform_mask: AtomicU64::new(0),
            heap_bits_state: AtomicU8::new(0),
            bits: BitsRef(bits),
        }
    }

    /// The bitmaps, if this struct has them.
    #[inline]
    fn bits(&self) -> Option<&SpanBits> {
        // SAFETY: see `BitsRef`: the pointee lives as long as this struct and is
        // only ever accessed through shared references to its atomics.
        self.bits.0.map(|b| unsafe { b.as_ref() })
    }

    /// Whether this struct carries object bitmaps (heap spans do; manual spans
    /// and the empty span do not).
    #[inline]
    pub(crate) fn has_bits(&self) -> bool {
        self.bits.0.is_some()
    }

    /// The bitmaps of a span that holds objects.
    #[inline]
    fn obj_bits(&self) -> &SpanBits {
        match self.bits() {
            Some(b) => b,
            None => panic!("span at {:#x} has no object bitmaps", self.base()),
        }
    }

    /// Sets the span up over `npages` pages at `base` for objects of `spanclass`
    /// (Go's `mspan.init` followed by `mheap.initSpan`). A struct without
    /// bitmaps becomes a span without slots (a manual span). Every field is
    /// written with an atomic store, never by overwriting the struct: a reader
    /// holding a stale reference to it (see the module comment) races with us
    /// without a data race.
    ///
    /// # Safety
    /// The caller owns the span: it is fresh from the fixalloc and not yet
    /// published in the arena index.
    pub(crate) unsafe fn init(
        &self,
        base: usize,
        npages: usize,
        spanclass: SpanClass,
        sweepgen: u32,
        needzero: bool,
    ) {
        self.start_addr.store(base, Ordering::Relaxed);
        self.npages.store(npages, Ordering::Relaxed);
        self.spanclass.store(spanclass.0, Ordering::Relaxed);
        let sc = spanclass.sizeclass() as usize;
        let (elemsize, nelems) = if !self.has_bits() {
            (npages * PAGE_SIZE, 0)
        } else if sc == 0 {
            (npages * PAGE_SIZE, 1)
        } else {
            debug_assert_eq!(npages, CLASS_TO_ALLOCNPAGES[sc] as usize);
            let elemsize = CLASS_TO_SIZE[sc] as usize;
            if !spanclass.noscan() && crate::mbitmap::heap_bits_in_span(elemsize) {
                // The span's last bytes hold its heap bits (Go's `initSpan`:
                // `nelems = (nbytes - nbytes/8/8) / elemsize`).
                let bytes = npages * PAGE_SIZE;
                let objs = (bytes - crate::mbitmap::heap_bits_bytes(bytes)) / elemsize;
                (elemsize, objs)
            } else {
                (elemsize, CLASS_TO_NOBJS[sc] as usize)
            }
        };
        self.elemsize.store(elemsize, Ordering::Relaxed);
        self.nelems.store(nelems, Ordering::Relaxed);
        self.div_mul.store(div_mul(elemsize), Ordering::Relaxed);
        self.limit
            .store(base + nelems * elemsize, Ordering::Relaxed);
        self.freeindex.store(0, Ordering::Relaxed);
        self.alloc_cache.store(!0, Ordering::Relaxed);
        self.alloc_count.store(0, Ordering::Relaxed);
        self.alloc_count_before_cache.store(0, Ordering::Relaxed);
        self.heap_bits_state
            .store(crate::mbitmap::HEAP_BITS_FRESH, Ordering::Relaxed);
        self.needzero.store(needzero, Ordering::Relaxed);
        if let Some(b) = self.bits() {
            let words = nelems.div_ceil(64);
            b.alloc.clear_all(words);
            b.mark.clear_all(words);
            b.header.clear_all(words);
        }
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
        self.start_addr.load(Ordering::Relaxed)
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
        self.npages.load(Ordering::Relaxed)
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
        self.elemsize.load(Ordering::Relaxed)
    }
    /// Object slots in the span.
    ///
    /// ```
    /// let heap = gort_alloc::Heap::new();
    /// let p = heap.new_mcache().alloc(16, true) as usize;
    /// assert_eq!(heap.span_of(p).unwrap().nelems(), 512);
    /// // A span that may hold pointers keeps its heap bits in its last 128 bytes.
    /// let q = heap.new_mcache().alloc(16, false) as usize;
    /// assert_eq!(heap.span_of(q).unwrap().nelems(), (8192 - 128) / 16);
    /// ```
    #[inline]
    pub fn nelems(&self) -> usize {
        self.nelems.load(Ordering::Relaxed)
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
        self.limit.load(Ordering::Relaxed)
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
        SpanClass(self.spanclass.load(Ordering::Relaxed))
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
    /// Objects allocated in the span (Go's `allocCount`): exact for its owner, a
    /// snapshot for anyone else (the owner may be allocating meanwhile).
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
        self.alloc_count.load(Ordering::Relaxed)
    }

    /// The next slot the allocator considers (Go's `freeindex`).
    #[inline]
    pub(crate) fn freeindex(&self) -> usize {
        self.freeindex.load(Ordering::Relaxed)
    }

    /// Whether the span's memory may hold old data (owner's view).
    #[inline]
    pub(crate) fn needzero(&self) -> bool {
        self.needzero.load(Ordering::Relaxed)
    }

    /// Notes whether the span's memory may hold old data.
    ///
    /// # Safety
    /// The caller owns the span (module comment).
    #[inline]
    pub(crate) unsafe fn set_needzero(&self, v: bool) {
        self.needzero.store(v, Ordering::Relaxed);
    }

    /// Remembers `alloc_count` as an mcache takes the span (Go's
    /// `allocCountBeforeCache`).
    ///
    /// # Safety
    /// The caller owns the span (module comment).
    #[inline]
    pub(crate) unsafe fn note_cached(&self) {
        self.alloc_count_before_cache
            .store(self.alloc_count(), Ordering::Relaxed);
    }

    /// Objects allocated since `note_cached`.
    #[inline]
    pub(crate) fn allocated_since_cached(&self) -> usize {
        self.alloc_count() - self.alloc_count_before_cache.load(Ordering::Relaxed)
    }

    /// Counts one allocation the caller took with `next_free_index`.
    ///
    /// # Safety
    /// The caller owns the span (module comment).
    #[inline]
    pub(crate) unsafe fn count_alloc(&self) {
        self.alloc_count
            .store(self.alloc_count() + 1, Ordering::Relaxed);
    }

    /// Makes the span's one object allocated (a large-object span, class 0).
    ///
    /// # Safety
    /// The caller owns the span (module comment).
    pub(crate) unsafe fn set_large_allocated(&self) {
        debug_assert_eq!(self.nelems(), 1);
        self.freeindex.store(1, Ordering::Relaxed);
        self.alloc_count.store(1, Ordering::Relaxed);
        self.alloc_cache.store(0, Ordering::Relaxed);
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
            (off * self.div_mul.load(Ordering::Relaxed) as usize) >> 32
        }
    }

    /// Whether slot `index` is free for allocation (Go's `isFree`): not below
    /// `freeindex` and not set in `alloc_bits`. Exact for the span's owner, and
    /// for anyone while the owner is not allocating (the world stopped); a
    /// snapshot otherwise. A span without slots (a stack) has no free slot.
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
        match self.bits() {
            Some(b) if index < self.nelems() => {
                index >= self.freeindex.load(Ordering::Relaxed) && !b.alloc.is_set(index)
            }
            _ => false,
        }
    }

    /// Sets the mark bit of slot `index`; true if it was not marked yet (the
    /// collector's `greyobject` check). Safe from several threads at once. Marking
    /// belongs between [`crate::Heap::finish_sweep`] and [`crate::Heap::start_sweep`].
    ///
    /// # Panics
    /// If the span has no object slots (a manual span: a stack).
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
        self.obj_bits().mark.set(index)
    }

    /// Whether slot `index` is marked in this cycle (never, in a span without
    /// object slots).
    ///
    /// ```
    /// let heap = gort_alloc::Heap::new();
    /// let p = heap.new_mcache().alloc(48, true) as usize;
    /// let (s, _, i) = heap.find_object(p).unwrap();
    /// assert!(!s.is_marked(i));
    /// ```
    #[inline]
    pub fn is_marked(&self, index: usize) -> bool {
        self.bits().is_some_and(|b| b.mark.is_set(index))
    }

    /// Whether slot `index` is flagged as starting with a malloc header (the
    /// header bitmap: `mbitmap.rs`). Never, in a span without object slots.
    #[inline]
    pub(crate) fn header_bit(&self, index: usize) -> bool {
        self.bits().is_some_and(|b| b.header.is_set(index))
    }

    /// Flags slot `index` as starting with a malloc header.
    ///
    /// # Safety
    /// The caller owns the span (module comment): it just allocated the slot.
    #[inline]
    pub(crate) unsafe fn set_header_bit(&self, index: usize) {
        self.obj_bits().header.set(index);
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
        let Some(b) = self.bits() else { return 0 };
        let n = self.nelems();
        let mut count = 0;
        for w in 0..n.div_ceil(64) {
            count += b.mark.word(w).count_ones() as usize;
        }
        count
    }

    /// Loads the inverted alloc bits of the 64-slot word starting at `index`
    /// (a multiple of 64) into `alloc_cache` (Go's `refillAllocCache`).
    ///
    /// # Safety
    /// The caller owns the span (module comment).
    #[inline]
    unsafe fn refill_alloc_cache(&self, index: usize) {
        debug_assert_eq!(index % 64, 0);
        self.alloc_cache
            .store(!self.obj_bits().alloc.word(index / 64), Ordering::Relaxed);
    }

    /// Points the allocator at slot `free` and seeds the cache window there
    /// (`cacheSpan`'s tail, after a sweep or a `next_free_index` probe).
    ///
    /// # Safety
    /// The caller owns the span (module comment).
    pub(crate) unsafe fn seed_alloc_cache(&self, free: usize) {
        self.freeindex.store(free, Ordering::Relaxed);
        if free >= self.nelems() {
            self.alloc_cache.store(0, Ordering::Relaxed);
            return;
        }
        // SAFETY: the caller owns the span.
        unsafe { self.refill_alloc_cache(free & !63) };
        let cache = self.alloc_cache.load(Ordering::Relaxed);
        self.alloc_cache
            .store(cache >> (free % 64), Ordering::Relaxed);
    }

    /// The fast path: the next free slot's address if `alloc_cache` shows one in
    /// the current 64-slot window, else `None` (Go's `nextFreeFast`). Loads and
    /// stores are `Relaxed` atomics — plain moves on x86-64 and arm64, no
    /// read-modify-write — so the fast path costs what it did with `Cell`s.
    ///
    /// # Safety
    /// The caller owns the span (module comment): a second thread running this
    /// on the same span could be handed the same slot.
    #[inline(always)]
    pub(crate) unsafe fn next_free_fast(&self) -> Option<usize> {
        let cache = self.alloc_cache.load(Ordering::Relaxed);
        let bit = cache.trailing_zeros() as usize;
        if bit < 64 {
            let result = self.freeindex.load(Ordering::Relaxed) + bit;
            let nelems = self.nelems();
            if result < nelems {
                let freeidx = result + 1;
                // Crossing into the next 64-slot word needs a cache refill: slow path.
                if freeidx.is_multiple_of(64) && freeidx != nelems {
                    return None;
                }
                // `bit` may be 63: Go's shift by 64 gives 0, Rust's would overflow.
                self.alloc_cache.store(
                    cache.checked_shr(bit as u32 + 1).unwrap_or(0),
                    Ordering::Relaxed,
                );
                self.freeindex.store(freeidx, Ordering::Relaxed);
                self.alloc_count
                    .store(self.alloc_count() + 1, Ordering::Relaxed);
                return Some(result * self.elemsize() + self.base());
            }
        }
        None
    }

    /// The next free slot at or after `freeindex`, advancing `freeindex` past it and
    /// refilling `alloc_cache` as needed; `nelems` if the span is full (Go's
    /// `nextFreeIndex`). The caller counts the allocation (`count_alloc`).
    ///
    /// # Safety
    /// The caller owns the span (module comment).
    pub(crate) unsafe fn next_free_index(&self) -> usize {
        let mut sfreeindex = self.freeindex.load(Ordering::Relaxed);
        let snelems = self.nelems();
        if sfreeindex == snelems {
            return sfreeindex;
        }
        let mut bit = self.alloc_cache.load(Ordering::Relaxed).trailing_zeros() as usize;
        while bit == 64 {
            // Move to the start of the next 64-slot word.
            sfreeindex = (sfreeindex + 64) & !63;
            if sfreeindex >= snelems {
                self.freeindex.store(snelems, Ordering::Relaxed);
                return snelems;
            }
            // SAFETY: the caller owns the span.
            unsafe { self.refill_alloc_cache(sfreeindex) };
            bit = self.alloc_cache.load(Ordering::Relaxed).trailing_zeros() as usize;
        }
        let result = sfreeindex + bit;
        if result >= snelems {
            self.freeindex.store(snelems, Ordering::Relaxed);
            return snelems;
        }
        // `bit` may be 63: Go's shift by 64 gives 0, Rust's would overflow.
        let cache = self.alloc_cache.load(Ordering::Relaxed);
        self.alloc_cache.store(
            cache.checked_shr(bit as u32 + 1).unwrap_or(0),
            Ordering::Relaxed,
        );
        sfreeindex = result + 1;
        if sfreeindex.is_multiple_of(64) && sfreeindex != snelems {
            // SAFETY: the caller owns the span.
            unsafe { self.refill_alloc_cache(sfreeindex) };
        }
        self.freeindex.store(sfreeindex, Ordering::Relaxed);
        result
    }

    /// Makes the mark bits the alloc bits, clears the mark bits and rewinds the
    /// allocator to slot 0; returns the number of objects that survived. The
    /// bitmap half of Go's `sweepLocked.sweep`.
    ///
    /// # Safety
    /// The caller owns the span: it claimed it (`sweepgen == sg − 1`).
    pub(crate) unsafe fn sweep_bits(&self) -> usize {
        let nalloc = self.count_marked();
        let words = self.nelems().div_ceil(64);
        let b = self.obj_bits();
        b.header.and_from(&b.mark, words);
        b.alloc.copy_from(&b.mark, words);
        b.mark.clear_all(words);
        self.freeindex.store(0, Ordering::Relaxed);
        // SAFETY: the caller owns the span.
        unsafe { self.refill_alloc_cache(0) };
        self.alloc_count.store(nalloc, Ordering::Relaxed);
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

    /// A span struct and the bitmaps it points at (the fixallocs' job in a heap).
    struct TestSpan {
        span: MSpan,
        /// From `Box::into_raw`, freed on drop (a raw pointer, not a `Box`, so
        /// that moving the `TestSpan` does not invalidate the span's pointer).
        bits: NonNull<SpanBits>,
    }

    impl std::ops::Deref for TestSpan {
        type Target = MSpan;
        fn deref(&self) -> &MSpan {
            &self.span
        }
    }

    impl Drop for TestSpan {
        fn drop(&mut self) {
            // SAFETY: from `Box::into_raw` in `span_of_class`, freed only here;
            // the span pointing at it is not used again.
            drop(unsafe { Box::from_raw(self.bits.as_ptr()) });
        }
    }

    fn span_of_class(sc: u8) -> TestSpan {
        let bits = NonNull::from(Box::leak(Box::new(SpanBits::new())));
        let span = MSpan::new(Some(bits));
        // SAFETY: a fresh struct, ours alone.
        unsafe {
            span.init(
                BASE,
                CLASS_TO_ALLOCNPAGES[sc as usize] as usize,
                SpanClass::new(sc, true),
                0,
                false,
            )
        };
        TestSpan { span, bits }
    }

    /// Allocates until full through the fast path with the slow path behind it
    /// (`mcache.nextFree`'s shape), returning the slot indices.
    fn drain(s: &MSpan) -> Vec<usize> {
        let mut got = Vec::new();
        loop {
            // SAFETY: the test's spans are owned by the test.
            let fast = unsafe { s.next_free_fast() };
            if let Some(a) = fast {
                got.push((a - BASE) / s.elemsize());
                continue;
            }
            // SAFETY: as above.
            let i = unsafe { s.next_free_index() };
            if i == s.nelems() {
                return got;
            }
            // SAFETY: as above.
            unsafe { s.count_alloc() };
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
        let is_marked = |i: usize| i.is_multiple_of(3) || (130..160).contains(&i);
        let marked: Vec<usize> = (0..n).filter(|&i| is_marked(i)).collect();
        for &i in &marked {
            assert!(s.mark(i));
        }
        assert!(!s.mark(marked[0]), "second mark reports already marked");
        // SAFETY: the test owns the span.
        assert_eq!(unsafe { s.sweep_bits() }, marked.len());
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
        // SAFETY: the test owns the span.
        unsafe {
            s.sweep_bits();
            assert_eq!(s.next_free_index(), 192);
            assert_eq!(s.next_free_fast(), Some(BASE + 193 * 8));
        }
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

    /// A span struct is two cache lines, bitmaps out of line: a goroutine stack
    /// (a manual span, which has no bitmaps) pays 128 bytes for its struct, not
    /// the 512 that inline bitmaps would cost every parked goroutine.
    #[test]
    fn a_span_struct_is_128_bytes_without_its_bitmaps() {
        assert_eq!(std::mem::size_of::<MSpan>(), 128);
        assert_eq!(std::mem::size_of::<SpanBits>(), 384);
    }

    #[test]
    fn a_span_without_bitmaps_has_no_slots_and_no_free_or_marked_slot() {
        let s = MSpan::new(None);
        // SAFETY: a fresh struct, ours alone.
        unsafe { s.init(BASE, 33, SpanClass(0), 0, false) };
        assert_eq!((s.nelems(), s.limit(), s.npages()), (0, BASE, 33));
        assert!(!s.is_free(0) && !s.is_marked(0));
        assert_eq!(s.count_marked(), 0);
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
