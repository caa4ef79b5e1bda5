//! Blocking system calls from goroutines: `syscall::blocking`.
//!
//! Models the user-facing half of Go's `entersyscall`/`exitsyscall` (what the
//! `syscall` package wraps around every blocking call). The scheduler half —
//! lending the P, sysmon's retake, the fast and slow ways back — is in
//! `proc/syscall.rs`.

use crate::proc::m::getm;
use crate::proc::p::PStatus;

/// Runs `f`, which may block its OS thread (a file read, `std::thread::sleep`, a
/// blocking C call), while letting the rest of the program run.
///
/// The goroutine enters Go's "syscall" state: its P is lent out, and if the call
/// lasts (sysmon checks every 20 µs–10 ms) another thread takes the P and runs
/// other goroutines — starting a new thread if none is idle. That is how Go's
/// thread count grows under blocking calls; `schedtrace`'s `threads=` shows it.
/// When `f` returns the goroutine takes its P back if nobody took it, or any idle
/// P, or else queues itself and its thread goes idle.
///
/// `f` runs without a P: it must not use the runtime (spawn goroutines, use
/// channels or `sync` types, sleep with `time::sleep`); doing so panics. Outside a
/// goroutine `f` simply runs.
///
/// # Example
///
/// ```
/// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
/// unsafe { gort_runtime::run(|| {
///     let data = gort_runtime::syscall::blocking(|| std::fs::read("Cargo.toml"));
///     assert!(data.is_ok());
/// }) };
/// ```
pub fn blocking<T>(f: impl FnOnce() -> T) -> T {
    let in_goroutine = getm().is_some_and(|m| {
        m.curg().is_some() && m.p().is_some_and(|pp| pp.status() == PStatus::Running)
    });
    // Not on a goroutine, already inside `blocking`, or holding a stopped world
    // (nobody else may run anyway): nothing to lend.
    if !in_goroutine {
        return f();
    }
    crate::proc::sched::preempt_check();
    crate::proc::syscall::entersyscall();
    /// Leaves the syscall state even if `f` panics.
    struct Exit;
    impl Drop for Exit {
        fn drop(&mut self) {
            crate::proc::syscall::exitsyscall();
        }
    }
    let exit = Exit;
    let r = f();
    drop(exit);
    r
}
