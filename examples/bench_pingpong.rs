//! Park/ready handoff latency: the gort mirror of `benches/go/pingpong/main.go`.
//!
//! Go bounces a value over two unbuffered channels; gort has no channels yet, so
//! the two goroutines hand off through two `Semaphore`s instead — the closest
//! park/ready analogue (an unbuffered send is also a park of one side and a ready
//! of the other). A: release ping, acquire pong; B: acquire ping, release pong. Each
//! round trip is two park/ready handoffs, as in Go. Replace with channels when they
//! exist. Prints one line per rep and then the best:
//!
//! ```text
//! gort pingpong: n=1000000 total=400.2ms per_roundtrip=400ns
//! gort pingpong: best= n=1000000 total=390.0ms per_roundtrip=390ns
//! ```
//!
//! Run: `GOMAXPROCS=2 cargo run --release --example bench_pingpong -- -n 1000000 -reps 5`.

#[path = "bench_common/mod.rs"]
mod bench_common;

use gort::sync::Semaphore;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn run(n: u64) -> Duration {
    let ping = Arc::new(Semaphore::new(0));
    let pong = Arc::new(Semaphore::new(0));
    let (ping_b, pong_b) = (ping.clone(), pong.clone());
    // Go's `for v := range ping { pong <- v }`, with the count known up front
    // instead of a close.
    let partner = gort::spawn(move || {
        for _ in 0..n {
            ping_b.acquire();
            pong_b.release();
        }
    });

    let start = Instant::now();
    for _ in 0..n {
        ping.release();
        pong.acquire();
    }
    let d = start.elapsed();
    partner.join().unwrap();
    d
}

fn report(label: &str, n: u64, d: Duration) {
    let ms = d.as_secs_f64() * 1e3;
    let per = d.as_nanos() as f64 / n as f64;
    println!("gort pingpong: {label}n={n} total={ms:.1}ms per_roundtrip={per:.0}ns");
}

fn main() {
    let mut n: u64 = 1_000_000;
    let mut reps: u64 = 5;
    bench_common::parse_flags(&mut [("n", &mut n), ("reps", &mut reps)]);

    let rt = bench_common::runtime("bench_pingpong");
    rt.run(move || {
        let mut best = Duration::MAX;
        for _ in 0..reps {
            let d = run(n);
            report("", n, d);
            best = best.min(d);
        }
        report("best= ", n, best);
    });
}
