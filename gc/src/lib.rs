//! gort-gc: the collector's half that needs no scheduler — the object model
//! (`Gc<T>` and friends), Go 1.22's type information, and the mark core (Go's
//! `gcWork`, `greyobject`, `scanobject`, `gcDrain`).
//!
//! Models `runtime/mgcmark.go`, `mgcwork.go`, `mbitmap.go` (with
//! `gort_alloc::mbitmap`), the `mallocgc` dispatch of `malloc.go`, and the call
//! site of `mbarrier.go`. `docs/gc.md` walks through it beside Go's files and
//! says what is not built yet: roots from goroutine stacks, statics and the Rust
//! heap, the sweep and pacer wiring, gctrace. Until those exist the collector
//! does not meet the soundness rule of ARCHITECTURE §6, and nothing collects on
//! its own.
//!
//! # Layout
//!
//! The object model, then allocation, then marking:
//!
//! - `gc.rs`: [`Gc<T>`] (one word, `Copy`, `Deref` only), [`GcSlot<T>`] (the one
//!   mutable GC pointer), [`NoGc<T>`] (pointer-free fields of one's own type).
//! - `array.rs`: [`GcArray<T>`] (fixed) and [`GcVec<T>`] (pushed to through
//!   `&self`) on one array object kind.
//! - `root.rs`: [`Root<T>`] and [`RootSet`]: objects kept alive from threads
//!   the collector does not scan.
//! - `trace.rs`: [`Trace`] and [`NoTrace`], [`Pointers`] (a type's pointer
//!   layout, built at compile time by `#[derive(Trace)]` from `gc/derive`),
//!   [`Tracer`], the impls for `std`'s types.
//! - `typeinfo.rs`: [`TypeInfo`] (what a malloc header points at: size, layout,
//!   trace function, drop glue) and [`run_drop_glue`].
//! - `malloc.rs`: [`alloc`]/[`alloc_in`] (Go's `mallocgc` dispatch: noscan,
//!   heap bits, or malloc header), [`CacheSource`] (the runtime's per-P caches
//!   plug in here).
//! - `mbarrier.rs`: the write barrier's hook, called by every `GcSlot` store.
//! - `mgcwork.rs`: work buffers, the lock-free full/empty lists, [`GcWork`]
//!   (Go's per-P `gcWork`), and their loom models.
//! - `mgcmark.rs`: [`MarkHeap`] (what marking needs from a heap, implemented by
//!   `gort_alloc::Heap`), `greyobject`, `scanobject`, `gc_drain`,
//!   `scan_conservative`, [`mark`] (the parallel stop-the-world mark).
//! - `mockheap.rs`: a heap without `mmap` or arenas, for running the mark core
//!   under Miri (tests only).
//! - `loom.rs`: the std/loom facade for atomics, locks and cells.
//!
//! # Example: allocate, mark from a root, check what is marked
//!
//! ```
//! use gort_gc::{alloc_in, mark, Gc, GcWork, Root, RootSet, Trace, Work};
//! #[derive(Trace)]
//! struct Node {
//!     left: Option<Gc<Node>>,
//!     right: Option<Gc<Node>>,
//! }
//! let heap = gort_alloc::Heap::new();
//! let mut cache = heap.new_mcache();
//! let leaf = alloc_in(&mut cache, Node { left: None, right: None });
//! let tree = alloc_in(&mut cache, Node { left: Some(leaf), right: None });
//! let garbage = alloc_in(&mut cache, Node { left: Some(leaf), right: None });
//! let roots = RootSet::new();
//! let _r = Root::new_in(&roots, tree);
//! let work = Work::new();
//! mark(&*heap, &work, 2, |gcw: &mut GcWork<'_>| gcw.mark_root_set(&*heap, &roots));
//! let marked = |g: Gc<Node>| heap.find_object(Gc::addr(g)).map(|(s, _, i)| s.is_marked(i));
//! assert_eq!((marked(tree), marked(leaf), marked(garbage)), (Some(true), Some(true), Some(false)));
//! ```
#![warn(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

// The derive's generated code names `::gort_gc`; this lets it work inside the
// crate too (its own tests and doc examples).
extern crate self as gort_gc;

mod array;
mod gc;
mod loom;
mod malloc;
pub mod mbarrier;
mod mgcmark;
mod mgcwork;
#[cfg(all(test, not(loom)))]
mod mockheap;
mod root;
mod trace;
mod typeinfo;

pub use array::{GcArray, GcVec};
pub use gc::{Gc, GcSlot, NoGc};
pub use gort_gc_derive::{NoTrace, Trace};
pub use malloc::{
    alloc, alloc_in, object_layout, set_cache_source, with_shared_cache, CacheSource,
    CacheSourceAlreadySet, ObjectLayout, SlotAlloc,
};
pub use mgcmark::{mark, MarkHeap, ObjectKind};
pub use mgcwork::{GcWork, Work, WORKBUF_OBJS};
pub use root::{Root, RootSet};
#[doc(hidden)]
pub use trace::__private;
pub use trace::{NoTrace, Pointers, Trace, Tracer};
pub use typeinfo::{run_drop_glue, type_info, TypeInfo};
