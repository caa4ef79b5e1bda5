//! A heap without `mmap`, arenas or an arena index, so that the mark core runs
//! under Miri (`cargo +nightly miri test -p gort-gc`), as MMTk's mock VM runs
//! its collector's core in unit tests.
//!
//! It keeps the span allocator's geometry — Go's size classes, 8 KiB spans,
//! slots at `base + i × elemsize`, one span per large object, a malloc header
//! word at a header object's start — but finds objects by walking its span
//! list, keeps heap bits per slot instead of at the span's end, and never frees
//! or reuses a slot. It implements both [`SlotAlloc`] (through `&MockHeap`, so
//! that allocation and marking can share one heap) and [`MarkHeap`].

use crate::malloc::SlotAlloc;
use crate::mgcmark::{MarkHeap, ObjectKind};
use gort_alloc::mbitmap::{header_object_offset, heap_bits_in_span, size_class_aligned};
use gort_alloc::sizeclass::{CLASS_TO_SIZE, MAX_SMALL_SIZE, PAGE_SIZE};
use std::alloc::Layout;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

pub(crate) struct MockSpan {
    base: *mut u8,
    layout: Layout,
    elemsize: usize,
    nelems: usize,
    noscan: bool,
    /// Slots handed out (a bump allocator: no frees).
    used: AtomicUsize,
    mark: Box<[AtomicBool]>,
    header: Box<[AtomicBool]>,
    heap_bits: Box<[AtomicU64]>,
}

impl MockSpan {
    fn new(bytes: usize, elemsize: usize, noscan: bool) -> MockSpan {
        let layout = Layout::from_size_align(bytes, PAGE_SIZE).expect("a span layout");
        // SAFETY: `layout` has a non-zero size.
        let base = unsafe { std::alloc::alloc_zeroed(layout) };
        assert!(!base.is_null(), "mock heap: out of memory");
        let nelems = bytes / elemsize;
        let flags = |n: usize| (0..n).map(|_| AtomicBool::new(false)).collect();
        MockSpan {
            base,
            layout,
            elemsize,
            nelems,
            noscan,
            used: AtomicUsize::new(0),
            mark: flags(nelems),
            header: flags(nelems),
            heap_bits: (0..nelems).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    fn base(&self) -> usize {
        self.base as usize
    }

    /// The next slot, if any is left.
    fn take(&self) -> Option<(usize, usize)> {
        let i = self.used.load(Ordering::Relaxed);
        (i < self.nelems).then(|| {
            self.used.store(i + 1, Ordering::Relaxed);
            // `base.add` keeps the allocation's provenance in the returned
            // pointer; its address is exposed for the marker's loads by address.
            // SAFETY: slot `i` is inside the allocation.
            (unsafe { self.base.add(i * self.elemsize) } as usize, i)
        })
    }
}

impl Drop for MockSpan {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout, freed once.
        unsafe { std::alloc::dealloc(self.base, self.layout) };
    }
}

/// The mock heap.
pub(crate) struct MockHeap {
    /// Boxed so that a `&MockSpan` stays valid while the list grows; never
    /// shrunk while the heap lives.
    #[allow(clippy::vec_box)] // the boxes are the point: spans must not move
    spans: parking_lot::Mutex<Vec<Box<MockSpan>>>,
}

// SAFETY: span memory is reached by address only; objects are written by the
// allocating thread before they are published, and marking reads pointer words
// atomically. Every other field is an atomic or behind the mutex.
unsafe impl Sync for MockHeap {}
// SAFETY: as above.
unsafe impl Send for MockHeap {}

impl MockHeap {
    pub(crate) fn new() -> MockHeap {
        MockHeap {
            spans: parking_lot::Mutex::new(Vec::new()),
        }
    }

    /// A zeroed slot for `size` bytes at `align`: (slot, span, index).
    fn alloc_slot(&self, size: usize, align: usize, noscan: bool) -> (usize, &MockSpan, usize) {
        let mut spans = self.spans.lock();
        let (elemsize, bytes) = if size > MAX_SMALL_SIZE {
            let b = size.div_ceil(PAGE_SIZE) * PAGE_SIZE;
            (b, b)
        } else {
            (
                CLASS_TO_SIZE[size_class_aligned(size.max(8), align) as usize] as usize,
                PAGE_SIZE,
            )
        };
        let found = spans
            .iter()
            .rev()
            .filter(|s| size <= MAX_SMALL_SIZE && s.elemsize == elemsize && s.noscan == noscan)
            .find_map(|s| s.take().map(|(slot, i)| (slot, &**s as *const MockSpan, i)));
        let (slot, span, i) = found.unwrap_or_else(|| {
            spans.push(Box::new(MockSpan::new(bytes, elemsize, noscan)));
            let s = spans.last().expect("just pushed");
            let (slot, i) = s.take().expect("a fresh span has room");
            (slot, &**s as *const MockSpan, i)
        });
        // SAFETY: the span is boxed and never freed while the heap lives.
        (slot, unsafe { &*span }, i)
    }

    /// Objects allocated so far.
    pub(crate) fn objects(&self) -> usize {
        self.spans
            .lock()
            .iter()
            .map(|s| s.used.load(Ordering::Relaxed))
            .sum()
    }

    /// Whether the object holding `addr` is marked.
    pub(crate) fn marked(&self, addr: usize) -> bool {
        let (s, _, i) = self.find_object(addr).expect("an object of the mock heap");
        self.is_marked(s, i)
    }
}

impl Drop for MockHeap {
    /// Every object is dead now: run the drop glue of those that have some,
    /// as a finalizer would (`typeinfo.rs`), so their `String`s are freed.
    fn drop(&mut self) {
        for s in self.spans.get_mut().iter() {
            for i in 0..s.used.load(Ordering::Relaxed) {
                if !s.noscan && s.header[i].load(Ordering::Relaxed) {
                    let slot = s.base() + i * s.elemsize;
                    // SAFETY: a header slot's first word is the `&'static
                    // TypeInfo` the allocation stored.
                    let info = unsafe {
                        &*(crate::loom::word_at(slot).load(Ordering::Relaxed)
                            as *const crate::TypeInfo)
                    };
                    if let Some(drop) = info.drop {
                        // SAFETY: the object after the header is a valid value
                        // of that type, dead with its heap.
                        unsafe { drop((slot + header_object_offset(info.align)) as *mut u8) };
                    }
                }
            }
        }
    }
}

// SAFETY: fresh zeroed slots of the asked size and alignment (size classes
// from a page-aligned base), bits and headers recorded where `MarkHeap` reads
// them.
unsafe impl SlotAlloc for &MockHeap {
    fn alloc_noscan(&mut self, size: usize, align: usize) -> *mut u8 {
        self.alloc_slot(size, align, true).0 as *mut u8
    }
    fn alloc_heap_bits(&mut self, size: usize, align: usize, mask: u64) -> *mut u8 {
        assert!(heap_bits_in_span(size));
        let (slot, span, i) = self.alloc_slot(size, align, false);
        span.heap_bits[i].store(mask, Ordering::Relaxed);
        slot as *mut u8
    }
    unsafe fn alloc_header(&mut self, size: usize, align: usize, header: usize) -> *mut u8 {
        let off = header_object_offset(align);
        let (slot, span, i) = self.alloc_slot(size + off, align, false);
        span.header[i].store(true, Ordering::Relaxed);
        // SAFETY: the slot's first word, fresh and ours.
        unsafe { crate::loom::word_at(slot) }.store(header, Ordering::Release);
        (slot + off) as *mut u8
    }
}

// SAFETY: spans are never freed while the heap lives, `find_object` keeps to
// handed-out slots, and headers are written only by `alloc_header` (whose
// caller promises a `TypeInfo`).
unsafe impl MarkHeap for MockHeap {
    type Span = MockSpan;
    fn find_object(&self, addr: usize) -> Option<(&MockSpan, usize, usize)> {
        let spans = self.spans.lock();
        let s = spans
            .iter()
            .find(|s| addr >= s.base() && addr < s.base() + s.nelems * s.elemsize)?;
        let i = (addr - s.base()) / s.elemsize;
        if i >= s.used.load(Ordering::Relaxed) {
            return None; // a free slot
        }
        let s: *const MockSpan = &**s;
        // SAFETY: the span is boxed and never freed while the heap lives.
        let s = unsafe { &*s };
        Some((s, s.base() + i * s.elemsize, i))
    }
    fn elemsize(&self, span: &MockSpan) -> usize {
        span.elemsize
    }
    fn set_marked(&self, span: &MockSpan, index: usize) -> bool {
        !span.mark[index].swap(true, Ordering::Relaxed)
    }
    fn is_marked(&self, span: &MockSpan, index: usize) -> bool {
        span.mark[index].load(Ordering::Relaxed)
    }
    fn object_kind(&self, span: &MockSpan, slot: usize, index: usize) -> ObjectKind {
        if span.noscan {
            ObjectKind::NoScan
        } else if span.header[index].load(Ordering::Relaxed) {
            // SAFETY: a header slot's first word, written at allocation.
            ObjectKind::Header(unsafe { crate::loom::word_at(slot) }.load(Ordering::Acquire))
        } else {
            ObjectKind::HeapBits(span.heap_bits[index].load(Ordering::Relaxed))
        }
    }
}
