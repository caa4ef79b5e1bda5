//! Randomized allocate / mark / sweep torture through the public API, from several
//! threads: no two live objects ever overlap, every object lies in an in-use span
//! of the right class, the contents of live objects survive every cycle, and the
//! statistics agree with what the test holds.
//!
//! What runs meanwhile, each a path where an ordering mistake loses or corrupts
//! memory:
//! - **tiny objects** (noscan, under 16 bytes), several per 16-byte block;
//! - a **shared cache under a lock** beside each thread's own, as the runtime's
//!   no-P cache (`runtime/src/malloc.rs`): several threads allocate through it,
//!   and the thread starting a cycle holds its lock across `start_sweep` and its
//!   flush, as `StoppedWorld::no_p_cache` does;
//! - a **late flush**: one thread flushes its cache only after the rest of the
//!   cycle has been swept (`finish_sweep`), so the full spans waiting in its
//!   batch are filed behind the sweeper, and must still be swept and kept;
//! - the **scavenger** releasing free pages to the OS (`free_os_memory`) in a
//!   loop on a thread of its own: a page released under a live object would read
//!   as zeros and fail the contents check.

use gort_alloc::mcache::TINY_SPAN_CLASS;
use gort_alloc::sizeclass::{size_to_class, MAX_SMALL_SIZE, TINY_SIZE};
use gort_alloc::span::MSpanState;
use gort_alloc::{Heap, MCache};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

/// A barrier that gives up when a thread has panicked (`std`'s would leave the
/// others waiting for it forever, and the test would hang instead of failing).
struct Barrier {
    n: usize,
    /// Threads arrived, generation.
    state: Mutex<(usize, u64)>,
    cv: Condvar,
    failed: AtomicBool,
}

impl Barrier {
    fn new(n: usize) -> Barrier {
        Barrier {
            n,
            state: Mutex::new((0, 0)),
            cv: Condvar::new(),
            failed: AtomicBool::new(false),
        }
    }

    fn wait(&self) {
        let mut g = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let generation = g.1;
        g.0 += 1;
        if g.0 == self.n {
            *g = (0, generation + 1);
            self.cv.notify_all();
            return;
        }
        while g.1 == generation {
            assert!(
                !self.failed.load(Ordering::Relaxed),
                "another thread failed"
            );
            g = self
                .cv
                .wait_timeout(g, Duration::from_millis(10))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

/// Marks the barrier failed if its thread panics.
struct FailOnPanic<'a>(&'a Barrier);

impl Drop for FailOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.failed.store(true, Ordering::Relaxed);
        }
    }
}

struct Obj {
    addr: usize,
    size: usize,
    noscan: bool,
    tag: u8,
}

fn rng(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

fn random_size(x: &mut u64) -> usize {
    match rng(x) % 100 {
        0 => MAX_SMALL_SIZE + (rng(x) % 100_000) as usize, // large
        1..=10 => 1024 + (rng(x) % 31_000) as usize,
        11..=25 => 1 + (rng(x) % 15) as usize, // tiny, if noscan
        _ => 1 + (rng(x) % 600) as usize,
    }
}

fn is_tiny(o: &Obj) -> bool {
    o.noscan && o.size < TINY_SIZE
}

fn check_placement(heap: &Heap, o: &Obj) {
    let (s, base, _) = heap.find_object(o.addr).expect("object not in the heap");
    assert_eq!(s.state(), MSpanState::InUse);
    assert!(o.addr + o.size <= s.limit());
    if is_tiny(o) {
        // Inside a 16-byte block of the tiny span class.
        assert_eq!(s.spanclass(), TINY_SPAN_CLASS);
        assert!(base <= o.addr && o.addr + o.size <= base + TINY_SIZE);
    } else {
        assert_eq!(base, o.addr, "object not at a slot base");
        let want = if o.size > MAX_SMALL_SIZE {
            0
        } else {
            size_to_class(o.size)
        };
        assert_eq!(
            s.spanclass().sizeclass(),
            want,
            "size {} in the wrong class",
            o.size
        );
        assert_eq!(s.spanclass().noscan(), o.noscan);
    }
    // Every byte: its span is this span.
    assert!(std::ptr::eq(heap.span_of(o.addr + o.size - 1).unwrap(), s));
}

#[test]
#[cfg_attr(miri, ignore)]
fn torture_alloc_mark_sweep_from_three_threads() {
    let heap = Heap::new();
    let threads = 3;
    let rounds = 12;
    let per_round = 4000;
    // The thread that flushes its own cache late, after the cycle's sweep.
    let late = 2;
    let barrier = Barrier::new(threads);
    let all_live: Mutex<Vec<(usize, usize)>> = Mutex::new(Vec::new());
    let shared: Mutex<MCache> = Mutex::new(heap.new_mcache());
    let done = AtomicBool::new(false);
    let survivors: BTreeSet<usize> = std::thread::scope(|sc| {
        let scavenger = sc.spawn(|| {
            let mut released = 0;
            // Also stops when a worker failed (the test then reports that
            // instead of waiting for `done`).
            while !done.load(Ordering::Relaxed) && !barrier.failed.load(Ordering::Relaxed) {
                released += heap.free_os_memory();
                std::thread::sleep(Duration::from_micros(200));
            }
            released
        });
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let heap = &heap;
                let barrier = &barrier;
                let all_live = &all_live;
                let shared = &shared;
                sc.spawn(move || {
                    let _fail = FailOnPanic(barrier);
                    let mut c = heap.new_mcache();
                    let mut x = 0x9e37_79b9_7f4a_7c15u64.wrapping_mul(t as u64 + 1);
                    let mut live: Vec<Obj> = Vec::new();
                    for round in 0..rounds {
                        // Allocate, sweeping a little as the background sweeper would.
                        for i in 0..per_round {
                            let size = random_size(&mut x);
                            let noscan = rng(&mut x).is_multiple_of(2);
                            // One in 8 through the shared cache, under its lock.
                            let p = if rng(&mut x).is_multiple_of(8) {
                                shared.lock().unwrap().alloc(size, noscan)
                            } else {
                                c.alloc(size, noscan)
                            };
                            let tag = (rng(&mut x) % 255 + 1) as u8;
                            // SAFETY: `size` fresh bytes are ours; check they are zero, then fill.
                            unsafe {
                                let bytes = std::slice::from_raw_parts_mut(p, size);
                                assert!(bytes.iter().all(|b| *b == 0), "allocation not zeroed");
                                bytes.fill(tag);
                            }
                            let o = Obj {
                                addr: p as usize,
                                size,
                                noscan,
                                tag,
                            };
                            check_placement(heap, &o);
                            live.push(o);
                            if i % 64 == 0 {
                                heap.sweepone();
                            }
                        }
                        // Contents intact: nothing else was handed our bytes, and
                        // the scavenger released none of them.
                        for o in &live {
                            // SAFETY: a live object of ours.
                            let bytes =
                                unsafe { std::slice::from_raw_parts(o.addr as *const u8, o.size) };
                            assert!(
                                bytes.iter().all(|b| *b == o.tag),
                                "round {round}: a live object was overwritten"
                            );
                        }
                        all_live
                            .lock()
                            .unwrap()
                            .extend(live.iter().map(|o| (o.addr, o.size)));
                        barrier.wait();
                        if t == 0 {
                            let mut v = std::mem::take(&mut *all_live.lock().unwrap());
                            v.sort();
                            for w in v.windows(2) {
                                assert!(
                                    w[0].0 + w[0].1 <= w[1].0,
                                    "live objects overlap: {:x?} {:x?}",
                                    w[0],
                                    w[1]
                                );
                            }
                        }
                        // A cycle begins: the last one's sweep is finished first (Go's
                        // gcStart → finishsweep_m), so no span carries old marks.
                        heap.finish_sweep();
                        barrier.wait();
                        // Mark a random half (marking is concurrent and atomic). A
                        // tiny block holds several objects: only its first mark
                        // counts.
                        live.retain(|_| rng(&mut x).is_multiple_of(2));
                        for o in &live {
                            let first = heap.mark(o.addr + o.size / 2);
                            assert!(first || is_tiny(o), "marked twice");
                        }
                        barrier.wait();
                        if t == 0 {
                            // Threads allocating through the shared cache are not
                            // stopped: hold it across the cycle start and its flush.
                            let mut s = shared.lock().unwrap();
                            heap.start_sweep();
                            s.prepare_for_sweep();
                        }
                        barrier.wait();
                        if t != late {
                            c.prepare_for_sweep();
                        }
                        barrier.wait();
                        if t == 0 {
                            // The sweeper passes every class before the late
                            // thread files its batch of full spans.
                            heap.finish_sweep();
                        }
                        barrier.wait();
                        if t == late {
                            c.prepare_for_sweep();
                        }
                        barrier.wait();
                    }
                    heap.finish_sweep();
                    live
                })
            })
            .collect();
        let survivors = workers
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .map(|o| heap.find_object(o.addr).unwrap().1)
            .collect();
        done.store(true, Ordering::Relaxed);
        let released = scavenger.join().unwrap();
        assert!(released > 0, "the scavenger had free pages to release");
        survivors
    });
    drop(shared.into_inner().unwrap());
    heap.finish_sweep();
    // Every cache is dropped (flushed) and the last cycle fully swept: the heap
    // holds exactly the objects (tiny blocks counted once) marked in the last
    // round — nothing lost in a late-filed batch, nothing freed under a live one.
    let m = heap.mem_stats();
    assert_eq!(m.heap_objects as usize, survivors.len());
    assert_eq!(m.mallocs - m.frees, m.heap_objects);
    assert!(m.heap_alloc <= m.heap_inuse && m.heap_inuse <= m.heap_sys);
    let spans: BTreeSet<usize> = survivors
        .iter()
        .map(|&p| heap.span_of(p).unwrap().base())
        .collect();
    let pages: usize = spans
        .iter()
        .map(|&b| heap.span_of(b).unwrap().npages())
        .sum();
    assert_eq!(
        m.heap_inuse as usize,
        pages * 8192,
        "exactly the survivors' spans are in use"
    );
}
