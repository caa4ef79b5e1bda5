//! gort-runtime: goroutines on Go's GMP work-stealing scheduler.
//!
//! # Layout
//!
//! - `arch/` — the context switch, one small assembly routine per architecture.
//! - `stack.rs` — goroutine stacks: fixed-size reservations with guard pages,
//!   carved many to a mapping.
//! - `proc/` — G, M, P, the run queues, the scheduler, sysmon (Go's `proc.go`).
//! - `stw.rs` — stop-the-world, and the goroutine stack list the collector scans.
//! - `chan/` — channels (`hchan`, direct hand-off, close) and `select!`.
//! - `sync/` — Go's `sync` (Mutex, RwLock, WaitGroup, Once, Cond, Pool) on a
//!   `sema.go`-style semaphore table.
//! - `time/` — timers on a per-P heap: `sleep`, `after`, `tick`, `Timer`,
//!   `Ticker`, `after_func`.
//! - `syscall.rs` — `blocking(f)`: lend the P while a goroutine blocks its thread.
//! - `api.rs` — `run`, `Runtime`, `go`, `spawn`, `yield_now`, …
//! - `env.rs` — settings from the builder and from `GOMAXPROCS`/`GODEBUG`.
//! - `trace.rs` — `schedtrace`/`scheddetail` in Go's format.
//! - `panic.rs`, `signal.rs` — Go-style panic, fatal error, deadlock and
//!   stack-overflow reports (exit status 2).
//! - `loom.rs` — the std/loom facade every lock-free protocol imports.
//!
//! # Soundness rules for users
//!
//! - A goroutine may resume on a different OS thread after any blocking call,
//!   `yield_now` or `preempt_point`. Do not hold a reference to a
//!   `thread_local!` value across such a call, and do not hold a lock of
//!   `std::sync::Mutex` or `parking_lot` across one (another goroutine on the same
//!   thread could try to take it and block the thread).
//! - Goroutine stacks are fixed-size (256 KiB by default); deep recursion ends in
//!   Go's `fatal error: stack overflow`, not a silent crash.
//! - Deadlock detection assumes every wake-up comes from a goroutine: a goroutine
//!   waiting for something only a plain OS thread will deliver is reported as
//!   deadlocked once every goroutine sleeps. A pending timer counts as a possible
//!   wake-up (as in Go), so a live `Ticker` keeps a deadlock from being reported.
//! - Code inside `syscall::blocking` runs without a P and must not use the runtime
//!   (channels, `sync`, `time::sleep`, `go`): doing so panics.
//!
//! # Example
//!
//! ```
//! gort_runtime::run(|| {
//!     let wg = gort_runtime::sync::WaitGroup::new();
//!     for i in 0..4 {
//!         wg.add(1);
//!         let wg = wg.clone();
//!         gort_runtime::go(move || { let _ = i * 2; wg.done(); });
//!     }
//!     wg.wait();
//! });
//! ```
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub(crate) mod loom;

// Channels and `select` (compiled under loom too: `chan/loom_model.rs` checks it).
pub mod chan;

#[cfg(not(loom))]
mod api;
#[cfg(not(loom))]
mod arch;
#[cfg(not(loom))]
pub mod env;
#[cfg(not(loom))]
mod lock_futex;
#[cfg(not(loom))]
mod malloc;
#[cfg(not(loom))]
pub mod net;
#[cfg(not(loom))]
pub(crate) mod netpoll;
#[cfg(not(loom))]
mod panic;
#[cfg(not(loom))]
mod signal;
#[cfg(not(loom))]
pub mod stack;
#[cfg(not(loom))]
pub mod stw;
#[cfg(not(loom))]
pub mod sync;
#[cfg(not(loom))]
pub mod syscall;
#[cfg(not(loom))]
pub mod time;
#[cfg(not(loom))]
mod trace;

#[cfg(not(loom))]
pub(crate) mod proc;

/// Under loom only the lock-free protocols are compiled, with their models: the
/// run queue, the M park note, the idle/wake handshake, and the timer heap.
#[cfg(loom)]
pub(crate) mod time {
    #[cfg(test)]
    mod poll_model;
    pub(crate) mod timer;
}

/// Under loom only the lock-free protocols are compiled, with their models.
#[cfg(loom)]
pub(crate) mod proc {
    #[cfg(test)]
    mod idle_model;
    pub(crate) mod note;
    pub(crate) mod runq;
    #[cfg(test)]
    mod syscall_model;
}

/// Under loom, the socket waiter state machine and its model.
#[cfg(loom)]
pub(crate) mod netpoll {
    #[cfg(test)]
    mod loom_model;
    pub(crate) mod waiter;
}

/// Under loom, the `sync` state machines (Mutex, WaitGroup) and their models.
#[cfg(loom)]
pub(crate) mod sync {
    #[cfg(test)]
    mod loom_model;
    pub(crate) mod mutex;
    pub(crate) mod runtime;
    pub(crate) mod waitgroup;
}

/// The run queue, for `benches/runq.rs` (which measures it against
/// crossbeam-deque). Not API: hidden from the docs, and it may change at any time.
#[doc(hidden)]
#[cfg(not(loom))]
pub mod bench_internals {
    pub use crate::proc::runq::{Overflow, RunQ, RUNQ_SIZE};
}

/// Internals that gort's own integration tests (`tests/`, `runtime/tests/`) need
/// and no public API offers yet — Go's `runtime/export_test.go`, which exports
/// runtime internals to the runtime's tests only. Not API: hidden from the docs,
/// and it may change or go at any time. Benchmarks have their own door,
/// `bench_internals`.
#[doc(hidden)]
#[cfg(not(loom))]
pub mod export_test {
    /// Allocates `size` zeroed bytes through the current P's mcache, or the
    /// shared no-P cache on a thread without a P (the runtime half of
    /// `mallocgc`). Until the collector's `Gc<T>` exists, nothing else
    /// allocates through the runtime's caches, so the tests of those caches
    /// call this.
    pub fn mallocgc(size: usize, noscan: bool) -> *mut u8 {
        crate::malloc::mallocgc(size, noscan)
    }
}

#[cfg(not(loom))]
pub use api::{
    debug, go, gomaxprocs, lock_os_thread, num_goroutine, preempt_point, run, spawn,
    unlock_os_thread, yield_now, Builder, JoinHandle, Runtime,
};
#[cfg(not(loom))]
pub use env::ConfigError;
#[cfg(not(loom))]
pub use proc::g::{Status, WaitReason};
