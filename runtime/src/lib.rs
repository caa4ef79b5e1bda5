//! gort-runtime: goroutines on Go's GMP work-stealing scheduler.
//!
//! # Layout
//!
//! Every file of the crate, by its path under `src/` (`tests/layout.rs` fails
//! if one is missing). The scheduler first, then what goroutines block on, then
//! the rest. Each file opens with a header naming the Go source it models.
//!
//! - `proc/` — G, M, P and the scheduler (Go's `proc.go`, `runtime2.go`); its
//!   `mod.rs` gives a reading order.
//!   - `proc/g.rs` — G: a goroutine's stack, saved context, status and wait
//!     reason; the gFree lists.
//!   - `proc/p.rs` — P: the right to run goroutines, and what it carries (run
//!     queue, gFree list, goroutine ids, timers, allocator cache).
//!   - `proc/runq.rs` — the P-local run queue: a 256-slot ring plus `runnext`
//!     (`runqput`, `runqget`, `runqsteal`).
//!   - `proc/m.rs` — M: an OS thread running the scheduler; `getm()`, the one
//!     audited door to "the current M".
//!   - `proc/note.rs` — one-shot sleep/wake-up notes an idle M sleeps on.
//!   - `proc/sched.rs` — `schedule`, `newproc`, `execute`, `gopark`/`ready`,
//!     `goexit0`, `newm`, `checkdead`; the host of `idle.rs` (its hooks for
//!     stop-the-world, timers and the poll step).
//!   - `proc/idle.rs` — the idle/wake protocol: `find_runnable`, stealing, the
//!     idle lists (`pidle`, `midle`, `mreleasing`),
//!     `npidle`/`nmspinning`/`needspinning`, and `wakep`/`startm`/`stopm`,
//!     generic over a host so that loom checks this code.
//!   - `proc/syscall.rs` — running a call on g0's stack (`systemstack`),
//!     `entersyscall`/`exitsyscall`, `handoffp`, and
//!     sysmon's `retake` of a P whose M is in a system call.
//!   - `proc/lockos.rs` — `lock_os_thread`: a goroutine wired to its thread.
//!   - `proc/sysmon.rs` — the monitor thread without a P: preemption requests,
//!     `retake`, netpoll, scavenging, the forced-GC clock, schedtrace.
//!   - `proc/idle_model.rs` — loom model of M park/wake (no lost wake-up, no
//!     lost goroutine).
//!   - `proc/syscall_model.rs` — loom model of the system-call P hand-off.
//!   - `proc/lockos_model.rs` — loom model of the locked-M hand-off
//!     (`stoplockedm`/`startlockedm`: no lost wake-up, no negative count).
//! - `arch/` — the context switch (Go's `gogo`/`mcall`): `arch/mod.rs` is the
//!   interface, `arch/x86_64.rs` and `arch/aarch64.rs` one small assembly
//!   routine each.
//! - `stack.rs` — goroutine stacks: fixed-size manual spans of the allocator's
//!   heap, each with a guard page.
//! - `signal.rs` — the SIGSEGV/SIGBUS handler that turns a guard-page fault into
//!   Go's stack-overflow report.
//! - `panic.rs` — Go-style panic, fatal error and deadlock reports (exit 2).
//! - `stw.rs` — stop-the-world, and what the collector may look at meanwhile:
//!   every goroutine's stack, every P's allocator cache.
//! - `malloc.rs` — which allocator cache an allocation uses: the current P's,
//!   or the shared no-P cache (the runtime half of `mallocgc`).
//! - `chan/` — channels (Go's `chan.go`, `select.go`):
//!   - `chan/mod.rs` — `hchan`: buffer, wait queues, direct hand-off, close;
//!   - `chan/handles.rs` — `Sender`, `Receiver`, `bounded`, `never`;
//!   - `chan/select.rs` — `select!` and `selectgo`;
//!   - `chan/loom_model.rs` — loom models of the hand-off and select's done CAS.
//!   - `chan/tests.rs` — channels and `select` between plain threads, the part
//!     Miri runs.
//! - `local.rs` — `goroutine_local!`: values that belong to a goroutine and move
//!   with it between threads (the migration-safe `thread_local!`).
//! - `lock_futex.rs` — the runtime's own futex lock with Go's spin-then-sleep
//!   policy (`lock_futex.go`), used as the channel lock.
//! - `sync/` — Go's `sync` on a `sema.go`-style semaphore table; `sync/mod.rs`
//!   (`block`, the park every primitive shares) gives a reading order:
//!   `sync/sema.rs` (the semaphore table, `notifyList`, `Semaphore`),
//!   `sync/runtime.rs` (the runtime hooks the state machines call),
//!   `sync/mutex.rs`, `sync/rwlock.rs`, `sync/waitgroup.rs`, `sync/once.rs`,
//!   `sync/cond.rs`, `sync/pool.rs`, and `sync/loom_model.rs` (loom models of
//!   the Mutex and WaitGroup state machines).
//! - `time/` — timers (Go's `time.go`): `time/mod.rs` has `sleep`, `after`,
//!   `tick`, `Timer`, `Ticker`, `after_func`; `time/timer.rs` the timer and the
//!   per-P 4-ary heap; `time/poll_model.rs` the loom model of the timer
//!   wake-up handshake.
//! - `netpoll/` — the network poller (Go's `netpoll.go`, `netpoll_epoll.go`):
//!   `netpoll/mod.rs` the mio poller, `netpoll`, `netpoll_break`;
//!   `netpoll/desc.rs` poll descriptors and deadlines; `netpoll/waiter.rs` the
//!   per-direction waiter word; `netpoll/loom_model.rs` its loom model;
//!   `netpoll/tests.rs` unit tests.
//! - `net/` — sockets for goroutines with Go's deadlines: `net/mod.rs` the
//!   shared socket plumbing (Go's `internal/poll`), `net/tcp.rs`
//!   (`TcpListener`, `TcpStream`), `net/udp.rs` (`UdpSocket`).
//! - `syscall.rs` — `blocking(f)`: lend the P while a goroutine blocks its thread.
//! - `api.rs` — `run`, `Runtime`, `go`, `spawn`, `yield_now`, `lock_os_thread`, …
//! - `env.rs` — settings from the builder and from `GOMAXPROCS`/`GODEBUG`.
//! - `trace.rs` — `schedtrace`/`scheddetail` in Go's format.
//! - `loom.rs` — the std/loom facade every lock-free protocol imports.
//!
//! # Soundness rules for users
//!
//! - **Starting a runtime is `unsafe`**: [`run`] and [`Runtime::run`] are
//!   `unsafe fn`s. A goroutine may resume on a different OS thread after any call
//!   that can switch goroutines, and the compiler may keep a `thread_local!`'s
//!   address across such a call, so code that uses thread-bound state (a
//!   thread-local, directly or through a library; a `std` lock guard) on both
//!   sides of one is undefined behaviour, which no type check can rule out for a
//!   stack. Their `# Safety` section is the promise that no goroutine does;
//!   [`goroutine_local!`] gives per-goroutine state that moves with the
//!   goroutine, and [`lock_os_thread`] keeps a goroutine on its thread.
//! - Do not hold a lock of `std::sync::Mutex` or `parking_lot` across a switch
//!   either way: another goroutine on the same thread could try to take it and
//!   block the thread.
//! - Goroutine stacks are fixed-size (256 KiB by default); deep recursion ends in
//!   Go's `fatal error: stack overflow`, not a silent crash. A goroutine's
//!   closure may capture up to 1/32 of the stack (it is copied several times on
//!   its way in); `go`/`spawn` panic above that: box large captures.
//! - Deadlock detection assumes every wake-up comes from a goroutine: a goroutine
//!   waiting for something only a plain OS thread will deliver is reported as
//!   deadlocked once every goroutine sleeps. A pending timer counts as a possible
//!   wake-up (as in Go), so a live `Ticker` keeps a deadlock from being reported.
//! - Code inside `syscall::blocking` runs without a P, on its thread's own stack,
//!   and must not use the runtime (channels, `sync`, `time::sleep`, `go`): doing
//!   so panics.
//!
//! # Example
//!
//! ```
//! // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
//! unsafe { gort_runtime::run(|| {
//!     let wg = gort_runtime::sync::WaitGroup::new();
//!     for i in 0..4 {
//!         wg.add(1);
//!         let wg = wg.clone();
//!         gort_runtime::go(move || { let _ = i * 2; wg.done(); });
//!     }
//!     wg.wait();
//! }) };
//! ```
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub(crate) mod loom;

// Channels and `select` (compiled under loom too: `chan/loom_model.rs` checks it).
pub mod chan;

/// What `select!` expands to. Not an API: hidden, outside semver, and safe to
/// misuse only in the sense that misuse panics (see `chan/select.rs`). Write
/// [`select!`] instead.
#[doc(hidden)]
pub mod __private {
    /// The `select!` macro's case objects and `selectgo`.
    pub mod select {
        pub use crate::chan::select::{select, Case, RecvCase, SelectRecv, SelectSend, SendCase};
    }
}

#[cfg(not(loom))]
mod api;
#[cfg(not(loom))]
mod arch;
#[cfg(not(loom))]
pub mod env;
#[cfg(not(loom))]
pub mod local;
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

/// Under loom only the lock-free protocols are compiled, with their models (and
/// the locked-M hand-off's, which restates its code around the real park note).
#[cfg(loom)]
pub(crate) mod proc {
    pub(crate) mod idle;
    #[cfg(test)]
    mod idle_model;
    #[cfg(test)]
    mod lockos_model;
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

    /// `sched.nmidlelocked` of `rt`: its threads parked with a locked goroutine
    /// that is not runnable (what `GODEBUG=scheddetail=1` prints).
    pub fn nmidlelocked(rt: &crate::Runtime) -> i64 {
        rt.sched.lock.lock().midlelocked.len() as i64
    }
}

#[cfg(not(loom))]
pub use api::{
    debug, go, gomaxprocs, lock_os_thread, num_goroutine, preempt_point, run, spawn,
    unlock_os_thread, yield_now, Builder, JoinError, JoinHandle, Runtime,
};
#[cfg(not(loom))]
pub use env::ConfigError;
#[cfg(not(loom))]
pub use proc::g::{Status, WaitReason};
