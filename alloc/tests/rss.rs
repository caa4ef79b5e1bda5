//! The scavenger's promise, measured in the process's resident memory: after most
//! of a heap is swept free, `free_os_memory` gives those pages back to the OS.
//! (One test in its own process, so no other test's memory moves RSS meanwhile.)

use gort_alloc::Heap;

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("read /proc/self/statm");
    let resident: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    resident * 4096
}

#[test]
#[cfg_attr(miri, ignore)]
fn freeing_90_percent_and_free_os_memory_returns_it_to_the_os() {
    let heap = Heap::new();
    let mut c = heap.new_mcache();
    let total: usize = 256 << 20;
    let mut sizes = (16usize..=512).cycle();
    let mut objs = Vec::new();
    let mut bytes = 0;
    while bytes < total {
        let size = sizes.next().unwrap();
        let p = c.alloc(size, true);
        // SAFETY: size fresh bytes are ours; touching them makes them resident.
        unsafe { p.write_bytes(1, size) };
        objs.push(p as usize);
        bytes += size;
    }
    // The oldest 10% of the objects stay live; the rest is garbage.
    for &p in &objs[..objs.len() / 10] {
        heap.mark(p);
    }
    heap.start_sweep();
    c.prepare_for_sweep();
    heap.finish_sweep();
    // A dropped cache gives back its page cache too (up to 64 free pages).
    drop(c);
    let before = rss_bytes();
    let idle = heap.mem_stats().heap_idle;
    let released = heap.free_os_memory() as u64;
    let after = rss_bytes();
    let m = heap.mem_stats();
    assert!(
        idle >= (total as u64) * 85 / 100,
        "the sweep freed the pages: idle {idle}"
    );
    assert_eq!(m.heap_released, m.heap_idle);
    assert!(
        released >= idle - (4 << 20),
        "released {released} of {idle} idle"
    );
    assert!(
        before - after >= released * 80 / 100,
        "RSS fell by {} of {released} released bytes",
        before.saturating_sub(after)
    );
}
