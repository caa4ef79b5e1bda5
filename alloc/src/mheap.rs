//! `mheap`: the heap — arenas, the page allocator, spans, and the mcentrals.
//!
//! Models `runtime/mheap.go` (`mheap`, `allocSpan`, `initSpan`, `grow`, `freeSpan`,
//! `freeSpanLocked`, `allocNeedsZero`, `spanOf`, `spanOfHeap`) and `findObject`
//! from `runtime/mbitmap.go`.
//!
//! # Design
//!
//! [`Heap`] owns everything below the per-P caches:
//!
//! - the arena index (`arena.rs`) mapping addresses to spans;
//! - under one lock (Go's `mheap_.lock`): the regions' page bitmaps
//!   (`pagealloc.rs`), the reservations themselves, and the span fixalloc
//!   (`fixalloc.rs`);
//! - 136 `MCentral`s, one per span class, each on its own cache lines;
//! - the heap's `sweepgen`, and the statistics.
//!
//! `alloc_span(npages, spanclass)` (Go's `allocSpan`) has two paths, as in Go:
//!
//! - **Per-P caches** (spans under 16 pages, when an mcache asks): the mcache keeps
//!   a page cache — the free pages of one aligned 64-page block (Go's `pcache`) —
//!   and a few `mspan` structs (Go's `mspancache`). The span's pages and struct
//!   come from those without the heap lock; the lock is taken only to refill
//!   them, once per 64 pages.
//! - **Locked**: take the lock, find pages first-fit (growing the heap if none
//!   fit), take an `mspan` from the fixalloc.
//!
//! Either way the pages' dirtiness is known (`needzero`: used since the region
//! was reserved), and outside the lock the span is initialised and published in
//! the arena index. `free_span` undoes it: the pages go back to the bitmap (where
//! they coalesce with free neighbours) and the struct to the fixalloc. A dropped
//! mcache flushes its page cache and span structs back.
//!
//! `grow(npages)` (Go's `mheap.grow`) extends the current arena in 4 MiB steps; when
//! the arena is used up it reserves a new one (or, for an object bigger than an
//! arena, a run of arenas of its own).
//!
//! # Memory ordering
//!
//! The lock orders everything about pages and span structs in the heap; pages and
//! structs in an mcache's caches belong to that mcache alone. A span is initialised
//! by its allocating thread, which owns it until it hands it on (to an mcache, via
//! the caller; to an mcentral set, via the set's lock). The arena index entries are
//! stored with release after the span's state, see `arena.rs`.
//!
//! # What gort simplifies
//!
//! Go's `reclaim` sweeps before growing when sweeping lags; gort's `cache_span`
//! sweeps within its class only. The mspan cache is refilled with 64 structs
//! when it runs dry, as Go refills half of its 128; Go also puts freed structs
//! back into the freeing P's cache, gort into the fixalloc. The
//! page cache's free pages count as idle but cannot be scavenged while cached,
//! as in Go. No `specials`, no user arenas.

use crate::arena::{ArenaIndex, Reservation, HEAP_ARENA_BYTES, PAGES_PER_ARENA};
use crate::fixalloc::FixAlloc;
use crate::loom::atomic::{AtomicU32, Ordering};
use crate::loom::Mutex;
use crate::mcache::MCache;
use crate::mcentral::{MCentral, SpanPtr};
use crate::pagealloc::{PageCache, Region, PAGE_CACHE_PAGES, PALLOC_CHUNK_PAGES};
use crate::sizeclass::{PAGE_SHIFT, PAGE_SIZE};
use crate::span::{MSpan, MSpanState, SpanBits, SpanClass, NUM_SPAN_CLASSES};
use crate::stats::HeapStats;
use crossbeam_utils::CachePadded;
use std::sync::Arc;

/// Span structs an mcache's span-struct cache is filled with under the heap
/// lock (Go's `p.mspancache` holds 128 and `allocMSpanLocked` refills half).
/// One refill covers about as many one-page spans as one page cache (64 pages),
/// so the two refills mostly share one lock acquisition.
const MSPAN_CACHE: usize = 64;

/// The per-P caches the mheap fills for an mcache: a page cache and a few span
/// structs (Go's `p.pcache` and `p.mspancache`).
#[derive(Default)]
pub(crate) struct PCaches {
    pub(crate) pcache: PageCache,
    pub(crate) mspancache: Vec<std::ptr::NonNull<MSpan>>,
    /// The owning mcache's counters: spans it allocates count their pages there.
    pub(crate) stats: Option<std::sync::Arc<crate::stats::LocalStats>>,
}

/// A region of pages and the reservation backing it.
pub(crate) struct HeapRegion {
    pub(crate) pages: Region,
    pub(crate) res: Reservation,
}

/// What `Heap.lock` protects.
pub(crate) struct HeapLocked {
    /// In address order.
    pub(crate) regions: Vec<HeapRegion>,
    /// The region `grow` extends (Go's `curArena`).
    cur: Option<usize>,
    /// Span structs for heap spans, each with its own bitmaps for life (Go's
    /// `spanalloc`; the bitmaps are Go's `gcBits`).
    spanalloc: FixAlloc<MSpan>,
    /// The bitmaps of `spanalloc`'s structs (never freed: they stay with their
    /// struct).
    bitsalloc: FixAlloc<SpanBits>,
    /// Span structs for manual spans (stacks): no bitmaps, 128 bytes.
    manualalloc: FixAlloc<MSpan>,
    pub(crate) pstats: crate::stats::PageStats,
    /// First-fit hints, per request size: `(npages, i)` says no region before
    /// index `i` has a free run of `npages` (as of the last search). Frees and
    /// new regions lower the hints. Without them a heap of thousands of arenas
    /// (a million goroutine stacks) would scan every region per allocation; Go's
    /// radix-tree summaries answer the same question.
    hints: Vec<(usize, usize)>,
}

impl HeapLocked {
    /// A span struct: with bitmaps for a heap span, without for a manual one. A
    /// recycled struct comes back as it was left (dead, its fields still valid
    /// atomics), a fresh one is made here.
    fn alloc_span_struct(&mut self, manual: bool) -> std::ptr::NonNull<MSpan> {
        if manual {
            return self.manualalloc.alloc(|| MSpan::new(None));
        }
        let bitsalloc = &mut self.bitsalloc;
        self.spanalloc
            .alloc(|| MSpan::new(Some(bitsalloc.alloc(SpanBits::new))))
    }

    /// The index of the region holding `addr` (regions are in address order).
    fn region_index(&self, addr: usize) -> usize {
        let i = self.regions.partition_point(|r| r.pages.base() <= addr);
        assert!(
            i > 0 && self.regions[i - 1].pages.contains(addr),
            "address {addr:#x} is not in the heap"
        );
        i - 1
    }

    /// Pages were freed in region `i`: it may fit any size again.
    fn note_free(&mut self, i: usize) {
        for h in &mut self.hints {
            h.1 = h.1.min(i);
        }
    }

    /// Address-ordered first fit of `npages` over the regions, by `take`.
    fn first_fit<T>(
        &mut self,
        npages: usize,
        mut take: impl FnMut(&mut Region) -> Option<T>,
    ) -> Option<T> {
        let hint = self.hints.iter().find(|h| h.0 == npages).map_or(0, |h| h.1);
        for i in hint..self.regions.len() {
            if let Some(x) = take(&mut self.regions[i].pages) {
                self.set_hint(npages, i);
                return Some(x);
            }
        }
        self.set_hint(npages, self.regions.len());
        None
    }

    fn set_hint(&mut self, npages: usize, i: usize) {
        match self.hints.iter_mut().find(|h| h.0 == npages) {
            Some(h) => h.1 = i,
            None => self.hints.push((npages, i)),
        }
    }
}

/// The heap (Go's `mheap`): arenas, pages, spans and the mcentrals.
///
/// Make one with [`Heap::new`] (or use the process-wide [`Heap::global`]), then
/// allocate through per-thread [`MCache`]s.
///
/// ```
/// let heap = gort_alloc::Heap::new();
/// let mut cache = heap.new_mcache();
/// let p = cache.alloc(40, false);
/// // SAFETY (of this example): 40 fresh bytes are ours.
/// unsafe { p.write_bytes(0xab, 40) };
/// assert_eq!(heap.find_object(p as usize + 39).unwrap().1, p as usize);
/// ```
pub struct Heap {
    /// Go's `mheap_.lock`, on its own cache lines (contended; the fields below
    /// are read on every refill). `CachePadded` aligns to 128 bytes on x86_64
    /// and aarch64: two 64-byte lines, for the adjacent-line prefetcher.
    pub(crate) lock: CachePadded<Mutex<HeapLocked>>,
    /// Advanced by 2 when a sweep cycle starts (Go's `mheap_.sweepgen`).
    pub(crate) sweepgen: AtomicU32,
    /// One mcentral per span class, each on its own cache lines so that classes
    /// do not false-share.
    pub(crate) central: Box<[CachePadded<MCentral>]>,
    pub(crate) arenas: ArenaIndex,
    pub(crate) stats: HeapStats,
    /// The span every mcache slot starts at: no free slots, so the first
    /// allocation takes the slow path (Go's `emptymspan`).
    pub(crate) empty_span: Box<MSpan>,
    pub(crate) sweep: crate::sweep::SweepState,
    pub(crate) scav: crate::scavenge::ScavengerState,
}

impl Heap {
    /// A new, empty heap. It reserves its arena index (32 MiB of address space,
    /// committed only where used) now and arenas on first use.
    ///
    /// ```
    /// let heap = gort_alloc::Heap::new();
    /// assert_eq!(heap.mem_stats().heap_sys, 0);
    /// ```
    pub fn new() -> Arc<Heap> {
        let arenas = ArenaIndex::new().expect("gort-alloc: cannot reserve the arena index");
        let central = (0..NUM_SPAN_CLASSES)
            .map(|i| CachePadded::new(MCentral::new(SpanClass(i as u8))))
            .collect();
        Arc::new(Heap {
            lock: CachePadded::new(Mutex::new(HeapLocked {
                regions: Vec::new(),
                cur: None,
                spanalloc: FixAlloc::new(),
                bitsalloc: FixAlloc::new(),
                manualalloc: FixAlloc::new(),
                pstats: Default::default(),
                hints: Vec::new(),
            })),
            // Start at 2 rather than 0 so that `sg − 2` never wraps in the first cycle.
            sweepgen: AtomicU32::new(2),
            central,
            arenas,
            stats: HeapStats::new(),
            empty_span: Box::new(MSpan::new(None)),
            sweep: crate::sweep::SweepState::new(),
            scav: crate::scavenge::ScavengerState::new(),
        })
    }

    /// The process-wide heap, made on first use (what `gort` allocates from, and
    /// what [`crate::debug`] reports on). It has no scavenger thread: the gort
    /// runtime's sysmon runs [`Heap::bgscavenge_slice`] for it; a program using
    /// it without the runtime can call [`Heap::start_scavenger`].
    ///
    /// ```
    /// let a = gort_alloc::Heap::global();
    /// assert!(std::sync::Arc::ptr_eq(a, gort_alloc::Heap::global()));
    /// ```
    pub fn global() -> &'static Arc<Heap> {
        static GLOBAL: std::sync::OnceLock<Arc<Heap>> = std::sync::OnceLock::new();
        GLOBAL.get_or_init(Heap::new)
    }

    /// A new per-thread (per-P) cache allocating from this heap.
    ///
    /// ```
    /// let heap = gort_alloc::Heap::new();
    /// let mut c1 = heap.new_mcache();
    /// let mut c2 = heap.new_mcache();
    /// // Two caches never hand out the same slot: each takes its own span.
    /// assert_ne!(c1.alloc(8, true), c2.alloc(8, true));
    /// ```
    pub fn new_mcache(self: &Arc<Self>) -> MCache {
        MCache::new(self.clone())
    }

    /// The heap's current `sweepgen` (even; +2 per sweep cycle).
    ///
    /// ```
    /// let heap = gort_alloc::Heap::new();
    /// let before = heap.sweepgen();
    /// heap.start_sweep();
    /// assert_eq!(heap.sweepgen(), before + 2);
    /// ```
    #[inline]
    pub fn sweepgen(&self) -> u32 {
        self.sweepgen.load(Ordering::Acquire)
    }

    #[inline]
    pub(crate) fn central(&self, spc: SpanClass) -> &MCentral {
        &self.central[spc.0 as usize]
    }

    /// The span owning the page of `addr`, if the page is in a span of this heap
    /// (in use or manual) (Go's `spanOf`). Any address may be asked about.
    ///
    /// # Precondition: no concurrent free
    ///
    /// The answer is exact only while the span cannot be freed: a span freed
    /// concurrently (by a sweep, `free_manual`) may have its struct reused for
    /// another span before the caller looks at it. The collector calls this with
    /// the world stopped or while marking, when nothing frees spans (sweeping is
    /// finished before marking starts); the stack-overflow handler asks about a
    /// stack that is still in use. A caller that breaks this gets a wrong answer,
    /// never undefined behaviour: span structs stay valid for the heap's lifetime
    /// and all their fields are atomics (`span.rs`).
    ///
    /// ```
    /// let heap = gort_alloc::Heap::new();
    /// let p = heap.new_mcache().alloc(100_000, true) as usize;
    /// assert_eq!(heap.span_of(p + 99_999).unwrap().base(), p);
    /// assert!(heap.span_of(0x10).is_none());
    /// assert!(heap.span_of(usize::MAX).is_none());
    /// ```
    #[inline]
    pub fn span_of(&self, addr: usize) -> Option<&MSpan> {
        self.arenas.span_of(addr)
    }

    /// The heap object containing `addr` — a base or an interior pointer — as
    /// `(span, object base, slot index)`; `None` if `addr` is not inside an object
    /// slot of an in-use span (outside the heap, in a free page, a manual span, or
    /// the tail waste of a span) (Go's `spanOfHeap` + `findObject`). The slot may
    /// be free: that is for the caller to ask ([`MSpan::is_free`]).
    ///
    /// Same precondition as [`Heap::span_of`]: exact while spans cannot be freed
    /// concurrently (world stopped, or marking).
    ///
    /// ```
    /// let heap = gort_alloc::Heap::new();
    /// let mut c = heap.new_mcache();
    /// let a = c.alloc(24, true) as usize;
    /// let b = c.alloc(24, true) as usize;
    /// let (_, base, i) = heap.find_object(b + 23).unwrap();
    /// assert_eq!((base, i), (b, 1));
    /// assert_eq!(heap.find_object(a).unwrap().2, 0);
    /// let mut local = 0u64;
    /// assert!(heap.find_object(&mut local as *mut u64 as usize).is_none());
    /// ```
    #[inline]
    pub fn find_object(&self, addr: usize) -> Option<(&MSpan, usize, usize)> {
        let s = self.span_of(addr)?;
        if s.state() != MSpanState::InUse || addr < s.base() || addr >= s.limit() {
            return None;
        }
        let index = s.object_index(addr);
        Some((s, s.base() + index * s.elemsize(), index))
    }

    /// Sets the mark bit of the object containing `addr`, as the collector does for
    /// a reachable object. Returns false if `addr` is not in an allocated heap
    /// object (outside the heap, or in a free slot — a conservative scan finds such
    /// addresses, and Go's `scanConservative` skips them too) or the object was
    /// already marked.
    ///
    /// ```
    /// let heap = gort_alloc::Heap::new();
    /// let p = heap.new_mcache().alloc(64, true) as usize;
    /// assert!(heap.mark(p + 10));
    /// assert!(!heap.mark(p));
    /// assert!(!heap.mark(p + 64), "the next slot is free");
    /// ```
    pub fn mark(&self, addr: usize) -> bool {
        match self.find_object(addr) {
            Some((s, _, i)) => !s.is_free(i) && s.mark(i),
            None => false,
        }
    }

    /// Page statistics and span-struct bytes (in use, obtained), read under the lock.
    pub(crate) fn page_stats(&self) -> (crate::stats::PageStats, usize, usize) {
        let h = self.lock.lock();
        let p = &h.pstats;
        let copy = crate::stats::PageStats {
            heap_sys_pages: p.heap_sys_pages,
            released_pages: p.released_pages,
        };
        // The bitmaps stay with their structs: all of them count as in use.
        let inuse = h.spanalloc.inuse + h.bitsalloc.inuse + h.manualalloc.inuse;
        let sys = h.spanalloc.sys + h.bitsalloc.sys + h.manualalloc.sys;
        (copy, inuse, sys)
    }

    /// Allocates a span of `npages` pages for `spanclass`, in use, owned by the
    /// caller (Go's `mheap.alloc` → `allocSpan`). With the caller's per-P caches,
    /// spans under 16 pages come from its page cache and span-struct cache
    /// without the heap lock, which is taken only to refill them (Go's `pcache`
    /// and `mspancache` paths).
    pub(crate) fn alloc_span(
        &self,
        npages: usize,
        spanclass: SpanClass,
        pp: Option<&mut PCaches>,
    ) -> SpanPtr {
        self.alloc_span_state(npages, spanclass, pp, MSpanState::InUse)
    }

    fn alloc_span_state(
        &self,
        npages: usize,
        spanclass: SpanClass,
        pp: Option<&mut PCaches>,
        state: MSpanState,
    ) -> SpanPtr {
        let mut fast = None;
        let mut local = None;
        if let Some(PCaches {
            pcache,
            mspancache,
            stats,
        }) = pp
        {
            local = stats.as_deref();
            if npages < PAGE_CACHE_PAGES / 4 {
                if pcache.empty() || mspancache.is_empty() {
                    let mut h = self.lock.lock();
                    if pcache.empty() {
                        *pcache = self.alloc_to_cache(&mut h);
                    }
                    while mspancache.len() < MSPAN_CACHE {
                        mspancache.push(h.alloc_span_struct(false));
                    }
                }
                if let Some((base, needzero)) = pcache.alloc(npages) {
                    let slot = mspancache.pop().expect("refilled above");
                    fast = Some((base, needzero, slot));
                }
            }
        }
        let (base, needzero, slot) = match fast {
            Some(x) => x,
            None => {
                let mut h = self.lock.lock();
                let run = match Self::alloc_pages(&mut h, npages) {
                    Some(x) => x,
                    None => {
                        self.grow(&mut h, npages);
                        Self::alloc_pages(&mut h, npages)
                            .expect("gort-alloc: grow did not make room")
                    }
                };
                h.pstats.released_pages -= run.scavenged;
                let slot = h.alloc_span_struct(state == MSpanState::Manual);
                (run.base, run.needzero, slot)
            }
        };
        match (state, local) {
            (MSpanState::Manual, _) => {
                self.stats
                    .stack_inuse_pages
                    .fetch_add(npages, crate::loom::atomic::Ordering::Relaxed);
            }
            // Counted in the mcache's own counters: no shared cache line.
            (_, Some(l)) => l.pages_in_use(npages),
            (_, None) => {
                self.stats
                    .pages_in_use
                    .fetch_add(npages, crate::loom::atomic::Ordering::Relaxed);
            }
        }
        let s = SpanPtr(slot);
        let span = s.get();
        debug_assert_eq!(span.has_bits(), state != MSpanState::Manual);
        // SAFETY: the struct is ours: from a fixalloc (directly or via an mspan
        // cache), dead, and not in the arena index until `set_spans` below.
        unsafe { span.init(base, npages, spanclass, self.sweepgen(), needzero) };
        span.set_state(state);
        self.arenas.set_spans(base, npages, slot.as_ptr());
        s
    }

    /// A fresh page cache from the lowest region with a free page, growing the
    /// heap if there is none (Go's `pageAlloc.allocToCache`). Heap lock held.
    fn alloc_to_cache(&self, h: &mut HeapLocked) -> PageCache {
        let found = h.first_fit(1, |r| r.alloc_to_cache());
        let (pc, scavenged) = match found {
            Some(x) => x,
            None => {
                self.grow(h, PAGE_CACHE_PAGES);
                h.first_fit(1, |r| r.alloc_to_cache())
                    .expect("gort-alloc: grow did not make room")
            }
        };
        h.pstats.released_pages -= scavenged;
        pc
    }

    /// Gives a dying mcache's page cache and span structs back (Go's
    /// `pageCache.flush` when a P is destroyed, and its `mspancache` flush).
    pub(crate) fn flush_pcaches(&self, pp: &mut PCaches) {
        let mut h = self.lock.lock();
        if let Some((base, bits)) = pp.pcache.take() {
            let i = h.region_index(base);
            h.regions[i].pages.free_cache(base, bits);
            h.note_free(i);
        }
        for slot in pp.mspancache.drain(..) {
            // SAFETY: slots in an mspan cache came from this fixalloc and hold
            // no live span.
            unsafe { h.spanalloc.free(slot) };
        }
    }

    fn alloc_pages(h: &mut HeapLocked, npages: usize) -> Option<crate::pagealloc::PageRun> {
        h.first_fit(npages, |r| r.alloc(npages))
    }

    /// Returns a span's pages to the page allocator and its struct to the fixalloc
    /// (Go's `freeSpan`). The caller owns the span and no one else may reach it.
    pub(crate) fn free_span(&self, s: SpanPtr) {
        self.free_span_released(s, false);
    }

    /// [`Heap::free_span`]; with `released`, the caller has already given the
    /// span's memory back to the OS and its pages count as scavenged.
    fn free_span_released(&self, s: SpanPtr, released: bool) {
        let span = s.get();
        let (base, npages) = (span.base(), span.npages());
        let counter = match span.state() {
            MSpanState::Manual => &self.stats.stack_inuse_pages,
            _ => &self.stats.pages_in_use,
        };
        self.arenas.set_spans(base, npages, std::ptr::null_mut());
        span.set_state(MSpanState::Dead);
        let mut h = self.lock.lock();
        let i = h.region_index(base);
        if released {
            h.regions[i].pages.free_released(base, npages);
            h.pstats.released_pages += npages;
        } else {
            h.regions[i].pages.free(base, npages);
        }
        h.note_free(i);
        // SAFETY: the struct came from the fixalloc that matches its kind in
        // alloc_span, its pages and index entries are released above, and the
        // caller uses it no more. (Threads that found it through `span_of` before
        // may still read it: it stays a valid span struct, see `fixalloc.rs`.)
        unsafe {
            if span.has_bits() {
                h.spanalloc.free(s.0)
            } else {
                h.manualalloc.free(s.0)
            }
        };
        drop(h);
        counter.fetch_sub(npages, crate::loom::atomic::Ordering::Relaxed);
    }

    /// A span of `npages` pages for manual management — goroutine stacks — owned
    /// by the caller: never swept, in no mcentral, its memory not zeroed; its
    /// pages count as `StackInuse`, not heap (Go's `mheap.allocManual`). `span_of`
    /// finds it (state `Manual`); `find_object` does not.
    ///
    /// ```
    /// use gort_alloc::span::MSpanState;
    /// let heap = gort_alloc::Heap::new();
    /// let s = heap.alloc_manual(33); // a 256 KiB stack and its guard page
    /// assert_eq!((s.state(), s.npages()), (MSpanState::Manual, 33));
    /// assert!(heap.find_object(s.base() + 100).is_none());
    /// assert_eq!(heap.mem_stats().stack_inuse, 33 * 8192);
    /// ```
    pub fn alloc_manual(&self, npages: usize) -> &MSpan {
        assert!(npages > 0, "alloc_manual: zero pages");
        let s = self.alloc_span_state(npages, SpanClass(0), None, MSpanState::Manual);
        s.get()
    }

    /// Returns a manual span's pages to the heap (Go's `mheap.freeManual`).
    ///
    /// # Safety
    /// `base` is the base of a span from [`Heap::alloc_manual`] of this heap, not
    /// freed yet; nothing uses its memory any more, and any guard the caller
    /// installed in it (`MADV_GUARD_INSTALL`, `mprotect`) has been removed.
    ///
    /// ```
    /// let heap = gort_alloc::Heap::new();
    /// let base = heap.alloc_manual(4).base();
    /// // SAFETY (of this example): the span is ours, unused and unguarded.
    /// unsafe { heap.free_manual(base) };
    /// assert_eq!(heap.mem_stats().stack_inuse, 0);
    /// assert!(heap.span_of(base).is_none());
    /// ```
    pub unsafe fn free_manual(&self, base: usize) {
        let span = self
            .span_of(base)
            .expect("free_manual: not a span of this heap");
        assert!(
            span.state() == MSpanState::Manual && span.base() == base,
            "free_manual: not a manual span"
        );
        self.free_span(SpanPtr(std::ptr::NonNull::from(span)));
    }

    /// Returns a manual span's pages to the heap and their memory to the OS at
    /// once: [`Heap::free_manual`] with the release the scavenger would do later.
    /// For goroutine stacks, which are large reservations of which a goroutine
    /// touches a few pages: left to the paced scavenger, nearly all of its work
    /// would go to pages that were never backed. Counted as eager scavenging in
    /// `scavtrace`.
    ///
    /// # Safety
    /// As for [`Heap::free_manual`].
    ///
    /// ```
    /// let heap = gort_alloc::Heap::new();
    /// let s = heap.alloc_manual(4);
    /// let base = s.base();
    /// // SAFETY (of this example): the span is ours, and its memory.
    /// unsafe { (base as *mut u8).write(1) };
    /// let released = heap.mem_stats().heap_released;
    /// // SAFETY (of this example): the span is ours, unused and unguarded.
    /// unsafe { heap.free_manual_released(base) };
    /// assert_eq!(heap.mem_stats().heap_released, released + 4 * 8192);
    /// ```
    pub unsafe fn free_manual_released(&self, base: usize) {
        let span = self
            .span_of(base)
            .expect("free_manual_released: not a span of this heap");
        assert!(
            span.state() == MSpanState::Manual && span.base() == base,
            "free_manual_released: not a manual span"
        );
        let len = span.npages() * PAGE_SIZE;
        // SAFETY: the span lies in one of our reservations and, by the contract,
        // nothing uses its memory; madvise outside the heap lock, as Go drops
        // the lock around sysUnused.
        unsafe { crate::arena::sys_unused(base, len) };
        self.scav
            .released_eager
            .fetch_add(len as u64, Ordering::Relaxed);
        self.free_span_released(SpanPtr(std::ptr::NonNull::from(span)), true);
    }

    /// Adds at least `npages` usable pages (Go's `mheap.grow`): from the current
    /// arena in 4 MiB steps, else from a new reservation.
    fn grow(&self, h: &mut HeapLocked, npages: usize) {
        let ask = npages.next_multiple_of(PALLOC_CHUNK_PAGES);
        if let Some(ci) = h.cur {
            let r = &mut h.regions[ci].pages;
            if r.room() >= npages {
                let got = r.grow(ask);
                h.pstats.grow(got);
                h.note_free(ci);
                return;
            }
            // Not enough room: the rest of the current arena becomes usable as is.
            let got = r.grow(usize::MAX);
            h.pstats.grow(got);
            h.note_free(ci);
        }
        let narenas = ask.div_ceil(PAGES_PER_ARENA);
        let res =
            Reservation::new(narenas).expect("gort-alloc: out of address space (mmap failed)");
        for a in 0..narenas {
            self.arenas.add_arena(res.base() + a * HEAP_ARENA_BYTES);
        }
        let mut pages = Region::new(res.base(), res.len() >> PAGE_SHIFT);
        let got = pages.grow(ask);
        h.pstats.grow(got);
        let at = h.regions.partition_point(|r| r.pages.base() < res.base());
        h.regions.insert(at, HeapRegion { pages, res });
        // Indices from `at` on moved up one; the new region may fit anything.
        for hint in &mut h.hints {
            if hint.1 > at {
                hint.1 += 1;
            }
            hint.1 = hint.1.min(at);
        }
        // A multi-arena region is full up front; keep growing the last arena.
        if narenas == 1 || h.cur.is_none() {
            h.cur = Some(at);
        } else if let Some(ci) = h.cur.as_mut() {
            if *ci >= at {
                *ci += 1;
            }
        }
    }
}

#[cfg(all(test, not(miri)))]
mod tests {
    use super::*;
    use crate::arena::HEAP_ARENA_BYTES;
    use crate::sizeclass::PAGE_SIZE;

    #[test]
    fn find_object_answers_for_base_interior_tail_free_and_foreign_addresses() {
        let heap = Heap::new();
        let mut c = heap.new_mcache();
        let a = c.alloc(24, true) as usize; // class 3: 341 slots, 8 bytes of tail
        let s = heap.span_of(a).unwrap();
        assert_eq!(s.base(), a);
        for i in 0..341 {
            let p = if i == 0 {
                a
            } else {
                c.alloc(24, true) as usize
            };
            assert_eq!(p, a + i * 24);
            for off in [0, 1, 23] {
                let (s2, base, idx) = heap.find_object(p + off).unwrap();
                assert!(std::ptr::eq(s, s2));
                assert_eq!((base, idx), (p, i));
            }
        }
        // Tail waste of the span: in the span, but in no object.
        assert!(std::ptr::eq(heap.span_of(a + 341 * 24).unwrap(), s));
        assert!(heap.find_object(a + 341 * 24).is_none());
        // The next page of the arena is free: no span.
        let next_free = heap.arenas.span_of(a + 200 * PAGE_SIZE);
        assert!(next_free.is_none());
        // Addresses outside any arena, on the stack, on the Rust heap, beyond 2^48.
        let local = 5u64;
        let boxed = Box::new(5u64);
        for addr in [
            0,
            8,
            &local as *const u64 as usize,
            &*boxed as *const u64 as usize,
            1 << 50,
            usize::MAX,
        ] {
            assert!(heap.find_object(addr).is_none(), "{addr:#x}");
        }
    }

    #[test]
    fn large_objects_are_found_from_every_page_and_freed_whole() {
        let heap = Heap::new();
        let mut c = heap.new_mcache();
        let size = 5 * PAGE_SIZE + 17;
        let p = c.alloc(size, false) as usize;
        for off in [0, PAGE_SIZE, 3 * PAGE_SIZE + 5, size - 1] {
            let (s, base, idx) = heap.find_object(p + off).unwrap();
            assert_eq!(
                (base, idx, s.npages(), s.spanclass().sizeclass()),
                (p, 0, 6, 0)
            );
        }
        heap.start_sweep();
        c.prepare_for_sweep();
        heap.finish_sweep();
        assert!(heap.find_object(p).is_none());
        assert_eq!(heap.mem_stats().heap_inuse, 0);
    }

    #[test]
    fn objects_bigger_than_an_arena_get_a_region_of_their_own() {
        let heap = Heap::new();
        let mut c = heap.new_mcache();
        let small = c.alloc(8, true) as usize;
        let big = c.alloc(HEAP_ARENA_BYTES + PAGE_SIZE, true) as usize;
        assert_eq!(
            big % HEAP_ARENA_BYTES,
            0,
            "a fresh region starts on an arena boundary"
        );
        // Its last page lies in the second arena, and is found through the index.
        let (s, base, _) = heap.find_object(big + HEAP_ARENA_BYTES + 100).unwrap();
        assert_eq!((base, s.npages()), (big, 8193));
        assert!(heap.find_object(small).is_some());
        // Small spans still come from pages grown in either region.
        let small2 = c.alloc(32 << 10, true) as usize;
        assert_eq!(heap.find_object(small2).unwrap().0.npages(), 4);
    }

    #[test]
    fn manual_spans_are_found_but_never_swept_and_count_as_stack() {
        let heap = Heap::new();
        let mut c = heap.new_mcache();
        let obj = c.alloc(64, true) as usize;
        let stacks: Vec<&MSpan> = (0..10).map(|_| heap.alloc_manual(33)).collect();
        for (i, s) in stacks.iter().enumerate() {
            assert_eq!(s.state(), MSpanState::Manual);
            // SAFETY: the manual span's 33 pages are ours.
            unsafe { (s.base() as *mut u8).write_bytes(i as u8, 33 * PAGE_SIZE) };
            let top = s.base() + 33 * PAGE_SIZE - 1;
            assert!(std::ptr::eq(heap.span_of(top).unwrap(), *s));
            assert!(
                heap.find_object(top).is_none(),
                "a stack is not a heap object"
            );
        }
        let m = heap.mem_stats();
        assert_eq!(m.stack_inuse, 10 * 33 * PAGE_SIZE as u64);
        assert_eq!(m.heap_inuse, PAGE_SIZE as u64);
        assert_eq!(
            m.sys,
            m.heap_sys + m.stack_sys + m.mspan_sys + m.mcache_sys + m.other_sys
        );
        // A sweep cycle frees the unmarked object but leaves stacks alone.
        heap.finish_sweep();
        heap.start_sweep();
        c.prepare_for_sweep();
        heap.finish_sweep();
        assert!(heap.find_object(obj).is_none());
        for (i, s) in stacks.iter().enumerate() {
            assert_eq!(s.state(), MSpanState::Manual);
            // SAFETY: still ours.
            assert_eq!(unsafe { *((s.base() + 5000) as *const u8) }, i as u8);
        }
        let base = stacks[3].base();
        // SAFETY: unused from here on, no guard installed.
        unsafe { heap.free_manual(base) };
        assert!(heap.span_of(base).is_none());
        assert_eq!(heap.mem_stats().stack_inuse, 9 * 33 * PAGE_SIZE as u64);
    }

    #[test]
    fn first_fit_comes_back_to_a_freed_run_in_an_earlier_arena() {
        let heap = Heap::new();
        // Two near-arena-sized runs: each needs an arena of its own.
        let a = heap.alloc_manual(8000).base();
        let b = heap.alloc_manual(8000).base();
        assert_ne!(a / HEAP_ARENA_BYTES, b / HEAP_ARENA_BYTES);
        let sys = heap.mem_stats().heap_sys + heap.mem_stats().stack_sys;
        // SAFETY: unused, unguarded.
        unsafe { heap.free_manual(a) };
        // The size-8000 hint had moved past a's region; the free brings it back.
        assert_eq!(heap.alloc_manual(8000).base(), a);
        let m = heap.mem_stats();
        assert_eq!(m.heap_sys + m.stack_sys, sys, "no growth needed");
        let _ = b;
    }

    #[test]
    fn the_heap_grows_in_4mib_steps_and_reserves_arenas_on_demand() {
        let heap = Heap::new();
        let mut c = heap.new_mcache();
        c.alloc(8, true);
        assert_eq!(heap.mem_stats().heap_sys, 4 << 20);
        // 70 MiB of 1 MiB objects: more than one arena.
        let ptrs: Vec<usize> = (0..70).map(|_| c.alloc(1 << 20, true) as usize).collect();
        let arenas: std::collections::BTreeSet<usize> =
            ptrs.iter().map(|p| p / HEAP_ARENA_BYTES).collect();
        assert!(arenas.len() >= 2);
        let m = heap.mem_stats();
        assert!(
            m.heap_sys >= 70 << 20 && m.heap_sys.is_multiple_of(4 << 20),
            "{}",
            m.heap_sys
        );
        for p in ptrs {
            assert_eq!(heap.find_object(p + 12345).unwrap().1, p);
        }
    }
}
