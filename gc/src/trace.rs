//! `Trace`: what a type tells the collector about the pointers it holds.
//!
//! Go's compiler writes a pointer bitmap for every type (`abi.Type.GCData`:
//! one bit per word, "this word is a pointer"). Rust has no such thing, so gort
//! builds it at compile time from the fields: `#[derive(Trace)]` asks each field
//! type for its [`Pointers`] and places them at the field's `offset_of!`, in a
//! `const`. The result is one of:
//!
//! - [`Pointers::None`]: no pointer anywhere — the object goes to a noscan span,
//!   and the marker never looks inside it;
//! - [`Pointers::Mask`]: a value of at most 512 bytes (64 words), bit `i` set
//!   when word `i` is a GC pointer — what the allocator copies into the span's
//!   heap bits (`gort_alloc::mbitmap`);
//! - [`Pointers::Bitmap`]: the same for a bigger, non-generic type (a `const`
//!   array; a generic type cannot size one on stable Rust);
//! - [`Pointers::Trace`]: no bitmap describes the type — an enum, whose variant
//!   layout `offset_of!` cannot name on stable Rust, or a big generic type — so
//!   the marker calls its [`Trace::trace`] function, reached through the object's
//!   malloc header;
//! - [`Pointers::Array`]: the variable-length array object behind `GcArray` and
//!   `GcVec` (a length word, then elements).
//!
//! Every field of a traced type must itself be `Trace`. The pointer-free types
//! of `std` are (integers, `String`, atomics...), and so are containers of
//! [`NoTrace`] data: `Vec<u64>` is, `Vec<Gc<T>>` is not — a `Gc` in a Rust
//! `Vec` lives on the Rust heap, where the collector does not look (use
//! `GcArray`/`GcVec`). [`NoTrace`] is that promise, "holds no GC pointer, even
//! behind indirection"; a pointer-free type of one's own gets it from
//! `#[derive(NoTrace)]` and goes into a traced type wrapped in `NoGc<T>`.
//!
//! Models what `runtime/type.go` and the compiler's `GCData` give Go's
//! collector; the names (`ptrdata`, heap bits) follow `mbitmap.go`.

use crate::gc::Gc;
use crate::typeinfo::TypeInfo;

/// A type's pointer layout as the collector reads it (see the module comment).
///
/// ```
/// use gort_gc::{Gc, Pointers, Trace};
/// #[derive(Trace)]
/// struct Node {
///     left: Option<Gc<Node>>,
///     right: Option<Gc<Node>>,
/// }
/// assert_eq!(Node::POINTERS, Pointers::Mask(0b11));
/// assert_eq!(<u64 as Trace>::POINTERS, Pointers::None);
/// ```
#[derive(Clone, Copy, Debug)]
pub enum Pointers {
    /// No GC pointer: allocated in a noscan span, never scanned.
    None,
    /// Bit `i`: word `i` is a GC pointer (types of at most 512 bytes).
    Mask(u64),
    /// Bit `i` of the bitmap (word `i / 64`, bit `i % 64`): word `i` is a GC
    /// pointer (bigger non-generic types).
    Bitmap(&'static [u64]),
    /// Scanned by the type's [`Trace::trace`] (enums, big generic types).
    Trace,
    /// A GC array object of this element type: a length word, then elements.
    Array(&'static TypeInfo),
}

impl PartialEq for Pointers {
    fn eq(&self, other: &Pointers) -> bool {
        match (self, other) {
            (Pointers::None, Pointers::None) | (Pointers::Trace, Pointers::Trace) => true,
            (Pointers::Mask(a), Pointers::Mask(b)) => a == b,
            (Pointers::Bitmap(a), Pointers::Bitmap(b)) => a == b,
            // Element descriptions are compared by identity: two copies of one
            // type's `TypeInfo` (one per codegen unit) are not told apart here.
            (Pointers::Array(a), Pointers::Array(b)) => std::ptr::eq(*a, *b),
            _ => false,
        }
    }
}

impl Eq for Pointers {}

/// Types the collector can scan: they report every GC pointer they hold.
///
/// Implement it with `#[derive(Trace)]`; every field must be `Trace` too.
/// Traced types may not implement `Drop` (the derive rejects it: a destructor
/// could reach objects already freed); the drop glue of their fields (a
/// `String`) is kept in their [`TypeInfo`].
///
/// # Safety
///
/// [`Trace::POINTERS`] and [`Trace::trace`] must report every GC pointer a value
/// holds: a word flagged in a mask or bitmap holds 0 or a pointer into the GC
/// heap, and `trace` passes each pointer to the tracer. A pointer left out is
/// an object freed while still in use.
///
/// ```
/// use gort_gc::{Gc, GcSlot, NoGc, Trace};
/// #[derive(Trace)]
/// struct Account {
///     owner: Gc<Person>,
///     next: GcSlot<Account>, // the one kind of field that can change
///     balance: u64,
/// }
/// #[derive(Trace)]
/// struct Person {
///     name: String, // pointer-free std types are Trace
/// }
/// assert_eq!(Account::POINTERS, gort_gc::Pointers::Mask(0b11));
/// assert_eq!(Person::POINTERS, gort_gc::Pointers::None);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be part of a garbage-collected object: it does not implement `Trace`",
    label = "not `Trace`",
    note = "fields of a `#[derive(Trace)]` type must be `Trace`: `Gc<T>`, `GcSlot<T>`, `GcArray<T>`, `GcVec<T>`, another `#[derive(Trace)]` type, or pointer-free data (integers, `String`, `Vec<u64>`..., or `NoGc<T>` for a `#[derive(NoTrace)]` type)"
)]
pub unsafe trait Trace: Send + Sync + 'static {
    /// Where the GC pointers of a value are.
    const POINTERS: Pointers;

    /// Passes every GC pointer of `self` to `tracer`.
    fn trace(&self, tracer: &mut Tracer<'_>);
}

/// Types that hold no GC pointer, not even behind a `Box`, `Vec` or lock: the
/// only data allowed inside Rust containers that are fields of GC objects.
///
/// `#[derive(NoTrace)]` implements it for a struct or enum whose fields all are.
///
/// # Safety
///
/// No value of the type may hold, directly or through any indirection, a
/// `Gc`, `GcSlot`, `GcArray`, `GcVec` or other GC pointer.
///
/// ```
/// use gort_gc::{NoGc, NoTrace, Trace};
/// #[derive(NoTrace)]
/// struct Config {
///     name: String,
///     retries: u32,
/// }
/// #[derive(Trace)]
/// struct Server {
///     config: NoGc<Config>,
///     log: Vec<String>, // Vec<T> is Trace when T is NoTrace
/// }
/// assert_eq!(Server::POINTERS, gort_gc::Pointers::None);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` may hold a GC pointer, so it cannot be kept where the collector does not look",
    label = "not `NoTrace`",
    note = "a `Gc` inside a Rust container (`Vec`, `Box`, `HashMap`, `Mutex`...) or `NoGc` is invisible to the collector; use `GcArray<T>`/`GcVec<T>` for collections of GC pointers, or `#[derive(NoTrace)]` for pointer-free types"
)]
pub unsafe trait NoTrace: Send + Sync + 'static {}

/// What [`Trace::trace`] reports pointers to: the marker, or a test.
///
/// ```
/// use gort_gc::{Gc, Trace, Tracer};
/// #[derive(Trace)]
/// enum Expr {
///     Num(f64),
///     Add(Gc<Expr>, Gc<Expr>),
/// }
/// let one = Gc::new(Expr::Num(1.0));
/// let sum = Expr::Add(one, one);
/// let mut seen = Vec::new();
/// sum.trace(&mut Tracer::new(&mut |p| seen.push(p)));
/// assert_eq!(seen, [Gc::addr(one), Gc::addr(one)]);
/// ```
pub struct Tracer<'a> {
    grey: &'a mut dyn FnMut(usize),
}

impl<'a> Tracer<'a> {
    /// A tracer that hands each non-null pointer (as an address) to `grey`.
    ///
    /// ```
    /// let mut n = 0;
    /// let mut count = |_| n += 1;
    /// let mut t = gort_gc::Tracer::new(&mut count);
    /// t.visit_addr(0); // null: not reported
    /// t.visit_addr(0x1000);
    /// assert_eq!(n, 1);
    /// ```
    pub fn new(grey: &'a mut dyn FnMut(usize)) -> Tracer<'a> {
        Tracer { grey }
    }

    /// Reports the GC pointer `gc`.
    ///
    /// ```
    /// let g = gort_gc::Gc::new(7u64);
    /// let mut got = 0;
    /// gort_gc::Tracer::new(&mut |p| got = p).visit(g);
    /// assert_eq!(got, gort_gc::Gc::addr(g));
    /// ```
    #[inline]
    pub fn visit<T: Trace>(&mut self, gc: Gc<T>) {
        (self.grey)(Gc::addr(gc));
    }

    /// Reports a word that may be a GC pointer (0 is skipped).
    ///
    /// ```
    /// let mut got = Vec::new();
    /// let mut push = |p| got.push(p);
    /// let mut t = gort_gc::Tracer::new(&mut push);
    /// t.visit_addr(8);
    /// t.visit_addr(0);
    /// assert_eq!(got, [8]);
    /// ```
    #[inline]
    pub fn visit_addr(&mut self, addr: usize) {
        if addr != 0 {
            (self.grey)(addr);
        }
    }
}

/// Pointer-free types: `NoTrace`, and `Trace` with nothing to trace.
macro_rules! pointer_free {
    ($( [$($g:tt)*] $t:ty; )*) => {$(
        // SAFETY: the type holds no GC pointer (its parameters are NoTrace).
        unsafe impl<$($g)*> NoTrace for $t {}
        // SAFETY: as above: nothing to report.
        unsafe impl<$($g)*> Trace for $t {
            const POINTERS: Pointers = Pointers::None;
            #[inline(always)]
            fn trace(&self, _: &mut Tracer<'_>) {}
        }
    )*};
}

pointer_free! {
    [] (); [] bool; [] char; [] f32; [] f64;
    [] u8; [] u16; [] u32; [] u64; [] u128; [] usize;
    [] i8; [] i16; [] i32; [] i64; [] i128; [] isize;
    [] String; [] &'static str; [] Box<str>;
    [] std::sync::atomic::AtomicBool; [] std::sync::atomic::AtomicU8;
    [] std::sync::atomic::AtomicU16; [] std::sync::atomic::AtomicU32;
    [] std::sync::atomic::AtomicU64; [] std::sync::atomic::AtomicUsize;
    [] std::sync::atomic::AtomicI8; [] std::sync::atomic::AtomicI16;
    [] std::sync::atomic::AtomicI32; [] std::sync::atomic::AtomicI64;
    [] std::sync::atomic::AtomicIsize;
    [] std::time::Duration; [] std::time::Instant; [] std::time::SystemTime;
    [T: NoTrace] Vec<T>;
    [T: NoTrace] Box<T>;
    [T: NoTrace] Box<[T]>;
    [T: NoTrace] std::sync::Arc<T>;
    [T: NoTrace] std::sync::Mutex<T>;
    [T: NoTrace] std::sync::RwLock<T>;
    [T: NoTrace] parking_lot::Mutex<T>;
    [T: NoTrace] parking_lot::RwLock<T>;
    [T: NoTrace] std::collections::VecDeque<T>;
    [T: NoTrace] std::collections::BTreeSet<T>;
    [K: NoTrace, V: NoTrace] std::collections::BTreeMap<K, V>;
    [T: NoTrace, S: NoTrace] std::collections::HashSet<T, S>;
    [K: NoTrace, V: NoTrace, S: NoTrace] std::collections::HashMap<K, V, S>;
    [] std::collections::hash_map::RandomState;
    [T: ?Sized + Send + Sync + 'static] std::marker::PhantomData<T>;
    [A: NoTrace, B: NoTrace] (A, B);
    [A: NoTrace, B: NoTrace, C: NoTrace] (A, B, C);
    [A: NoTrace, B: NoTrace, C: NoTrace, D: NoTrace] (A, B, C, D);
}

// SAFETY: unsized pointer-free data, for `Box<str>`, `Arc<str>`, `Box<[T]>`.
unsafe impl NoTrace for str {}
// SAFETY: as above.
unsafe impl<T: NoTrace> NoTrace for [T] {}
// SAFETY: an `Option` of pointer-free data holds no pointer either.
unsafe impl<T: NoTrace> NoTrace for Option<T> {}
// SAFETY: an array of pointer-free data holds no pointer either.
unsafe impl<T: NoTrace, const N: usize> NoTrace for [T; N] {}

// SAFETY: `Some(v)` reports what `v` reports; `option_pointers` gives a mask
// only when `None` is the all-zero word (the null niche of a lone GC pointer),
// which the marker skips.
unsafe impl<T: Trace> Trace for Option<T> {
    const POINTERS: Pointers = option_pointers(
        &T::POINTERS,
        std::mem::size_of::<T>(),
        std::mem::size_of::<Option<T>>(),
    );
    #[inline]
    fn trace(&self, tracer: &mut Tracer<'_>) {
        if let Some(v) = self {
            v.trace(tracer);
        }
    }
}

// SAFETY: the element's layout repeated `N` times, or each element traced.
unsafe impl<T: Trace, const N: usize> Trace for [T; N] {
    const POINTERS: Pointers = array_pointers(&T::POINTERS, std::mem::size_of::<T>(), N);
    #[inline]
    fn trace(&self, tracer: &mut Tracer<'_>) {
        for v in self {
            v.trace(tracer);
        }
    }
}

/// `Option<T>`'s layout: pointer-free if `T` is; `T`'s mask if `T` is one GC
/// pointer whose null niche is `None`; else traced.
const fn option_pointers(t: &Pointers, size_t: usize, size_opt: usize) -> Pointers {
    match t {
        Pointers::None => Pointers::None,
        Pointers::Mask(1) if size_t == 8 && size_opt == 8 => Pointers::Mask(1),
        _ => Pointers::Trace,
    }
}

/// `[T; N]`'s layout: the element's mask tiled while it fits 64 words.
const fn array_pointers(elem: &Pointers, elem_size: usize, n: usize) -> Pointers {
    match elem {
        Pointers::None => Pointers::None,
        Pointers::Mask(m) if elem_size * n <= 512 && elem_size.is_multiple_of(8) => {
            let words = elem_size / 8;
            let mut out = 0u64;
            let mut i = 0;
            while i < n {
                out |= *m << (i * words);
                i += 1;
            }
            Pointers::Mask(out)
        }
        _ => Pointers::Trace,
    }
}

/// Helpers for the code `#[derive(Trace)]` writes. Not a public API.
#[doc(hidden)]
pub mod __private {
    use super::Pointers;

    /// Implemented for every `T: Drop`; the derive implements it for the traced
    /// type too, so a traced type with a `Drop` impl has two (gc-arena's trick).
    pub trait TraceTypesMustNotImplementDrop {}
    #[allow(drop_bounds)]
    impl<T: Drop> TraceTypesMustNotImplementDrop for T {}

    /// Words of a bitmap for a type of `size` bytes.
    pub const fn bitmap_words(size: usize) -> usize {
        size.div_ceil(8 * 64)
    }

    /// Sets bit `i` of `out`.
    const fn set<const N: usize>(mut out: [u64; N], i: usize) -> [u64; N] {
        out[i / 64] |= 1 << (i % 64);
        out
    }

    /// The bitmap of a type whose fields sit at the given byte offsets.
    pub const fn bitmap<const N: usize>(fields: &[(usize, &Pointers)]) -> [u64; N] {
        let mut out = [0u64; N];
        let mut f = 0;
        while f < fields.len() {
            let (off, p) = fields[f];
            let w = off / 8;
            match p {
                Pointers::Mask(m) => {
                    assert!(off % 8 == 0, "gort-gc: a pointer field is not word-aligned");
                    let mut i = 0;
                    while i < 64 {
                        if *m >> i & 1 != 0 {
                            out = set(out, w + i);
                        }
                        i += 1;
                    }
                }
                Pointers::Bitmap(b) => {
                    assert!(off % 8 == 0, "gort-gc: a pointer field is not word-aligned");
                    let mut i = 0;
                    while i < b.len() * 64 {
                        if b[i / 64] >> (i % 64) & 1 != 0 {
                            out = set(out, w + i);
                        }
                        i += 1;
                    }
                }
                _ => {}
            }
            f += 1;
        }
        out
    }

    /// A struct's layout from its fields' (offset, layout) pairs; `bitmap` is
    /// its `bitmap()` for a big non-generic struct, or empty.
    pub const fn struct_pointers(
        size: usize,
        fields: &[(usize, &Pointers)],
        bitmap: &'static [u64],
    ) -> Pointers {
        let mut any = false;
        let mut f = 0;
        while f < fields.len() {
            match fields[f].1 {
                Pointers::None => {}
                Pointers::Mask(_) | Pointers::Bitmap(_) => any = true,
                Pointers::Trace | Pointers::Array(_) => return Pointers::Trace,
            }
            f += 1;
        }
        if !any {
            return Pointers::None;
        }
        if size <= 512 {
            let b: [u64; 1] = self::bitmap(fields);
            return Pointers::Mask(b[0]);
        }
        if bitmap.len() == bitmap_words(size) {
            Pointers::Bitmap(bitmap)
        } else {
            Pointers::Trace
        }
    }

    /// An enum's layout: pointer-free if every field is, else traced.
    pub const fn enum_pointers(fields: &[&Pointers]) -> Pointers {
        let mut f = 0;
        while f < fields.len() {
            if !matches!(fields[f], Pointers::None) {
                return Pointers::Trace;
            }
            f += 1;
        }
        Pointers::None
    }
}

#[cfg(test)]
mod tests {
    use super::__private::*;
    use super::*;

    #[test]
    fn bitmaps_place_field_masks_at_their_word_offsets() {
        let b: [u64; 2] = bitmap(&[
            (0, &Pointers::Mask(0b1)),
            (8 * 63, &Pointers::Mask(0b101)),
            (8 * 100, &Pointers::None),
        ]);
        assert_eq!(b, [1 | 1 << 63, 0b10]);
        static INNER: [u64; 2] = [1, 1];
        let b: [u64; 3] = bitmap(&[(8 * 3, &Pointers::Bitmap(&INNER))]);
        assert_eq!(b, [1 << 3, 1 << 3, 0]);
    }

    #[test]
    fn structs_fall_back_to_tracing_when_a_field_does() {
        let m = Pointers::Mask(1);
        assert_eq!(
            struct_pointers(16, &[(0, &m), (8, &m)], &[]),
            Pointers::Mask(0b11)
        );
        assert_eq!(
            struct_pointers(16, &[(0, &Pointers::None)], &[]),
            Pointers::None
        );
        assert_eq!(
            struct_pointers(16, &[(0, &m), (8, &Pointers::Trace)], &[]),
            Pointers::Trace
        );
        // Big and generic (no bitmap): traced.
        assert_eq!(struct_pointers(1024, &[(0, &m)], &[]), Pointers::Trace);
    }

    #[test]
    fn options_and_arrays_of_pointers() {
        assert_eq!(<Option<Gc<u64>>>::POINTERS, Pointers::Mask(1));
        assert_eq!(<Option<u64>>::POINTERS, Pointers::None);
        assert_eq!(<[Option<Gc<u64>>; 4]>::POINTERS, Pointers::Mask(0b1111));
        assert_eq!(<[Option<Gc<u64>>; 65]>::POINTERS, Pointers::Trace);
        assert_eq!(<[u64; 1000]>::POINTERS, Pointers::None);
    }
}
