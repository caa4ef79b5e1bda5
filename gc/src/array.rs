//! Arrays in the GC heap: `GcArray<T>` (fixed) and `GcVec<T>` (growable).
//!
//! A Rust `Vec<Gc<T>>` keeps its elements on the Rust heap, where the collector
//! does not look, so the derive refuses it as a field. These are the GC heap's
//! own arrays. Both sit on one object kind, the array object: a length word, a
//! capacity word, then `cap` elements — Go's slice backing array, with its
//! length inside. Its [`TypeInfo`] says [`Pointers::Array`] with the element's
//! description; small ones get the element's mask tiled into the span's heap
//! bits, bigger ones a malloc header (`malloc.rs`), and the marker scans `len`
//! elements.
//!
//! - [`GcArray<T>`]: one word, `Copy`, `Deref` to `&[T]`; its elements are fixed
//!   when it is built (elements that must change are `GcSlot`s).
//! - [`GcVec<T>`]: grows with `push(&self, v)` — shared, never `&mut` into GC
//!   memory. A push writes the element beyond the published length, then
//!   publishes the new length (release); a full buffer is replaced by one twice
//!   as big, the elements copied, and the new buffer published through a
//!   `GcSlot`. Pushers serialise on a small lock; readers take none. Elements
//!   must be `Copy`: a reader may still hold `&T` into an old buffer after a
//!   grow, and a copied non-`Copy` element (a `String`) would then have two
//!   owners whose drop glue both run.
//!
//! Go's append returns a new slice header and races if two goroutines append to
//! one slice; gort's `GcVec` is the shared, race-free form of the same thing.

use crate::gc::{Gc, GcSlot};
use crate::malloc::{with_cache, SlotAlloc};
use crate::trace::{NoTrace, Pointers, Trace, Tracer};
use crate::typeinfo::{type_info, TypeInfo};
use std::marker::PhantomData;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The array object: `len` and `cap` words, then `cap` elements.
#[repr(C)]
pub(crate) struct ArrayObj<T> {
    /// Elements initialised and published. Written by the one pusher (under
    /// `GcVec::lock`) with release after the element; read with acquire.
    len: AtomicUsize,
    cap: usize,
    /// Gives the struct `T`'s alignment: elements start at `size_of::<Self>()`.
    elems: [T; 0],
}

impl<T: Trace> ArrayObj<T> {
    /// Allocates an array object of `cap` zeroed elements, `len` 0, through `a`.
    fn alloc_in<A: SlotAlloc + ?Sized>(a: &mut A, cap: usize) -> Gc<ArrayObj<T>> {
        let size = cap
            .checked_mul(std::mem::size_of::<T>())
            .and_then(|n| n.checked_add(std::mem::size_of::<ArrayObj<T>>()))
            .expect("gort-gc: array too large");
        let p = crate::malloc::mallocgc(a, Self::INFO, size) as *mut ArrayObj<T>;
        // SAFETY: `p` is fresh, zeroed, aligned memory of `size` bytes that is
        // ours alone; the fixed part is written before anyone sees it.
        unsafe {
            p.write(ArrayObj {
                len: AtomicUsize::new(0),
                cap,
                elems: [],
            })
        };
        // SAFETY: `p` holds a valid `ArrayObj<T>` now.
        unsafe { Gc::from_raw(p) }
    }

    /// The elements, addressed from the object's own pointer — not from a
    /// `&ArrayObj`, whose provenance covers only the fixed part (Miri's
    /// Stacked Borrows says so).
    #[inline]
    fn elems(obj: *const ArrayObj<T>) -> *mut T {
        // SAFETY: the elements start right after the fixed part, inside the
        // object's allocation.
        unsafe { (obj as *mut u8).add(std::mem::size_of::<ArrayObj<T>>()) as *mut T }
    }

    /// The published elements.
    ///
    /// # Safety
    /// `obj` points at a live array object that outlives `'a`.
    #[inline]
    unsafe fn as_slice<'a>(obj: *const ArrayObj<T>) -> &'a [T] {
        // SAFETY: a live object (caller's promise).
        let len = unsafe { &*obj }.len.load(Ordering::Acquire);
        // SAFETY: elements below `len` were written before `len` was published
        // (release/acquire) and are never written again.
        unsafe { std::slice::from_raw_parts(Self::elems(obj), len) }
    }

    /// Writes element `i` (= the current length) and publishes it.
    ///
    /// # Safety
    /// `obj` is a live array object; the caller is its only writer (it holds
    /// the pusher lock, or built the object), and `i < cap` is its length.
    unsafe fn push_at(obj: *const ArrayObj<T>, i: usize, v: T) {
        // SAFETY: a live object (caller's promise).
        let a = unsafe { &*obj };
        debug_assert!(i < a.cap && i == a.len.load(Ordering::Relaxed));
        // SAFETY: slot `i` is inside the object and beyond the published length:
        // no reader looks at it, and the caller is the only writer.
        unsafe { Self::elems(obj).add(i).write(v) };
        a.len.store(i + 1, Ordering::Release);
    }

    const INFO: &'static TypeInfo = &TypeInfo {
        size: std::mem::size_of::<ArrayObj<T>>(),
        align: if std::mem::align_of::<T>() > 8 {
            std::mem::align_of::<T>()
        } else {
            8
        },
        pointers: Pointers::Array(type_info::<T>()),
        trace: Self::trace_erased,
        drop: if std::mem::needs_drop::<T>() {
            Some(Self::drop_erased)
        } else {
            None
        },
        name: std::any::type_name::<ArrayObj<T>>,
    };

    /// # Safety
    /// `p` holds a live `ArrayObj<T>`.
    unsafe fn trace_erased(p: *const u8, tracer: &mut Tracer<'_>) {
        // SAFETY: the caller's promise.
        for v in unsafe { Self::as_slice(p as *const ArrayObj<T>) } {
            v.trace(tracer);
        }
    }

    /// # Safety
    /// `p` holds a dead `ArrayObj<T>`, never used again.
    unsafe fn drop_erased(p: *mut u8) {
        // SAFETY: the caller's promise; the first `len` elements are valid.
        unsafe {
            let a = p as *const ArrayObj<T>;
            std::ptr::drop_in_place(std::ptr::slice_from_raw_parts_mut(
                Self::elems(a),
                (*a).len.load(Ordering::Acquire),
            ));
        }
    }
}

// SAFETY: the marker scans an array object through `Pointers::Array`: the
// length word, then `len` elements by the element's own description; `trace`
// reports the same pointers.
unsafe impl<T: Trace> Trace for ArrayObj<T> {
    const POINTERS: Pointers = Pointers::Array(type_info::<T>());
    /// Not how the marker scans an array object (it goes through the
    /// `TypeInfo`, from the object's address); kept for completeness.
    fn trace(&self, tracer: &mut Tracer<'_>) {
        // SAFETY: `self` is a live array object.
        unsafe { Self::trace_erased(self as *const Self as *const u8, tracer) }
    }
}

/// A fixed-length array in the GC heap: one word, `Copy`, `Deref` to `&[T]`.
///
/// ```
/// use gort_gc::{Gc, GcArray, Trace};
/// #[derive(Trace)]
/// struct Graph {
///     nodes: GcArray<Gc<u64>>,
/// }
/// let nodes: GcArray<Gc<u64>> = (0..5u64).map(Gc::new).collect();
/// let g = Gc::new(Graph { nodes });
/// assert_eq!(g.nodes.iter().map(|n| **n).sum::<u64>(), 10);
/// ```
#[repr(transparent)]
pub struct GcArray<T: Trace> {
    obj: Gc<ArrayObj<T>>,
}

impl<T: Trace> Clone for GcArray<T> {
    fn clone(&self) -> GcArray<T> {
        *self
    }
}

impl<T: Trace> Copy for GcArray<T> {}

impl<T: Trace> GcArray<T> {
    /// An array of `v`'s elements, allocated through the current allocation
    /// context (as [`crate::alloc`]). `.collect()` builds one from an iterator.
    ///
    /// ```
    /// let a = gort_gc::GcArray::from_vec(vec![String::from("a"), String::from("b")]);
    /// assert_eq!(a.join(""), "ab");
    /// let b: gort_gc::GcArray<u32> = (1..=3).collect();
    /// assert_eq!(&b[..], &[1, 2, 3]);
    /// ```
    pub fn from_vec(v: Vec<T>) -> GcArray<T> {
        with_cache(|c| GcArray::from_vec_in(c, v))
    }

    /// An array of `v`'s elements, allocated through `cache`.
    ///
    /// ```
    /// let heap = gort_alloc::Heap::new();
    /// let mut cache = heap.new_mcache();
    /// let a = gort_gc::GcArray::from_vec_in(&mut cache, vec![7u64; 1000]);
    /// assert_eq!(a.len(), 1000);
    /// assert!(heap.find_object(gort_gc::GcArray::addr(a)).is_some());
    /// ```
    pub fn from_vec_in<A: SlotAlloc + ?Sized>(cache: &mut A, v: Vec<T>) -> GcArray<T> {
        let obj = ArrayObj::<T>::alloc_in(cache, v.len());
        for (i, x) in v.into_iter().enumerate() {
            // SAFETY: we built the object and are its only writer; `i` is its
            // length and below its capacity.
            unsafe { ArrayObj::push_at(Gc::as_ptr(obj), i, x) };
        }
        GcArray { obj }
    }

    /// The array object's address (for the collector and tests).
    ///
    /// ```
    /// let a = gort_gc::GcArray::from_vec(vec![1u8]);
    /// assert_ne!(gort_gc::GcArray::addr(a), 0);
    /// ```
    pub fn addr(this: GcArray<T>) -> usize {
        Gc::addr(this.obj)
    }
}

impl<T: Trace> FromIterator<T> for GcArray<T> {
    fn from_iter<I: IntoIterator<Item = T>>(it: I) -> GcArray<T> {
        GcArray::from_vec(it.into_iter().collect())
    }
}

impl<T: Trace> std::ops::Deref for GcArray<T> {
    type Target = [T];
    #[inline]
    fn deref(&self) -> &[T] {
        // SAFETY: the object lives while its handle is reachable (see `Gc`);
        // the slice borrows the handle.
        unsafe { ArrayObj::as_slice(Gc::as_ptr(self.obj)) }
    }
}

impl<T: Trace + std::fmt::Debug> std::fmt::Debug for GcArray<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

// SAFETY: one word, the array object's address, like a `Gc`.
unsafe impl<T: Trace> Trace for GcArray<T> {
    const POINTERS: Pointers = Pointers::Mask(1);
    #[inline]
    fn trace(&self, tracer: &mut Tracer<'_>) {
        tracer.visit(self.obj);
    }
}

/// A growable array in the GC heap, pushed to through `&self`.
///
/// ```
/// use gort_gc::{Gc, GcVec, Trace};
/// #[derive(Trace)]
/// struct Bag {
///     items: GcVec<Gc<u64>>,
/// }
/// let bag = Gc::new(Bag { items: GcVec::new() });
/// for i in 0..100 {
///     bag.items.push(Gc::new(i));
/// }
/// assert_eq!(bag.items.len(), 100);
/// assert_eq!(*bag.items.get(42).unwrap(), 42);
/// ```
#[repr(C)]
pub struct GcVec<T: Trace + Copy> {
    /// The current buffer (none until the first push).
    buf: GcSlot<ArrayObj<T>>,
    /// Serialises pushers; readers never take it.
    lock: parking_lot::Mutex<()>,
    _t: PhantomData<T>,
}

impl<T: Trace + Copy> Default for GcVec<T> {
    fn default() -> Self {
        GcVec::new()
    }
}

impl<T: Trace + Copy> GcVec<T> {
    /// An empty vector (allocates nothing until the first push).
    ///
    /// ```
    /// let v: gort_gc::GcVec<u32> = gort_gc::GcVec::new();
    /// assert!(v.is_empty());
    /// ```
    pub fn new() -> GcVec<T> {
        GcVec {
            buf: GcSlot::new(None),
            lock: parking_lot::Mutex::new(()),
            _t: PhantomData,
        }
    }

    /// Appends `v`; a full buffer is replaced by one twice as big.
    ///
    /// ```
    /// let v = gort_gc::GcVec::new();
    /// v.push(1u8);
    /// v.push(2);
    /// assert_eq!(v.to_vec(), [1, 2]);
    /// ```
    pub fn push(&self, v: T) {
        let _g = self.lock.lock();
        let cur = self.buf.load();
        let (len, cap) = cur.map_or((0, 0), |b| (b.len.load(Ordering::Relaxed), b.cap));
        let buf = if len < cap {
            cur.expect("cap > 0")
        } else {
            let new = with_cache(|c| ArrayObj::<T>::alloc_in(c, (cap * 2).max(4)));
            if let Some(old) = cur {
                // SAFETY: a live buffer, reachable from `self.buf`.
                let elems = unsafe { ArrayObj::as_slice(Gc::as_ptr(old)) };
                for (i, x) in elems.iter().enumerate() {
                    // SAFETY: the new buffer is ours alone until published
                    // below; `i` is its length.
                    unsafe { ArrayObj::push_at(Gc::as_ptr(new), i, *x) };
                }
            }
            self.buf.store(Some(new));
            new
        };
        // SAFETY: we hold the pusher lock; `len` is the buffer's length, below
        // its capacity.
        unsafe { ArrayObj::push_at(Gc::as_ptr(buf), len, v) };
    }

    /// Element `i`, if pushed.
    ///
    /// ```
    /// let v = gort_gc::GcVec::new();
    /// v.push('x');
    /// assert_eq!((v.get(0), v.get(1)), (Some('x'), None));
    /// ```
    pub fn get(&self, i: usize) -> Option<T> {
        let buf = self.buf.load()?;
        // SAFETY: a live buffer, reachable from `self.buf`; copied out at once.
        unsafe { ArrayObj::as_slice(Gc::as_ptr(buf)) }
            .get(i)
            .copied()
    }

    /// Elements pushed so far.
    ///
    /// ```
    /// let v = gort_gc::GcVec::new();
    /// v.push(0u64);
    /// assert_eq!(v.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.buf.load().map_or(0, |b| b.len.load(Ordering::Acquire))
    }

    /// Whether nothing was pushed.
    ///
    /// ```
    /// assert!(gort_gc::GcVec::<u8>::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A copy of the elements pushed so far.
    ///
    /// ```
    /// let v = gort_gc::GcVec::new();
    /// (0..3).for_each(|i| v.push(i));
    /// assert_eq!(v.to_vec(), [0, 1, 2]);
    /// ```
    pub fn to_vec(&self) -> Vec<T> {
        let Some(b) = self.buf.load() else {
            return Vec::new();
        };
        // SAFETY: a live buffer, reachable from `self.buf`; copied out at once.
        unsafe { ArrayObj::as_slice(Gc::as_ptr(b)) }.to_vec()
    }
}

impl<T: Trace + Copy + std::fmt::Debug> std::fmt::Debug for GcVec<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.to_vec()).finish()
    }
}

// SAFETY: the buffer pointer is the first word (`GcSlot`, repr(C) order); the
// lock holds no pointer. Laid out by hand, so checked below.
unsafe impl<T: Trace + Copy> Trace for GcVec<T> {
    const POINTERS: Pointers = {
        assert!(std::mem::offset_of!(GcVec<T>, buf) == 0);
        Pointers::Mask(1)
    };
    fn trace(&self, tracer: &mut Tracer<'_>) {
        self.buf.trace(tracer);
    }
}

// The lock is pointer-free data: no `NoGc` needed for a field of our own.
const _: fn() = || {
    fn no_trace<T: NoTrace>() {}
    no_trace::<parking_lot::Mutex<()>>();
};

#[cfg(all(test, not(miri), not(loom)))]
mod tests {
    use super::*;
    use crate::{mark, GcWork, Root, RootSet, Trace, Work};
    use gort_alloc::Heap;

    #[derive(Trace)]
    struct Bag {
        items: GcVec<Gc<u64>>,
    }

    /// Two threads push into one vector at once: nothing lost, nothing twice,
    /// and a mark from the bag reaches every element (through whichever
    /// buffer is current).
    #[test]
    fn concurrent_pushes_are_all_kept_and_marked() {
        let bag = Gc::new(Bag {
            items: GcVec::new(),
        });
        let per = 5_000u64;
        std::thread::scope(|s| {
            for t in 0..2 {
                s.spawn(move || {
                    for i in 0..per {
                        bag.items.push(Gc::new(t * per + i));
                    }
                });
            }
        });
        let mut got: Vec<u64> = bag.items.to_vec().iter().map(|g| **g).collect();
        got.sort();
        assert_eq!(got, (0..2 * per).collect::<Vec<_>>());

        let heap = Heap::global();
        let roots = RootSet::new();
        let _r = Root::new_in(&roots, bag);
        let work = Work::new();
        mark(&**heap, &work, 2, |g: &mut GcWork<'_>| {
            g.mark_root_set(&**heap, &roots)
        });
        for g in bag.items.to_vec() {
            let (s, _, i) = heap.find_object(Gc::addr(g)).unwrap();
            assert!(s.is_marked(i));
        }
    }

    #[test]
    fn arrays_of_droppable_elements_drop_them_from_the_object_alone() {
        let heap = Heap::new();
        let mut c = heap.new_mcache();
        let a = GcArray::from_vec_in(&mut c, vec![String::from("x"); 3]);
        let e = GcArray::from_vec_in(&mut c, Vec::<String>::new());
        assert_eq!((a.len(), e.len()), (3, 0));
        // SAFETY: `a` and `e` are not used again.
        unsafe {
            assert!(crate::run_drop_glue(&heap, GcArray::addr(a)));
            assert!(crate::run_drop_glue(&heap, GcArray::addr(e)));
        }
    }
}
