//! The managed object handles: `Gc<T>`, `GcSlot<T>`, `NoGc<T>`.
//!
//! # Design
//!
//! A [`Gc<T>`] is a pointer to a `T` in the span heap: one word, `Copy`, and
//! `Deref` to `&T` — never to `&mut T`. Nothing hands out `&mut` into a GC
//! object: its fields are fixed when it is allocated, and the only pointers that
//! can change are [`GcSlot`]s, atomic words whose `store` is where the write
//! barrier goes (`mbarrier.rs`). That is what lets a marker on another thread
//! read an object's pointer words while the program runs (part 2's concurrent
//! mark) without a data race: plain fields are never written after the object
//! is published, and slots are atomics. Other mutable state in an object is
//! pointer-free interior mutability (atomics, a `Mutex<u64>`), which the marker
//! never reads.
//!
//! [`NoGc<T>`] wraps a pointer-free type of one's own (`#[derive(NoTrace)]`) so
//! that it can be a field of a traced type.
//!
//! # The soundness rule, and where this slice stands
//!
//! A `Gc` is `Copy`: safe code can put it anywhere — a goroutine's stack, a GC
//! object, a `Root<T>`, but also a plain thread's stack or a `static`.
//! ARCHITECTURE §6 requires the collector to see all of these (or fail loudly)
//! before it frees anything. This crate does not collect on its own yet: memory
//! is freed only by a sweep someone runs (`gort_alloc::Heap::start_sweep`)
//! after a mark that found every root. Until the runtime supplies stacks,
//! statics and the Rust heap as roots (`docs/gc.md`), a sweep run by hand
//! after marking from too few roots frees objects still in use.

use crate::trace::{NoTrace, Pointers, Trace, Tracer};
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A pointer to a garbage-collected `T` (one word, `Copy`).
///
/// ```
/// use gort_gc::{Gc, Trace};
/// #[derive(Trace)]
/// struct Node {
///     left: Option<Gc<Node>>,
///     right: Option<Gc<Node>>,
/// }
/// let leaf = Gc::new(Node { left: None, right: None });
/// let root = Gc::new(Node { left: Some(leaf), right: Some(leaf) });
/// assert!(Gc::ptr_eq(root.left.unwrap(), root.right.unwrap()));
/// assert_eq!(std::mem::size_of::<Option<Gc<Node>>>(), 8);
/// ```
#[repr(transparent)]
pub struct Gc<T: Trace> {
    ptr: NonNull<T>,
}

// SAFETY: a `Gc<T>` only gives `&T`, and `T: Trace` is `Send + Sync`: sharing
// or sending the handle is sharing a `&T` (as `Arc<T>` is Send + Sync for them).
unsafe impl<T: Trace> Send for Gc<T> {}
// SAFETY: as for `Send`.
unsafe impl<T: Trace> Sync for Gc<T> {}

impl<T: Trace> Clone for Gc<T> {
    #[inline(always)]
    fn clone(&self) -> Gc<T> {
        *self
    }
}

impl<T: Trace> Copy for Gc<T> {}

impl<T: Trace> Gc<T> {
    /// Allocates `v` in the process-wide heap through the current allocation
    /// context ([`crate::alloc`]).
    ///
    /// ```
    /// let g = gort_gc::Gc::new(42u64);
    /// assert_eq!(*g, 42);
    /// ```
    #[inline]
    pub fn new(v: T) -> Gc<T> {
        crate::malloc::alloc(v)
    }

    /// The object's address (where the `T` starts).
    ///
    /// ```
    /// let g = gort_gc::Gc::new(1u32);
    /// assert_eq!(gort_gc::Gc::addr(g), &*g as *const u32 as usize);
    /// ```
    #[inline(always)]
    pub fn addr(this: Gc<T>) -> usize {
        this.ptr.as_ptr() as usize
    }

    /// The object as a raw pointer (for reading only: nothing may write through
    /// it).
    ///
    /// ```
    /// let g = gort_gc::Gc::new(5u8);
    /// // SAFETY (of this example): `g` is live and the pointer is only read.
    /// assert_eq!(unsafe { *gort_gc::Gc::as_ptr(g) }, 5);
    /// ```
    #[inline(always)]
    pub fn as_ptr(this: Gc<T>) -> *const T {
        this.ptr.as_ptr()
    }

    /// Whether two handles point at the same object.
    ///
    /// ```
    /// use gort_gc::Gc;
    /// let (a, b) = (Gc::new(1u8), Gc::new(1u8));
    /// assert!(Gc::ptr_eq(a, a) && !Gc::ptr_eq(a, b));
    /// ```
    #[inline(always)]
    pub fn ptr_eq(a: Gc<T>, b: Gc<T>) -> bool {
        a.ptr == b.ptr
    }

    /// A handle from a pointer that [`Gc::as_ptr`] returned.
    ///
    /// # Safety
    /// `p` came from a `Gc<T>` whose object is still live.
    ///
    /// ```
    /// let g = gort_gc::Gc::new(3u16);
    /// // SAFETY (of this example): from `as_ptr` of a live object.
    /// let h = unsafe { gort_gc::Gc::from_raw(gort_gc::Gc::as_ptr(g)) };
    /// assert!(gort_gc::Gc::ptr_eq(g, h));
    /// ```
    #[inline(always)]
    pub unsafe fn from_raw(p: *const T) -> Gc<T> {
        Gc {
            // SAFETY: from a `Gc`, so not null (the caller's promise).
            ptr: unsafe { NonNull::new_unchecked(p as *mut T) },
        }
    }
}

impl<T: Trace> std::ops::Deref for Gc<T> {
    type Target = T;
    #[inline(always)]
    fn deref(&self) -> &T {
        // SAFETY: the object is live while it is reachable, and a `Gc` the
        // program holds is reachable — the collector's contract (module
        // comment). Nothing writes a GC object through `&mut`, so a shared
        // reference is never aliased by a mutable one.
        unsafe { self.ptr.as_ref() }
    }
}

impl<T: Trace + std::fmt::Debug> std::fmt::Debug for Gc<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&**self, f)
    }
}

impl<T: Trace + std::fmt::Display> std::fmt::Display for Gc<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&**self, f)
    }
}

// SAFETY: one word, the object's address: bit 0 of the mask, and `trace`
// reports it.
unsafe impl<T: Trace> Trace for Gc<T> {
    const POINTERS: Pointers = Pointers::Mask(1);
    #[inline(always)]
    fn trace(&self, tracer: &mut Tracer<'_>) {
        tracer.visit(*self);
    }
}

/// The one mutable GC pointer: an atomic word holding an `Option<Gc<T>>`.
///
/// Every pointer that changes after its object is allocated is a `GcSlot`;
/// [`GcSlot::store`] runs the write barrier hook
/// ([`gc_write_barrier`](crate::mbarrier::gc_write_barrier)) with the old and
/// the new pointer.
///
/// ```
/// use gort_gc::{Gc, GcSlot, Trace};
/// #[derive(Trace)]
/// struct List {
///     value: u64,
///     next: GcSlot<List>,
/// }
/// let a = Gc::new(List { value: 1, next: GcSlot::new(None) });
/// let b = Gc::new(List { value: 2, next: GcSlot::new(None) });
/// a.next.store(Some(b));
/// assert_eq!(a.next.load().unwrap().value, 2);
/// ```
#[repr(transparent)]
pub struct GcSlot<T: Trace> {
    /// The object's address, or 0. A std atomic in every build: the marker reads
    /// it by address (`loom.rs`).
    word: AtomicUsize,
    _t: PhantomData<Gc<T>>,
}

impl<T: Trace> GcSlot<T> {
    /// A slot holding `v`.
    ///
    /// ```
    /// let s: gort_gc::GcSlot<u64> = gort_gc::GcSlot::new(None);
    /// assert!(s.load().is_none());
    /// ```
    pub fn new(v: Option<Gc<T>>) -> GcSlot<T> {
        GcSlot {
            word: AtomicUsize::new(v.map_or(0, Gc::addr)),
            _t: PhantomData,
        }
    }

    /// The pointer in the slot (no read barrier: the collector never moves
    /// objects).
    ///
    /// ```
    /// let g = gort_gc::Gc::new(9u64);
    /// let s = gort_gc::GcSlot::new(Some(g));
    /// assert_eq!(*s.load().unwrap(), 9);
    /// ```
    #[inline]
    pub fn load(&self) -> Option<Gc<T>> {
        let p = self.word.load(Ordering::Acquire);
        // SAFETY: the word holds 0 or the address of a live `T` (stored from a
        // `Gc<T>`); `from_raw` of a live object's address.
        (p != 0).then(|| unsafe { Gc::from_raw(p as *const T) })
    }

    /// Puts `v` in the slot, through the write barrier (Go's `*slot = ptr` with
    /// `writeBarrier.enabled` checked first).
    ///
    /// ```
    /// let s = gort_gc::GcSlot::new(Some(gort_gc::Gc::new(1u8)));
    /// s.store(None);
    /// assert!(s.load().is_none());
    /// ```
    #[inline]
    pub fn store(&self, v: Option<Gc<T>>) {
        self.swap(v);
    }

    /// Puts `v` in the slot and returns what was there, through the write
    /// barrier.
    ///
    /// ```
    /// use gort_gc::{Gc, GcSlot};
    /// let (a, b) = (Gc::new(1u8), Gc::new(2u8));
    /// let s = GcSlot::new(Some(a));
    /// assert!(Gc::ptr_eq(s.swap(Some(b)).unwrap(), a));
    /// ```
    #[inline]
    pub fn swap(&self, v: Option<Gc<T>>) -> Option<Gc<T>> {
        let new = v.map_or(0, Gc::addr);
        let old = self.word.swap(new, Ordering::AcqRel);
        crate::mbarrier::gc_write_barrier(old, new);
        // SAFETY: as in `load`: the word held 0 or a live `T`'s address.
        (old != 0).then(|| unsafe { Gc::from_raw(old as *const T) })
    }
}

impl<T: Trace> std::fmt::Debug for GcSlot<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GcSlot({:#x})", self.word.load(Ordering::Relaxed))
    }
}

// SAFETY: one word holding 0 or an object's address: bit 0 of the mask;
// `trace` reports what `load` sees.
unsafe impl<T: Trace> Trace for GcSlot<T> {
    const POINTERS: Pointers = Pointers::Mask(1);
    #[inline]
    fn trace(&self, tracer: &mut Tracer<'_>) {
        tracer.visit_addr(self.word.load(Ordering::Acquire));
    }
}

/// A field of pointer-free data of one's own type (`#[derive(NoTrace)]`) inside
/// a traced type. The collector never looks inside it.
///
/// ```
/// use gort_gc::{Gc, NoGc, NoTrace, Trace};
/// #[derive(NoTrace, Debug, PartialEq)]
/// struct Point {
///     x: i64,
///     y: i64,
/// }
/// #[derive(Trace)]
/// struct Shape {
///     origin: NoGc<Point>,
///     parent: Option<Gc<Shape>>,
/// }
/// let s = Gc::new(Shape { origin: NoGc::new(Point { x: 1, y: 2 }), parent: None });
/// assert_eq!(*s.origin, Point { x: 1, y: 2 });
/// ```
#[repr(transparent)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NoGc<T: NoTrace>(T);

impl<T: NoTrace> NoGc<T> {
    /// Wraps `v`.
    ///
    /// ```
    /// let n = gort_gc::NoGc::new(3u8);
    /// assert_eq!(*n, 3);
    /// ```
    pub const fn new(v: T) -> NoGc<T> {
        NoGc(v)
    }

    /// Unwraps a value that is not in the GC heap (one in the heap cannot be
    /// moved out: there is no `&mut` to it).
    ///
    /// ```
    /// assert_eq!(gort_gc::NoGc::new(String::from("a")).into_inner(), "a");
    /// ```
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T: NoTrace> std::ops::Deref for NoGc<T> {
    type Target = T;
    #[inline(always)]
    fn deref(&self) -> &T {
        &self.0
    }
}

// SAFETY: `T: NoTrace` holds no GC pointer.
unsafe impl<T: NoTrace> Trace for NoGc<T> {
    const POINTERS: Pointers = Pointers::None;
    #[inline(always)]
    fn trace(&self, _: &mut Tracer<'_>) {}
}
