//! The scavenger at work: a 1 GiB heap of small objects, 90% of it swept free,
//! then `free_os_memory()`. Prints RSS (from /proc/self/statm) and MemStats at
//! each step, and the scavtrace lines if asked:
//!
//! `GODEBUG=scavtrace=1 cargo run --release -p gort-alloc --example scavenge`
//!
//! The live 10% are the oldest objects (allocated first, as long-lived data
//! usually is), so the freed 90% leaves whole spans empty; survivors scattered one
//! per span would keep every page in use, in Go as here.

use gort_alloc::{Heap, MemStats};

fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("read /proc/self/statm");
    statm
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<u64>()
        .unwrap()
        * 4096
}

fn mib(b: u64) -> f64 {
    b as f64 / (1 << 20) as f64
}

fn show(step: &str, m: &MemStats) {
    println!(
        "{step:<24} RSS={:7.1} MiB  HeapAlloc={:7.1} HeapInuse={:7.1} HeapIdle={:7.1} HeapReleased={:7.1} HeapSys={:7.1}",
        mib(rss()),
        mib(m.heap_alloc),
        mib(m.heap_inuse),
        mib(m.heap_idle),
        mib(m.heap_released),
        mib(m.heap_sys)
    );
}

fn main() {
    let heap = Heap::new();
    let mut c = heap.new_mcache();
    let total: usize = 1 << 30;
    let mut x: u64 = 0x9e3779b97f4a7c15;
    let mut objs = Vec::with_capacity(total / 200);
    let mut bytes = 0;
    while bytes < total {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let size = 16 + (x % 497) as usize;
        let p = c.alloc(size, true);
        // SAFETY: `size` fresh bytes are ours; writing makes them resident.
        unsafe { p.write_bytes(0x5a, size) };
        objs.push(p as usize);
        bytes += size;
    }
    c.release_all();
    show("after allocating 1 GiB", &heap.mem_stats());
    for &p in &objs[..objs.len() / 10] {
        heap.mark(p);
    }
    heap.start_sweep();
    c.prepare_for_sweep();
    heap.finish_sweep();
    let m = heap.mem_stats();
    show("after sweeping 90%", &m);
    let before = rss();
    let freed = m.heap_idle - m.heap_released;
    let released = heap.free_os_memory() as u64;
    let after = rss();
    show("after free_os_memory", &heap.mem_stats());
    println!(
        "freed (idle, backed) {:.1} MiB; released {:.1} MiB; RSS fell {:.1} MiB = {:.0}% of the freed bytes (target ≥ 80%)",
        mib(freed),
        mib(released),
        mib(before - after),
        100.0 * (before - after) as f64 / freed as f64
    );
}
