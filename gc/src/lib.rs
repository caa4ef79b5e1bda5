//! gort-gc: the concurrent tri-color mark-sweep collector (Go's `mgc.go`,
//! `mgcmark.go`, `mbarrier.go`, `mgcsweep.go`, `mgcpacer.go`).
//!
//! Not built yet: this crate holds the collector's design note, no code. The
//! collector will need from the scheduler exactly what `gort-runtime` already
//! provides and tests: stop-the-world / start-the-world with the pause measured
//! (`gort_runtime::stw`), the list of every goroutine's stack bounds and saved stack
//! pointer while the world is stopped (the conservative root scan), a per-P slot for
//! the allocator's cache, and a preemption flag honoured at every safepoint. It will
//! ask for them through a small trait defined here and implemented by the runtime,
//! so the dependency keeps pointing one way: alloc ← gc ← runtime.
#![forbid(unsafe_code)]
