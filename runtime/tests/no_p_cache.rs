//! The shared cache of allocations without a P at a sweep cycle: threads without
//! a P are not stopped by a stop-the-world, so the stopper flushes that cache
//! itself (`StoppedWorld::no_p_cache`). Its own process: it starts sweep cycles
//! on the process-wide heap.

use gort_runtime::export_test::mallocgc;
use gort_runtime::Runtime;

/// Objects allocated without a P before a cycle, none marked: flushing the no-P
/// cache at the cycle start sweeps its span (the objects are reclaimed), and the
/// cache allocates on afterwards (a debug build's refill checks that the cache
/// was flushed since the cycle began). No P's flush reaches this cache: only the
/// stopper can flush it.
#[test]
fn the_stopper_flushes_the_no_p_cache_at_a_sweep_cycle() {
    let heap = gort_alloc::Heap::global();
    let rt = Runtime::builder().procs(2).build().unwrap();
    // A plain thread has no P: its allocations go through the shared cache.
    let before: Vec<usize> = std::thread::spawn(|| {
        (0..100)
            .map(|_| mallocgc(48, true) as usize)
            .collect::<Vec<_>>()
    })
    .join()
    .unwrap();
    let span = heap.span_of(before[0]).unwrap();
    assert_eq!(span.sweepgen(), heap.sweepgen() + 3, "cached");
    heap.finish_sweep();
    {
        let mut world = rt.stop_the_world();
        {
            let mut no_p = world.no_p_cache();
            heap.start_sweep();
            no_p.prepare_for_sweep();
        }
        world.for_each_p_cache(|_, c| c.prepare_for_sweep());
    }
    heap.finish_sweep();
    for &p in &before {
        let reclaimed = heap.find_object(p).is_none_or(|(s, _, i)| s.is_free(i));
        assert!(reclaimed, "an unmarked object of the no-P cache survived");
    }
    // The flushed cache refills (more than one span of 48-byte objects) and
    // hands out fresh, zeroed memory.
    std::thread::spawn(|| {
        for _ in 0..1000 {
            let p = mallocgc(48, true);
            // SAFETY: 48 fresh bytes, ours.
            let bytes = unsafe { std::slice::from_raw_parts(p, 48) };
            assert!(bytes.iter().all(|b| *b == 0));
        }
    })
    .join()
    .unwrap();
}

/// A stopper allocating while it holds the no-P cache would wait for itself:
/// it panics instead, and the cache is usable again afterwards.
#[test]
fn allocating_while_holding_the_no_p_cache_panics_instead_of_deadlocking() {
    let rt = Runtime::builder().procs(1).build().unwrap();
    let mut world = rt.stop_the_world();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _no_p = world.no_p_cache();
        mallocgc(8, false) // no P on this thread: the no-P cache
    }));
    assert!(r.is_err());
    drop(world);
    assert!(!mallocgc(8, false).is_null());
}
