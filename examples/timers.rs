//! Timers: many sleepers cost no threads; `after` in a loop versus one reused Timer.
//!
//! ```text
//! cargo run --release --example timers
//! ```
//!
//! 1. **10,000 sleeping goroutines.** Each sleeps 1 ms, ten times. Look at the
//!    detailed trace taken mid-run: the sleepers are spread over the Ps' timer
//!    heaps (`timerslen=`), `threads=` stays a handful, and the CPU time the
//!    process used stays below wall time × cores — one M sleeps until the
//!    earliest timer and nobody polls; what CPU is used goes to the 100,000
//!    wake-ups themselves.
//! 2. **A timeout in a loop.** A loop receives from a channel that always has a
//!    value, with a one-second timeout arm. `time::after` makes a new timer each
//!    iteration, and each stays in a heap until it fires a second later: watch
//!    `timerslen` climb to the iteration count. One `Timer` reset each iteration
//!    keeps one heap entry, and each iteration is cheaper. (Go frees unreferenced
//!    `After` timers at once since 1.23; gort's wait in the heap until they fire —
//!    the reused timer is the habit that is right on both.)

use gort::chan;
use gort::sync::WaitGroup;
use gort::time;
use std::time::{Duration, Instant};

fn cpu() -> Duration {
    // SAFETY: all-zero is a valid rusage, and getrusage only writes into it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_SELF with a valid pointer.
    assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) }, 0);
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Total timer-heap entries over all Ps, read from the detailed trace.
fn timerslen(rt: &gort::Runtime) -> u64 {
    rt.schedtrace(true)
        .lines()
        .filter_map(|l| l.split("timerslen=").nth(1))
        .filter_map(|v| v.trim().parse::<u64>().ok())
        .sum()
}

fn main() {
    let rt = gort::Runtime::builder()
        .procs(2)
        .build()
        .unwrap_or_else(|e| {
            eprintln!("timers: {e}");
            std::process::exit(2)
        });
    let rt: &'static gort::Runtime = Box::leak(Box::new(rt));

    println!("== 1. 10,000 goroutines, each sleeping 1 ms ten times");
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        rt.run(move || {
            let (c0, t0) = (cpu(), Instant::now());
            let wg = WaitGroup::new();
            for _ in 0..10_000 {
                wg.add(1);
                let wg = wg.clone();
                gort::go(move || {
                    for _ in 0..10 {
                        time::sleep(Duration::from_millis(1));
                    }
                    wg.done();
                });
            }
            time::sleep(Duration::from_millis(3));
            for line in rt.schedtrace(true).lines() {
                if line.starts_with("SCHED") || line.starts_with("  P") {
                    println!("  {line}");
                }
            }
            wg.wait();
            let (wall, used) = (t0.elapsed(), cpu() - c0);
            println!(
                "  done in {:.0} ms wall, {:.0} ms CPU (2 Ps could have burned {:.0} ms)",
                wall.as_secs_f64() * 1e3,
                used.as_secs_f64() * 1e3,
                2.0 * wall.as_secs_f64() * 1e3
            );
        })
    };

    const N: u32 = 100_000;
    println!("\n== 2. a one-second timeout around a receive that is always ready, {N} times");
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        rt.run(move || {
            let (tx, rx) = chan::bounded::<u32>(1);
            let before = timerslen(rt);
            let t0 = Instant::now();
            for i in 0..N {
                tx.send(i);
                gort::select! {
                    recv(rx) -> v => assert_eq!(v, Some(i)),
                    recv(time::after(Duration::from_secs(1))) -> _ => unreachable!(),
                }
            }
            let per = t0.elapsed() / N;
            let after_loop = timerslen(rt);
            println!(
                "  time::after each time: {:>5} ns/iteration, timer heap entries added: {}",
                per.as_nanos(),
                after_loop - before
            );

            let timeout = time::Timer::new(Duration::from_secs(1));
            let t0 = Instant::now();
            for i in 0..N {
                tx.send(i);
                timeout.reset(Duration::from_secs(1));
                gort::select! {
                    recv(rx) -> v => assert_eq!(v, Some(i)),
                    recv(timeout.c()) -> _ => unreachable!(),
                }
            }
            let per = t0.elapsed() / N;
            println!(
                "  one Timer, reset:      {:>5} ns/iteration, timer heap entries added: {}",
                per.as_nanos(),
                timerslen(rt) - after_loop
            );
            timeout.stop();
            // Let the first loop's timers fire and leave.
            time::sleep(Duration::from_millis(1100));
            println!(
                "  a second later the heaps hold {} entries again",
                timerslen(rt)
            );
        })
    };
    println!(
        "\nLook at: part 1's CPU time against its wall time and the per-P timerslen; \
         part 2's heap size and cost per iteration for each habit."
    );
}
