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
//! - [`mcache`]: per-thread cache of spans, `alloc(size, noscan)` (`mallocgc`), the
//!   tiny allocator, large objects, `refill`.
//! - [`span`]: `mspan` (every field atomic: the collector reads spans it does not
//!   own), its out-of-line alloc/mark bitmaps, `alloc_cache`, `sweepgen`.
//! - `mcentral`: per-span-class sets of partial/full, swept/unswept spans.
//! - [`mheap`]: the heap: `alloc_span`/`free_span`, `grow`, `span_of`, `find_object`,
//!   manual spans for goroutine stacks (`alloc_manual`).
//! - [`pagealloc`]: which pages are free (bitmaps, first fit, coalescing).
//! - [`arena`]: 64 MiB arenas from `mmap`, the two-level arena index.
//! - `fixalloc`: fixed-size metadata allocator (span structs and their bitmaps).
//! - [`sizeclass`]: Go's size-class table and lookup.
//! - [`sweep`]: `start_sweep`, `sweepone`, `finish_sweep`.
//! - [`stats`]: `MemStats`, Go's `runtime.MemStats` fields.
//! - [`scavenge`]: the background scavenger, `free_os_memory`, `scavtrace`.
//! - [`debug`]: `mem_stats()` and `free_os_memory()` on the process-wide heap.
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
