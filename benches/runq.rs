//! The P-local run queue (Go's 256-slot ring, `runtime/src/proc/runq.rs`) against
//! `crossbeam_deque`'s FIFO `Worker`/`Stealer`, on the patterns the scheduler uses:
//!
//! - `put_get`: the owner puts one item and takes it back (one `runqput` +
//!   `runqget`); per put+get pair.
//! - `steal_half_of_128`: a thief with an empty queue takes half of a victim's 128
//!   items (`runqsteal`); per steal. crossbeam's `steal_batch_and_pop` stops at 32
//!   items (its `MAX_BATCH`), so it is measured both as is and with a limit of 64
//!   (`steal_batch_with_limit_and_pop`), which moves as many items as the ring does.
//!   Each steal gets fresh queues (`iter_batched_ref`). With criterion's
//!   `SmallInput` batches (thousands of queue pairs set up before each timed batch)
//!   the queues are mostly out of L1/L2, and the footprint differs: a ring pair is
//!   two 2 KiB rings, a crossbeam pair about 1.5 KiB of buffers. The `_warm` group
//!   times batches of 8, all in cache, which isolates the instructions.
//! - `contended_2_threads`: the owner puts 64 items and takes them back while a
//!   second thread steals from it and drains what it stole; per item taken (by
//!   either thread).
//!
//! Run: `cargo bench --bench runq`.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use crossbeam_deque::{Steal, Stealer, Worker};
use gort_runtime::bench_internals::{Overflow, RunQ, RUNQ_SIZE};
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Stands in for the global run queue; only reached if a ring fills up.
struct Global(Mutex<Vec<usize>>);

impl Overflow<u64> for Global {
    fn push_batch(&self, batch: &[*mut u64]) {
        self.0
            .lock()
            .unwrap()
            .extend(batch.iter().map(|&p| p as usize));
    }
}

fn global() -> Global {
    Global(Mutex::new(Vec::new()))
}

/// An item pointer that may cross threads (the items are leaked, never freed).
#[derive(Clone, Copy)]
struct Item(*mut u64);
// SAFETY: points at a leaked `Box<u64>` that lives for the whole process and is
// only ever read.
unsafe impl Send for Item {}
// SAFETY: as above.
unsafe impl Sync for Item {}

/// `n` leaked boxed items, as the runtime's Gs are never freed while it runs.
fn leak_items(n: usize) -> Vec<Item> {
    (0..n as u64)
        .map(|i| Item(Box::into_raw(Box::new(i))))
        .collect()
}

fn put_get(c: &mut Criterion) {
    let items = leak_items(1);
    let mut g = c.benchmark_group("runq/put_get");
    g.throughput(Throughput::Elements(1));

    let q = RunQ::<u64>::new();
    let ov = global();
    g.bench_function("gort_ring", |b| {
        b.iter(|| {
            q.put(black_box(items[0].0), false, &ov);
            black_box(q.get())
        })
    });

    let w = Worker::<Item>::new_fifo();
    g.bench_function("crossbeam_fifo", |b| {
        b.iter(|| {
            w.push(black_box(items[0]));
            black_box(w.pop().map(|i| i.0))
        })
    });
    g.finish();
    assert!(ov.0.lock().unwrap().is_empty());
}

const STEAL_FILL: usize = 128;

fn steal_half_with(c: &mut Criterion, group: &str, batch: BatchSize) {
    let items = leak_items(STEAL_FILL);
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Elements(1));

    let ov = global();
    g.bench_function("gort_ring", |b| {
        b.iter_batched_ref(
            || {
                let victim = RunQ::<u64>::new();
                for it in &items {
                    victim.put(it.0, false, &ov);
                }
                (victim, RunQ::<u64>::new())
            },
            |(victim, thief)| {
                let got = thief.steal(victim, false, &|| {});
                debug_assert_eq!(thief.len(), 63);
                black_box(got)
            },
            batch,
        )
    });

    let setup_cb = || {
        let victim = Worker::<Item>::new_fifo();
        for &it in &items {
            victim.push(it);
        }
        let stealer = victim.stealer();
        (victim, stealer, Worker::<Item>::new_fifo())
    };
    g.bench_function("crossbeam_fifo_default_32", |b| {
        b.iter_batched_ref(
            setup_cb,
            |(_victim, stealer, thief)| {
                let got = stealer.steal_batch_and_pop(thief);
                debug_assert_eq!(thief.len(), 31);
                black_box(got.success().map(|i| i.0))
            },
            batch,
        )
    });
    g.bench_function("crossbeam_fifo_limit_64", |b| {
        b.iter_batched_ref(
            setup_cb,
            |(_victim, stealer, thief)| {
                let got = stealer.steal_batch_with_limit_and_pop(thief, 64);
                debug_assert_eq!(thief.len(), 63);
                black_box(got.success().map(|i| i.0))
            },
            batch,
        )
    });
    g.finish();
    assert!(ov.0.lock().unwrap().is_empty());
}

/// Fresh queues from a large batch: the victim's and thief's slots are not in
/// cache, as when a thief on another core steals (the usual case).
fn steal_half(c: &mut Criterion) {
    steal_half_with(c, "runq/steal_half_of_128", BatchSize::SmallInput);
}

/// Eight fresh queue pairs per timed batch: everything is in L1/L2, so this shows
/// the instructions alone.
fn steal_half_warm(c: &mut Criterion) {
    steal_half_with(
        c,
        "runq/steal_half_of_128_warm",
        BatchSize::NumIterations(8),
    );
}

/// Items the owner puts before taking them back, in the contended case.
const BURST: usize = 64;

/// The 2-thread case for any queue: `owner` puts a burst and takes until empty,
/// `thief` steals and drains, until `total` items have been taken. Returns the
/// wall time from the start signal until both threads are done.
fn contended(
    total: u64,
    owner: impl FnOnce(&AtomicU64, u64),
    thief: impl FnOnce(&AtomicU64, u64) + Send,
) -> Duration {
    let taken = AtomicU64::new(0);
    let go = AtomicBool::new(false);
    std::thread::scope(|s| {
        let h = s.spawn(|| {
            while !go.load(Ordering::Acquire) {
                std::hint::spin_loop();
            }
            thief(&taken, total);
        });
        let start = Instant::now();
        go.store(true, Ordering::Release);
        owner(&taken, total);
        h.join().unwrap();
        let d = start.elapsed();
        assert_eq!(taken.load(Ordering::Relaxed), total);
        d
    })
}

fn contended_2_threads(c: &mut Criterion) {
    let items = leak_items(BURST);
    let mut g = c.benchmark_group("runq/contended_2_threads");
    g.throughput(Throughput::Elements(1));

    g.bench_function("gort_ring", |b| {
        b.iter_custom(|iters| {
            let victim = RunQ::<u64>::new();
            let ov = global();
            let d = contended(
                iters,
                |taken, total| {
                    let mut put = 0;
                    while put < total {
                        let k = (total - put).min(BURST as u64);
                        for it in &items[..k as usize] {
                            victim.put(it.0, false, &ov);
                        }
                        put += k;
                        let mut n = 0;
                        while let Some((p, _)) = victim.get() {
                            black_box(p);
                            n += 1;
                        }
                        taken.fetch_add(n, Ordering::AcqRel);
                    }
                    while taken.load(Ordering::Acquire) < total {
                        std::hint::spin_loop();
                    }
                },
                |taken, total| {
                    let mine = RunQ::<u64>::new();
                    while taken.load(Ordering::Acquire) < total {
                        if let Some(p) = mine.steal(&victim, false, &|| {}) {
                            black_box(p);
                            let mut n = 1;
                            while let Some((p, _)) = mine.get() {
                                black_box(p);
                                n += 1;
                            }
                            taken.fetch_add(n, Ordering::AcqRel);
                        }
                    }
                },
            );
            assert!(ov.0.lock().unwrap().is_empty());
            d
        })
    });

    g.bench_function("crossbeam_fifo", |b| {
        b.iter_custom(|iters| {
            let victim = Worker::<Item>::new_fifo();
            let stealer: Stealer<Item> = victim.stealer();
            contended(
                iters,
                |taken, total| {
                    let mut put = 0;
                    while put < total {
                        let k = (total - put).min(BURST as u64);
                        for &it in &items[..k as usize] {
                            victim.push(it);
                        }
                        put += k;
                        let mut n = 0;
                        while let Some(p) = victim.pop() {
                            black_box(p.0);
                            n += 1;
                        }
                        taken.fetch_add(n, Ordering::AcqRel);
                    }
                    while taken.load(Ordering::Acquire) < total {
                        std::hint::spin_loop();
                    }
                },
                |taken, total| {
                    let mine = Worker::<Item>::new_fifo();
                    while taken.load(Ordering::Acquire) < total {
                        if let Steal::Success(p) = stealer.steal_batch_and_pop(&mine) {
                            black_box(p.0);
                            let mut n = 1;
                            while let Some(p) = mine.pop() {
                                black_box(p.0);
                                n += 1;
                            }
                            taken.fetch_add(n, Ordering::AcqRel);
                        }
                    }
                },
            )
        })
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(50)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = put_get, steal_half, steal_half_warm, contended_2_threads
}

const _: () = assert!(STEAL_FILL as u32 <= RUNQ_SIZE);

criterion_main!(benches);
