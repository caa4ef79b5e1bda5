//! Scheduler benchmarks on the public API, with two Ps.
//!
//! - `sched/spawn_join`: the main goroutine adds N to a WaitGroup, starts N
//!   goroutines that each call `done`, and waits (`newproc`, `runqput`, `schedule`,
//!   `goexit`, and the steals that spread the burst over both Ps); per goroutine.
//! - `sched/pingpong_sema`: two goroutines hand control back and forth through two
//!   `Semaphore`s (A: release ping, acquire pong; B: acquire ping, release pong) —
//!   each round trip is two park/ready handoffs; per round trip.
//! - `sched/syscall_blocking`: one goroutine calls `syscall::blocking(|| ())` in a
//!   loop — `entersyscall`, the switch to the M's own stack and back, and
//!   `exitsyscall`'s fast path; per call.
//!
//! One runtime is built outside the measurement; each iteration is one
//! `Runtime::run`, so the cost of starting the main goroutine and waking the caller
//! is included (and amortised over the N goroutines or round trips).
//!
//! Run: `cargo bench --bench sched`. `benches/compare.sh` runs the 1,000,000-element
//! versions of the same workloads against Go.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use gort::sync::{Semaphore, WaitGroup};
use std::sync::Arc;
use std::time::Duration;

const SPAWN_N: u64 = 10_000;
const ROUND_TRIPS: u64 = 10_000;
const CALLS: u64 = 100_000;

fn runtime() -> gort::Runtime {
    gort::Runtime::builder()
        .procs(2)
        .build()
        .expect("runtime with 2 Ps")
}

fn spawn_join(c: &mut Criterion) {
    let rt = runtime();
    let mut g = c.benchmark_group("sched");
    g.throughput(Throughput::Elements(SPAWN_N));
    g.bench_function("spawn_join", |b| {
        b.iter(|| {
            // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
            unsafe {
                rt.run(|| {
                    let wg = WaitGroup::new();
                    wg.add(SPAWN_N as i64);
                    for _ in 0..SPAWN_N {
                        let wg = wg.clone();
                        gort::go(move || wg.done());
                    }
                    wg.wait();
                })
            }
        })
    });
    g.finish();
}

fn pingpong(c: &mut Criterion) {
    let rt = runtime();
    let mut g = c.benchmark_group("sched");
    g.throughput(Throughput::Elements(ROUND_TRIPS));
    g.bench_function("pingpong_sema", |b| {
        b.iter(|| {
            // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
            unsafe {
                rt.run(|| {
                    let ping = Arc::new(Semaphore::new(0));
                    let pong = Arc::new(Semaphore::new(0));
                    let (ping_b, pong_b) = (ping.clone(), pong.clone());
                    let b_done = gort::spawn(move || {
                        for _ in 0..ROUND_TRIPS {
                            ping_b.acquire();
                            pong_b.release();
                        }
                    });
                    for _ in 0..ROUND_TRIPS {
                        ping.release();
                        pong.acquire();
                    }
                    b_done.join().unwrap();
                })
            }
        })
    });
    g.finish();
}

fn syscall_blocking(c: &mut Criterion) {
    let rt = runtime();
    let mut g = c.benchmark_group("sched");
    g.throughput(Throughput::Elements(CALLS));
    g.bench_function("syscall_blocking", |b| {
        b.iter(|| {
            // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
            unsafe {
                rt.run(|| {
                    for i in 0..CALLS {
                        std::hint::black_box(gort::syscall::blocking(|| std::hint::black_box(i)));
                    }
                })
            }
        })
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = spawn_join, pingpong, syscall_blocking
}
criterion_main!(benches);
