//! `TypeInfo`: one `'static` description per traced type — what a malloc
//! header points at.
//!
//! Models Go's `abi.Type` as the collector uses it (`Size_`, `PtrBytes`,
//! `GCData`): size, alignment, where the pointers are, plus what Rust needs and
//! Go does not — the trace function of types no bitmap describes, and the drop
//! glue of fields such as a `String`.
//!
//! # Design
//!
//! [`type_info::<T>()`](type_info) is a `const` reference built from `T`'s
//! [`Trace`] impl: no registry, no lazy initialisation, no lock. The compiler
//! may keep several copies of one type's `TypeInfo` (one per codegen unit);
//! nothing depends on its address being unique, only on it living forever —
//! a malloc header holds it for as long as the object lives.
//!
//! Where a type's description is needed at run time:
//!
//! - small objects with a bitmap-describable type need none: their pointer bits
//!   went into the span's heap bits when they were allocated;
//! - everything else with pointers, and every object whose type has drop glue,
//!   carries a malloc header pointing here (`malloc.rs`): the marker finds
//!   [`TypeInfo::pointers`] or [`TypeInfo::trace`] through it, and a finalizer
//!   finds [`TypeInfo::drop`] through it from the dead object alone.
//!
//! # Drop glue
//!
//! A traced type cannot implement `Drop` (the derive rejects it), but its fields
//! may own Rust memory: a `String`, a `Vec<u8>`. [`TypeInfo::drop`] is
//! `drop_in_place::<T>`, the compiler's drop glue, which drops exactly those
//! fields. It is meant to run on a finalizer goroutine for objects found dead
//! (Go's `runfinq`), never inside a sweep or a pause; that queue is not built
//! yet. [`run_drop_glue`] is the step it will take per object.

use crate::trace::{Pointers, Trace, Tracer};
use std::marker::PhantomData;

/// The collector's description of a traced type.
///
/// ```
/// use gort_gc::{type_info, Gc, Pointers, Trace};
/// #[derive(Trace)]
/// struct Node {
///     left: Option<Gc<Node>>,
///     right: Option<Gc<Node>>,
/// }
/// let info = type_info::<Node>();
/// assert_eq!((info.size, info.align), (16, 8));
/// assert_eq!(info.pointers, Pointers::Mask(0b11));
/// assert!(info.drop.is_none());
/// assert!((info.name)().ends_with("Node"));
/// ```
pub struct TypeInfo {
    /// `size_of::<T>()` (for an array object: its fixed part, the length words).
    pub size: usize,
    /// `align_of::<T>()`.
    pub align: usize,
    /// Where the GC pointers are.
    pub pointers: Pointers,
    /// Reports the pointers of the value at the address (`T::trace`).
    ///
    /// # Safety
    /// The address holds a valid, live `T`.
    pub trace: unsafe fn(*const u8, &mut Tracer<'_>),
    /// Drops the value at the address in place, if `T` has drop glue.
    ///
    /// # Safety
    /// The address holds a valid `T` that nothing will use again.
    pub drop: Option<unsafe fn(*mut u8)>,
    /// `std::any::type_name::<T>` (not `const` on stable Rust, so a function).
    pub name: fn() -> &'static str,
}

impl std::fmt::Debug for TypeInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TypeInfo")
            .field("name", &(self.name)())
            .field("size", &self.size)
            .field("align", &self.align)
            .field("pointers", &self.pointers)
            .field("drop", &self.drop.is_some())
            .finish()
    }
}

/// `T`'s description, built at compile time.
///
/// ```
/// let info = gort_gc::type_info::<String>();
/// assert_eq!(info.pointers, gort_gc::Pointers::None);
/// assert!(info.drop.is_some(), "a String owns heap memory");
/// ```
pub const fn type_info<T: Trace>() -> &'static TypeInfo {
    InfoOf::<T>::INFO
}

struct InfoOf<T>(PhantomData<T>);

impl<T: Trace> InfoOf<T> {
    const INFO: &'static TypeInfo = &TypeInfo {
        size: std::mem::size_of::<T>(),
        align: std::mem::align_of::<T>(),
        pointers: T::POINTERS,
        trace: trace_erased::<T>,
        drop: drop_fn::<T>(),
        name: std::any::type_name::<T>,
    };
}

/// `T::trace` on an untyped address.
///
/// # Safety
/// `p` holds a valid, live `T`.
unsafe fn trace_erased<T: Trace>(p: *const u8, tracer: &mut Tracer<'_>) {
    // SAFETY: the caller's promise.
    unsafe { &*(p as *const T) }.trace(tracer)
}

/// `drop_in_place::<T>` on an untyped address, if `T` needs it.
pub(crate) const fn drop_fn<T>() -> Option<unsafe fn(*mut u8)> {
    /// # Safety
    /// `p` holds a valid `T` never used again.
    unsafe fn drop_erased<T>(p: *mut u8) {
        // SAFETY: the caller's promise.
        unsafe { std::ptr::drop_in_place(p as *mut T) }
    }
    if std::mem::needs_drop::<T>() {
        Some(drop_erased::<T>)
    } else {
        None
    }
}

/// Runs the drop glue of the dead object containing `addr`, if its type has
/// any; returns whether it did. The step a finalizer goroutine will take for
/// each object the sweep finds dead (Go's `runfinq`, but for the drop glue of
/// fields rather than user finalizers); that queue is not built yet.
///
/// Objects whose type has drop glue always carry a malloc header, so the glue
/// is found from the object alone.
///
/// # Safety
/// The object is dead: unreachable, never used again, its glue not yet run; and
/// its span is not being freed meanwhile.
///
/// ```
/// use gort_gc::{Gc, Trace};
/// #[derive(Trace)]
/// struct Named {
///     name: String,
/// }
/// let heap = gort_alloc::Heap::new();
/// let mut cache = heap.new_mcache();
/// let obj = gort_gc::alloc_in(&mut cache, Named { name: "x".repeat(100) });
/// let addr = Gc::addr(obj);
/// // SAFETY (of this example): `obj` is not used again.
/// assert!(unsafe { gort_gc::run_drop_glue(&heap, addr) }); // the String is freed
/// ```
pub unsafe fn run_drop_glue(heap: &gort_alloc::Heap, addr: usize) -> bool {
    let Some((span, slot, index)) = heap.find_object(addr) else {
        return false;
    };
    if !span.has_header(index) {
        return false;
    }
    let h = span.header(slot);
    if h == 0 {
        return false; // a scan slot allocated untyped: no header was written
    }
    // SAFETY: a non-zero header is the `&'static TypeInfo` that `malloc.rs`
    // stored when it allocated the object (`MCache::alloc_header`'s contract).
    let info = unsafe { &*(h as *const TypeInfo) };
    match info.drop {
        Some(drop) => {
            let obj = slot + gort_alloc::mbitmap::header_object_offset(info.align);
            // SAFETY: the object at `obj` is a valid, dead value of the type
            // `info` describes (the caller's promise).
            unsafe { drop(obj as *mut u8) };
            true
        }
        None => false,
    }
}
