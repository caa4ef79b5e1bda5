//! gort-alloc: the span allocator (Go's `malloc.go`, `mheap.go`, `mcentral.go`,
//! `mcache.go`, `sizeclasses.go`).
//!
//! Not built yet: this crate holds its design note until its own issue (the span
//! allocator) lands. The plan, from ARCHITECTURE §5: 8 KiB pages; Go's size-class
//! table; 64 MiB arenas with a sparse two-level arena index so that `span_of(addr)`
//! answers in O(1) for any address; `mspan` with `freeindex`, `alloc_cache`,
//! `alloc_bits`/`gcmark_bits` and `sweepgen`; an `mcache` per P (the scheduler already
//! reserves a per-P slot for it, see `gort_runtime::proc::p::P::mcache`), an
//! `mcentral` per span class, and the `mheap` page allocator. Goroutine stacks will
//! move onto its manual spans.
#![forbid(unsafe_code)]
