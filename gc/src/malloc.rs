//! Typed allocation: `gc::alloc(v)` → `mallocgc` with the type's description.
//!
//! Models `runtime/malloc.go`'s `mallocgc` dispatch (`mallocgcSmallNoscan`,
//! `mallocgcSmallScanNoHeader`, `mallocgcSmallScanHeader`, `mallocgcLarge`) and
//! `getMCache` (which cache an allocation uses).
//!
//! # Design
//!
//! [`object_layout`] decides, from the type's [`TypeInfo`] and the object's
//! size, which of the span allocator's three entry points an object takes:
//!
//! | the type | entry point | cost |
//! |---|---|---|
//! | no pointers, no drop glue | noscan span (`alloc_aligned`) | its size class |
//! | a mask, at most 512 bytes, no drop glue | scan span + heap bits (`alloc_heap_bits`) | its size class |
//! | anything else | a malloc header (`alloc_header`) | class of size + 8 |
//!
//! So a node of two `Option<Gc<Node>>` takes a 16-byte slot and its two bits in
//! the span. A type with drop glue (a `String` field) always carries a header,
//! even when pointer-free, so that the glue can be found from the dead object
//! alone (`typeinfo.rs`). The allocation context is a [`SlotAlloc`]: the real
//! one is an `MCache` of the span heap, a test's can be the mock heap.
//!
//! # Which cache: `CacheSource`
//!
//! Go's `mallocgc` allocates through the current P's mcache with no lock. gort's
//! runtime keeps an `MCache` in each P too, but the runtime depends on this
//! crate, not the other way round, so it plugs its caches in through
//! [`CacheSource`], registered once with [`set_cache_source`]: "the cache the
//! calling thread may use right now, if any". A thread without one (a plain
//! thread, a goroutine in a blocking syscall, or any thread before a runtime
//! registers) uses one shared cache under a lock ([`with_shared_cache`]; Go's
//! `mcache0`). [`alloc_in`] skips the lookup: the caller hands its cache in.
//!
//! # What is not here yet
//!
//! No assist credit, no allocate-black during mark, no heap trigger check, no
//! safepoint: those come with the runtime wiring (ARCHITECTURE §6).

use crate::gc::Gc;
use crate::trace::{Pointers, Trace};
use crate::typeinfo::{type_info, TypeInfo};
use gort_alloc::mbitmap::MIN_SIZE_FOR_MALLOC_HEADER;
use gort_alloc::MCache;
use std::ptr::NonNull;
use std::sync::{LazyLock, OnceLock};

/// What a typed allocation needs from an allocation cache: the three entry
/// points of `gort_alloc::mbitmap`. `MCache` implements it; so does the mock
/// heap the mark core's Miri tests run on.
///
/// # Safety
///
/// `alloc_in` writes a value through what these return, and the marker trusts
/// what they record. Each must return fresh, zeroed memory of at least `size`
/// bytes aligned to `align` that nothing else uses, record `mask` as the
/// object's heap bits (`alloc_heap_bits`), and store `header` where the heap's
/// [`MarkHeap`](crate::MarkHeap) reports it (`alloc_header`).
///
/// ```
/// use gort_gc::SlotAlloc;
/// let heap = gort_alloc::Heap::new();
/// let mut cache = heap.new_mcache();
/// let p = SlotAlloc::alloc_heap_bits(&mut cache, 16, 8, 0b10) as usize;
/// assert_eq!(heap.span_of(p).unwrap().heap_bits(p), 0b10);
/// ```
pub unsafe trait SlotAlloc {
    /// `size` zeroed bytes aligned to `align` in a noscan span.
    fn alloc_noscan(&mut self, size: usize, align: usize) -> *mut u8;
    /// A zeroed scan object of `size` ≤ 512 bytes whose pointer words are `mask`.
    fn alloc_heap_bits(&mut self, size: usize, align: usize, mask: u64) -> *mut u8;
    /// A zeroed scan object after a malloc header holding `header`; returns the
    /// object's address.
    ///
    /// # Safety
    /// `header` is a `&'static TypeInfo` describing the value the caller writes
    /// at the returned address before anything can mark it.
    unsafe fn alloc_header(&mut self, size: usize, align: usize, header: usize) -> *mut u8;
}

// SAFETY: the span allocator's entry points keep exactly these promises
// (`gort_alloc::mbitmap`).
unsafe impl SlotAlloc for MCache {
    #[inline(always)]
    fn alloc_noscan(&mut self, size: usize, align: usize) -> *mut u8 {
        self.alloc_aligned(size, align, true)
    }
    #[inline(always)]
    fn alloc_heap_bits(&mut self, size: usize, align: usize, mask: u64) -> *mut u8 {
        MCache::alloc_heap_bits(self, size, align, mask)
    }
    #[inline(always)]
    unsafe fn alloc_header(&mut self, size: usize, align: usize, header: usize) -> *mut u8 {
        // SAFETY: the caller's promise is `MCache::alloc_header`'s contract.
        unsafe { MCache::alloc_header(self, size, align, header) }
    }
}

// SAFETY: a cache lent by `&mut` allocates as the cache itself does.
unsafe impl<A: SlotAlloc + ?Sized> SlotAlloc for &mut A {
    #[inline(always)]
    fn alloc_noscan(&mut self, size: usize, align: usize) -> *mut u8 {
        (**self).alloc_noscan(size, align)
    }
    #[inline(always)]
    fn alloc_heap_bits(&mut self, size: usize, align: usize, mask: u64) -> *mut u8 {
        (**self).alloc_heap_bits(size, align, mask)
    }
    #[inline(always)]
    unsafe fn alloc_header(&mut self, size: usize, align: usize, header: usize) -> *mut u8 {
        // SAFETY: the caller's promise, passed on.
        unsafe { (**self).alloc_header(size, align, header) }
    }
}

/// How an object is laid out in the heap (see the module comment).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjectLayout {
    /// A noscan span: no pointer, nothing to find later.
    NoScan,
    /// A scan span with these heap bits.
    HeapBits(u64),
    /// A malloc header pointing at the `TypeInfo`.
    Header,
}

/// The layout of a `size`-byte object described by `info` (for an array
/// object, `size` is the whole object: length words and elements).
///
/// ```
/// use gort_gc::{object_layout, type_info, Gc, ObjectLayout};
/// assert_eq!(object_layout(type_info::<u64>(), 8), ObjectLayout::NoScan);
/// assert_eq!(object_layout(type_info::<Gc<u64>>(), 8), ObjectLayout::HeapBits(1));
/// assert_eq!(object_layout(type_info::<String>(), 24), ObjectLayout::Header);
/// ```
#[inline]
pub const fn object_layout(info: &TypeInfo, size: usize) -> ObjectLayout {
    if info.drop.is_some() {
        return ObjectLayout::Header;
    }
    match info.pointers {
        Pointers::None => ObjectLayout::NoScan,
        Pointers::Mask(m) if size <= MIN_SIZE_FOR_MALLOC_HEADER => ObjectLayout::HeapBits(m),
        Pointers::Array(elem) => array_layout(elem, size, info.size),
        _ => ObjectLayout::Header,
    }
}

/// An array object's layout: its element's mask tiled after the length words.
const fn array_layout(elem: &TypeInfo, size: usize, head: usize) -> ObjectLayout {
    if elem.drop.is_some() {
        return ObjectLayout::Header;
    }
    match elem.pointers {
        Pointers::None => ObjectLayout::NoScan,
        Pointers::Mask(m) if size <= MIN_SIZE_FOR_MALLOC_HEADER && elem.size.is_multiple_of(8) => {
            let words = elem.size / 8;
            let mut mask = 0u64;
            let mut w = head / 8;
            while w + words <= size / 8 {
                mask |= m << w;
                w += words;
            }
            ObjectLayout::HeapBits(mask)
        }
        _ => ObjectLayout::Header,
    }
}

/// Allocates a zeroed `size`-byte object described by `info` (Go's `mallocgc`).
/// The caller writes a value of the type `info` describes there before anything
/// can mark it.
#[inline(always)]
pub(crate) fn mallocgc<A: SlotAlloc + ?Sized>(
    a: &mut A,
    info: &'static TypeInfo,
    size: usize,
) -> *mut u8 {
    match object_layout(info, size) {
        ObjectLayout::NoScan => a.alloc_noscan(size, info.align),
        ObjectLayout::HeapBits(mask) => a.alloc_heap_bits(size, info.align, mask),
        // SAFETY: the header is the `TypeInfo` of the value the caller writes
        // there next (`alloc_in`, `ArrayObj::alloc_in`: `mallocgc`'s contract).
        ObjectLayout::Header => unsafe {
            a.alloc_header(size, info.align, info as *const TypeInfo as usize)
        },
    }
}

/// Allocates `v` through `cache` and returns its handle.
///
/// ```
/// use gort_gc::{alloc_in, Gc, Trace};
/// #[derive(Trace)]
/// struct Node {
///     left: Option<Gc<Node>>,
///     right: Option<Gc<Node>>,
/// }
/// let heap = gort_alloc::Heap::new();
/// let mut cache = heap.new_mcache();
/// let n = alloc_in(&mut cache, Node { left: None, right: None });
/// // Two pointers: a 16-byte slot, its pointer bits in the span.
/// let span = heap.span_of(Gc::addr(n)).unwrap();
/// assert_eq!(span.elemsize(), 16);
/// assert_eq!(span.heap_bits(Gc::addr(n)), 0b11);
/// ```
#[inline]
pub fn alloc_in<T: Trace, A: SlotAlloc + ?Sized>(cache: &mut A, v: T) -> Gc<T> {
    let info = type_info::<T>();
    let p = mallocgc(cache, info, std::mem::size_of::<T>()) as *mut T;
    // SAFETY: `p` is fresh memory of at least `size_of::<T>()` bytes aligned to
    // `align_of::<T>()` (the allocator's contract), which nothing else refers
    // to; writing `v` there moves it into the heap.
    unsafe { p.write(v) };
    // SAFETY: `p` now holds a valid `T`.
    unsafe { Gc::from_raw(p) }
}

/// Which allocation cache the calling thread may use now (Go's `getMCache`):
/// the runtime implements it with its per-P caches.
///
/// # Safety
///
/// A cache returned by [`CacheSource::mcache`] must be used by the calling
/// thread alone until it next reaches a safepoint (an allocation is not one:
/// `alloc` does not yield), and must be live until then.
///
/// ```
/// use gort_alloc::MCache;
/// use std::ptr::NonNull;
/// /// A source that never has a cache of its own: every allocation uses the
/// /// shared one (what a plain thread gets).
/// struct NoCaches;
/// // SAFETY (of this example): it returns no cache.
/// unsafe impl gort_gc::CacheSource for NoCaches {
///     fn mcache(&self) -> Option<NonNull<MCache>> {
///         None
///     }
/// }
/// let _ = gort_gc::set_cache_source(&NoCaches); // or an error if one is set
/// assert_eq!(*gort_gc::Gc::new(1u8), 1);
/// ```
pub unsafe trait CacheSource: Sync {
    /// The calling thread's own cache, or `None` to use the shared one.
    fn mcache(&self) -> Option<NonNull<MCache>>;
}

static SOURCE: OnceLock<&'static dyn CacheSource> = OnceLock::new();

/// The cache of threads that have none of their own (Go's `mcache0`).
static SHARED: LazyLock<parking_lot::Mutex<MCache>> =
    LazyLock::new(|| parking_lot::Mutex::new(gort_alloc::Heap::global().new_mcache()));

/// [`set_cache_source`] was called before.
///
/// ```
/// let e = gort_gc::CacheSourceAlreadySet;
/// assert_eq!(e.to_string(), "gort-gc: a cache source is already registered");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheSourceAlreadySet;

impl std::fmt::Display for CacheSourceAlreadySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("gort-gc: a cache source is already registered")
    }
}

impl std::error::Error for CacheSourceAlreadySet {}

/// Registers the process's [`CacheSource`] (the runtime does, once).
///
/// ```
/// # use gort_alloc::MCache;
/// # use std::ptr::NonNull;
/// struct NoCaches;
/// // SAFETY (of this example): it returns no cache.
/// unsafe impl gort_gc::CacheSource for NoCaches {
///     fn mcache(&self) -> Option<NonNull<MCache>> {
///         None
///     }
/// }
/// static SRC: NoCaches = NoCaches;
/// if gort_gc::set_cache_source(&SRC).is_ok() {
///     assert_eq!(gort_gc::set_cache_source(&SRC), Err(gort_gc::CacheSourceAlreadySet));
/// }
/// ```
pub fn set_cache_source(src: &'static dyn CacheSource) -> Result<(), CacheSourceAlreadySet> {
    SOURCE.set(src).map_err(|_| CacheSourceAlreadySet)
}

/// Runs `f` with the shared cache locked (the collector flushes it at a sweep
/// cycle; threads without a cache of their own wait meanwhile).
///
/// ```
/// gort_gc::with_shared_cache(|c| c.prepare_for_sweep());
/// ```
pub fn with_shared_cache<R>(f: impl FnOnce(&mut MCache) -> R) -> R {
    f(&mut SHARED.lock())
}

/// Allocates `v` in the process-wide heap and returns its handle: through the
/// calling thread's cache from the registered [`CacheSource`], else through the
/// shared one.
///
/// ```
/// let s = gort_gc::alloc(String::from("hello"));
/// assert_eq!(s.len(), 5);
/// ```
#[inline]
pub fn alloc<T: Trace>(v: T) -> Gc<T> {
    with_cache(|c| alloc_in(c, v))
}

/// Runs `f` with the calling thread's cache: its own from the registered
/// [`CacheSource`], else the shared one, locked (Go's `getMCache`). `f` must not
/// reach a safepoint.
#[inline]
pub(crate) fn with_cache<R>(f: impl FnOnce(&mut MCache) -> R) -> R {
    if let Some(c) = SOURCE.get().and_then(|s| s.mcache()) {
        // SAFETY: the source's contract: the cache is this thread's alone until
        // its next safepoint, and `f` (an allocation) reaches none.
        return f(unsafe { &mut *c.as_ptr() });
    }
    f(&mut SHARED.lock())
}

#[cfg(all(test, not(miri), not(loom)))]
mod tests {
    use super::*;
    use crate::{GcSlot, NoGc, NoTrace, Trace};
    use gort_alloc::Heap;

    #[derive(Trace)]
    struct Node {
        left: Option<Gc<Node>>,
        right: Option<Gc<Node>>,
    }

    /// The binary-trees node: two pointers cost 16 bytes (Go 1.22+), not 24 as
    /// a header word would make them.
    #[test]
    fn a_two_pointer_node_costs_16_bytes() {
        let heap = Heap::new();
        let mut c = heap.new_mcache();
        let leaf = alloc_in(
            &mut c,
            Node {
                left: None,
                right: None,
            },
        );
        let n = alloc_in(
            &mut c,
            Node {
                left: Some(leaf),
                right: Some(leaf),
            },
        );
        let (span, slot, i) = heap.find_object(Gc::addr(n)).unwrap();
        assert_eq!((span.elemsize(), slot), (16, Gc::addr(n)));
        assert!(!span.has_header(i) && !span.spanclass().noscan());
        assert_eq!(span.heap_bits(slot), 0b11);
        assert!(Gc::ptr_eq(n.left.unwrap(), leaf));
    }

    #[repr(align(64))]
    #[derive(Trace)]
    struct Aligned {
        x: u64,
        next: Option<Gc<Aligned>>,
    }

    #[derive(Trace)]
    enum Shape {
        Circle(u64),
        Group(Gc<Shape>, Gc<Shape>),
    }

    #[test]
    fn layouts_by_kind_of_type() {
        let heap = Heap::new();
        let mut c = heap.new_mcache();
        let kind = |addr: usize| {
            let (s, slot, i) = heap.find_object(addr).unwrap();
            (
                s.spanclass().noscan(),
                s.has_header(i),
                addr - slot,
                s.elemsize(),
            )
        };
        // Pointer-free: noscan, no header.
        let p = alloc_in(&mut c, [1u64; 4]);
        assert_eq!(kind(Gc::addr(p)), (true, false, 0, 32));
        // Over-aligned: a 64-byte-aligned slot, heap bits.
        let a = alloc_in(&mut c, Aligned { x: 1, next: None });
        assert_eq!(Gc::addr(a) % 64, 0);
        assert_eq!(kind(Gc::addr(a)), (false, false, 0, 64));
        // An enum with pointers: a header before it, in a 24-byte class.
        let s = alloc_in(&mut c, Shape::Circle(2));
        let g = alloc_in(&mut c, Shape::Group(s, s));
        assert_eq!(kind(Gc::addr(g)), (false, true, 8, 24));
        // Drop glue, no pointers: a header all the same.
        let st = alloc_in(&mut c, NoGc::new(String::from("x")));
        assert!(kind(Gc::addr(st)).1);
        // A slot: one pointer word.
        let sl = alloc_in(&mut c, GcSlot::new(Some(p)));
        assert_eq!(
            heap.span_of(Gc::addr(sl)).unwrap().heap_bits(Gc::addr(sl)),
            1
        );
        // Zero-sized: no memory at all.
        let z1 = alloc_in(&mut c, ());
        assert!(heap.find_object(Gc::addr(z1)).is_none());
    }

    static DROPS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

    #[derive(NoTrace)]
    struct Counted(#[allow(dead_code)] u64);
    impl Drop for Counted {
        fn drop(&mut self) {
            DROPS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    #[derive(Trace)]
    struct WithGlue {
        c: NoGc<Counted>,
        name: String,
        next: Option<Gc<WithGlue>>,
    }

    #[test]
    fn drop_glue_of_fields_runs_once_from_the_object_alone() {
        let heap = Heap::new();
        let mut c = heap.new_mcache();
        let a = alloc_in(
            &mut c,
            WithGlue {
                c: NoGc::new(Counted(1)),
                name: "a".into(),
                next: None,
            },
        );
        let _b = alloc_in(
            &mut c,
            WithGlue {
                c: NoGc::new(Counted(2)),
                name: "b".into(),
                next: Some(a),
            },
        );
        let plain = alloc_in(
            &mut c,
            Node {
                left: None,
                right: None,
            },
        );
        let before = DROPS.load(std::sync::atomic::Ordering::Relaxed);
        // SAFETY: `a` is not used again.
        assert!(unsafe { crate::run_drop_glue(&heap, Gc::addr(a) + 3) });
        assert_eq!(DROPS.load(std::sync::atomic::Ordering::Relaxed), before + 1);
        // SAFETY: `plain` has no drop glue: nothing runs.
        assert!(!unsafe { crate::run_drop_glue(&heap, Gc::addr(plain)) });
    }
}
