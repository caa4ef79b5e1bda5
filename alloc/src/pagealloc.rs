//! The page allocator: which 8 KiB pages of the heap are free, found first-fit by
//! address, with coalescing for free.
//!
//! Models the role of `runtime/mpagealloc.go` (`pageAlloc.alloc`, `free`, `grow`,
//! `searchAddr`) and of the per-chunk bitmaps in `mpallocbits.go` and the
//! scavenged bitmap of `mgcscavenge.go`.
//!
//! # Design
//!
//! The heap is a list of *regions*, one per reservation (usually one 64 MiB arena;
//! a larger object gets a region of as many arenas as it needs), kept in address
//! order. Each region has two bitmaps with one bit per page:
//!
//! - `alloc`: the page belongs to a span. Freeing a span clears its bits, so free
//!   neighbours coalesce by construction — there are no free-span objects to merge.
//! - `scav`: the free page has been returned to the OS (`madvise`) by the
//!   scavenger, or was never touched since the heap grew over it (Go counts fresh
//!   memory as scavenged too). Allocating a page clears its bit.
//!
//! Only the first `grown` pages of a region are usable: like Go's `mheap.grow`, the
//! heap grows the current arena in 4 MiB (512-page) steps and counts only what it
//! has grown into as heap memory (`HeapSys`).
//!
//! `alloc(n)` is address-ordered first fit: regions from the lowest address, and in
//! each the lowest run of `n` clear bits, found a word at a time (trailing-zero
//! counts skip whole runs of used or free pages). Each region keeps a `search`
//! index below which every page is in use (Go's `searchAddr`) and a count of free
//! pages, so full regions and full prefixes are skipped.
//!
//! # Against Go's radix tree, and why
//!
//! Go's `pageAlloc` keeps the same bitmap (in 4 MiB chunks) but adds a five-level
//! radix tree of summaries — for every 2^k-chunk block, the free run at its start,
//! the longest run inside and the run at its end — so a search descends the tree
//! in O(log) work whatever the heap size. gort keeps only the leaf level plus one
//! summary per region (its free count and search index). Both serve small spans
//! from a per-P page cache (`PageCache`, one aligned 64-page block's free pages,
//! Go's `pageCache`), so the search runs once per 64 pages, under the lock. That is the same first-fit policy
//! and the same address-ordered compaction, in a fraction of the code; a search
//! costs a scan of one region's bitmap (128 words for 64 MiB) when the hint does
//! not hit at once. Heaps of a few GiB (tens of regions) do not notice; Go's tree
//! pays off for heaps of hundreds of GiB with fragmented free space.
//!
//! This module is pure bookkeeping: it never touches the memory it manages, so
//! its tests run under Miri.

use crate::sizeclass::{PAGE_SHIFT, PAGE_SIZE};

/// Pages the heap grows by at least (Go's `mheap.grow`: 4 MiB, one `pallocChunkPages`).
///
/// ```
/// assert_eq!(gort_alloc::pagealloc::PALLOC_CHUNK_PAGES * 8192, 4 << 20);
/// ```
pub const PALLOC_CHUNK_PAGES: usize = 512;

/// Pages in a per-P page cache: one aligned 64-page block (Go's `pageCachePages`).
///
/// ```
/// assert_eq!(gort_alloc::pagealloc::PAGE_CACHE_PAGES, 64);
/// ```
pub const PAGE_CACHE_PAGES: usize = 64;

/// A per-P (per-mcache) cache of the free pages of one aligned 64-page block,
/// taken from the heap under its lock in one go and then handed out without it
/// (Go's `pageCache`). Its pages are marked allocated in the region's bitmap
/// while cached.
#[derive(Default, Debug)]
pub(crate) struct PageCache {
    base: usize,
    /// Bit i: page `base + i` is free in this cache.
    cache: u64,
    /// Pages of the block from this index on are known zero (never used since
    /// the region was reserved); pages below it may hold old data.
    zeroed_from: usize,
}

impl PageCache {
    pub(crate) fn empty(&self) -> bool {
        self.cache == 0
    }

    /// `npages` (< 64) contiguous pages from the cache: base address and needzero
    /// (Go's `pageCache.alloc`/`allocN`).
    pub(crate) fn alloc(&mut self, npages: usize) -> Option<(usize, bool)> {
        debug_assert!(npages > 0 && npages < PAGE_CACHE_PAGES);
        // Bit i of `m` survives iff bits i .. i + npages are all free.
        let mut m = self.cache;
        for k in 1..npages {
            m &= self.cache >> k;
        }
        if m == 0 {
            return None;
        }
        let i = m.trailing_zeros() as usize;
        self.cache &= !(((1u64 << npages) - 1) << i);
        Some((self.base + (i << PAGE_SHIFT), i < self.zeroed_from))
    }

    /// Empties the cache, returning the block's base and its free pages.
    pub(crate) fn take(&mut self) -> Option<(usize, u64)> {
        let bits = std::mem::take(&mut self.cache);
        (bits != 0).then_some((self.base, bits))
    }
}

/// One reservation's pages.
pub(crate) struct Region {
    base: usize,
    npages: usize,
    grown: usize,
    alloc: Vec<u64>,
    scav: Vec<u64>,
    free: usize,
    search: usize,
    /// Bitmap words from here up hold no free, unscavenged page (the part of Go's
    /// scavenge index gort needs): `free` raises it, `scavenge` lowers it, so a
    /// scavenge starts at the highest candidate instead of rescanning released
    /// pages, and a region with nothing to release costs one comparison.
    scav_top: usize,
    /// Pages from here on have never been allocated since reserved: known zero
    /// (Go's `heapArena.zeroedBase`).
    zeroed_base: usize,
}

/// What an allocation got: its address, whether its memory may be dirty, and how
/// many of its pages had been scavenged (they come back from the OS zeroed, on
/// first touch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PageRun {
    pub(crate) base: usize,
    pub(crate) needzero: bool,
    pub(crate) scavenged: usize,
}

fn set_range(bits: &mut [u64], start: usize, n: usize, value: bool) {
    let mut i = start;
    let end = start + n;
    while i < end {
        let off = i % 64;
        let len = (64 - off).min(end - i);
        let mask = if len == 64 {
            !0
        } else {
            ((1u64 << len) - 1) << off
        };
        if value {
            bits[i / 64] |= mask;
        } else {
            bits[i / 64] &= !mask;
        }
        i += len;
    }
}

fn count_range(bits: &[u64], start: usize, n: usize) -> usize {
    let mut i = start;
    let end = start + n;
    let mut count = 0;
    while i < end {
        let off = i % 64;
        let len = (64 - off).min(end - i);
        let mask = if len == 64 {
            !0
        } else {
            ((1u64 << len) - 1) << off
        };
        count += (bits[i / 64] & mask).count_ones() as usize;
        i += len;
    }
    count
}

impl Region {
    /// A region of `npages` pages at `base`, none grown into yet.
    pub(crate) fn new(base: usize, npages: usize) -> Region {
        let words = npages.div_ceil(64);
        Region {
            base,
            npages,
            grown: 0,
            alloc: vec![0; words],
            scav: vec![0; words],
            free: 0,
            search: 0,
            scav_top: 0,
            zeroed_base: 0,
        }
    }

    pub(crate) fn base(&self) -> usize {
        self.base
    }

    pub(crate) fn contains(&self, addr: usize) -> bool {
        addr >= self.base && addr < self.base + (self.npages << PAGE_SHIFT)
    }

    /// Makes up to `n` more pages usable; returns how many were added. New pages
    /// are free and count as scavenged (never touched).
    pub(crate) fn grow(&mut self, n: usize) -> usize {
        let n = n.min(self.npages - self.grown);
        set_range(&mut self.scav, self.grown, n, true);
        self.grown += n;
        self.free += n;
        n
    }

    /// The lowest page index of a run of `n` free pages, without taking it.
    fn find(&self, n: usize) -> Option<usize> {
        if self.free < n {
            return None;
        }
        let mut i = self.search;
        while i + n <= self.grown {
            let bits = self.alloc[i / 64] >> (i % 64);
            if bits & 1 != 0 {
                // Skip the used run (the shift brought zeros in at the top, so the
                // count stops at the word's end at the latest).
                i += (!bits).trailing_zeros() as usize;
                continue;
            }
            let start = i;
            while i < start + n {
                let bits = self.alloc[i / 64] >> (i % 64);
                let room = 64 - i % 64;
                if bits == 0 {
                    i += room;
                } else {
                    i += bits.trailing_zeros() as usize;
                    break;
                }
            }
            if i - start >= n {
                return (start + n <= self.grown).then_some(start);
            }
        }
        None
    }

    /// Takes `n` free pages, first fit.
    pub(crate) fn alloc(&mut self, n: usize) -> Option<PageRun> {
        let start = self.find(n)?;
        set_range(&mut self.alloc, start, n, true);
        let scavenged = count_range(&self.scav, start, n);
        set_range(&mut self.scav, start, n, false);
        self.free -= n;
        if start == self.search {
            self.search = start + n;
        }
        let needzero = start < self.zeroed_base;
        self.zeroed_base = self.zeroed_base.max(start + n);
        Some(PageRun {
            base: self.base + (start << PAGE_SHIFT),
            needzero,
            scavenged,
        })
    }

    /// Returns `n` pages at `addr` (which this region handed out).
    pub(crate) fn free(&mut self, addr: usize, n: usize) {
        let start = (addr - self.base) >> PAGE_SHIFT;
        debug_assert_eq!(count_range(&self.alloc, start, n), n, "freeing free pages");
        set_range(&mut self.alloc, start, n, false);
        self.free += n;
        self.search = self.search.min(start);
        self.scav_top = self.scav_top.max((start + n).div_ceil(64));
    }

    /// Frees `n` pages at `addr` whose memory the caller already gave back to the
    /// OS: they are free and scavenged at once, so the scavenger never visits them.
    pub(crate) fn free_released(&mut self, addr: usize, n: usize) {
        let start = (addr - self.base) >> PAGE_SHIFT;
        debug_assert_eq!(count_range(&self.alloc, start, n), n, "freeing free pages");
        set_range(&mut self.alloc, start, n, false);
        set_range(&mut self.scav, start, n, true);
        self.free += n;
        self.search = self.search.min(start);
    }

    /// The free pages of the aligned 64-page block holding the lowest free page,
    /// all marked allocated, as a page cache; and how many of them were scavenged
    /// (they are counted as unscavenged from now on) (Go's `allocToCache`).
    pub(crate) fn alloc_to_cache(&mut self) -> Option<(PageCache, usize)> {
        let first = self.find(1)?;
        let block = first & !(PAGE_CACHE_PAGES - 1);
        let w = block / 64;
        debug_assert!(
            block + 64 <= self.grown,
            "regions grow in 64-page multiples"
        );
        let bits = !self.alloc[w];
        self.alloc[w] = !0;
        let scavenged = (self.scav[w] & bits).count_ones() as usize;
        self.scav[w] &= !bits;
        self.free -= bits.count_ones() as usize;
        self.search = self.search.max(block + PAGE_CACHE_PAGES);
        let zeroed_from = self.zeroed_base.saturating_sub(block).min(PAGE_CACHE_PAGES);
        self.zeroed_base = self.zeroed_base.max(block + PAGE_CACHE_PAGES);
        let pc = PageCache {
            base: self.base + (block << PAGE_SHIFT),
            cache: bits,
            zeroed_from,
        };
        Some((pc, scavenged))
    }

    /// Gives back the pages of a page cache (Go's `pageCache.flush`).
    pub(crate) fn free_cache(&mut self, base: usize, bits: u64) {
        let block = (base - self.base) >> PAGE_SHIFT;
        debug_assert_eq!(self.alloc[block / 64] & bits, bits, "flushing free pages");
        self.alloc[block / 64] &= !bits;
        self.free += bits.count_ones() as usize;
        self.search = self.search.min(block + bits.trailing_zeros() as usize);
        self.scav_top = self.scav_top.max(block / 64 + 1);
    }

    /// Marks free, unscavenged pages as scavenged, from the top of the region down,
    /// at most `max` pages, calling `release(addr, bytes)` for each run. Returns
    /// the number of pages scavenged. (Go scavenges from high addresses too, so the
    /// low end the allocator prefers stays backed.)
    pub(crate) fn scavenge(&mut self, max: usize, release: &mut dyn FnMut(usize, usize)) -> usize {
        let mut done = 0;
        let mut w = self.scav_top.min(self.grown.div_ceil(64));
        while w > 0 && done < max {
            w -= 1;
            let valid = if (w + 1) * 64 <= self.grown {
                !0
            } else {
                (1u64 << (self.grown % 64)) - 1
            };
            let mut cand = !self.alloc[w] & !self.scav[w] & valid;
            while cand != 0 && done < max {
                // Highest run of candidate bits in this word.
                let hi = 63 - cand.leading_zeros() as usize;
                let mut lo = hi;
                while lo > 0 && cand & (1 << (lo - 1)) != 0 && done + (hi - lo + 1) < max {
                    lo -= 1;
                }
                let n = hi - lo + 1;
                let page = w * 64 + lo;
                set_range(&mut self.scav, page, n, true);
                release(self.base + (page << PAGE_SHIFT), n * PAGE_SIZE);
                done += n;
                cand &= !(((1u128 << (hi + 1)) - 1) as u64 & !((1u64 << lo) - 1));
            }
            if cand != 0 {
                // Stopped at `max` with candidates left in word w.
                w += 1;
                break;
            }
        }
        self.scav_top = w;
        done
    }

    /// Free pages not yet returned to the OS.
    #[cfg(test)]
    pub(crate) fn free_unscavenged(&self) -> usize {
        self.free - self.scavenged()
    }

    #[cfg(test)]
    pub(crate) fn scavenged(&self) -> usize {
        count_range(&self.scav, 0, self.grown)
    }

    pub(crate) fn room(&self) -> usize {
        self.npages - self.grown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: usize = 0x40_0000_0000;

    fn region(pages: usize) -> Region {
        let mut r = Region::new(BASE, pages);
        r.grow(pages);
        r
    }

    #[test]
    fn first_fit_by_address_and_coalescing_on_free() {
        let mut r = region(256);
        let a = r.alloc(3).unwrap();
        let b = r.alloc(5).unwrap();
        let c = r.alloc(1).unwrap();
        assert_eq!(a.base, BASE);
        assert_eq!(b.base, BASE + 3 * PAGE_SIZE);
        assert_eq!(c.base, BASE + 8 * PAGE_SIZE);
        r.free(a.base, 3);
        // A 4-page request does not fit in the 3-page hole.
        assert_eq!(r.alloc(4).unwrap().base, BASE + 9 * PAGE_SIZE);
        r.free(b.base, 5);
        // Freed neighbours coalesce: 8 pages now fit at the start.
        let d = r.alloc(8).unwrap();
        assert_eq!(d.base, BASE);
        assert!(d.needzero, "reused pages may hold old data");
        assert_eq!(r.alloc(1).unwrap().base, BASE + 13 * PAGE_SIZE);
    }

    #[test]
    fn runs_cross_bitmap_words_and_the_region_end_is_respected() {
        let mut r = region(200);
        assert_eq!(r.alloc(60).unwrap().base, BASE);
        assert_eq!(r.alloc(70).unwrap().base, BASE + 60 * PAGE_SIZE);
        assert_eq!(r.alloc(70).unwrap().base, BASE + 130 * PAGE_SIZE);
        assert_eq!(r.alloc(1), None);
        r.free(BASE + 60 * PAGE_SIZE, 70);
        assert_eq!(r.alloc(71), None);
        assert_eq!(r.alloc(70).unwrap().base, BASE + 60 * PAGE_SIZE);
    }

    #[test]
    fn ungrown_pages_are_not_handed_out() {
        let mut r = Region::new(BASE, 1024);
        assert_eq!(r.alloc(1), None);
        assert_eq!(r.grow(PALLOC_CHUNK_PAGES), 512);
        assert!(r.alloc(513).is_none());
        let run = r.alloc(512).unwrap();
        assert_eq!(
            (run.needzero, run.scavenged),
            (false, 512),
            "fresh memory: zero, scavenged"
        );
        assert_eq!(r.grow(10_000), 512);
        assert_eq!(r.room(), 0);
    }

    #[test]
    fn scavenging_takes_free_pages_from_the_top_and_allocation_untakes_them() {
        let mut r = region(128);
        let a = r.alloc(128).unwrap(); // all touched now
        assert_eq!(a.scavenged, 128);
        r.free(a.base, 128);
        let _keep = r.alloc(2).unwrap();
        assert_eq!(r.free_unscavenged(), 126);
        let mut released = Vec::new();
        assert_eq!(
            r.scavenge(10, &mut |addr, len| released.push((addr, len))),
            10
        );
        assert_eq!(released, vec![(BASE + 118 * PAGE_SIZE, 10 * PAGE_SIZE)]);
        assert_eq!(r.scavenge(usize::MAX, &mut |_, _| {}), 116);
        assert_eq!(r.free_unscavenged(), 0);
        assert_eq!(r.scavenged(), 126);
        let b = r.alloc(3).unwrap();
        assert_eq!((b.base, b.scavenged), (BASE + 2 * PAGE_SIZE, 3));
        assert_eq!(r.scavenged(), 123);
    }

    #[test]
    fn a_page_cache_takes_a_block_and_hands_out_runs_without_the_region() {
        let mut r = region(256);
        let a = r.alloc(3).unwrap(); // pages 0..3
        let (mut pc, scav) = r.alloc_to_cache().unwrap();
        assert_eq!(scav, 61, "fresh pages were scavenged");
        // The block is all allocated in the bitmap now: the next page goes past it.
        assert_eq!(r.alloc(1).unwrap().base, BASE + 64 * PAGE_SIZE);
        assert_eq!(pc.alloc(2), Some((BASE + 3 * PAGE_SIZE, false)));
        assert_eq!(pc.alloc(60), None, "only 59 left");
        assert_eq!(pc.alloc(59), Some((BASE + 5 * PAGE_SIZE, false)));
        assert!(pc.empty());
        // Free a run in the middle; a new cache takes the hole again.
        r.free(BASE + 10 * PAGE_SIZE, 4);
        r.free(a.base, 3);
        let (mut pc, scav) = r.alloc_to_cache().unwrap();
        assert_eq!(scav, 0);
        assert_eq!(
            pc.alloc(4),
            Some((BASE + 10 * PAGE_SIZE, true)),
            "reused pages need zeroing"
        );
        assert_eq!(pc.take(), Some((BASE, 0b111)));
        assert!(pc.empty());
        r.free_cache(BASE, 0b111);
        assert_eq!(r.alloc(3).unwrap().base, BASE);
    }

    #[test]
    fn random_alloc_free_never_hands_out_a_page_twice() {
        let mut r = region(640);
        let mut owner = vec![usize::MAX; 640];
        let mut live: Vec<(usize, usize)> = Vec::new();
        let mut x = 0x9e3779b97f4a7c15u64;
        let steps = if cfg!(miri) { 300 } else { 20_000 };
        for step in 0..steps {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if !x.is_multiple_of(3) || live.is_empty() {
                let n = 1 + (x >> 8) as usize % 20;
                if let Some(run) = r.alloc(n) {
                    let p = (run.base - BASE) / PAGE_SIZE;
                    for o in &mut owner[p..p + n] {
                        assert_eq!(*o, usize::MAX, "page handed out twice");
                        *o = step;
                    }
                    live.push((p, n));
                }
            } else {
                let (p, n) = live.swap_remove((x >> 8) as usize % live.len());
                owner[p..p + n].fill(usize::MAX);
                r.free(BASE + p * PAGE_SIZE, n);
            }
            if !cfg!(miri) || step % 50 == 0 {
                assert_eq!(r.free, owner.iter().filter(|o| **o == usize::MAX).count());
            }
            // Scavenging in small steps and then completely never misses a free
            // page (the scav_top hint only skips words without candidates).
            if step % 7 == 0 {
                r.scavenge(1 + (x >> 20) as usize % 9, &mut |_, _| {});
            }
            if step % 100 == 99 {
                r.scavenge(usize::MAX, &mut |_, _| {});
                assert_eq!(r.free_unscavenged(), 0, "step {step}");
            }
        }
    }
}
