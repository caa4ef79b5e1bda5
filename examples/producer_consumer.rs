//! Many producers, many consumers, one buffered channel, and a clean shutdown.
//!
//! Run: `cargo run --release --example producer_consumer`
//!
//! 8 producers each send 250,000 numbered items into one channel of capacity 64;
//! 4 consumers `for v in rx` until the channel is closed and drained. Shutdown is
//! Go's idiom: the producers share a `WaitGroup`, one goroutine waits on it and
//! then closes the channel — only a sender closes, and only once every sender is
//! done, so no send can hit a closed channel. Dropping handles never closes a
//! channel (as in Go); without the close, the consumers would wait for ever.
//!
//! What to look at: every consumer got a share (the receivers parked on the
//! channel are served in FIFO order, so the work spreads), the total is exactly
//! the number sent, and the check that every item arrived exactly once.

use gort::chan;
use gort::sync::WaitGroup;
use std::time::Instant;

const PRODUCERS: usize = 8;
const CONSUMERS: usize = 4;
const PER_PRODUCER: usize = 250_000;
const CAP: usize = 64;

fn main() {
    let rt = gort::Runtime::new().expect("runtime");
    let procs = rt.gomaxprocs();
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    let (counts, seen, elapsed) = unsafe {
        rt.run(|| {
            let start = Instant::now();
            let (tx, rx) = chan::bounded::<usize>(CAP);

            let wg = WaitGroup::new();
            for p in 0..PRODUCERS {
                let (tx, wg) = (tx.clone(), wg.clone());
                wg.add(1);
                gort::go(move || {
                    for i in 0..PER_PRODUCER {
                        tx.send(p * PER_PRODUCER + i);
                    }
                    wg.done();
                });
            }
            // The closer: waits for every producer, then closes once.
            gort::go(move || {
                wg.wait();
                tx.close();
            });

            let consumers: Vec<_> = (0..CONSUMERS)
                .map(|_| {
                    let rx = rx.clone();
                    gort::spawn(move || {
                        let mut got = Vec::new();
                        for v in rx {
                            got.push(v);
                        }
                        got
                    })
                })
                .collect();
            drop(rx);

            let mut seen = vec![0u8; PRODUCERS * PER_PRODUCER];
            let mut counts = Vec::new();
            for c in consumers {
                let got = c.join().expect("consumer panicked");
                counts.push(got.len());
                for v in got {
                    seen[v] = seen[v].saturating_add(1);
                }
            }
            (counts, seen, start.elapsed())
        })
    };

    let total: usize = counts.iter().sum();
    println!(
        "{PRODUCERS} producers x {PER_PRODUCER} items -> {CONSUMERS} consumers over chan(cap {CAP}), GOMAXPROCS={procs}"
    );
    for (i, n) in counts.iter().enumerate() {
        println!("  consumer {i}: {n:>9} items");
    }
    println!(
        "  total:      {total:>9} items (sent {})",
        PRODUCERS * PER_PRODUCER
    );
    let missing = seen.iter().filter(|&&n| n == 0).count();
    let dup = seen.iter().filter(|&&n| n > 1).count();
    println!(
        "  every item exactly once: {}",
        if missing == 0 && dup == 0 {
            "yes"
        } else {
            "NO"
        }
    );
    if missing + dup > 0 {
        println!("  missing {missing}, duplicated {dup}");
        std::process::exit(1);
    }
    println!(
        "  {:.1} ms, {:.0} ns per item",
        elapsed.as_secs_f64() * 1e3,
        elapsed.as_nanos() as f64 / total as f64
    );
}
