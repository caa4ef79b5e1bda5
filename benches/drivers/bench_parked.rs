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

use bench_common::vm_rss;

fn main() {
    let mut n: u64 = 100_000;
    bench_common::parse_flags(&mut [("n", &mut n)]);

    let rt = bench_common::runtime("bench_parked");
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        rt.run(move || {
            let before = vm_rss("parked");
            let parked = bench_common::Parked::start(n);
            let after = vm_rss("parked");
            let per = (after - before) as f64 * 1024.0 / n as f64;
            println!(
            "gort parked: n={n} rss_before={before}KiB rss_after={after}KiB per_goroutine={per:.0}B"
        );

            parked.release();
        })
    };
}
