//! Blocking system calls and thread growth.
//!
//! ```text
//! cargo run --release --example blocking_syscalls
//! ```
//!
//! Two Ps. Eight goroutines each block their thread for 300 ms (a stand-in for a
//! slow file read or a blocking C call) while another goroutine counts as fast as
//! it can and a tracer prints the SCHED line every 100 ms. Three rounds:
//!
//! 1. **`syscall::blocking`** — each call lends its P: sysmon sees the call last,
//!    takes the P and hands it to another thread (starting one if none is idle).
//!    Watch `threads=` climb past `gomaxprocs`, and the counter keep going.
//! 2. **The same calls without `blocking`** — the runtime cannot know the thread is
//!    stuck. Each call holds a P for its whole 300 ms; the calls queue for the two
//!    Ps (the round takes four to five times as long), the tracer's lines arrive
//!    300 ms apart instead of 100, and no thread is added.
//! 3. **`lock_os_thread`** — a goroutine wired to its thread: while it sleeps, its
//!    thread idles (`nmidlelocked=1`, `lockedg=`/`lockedm=` in the detailed trace)
//!    and its P runs other goroutines.

use gort::sync::WaitGroup;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CALLS: usize = 8;
const CALL: Duration = Duration::from_millis(300);

/// One round: CALLS goroutines each block for CALL, with or without lending the P.
fn round(rt: &'static gort::Runtime, title: &str, lend: bool) {
    println!("\n== {title}");
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    let (wall, during) = unsafe {
        rt.run(move || {
            let done = Arc::new(AtomicBool::new(false));
            let count = Arc::new(AtomicU64::new(0));
            {
                let (done, count) = (done.clone(), count.clone());
                gort::go(move || {
                    while !done.load(Ordering::Relaxed) {
                        count.fetch_add(1, Ordering::Relaxed);
                        gort::preempt_point();
                    }
                });
            }
            {
                let done = done.clone();
                gort::go(move || {
                    while !done.load(Ordering::Relaxed) {
                        print!("  {}", rt.schedtrace(false));
                        gort::time::sleep(Duration::from_millis(100));
                    }
                });
            }
            let t0 = Instant::now();
            let wg = WaitGroup::new();
            for _ in 0..CALLS {
                wg.add(1);
                let wg = wg.clone();
                gort::go(move || {
                    if lend {
                        gort::syscall::blocking(|| std::thread::sleep(CALL));
                    } else {
                        std::thread::sleep(CALL);
                    }
                    wg.done();
                });
            }
            wg.wait();
            let r = (t0.elapsed(), count.load(Ordering::Relaxed));
            done.store(true, Ordering::Relaxed);
            r
        })
    };
    println!(
        "  {CALLS} calls of {} ms took {:.0} ms; the counter advanced {during} times meanwhile",
        CALL.as_millis(),
        wall.as_secs_f64() * 1e3,
    );
}

fn main() {
    let rt = gort::Runtime::builder()
        .procs(2)
        .build()
        .unwrap_or_else(|e| {
            eprintln!("blocking_syscalls: {e}");
            std::process::exit(2)
        });
    let rt: &'static gort::Runtime = Box::leak(Box::new(rt));
    round(
        rt,
        "1. syscall::blocking: the P is lent while the thread blocks",
        true,
    );
    round(
        rt,
        "2. plain std::thread::sleep: the thread and its P are stuck",
        false,
    );

    println!("\n== 3. lock_os_thread: a goroutine wired to its thread");
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        rt.run(move || {
            let h = gort::spawn(|| {
                gort::lock_os_thread();
                let me = std::thread::current().id();
                for _ in 0..5 {
                    gort::time::sleep(Duration::from_millis(10));
                    assert_eq!(std::thread::current().id(), me, "moved off its thread");
                }
                gort::unlock_os_thread();
                me
            });
            gort::time::sleep(Duration::from_millis(5));
            for line in rt.schedtrace(true).lines() {
                let locked = line.contains("lockedg=") || line.contains("lockedm=");
                if line.starts_with("SCHED") || locked && !line.ends_with("=nil") {
                    println!("  {line}");
                }
            }
            println!("  the locked goroutine stayed on {:?}", h.join().unwrap());
        })
    };
    println!(
        "\nLook at: threads= grows past gomaxprocs=2 in round 1 only, where the calls \
         overlap (~300 ms); in round 2 they queue for the Ps (~4-5x as long) and the \
         SCHED lines come 300 ms apart; in round 3 the locked thread idles (nmidlelocked=1)."
    );
}
