//! Allocation throughput, side by side with `benches/go/alloc` (same batches, same
//! size sequence, same output format): gort-alloc's `MCache::alloc` and the system
//! allocator (`malloc`/`free`), one thread and two threads.
//!
//! Each batch allocates `n` pointer-free objects whose sizes cycle through 4096
//! pseudo-random sizes in [16, 512]. Between batches (untimed) the objects are
//! freed: gort runs a sweep cycle with nothing marked (what Go's `runtime.GC()`
//! does with no live objects), malloc's side calls `free` on each. The best batch
//! of `reps` is kept.
//!
//! Run: `cargo run --release -p gort-alloc --example bench_alloc [n] [reps]`
//! (defaults 20000 and 200, as `benches/go/alloc`). With `SEPARATE=1` it also runs
//! the two-thread case on two separate heaps, which tells contention inside one
//! heap apart from the machine's own limits (memory bandwidth, other load).
//! `ONLY_GORT=1` skips malloc (for profiling gort alone).

use gort_alloc::{Heap, MCache};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn sizes() -> Vec<usize> {
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

fn gort_batch(c: &mut MCache, sizes: &[usize], keep: &mut [usize]) {
    for (i, k) in keep.iter_mut().enumerate() {
        *k = c.alloc(sizes[i & 4095], true) as usize;
    }
}

fn malloc_batch(sizes: &[usize], keep: &mut [usize]) {
    for (i, k) in keep.iter_mut().enumerate() {
        // SAFETY: plain malloc; freed by malloc_free.
        *k = unsafe { libc::malloc(sizes[i & 4095]) } as usize;
    }
}

fn malloc_free(keep: &[usize]) {
    for &p in keep {
        // SAFETY: each pointer came from malloc_batch and is freed once.
        unsafe { libc::free(p as *mut libc::c_void) };
    }
}

/// Runs `a` and `b` on two threads started together; the wall time from the first
/// start to the last finish, as seen by the workers (the main thread may be
/// descheduled, so it does not time them).
fn two_threads(a: impl FnOnce() + Send, b: impl FnOnce() + Send) -> Duration {
    let barrier = std::sync::Barrier::new(2);
    let (s0, e0, s1, e1) = std::thread::scope(|s| {
        let bar = &barrier;
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
        let (s0, e0) = h0.join().unwrap();
        let (s1, e1) = h1.join().unwrap();
        (s0, e0, s1, e1)
    });
    e0.max(e1) - s0.min(s1)
}

fn reclaim(heap: &Heap, caches: &mut [MCache]) {
    heap.finish_sweep();
    heap.start_sweep();
    for c in caches.iter_mut() {
        c.prepare_for_sweep();
    }
    heap.finish_sweep();
}

fn report(name: &str, n: usize, one: Duration, two: Duration) {
    let m1 = n as f64 / one.as_secs_f64() / 1e6;
    let m2 = 2.0 * n as f64 / two.as_secs_f64() / 1e6;
    println!(
        "{name} alloc: mixed16-512 one-thread ns/op={:.2} Mops/s={m1:.1}",
        one.as_nanos() as f64 / n as f64
    );
    println!(
        "{name} alloc: mixed16-512 two-threads Mops/s={m2:.1} scaling={:.2}x",
        m2 / m1
    );
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map_or(20_000, |a| a.parse().expect("n"));
    let reps: usize = args.next().map_or(200, |a| a.parse().expect("reps"));
    let sizes = sizes();
    let mut keep = vec![vec![0usize; n]; 2];

    // gort, one thread.
    let heap: Arc<Heap> = Heap::new();
    let mut caches = vec![heap.new_mcache(), heap.new_mcache()];
    let mut best1 = Duration::MAX;
    for _ in 0..reps {
        reclaim(&heap, &mut caches);
        let t = Instant::now();
        gort_batch(&mut caches[0], &sizes, &mut keep[0]);
        best1 = best1.min(t.elapsed());
    }
    // gort, two threads, one mcache each.
    let mut best2 = Duration::MAX;
    for _ in 0..reps {
        reclaim(&heap, &mut caches);
        let (c0, c1) = caches.split_at_mut(1);
        let (k0, k1) = keep.split_at_mut(1);
        let sz = &sizes;
        let d = two_threads(
            || gort_batch(&mut c0[0], sz, &mut k0[0]),
            || gort_batch(&mut c1[0], sz, &mut k1[0]),
        );
        best2 = best2.min(d);
    }
    report("gort", n, best1, best2);
    if std::env::var("ONLY_GORT").is_ok() {
        return;
    }
    if std::env::var("SEPARATE").is_ok() {
        let h2 = Heap::new();
        let mut other = h2.new_mcache();
        let mut best3 = Duration::MAX;
        for _ in 0..reps {
            reclaim(&heap, &mut caches);
            let mut o = [other];
            reclaim(&h2, &mut o);
            let [o0] = o;
            other = o0;
            let (k0, k1) = keep.split_at_mut(1);
            let sz = &sizes;
            let c0 = &mut caches[0];
            let oc = &mut other;
            let d = two_threads(
                || gort_batch(c0, sz, &mut k0[0]),
                || gort_batch(oc, sz, &mut k1[0]),
            );
            best3 = best3.min(d);
        }
        report("gort-separate-heaps", n, best1, best3);
    }

    // malloc, one thread.
    let mut best1 = Duration::MAX;
    for _ in 0..reps {
        let t = Instant::now();
        malloc_batch(&sizes, &mut keep[0]);
        best1 = best1.min(t.elapsed());
        malloc_free(&keep[0]);
    }
    let mut best2 = Duration::MAX;
    for _ in 0..reps {
        let (k0, k1) = keep.split_at_mut(1);
        let sz = &sizes;
        let d = two_threads(
            || malloc_batch(sz, &mut k0[0]),
            || malloc_batch(sz, &mut k1[0]),
        );
        malloc_free(&keep[0]);
        malloc_free(&keep[1]);
        best2 = best2.min(d);
    }
    report("malloc", n, best1, best2);
}
