//! Randomized allocate / mark / sweep torture through the public API, from several
//! threads: no two live objects ever overlap, every object lies in an in-use span
//! of the right class, the contents of live objects survive every cycle, and the
//! statistics agree with what the test holds.

use gort_alloc::sizeclass::{size_to_class, MAX_SMALL_SIZE};
use gort_alloc::span::MSpanState;
use gort_alloc::Heap;
use std::sync::{Barrier, Mutex};

struct Obj {
    addr: usize,
    size: usize,
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
        _ => 1 + (rng(x) % 600) as usize,
    }
}

fn check_placement(heap: &Heap, o: &Obj, noscan: bool) {
    let (s, base, _) = heap.find_object(o.addr).expect("object not in the heap");
    assert_eq!(base, o.addr, "object not at a slot base");
    assert_eq!(s.state(), MSpanState::InUse);
    assert!(o.addr + o.size <= s.limit());
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
    assert_eq!(s.spanclass().noscan(), noscan);
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
    let barrier = Barrier::new(threads);
    let all_live: Mutex<Vec<(usize, usize)>> = Mutex::new(Vec::new());
    let survivors = std::thread::scope(|sc| {
        (0..threads)
            .map(|t| {
                let heap = &heap;
                let barrier = &barrier;
                let all_live = &all_live;
                sc.spawn(move || {
                    let mut c = heap.new_mcache();
                    let mut x = 0x9e37_79b9_7f4a_7c15u64.wrapping_mul(t as u64 + 1);
                    let mut live: Vec<Obj> = Vec::new();
                    let noscan = t % 2 == 0; // one class family per thread: both exercised
                    for round in 0..rounds {
                        // Allocate, sweeping a little as the background sweeper would.
                        for i in 0..per_round {
                            let size = random_size(&mut x);
                            let size = if noscan && size < 16 { 16 } else { size }; // no tiny blocks
                            let p = c.alloc(size, noscan);
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
                                tag,
                            };
                            check_placement(heap, &o, noscan);
                            live.push(o);
                            if i % 64 == 0 {
                                heap.sweepone();
                            }
                        }
                        // Contents intact: nothing else was handed our bytes.
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
                        // Mark a random half (marking is concurrent and atomic).
                        live.retain(|_| rng(&mut x) % 2 == 0);
                        for o in &live {
                            assert!(heap.mark(o.addr + o.size / 2));
                        }
                        barrier.wait();
                        if t == 0 {
                            heap.start_sweep();
                        }
                        barrier.wait();
                        c.prepare_for_sweep();
                        barrier.wait();
                    }
                    heap.finish_sweep();
                    live.len()
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .sum::<usize>()
    });
    // Every cache is dropped (flushed) and the last cycle fully swept: the heap
    // holds exactly the objects marked in the last round.
    let m = heap.mem_stats();
    assert_eq!(m.heap_objects as usize, survivors);
    assert_eq!(m.mallocs - m.frees, m.heap_objects);
    assert!(m.heap_alloc <= m.heap_inuse && m.heap_inuse <= m.heap_sys);
}
