//! Heap statistics: Go's `runtime.MemStats` fields that apply to gort's heap.
//!
//! Models the allocator half of `runtime/mstats.go` (`MemStats`, `heapStatsDelta`,
//! `readmemstats_m`).
//!
//! # Design
//!
//! Counters are added to on slow paths only. Allocation counts live per mcache
//! (Go's per-P `heapStatsDelta`): the cache adds the number of objects it
//! allocated from a span when it gives the span back or refills (Go's
//! `allocCount − allocCountBeforeCache` in `mcache.refill`), and large objects
//! when allocated, to counters only it writes — no contended atomics on the
//! refill path; the heap folds them in when the cache is dropped. The sweeper
//! counts frees per size class in the heap's atomics; the mheap counts pages. [`MemStats`] is then derived the way `readmemstats_m`
//! derives it: `HeapAlloc` is bytes allocated minus bytes freed by class,
//! `HeapObjects` is `Mallocs − Frees`, `HeapIdle = HeapSys − HeapInuse`, and so on.
//!
//! Tiny allocations are counted as Go counts them: each tiny allocation adds one
//! to both `Mallocs` and `Frees`, while the 16-byte blocks they share count as
//! objects of size class 2.
//!
//! # What gort simplifies
//!
//! Go's `ReadMemStats` stops the world and so sees every mcache's counts. gort's
//! `mem_stats` sums the heap's and every live mcache's counters without stopping
//! anyone: objects allocated from
//! spans still held by an mcache show up when it refills that class, is released
//! ([`crate::MCache::release_all`]) or dropped. GC and profiling fields are
//! absent until those parts exist.

use crate::loom::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use crate::sizeclass::{CLASS_TO_SIZE, NUM_SIZE_CLASSES, PAGE_SIZE};

/// Counters updated without the heap lock, on their own cache lines: they are
/// written from every thread's slow path and must not share a line with the
/// heap's read-mostly fields (its `sweepgen`, the mcentral table).
#[repr(align(128))]
pub(crate) struct HeapStats {
    small_allocs: [AtomicU64; NUM_SIZE_CLASSES],
    small_frees: [AtomicU64; NUM_SIZE_CLASSES],
    large_allocs: AtomicU64,
    large_alloc_bytes: AtomicU64,
    large_frees: AtomicU64,
    large_free_bytes: AtomicU64,
    tiny_allocs: AtomicU64,
    pub(crate) mcache_inuse: AtomicUsize,
    /// Pages in in-use spans (atomic: spans from page caches skip the heap lock;
    /// Go adds to `heapInUse` atomically too).
    pub(crate) pages_in_use: AtomicUsize,
    /// Pages in manual spans: goroutine stacks (Go's `inStacks`).
    pub(crate) stack_inuse_pages: AtomicUsize,
    /// Every live mcache's counters.
    pub(crate) locals: crate::loom::Mutex<Vec<std::sync::Arc<LocalStats>>>,
}

/// An mcache's own allocation counters (Go's per-P `heapStatsDelta`): written
/// only by the owning cache, with plain loads and stores (no lock prefix, no
/// cache line shared with another writer), read by `mem_stats`, and folded into
/// the heap's counters when the cache is dropped.
#[repr(align(128))]
pub(crate) struct LocalStats {
    small_allocs: [AtomicU64; NUM_SIZE_CLASSES],
    tiny_allocs: AtomicU64,
    large_allocs: AtomicU64,
    large_alloc_bytes: AtomicU64,
    /// Pages of spans this cache allocated (frees are subtracted from the heap's
    /// counter, which may therefore wrap below zero; the sum is exact).
    pages_in_use: AtomicUsize,
}

/// Adds `n` to a counter only this thread writes.
#[inline]
fn bump(c: &AtomicU64, n: u64) {
    c.store(c.load(Relaxed) + n, Relaxed);
}

impl LocalStats {
    pub(crate) fn new() -> LocalStats {
        LocalStats {
            small_allocs: std::array::from_fn(|_| AtomicU64::new(0)),
            tiny_allocs: AtomicU64::new(0),
            large_allocs: AtomicU64::new(0),
            large_alloc_bytes: AtomicU64::new(0),
            pages_in_use: AtomicUsize::new(0),
        }
    }
    pub(crate) fn pages_in_use(&self, n: usize) {
        self.pages_in_use
            .store(self.pages_in_use.load(Relaxed).wrapping_add(n), Relaxed);
    }
    pub(crate) fn small_alloc(&self, sizeclass: u8, n: usize) {
        if n > 0 {
            bump(&self.small_allocs[sizeclass as usize], n as u64);
        }
    }
    pub(crate) fn tiny_alloc(&self, n: u64) {
        if n > 0 {
            bump(&self.tiny_allocs, n);
        }
    }
    pub(crate) fn large_alloc(&self, bytes: usize) {
        bump(&self.large_allocs, 1);
        bump(&self.large_alloc_bytes, bytes as u64);
    }
}

/// Page counters, kept under the heap lock (`HeapLocked::pstats`): the mheap
/// changes them only where it holds the lock anyway.
#[derive(Default)]
pub(crate) struct PageStats {
    /// Pages grown into (Go's `HeapSys`).
    pub(crate) heap_sys_pages: usize,
    /// Free pages returned to the OS, or never touched.
    pub(crate) released_pages: usize,
}

impl PageStats {
    /// The heap grew by `pages` fresh (never touched, so "released") pages.
    pub(crate) fn grow(&mut self, pages: usize) {
        self.heap_sys_pages += pages;
        self.released_pages += pages;
    }
}

impl HeapStats {
    /// Registers a new mcache's counters.
    pub(crate) fn add_local(&self) -> std::sync::Arc<LocalStats> {
        let l = std::sync::Arc::new(LocalStats::new());
        self.locals.lock().push(l.clone());
        l
    }

    /// Folds a dying mcache's counters into the heap's and forgets them (under
    /// the list's lock, so `mem_stats` counts them exactly once).
    pub(crate) fn remove_local(&self, l: &std::sync::Arc<LocalStats>) {
        let mut locals = self.locals.lock();
        for (g, x) in self.small_allocs.iter().zip(&l.small_allocs) {
            g.fetch_add(x.load(Relaxed), Relaxed);
        }
        self.tiny_allocs
            .fetch_add(l.tiny_allocs.load(Relaxed), Relaxed);
        self.large_allocs
            .fetch_add(l.large_allocs.load(Relaxed), Relaxed);
        self.large_alloc_bytes
            .fetch_add(l.large_alloc_bytes.load(Relaxed), Relaxed);
        self.pages_in_use
            .fetch_add(l.pages_in_use.load(Relaxed), Relaxed);
        locals.retain(|x| !std::sync::Arc::ptr_eq(x, l));
    }

    pub(crate) fn new() -> HeapStats {
        HeapStats {
            small_allocs: std::array::from_fn(|_| AtomicU64::new(0)),
            small_frees: std::array::from_fn(|_| AtomicU64::new(0)),
            large_allocs: AtomicU64::new(0),
            large_alloc_bytes: AtomicU64::new(0),
            large_frees: AtomicU64::new(0),
            large_free_bytes: AtomicU64::new(0),
            tiny_allocs: AtomicU64::new(0),
            mcache_inuse: AtomicUsize::new(0),
            pages_in_use: AtomicUsize::new(0),
            stack_inuse_pages: AtomicUsize::new(0),
            locals: crate::loom::Mutex::new(Vec::new()),
        }
    }
    pub(crate) fn small_free(&self, sizeclass: u8, n: usize) {
        if n > 0 {
            self.small_frees[sizeclass as usize].fetch_add(n as u64, Relaxed);
        }
    }
    pub(crate) fn large_free(&self, bytes: usize) {
        self.large_frees.fetch_add(1, Relaxed);
        self.large_free_bytes.fetch_add(bytes as u64, Relaxed);
    }
}

/// Go's `runtime.MemStats`, the fields that describe gort's heap. Byte counts
/// unless named otherwise; see Go's documentation of each field.
///
/// ```
/// let heap = gort_alloc::Heap::new();
/// let mut c = heap.new_mcache();
/// for _ in 0..1000 {
///     c.alloc(100, true);
/// }
/// c.release_all(); // count what the cache allocated
/// let m = heap.mem_stats();
/// assert_eq!(m.mallocs, 1000);
/// assert_eq!(m.heap_alloc, 1000 * 112); // 100 bytes round up to the 112-byte class
/// assert_eq!(m.heap_objects, 1000);
/// assert!(m.heap_inuse >= m.heap_alloc && m.heap_sys >= m.heap_inuse);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemStats {
    /// Bytes of allocated heap objects (same as `heap_alloc`).
    pub alloc: u64,
    /// Cumulative bytes allocated for heap objects.
    pub total_alloc: u64,
    /// Bytes obtained from the OS for the heap and its metadata.
    pub sys: u64,
    /// Cumulative count of heap objects allocated (tiny allocations included).
    pub mallocs: u64,
    /// Cumulative count of heap objects freed (by sweeping).
    pub frees: u64,
    /// Bytes of allocated heap objects: reachable ones plus unswept garbage.
    pub heap_alloc: u64,
    /// Bytes of heap memory grown into (in use, idle or released).
    pub heap_sys: u64,
    /// Bytes in pages that hold no span.
    pub heap_idle: u64,
    /// Bytes in in-use spans.
    pub heap_inuse: u64,
    /// Bytes of idle pages returned to the OS (or never touched).
    pub heap_released: u64,
    /// Number of allocated heap objects.
    pub heap_objects: u64,
    /// Bytes in stack spans (manual spans from [`crate::Heap::alloc_manual`]).
    pub stack_inuse: u64,
    /// Bytes obtained for stacks (gort: the same as `stack_inuse`; Go adds OS
    /// thread stacks).
    pub stack_sys: u64,
    /// Bytes of allocated `mspan` structures.
    pub mspan_inuse: u64,
    /// Bytes obtained for `mspan` structures.
    pub mspan_sys: u64,
    /// Bytes of allocated `mcache` structures.
    pub mcache_inuse: u64,
    /// Bytes obtained for `mcache` structures.
    pub mcache_sys: u64,
    /// Other heap metadata: the arena records.
    pub other_sys: u64,
}

impl crate::Heap {
    /// Reads the heap's statistics (Go's `runtime.ReadMemStats`, without stopping
    /// the world: see the module comment for what an mcache may still hold back).
    ///
    /// ```
    /// let heap = gort_alloc::Heap::new();
    /// let mut c = heap.new_mcache();
    /// c.alloc(1 << 20, true); // large: counted at once
    /// let m = heap.mem_stats();
    /// assert_eq!((m.mallocs, m.heap_alloc), (1, 1 << 20));
    /// assert_eq!(m.heap_inuse, 1 << 20);
    /// assert_eq!(m.heap_idle, m.heap_sys - m.heap_inuse);
    /// ```
    pub fn mem_stats(&self) -> MemStats {
        let s = &self.stats;
        let mut m = MemStats::default();
        // Heap counters plus every live mcache's.
        let mut small = [0u64; NUM_SIZE_CLASSES];
        let (mut tiny, mut la, mut lab) = (0, 0, 0);
        let mut pages_in_use: usize;
        {
            // The heap's own counters are read under the same lock as the
            // caches', so a cache folded in meanwhile is counted exactly once.
            let locals = s.locals.lock();
            pages_in_use = s.pages_in_use.load(Relaxed);
            for l in locals.iter().map(|l| &**l) {
                for (t, x) in small.iter_mut().zip(&l.small_allocs) {
                    *t += x.load(Relaxed);
                }
                tiny += l.tiny_allocs.load(Relaxed);
                la += l.large_allocs.load(Relaxed);
                lab += l.large_alloc_bytes.load(Relaxed);
                pages_in_use = pages_in_use.wrapping_add(l.pages_in_use.load(Relaxed));
            }
            for (t, x) in small.iter_mut().zip(&s.small_allocs) {
                *t += x.load(Relaxed);
            }
            tiny += s.tiny_allocs.load(Relaxed);
            la += s.large_allocs.load(Relaxed);
            lab += s.large_alloc_bytes.load(Relaxed);
        }
        let per_class = small.iter().zip(&s.small_frees).zip(CLASS_TO_SIZE);
        for ((&a, f), size) in per_class.skip(1) {
            let (f, size) = (f.load(Relaxed), size as u64);
            m.mallocs += a;
            m.frees += f;
            m.total_alloc += a * size;
            m.heap_alloc += a.saturating_sub(f) * size;
        }
        let (lf, lfb) = (
            s.large_frees.load(Relaxed),
            s.large_free_bytes.load(Relaxed),
        );
        m.mallocs += la;
        m.frees += lf;
        m.total_alloc += lab;
        m.heap_alloc += lab.saturating_sub(lfb);
        m.heap_objects = m.mallocs.saturating_sub(m.frees);
        m.mallocs += tiny;
        m.frees += tiny;
        m.alloc = m.heap_alloc;
        let page = PAGE_SIZE as u64;
        let (ps, mspan_inuse, mspan_sys) = self.page_stats();
        // Stack spans come out of heap pages but count as stack memory, as in Go.
        m.stack_inuse = s.stack_inuse_pages.load(Relaxed) as u64 * page;
        m.stack_sys = m.stack_inuse;
        m.heap_sys = (ps.heap_sys_pages as u64 * page).saturating_sub(m.stack_inuse);
        // A read racing a free may see the free before the allocation: clamp.
        m.heap_inuse = (pages_in_use as isize).max(0) as u64 * page;
        m.heap_idle = m.heap_sys.saturating_sub(m.heap_inuse);
        m.heap_released = ps.released_pages as u64 * page;
        m.mspan_inuse = mspan_inuse as u64;
        m.mspan_sys = mspan_sys as u64;
        m.mcache_inuse = s.mcache_inuse.load(Relaxed) as u64;
        m.mcache_sys = m.mcache_inuse;
        m.other_sys = self.arenas.sys() as u64;
        m.sys = m.heap_sys + m.stack_sys + m.mspan_sys + m.mcache_sys + m.other_sys;
        m
    }
}
