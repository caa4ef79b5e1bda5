//! The mark core: `greyobject`, `scanobject`, `gcDrain`, the conservative scan.
//!
//! Models `runtime/mgcmark.go` (`shade`, `greyobject`, `scanobject`,
//! `scanConservative`, `gcDrain`, `markroot`) and the mark-bit half of
//! `runtime/mbitmap.go` (`findObject`, `markBits.setMarked`, `typePointers`).
//!
//! # Design
//!
//! Tri-colour marking, as in Go: an object is *white* while its mark bit is
//! clear, *grey* once marked and queued in a [`GcWork`], *black* once scanned.
//!
//! - `shade(addr)`: Go's `shade`/`findObject`: the allocated object whose slot
//!   holds `addr` — a base or an interior pointer; `None` for an address
//!   outside the heap, in a free slot or in a span's tail — then `greyobject`.
//! - `greyobject`: sets the object's mark bit with an atomic OR (several
//!   markers may race for one object: exactly one wins and queues it) and adds
//!   its size to the bytes marked. A noscan object is black at once: nothing
//!   inside it to scan. Anything else is queued.
//! - `scanobject`: reads the object's pointer words — from the span's heap bits,
//!   or through the malloc header's [`TypeInfo`] (its mask, bitmap, trace
//!   function, or array elements) — and shades each non-zero one. Pointer words
//!   are loaded atomically: a `GcSlot` may be stored to meanwhile (part 2).
//! - [`GcWork::gc_drain`]: pops grey objects and scans them until no marker
//!   has work left (`mgcwork.rs`'s termination), balancing work out to idle
//!   markers when the full list is empty.
//! - [`GcWork::scan_conservative`]: a root range whose words are not known to
//!   be pointers (a goroutine's stack): every aligned word goes through
//!   `shade`, so a word that happens to look like a pointer into an allocated
//!   object keeps it alive — the price of conservative roots.
//!
//! The heap is behind [`MarkHeap`], "what the mark asks of a heap", which
//! `gort_alloc::Heap` implements and a test can too: the mark core runs on a
//! mock heap under Miri (`mockheap.rs`), with no `mmap` and no arenas.
//!
//! # What is not here yet
//!
//! Roots other than [`RootSet`] and explicit ranges (goroutine stacks, statics,
//! the Rust heap), oblets (Go splits objects over 128 KiB to scan them in
//! parallel), mark assists and scan-work credit, the write-barrier buffer
//! flush, allocate-black, and Go 1.26's span-at-a-time "Green Tea" scan.

use crate::loom::word_at;
use crate::mgcwork::{GcWork, Work};
use crate::root::RootSet;
use crate::trace::{Pointers, Tracer};
use crate::typeinfo::TypeInfo;
use gort_alloc::mbitmap::header_object_offset;
use gort_alloc::span::MSpan;
use std::sync::atomic::Ordering;

/// How to scan an allocated object.
///
/// ```
/// use gort_gc::{MarkHeap, ObjectKind};
/// let heap = gort_alloc::Heap::new();
/// let p = heap.new_mcache().alloc_heap_bits(16, 8, 0b10) as usize;
/// let (span, slot, i) = MarkHeap::find_object(&*heap, p).unwrap();
/// assert_eq!(heap.object_kind(span, slot, i), ObjectKind::HeapBits(0b10));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjectKind {
    /// Nothing to scan.
    NoScan,
    /// The slot's pointer words (bit `i`: word `i` of the slot).
    HeapBits(u64),
    /// A malloc header holding this word: a `&'static TypeInfo`.
    Header(usize),
}

/// What the mark asks of a heap: find objects, set mark bits, say how to scan
/// an object. `gort_alloc::Heap` implements it; the Miri tests' mock heap does
/// too.
///
/// The answers must be exact while a mark runs (no span freed meanwhile: the
/// sweep is finished before marking starts, as `Heap::find_object` requires).
///
/// # Safety
///
/// The marker reads memory on the strength of these answers. `find_object`
/// returns only slots of `elemsize` bytes that stay allocated and readable
/// during the mark; `HeapBits` masks flag words inside the slot; a `Header`
/// word is 0 (an object without a type, skipped) or the `&'static TypeInfo` of
/// the valid value that follows the header.
///
/// ```
/// use gort_gc::MarkHeap;
/// let heap = gort_alloc::Heap::new();
/// let p = heap.new_mcache().alloc(64, true) as usize;
/// let (span, _, i) = MarkHeap::find_object(&*heap, p + 10).unwrap();
/// assert!(heap.set_marked(span, i));
/// assert!(!heap.set_marked(span, i), "already marked");
/// ```
pub unsafe trait MarkHeap: Sync {
    /// A span (whatever the heap groups objects by).
    type Span: ?Sized;
    /// The allocated object whose slot holds `addr`, as (span, slot address,
    /// slot index); `None` if `addr` is in no allocated slot (Go's
    /// `findObject` plus the `isFree` check of `scanConservative`).
    fn find_object(&self, addr: usize) -> Option<(&Self::Span, usize, usize)>;
    /// Bytes per slot of the span.
    fn elemsize(&self, span: &Self::Span) -> usize;
    /// Sets the slot's mark bit atomically; true if this call set it.
    fn set_marked(&self, span: &Self::Span, index: usize) -> bool;
    /// Whether the slot's mark bit is set.
    fn is_marked(&self, span: &Self::Span, index: usize) -> bool;
    /// How to scan the allocated object in the slot.
    fn object_kind(&self, span: &Self::Span, slot: usize, index: usize) -> ObjectKind;
}

// SAFETY: `Heap::find_object` answers exactly while no span is freed (the
// caller's condition for marking), `!is_free` keeps to allocated slots, heap
// bits cover the slot's words, and header words are written only by
// `MCache::alloc_header`, whose contract makes them `gort-gc`'s `TypeInfo`s
// (or are 0, in a slot allocated untyped and zeroed). One hole is left to
// unsafe code: an untyped scan object over 512 bytes (`MCache::alloc(size,
// false)`) whose first word the program set through a raw pointer would be
// trusted as a header. A heap the collector manages must take its scan objects
// through typed allocation only (docs/gc.md, "What is not built yet").
unsafe impl MarkHeap for gort_alloc::Heap {
    type Span = MSpan;
    #[inline]
    fn find_object(&self, addr: usize) -> Option<(&MSpan, usize, usize)> {
        let (span, base, index) = gort_alloc::Heap::find_object(self, addr)?;
        (!span.is_free(index)).then_some((span, base, index))
    }
    #[inline]
    fn elemsize(&self, span: &MSpan) -> usize {
        span.elemsize()
    }
    #[inline]
    fn set_marked(&self, span: &MSpan, index: usize) -> bool {
        span.mark(index)
    }
    #[inline]
    fn is_marked(&self, span: &MSpan, index: usize) -> bool {
        span.is_marked(index)
    }
    #[inline]
    fn object_kind(&self, span: &MSpan, slot: usize, index: usize) -> ObjectKind {
        if span.spanclass().noscan() {
            ObjectKind::NoScan
        } else if span.has_header(index) {
            ObjectKind::Header(span.header(slot))
        } else {
            ObjectKind::HeapBits(span.heap_bits(slot))
        }
    }
}

impl GcWork<'_> {
    /// Greys the object holding `addr`, if it is an allocated, unmarked heap
    /// object (Go's `shade`: `findObject` then `greyobject`). Returns whether
    /// this call marked it.
    ///
    /// ```
    /// use gort_gc::{GcWork, Work};
    /// let heap = gort_alloc::Heap::new();
    /// let p = heap.new_mcache().alloc(48, true) as usize;
    /// let work = Work::new();
    /// let mut gcw = GcWork::new(&work);
    /// assert!(gcw.shade(&*heap, p + 47)); // an interior pointer
    /// assert!(!gcw.shade(&*heap, p));
    /// assert!(!gcw.shade(&*heap, 0x10), "not in the heap");
    /// ```
    #[inline]
    pub fn shade<H: MarkHeap + ?Sized>(&mut self, heap: &H, addr: usize) -> bool {
        match heap.find_object(addr) {
            Some((span, slot, index)) => self.greyobject(heap, span, slot, index),
            None => false,
        }
    }

    /// Marks the object in `slot` and queues it for scanning unless it is
    /// noscan (Go's `greyobject`). Returns whether this call marked it.
    #[inline]
    fn greyobject<H: MarkHeap + ?Sized>(
        &mut self,
        heap: &H,
        span: &H::Span,
        slot: usize,
        index: usize,
    ) -> bool {
        if !heap.set_marked(span, index) {
            return false;
        }
        self.bytes_marked += heap.elemsize(span) as u64;
        if heap.object_kind(span, slot, index) != ObjectKind::NoScan {
            self.put(slot);
        }
        true
    }

    /// Scans the grey object in `slot`: shades every pointer it holds (Go's
    /// `scanobject`).
    fn scanobject<H: MarkHeap + ?Sized>(&mut self, heap: &H, slot: usize) {
        let Some((span, base, index)) = heap.find_object(slot) else {
            debug_assert!(false, "a grey object at {slot:#x} is not in the heap");
            return;
        };
        debug_assert_eq!(base, slot);
        match heap.object_kind(span, slot, index) {
            ObjectKind::NoScan => {}
            ObjectKind::HeapBits(mask) => self.scan_mask(heap, slot, mask),
            // A scan slot allocated untyped (`MCache::alloc(size, false)`)
            // has a zero word where a header would be: nothing to follow.
            ObjectKind::Header(0) => {}
            ObjectKind::Header(h) => {
                // SAFETY: a non-zero header holds the `&'static TypeInfo` that
                // `malloc.rs` stored when it allocated the object (`MarkHeap`'s
                // contract).
                let info = unsafe { &*(h as *const TypeInfo) };
                // SAFETY: the object after the header is a live, allocated value
                // of the type `info` describes (it is marked: reachable).
                unsafe { self.scan_typed(heap, slot + header_object_offset(info.align), info) };
            }
        }
    }

    /// Shades the words of `base` whose bits are set in `mask`.
    #[inline]
    fn scan_mask<H: MarkHeap + ?Sized>(&mut self, heap: &H, base: usize, mut mask: u64) {
        while mask != 0 {
            let i = mask.trailing_zeros() as usize;
            // SAFETY: word `i` of a live object (the mask describes its words),
            // 8-aligned; pointer words are only written atomically or before
            // the object was published.
            let p = unsafe { word_at(base + 8 * i) }.load(Ordering::Relaxed);
            if p != 0 {
                self.shade(heap, p);
            }
            mask &= mask - 1;
        }
    }

    /// Shades the pointers of the value of type `info` at `obj`.
    ///
    /// # Safety
    /// `obj` holds a live value of the type `info` describes.
    unsafe fn scan_typed<H: MarkHeap + ?Sized>(&mut self, heap: &H, obj: usize, info: &TypeInfo) {
        match info.pointers {
            Pointers::None => {}
            Pointers::Mask(m) => self.scan_mask(heap, obj, m),
            Pointers::Bitmap(bits) => {
                for (w, &m) in bits.iter().enumerate() {
                    self.scan_mask(heap, obj + w * 64 * 8, m);
                }
            }
            Pointers::Trace => {
                let mut grey = |p: usize| {
                    self.shade(heap, p);
                };
                // SAFETY: the caller's promise: a live value of the type.
                unsafe { (info.trace)(obj as *const u8, &mut Tracer::new(&mut grey)) };
            }
            Pointers::Array(elem) => {
                // The array object (`array.rs`): a length word, then elements
                // from `info.size` on.
                // SAFETY: word 0 of a live array object, its length (atomic).
                let len = unsafe { word_at(obj) }.load(Ordering::Acquire);
                for i in 0..len {
                    // SAFETY: elements below the published length are valid.
                    unsafe { self.scan_typed(heap, obj + info.size + i * elem.size, elem) };
                }
            }
        }
    }

    /// Scans grey objects until every marker taking part in the mark is out of
    /// work (Go's `gcDrain`; with the world stopped, Go 1.4's termination:
    /// `mgcwork.rs`). Call it from each of the `nproc` markers given to
    /// [`Work::start`].
    ///
    /// ```
    /// use gort_gc::{alloc_in, Gc, GcWork, Trace, Work};
    /// #[derive(Trace)]
    /// struct Link {
    ///     next: Option<Gc<Link>>,
    /// }
    /// let heap = gort_alloc::Heap::new();
    /// let mut c = heap.new_mcache();
    /// let mut list = None;
    /// for _ in 0..1000 {
    ///     list = Some(alloc_in(&mut c, Link { next: list }));
    /// }
    /// let work = Work::new();
    /// work.start(1);
    /// let mut gcw = GcWork::new(&work);
    /// gcw.shade(&*heap, Gc::addr(list.unwrap()));
    /// gcw.gc_drain(&*heap);
    /// gcw.dispose();
    /// assert_eq!(work.bytes_marked(), 1000 * 8);
    /// ```
    pub fn gc_drain<H: MarkHeap + ?Sized>(&mut self, heap: &H) {
        loop {
            if self.work.full_list_is_empty() {
                self.balance();
            }
            match self.get(true) {
                Some(obj) => self.scanobject(heap, obj),
                None => return,
            }
        }
    }

    /// Shades every word of `[start, start + len)` that points into an allocated
    /// object — a root range whose pointers are not known, such as a stack
    /// (Go's `scanConservative`). `start` and `len` are rounded to words.
    ///
    /// # Safety
    /// The range is readable memory that nobody writes while it is scanned.
    ///
    /// ```
    /// use gort_gc::{GcWork, Work};
    /// let heap = gort_alloc::Heap::new();
    /// let p = heap.new_mcache().alloc(32, true) as usize;
    /// let frame = [7usize, p + 12, 0x1234]; // an interior pointer among ints
    /// let work = Work::new();
    /// let mut gcw = GcWork::new(&work);
    /// // SAFETY (of this example): `frame` is a readable local array.
    /// unsafe { gcw.scan_conservative(&*heap, frame.as_ptr() as usize, 24) };
    /// let (span, _, i) = heap.find_object(p).unwrap();
    /// assert!(span.is_marked(i));
    /// ```
    pub unsafe fn scan_conservative<H: MarkHeap + ?Sized>(
        &mut self,
        heap: &H,
        start: usize,
        len: usize,
    ) {
        let mut a = (start + 7) & !7;
        let end = (start + len) & !7;
        while a < end {
            // SAFETY: an aligned word of the readable range, which nobody writes
            // meanwhile (caller's promise): a plain read. (Not an atomic one: the
            // range may be memory that only a shared reference may read.)
            let w = unsafe { std::ptr::read(a as *const usize) };
            if w != 0 {
                self.shade(heap, w);
            }
            a += 8;
        }
    }

    /// Shades every root of `roots` (the `markroot` job for `Root<T>`
    /// handles).
    ///
    /// ```
    /// use gort_gc::{alloc_in, GcWork, Root, RootSet, Work};
    /// let heap = gort_alloc::Heap::new();
    /// let g = alloc_in(&mut heap.new_mcache(), 5u64);
    /// let roots = RootSet::new();
    /// let _r = Root::new_in(&roots, g);
    /// let work = Work::new();
    /// let mut gcw = GcWork::new(&work);
    /// gcw.mark_root_set(&*heap, &roots);
    /// assert!(heap.find_object(gort_gc::Gc::addr(g)).map(|(s, _, i)| s.is_marked(i)).unwrap());
    /// ```
    pub fn mark_root_set<H: MarkHeap + ?Sized>(&mut self, heap: &H, roots: &RootSet) {
        roots.for_each(|p| {
            self.shade(heap, p);
        });
    }
}

/// Marks everything reachable from the roots `roots` shades, with `nworkers`
/// markers draining in parallel (this thread and `nworkers − 1` scoped
/// threads) — Go's `gcMark` with the world stopped. `roots` runs on this
/// thread's marker first; the other markers wait for work it publishes. Returns
/// the bytes marked.
///
/// The caller keeps the heap from changing meanwhile: no allocation, no sweep
/// (in the runtime: the world stopped, sweeping finished).
///
/// ```
/// use gort_gc::{alloc_in, mark, Gc, GcArray, GcWork, Work};
/// let heap = gort_alloc::Heap::new();
/// let mut c = heap.new_mcache();
/// let cells: Vec<Gc<u64>> = (0..10_000).map(|i| alloc_in(&mut c, i)).collect();
/// let all = GcArray::from_vec_in(&mut c, cells.clone());
/// let work = Work::new();
/// let bytes = mark(&*heap, &work, 2, |gcw: &mut GcWork<'_>| {
///     gcw.shade(&*heap, GcArray::addr(all));
/// });
/// assert!(bytes >= 10_000 * 8);
/// let marked = |g: &Gc<u64>| heap.find_object(Gc::addr(*g)).map(|(s, _, i)| s.is_marked(i));
/// assert!(cells.iter().all(|g| marked(g) == Some(true)));
/// ```
pub fn mark<H: MarkHeap + ?Sized>(
    heap: &H,
    work: &Work,
    nworkers: usize,
    roots: impl FnOnce(&mut GcWork<'_>),
) -> u64 {
    work.start(nworkers);
    std::thread::scope(|s| {
        for _ in 1..nworkers {
            s.spawn(|| GcWork::new(work).gc_drain(heap));
        }
        let mut gcw = GcWork::new(work);
        roots(&mut gcw);
        gcw.gc_drain(heap);
    });
    work.bytes_marked()
}

#[cfg(all(test, not(loom)))]
mod tests {
    //! One scenario — every object kind, every root kind, live and dead objects
    //! — run against the mock heap (also under Miri) and the real span heap.

    use super::*;
    use crate::malloc::{alloc_in, SlotAlloc};
    use crate::mockheap::MockHeap;
    use crate::{Gc, GcArray, GcSlot, Root, Trace};

    #[derive(Trace)]
    struct Node {
        left: Option<Gc<Node>>,
        right: Option<Gc<Node>>,
    }

    /// Over 512 bytes: a malloc header and a bitmap.
    #[derive(Trace)]
    struct Big {
        pad: [u64; 70],
        child: Option<Gc<Node>>,
        slot: GcSlot<Node>,
    }

    /// An enum: a header and the trace function.
    #[derive(Trace)]
    enum Expr {
        Num(u64),
        Pair(Gc<Node>, Gc<Node>),
        Ref { to: Gc<Expr> },
    }

    #[derive(Trace)]
    struct Holder {
        items: GcArray<Gc<Node>>,
    }

    /// Drop glue: a header even though small.
    #[derive(Trace)]
    struct Named {
        name: String,
        next: Option<Gc<Node>>,
    }

    /// Over 32 KiB: a span of its own, with a header.
    #[derive(Trace)]
    struct Huge {
        data: [u64; 5000],
        child: Option<Gc<Node>>,
    }

    #[derive(Trace)]
    struct Cyc {
        other: GcSlot<Cyc>,
    }

    /// Builds the graph through `a`, marks it from its roots with `nworkers`
    /// markers, and checks exactly the reachable objects are marked. Returns
    /// (live, dead) object addresses.
    fn scenario<H: MarkHeap, A: SlotAlloc>(
        heap: &H,
        mut a: A,
        nworkers: usize,
        marked: impl Fn(usize) -> bool,
    ) -> (Vec<usize>, Vec<usize>) {
        let a = &mut a;
        let leaf = |a: &mut A| {
            alloc_in(
                a,
                Node {
                    left: None,
                    right: None,
                },
            )
        };
        let mut live = Vec::new();
        let mut dead = Vec::new();

        // Reached from a Root: a header object (bitmap) and what it points at,
        // through a plain field and a GcSlot.
        let n2 = leaf(a);
        let n1 = alloc_in(
            a,
            Node {
                left: Some(n2),
                right: None,
            },
        );
        let n3 = leaf(a);
        let big = alloc_in(
            a,
            Big {
                pad: [7; 70],
                child: Some(n1),
                slot: GcSlot::new(None),
            },
        );
        big.slot.store(Some(n3));
        live.extend([Gc::addr(n1), Gc::addr(n2), Gc::addr(n3), Gc::addr(big)]);

        // Reached only through an interior pointer in a conservative range:
        // an enum (trace function) and what it points at.
        let (n4, n5) = (leaf(a), leaf(a));
        let e1 = alloc_in(a, Expr::Pair(n4, n5));
        live.extend([Gc::addr(e1), Gc::addr(n4), Gc::addr(n5)]);

        // A chain of enums from a root.
        let e3 = alloc_in(a, Expr::Num(1));
        let e2 = alloc_in(a, Expr::Ref { to: e3 });
        live.extend([Gc::addr(e2), Gc::addr(e3)]);

        // Arrays: a small one (heap bits tiled) and, natively, a big one (a
        // header and `Pointers::Array`).
        let (n6, n7) = (leaf(a), leaf(a));
        let small = GcArray::from_vec_in(a, vec![n6, n7]);
        let holder = alloc_in(a, Holder { items: small });
        live.extend([
            Gc::addr(holder),
            GcArray::addr(small),
            Gc::addr(n6),
            Gc::addr(n7),
        ]);
        let nbig = if cfg!(miri) { 70 } else { 1000 };
        let kids: Vec<Gc<Node>> = (0..nbig).map(|_| leaf(a)).collect();
        let arr = GcArray::from_vec_in(a, kids.clone());
        live.push(GcArray::addr(arr));
        live.extend(kids.iter().map(|k| Gc::addr(*k)));

        // Drop glue forces a header; a huge object gets a span of its own.
        let n8 = leaf(a);
        let named = alloc_in(
            a,
            Named {
                name: "n".repeat(40),
                next: Some(n8),
            },
        );
        let n9 = leaf(a);
        let huge = alloc_in(
            a,
            Huge {
                data: [3; 5000],
                child: Some(n9),
            },
        );
        live.extend([Gc::addr(named), Gc::addr(n8), Gc::addr(huge), Gc::addr(n9)]);

        // Garbage: pointing into the live graph, or a cycle, reached by nothing.
        let g1 = alloc_in(
            a,
            Node {
                left: Some(n1),
                right: Some(n2),
            },
        );
        let g2 = alloc_in(
            a,
            Big {
                pad: [0; 70],
                child: Some(g1),
                slot: GcSlot::new(None),
            },
        );
        let g3 = alloc_in(a, Expr::Pair(n4, g1));
        let c1 = alloc_in(
            a,
            Cyc {
                other: GcSlot::new(None),
            },
        );
        let c2 = alloc_in(
            a,
            Cyc {
                other: GcSlot::new(Some(c1)),
            },
        );
        c1.other.store(Some(c2));
        let g4 = alloc_in(a, 99u64); // noscan
        dead.extend([
            Gc::addr(g1),
            Gc::addr(g2),
            Gc::addr(g3),
            Gc::addr(c1),
            Gc::addr(c2),
            Gc::addr(g4),
        ]);

        let roots = crate::RootSet::new();
        let r1 = Root::new_in(&roots, big);
        let r2 = Root::new_in(&roots, e2);
        let r3 = Root::new_in(&roots, holder);
        let r4 = Root::new_in(&roots, arr.iter().next().copied().expect("non-empty"));
        let r5 = Root::new_in(&roots, named);
        let r6 = Root::new_in(&roots, huge);
        let arr_holder = alloc_in(a, Holder { items: arr });
        let r7 = Root::new_in(&roots, arr_holder);
        live.push(Gc::addr(arr_holder));
        let frame: [usize; 4] = [7, Gc::addr(e1) + 5, 0xdead_beef, 0];

        let work = Work::new();
        let bytes = mark(heap, &work, nworkers, |gcw: &mut GcWork<'_>| {
            gcw.mark_root_set(heap, &roots);
            // SAFETY: `frame` is a readable local array.
            unsafe {
                gcw.scan_conservative(heap, frame.as_ptr() as usize, std::mem::size_of_val(&frame))
            };
        });
        assert!(bytes > 0);
        for (i, &p) in live.iter().enumerate() {
            assert!(marked(p), "live object {i} at {p:#x} not marked");
        }
        for (i, &p) in dead.iter().enumerate() {
            assert!(!marked(p), "dead object {i} at {p:#x} marked");
        }
        drop((r1, r2, r3, r4, r5, r6, r7));
        (live, dead)
    }

    #[test]
    fn mock_heap_marks_exactly_the_reachable_objects() {
        let heap = MockHeap::new();
        scenario(&heap, &heap, 1, |p| heap.marked(p));
        assert!(heap.objects() > 20);
    }

    #[test]
    fn mock_heap_two_markers_mark_exactly_the_reachable_objects() {
        let heap = MockHeap::new();
        scenario(&heap, &heap, 2, |p| heap.marked(p));
    }

    #[test]
    #[cfg(not(miri))]
    fn span_heap_marks_exactly_the_reachable_objects_and_the_sweep_keeps_them() {
        let heap = gort_alloc::Heap::new();
        let mut cache = heap.new_mcache();
        let marked = |p: usize| {
            let (s, _, i) = gort_alloc::Heap::find_object(&heap, p).expect("an object");
            s.is_marked(i)
        };
        let (live, dead) = scenario(&*heap, &mut cache, 2, marked);
        heap.start_sweep();
        cache.prepare_for_sweep();
        heap.finish_sweep();
        for &p in &live {
            assert!(
                MarkHeap::find_object(&*heap, p).is_some(),
                "a live object was freed"
            );
        }
        for &p in &dead {
            assert!(
                MarkHeap::find_object(&*heap, p).is_none(),
                "a dead object survived"
            );
        }
    }

    #[cfg(not(miri))]
    #[derive(Trace)]
    struct R {
        id: u64,
        kids: [GcSlot<R>; 3],
    }

    /// A random graph of 20,000 objects, marked by two markers, against a
    /// breadth-first search of the same graph; then swept, and the survivors
    /// still hold their ids.
    #[test]
    #[cfg(not(miri))]
    fn random_graph_matches_a_reference_search() {
        let heap = gort_alloc::Heap::new();
        let mut c = heap.new_mcache();
        let n = 20_000;
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut rnd = move |m: usize| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % m as u64) as usize
        };
        let objs: Vec<Gc<R>> = (0..n)
            .map(|i| {
                let kids = std::array::from_fn(|_| GcSlot::new(None));
                alloc_in(&mut c, R { id: i as u64, kids })
            })
            .collect();
        let mut edges = vec![Vec::new(); n];
        for (i, o) in objs.iter().enumerate() {
            for k in &o.kids {
                if rnd(4) != 0 {
                    let j = rnd(n);
                    k.store(Some(objs[j]));
                    edges[i].push(j);
                }
            }
        }
        let roots: Vec<usize> = (0..5).map(|_| rnd(n)).collect();
        let mut want = vec![false; n];
        let mut stack = roots.clone();
        while let Some(i) = stack.pop() {
            if !std::mem::replace(&mut want[i], true) {
                stack.extend(&edges[i]);
            }
        }
        let set = crate::RootSet::new();
        let handles: Vec<_> = roots.iter().map(|&i| Root::new_in(&set, objs[i])).collect();
        let work = Work::new();
        let bytes = mark(&*heap, &work, 2, |g: &mut GcWork<'_>| {
            g.mark_root_set(&*heap, &set)
        });
        let mut nlive = 0;
        for (i, o) in objs.iter().enumerate() {
            let (s, _, k) = gort_alloc::Heap::find_object(&heap, Gc::addr(*o)).unwrap();
            assert_eq!(s.is_marked(k), want[i], "object {i}");
            nlive += want[i] as u64;
        }
        assert_eq!(bytes, nlive * 32);
        heap.start_sweep();
        c.prepare_for_sweep();
        heap.finish_sweep();
        drop(handles);
        for (i, o) in objs.iter().enumerate() {
            if want[i] {
                assert_eq!(o.id, i as u64);
            }
        }
    }

    /// An object allocated untyped in a scan span over 512 bytes has no header
    /// (its first word is zero): the marker marks it and looks no further.
    #[test]
    #[cfg(not(miri))]
    fn an_untyped_scan_object_is_marked_and_not_followed() {
        let heap = gort_alloc::Heap::new();
        let mut c = heap.new_mcache();
        let raw = c.alloc(1000, false) as usize;
        let work = Work::new();
        mark(&*heap, &work, 1, |g: &mut GcWork<'_>| {
            assert!(g.shade(&*heap, raw + 100));
        });
        let (s, _, i) = gort_alloc::Heap::find_object(&heap, raw).unwrap();
        assert!(s.is_marked(i) && s.has_header(i));
        assert_eq!(work.bytes_marked(), 1024);
    }
}
