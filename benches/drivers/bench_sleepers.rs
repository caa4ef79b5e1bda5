//! What sleeping goroutines cost: `-g` goroutines each sleep `-us` microseconds
//! `-n` times; prints the process's CPU time (user+sys, getrusage) and wall time
//! per run. Mirror of `benches/go/sleepers`; `benches/compare.sh` runs both.
//!
//! ```text
//! GOMAXPROCS=2 cargo run --release --example bench_sleepers -- -g 10000 -n 100
//! ```

#[path = "bench_common/mod.rs"]
mod bench_common;

use std::time::{Duration, Instant};

fn cpu() -> Duration {
    // SAFETY: getrusage fills the struct we pass; all-zero is a valid rusage.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_SELF with a valid pointer.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    assert_eq!(rc, 0, "getrusage failed");
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn main() {
    let (mut g, mut n, mut us, mut reps) = (10_000u64, 100u64, 1000u64, 3u64);
    bench_common::parse_flags(&mut [
        ("g", &mut g),
        ("n", &mut n),
        ("us", &mut us),
        ("reps", &mut reps),
    ]);
    let rt = bench_common::runtime("bench_sleepers");
    let d = Duration::from_micros(us);
    let mut best = Duration::MAX;
    for _ in 0..reps {
        // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
        let (wall, used) = unsafe {
            rt.run(move || {
                let (c0, t0) = (cpu(), Instant::now());
                let wg = gort::sync::WaitGroup::new();
                for _ in 0..g {
                    wg.add(1);
                    let wg = wg.clone();
                    gort::go(move || {
                        for _ in 0..n {
                            gort::time::sleep(d);
                        }
                        wg.done();
                    });
                }
                wg.wait();
                (t0.elapsed(), cpu() - c0)
            })
        };
        println!(
            "gort sleepers: g={g} n={n} wall={:.1}ms cpu={:.1}ms",
            wall.as_secs_f64() * 1e3,
            used.as_secs_f64() * 1e3
        );
        best = best.min(used);
    }
    println!("gort sleepers: best cpu={:.1}ms", best.as_secs_f64() * 1e3);
}
