//! Channel benchmarks: the gort mirrors of `benches/go/{chanpingpong,threadring,prodcons}`.
//!
//! - `chanpingpong`: two goroutines bounce a value over two unbuffered channels,
//!   `-pingpong` round trips (default 1,000,000).
//! - `threadring`: the benchmarks-game thread-ring, 503 goroutines in a ring of
//!   unbuffered channels passing a token `-ring` times (default 10,000,000).
//! - `prodcons`: 4 producers and 4 consumers over one channel of capacity 1024,
//!   `-prodcons` items (default 10,000,000), shut down by close after a WaitGroup.
//!
//! Prints one `name: X ms` line per benchmark and rep, the format of the Go
//! programs, so `benches/compare.sh` can put them side by side. A count of 0
//! skips that benchmark. Run:
//!
//! ```text
//! GOMAXPROCS=2 cargo run --release --example bench_chan -- -reps 3
//! chanpingpong: 350.1 ms
//! ...
//! ```

#[path = "bench_common/mod.rs"]
mod bench_common;

use gort::chan;
use std::time::{Duration, Instant};

fn chanpingpong(n: u64) -> Duration {
    let (ping_tx, ping_rx) = chan::bounded::<u64>(0);
    let (pong_tx, pong_rx) = chan::bounded::<u64>(0);
    gort::go(move || {
        for v in ping_rx {
            pong_tx.send(v);
        }
        pong_tx.close();
    });
    let start = Instant::now();
    for i in 0..n {
        ping_tx.send(i);
        pong_rx.recv();
    }
    let d = start.elapsed();
    ping_tx.close();
    pong_rx.recv();
    d
}

const RING: usize = 503;

fn threadring(n: u64) -> (Duration, usize) {
    let chans: Vec<_> = (0..RING).map(|_| chan::bounded::<u64>(0)).collect();
    let (done_tx, done_rx) = chan::bounded::<usize>(0);
    for i in 0..RING {
        let rx = chans[i].1.clone();
        let tx = chans[(i + 1) % RING].0.clone();
        let done = done_tx.clone();
        gort::go(move || loop {
            let t = rx.recv().unwrap();
            if t == 0 {
                done.send(i + 1);
                return;
            }
            tx.send(t - 1);
        });
    }
    let start = Instant::now();
    chans[0].0.send(n);
    let id = done_rx.recv().unwrap();
    (start.elapsed(), id)
}

fn prodcons(n: u64) -> Duration {
    const PRODUCERS: u64 = 4;
    const CONSUMERS: usize = 4;
    let (tx, rx) = chan::bounded::<u64>(1024);
    let pwg = gort::sync::WaitGroup::new();
    let start = Instant::now();
    for p in 0..PRODUCERS {
        let (tx, pwg) = (tx.clone(), pwg.clone());
        pwg.add(1);
        gort::go(move || {
            let mut i = p;
            while i < n {
                tx.send(i);
                i += PRODUCERS;
            }
            pwg.done();
        });
    }
    let consumers: Vec<_> = (0..CONSUMERS)
        .map(|_| {
            let rx = rx.clone();
            gort::spawn(move || rx.iter().sum::<u64>())
        })
        .collect();
    pwg.wait();
    tx.close();
    let total: u64 = consumers.into_iter().map(|h| h.join().unwrap()).sum();
    let d = start.elapsed();
    assert_eq!(total, n * (n - 1) / 2, "prodcons: lost or duplicated items");
    d
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let mut reps: u64 = 3;
    let mut pingpong: u64 = 1_000_000;
    let mut ring: u64 = 10_000_000;
    let mut items: u64 = 10_000_000;
    bench_common::parse_flags(&mut [
        ("reps", &mut reps),
        ("pingpong", &mut pingpong),
        ("ring", &mut ring),
        ("prodcons", &mut items),
    ]);
    let rt = bench_common::runtime("bench_chan");
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        rt.run(move || {
            for _ in 0..reps {
                if pingpong > 0 {
                    println!("chanpingpong: {:.1} ms", ms(chanpingpong(pingpong)));
                }
            }
            for _ in 0..reps {
                if ring > 0 {
                    let (d, id) = threadring(ring);
                    eprintln!("threadring: winner {id}");
                    println!("threadring: {:.1} ms", ms(d));
                }
            }
            for _ in 0..reps {
                if items > 0 {
                    println!("prodcons: {:.1} ms", ms(prodcons(items)));
                }
            }
        })
    };
}
