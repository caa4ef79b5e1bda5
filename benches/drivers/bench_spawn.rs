//! Goroutine creation and teardown throughput: the gort mirror of
//! `benches/go/spawn/main.go`.
//!
//! `wg.add(n)`, then start `n` goroutines that each just call `wg.done()`, then
//! `wg.wait()`; the time covers spawning, scheduling, running and exiting all of
//! them. One runtime (Ps from `GOMAXPROCS`, as Go) runs every rep. Prints one line
//! per rep and then the best:
//!
//! ```text
//! gort spawn: n=1000000 total=514.2ms per_goroutine=514ns
//! gort spawn: best= n=1000000 total=488.3ms per_goroutine=488ns
//! ```
//!
//! Run: `GOMAXPROCS=2 cargo run --release --example bench_spawn -- -n 1000000 -reps 5`.

#[path = "bench_common/mod.rs"]
mod bench_common;

use gort::sync::WaitGroup;
use std::time::{Duration, Instant};

fn run(n: u64) -> Duration {
    let wg = WaitGroup::new();
    let start = Instant::now();
    wg.add(n as i64);
    for _ in 0..n {
        let wg = wg.clone();
        gort::go(move || wg.done());
    }
    wg.wait();
    start.elapsed()
}

fn report(label: &str, n: u64, d: Duration) {
    let ms = d.as_secs_f64() * 1e3;
    let per = d.as_nanos() as f64 / n as f64;
    println!("gort spawn: {label}n={n} total={ms:.1}ms per_goroutine={per:.0}ns");
}

fn main() {
    let mut n: u64 = 1_000_000;
    let mut reps: u64 = 5;
    bench_common::parse_flags(&mut [("n", &mut n), ("reps", &mut reps)]);

    let rt = bench_common::runtime("bench_spawn");
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        rt.run(move || {
            let mut best = Duration::MAX;
            for _ in 0..reps {
                let d = run(n);
                report("", n, d);
                best = best.min(d);
            }
            report("best= ", n, best);
        })
    };
}
