//! A free-list allocator for the heap's own fixed-size metadata (spans).
//!
//! Models `runtime/mfixalloc.go` (`fixalloc`, `init`, `alloc`, `free`).
//!
//! # Design
//!
//! The heap cannot allocate its `mspan` structs from itself (a span would be needed
//! to allocate a span), so, like Go, it carves them out of 16 KiB chunks taken from
//! outside the heap and keeps freed ones on an intrusive free list threaded through
//! their first word. Allocation pops the list or carves the next slot of the
//! current chunk; nothing is ever returned to the chunk source until the whole
//! allocator is dropped. `inuse` and `sys` feed `MSpanInuse`/`MSpanSys`.
//!
//! Not thread-safe, as in Go: the mheap calls it under its lock.
//!
//! # What gort simplifies
//!
//! Go takes chunks from `persistentalloc` (never freed, off-heap); gort takes them
//! from Rust's global allocator and frees them when the heap is dropped, so tests
//! can make and drop heaps. Go can zero an object on `alloc`; here the caller
//! writes a fresh value into the slot, which is the same thing for our types.

use std::alloc::{alloc, dealloc, Layout};
use std::marker::PhantomData;
use std::ptr::NonNull;

/// Bytes per chunk (Go's `_FixAllocChunk`).
pub const FIX_ALLOC_CHUNK: usize = 16 << 10;

struct Link {
    next: *mut Link,
}

/// A fixed-size allocator for `T`s (Go's `fixalloc`).
pub(crate) struct FixAlloc<T> {
    list: *mut Link,
    chunk: *mut u8,
    nchunk: usize,
    chunks: Vec<NonNull<u8>>,
    /// Bytes handed out and not freed.
    pub(crate) inuse: usize,
    /// Bytes taken for chunks.
    pub(crate) sys: usize,
    _t: PhantomData<T>,
}

// SAFETY: the allocator owns its chunks outright; the raw pointers are into them,
// and it is used from one thread at a time (under the mheap lock).
unsafe impl<T> Send for FixAlloc<T> {}

impl<T> FixAlloc<T> {
    const SIZE: usize = {
        let s = std::mem::size_of::<T>();
        let a = std::mem::align_of::<T>();
        let l = std::mem::size_of::<Link>();
        let s = if s < l { l } else { s };
        s.div_ceil(a) * a
    };
    const LAYOUT: Layout = match Layout::from_size_align(FIX_ALLOC_CHUNK, 128) {
        Ok(l) => l,
        Err(_) => panic!("bad chunk layout"),
    };

    pub(crate) fn new() -> FixAlloc<T> {
        assert!(std::mem::align_of::<T>() <= 128 && Self::SIZE <= FIX_ALLOC_CHUNK);
        FixAlloc {
            list: std::ptr::null_mut(),
            chunk: std::ptr::null_mut(),
            nchunk: 0,
            chunks: Vec::new(),
            inuse: 0,
            sys: 0,
            _t: PhantomData,
        }
    }

    /// An uninitialised slot for one `T`, aligned for it.
    pub(crate) fn alloc(&mut self) -> NonNull<T> {
        self.inuse += Self::SIZE;
        if let Some(l) = NonNull::new(self.list) {
            // SAFETY: every pointer on the list is a slot of one of our chunks that
            // `free` linked in, and nothing else uses a slot while it is listed.
            self.list = unsafe { l.as_ref().next };
            return l.cast();
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
        let v = self.chunk;
        // SAFETY: at least SIZE bytes remain in the current chunk, so the result
        // stays inside (or one past the end of) the chunk's allocation.
        self.chunk = unsafe { self.chunk.add(Self::SIZE) };
        self.nchunk -= Self::SIZE;
        // SAFETY: `v` points into a live chunk, so it is not null.
        unsafe { NonNull::new_unchecked(v.cast()) }
    }

    /// Returns a slot; the `T` in it must already be dead (no references, and
    /// nothing that needs dropping — the link overwrites its first word).
    ///
    /// # Safety
    /// `p` came from this allocator's `alloc` and is not used afterwards.
    pub(crate) unsafe fn free(&mut self, p: NonNull<T>) {
        self.inuse -= Self::SIZE;
        let l = p.cast::<Link>();
        // SAFETY: the caller gives the slot back; it is SIZE ≥ size_of::<Link>()
        // bytes and at least as aligned as a pointer (chunks are 128-aligned and
        // SIZE is a multiple of T's alignment, which is ≥ 8 for our metadata).
        unsafe { l.as_ptr().write(Link { next: self.list }) };
        self.list = l.as_ptr();
    }
}

impl<T> Drop for FixAlloc<T> {
    fn drop(&mut self) {
        for c in self.chunks.drain(..) {
            // SAFETY: each chunk was allocated with LAYOUT by `alloc` above.
            unsafe { dealloc(c.as_ptr(), Self::LAYOUT) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[repr(align(8))]
    struct Meta([u64; 45]); // 360 bytes, about an mspan

    #[test]
    fn slots_are_distinct_reused_lifo_and_counted() {
        let mut f = FixAlloc::<Meta>::new();
        let n = FIX_ALLOC_CHUNK / 360 + 3; // spills into a second chunk
        let ptrs: Vec<NonNull<Meta>> = (0..n)
            .map(|i| {
                let p = f.alloc();
                // SAFETY: a fresh slot, ours to write.
                unsafe { p.as_ptr().write(Meta([i as u64; 45])) };
                p
            })
            .collect();
        assert_eq!(f.sys, 2 * FIX_ALLOC_CHUNK);
        assert_eq!(f.inuse, n * 360);
        for (i, p) in ptrs.iter().enumerate() {
            // SAFETY: written above and not freed; slots do not overlap, so every
            // value is still the one written.
            assert_eq!(unsafe { p.as_ref().0 }, [i as u64; 45]);
        }
        // SAFETY: from this allocator, not used afterwards.
        unsafe { f.free(ptrs[3]) };
        // SAFETY: as above.
        unsafe { f.free(ptrs[7]) };
        assert_eq!(f.alloc(), ptrs[7]);
        assert_eq!(f.alloc(), ptrs[3]);
        assert_eq!(f.inuse, n * 360);
    }
}
