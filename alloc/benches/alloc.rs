//! Criterion benches of allocation by size class, one and two threads, gort-alloc
//! against the system allocator (`malloc`/`free`). Go's side of the same mix is
//! `benches/go/alloc`; `drivers/bench_alloc.rs` beside this file runs the two side
//! by side.
//!
//! Each iteration allocates a batch of `BATCH` objects (timed) and then frees
//! them (untimed): gort by a sweep cycle with nothing marked, malloc by `free`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use gort_alloc::{Heap, MCache};
use std::time::{Duration, Instant};

const BATCH: usize = 10_000;

fn mixed_sizes() -> Vec<usize> {
    let mut x: u64 = 0x9e3779b97f4a7c15;
    (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            16 + (x % 497) as usize
        })
        .collect()
}

fn reclaim(heap: &Heap, caches: &mut [&mut MCache]) {
    heap.finish_sweep();
    heap.start_sweep();
    for c in caches.iter_mut() {
        c.prepare_for_sweep();
    }
    heap.finish_sweep();
}

fn gort_batch(c: &mut MCache, sizes: &[usize], keep: &mut [usize]) {
    for (i, k) in keep.iter_mut().enumerate() {
        *k = c.alloc(sizes[i % sizes.len()], true) as usize;
    }
}

fn malloc_batch(sizes: &[usize], keep: &mut [usize]) {
    for (i, k) in keep.iter_mut().enumerate() {
        // SAFETY: plain malloc, freed by malloc_free.
        *k = unsafe { libc::malloc(sizes[i % sizes.len()]) } as usize;
    }
}

fn malloc_free(keep: &[usize]) {
    for &p in keep {
        // SAFETY: from malloc_batch, freed once.
        unsafe { libc::free(p as *mut libc::c_void) };
    }
}

/// Times `f` on two threads started together (first start to last finish).
fn two(a: impl FnOnce() + Send, b: impl FnOnce() + Send) -> Duration {
    let bar = std::sync::Barrier::new(2);
    let (r0, r1) = std::thread::scope(|s| {
        let bar = &bar;
        let h0 = s.spawn(move || {
            bar.wait();
            let t = Instant::now();
            a();
            (t, Instant::now())
        });
        let h1 = s.spawn(move || {
            bar.wait();
            let t = Instant::now();
            b();
            (t, Instant::now())
        });
        (h0.join().unwrap(), h1.join().unwrap())
    });
    r0.1.max(r1.1) - r0.0.min(r1.0)
}

fn bench(c: &mut Criterion) {
    let mut cases: Vec<(String, Vec<usize>)> = vec![("mixed16-512".into(), mixed_sizes())];
    for size in [16usize, 64, 256, 1024, 8192] {
        cases.push((format!("{size}B"), vec![size]));
    }
    let mut g = c.benchmark_group("alloc_one_thread");
    g.throughput(Throughput::Elements(BATCH as u64));
    for (name, sizes) in &cases {
        let heap = Heap::new();
        let mut mc = heap.new_mcache();
        let mut keep = vec![0usize; BATCH];
        g.bench_with_input(BenchmarkId::new("gort", name), sizes, |b, sizes| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    reclaim(&heap, &mut [&mut mc]);
                    let t = Instant::now();
                    gort_batch(&mut mc, sizes, &mut keep);
                    total += t.elapsed();
                }
                total
            })
        });
        g.bench_with_input(BenchmarkId::new("malloc", name), sizes, |b, sizes| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let t = Instant::now();
                    malloc_batch(sizes, &mut keep);
                    total += t.elapsed();
                    malloc_free(&keep);
                }
                total
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("alloc_two_threads");
    g.throughput(Throughput::Elements(2 * BATCH as u64));
    for (name, sizes) in cases.iter().take(2) {
        let heap = Heap::new();
        let (mut m0, mut m1) = (heap.new_mcache(), heap.new_mcache());
        let (mut k0, mut k1) = (vec![0usize; BATCH], vec![0usize; BATCH]);
        g.bench_with_input(BenchmarkId::new("gort", name), sizes, |b, sizes| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    reclaim(&heap, &mut [&mut m0, &mut m1]);
                    total += two(
                        || gort_batch(&mut m0, sizes, &mut k0),
                        || gort_batch(&mut m1, sizes, &mut k1),
                    );
                }
                total
            })
        });
        g.bench_with_input(BenchmarkId::new("malloc", name), sizes, |b, sizes| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    total += two(
                        || malloc_batch(sizes, &mut k0),
                        || malloc_batch(sizes, &mut k1),
                    );
                    malloc_free(&k0);
                    malloc_free(&k1);
                }
                total
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(2)).warm_up_time(Duration::from_millis(500));
    targets = bench
}
criterion_main!(benches);
