//! `sync` benchmarks on the public API: the workloads of `benches/go/mutex/`.
//!
//! - `sync/mutex_uncontended`: one goroutine, `lock` + unlock (the one-CAS fast
//!   path and the one-subtract unlock); per operation.
//! - `sync/mutex_contended`: 8 goroutines on 2 Ps share one `Mutex`, each doing
//!   `OPS / 8` lock, counter += 1, unlock — spinning, parking, LIFO requeue and
//!   starvation handoffs all happen here; per operation. Each iteration is one
//!   `Runtime::run` (its start-up is amortised over the operations).
//! - `sync/rwlock_read_uncontended`: one goroutine, `read` + unlock; per operation.
//! - `sync/waitgroup_add_done_wait`: one goroutine, `add(1)`, `done()`, `wait()`
//!   (the counter/waiter word's fast paths); per cycle.
//!
//! The uncontended workloads run on the main goroutine of a 2-P runtime, like Go's.
//!
//! Run: `cargo bench --bench sync`; Go's side: `(cd benches/go/mutex && GOMAXPROCS=2
//! go run . -n 1000000 -reps 5)`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use gort::sync::{Mutex, RwLock, WaitGroup};
use std::sync::Arc;
use std::time::Duration;

const OPS: u64 = 100_000;
const CONTENDERS: u64 = 8;

fn runtime() -> gort::Runtime {
    gort::Runtime::builder()
        .procs(2)
        .build()
        .expect("runtime with 2 Ps")
}

/// Runs `f(n)` `n` times on the main goroutine per criterion batch and reports the
/// total, so the runtime's start-up stays out of the per-op figure.
fn on_main_goroutine(rt: &gort::Runtime, iters: u64, f: fn(u64)) -> Duration {
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        rt.run(move || {
            let start = std::time::Instant::now();
            f(iters);
            start.elapsed()
        })
    }
}

fn uncontended(c: &mut Criterion) {
    let rt = runtime();
    let mut g = c.benchmark_group("sync");
    g.throughput(Throughput::Elements(1));
    g.bench_function("mutex_uncontended", |b| {
        b.iter_custom(|iters| {
            on_main_goroutine(&rt, iters, |n| {
                let m = Mutex::new(0u64);
                for _ in 0..n {
                    *std::hint::black_box(&m).lock() += 1;
                }
            })
        })
    });
    g.bench_function("rwlock_read_uncontended", |b| {
        b.iter_custom(|iters| {
            on_main_goroutine(&rt, iters, |n| {
                let l = RwLock::new(0u64);
                for _ in 0..n {
                    std::hint::black_box(*std::hint::black_box(&l).read());
                }
            })
        })
    });
    g.bench_function("waitgroup_add_done_wait", |b| {
        b.iter_custom(|iters| {
            on_main_goroutine(&rt, iters, |n| {
                let wg = WaitGroup::new();
                for _ in 0..n {
                    let wg = std::hint::black_box(&wg);
                    wg.add(1);
                    wg.done();
                    wg.wait();
                }
            })
        })
    });
    g.finish();
}

fn contended(c: &mut Criterion) {
    let rt = runtime();
    let mut g = c.benchmark_group("sync");
    g.throughput(Throughput::Elements(OPS));
    g.bench_function("mutex_contended", |b| {
        b.iter(|| {
            // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
            unsafe {
                rt.run(|| {
                    let m = Arc::new(Mutex::new(0u64));
                    let wg = WaitGroup::new();
                    for _ in 0..CONTENDERS {
                        let m = m.clone();
                        wg.go(move || {
                            for _ in 0..OPS / CONTENDERS {
                                *m.lock() += 1;
                            }
                        });
                    }
                    wg.wait();
                    assert_eq!(*m.lock(), OPS);
                })
            }
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = uncontended, contended
}
criterion_main!(benches);
