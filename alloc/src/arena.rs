//! Heap arenas and the arena index: from any address to its span in O(1).
//!
//! Models `runtime/malloc.go` (`heapArenaBytes`, `arenaL1Bits`, `arenaL2Bits`,
//! `arenaIndex`, `sysReserve`/`sysAlloc`) and `runtime/mheap.go` (`heapArena`,
//! `mheap.arenas`, `spanOf`, `spanOfHeap`, `setSpans`).
//!
//! # Design
//!
//! The heap's memory comes in 64 MiB *arenas*, reserved from the OS with one
//! anonymous `mmap` each (through `memmap2`) when the heap needs to grow. Nothing is
//! committed up front: the kernel backs a page when it is first touched, and the
//! scavenger gives pages back with `madvise`. Arenas need not be contiguous.
//!
//! Every arena has a `HeapArena` record whose `spans` array maps each of its 8192
//! pages to the span that owns it (null for free pages). All pages of an in-use
//! span point at it, so an interior pointer finds its span as fast as a base
//! pointer. The records are found through Go's sparse two-level index: the arena
//! number `addr >> 26` splits into an L1 and an L2 index. On linux/amd64 Go uses
//! L1 = 1 entry and L2 = 2^22 entries (48-bit addresses / 64 MiB), one 32 MiB array
//! of pointers reserved but only committed where arenas are — we do the same with
//! one `mmap`. So `span_of(addr)` is: bounds check, two loads to the
//! `HeapArena`, one load of the span pointer. `find_object` then checks the span
//! is in use and `addr` is below its `limit`, and divides by the element size with
//! the class's multiply-shift.
//!
//! # Memory ordering
//!
//! An arena record is published (release) in the index before any span in it is;
//! a span's `spans` entries are published (release) after the span is fully
//! initialised and its state set, and loaded with acquire, so a reader that finds
//! a span sees its geometry. Entries are cleared when a span is freed; a racing
//! reader may still see a span being freed — the collector only asks about
//! addresses while the spans it can reach are not being freed, as in Go.
//!
//! # What gort simplifies
//!
//! To get 64 MiB alignment from `mmap`, which gives only page alignment, we reserve
//! one arena more than needed and use the aligned part: the slack costs address
//! space, never memory. Go asks for hinted addresses instead. Only user-space
//! addresses (below 2^47) exist on Linux, so the index starts at 0 rather than at
//! Go's `arenaBaseOffset`. Go allocates `heapArena` records off-heap with
//! `persistentalloc`; gort boxes them (64 KiB each).

// The index is a one-way publication (release store, acquire load) that never
// takes part in a hand-off, so it uses std's atomics even in loom builds: its
// 2^22 slots live in an mmap'd array, which loom's atomics could not overlay.
use crate::sizeclass::PAGE_SHIFT;
use crate::span::MSpan;
use memmap2::{MmapMut, MmapOptions};
use std::sync::atomic::{AtomicPtr, Ordering};

/// log2 of the arena size (Go's `logHeapArenaBytes` on linux/amd64).
///
/// ```
/// assert_eq!(1 << gort_alloc::arena::LOG_HEAP_ARENA_BYTES, 64 << 20);
/// ```
pub const LOG_HEAP_ARENA_BYTES: usize = 26;
/// Bytes per arena: 64 MiB (Go's `heapArenaBytes`).
///
/// ```
/// assert_eq!(gort_alloc::arena::HEAP_ARENA_BYTES, 64 << 20);
/// ```
pub const HEAP_ARENA_BYTES: usize = 1 << LOG_HEAP_ARENA_BYTES;
/// Pages per arena (Go's `pagesPerArena`).
///
/// ```
/// assert_eq!(gort_alloc::arena::PAGES_PER_ARENA, 8192);
/// ```
pub const PAGES_PER_ARENA: usize = HEAP_ARENA_BYTES >> PAGE_SHIFT;
/// Address bits the heap may use (Go's `heapAddrBits`).
///
/// ```
/// assert_eq!(gort_alloc::arena::HEAP_ADDR_BITS, 48);
/// ```
pub const HEAP_ADDR_BITS: usize = 48;
/// Bits of the L1 index (Go's `arenaL1Bits`: 0 on linux/amd64).
///
/// ```
/// assert_eq!(1 << gort_alloc::arena::ARENA_L1_BITS, 1); // one L1 entry
/// ```
pub const ARENA_L1_BITS: usize = 0;
/// Bits of the L2 index (Go's `arenaL2Bits`).
///
/// ```
/// assert_eq!(1 << gort_alloc::arena::ARENA_L2_BITS, 4_194_304);
/// ```
pub const ARENA_L2_BITS: usize = HEAP_ADDR_BITS - LOG_HEAP_ARENA_BYTES - ARENA_L1_BITS;

/// Per-arena metadata (Go's `heapArena`).
pub(crate) struct HeapArena {
    /// Page → owning span (null: free page).
    spans: [AtomicPtr<MSpan>; PAGES_PER_ARENA],
}

/// The arena index (Go's `mheap.arenas`): `[1 << L1][1 << L2]*heapArena`.
pub(crate) struct ArenaIndex {
    /// With `ARENA_L1_BITS = 0` the one L2 array, reserved at once (32 MiB of
    /// address space, committed only where written).
    l2: MmapMut,
    /// Records to free on drop (appended under the heap lock).
    records: parking_lot::Mutex<Vec<SendPtr>>,
}

struct SendPtr(*mut HeapArena);
// SAFETY: a record is plain atomics, owned by the index, freed only by its `Drop`.
unsafe impl Send for SendPtr {}

/// The arena number of `addr`, or None outside the heap's address range (Go's
/// `arenaIndex`, split into L1/L2 by `l1()`/`l2()`; L1 is always 0 here).
///
/// ```
/// use gort_alloc::arena::arena_index;
/// assert_eq!(arena_index(3 << 26 | 12345), Some(3));
/// assert_eq!(arena_index(1 << 48), None);
/// ```
#[inline]
pub fn arena_index(addr: usize) -> Option<usize> {
    (addr >> HEAP_ADDR_BITS == 0).then_some(addr >> LOG_HEAP_ARENA_BYTES)
}

impl ArenaIndex {
    pub(crate) fn new() -> std::io::Result<ArenaIndex> {
        let len = (1usize << ARENA_L2_BITS) * std::mem::size_of::<AtomicPtr<HeapArena>>();
        let l2 = MmapOptions::new().len(len).no_reserve_swap().map_anon()?;
        Ok(ArenaIndex {
            l2,
            records: parking_lot::Mutex::new(Vec::new()),
        })
    }

    /// Bytes of metadata: the records (the index itself is counted by its pages).
    pub(crate) fn sys(&self) -> usize {
        self.records.lock().len() * std::mem::size_of::<HeapArena>()
    }

    #[inline]
    fn slots(&self) -> &[AtomicPtr<HeapArena>] {
        // SAFETY: the mapping is page-aligned, holds exactly 1 << ARENA_L2_BITS
        // pointer-sized slots, is zero-filled (null pointers) and lives as long as
        // `self`; AtomicPtr has the layout of a pointer, and all access to the
        // slots after this is atomic.
        unsafe {
            std::slice::from_raw_parts(
                self.l2.as_ptr().cast::<AtomicPtr<HeapArena>>(),
                1 << ARENA_L2_BITS,
            )
        }
    }

    /// Creates the record for the arena at `base` (64 MiB aligned).
    pub(crate) fn add_arena(&self, base: usize) {
        debug_assert_eq!(base % HEAP_ARENA_BYTES, 0);
        let ai = arena_index(base).expect("arena outside the heap's address range");
        // Allocated zeroed in place: the record is 64 KiB, too big to build on a
        // goroutine's stack and move (this runs on whatever stack grows the heap).
        let layout = std::alloc::Layout::new::<HeapArena>();
        // SAFETY: the layout has a non-zero size.
        let raw = unsafe { std::alloc::alloc_zeroed(layout) }.cast::<HeapArena>();
        if raw.is_null() {
            std::alloc::handle_alloc_error(layout);
        }
        // SAFETY: `raw` is a fresh allocation with HeapArena's layout, and all-zero
        // bytes are a valid HeapArena (every entry a null AtomicPtr); Box takes
        // ownership with the same layout.
        let rec: Box<HeapArena> = unsafe { Box::from_raw(raw) };
        let rec = Box::into_raw(rec);
        self.records.lock().push(SendPtr(rec));
        self.slots()[ai].store(rec, Ordering::Release);
    }

    #[inline]
    fn arena(&self, addr: usize) -> Option<&HeapArena> {
        let ai = arena_index(addr)?;
        let rec = self.slots()[ai].load(Ordering::Acquire);
        // SAFETY: a non-null record was published by `add_arena` and is freed only
        // when the index is dropped, which `&self` rules out.
        unsafe { rec.as_ref() }
    }

    /// The span owning the page of `addr`, if any (Go's `spanOf`).
    #[inline]
    pub(crate) fn span_of(&self, addr: usize) -> Option<&MSpan> {
        let ha = self.arena(addr)?;
        let s = ha.spans[(addr >> PAGE_SHIFT) % PAGES_PER_ARENA].load(Ordering::Acquire);
        // SAFETY: entries point at span structs in the heap's span fixallocs,
        // which live as long as the heap (`&self` keeps it alive). A struct stays
        // a valid MSpan even after its span is freed and while it is reused: the
        // fixalloc never writes over a slot, and `MSpan::init` re-initialises it
        // with atomic stores, so a reader racing a free gets stale values, never
        // a data race (the caller's state check is then meaningful).
        unsafe { s.as_ref() }
    }

    /// Points every page of `[base, base + npages)` at `s` (null to clear) (Go's
    /// `setSpans`). All pages are in one region, but may cross arenas.
    pub(crate) fn set_spans(&self, base: usize, npages: usize, s: *mut MSpan) {
        for i in 0..npages {
            let addr = base + (i << PAGE_SHIFT);
            let ha = self.arena(addr).expect("set_spans outside the heap");
            ha.spans[(addr >> PAGE_SHIFT) % PAGES_PER_ARENA].store(s, Ordering::Release);
        }
    }
}

impl Drop for ArenaIndex {
    fn drop(&mut self) {
        for rec in self.records.get_mut().drain(..) {
            // SAFETY: records came from Box::into_raw in add_arena, once each.
            drop(unsafe { Box::from_raw(rec.0) });
        }
    }
}

/// One reservation of `narenas` 64 MiB-aligned arenas (Go's `sysReserve`).
pub(crate) struct Reservation {
    map: MmapMut,
    base: usize,
    len: usize,
}

impl Reservation {
    pub(crate) fn new(narenas: usize) -> std::io::Result<Reservation> {
        let len = narenas * HEAP_ARENA_BYTES;
        let map = MmapOptions::new()
            .len(len + HEAP_ARENA_BYTES)
            .no_reserve_swap()
            .map_anon()?;
        let start = map.as_ptr() as usize;
        let base = start.next_multiple_of(HEAP_ARENA_BYTES);
        Ok(Reservation { map, base, len })
    }
    pub(crate) fn base(&self) -> usize {
        self.base
    }
    pub(crate) fn len(&self) -> usize {
        self.len
    }
    /// Gives `[addr, addr + len)` back to the OS; the range reads as zeros after
    /// (Go's `sysUnused`: `MADV_DONTNEED` under the default `madvdontneed=1`).
    pub(crate) fn release(&self, addr: usize, len: usize) {
        debug_assert!(
            addr >= self.base && addr + len <= self.base + self.len && self.map.len() > self.len
        );
        // SAFETY: the range is inside our mapping and holds only free pages, which
        // no one references.
        unsafe { sys_unused(addr, len) };
    }
}

/// Gives `[addr, addr + len)` back to the OS (Go's `sysUnused`,
/// `MADV_DONTNEED`): on a private anonymous mapping the kernel drops the pages,
/// and the range reads as zeros on next touch.
///
/// # Safety
/// The range lies inside one of the heap's reservations and nothing reads or
/// writes it meanwhile or expects its contents afterwards.
pub(crate) unsafe fn sys_unused(addr: usize, len: usize) {
    // SAFETY: by the contract, the pages are ours and their contents unwanted.
    let r = unsafe { libc::madvise(addr as *mut libc::c_void, len, libc::MADV_DONTNEED) };
    debug_assert_eq!(r, 0, "madvise: {}", std::io::Error::last_os_error());
}
