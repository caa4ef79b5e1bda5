//! Blocking system calls from goroutines: `syscall::blocking`.
//!
//! Models the user-facing half of Go's `entersyscall`/`exitsyscall` (what the
//! `syscall` package wraps around every blocking call). The scheduler half —
//! running the call on the M's own stack, lending the P, sysmon's retake, the
//! fast and slow ways back — is in `proc/syscall.rs`.

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
/// On a goroutine, `f` runs on its thread's own stack (megabytes, like Go's
/// `systemstack`), not on the goroutine's: the goroutine's stack stays exactly as
/// it was for the whole call, which is what lets a stop-the-world see every live
/// word of it (`StoppedWorld::goroutines` reports where it stopped). A panic in
/// `f` unwinds out of `blocking` on the goroutine as usual.
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
    match crate::proc::syscall::syscall(f) {
        Ok(v) => v,
        Err(payload) => std::panic::resume_unwind(payload),
    }
}

#[cfg(test)]
mod tests {
    use std::hint::black_box;
    use std::sync::mpsc;
    use std::time::Duration;

    /// `f` tells the main goroutine where a local of its own lives, then waits
    /// for `go` (to be checked meanwhile).
    fn report_and_wait(tx: &mpsc::Sender<usize>, go: &mpsc::Receiver<()>) {
        let local = 0u64;
        tx.send(black_box(&local) as *const u64 as usize).unwrap();
        go.recv_timeout(Duration::from_secs(30)).unwrap();
    }

    /// The goroutine `goid` as a stopped world reports it.
    fn stack_of(goid: u64) -> crate::stw::GoroutineStack {
        let world = crate::stw::stop_the_world();
        world
            .goroutines()
            .into_iter()
            .find(|g| g.goid == goid)
            .expect("the goroutine is alive")
    }

    /// Recursion with big frames: moves the stack pointer of whatever stack it
    /// runs on far down and back.
    #[inline(never)]
    fn deep(n: u32) -> u64 {
        let buf = black_box([n as u64; 64]);
        if n == 0 {
            return buf[0];
        }
        deep(n - 1) + buf[1]
    }

    #[test]
    fn a_goroutine_in_a_call_reports_a_frozen_sp_below_its_callers_frame() {
        let rt = crate::Runtime::builder().procs(2).build().unwrap();
        // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
        unsafe {
            rt.run(|| {
                let (tx, rx) = mpsc::channel::<usize>();
                let (go_tx, go_rx) = mpsc::channel::<()>();
                let (marker_tx, marker_rx) = mpsc::channel::<usize>();
                let h = crate::spawn(move || {
                    let marker = 0u64;
                    marker_tx
                        .send(black_box(&marker) as *const u64 as usize)
                        .unwrap();
                    super::blocking(move || {
                        report_and_wait(&tx, &go_rx);
                        black_box(deep(200));
                        report_and_wait(&tx, &go_rx);
                    });
                    black_box(&marker);
                });
                let recv = |rx: &mpsc::Receiver<usize>| loop {
                    if let Ok(v) = rx.try_recv() {
                        return v;
                    }
                    crate::yield_now();
                };
                let marker = recv(&marker_rx);
                let local = recv(&rx);
                let first = stack_of(h.goid());
                assert_eq!(first.status, crate::Status::Syscall);
                assert!(
                    first.lo <= first.sp && first.sp <= marker && marker < first.hi,
                    "sp {:#x} is not in [lo {:#x}, marker {:#x}] (hi {:#x})",
                    first.sp,
                    first.lo,
                    marker,
                    first.hi
                );
                assert!(
                    !(first.lo..first.hi).contains(&local),
                    "f's local {local:#x} is on the goroutine stack [{:#x}, {:#x})",
                    first.lo,
                    first.hi
                );
                go_tx.send(()).unwrap();
                let _ = recv(&rx);
                let second = stack_of(h.goid());
                assert_eq!(second.status, crate::Status::Syscall);
                assert_eq!(second.sp, first.sp, "the syscall sp moved during the call");
                go_tx.send(()).unwrap();
                h.join().unwrap();
            })
        };
    }
}
