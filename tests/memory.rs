//! Memory comes back after a burst of goroutines: the stacks of dead goroutines
//! return to the heap (on a collection, here `debug::free_os_memory`, and when
//! their runtime is dropped) and the heap's pages return to the OS (at once when
//! forced, paced by the scavenger otherwise — even with no runtime left).
//!
//! One test function on purpose: it reads process-wide figures (the heap's
//! statistics, the process RSS) that a test running beside it would move.

use gort::debug::{free_os_memory, mem_stats};
use gort::sync::{Semaphore, WaitGroup};
use gort::Runtime;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Goroutines in each burst.
const N: u64 = 20_000;
/// Stack bytes each goroutine touches.
const TOUCH: usize = 16 << 10;

/// The resident set size of this process in bytes.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|r| r.split_whitespace().next()?.parse().ok())
        .expect("VmRSS in /proc/self/status");
    kib << 10
}

/// Starts `n` goroutines that each touch `TOUCH` bytes of their stack and park
/// together, then lets them all exit.
fn burst(n: u64) {
    let gate = Arc::new(Semaphore::new(0));
    let wg = WaitGroup::new();
    for _ in 0..n {
        let gate = gate.clone();
        wg.go(move || {
            let buf = std::hint::black_box([7u8; TOUCH]);
            gate.acquire();
            assert_eq!(buf[TOUCH - 1], 7);
        });
    }
    for _ in 0..n {
        gate.release();
    }
    wg.wait();
}

#[test]
fn memory_from_a_burst_comes_back() {
    let touched = N * TOUCH as u64;

    // A runtime that goes on running: a collection (free_os_memory stands in)
    // frees the stacks of the goroutines that died, and the pages go back.
    let rt = Runtime::builder().procs(2).build().unwrap();
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        rt.run(move || {
            let (stacks0, rss0) = (mem_stats().stack_inuse, rss());
            burst(N);
            let (stacks1, rss1) = (mem_stats().stack_inuse, rss());
            assert!(rss1 >= rss0 + touched, "the burst touched {touched} bytes");
            let per_stack = (stacks1 - stacks0) / N;
            assert!(per_stack > TOUCH as u64, "{per_stack} stack bytes each");

            free_os_memory();
            let m = mem_stats();
            // Only the P-local gFree lists (64 Gs each at most) keep their stacks.
            assert!(
                m.stack_inuse <= stacks0 + 2 * 64 * per_stack,
                "stacks in use: {} before the burst, {stacks1} after it, {} after free_os_memory",
                stacks0,
                m.stack_inuse
            );
            assert_eq!(m.heap_released, m.heap_idle, "every free page is released");
            let rss2 = rss();
            assert!(
                rss2 + touched * 3 / 4 <= rss1,
                "RSS {rss0} before the burst, {rss1} after, {rss2} after free_os_memory"
            );

            // The Gs whose stacks were freed get new ones and run as before.
            burst(N);
        })
    };

    // A runtime that is dropped: its stacks return to the heap, and with no
    // runtime left, the scavenger still gives the pages back to the OS.
    let rt = Runtime::builder().procs(2).build().unwrap();
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    let (stacks0, rss1) = unsafe {
        rt.run(|| {
            let stacks0 = mem_stats().stack_inuse;
            burst(N);
            (stacks0, rss())
        })
    };
    drop(rt);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (m, rss2) = (mem_stats(), rss());
        if m.stack_inuse <= stacks0 && rss2 + touched * 3 / 4 <= rss1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "60 s after the runtime was dropped: {m:?}: stacks in use {} (before the burst \
             {stacks0}), RSS {rss2} (after the burst {rss1})",
            m.stack_inuse
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
