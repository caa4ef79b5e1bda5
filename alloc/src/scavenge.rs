//! The scavenger: giving free heap pages back to the OS.
//!
//! Models `runtime/mgcscavenge.go` (`bgscavenge`, `scavengerState.run`,
//! `pageAlloc.scavenge`, `scavengeOne`, `heapRetained`, `printScavTrace`,
//! `retainExtraPercent`, `scavengePercent`) and `runtime/mem_linux.go`
//! (`sysUnusedOS`: `madvise(MADV_DONTNEED)`), plus `debug.FreeOSMemory`.
//!
//! # Design
//!
//! Free pages stay mapped and backed after a span is freed, ready for reuse. The
//! scavenger releases the ones the heap is unlikely to need: it `madvise`s them
//! with `MADV_DONTNEED` (Go's default on Linux) and sets their bit in the region's
//! scavenged bitmap (`pagealloc.rs`), which `HeapReleased` counts; allocating a
//! page clears the bit, and the kernel hands the page back zeroed on first touch.
//! Pages are taken from the top of each region and the highest region first, so
//! the low addresses that first-fit allocation prefers stay backed.
//!
//! - **Background** ([`Heap::bgscavenge_slice`], driven by the runtime's sysmon
//!   for the process-wide heap, or by a thread of its own from
//!   [`Heap::start_scavenger`]; Go's `bgscavenge`): keeps the heap's retained memory (`HeapSys − HeapReleased`) near a goal, paced
//!   to about 1% of one CPU (`scavengePercent`): it works in slices of about 1 ms,
//!   releasing 64 KiB at a time, then sleeps 99 times as long as it worked. The
//!   goal without a memory limit is Go's: retain 10% more than the heap in use
//!   (`retainExtraPercent`); gort has no pacer yet, so the heap-goal ratio Go
//!   multiplies in is taken as 1.
//! - **Forced** ([`Heap::free_os_memory`], Go's `debug.FreeOSMemory` minus its GC):
//!   finishes the sweep and releases every free page at once.
//!
//! With `GODEBUG=scavtrace=1`, each sweep cycle start (gort's stand-in for "once
//! per GC cycle") and each forced scavenge print Go's line to stderr:
//! `scav B KiB work (bg), E KiB work (eager), N KiB now, U% util` (+ ` (forced)`),
//! where B and E are released since the last line, N is `HeapReleased`, and U is
//! in-use pages over retained pages. As in Go, forced work counts as eager.
//!
//! # What gort simplifies
//!
//! Go's scavenger keeps a per-chunk index of scavengable memory, skips chunks that
//! were recently dense, releases in huge-page-aware units and drops the heap lock
//! while in `madvise`; gort walks its bitmaps under the heap lock (releasing at most
//! 64 KiB per lock hold in the background). No memory limit (`GOMEMLIMIT`), no
//! synchronous scavenging on heap growth.

use crate::loom::atomic::{AtomicU64, Ordering};
use crate::mheap::{Heap, HeapRegion};
use crate::sizeclass::PAGE_SIZE;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

/// Extra memory the background scavenger lets the heap keep: 10% over what is in
/// use (Go's `retainExtraPercent`).
///
/// ```
/// assert_eq!(gort_alloc::scavenge::RETAIN_EXTRA_PERCENT, 10);
/// ```
pub const RETAIN_EXTRA_PERCENT: u64 = 10;
/// CPU share the background scavenger aims for, in percent (Go's `scavengePercent`).
///
/// ```
/// assert_eq!(gort_alloc::scavenge::SCAVENGE_PERCENT, 1);
/// ```
pub const SCAVENGE_PERCENT: u32 = 1;
/// Bytes the background scavenger releases per step (Go's scavenge quantum, 64 KiB).
///
/// ```
/// assert_eq!(gort_alloc::scavenge::SCAVENGE_QUANTUM, 64 << 10);
/// ```
pub const SCAVENGE_QUANTUM: usize = 64 << 10;

/// Scavenger counters (Go's `scavenger` state and `mheap_.pages.scav`), on their
/// own cache lines (the background thread writes them).
#[repr(align(128))]
pub(crate) struct ScavengerState {
    released_bg: AtomicU64,
    pub(crate) released_eager: AtomicU64,
}

impl ScavengerState {
    pub(crate) fn new() -> ScavengerState {
        ScavengerState {
            released_bg: AtomicU64::new(0),
            released_eager: AtomicU64::new(0),
        }
    }
}

/// Whether `GODEBUG` asks for `scavtrace=1` (read once).
pub(crate) fn scavtrace_enabled() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| {
        std::env::var("GODEBUG").is_ok_and(|v| {
            v.split(',').any(|kv| {
                kv.strip_prefix("scavtrace=")
                    .is_some_and(|n| n.parse::<u32>().is_ok_and(|n| n > 0))
            })
        })
    })
}

/// A running background scavenger; dropping the handle does not stop it, call
/// [`ScavengerHandle::stop`]. It also ends by itself once its heap is dropped.
pub struct ScavengerHandle {
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl ScavengerHandle {
    /// Stops the scavenger and waits for its thread.
    ///
    /// ```
    /// let heap = gort_alloc::Heap::new();
    /// heap.start_scavenger().stop();
    /// ```
    pub fn stop(self) {
        self.stop.store(true, std::sync::atomic::Ordering::Release);
        self.thread.thread().unpark();
        let _ = self.thread.join();
    }
}

impl Heap {
    /// Releases up to `nbytes` of free, unscavenged pages to the OS, highest
    /// addresses first; returns the bytes released (Go's `pageAlloc.scavenge`).
    pub(crate) fn scavenge(&self, nbytes: usize) -> usize {
        let mut h = self.lock.lock();
        let mut pages = 0;
        let max = nbytes.div_ceil(PAGE_SIZE);
        for HeapRegion { pages: r, res } in h.regions.iter_mut().rev() {
            if pages >= max {
                break;
            }
            pages += r.scavenge(max - pages, &mut |addr, len| res.release(addr, len));
        }
        h.pstats.released_pages += pages;
        drop(h);
        pages * PAGE_SIZE
    }

    /// Bytes the heap keeps backed: `HeapSys − HeapReleased` (Go's `heapRetained`).
    fn heap_retained(&self) -> u64 {
        let m = self.mem_stats();
        m.heap_sys - m.heap_released
    }

    /// The background scavenger's goal for retained bytes: in use plus 10%.
    fn scavenge_goal(&self) -> u64 {
        self.mem_stats().heap_inuse * (100 + RETAIN_EXTRA_PERCENT) / 100
    }

    /// Finishes the current sweep and returns every free page to the OS now
    /// (Go's `debug.FreeOSMemory`, without the collection it runs first: gort's
    /// collector will call this after its own). Returns the bytes released.
    ///
    /// ```
    /// let heap = gort_alloc::Heap::new();
    /// let mut c = heap.new_mcache();
    /// c.alloc(1 << 20, true);
    /// heap.start_sweep(); // nothing marked: the object is garbage
    /// c.prepare_for_sweep();
    /// heap.free_os_memory();
    /// let m = heap.mem_stats();
    /// assert_eq!(m.heap_released, m.heap_sys); // every page is back with the OS
    /// ```
    pub fn free_os_memory(&self) -> usize {
        self.finish_sweep();
        let released = self.scavenge(usize::MAX);
        self.scav
            .released_eager
            .fetch_add(released as u64, Ordering::Relaxed);
        if scavtrace_enabled() {
            self.print_scav_trace(true);
        }
        released
    }

    /// With `GODEBUG=scavtrace=1`, prints the once-per-collection `scavtrace`
    /// line (Go's `printScavTrace` at the end of each cycle) and resets its work
    /// counters. [`Heap::start_sweep`] calls it; so does the gort runtime's
    /// forced-collection clock while the collector does not exist.
    ///
    /// ```
    /// gort_alloc::Heap::new().scavtrace_cycle(); // prints only under scavtrace=1
    /// ```
    pub fn scavtrace_cycle(&self) {
        if scavtrace_enabled() {
            self.print_scav_trace(false);
        }
    }

    /// Prints the `scavtrace` line and resets the work counters (Go's
    /// `printScavTrace`).
    pub(crate) fn print_scav_trace(&self, forced: bool) {
        let bg = self.scav.released_bg.swap(0, Ordering::Relaxed);
        let eager = self.scav.released_eager.swap(0, Ordering::Relaxed);
        eprintln!("{}", self.scav_trace_line(bg, eager, forced));
    }

    fn scav_trace_line(&self, bg: u64, eager: u64, forced: bool) -> String {
        let m = self.mem_stats();
        let retained = (m.heap_sys - m.heap_released).max(1);
        format!(
            "scav {} KiB work (bg), {} KiB work (eager), {} KiB now, {}% util{}",
            bg >> 10,
            eager >> 10,
            m.heap_released >> 10,
            m.heap_inuse * 100 / retained,
            if forced { " (forced)" } else { "" }
        )
    }

    /// Starts the background scavenger for this heap (Go's `bgscavenge`): a
    /// thread that keeps retained memory within 10% of the heap in use, at about 1%
    /// of a CPU. [`Heap::global`] starts one for the process-wide heap.
    ///
    /// ```
    /// let heap = gort_alloc::Heap::new();
    /// let mut c = heap.new_mcache();
    /// c.alloc(8 << 20, true);
    /// heap.start_sweep();
    /// c.prepare_for_sweep();
    /// heap.finish_sweep(); // 8 MiB of free, still backed pages
    /// let scav = heap.start_scavenger();
    /// while heap.mem_stats().heap_released < 8 << 20 {
    ///     std::thread::sleep(std::time::Duration::from_millis(10));
    /// }
    /// scav.stop();
    /// ```
    pub fn start_scavenger(self: &Arc<Self>) -> ScavengerHandle {
        let weak: Weak<Heap> = Arc::downgrade(self);
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stop2 = stop.clone();
        let thread = std::thread::Builder::new()
            .name("gort-scavenger".into())
            .spawn(move || bgscavenge(weak, &stop2))
            .expect("gort-alloc: cannot start the scavenger thread");
        ScavengerHandle { stop, thread }
    }
}

impl Heap {
    /// One wake-up of the background scavenger (Go's `scavengerState.run`):
    /// if the heap retains more than its goal (in use + 10%), releases free pages
    /// for about 1 ms and returns how long to rest before the next slice, so that
    /// the work stays near 1% of a CPU (`scavengePercent`). Returns `None` when
    /// there is nothing to release.
    ///
    /// [`start_scavenger`](Heap::start_scavenger)'s thread calls it in a loop; the
    /// gort runtime calls it from sysmon for the process-wide heap instead, so
    /// the scavenger costs no thread of its own (Go's runs as a goroutine).
    ///
    /// ```
    /// let heap = gort_alloc::Heap::new();
    /// let mut c = heap.new_mcache();
    /// c.alloc(8 << 20, true);
    /// heap.start_sweep();
    /// c.prepare_for_sweep();
    /// heap.finish_sweep(); // 8 MiB free and still backed: over the goal
    /// while let Some(rest) = heap.bgscavenge_slice() {
    ///     assert!(rest >= std::time::Duration::from_micros(100));
    /// }
    /// assert!(heap.mem_stats().heap_released >= 8 << 20);
    /// ```
    pub fn bgscavenge_slice(&self) -> Option<Duration> {
        const SLICE: Duration = Duration::from_millis(1);
        let start = Instant::now();
        let mut worked = false;
        while self.heap_retained() > self.scavenge_goal() && start.elapsed() < SLICE {
            let released = self.scavenge(SCAVENGE_QUANTUM);
            if released == 0 {
                break;
            }
            self.scav
                .released_bg
                .fetch_add(released as u64, Ordering::Relaxed);
            worked = true;
        }
        // Rest so that work / (work + rest) ≈ 1%.
        worked.then(|| {
            (start.elapsed() * (100 / SCAVENGE_PERCENT - 1)).max(Duration::from_micros(100))
        })
    }
}

/// The background scavenger's thread (Go's `bgscavenge`): slices of work,
/// paced; a look every 10 ms while there is nothing to do.
fn bgscavenge(heap: Weak<Heap>, stop: &std::sync::atomic::AtomicBool) {
    const IDLE: Duration = Duration::from_millis(10);
    while !stop.load(std::sync::atomic::Ordering::Acquire) {
        let Some(h) = heap.upgrade() else { return };
        let rest = h.bgscavenge_slice().unwrap_or(IDLE);
        drop(h);
        std::thread::park_timeout(rest);
    }
}

#[cfg(all(test, not(miri), not(loom)))]
mod tests {
    use crate::Heap;

    #[test]
    fn scavtrace_line_has_gos_format() {
        let heap = Heap::new();
        let mut c = heap.new_mcache();
        c.alloc(3 << 20, true); // 384 pages in use of the 512 grown
        let line = heap.scav_trace_line(64 << 10, 2 << 20, true);
        // Fresh pages count as released: 1 MiB of the 4 MiB grown; util is in use
        // over retained (3 MiB / 3 MiB).
        assert_eq!(
            line,
            "scav 64 KiB work (bg), 2048 KiB work (eager), 1024 KiB now, 100% util (forced)"
        );
        assert_eq!(
            heap.scav_trace_line(0, 0, false),
            "scav 0 KiB work (bg), 0 KiB work (eager), 1024 KiB now, 100% util"
        );
    }

    #[test]
    fn free_os_memory_releases_exactly_the_free_pages() {
        let heap = Heap::new();
        let mut c = heap.new_mcache();
        let keep = c.alloc(1 << 20, true) as usize;
        for _ in 0..8 {
            c.alloc(1 << 20, true);
        }
        heap.mark(keep);
        heap.start_sweep();
        c.prepare_for_sweep();
        let released = heap.free_os_memory();
        let m = heap.mem_stats();
        assert_eq!(m.heap_inuse, 1 << 20);
        assert_eq!(m.heap_released, m.heap_sys - (1 << 20));
        assert!(released >= 8 << 20);
        // Reusing released pages un-releases them, and they read as zeros.
        let p = c.alloc(3 << 20, true);
        // SAFETY: 3 MiB fresh bytes are ours to read.
        assert!(unsafe { std::slice::from_raw_parts(p, 3 << 20) }
            .iter()
            .all(|b| *b == 0));
        assert_eq!(heap.mem_stats().heap_released, m.heap_released - (3 << 20));
        assert_eq!(heap.free_os_memory(), 0, "nothing left to release");
    }
}
