//! Whether memory comes back after a burst of goroutines: the gort mirror of
//! `benches/go/burst/main.go`.
//!
//! Starts `n` goroutines that each mark themselves started on a WaitGroup and
//! block acquiring one shared `Semaphore::new(0)`, reads `VmRSS`, releases them
//! all and waits for them to exit, then prints `VmRSS` every `-every` seconds
//! for `-idle` seconds while the program sits idle. With `-drop 1` the runtime
//! is dropped after the burst and the idle wait happens on the plain main
//! thread (the issue's second case: memory of a runtime that is gone).
//!
//! ```text
//! gort burst: n=1000000 rss_before=2140KiB rss_parked=4700000KiB rss_exited=…
//! gort burst: idle=30s rss=…
//! ```
//!
//! Run: `GOMAXPROCS=2 GODEBUG=scavtrace=1 cargo run --release --example bench_burst -- -n 1000000`.

#[path = "bench_common/mod.rs"]
mod bench_common;

use bench_common::vm_rss;
use std::time::{Duration, Instant};

/// Prints the RSS every `every` seconds for `idle` seconds; `sleep` waits.
fn idle_report(idle: u64, every: u64, sleep: impl Fn(Duration)) {
    let start = Instant::now();
    let mut t = every;
    while t <= idle {
        sleep((start + Duration::from_secs(t)).saturating_duration_since(Instant::now()));
        println!("gort burst: idle={t}s rss={}KiB", vm_rss("burst"));
        t += every;
    }
}

fn main() {
    let (mut n, mut idle, mut every, mut drop_rt) = (1_000_000u64, 300u64, 30u64, 0u64);
    bench_common::parse_flags(&mut [
        ("n", &mut n),
        ("idle", &mut idle),
        ("every", &mut every),
        ("drop", &mut drop_rt),
    ]);
    let every = every.max(1);

    let rt = bench_common::runtime("bench_burst");
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        rt.run(move || {
            let before = vm_rss("burst");
            let parked = bench_common::Parked::start(n);
            let parked_rss = vm_rss("burst");
            parked.release();
            println!(
                "gort burst: n={n} rss_before={before}KiB rss_parked={parked_rss}KiB rss_exited={}KiB",
                vm_rss("burst")
            );
            if drop_rt == 0 {
                idle_report(idle, every, gort::time::sleep);
            }
        })
    };
    if drop_rt != 0 {
        drop(rt);
        println!("gort burst: runtime dropped rss={}KiB", vm_rss("burst"));
        idle_report(idle, every, std::thread::sleep);
    }
}
