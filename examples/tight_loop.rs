//! Cooperative preemption and its limit (Go before 1.14).
//!
//! Run: `cargo run --release --example tight_loop`
//!
//! With one P, a goroutine spins for 300 ms while another waits to run.
//! - With `preempt_point()` in the loop, sysmon notices the same goroutine has run
//!   for 10 ms (`forcePreemptNS`), sets its preemption flag, and the loop yields at
//!   its next safepoint: the other goroutine runs after about 10 ms.
//! - Without a safepoint, nothing can take the P away: the other goroutine waits
//!   the full 300 ms. In schedtrace, `schedticks=[ N ]` stands still and
//!   `runqueue=`/`[ 1 ]` shows the goroutine left waiting. Go fixed this in 1.14
//!   with signal-based asynchronous preemption (SIGURG); gort has not yet.

use std::sync::Arc;
use std::time::{Duration, Instant};

const SPIN: Duration = Duration::from_millis(300);

fn trial(rt: &gort::Runtime, with_safepoints: bool) -> Duration {
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        rt.run(move || {
            let spin_start: Arc<std::sync::Mutex<Option<Instant>>> = Arc::default();
            // The waiter goes first into this P's run queue, then the spinner into
            // runnext: when main blocks in join, the spinner runs and the waiter waits
            // in the local queue for the P.
            let waiter = gort::spawn(Instant::now);
            let s = spin_start.clone();
            let spinner = gort::spawn(move || {
                let t = Instant::now();
                *s.lock().unwrap() = Some(t);
                let mut x = 0u64;
                while t.elapsed() < SPIN {
                    x = x.wrapping_mul(31).wrapping_add(7);
                    if with_safepoints {
                        gort::preempt_point();
                    }
                }
                std::hint::black_box(x);
            });
            let ran_at = waiter.join().unwrap();
            spinner.join().unwrap();
            let started = spin_start.lock().unwrap().expect("the spinner ran");
            ran_at.saturating_duration_since(started)
        })
    }
}

fn main() {
    let traced = std::env::var("GODEBUG").is_ok_and(|v| v.contains("schedtrace"));
    let period = if traced {
        "as GODEBUG says"
    } else {
        "every 50 ms"
    };
    let mut b = gort::Runtime::builder().procs(1);
    if !traced {
        b = b.schedtrace(50);
    }
    let rt = b.build().unwrap();
    println!("GOMAXPROCS=1; a goroutine spins for {SPIN:?} while another waits to run.");
    println!("(SCHED lines {period} on stderr.)\n");

    println!("1. loop calls gort::preempt_point():");
    let w = trial(&rt, true);
    println!("   the waiting goroutine ran {w:?} after the spinner started (sysmon preempts after 10 ms)\n");

    println!("2. loop with no safepoint:");
    let w = trial(&rt, false);
    println!("   the waiting goroutine ran {w:?} after the spinner started: it starved until the loop ended.");
    println!("   In the SCHED lines of this part, schedticks stays put and the queue holds 1.");
}
