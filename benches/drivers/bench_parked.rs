//! Memory cost of a blocked goroutine: the gort mirror of
//! `benches/go/parked/main.go`.
//!
//! Reads `VmRSS` from `/proc/self/status`, starts `n` goroutines that each mark
//! themselves started on a WaitGroup and then block acquiring one shared
//! `Semaphore::new(0)` (Go blocks receiving from one shared channel; gort has no
//! channels yet), waits until all have started, and reads `VmRSS` again.
//! `per_goroutine = (after - before) * 1024 / n` bytes. Then releases `n` permits
//! (Go closes the channel) and waits for all of them to exit.
//!
//! ```text
//! gort parked: n=100000 rss_before=2140KiB rss_after=272256KiB per_goroutine=2766B
//! ```
//!
//! Run: `GOMAXPROCS=2 cargo run --release --example bench_parked -- -n 100000`.

#[path = "bench_common/mod.rs"]
mod bench_common;

use gort::sync::{Semaphore, WaitGroup};
use std::sync::Arc;

/// The resident set size of this process in KiB.
fn vm_rss() -> i64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_else(|e| {
        eprintln!("parked: {e}");
        std::process::exit(1)
    });
    for line in status.lines() {
        if let Some(rest) = line.strip_prefix("VmRSS:") {
            // e.g. "    1234 kB"
            let kib = rest.split_whitespace().next().unwrap_or("");
            return kib.parse().unwrap_or_else(|e| {
                eprintln!("parked: {e}");
                std::process::exit(1)
            });
        }
    }
    eprintln!("parked: VmRSS not found");
    std::process::exit(1)
}

fn main() {
    let mut n: u64 = 100_000;
    bench_common::parse_flags(&mut [("n", &mut n)]);

    let rt = bench_common::runtime("bench_parked");
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        rt.run(move || {
            let block = Arc::new(Semaphore::new(0));
            let (started, exited) = (WaitGroup::new(), WaitGroup::new());

            let before = vm_rss();

            started.add(n as i64);
            exited.add(n as i64);
            for _ in 0..n {
                let (block, started, exited) = (block.clone(), started.clone(), exited.clone());
                gort::go(move || {
                    started.done();
                    block.acquire();
                    exited.done();
                });
            }
            started.wait();

            let after = vm_rss();
            let per = (after - before) as f64 * 1024.0 / n as f64;
            println!(
            "gort parked: n={n} rss_before={before}KiB rss_after={after}KiB per_goroutine={per:.0}B"
        );

            for _ in 0..n {
                block.release();
            }
            exited.wait();
        })
    };
}
