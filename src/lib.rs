//! gort: Go's runtime rebuilt in Rust, to be read, run and watched.
//!
//! Goroutines run on Go's GMP work-stealing scheduler (P-local run queues, a global
//! queue, `runnext`, spinning Ms, sysmon), with Go's `schedtrace` output; they block
//! on channels and `select!`, Go's `sync` types, timers, sockets (an epoll network
//! poller) and system calls without blocking their threads. Their stacks and the
//! runtime's allocator caches come from a span allocator modelled on Go's. The
//! collector is not built yet. `README.md` and `docs/` describe what exists.
//!
//! # Layout
//!
//! This crate has no modules of its own; it re-exports the workspace's public
//! surface (each crate's `lib.rs` lists its files):
//!
//! - `gort-runtime` (`runtime/`): goroutines, the scheduler (`proc/`, with the
//!   idle/wake protocol in `proc/idle.rs`), sysmon, system calls, stacks,
//!   stop-the-world, traces, channels (`chan/`), `sync`, `time`, the network poller
//!   (`netpoll/`) and sockets (`net/`), the per-P allocator caches (`malloc.rs`)
//!   and the runtime's futex lock (`lock_futex.rs`);
//! - `gort-alloc` (`alloc/`): the span allocator, as [`alloc`] (`gort::alloc::Heap`,
//!   `gort::alloc::debug::mem_stats()`);
//! - `gort-gc` (`gc/`): the collector's object model, type information and mark
//!   core (`docs/gc.md`); not re-exported until the runtime wiring makes it
//!   collect.
//!
//! # Safety: starting a runtime is `unsafe`
//!
//! A goroutine may resume on a different OS thread after any call that can
//! switch goroutines (a channel operation, a lock, `join`, `sleep`, a socket
//! read, `yield_now`), and the compiler may keep a `thread_local!`'s address
//! across such a call. Code that uses thread-bound state on both sides of one (a
//! thread-local, directly or through a library; a `std` lock guard) is then
//! undefined behaviour, and no type check can rule that out for a stack that
//! moves between threads. So [`run`] and [`Runtime::run`] are `unsafe fn`s, and
//! their `# Safety` section is the promise that no goroutine does it. Go-style
//! code keeps it; [`goroutine_local!`] holds per-goroutine state that moves with
//! its goroutine, and [`lock_os_thread`] keeps a goroutine on its thread.
//!
//! # Example
//!
//! ```
//! // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
//! unsafe { gort::run(|| {
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
//! }) };
//! ```

pub use gort_alloc as alloc;
pub use gort_runtime::{
    chan, debug, env, go, gomaxprocs, goroutine_local, local, lock_os_thread, net, num_goroutine,
    preempt_point, run, select, spawn, stack, stw, sync, syscall, time, unlock_os_thread,
    yield_now, Builder, ConfigError, JoinError, JoinHandle, Runtime, Status, WaitReason,
};
