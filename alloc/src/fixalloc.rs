//! A free-list allocator for the heap's own fixed-size metadata (spans).
//!
//! Models `runtime/mfixalloc.go` (`fixalloc`, `init`, `alloc`, `free`).
//!
//! # Design
//!
//! The heap cannot allocate its `mspan` structs from itself (a span would be needed
//! to allocate a span), so, like Go, it carves them out of 16 KiB chunks taken from
//! outside the heap and keeps freed ones on a free list. Allocation pops the list
//! or carves the next slot of the current chunk; nothing is ever returned to the
//! chunk source until the whole allocator is dropped. `inuse` and `sys` feed
//! `MSpanInuse`/`MSpanSys`.
//!
//! **A slot always holds a valid `T`.** A carved slot is initialised once, by the
//! caller's `make`, and a freed slot keeps its value: `alloc` hands back a
//! recycled slot as it was, and the caller re-initialises it through `&T` (for
//! spans, with atomic stores). That is what lets another thread still holding a
//! reference to a freed span struct (`span_of` racing `free_span`) read it
//! without a data race. So the free list's links are kept beside the slots, in a
//! `Vec`, rather than threaded through the slots' first word as Go's are — an
//! intrusive link would be a plain write over a live atomic field.
//!
//! Not thread-safe, as in Go: the mheap calls it under its lock.
//!
//! # What gort simplifies
//!
//! Go takes chunks from `persistentalloc` (never freed, off-heap); gort takes them
//! from Rust's global allocator and frees them when the heap is dropped, so tests
//! can make and drop heaps. Go can zero an object on `alloc`; here the caller
//! makes a fresh value for a fresh slot, and re-initialises a recycled one.

use std::alloc::{alloc, dealloc, Layout};
use std::ptr::NonNull;

/// Bytes per chunk (Go's `_FixAllocChunk`).
pub const FIX_ALLOC_CHUNK: usize = 16 << 10;

/// A fixed-size allocator for `T`s (Go's `fixalloc`).
pub(crate) struct FixAlloc<T> {
    /// Freed slots, each still holding a valid `T` (Go's `list`).
    free: Vec<NonNull<T>>,
    chunk: *mut u8,
    nchunk: usize,
    chunks: Vec<NonNull<u8>>,
    /// Slots carved so far (all hold a valid `T`): every chunk but the last is
    /// full, so this says which slots to drop.
    carved: usize,
    /// Bytes handed out and not freed.
    pub(crate) inuse: usize,
    /// Bytes taken for chunks.
    pub(crate) sys: usize,
}

// SAFETY: the allocator owns its chunks and the `T`s in them outright (the raw
// pointers are into them), it is used from one thread at a time (under the mheap
// lock), and `T: Send` lets the values move with it.
unsafe impl<T: Send> Send for FixAlloc<T> {}

impl<T> FixAlloc<T> {
    const SIZE: usize = std::mem::size_of::<T>().next_multiple_of(std::mem::align_of::<T>());
    const PER_CHUNK: usize = FIX_ALLOC_CHUNK / Self::SIZE;
    const LAYOUT: Layout = match Layout::from_size_align(FIX_ALLOC_CHUNK, 128) {
        Ok(l) => l,
        Err(_) => panic!("bad chunk layout"),
    };

    pub(crate) fn new() -> FixAlloc<T> {
        assert!(
            std::mem::align_of::<T>() <= 128 && Self::SIZE > 0 && Self::SIZE <= FIX_ALLOC_CHUNK
        );
        FixAlloc {
            free: Vec::new(),
            chunk: std::ptr::null_mut(),
            nchunk: 0,
            chunks: Vec::new(),
            carved: 0,
            inuse: 0,
            sys: 0,
        }
    }

    /// A slot holding a valid `T`: a freed one as it was left, else a fresh one
    /// initialised with `make()`. The slot is the caller's until it `free`s it.
    pub(crate) fn alloc(&mut self, make: impl FnOnce() -> T) -> NonNull<T> {
        self.inuse += Self::SIZE;
        if let Some(p) = self.free.pop() {
            return p;
        }
        if self.nchunk < Self::SIZE {
            // SAFETY: the layout has a non-zero size.
            let p = unsafe { alloc(Self::LAYOUT) };
            let p = NonNull::new(p).unwrap_or_else(|| std::alloc::handle_alloc_error(Self::LAYOUT));
            self.chunks.push(p);
            self.chunk = p.as_ptr();
            self.nchunk = FIX_ALLOC_CHUNK;
            self.sys += FIX_ALLOC_CHUNK;
        }
        let v = self.chunk.cast::<T>();
        // SAFETY: at least SIZE bytes remain in the current chunk, so the result
        // stays inside (or one past the end of) the chunk's allocation.
        self.chunk = unsafe { self.chunk.add(Self::SIZE) };
        self.nchunk -= Self::SIZE;
        // SAFETY: `v` is an unused, never-shared slot of SIZE bytes inside a live
        // chunk, aligned for T (chunks are 128-aligned, SIZE a multiple of T's
        // alignment, which is at most 128).
        unsafe { v.write(make()) };
        self.carved += 1;
        // SAFETY: `v` points into a live chunk, so it is not null.
        unsafe { NonNull::new_unchecked(v) }
    }

    /// Returns a slot. Its `T` stays in place, valid, and may still be read
    /// through references other threads hold (see the module comment); it is
    /// handed out again as it is.
    ///
    /// # Safety
    /// `p` came from this allocator's `alloc` and is not freed twice; the caller
    /// does not use it afterwards.
    pub(crate) unsafe fn free(&mut self, p: NonNull<T>) {
        self.inuse -= Self::SIZE;
        self.free.push(p);
    }
}

impl<T> Drop for FixAlloc<T> {
    fn drop(&mut self) {
        let mut left = self.carved;
        for c in self.chunks.drain(..) {
            let n = left.min(Self::PER_CHUNK);
            left -= n;
            for i in 0..n {
                // SAFETY: the first `n` slots of this chunk were carved and hold
                // a valid T (freed slots too); the allocator is being dropped, so
                // no reference to them is used again.
                unsafe { std::ptr::drop_in_place(c.as_ptr().cast::<T>().add(i)) };
            }
            // SAFETY: each chunk was allocated with LAYOUT by `alloc` above.
            unsafe { dealloc(c.as_ptr(), Self::LAYOUT) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    thread_local! {
        static DROPS: Cell<usize> = const { Cell::new(0) };
    }

    #[repr(align(8))]
    struct Meta([u64; 45]); // 360 bytes, about an mspan

    impl Drop for Meta {
        fn drop(&mut self) {
            DROPS.with(|d| d.set(d.get() + 1));
        }
    }

    #[test]
    fn slots_are_distinct_reused_lifo_intact_and_counted() {
        let mut f = FixAlloc::<Meta>::new();
        let n = FIX_ALLOC_CHUNK / 360 + 3; // spills into a second chunk
        let ptrs: Vec<NonNull<Meta>> = (0..n).map(|i| f.alloc(|| Meta([i as u64; 45]))).collect();
        assert_eq!(f.sys, 2 * FIX_ALLOC_CHUNK);
        assert_eq!(f.inuse, n * 360);
        for (i, p) in ptrs.iter().enumerate() {
            // SAFETY: made above and not freed; slots do not overlap, so every
            // value is still the one made.
            assert_eq!(unsafe { p.as_ref().0 }, [i as u64; 45]);
        }
        // SAFETY: from this allocator, freed once, not used afterwards.
        unsafe { f.free(ptrs[3]) };
        // SAFETY: as above.
        unsafe { f.free(ptrs[7]) };
        // Recycled slots come back LIFO with their values intact: nothing (no
        // free-list link) was written over them, and `make` is not called.
        let again = f.alloc(|| unreachable!("a freed slot is reused"));
        assert_eq!(again, ptrs[7]);
        // SAFETY: a valid Meta, ours again.
        assert_eq!(unsafe { again.as_ref().0 }, [7; 45]);
        assert_eq!(f.alloc(|| unreachable!()), ptrs[3]);
        assert_eq!(f.inuse, n * 360);
        // Dropping the allocator drops every value it carved, once.
        DROPS.with(|d| d.set(0));
        drop(f);
        assert_eq!(DROPS.with(|d| d.get()), n);
    }
}
