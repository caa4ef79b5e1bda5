//! Typed allocation (`gort_gc::alloc_in`, `gort_gc::alloc`) against the raw
//! span allocator (`MCache::alloc(size, noscan = false)`) for the same sizes.
//!
//! Each iteration allocates a batch of `BATCH` objects (timed), then frees them
//! all with a sweep cycle in which nothing is marked (untimed), so every batch
//! reuses swept slots, as a program in its steady state does.
//!
//! What the typed path adds: picking the layout from the type's `TypeInfo` (a
//! constant), the object's heap bits (nothing per object in a span of one
//! type: `gort_alloc::mbitmap`), and moving the value into the slot. The raw
//! path hands back zeroed memory and writes nothing, so `raw_and_write` also
//! writes the same bytes, the fairer baseline; `raw_heap_bits` is the span
//! allocator's typed entry point alone. `docs/gc.md` has the figures.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use gort_alloc::{Heap, MCache};
use gort_gc::{alloc_in, Gc, Trace};
use std::time::{Duration, Instant};

const BATCH: usize = 10_000;

/// A binary-trees node: 16 bytes, two pointers.
#[derive(Trace)]
struct Node {
    left: Option<Gc<Node>>,
    right: Option<Gc<Node>>,
}

/// An object of `8 + 8·W` bytes: one pointer, then data.
#[derive(Trace)]
struct Obj<const W: usize> {
    next: Option<Gc<Node>>,
    data: [u64; W],
}

/// The sizes the mixed batch cycles through, 16 to 512 bytes.
const MIX: [usize; 9] = [16, 24, 32, 48, 64, 96, 128, 256, 512];

fn alloc_mixed(c: &mut MCache, i: usize) -> usize {
    match i % MIX.len() {
        0 => Gc::addr(alloc_in(
            c,
            Obj::<1> {
                next: None,
                data: [0; 1],
            },
        )),
        1 => Gc::addr(alloc_in(
            c,
            Obj::<2> {
                next: None,
                data: [0; 2],
            },
        )),
        2 => Gc::addr(alloc_in(
            c,
            Obj::<3> {
                next: None,
                data: [0; 3],
            },
        )),
        3 => Gc::addr(alloc_in(
            c,
            Obj::<5> {
                next: None,
                data: [0; 5],
            },
        )),
        4 => Gc::addr(alloc_in(
            c,
            Obj::<7> {
                next: None,
                data: [0; 7],
            },
        )),
        5 => Gc::addr(alloc_in(
            c,
            Obj::<11> {
                next: None,
                data: [0; 11],
            },
        )),
        6 => Gc::addr(alloc_in(
            c,
            Obj::<15> {
                next: None,
                data: [0; 15],
            },
        )),
        7 => Gc::addr(alloc_in(
            c,
            Obj::<31> {
                next: None,
                data: [0; 31],
            },
        )),
        _ => Gc::addr(alloc_in(
            c,
            Obj::<63> {
                next: None,
                data: [0; 63],
            },
        )),
    }
}

fn reclaim(heap: &Heap, c: &mut MCache) {
    heap.finish_sweep();
    heap.start_sweep();
    c.prepare_for_sweep();
    heap.finish_sweep();
}

/// Times `batch` on a fresh heap's cache, reclaiming between batches.
fn timed(iters: u64, mut batch: impl FnMut(&mut MCache, &Heap)) -> Duration {
    let heap = Heap::new();
    let mut c = heap.new_mcache();
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        reclaim(&heap, &mut c);
        let t = Instant::now();
        batch(&mut c, &heap);
        total += t.elapsed();
    }
    total
}

fn bench(cr: &mut Criterion) {
    let mut g = cr.benchmark_group("gc_alloc");
    g.throughput(Throughput::Elements(BATCH as u64));
    let mut keep = vec![0usize; BATCH];

    g.bench_function(BenchmarkId::new("raw", "node16"), |b| {
        b.iter_custom(|n| {
            timed(n, |c, _| {
                for k in keep.iter_mut() {
                    *k = c.alloc(16, false) as usize;
                }
            })
        })
    });
    g.bench_function(BenchmarkId::new("raw_and_write", "node16"), |b| {
        b.iter_custom(|n| {
            timed(n, |c, _| {
                let mut prev = 0usize;
                for k in keep.iter_mut() {
                    let p = c.alloc(16, false) as *mut [usize; 2];
                    // SAFETY: 16 fresh bytes, ours.
                    unsafe { p.write([prev, 0]) };
                    prev = p as usize;
                    *k = prev;
                }
            })
        })
    });
    g.bench_function(BenchmarkId::new("raw_heap_bits", "node16"), |b| {
        b.iter_custom(|n| {
            timed(n, |c, _| {
                for k in keep.iter_mut() {
                    *k = c.alloc_heap_bits(16, 8, 0b11) as usize;
                }
            })
        })
    });
    g.bench_function(BenchmarkId::new("alloc_in", "node16"), |b| {
        b.iter_custom(|n| {
            timed(n, |c, _| {
                let mut prev = None;
                for k in keep.iter_mut() {
                    let g = alloc_in(
                        c,
                        Node {
                            left: prev,
                            right: None,
                        },
                    );
                    *k = Gc::addr(g);
                    prev = Some(g);
                }
            })
        })
    });
    g.bench_function(BenchmarkId::new("raw", "mixed16-512"), |b| {
        b.iter_custom(|n| {
            timed(n, |c, _| {
                for (i, k) in keep.iter_mut().enumerate() {
                    *k = c.alloc(MIX[i % MIX.len()], false) as usize;
                }
            })
        })
    });
    g.bench_function(BenchmarkId::new("raw_and_write", "mixed16-512"), |b| {
        b.iter_custom(|n| {
            timed(n, |c, _| {
                for (i, k) in keep.iter_mut().enumerate() {
                    let size = MIX[i % MIX.len()];
                    let p = c.alloc(size, false);
                    // SAFETY: `size` fresh bytes, ours: initialised as a
                    // typed allocation initialises its value.
                    unsafe { p.write_bytes(1, size) };
                    *k = p as usize;
                }
            })
        })
    });
    g.bench_function(BenchmarkId::new("alloc_in", "mixed16-512"), |b| {
        b.iter_custom(|n| {
            timed(n, |c, _| {
                for (i, k) in keep.iter_mut().enumerate() {
                    *k = alloc_mixed(c, i);
                }
            })
        })
    });
    // `gort_gc::alloc` with no cache source registered: the shared cache of the
    // process-wide heap, behind an uncontended lock (what a thread without a P
    // pays).
    g.bench_function(BenchmarkId::new("alloc_shared", "node16"), |b| {
        b.iter_custom(|n| {
            let heap = Heap::global();
            let mut total = Duration::ZERO;
            for _ in 0..n {
                heap.finish_sweep();
                heap.start_sweep();
                gort_gc::with_shared_cache(|c| c.prepare_for_sweep());
                heap.finish_sweep();
                let t = Instant::now();
                for k in keep.iter_mut() {
                    *k = Gc::addr(gort_gc::alloc(Node {
                        left: None,
                        right: None,
                    }));
                }
                total += t.elapsed();
            }
            total
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(2)).warm_up_time(Duration::from_millis(500));
    targets = bench
}
criterion_main!(benches);
