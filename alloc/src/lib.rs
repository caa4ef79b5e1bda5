//! gort-alloc: Go's span allocator, rebuilt — size classes, arenas, `mspan`,
//! `mcache`/`mcentral`/`mheap`, and the sweep half of the collector's interface.
//!
//! Models `runtime/malloc.go`, `mheap.go`, `mcentral.go`, `mcache.go`,
//! `mbitmap.go`, `mgcsweep.go`, `mfixalloc.go`, `mpagealloc.go` and
//! `internal/runtime/gc/sizeclasses.go`. `docs/allocator.md` walks the path of one
//! allocation through these files beside Go's.
//!
//! # Layout (from the fast path down)
//!
//! Every file of the crate, by its path under `src/` (`tests/layout.rs` at the
//! workspace root fails if one is missing).
//!
//! - [`mcache.rs`](mcache): per-thread cache of spans, `alloc(size, noscan)`
//!   (`mallocgc`), the tiny allocator, large objects, `refill`.
//! - [`mbitmap.rs`](mbitmap): pointer bits, Go 1.22's way — heap bits at a
//!   span's end for objects up to 512 bytes, a malloc header word before bigger
//!   ones; the typed, aligned allocation entry points.
//! - [`span.rs`](span): `mspan` (every field atomic: the collector reads spans it
//!   does not own), its out-of-line alloc/mark bitmaps, `alloc_cache`, `sweepgen`.
//! - `mcentral.rs`: per-span-class sets of partial/full, swept/unswept spans.
//! - [`mheap.rs`](mheap): the heap: `alloc_span`/`free_span`, `grow`, `span_of`,
//!   `find_object`, manual spans for goroutine stacks (`alloc_manual`).
//! - [`pagealloc.rs`](pagealloc): which pages are free (bitmaps, first fit,
//!   coalescing), the per-P page cache.
//! - [`arena.rs`](arena): 64 MiB arenas from `mmap`, the two-level arena index.
//! - `fixalloc.rs`: fixed-size metadata allocator (span structs and their
//!   bitmaps).
//! - [`sizeclass.rs`](sizeclass): Go's size-class table and lookup.
//! - [`sweep.rs`](sweep): `start_sweep`, `sweepone`, `finish_sweep`, and the loom
//!   models of the `sweepgen` claim.
//! - [`stats.rs`](stats): `MemStats`, Go's `runtime.MemStats` fields.
//! - [`scavenge.rs`](scavenge): the background scavenger, `free_os_memory`,
//!   `scavtrace`.
//! - [`debug.rs`](debug): `mem_stats()` and `free_os_memory()` on the
//!   process-wide heap.
//! - `loom.rs`: the std/loom facade the lock-free protocols take their atomics
//!   and locks from.
//!
//! # Example: allocate, mark, sweep, reuse
//!
//! ```
//! use gort_alloc::Heap;
//! let heap = Heap::new();
//! let mut cache = heap.new_mcache();
//! let objs: Vec<usize> = (0..100).map(|_| cache.alloc(64, true) as usize).collect();
//! // The collector would mark what is reachable; here, the even ones.
//! for p in objs.iter().step_by(2) {
//!     heap.mark(*p);
//! }
//! heap.start_sweep();
//! cache.prepare_for_sweep();
//! heap.finish_sweep();
//! // The odd ones' slots are handed out again.
//! let again: Vec<usize> = (0..50).map(|_| cache.alloc(64, true) as usize).collect();
//! assert!(again.iter().all(|p| objs.iter().skip(1).step_by(2).any(|q| q == p)));
//! ```
#![warn(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

pub mod arena;
#[cfg(not(loom))]
pub mod debug;
mod fixalloc;
mod loom;
pub mod mbitmap;
pub mod mcache;
mod mcentral;
pub mod mheap;
pub mod pagealloc;
pub mod scavenge;
pub mod sizeclass;
pub mod span;
pub mod stats;
pub mod sweep;

pub use mcache::MCache;
pub use mheap::Heap;
pub use stats::MemStats;
