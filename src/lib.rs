//! gort: Go's runtime rebuilt in Rust, to be read, run and watched.
//!
//! Goroutines run on Go's GMP work-stealing scheduler (P-local run queues, a global
//! queue, `runnext`, spinning Ms, sysmon), with Go's `schedtrace` output; they block
//! on channels and `select!`, Go's `sync` types, timers and system calls without
//! blocking their threads. The span allocator, the concurrent collector and the
//! network poller arrive in later steps; `README.md` and `docs/` describe what
//! exists.
//!
//! # Layout
//!
//! This crate re-exports the workspace's public surface:
//! - `gort-runtime` (`runtime/`): goroutines, the scheduler, sysmon, traces,
//!   channels, `sync`, `time`, `syscall`;
//! - `gort-alloc` (`alloc/`): the span allocator, as [`alloc`] (`gort::alloc::Heap`,
//!   `gort::alloc::debug::mem_stats()`);
//! - `gort-gc` (`gc/`): the collector (to come).
//!
//! # Example
//!
//! ```
//! gort::run(|| {
//!     let wg = gort::sync::WaitGroup::new();
//!     for i in 0..4u64 {
//!         wg.add(1);
//!         let wg = wg.clone();
//!         gort::go(move || {
//!             println!("goroutine {i}");
//!             wg.done();
//!         });
//!     }
//!     wg.wait();
//! });
//! ```

pub use gort_alloc as alloc;
pub use gort_runtime::{
    chan, debug, env, go, gomaxprocs, lock_os_thread, net, num_goroutine, preempt_point, run,
    select, spawn, stack, stw, sync, syscall, time, unlock_os_thread, yield_now, Builder,
    ConfigError, JoinHandle, Runtime, Status, WaitReason,
};
