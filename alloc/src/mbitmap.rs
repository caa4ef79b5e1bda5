//! Pointer bits: which words of a heap object hold pointers, Go 1.22's way.
//!
//! Models `runtime/mbitmap.go` (`heapBitsInSpan`, `heapBitsSmallForAddr`,
//! `writeHeapBitsSmall`, `typePointersOfUnchecked`'s header lookup) and the scan
//! paths of `runtime/malloc.go` (`mallocgcSmallScanNoHeader`,
//! `mallocgcSmallScanHeader`, `heapSetTypeNoHeader`, `heapSetTypeSmallHeader`).
//!
//! # Design
//!
//! The collector must know, for every object it scans, which of its words are
//! pointers. Since Go 1.22 that answer has two homes, chosen by the slot size:
//!
//! - **Heap bits** (slots of at most [`MIN_SIZE_FOR_MALLOC_HEADER`] = 512 bytes,
//!   64 words): one bit per word of the span, kept in the span's own last bytes
//!   — 128 bytes at the end of a one-page span, 1/64 of any span. The allocator
//!   writes the object's bits (one `u64` mask: bit `i` = word `i`) into them
//!   as it hands the slot out, every time, since the slot's previous object may
//!   have had another type. Such spans hold fewer slots: `MSpan::init` leaves the
//!   bitmap out (Go's `initSpan`). A node of two pointers costs its 16 bytes and
//!   no more.
//! - **A malloc header** (larger objects): the slot's first word points at the
//!   type's description, and the object proper starts after it (8 bytes later,
//!   or the object's alignment). The heap stores the word without knowing what
//!   it points at: the collector (`gort-gc`) gives it meaning. Large objects
//!   (over 32 KiB) carry the header too, at the start of their span.
//!
//! Pointer-free objects go to noscan spans and have neither: the collector
//! never looks inside them.
//!
//! One difference from Go: a small object may carry a header too. Go's compiler
//! can describe every type with a bitmap; gort's `#[derive(Trace)]` cannot
//! describe a Rust enum's layout on stable Rust (`offset_of!` stops at enum
//! variants), so such a type is scanned by a trace function that only the header
//! can name. The span's header bitmap (`span.rs: SpanBits::header`) flags those
//! slots; the sweep clears the flags of freed slots.
//!
//! # Memory ordering
//!
//! The heap bits and headers of a span are written by its owner only (the
//! mcache allocating from it; see `span.rs`), and read by the collector, which
//! may race with the owner once marking runs concurrently with allocation. So
//! they are atomics (`loom.rs: span_word`), written and read `Relaxed`: a marker
//! that can see an object at all was handed its address through something that
//! orders the allocation before it (the world stopped and restarted, a channel,
//! a lock). Several objects share one bitmap word; only the owner writes it, so a
//! load and a store suffice.

use crate::loom::span_word;
use crate::mcache::MCache;
use crate::sizeclass::{size_to_class, CLASS_TO_SIZE, MAX_SMALL_SIZE, NUM_SIZE_CLASSES, PAGE_SIZE};
use crate::span::{MSpan, SpanClass};

/// Slots up to this size keep their pointer bits in the span; bigger ones carry
/// a malloc header (Go's `minSizeForMallocHeader`: 64 words, one `u64` of bits).
///
/// ```
/// assert_eq!(gort_alloc::mbitmap::MIN_SIZE_FOR_MALLOC_HEADER, 512);
/// ```
pub const MIN_SIZE_FOR_MALLOC_HEADER: usize = 8 * 64;

/// Bytes of a malloc header: one word (Go's `mallocHeaderSize`).
///
/// ```
/// assert_eq!(gort_alloc::mbitmap::MALLOC_HEADER_SIZE, 8);
/// ```
pub const MALLOC_HEADER_SIZE: usize = 8;

/// `MSpan::heap_bits_state`: no object has written heap bits since the span
/// was set up.
pub(crate) const HEAP_BITS_FRESH: u8 = 0;
/// Every slot's heap bits hold `MSpan::uniform_mask`.
pub(crate) const HEAP_BITS_UNIFORM: u8 = 1;
/// Objects with different masks were allocated: each writes its own bits.
pub(crate) const HEAP_BITS_MIXED: u8 = 2;

/// Whether slots of `elemsize` bytes in a scan span keep their pointer bits in
/// the span (Go's `heapBitsInSpan`).
///
/// ```
/// use gort_alloc::mbitmap::heap_bits_in_span;
/// assert!(heap_bits_in_span(16) && heap_bits_in_span(512));
/// assert!(!heap_bits_in_span(576));
/// ```
#[inline]
pub const fn heap_bits_in_span(elemsize: usize) -> bool {
    elemsize <= MIN_SIZE_FOR_MALLOC_HEADER
}

/// Bytes of heap bits at the end of a span of `span_bytes`: one bit per word.
///
/// ```
/// assert_eq!(gort_alloc::mbitmap::heap_bits_bytes(8192), 128);
/// ```
#[inline]
pub const fn heap_bits_bytes(span_bytes: usize) -> usize {
    span_bytes / 8 / 8
}

/// Where the object of a malloc-header slot starts: past the header, at the
/// object's alignment if that is more than a word.
///
/// ```
/// use gort_alloc::mbitmap::header_object_offset;
/// assert_eq!(header_object_offset(8), 8);
/// assert_eq!(header_object_offset(64), 64);
/// ```
#[inline]
pub const fn header_object_offset(align: usize) -> usize {
    if align > MALLOC_HEADER_SIZE {
        align
    } else {
        MALLOC_HEADER_SIZE
    }
}

/// The smallest size class of at least `size` bytes whose slots are all
/// `align`-aligned (slot `i` is at `base + i × elemsize`, `base` page-aligned, so
/// `elemsize` must be a multiple of `align`).
///
/// # Panics
/// If `align` is more than a page or no small class fits.
///
/// ```
/// use gort_alloc::mbitmap::size_class_aligned;
/// use gort_alloc::sizeclass::CLASS_TO_SIZE;
/// assert_eq!(CLASS_TO_SIZE[size_class_aligned(24, 8) as usize], 24);
/// assert_eq!(CLASS_TO_SIZE[size_class_aligned(24, 32) as usize], 32);
/// assert_eq!(CLASS_TO_SIZE[size_class_aligned(100, 64) as usize], 128);
/// ```
#[inline]
pub fn size_class_aligned(size: usize, align: usize) -> u8 {
    if align <= 8 {
        // Every class is a multiple of 8.
        return size_to_class(size);
    }
    size_class_over_aligned(size, align)
}

#[inline(never)]
fn size_class_over_aligned(size: usize, align: usize) -> u8 {
    assert!(
        align.is_power_of_two() && align <= PAGE_SIZE,
        "gort-alloc: alignment {align} is not a power of two of at most a page"
    );
    let mut c = size_to_class(size) as usize;
    // Every class is a multiple of 8; larger alignments skip to a class that is
    // a multiple of theirs (16-byte alignment: at most one class further).
    while !(CLASS_TO_SIZE[c] as usize).is_multiple_of(align) {
        c += 1;
        assert!(
            c < NUM_SIZE_CLASSES,
            "gort-alloc: no size class holds {size} bytes aligned to {align}"
        );
    }
    c as u8
}

impl MSpan {
    /// Whether this span keeps its objects' pointer bits in its last bytes: a
    /// small-object scan span of slots up to 512 bytes.
    ///
    /// ```
    /// let heap = gort_alloc::Heap::new();
    /// let mut c = heap.new_mcache();
    /// let scan = c.alloc(16, false) as usize;
    /// let noscan = c.alloc(16, true) as usize;
    /// assert!(heap.span_of(scan).unwrap().heap_bits_in_span());
    /// assert!(!heap.span_of(noscan).unwrap().heap_bits_in_span());
    /// ```
    #[inline]
    pub fn heap_bits_in_span(&self) -> bool {
        let spc = self.spanclass();
        !spc.noscan() && spc.sizeclass() != 0 && heap_bits_in_span(self.elemsize())
    }

    /// The bitmap word holding bit `bit` (one bit per word of the span).
    #[inline]
    fn heap_bits_word(&self, bit: usize) -> &std::sync::atomic::AtomicU64 {
        let bytes = self.npages() * PAGE_SIZE;
        let start = self.base() + bytes - heap_bits_bytes(bytes);
        debug_assert!(bit < bytes / 8);
        // SAFETY: `start + (bit / 64) * 8` is an aligned word of this span's
        // bitmap, inside its pages (the tail `init` kept out of the slots), and
        // span memory stays mapped while the heap lives.
        unsafe { span_word(start + (bit / 64) * 8) }
    }

    /// Writes the pointer bits of the object in the slot at `obj`: bit `i` of
    /// `mask` says whether its word `i` is a pointer; bits past the slot's words
    /// are ignored (Go's `writeHeapBitsSmall`).
    ///
    /// Most spans hold objects of one type (a binary tree's nodes). So the
    /// first object of a fresh span writes the whole span's bitmap with its
    /// mask tiled over every slot, and the span remembers the mask: later
    /// objects with the same mask write nothing. The first object with another
    /// mask turns the shortcut off for the span's life and writes its own bits,
    /// as Go does for every object. (Measured: the per-object read-modify-write
    /// of a bitmap word made a 16-byte allocation three times as slow.)
    ///
    /// # Safety
    /// The caller owns the span (it just allocated the slot: `span.rs`), and the
    /// span keeps heap bits ([`MSpan::heap_bits_in_span`]).
    #[inline(always)]
    pub(crate) unsafe fn write_heap_bits(&self, obj: usize, mask: u64) {
        debug_assert!(self.heap_bits_in_span());
        use std::sync::atomic::Ordering::Relaxed;
        if self.heap_bits_state.load(Relaxed) == HEAP_BITS_UNIFORM
            && self.uniform_mask.load(Relaxed) == mask
        {
            return;
        }
        // SAFETY: the caller's promise, passed on.
        unsafe { self.write_heap_bits_slow(obj, mask) }
    }

    /// `write_heap_bits` for a fresh span (the tiled fill) or a mixed one.
    ///
    /// # Safety
    /// As for `write_heap_bits`.
    #[inline(never)]
    unsafe fn write_heap_bits_slow(&self, obj: usize, mask: u64) {
        use std::sync::atomic::Ordering::Relaxed;
        let nwords = self.elemsize() / 8;
        let ones = if nwords == 64 {
            !0
        } else {
            (1u64 << nwords) - 1
        };
        let mask = mask & ones;
        match self.heap_bits_state.load(Relaxed) {
            HEAP_BITS_UNIFORM if self.uniform_mask.load(Relaxed) == mask => return,
            HEAP_BITS_FRESH if self.npages() == 1 => {
                self.fill_heap_bits(nwords, mask);
                self.uniform_mask.store(mask, Relaxed);
                self.heap_bits_state.store(HEAP_BITS_UNIFORM, Relaxed);
                return;
            }
            HEAP_BITS_FRESH | HEAP_BITS_UNIFORM => {
                self.heap_bits_state.store(HEAP_BITS_MIXED, Relaxed)
            }
            _ => {}
        }
        let first = (obj - self.base()) / 8;
        let off = first % 64;
        let w0 = self.heap_bits_word(first);
        w0.store((w0.load(Relaxed) & !(ones << off)) | (mask << off), Relaxed);
        if off + nwords > 64 {
            // The object's bits run into the next word.
            let w1 = self.heap_bits_word(first + 64);
            let spill = 64 - off;
            w1.store(
                (w1.load(Relaxed) & !(ones >> spill)) | (mask >> spill),
                Relaxed,
            );
        }
    }

    /// Writes `mask` as the bits of every slot of the span (`nwords` words
    /// each); the bits past the last slot stay clear. One pass over the slots
    /// into a local copy of the bitmap, then one store per bitmap word.
    fn fill_heap_bits(&self, nwords: usize, mask: u64) {
        const WORDS: usize = heap_bits_bytes(PAGE_SIZE) / 8;
        // Every class that keeps heap bits has one-page spans.
        debug_assert_eq!(self.npages(), 1);
        let mut bits = [0u64; WORDS];
        let total = self.nelems() * nwords; // bits covered by slots
        if 64 % nwords == 0 {
            // Objects tile each bitmap word the same way: build one word by
            // doubling, copy it, and cut the last one at the last slot.
            let mut word = mask;
            let mut width = nwords;
            while width < 64 {
                word |= word << width;
                width *= 2;
            }
            for (w, b) in bits.iter_mut().enumerate() {
                let left = total.saturating_sub(w * 64);
                *b = if left >= 64 {
                    word
                } else {
                    word & ((1u64 << left) - 1)
                };
            }
        } else {
            for i in 0..self.nelems() {
                let first = i * nwords;
                let (w, off) = (first / 64, first % 64);
                bits[w] |= mask << off;
                if off + nwords > 64 {
                    bits[w + 1] |= mask >> (64 - off);
                }
            }
        }
        for (w, b) in bits.iter().enumerate() {
            self.heap_bits_word(w * 64)
                .store(*b, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// The pointer bits of the object in the slot at `obj` (bit `i` = its word
    /// `i`), as the allocator wrote them (Go's `heapBitsSmallForAddr`). Only
    /// meaningful for an allocated slot of a span that keeps heap bits and whose
    /// header bit is clear.
    ///
    /// ```
    /// let heap = gort_alloc::Heap::new();
    /// let mut c = heap.new_mcache();
    /// let p = c.alloc_heap_bits(24, 8, 0b101) as usize; // words 0 and 2 are pointers
    /// assert_eq!(heap.span_of(p).unwrap().heap_bits(p), 0b101);
    /// ```
    pub fn heap_bits(&self, obj: usize) -> u64 {
        let nwords = self.elemsize() / 8;
        let first = (obj - self.base()) / 8;
        let off = first % 64;
        let mut bits = self
            .heap_bits_word(first)
            .load(std::sync::atomic::Ordering::Relaxed)
            >> off;
        if off + nwords > 64 {
            bits |= self
                .heap_bits_word(first + 64)
                .load(std::sync::atomic::Ordering::Relaxed)
                << (64 - off);
        }
        if nwords == 64 {
            bits
        } else {
            bits & ((1 << nwords) - 1)
        }
    }

    /// Whether the object in slot `index` starts with a malloc header: every
    /// object of a scan span with slots over 512 bytes (or a large object's
    /// span), and the flagged ones of a span that keeps heap bits.
    ///
    /// ```
    /// let heap = gort_alloc::Heap::new();
    /// let mut c = heap.new_mcache();
    /// let a = c.alloc_heap_bits(16, 8, 0b11) as usize;
    /// // SAFETY (of this example): no collector reads this heap's headers.
    /// let b = unsafe { c.alloc_header(8, 8, 0x1234) } as usize; // a 16-byte slot: header + 8
    /// let (span, _, i) = heap.find_object(a).unwrap();
    /// assert!(!span.has_header(i));
    /// let (span, slot, j) = heap.find_object(b).unwrap();
    /// assert!(span.has_header(j) && slot + 8 == b);
    /// ```
    #[inline]
    pub fn has_header(&self, index: usize) -> bool {
        let spc = self.spanclass();
        if spc.noscan() {
            false
        } else if self.heap_bits_in_span() {
            self.header_bit(index)
        } else {
            true
        }
    }

    /// The malloc header word of the slot at `slot` (its first word), as
    /// [`MCache::alloc_header`] stored it. Only meaningful when
    /// [`MSpan::has_header`] says the slot has one.
    ///
    /// ```
    /// let heap = gort_alloc::Heap::new();
    /// // SAFETY (of this example): no collector reads this heap's headers.
    /// let p = unsafe { heap.new_mcache().alloc_header(1000, 8, 0xabc0) } as usize;
    /// let (span, slot, _) = heap.find_object(p).unwrap();
    /// assert_eq!(span.header(slot), 0xabc0);
    /// ```
    #[inline]
    pub fn header(&self, slot: usize) -> usize {
        debug_assert!(slot >= self.base() && slot < self.limit());
        // SAFETY: `slot` is a slot of this span (8-aligned: slots are multiples
        // of 8 bytes from a page boundary), mapped while the heap lives.
        unsafe { span_word(slot) }.load(std::sync::atomic::Ordering::Acquire) as usize
    }
}

impl MCache {
    /// Allocates `size` zeroed bytes aligned to `align` (a power of two up to a
    /// page); `noscan` as for [`MCache::alloc`]. The slot holds nothing the
    /// collector can read: a scan object needs [`MCache::alloc_heap_bits`] or
    /// [`MCache::alloc_header`]. Zero-size requests return an aligned dangling
    /// address (shared, never freed).
    ///
    /// ```
    /// let heap = gort_alloc::Heap::new();
    /// let mut c = heap.new_mcache();
    /// let p = c.alloc_aligned(100, 64, true) as usize;
    /// assert_eq!(p % 64, 0);
    /// assert_eq!(heap.find_object(p).unwrap().0.elemsize(), 128);
    /// ```
    #[inline]
    pub fn alloc_aligned(&mut self, size: usize, align: usize, noscan: bool) -> *mut u8 {
        if align <= 8 || (size == 0 && align <= PAGE_SIZE) {
            let p = self.alloc(size, noscan);
            return if size == 0 && align > 8 {
                align as *mut u8
            } else {
                p
            };
        }
        if size > MAX_SMALL_SIZE {
            assert!(
                align <= PAGE_SIZE,
                "gort-alloc: alignment {align} is more than a page"
            );
            return self.alloc(size, noscan); // a large object starts a span: page-aligned
        }
        let spc = SpanClass::new(size_class_aligned(size, align), noscan);
        self.alloc_small(spc) as *mut u8
    }

    /// Allocates a scan object of `size` bytes (at most 512), aligned to `align`,
    /// whose pointer words are the set bits of `mask` (bit `i` = word `i`), and
    /// records them in the span's heap bits (Go's `mallocgcSmallScanNoHeader`).
    ///
    /// # Panics
    /// If `size` is 0 or over 512 bytes: such objects take a header.
    ///
    /// ```
    /// let heap = gort_alloc::Heap::new();
    /// let mut c = heap.new_mcache();
    /// // A binary-trees node: two pointers, 16 bytes, no header.
    /// let p = c.alloc_heap_bits(16, 8, 0b11) as usize;
    /// let (span, slot, _) = heap.find_object(p).unwrap();
    /// assert_eq!((span.elemsize(), slot), (16, p));
    /// assert_eq!(span.heap_bits(p), 0b11);
    /// ```
    #[inline(always)]
    pub fn alloc_heap_bits(&mut self, size: usize, align: usize, mask: u64) -> *mut u8 {
        assert!(
            size > 0 && heap_bits_in_span(size),
            "gort-alloc: {size} bytes do not fit heap bits (1 to {MIN_SIZE_FOR_MALLOC_HEADER})"
        );
        let spc = SpanClass::new(size_class_aligned(size, align), false);
        let v = self.alloc_small(spc);
        // SAFETY: `alloc_small` just took the slot from the span cached for
        // `spc`, which this cache owns; it keeps heap bits (scan, ≤ 512 bytes).
        unsafe { self.cached_span(spc).write_heap_bits(v, mask) };
        v as *mut u8
    }

    /// Allocates a scan object of `size` bytes aligned to `align`, preceded by a
    /// malloc header word holding `header`, and returns the object's address
    /// (the slot's plus [`header_object_offset`]`(align)`) (Go's
    /// `mallocgcSmallScanHeader`, and `mallocgcLarge` with the type in a header
    /// instead of `span.largeType`). The collector finds the header from any
    /// address in the object ([`MSpan::header`]).
    ///
    /// ```
    /// let heap = gort_alloc::Heap::new();
    /// let mut c = heap.new_mcache();
    /// // SAFETY (of this example): no collector reads this heap's headers.
    /// let p = unsafe { c.alloc_header(40_000, 8, 0x5550) } as usize; // large: a span of its own
    /// let (span, slot, i) = heap.find_object(p + 39_999).unwrap();
    /// assert!(span.has_header(i));
    /// assert_eq!((slot + 8, span.header(slot)), (p, 0x5550));
    /// ```
    ///
    /// # Safety
    /// The heap's collector will trust `header`: it must be what that
    /// collector expects of this object. For `gort-gc`, a `&'static TypeInfo`
    /// describing the value the caller writes at the returned address before
    /// anything can mark it (only `gort_gc`'s typed allocation calls this).
    #[inline]
    pub unsafe fn alloc_header(&mut self, size: usize, align: usize, header: usize) -> *mut u8 {
        let off = header_object_offset(align);
        let total = size + off;
        let slot = if total > MAX_SMALL_SIZE {
            assert!(
                align <= PAGE_SIZE,
                "gort-alloc: alignment {align} is more than a page"
            );
            self.alloc(total, false) as usize
        } else {
            let spc = SpanClass::new(size_class_aligned(total, align), false);
            let v = self.alloc_small(spc);
            let span = self.cached_span(spc);
            if span.heap_bits_in_span() {
                // SAFETY: as in `alloc_heap_bits`: the slot was just taken from
                // this cache's own span.
                unsafe { span.set_header_bit(span.object_index(v)) };
            }
            v
        };
        // SAFETY: `slot` starts a fresh slot of at least `total` bytes that this
        // cache just took: 8-aligned heap memory, mapped while the heap lives.
        unsafe { span_word(slot) }.store(header as u64, std::sync::atomic::Ordering::Release);
        (slot + off) as *mut u8
    }
}

#[cfg(all(test, not(miri)))]
mod tests {
    use super::*;
    use crate::Heap;

    #[test]
    fn heap_bits_of_every_slot_of_every_small_scan_class_read_back() {
        let heap = Heap::new();
        let mut c = heap.new_mcache();
        for (class, &size) in CLASS_TO_SIZE.iter().enumerate().skip(1) {
            let size = size as usize;
            if !heap_bits_in_span(size) {
                break;
            }
            let words = size / 8;
            let first = c.alloc_heap_bits(size, 8, 0) as usize;
            let n = heap.span_of(first).unwrap().nelems();
            let mut objs = vec![first];
            for _ in 1..n {
                objs.push(c.alloc_heap_bits(size, 8, 0) as usize);
            }
            // Rewrite each slot's bits with a pattern of its own, then read all back:
            // a write must not disturb its neighbours' bits (objects straddle words).
            let pattern = |i: usize| {
                let m = (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
                if words == 64 {
                    m
                } else {
                    m & ((1 << words) - 1)
                }
            };
            let span = heap.span_of(first).unwrap();
            assert_eq!(span.elemsize(), size);
            for (i, &p) in objs.iter().enumerate() {
                // SAFETY: the test's cache owns the span and is not allocating.
                unsafe { span.write_heap_bits(p, pattern(i)) };
            }
            for (i, &p) in objs.iter().enumerate() {
                assert_eq!(span.heap_bits(p), pattern(i), "class {class} slot {i}");
            }
            // The bitmap is outside every slot.
            assert!(span.limit() <= span.base() + 8192 - 128, "class {class}");
        }
    }

    #[test]
    fn a_span_of_one_type_writes_its_bits_once_and_another_type_gets_its_own() {
        let heap = Heap::new();
        let mut c = heap.new_mcache();
        for (size, m1, m2) in [
            (16usize, 0b11u64, 0b01),
            (24, 0b101, 0b010),
            (48, 1, 0b100000),
            (512, !0, 1 << 63),
        ] {
            let first = c.alloc_heap_bits(size, 8, m1) as usize;
            let span = heap.span_of(first).unwrap();
            let n = span.nelems();
            let mut objs = vec![first];
            objs.extend((2..n).map(|_| c.alloc_heap_bits(size, 8, m1) as usize));
            for &p in &objs {
                assert_eq!(span.heap_bits(p), m1, "size {size}: the tiled fill");
            }
            let other = c.alloc_heap_bits(size, 8, m2) as usize;
            assert_eq!(heap.span_of(other).unwrap().base(), span.base());
            assert_eq!(span.heap_bits(other), m2, "size {size}: another type");
            for &p in &objs {
                assert_eq!(span.heap_bits(p), m1, "size {size}: neighbours kept");
            }
            // Freed and reused slots of a mixed span get their own bits again.
            c.release_all();
        }
    }

    #[test]
    fn header_bits_of_freed_slots_are_cleared_by_the_sweep() {
        let heap = Heap::new();
        let mut c = heap.new_mcache();
        // SAFETY: no collector reads this heap's headers.
        let (keep, gone) = unsafe { (c.alloc_header(24, 8, 0x100), c.alloc_header(24, 8, 0x200)) };
        let (keep, gone) = (keep as usize, gone as usize);
        let (span, _, ki) = heap.find_object(keep).unwrap();
        let gi = span.object_index(gone);
        assert!(span.has_header(ki) && span.has_header(gi));
        assert!(heap.mark(keep));
        heap.start_sweep();
        c.prepare_for_sweep();
        heap.finish_sweep();
        assert!(span.has_header(ki), "a survivor keeps its header bit");
        assert!(!span.has_header(gi), "a freed slot loses it");
    }

    #[test]
    fn aligned_allocations_land_on_aligned_slots() {
        let heap = Heap::new();
        let mut c = heap.new_mcache();
        for align in [16usize, 32, 64, 128, 256, 4096] {
            for size in [align, align + 8, 3 * align, 5000] {
                let size = size.max(align);
                for noscan in [false, true] {
                    let p = c.alloc_aligned(size, align, noscan) as usize;
                    assert_eq!(p % align, 0, "size {size} align {align}");
                    // SAFETY: no collector reads this heap's headers.
                    let q = unsafe { c.alloc_header(size, align, 1) } as usize;
                    assert_eq!(q % align, 0, "header, size {size} align {align}");
                }
            }
        }
        assert_eq!(c.alloc_aligned(0, 64, true) as usize, 64);
    }
}
