//! Goroutine stacks: fixed-size virtual reservations carved out of large regions,
//! each with a guard page below it.
//!
//! Models the role of Go's `stack.go` (`stackalloc`, `stackfree`, the per-P and
//! global stack caches), with one deliberate difference: **gort stacks never move**.
//! Go starts a goroutine on 2 KiB and copies the stack to a bigger one when a
//! function prologue finds it too small (`newstack` → `copystack`), fixing every
//! pointer into the old stack. Rust code holds references into its stack everywhere
//! and has no prologue checks, and the collector scans stacks conservatively, so a
//! stack can neither be moved nor be grown by copying. Instead each goroutine gets a
//! fixed-size reservation ([`DEFAULT_STACK_SIZE`], 256 KiB by default, set with
//! `Builder::stack_size`) whose pages the kernel commits on first touch. A goroutine
//! that parks after a few calls has touched one or two 4 KiB pages, which is what it
//! costs in resident memory; the rest is address space, of which a 64-bit process
//! has 128 TiB. 256 KiB is chosen because unoptimised (debug) Rust frames are large
//! and formatting, backtraces and `std` I/O need tens of KiB; it is an eighth of a
//! thread's default and holds a million goroutines in 256 GiB of address space.
//!
//! # Stacks are manual spans of the heap
//!
//! Like Go's `stackalloc` for large stacks (`stackLarge`, `mheap.allocManual`),
//! a stack is a *manual span* of the process-wide span allocator
//! (`gort_alloc::Heap::global()`): `size / 8 KiB + 1` pages of one of its 64 MiB
//! arenas, never swept, counted as `StackInuse` in `mem_stats`. The span's first
//! 8 KiB page is the guard, the rest is the stack. Linux limits a process to
//! `vm.max_map_count` mappings (65,530 by default), and an arena is one mapping, so
//! the guard is installed with `madvise(MADV_GUARD_INSTALL)` (Linux 6.13+), which
//! makes touching the page fault without splitting the mapping. On older kernels
//! the guard falls back to `mprotect(PROT_NONE)`, which splits the mapping; those
//! guards are counted against a budget of half of `vm.max_map_count`, and when it
//! runs out spawning fails with a message that says so and how to raise the
//! limit, instead of a bare `ENOMEM`. Sizes are rounded up to the allocator's
//! 8 KiB page.
//!
//! # Reuse and return
//!
//! Faulting a fresh page costs about 2 µs on a virtual machine, more than the rest of
//! a spawn. So a dead goroutine keeps its stack, warm, on the gFree lists
//! (`proc::g`), and the next `go` reuses both. Stacks go back to the heap in two
//! cases, as in Go: the stacks of dead goroutines on the global gFree list, once
//! per collection (`sched::free_g_stacks`, Go's `markrootFreeGStacks`; sysmon
//! forces one every 2 minutes, and `debug::free_os_memory` runs one), and every
//! stack of a runtime that shut down. `stackfree_all` removes the guard
//! (`MADV_GUARD_REMOVE`, or `mprotect` back to read-write) and frees the span
//! with its memory released to the OS at once (`Heap::free_manual_released`,
//! counted as eager work in `GODEBUG=scavtrace=1`). Go leaves freed stack
//! memory to the paced scavenger; gort cannot, because its stacks are sparse:
//! a parked goroutine has touched one or two pages of a 264 KiB span, so the
//! scavenger, walking every page at 1% of a CPU, would spend 97% of its budget
//! on pages never backed (a million stacks took over ten minutes). A G whose
//! stack was freed gets a new one when it is reused.
//!
//! # Overflow
//!
//! The SIGSEGV handler (`signal.rs`) tells a stack overflow from any other fault
//! by looking the address up in the heap's arena index (`span_of`): a manual span
//! whose guard page holds the address. That is async-signal-safe because it is
//! atomic loads only — `STACK_HEAP`, the arena index entries, and the span's
//! `state`, `base` and `npages`, which are atomics like every `MSpan` field —
//! with no lock and no allocation. A fault in a guard page comes from the
//! goroutine running just above it, whose stack is in use and cannot be freed
//! meanwhile; a freed stack has no guard left to fault on. Span structs are
//! never unmapped (`fixalloc`), so even a racing lookup reads valid memory.

use gort_alloc::span::MSpanState;
use gort_alloc::Heap;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicPtr, Ordering};

/// Default usable size of a goroutine stack, guard page excluded.
pub const DEFAULT_STACK_SIZE: usize = 256 * 1024;
/// Smallest stack size accepted (a goroutine needs room for its first frames).
pub const MIN_STACK_SIZE: usize = 16 * 1024;
/// The guard below each stack: one page of the span allocator (8 KiB, two of the
/// kernel's base pages on our targets).
pub(crate) const GUARD_SIZE: usize = gort_alloc::sizeclass::PAGE_SIZE;
/// `madvise` advice that installs guard pages without splitting a mapping (Linux 6.13).
const MADV_GUARD_INSTALL: libc::c_int = 102;
/// `madvise` advice that removes them again.
const MADV_GUARD_REMOVE: libc::c_int = 103;

/// One goroutine stack: the usable range `[lo, hi)`; the guard page is
/// `[lo - GUARD_SIZE, lo)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stack {
    /// Lowest usable address.
    pub lo: usize,
    /// One past the highest usable address; stacks grow down from here.
    pub hi: usize,
}

impl Stack {
    /// No stack: what a dead G holds after its stack was freed.
    pub(crate) const EMPTY: Stack = Stack { lo: 0, hi: 0 };

    /// Usable size in bytes.
    pub fn size(&self) -> usize {
        self.hi - self.lo
    }
}

/// Why a stack could not be had.
#[derive(Debug)]
pub enum StackError {
    /// Installing the guard page failed.
    Reserve(std::io::Error),
    /// No more guard pages may be installed without exceeding `vm.max_map_count`.
    MapCountBudget {
        /// The kernel's `vm.max_map_count`.
        max_map_count: usize,
        /// Guard pages already installed with `mprotect`.
        guards: usize,
    },
}

impl std::fmt::Display for StackError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StackError::Reserve(e) => write!(f, "cannot guard a goroutine stack: {e}"),
            StackError::MapCountBudget {
                max_map_count,
                guards,
            } => write!(
                f,
                "cannot create more goroutine stacks: this kernel has no MADV_GUARD_INSTALL, \
                 so each guard page costs two memory mappings, and {guards} guards already use \
                 the budget under vm.max_map_count={max_map_count}; raise it with \
                 `sysctl -w vm.max_map_count=N` or run on Linux 6.13 or later"
            ),
        }
    }
}

impl std::error::Error for StackError {}

/// The heap stacks come from, published for the signal handler (null until the
/// first stack is allocated; the global heap lives as long as the process).
static STACK_HEAP: AtomicPtr<Heap> = AtomicPtr::new(std::ptr::null_mut());

/// How guard pages are installed, process-wide: `madvise` in place when the
/// kernel can, else `mprotect`, counted against a budget.
struct Guards {
    /// Guard pages installed with mprotect (the fallback); counted against a budget.
    mprotect_guards: usize,
    /// Whether MADV_GUARD_INSTALL works here (None = not tried yet).
    guard_install: Option<bool>,
}

static GUARDS: Mutex<Guards> = Mutex::new(Guards {
    mprotect_guards: 0,
    guard_install: None,
});

/// Takes a stack of `size` usable bytes (rounded up to 8 KiB): a fresh manual
/// span of the heap with its guard page (Go's `stackalloc` for large stacks).
/// The span's pages are still backed when it reuses freed ones; the scavenger
/// has returned them to the OS only if they stayed free for a while.
pub(crate) fn stackalloc(size: usize) -> Result<Stack, StackError> {
    let size = size.next_multiple_of(GUARD_SIZE);
    let heap: &Heap = Heap::global();
    STACK_HEAP.store(heap as *const Heap as *mut Heap, Ordering::Release);
    let span = heap.alloc_manual(size / GUARD_SIZE + 1);
    let guard = span.base();
    if let Err(e) = install_guard(&mut GUARDS.lock(), guard) {
        // SAFETY: the span is ours, unused, and no guard was installed in it.
        unsafe { heap.free_manual(guard) };
        return Err(e);
    }
    Ok(Stack {
        lo: guard + GUARD_SIZE,
        hi: guard + GUARD_SIZE + size,
    })
}

/// Gives stacks back to the heap (Go's `stackfree` of a large stack, whose
/// span `freeStackSpans` returns to the heap): removes each guard, then frees
/// the span; the pages are free heap pages from then on, reused by the next
/// allocation or returned to the OS by the scavenger.
///
/// # Safety
/// Every stack came from [`stackalloc`], is not freed yet, and nothing runs on
/// it or refers to it any more.
pub(crate) unsafe fn stackfree_all(stacks: impl IntoIterator<Item = Stack>) {
    let heap: &Heap = Heap::global();
    let mut guards = GUARDS.lock();
    for st in stacks {
        let guard = st.lo - GUARD_SIZE;
        remove_guard(&mut guards, guard);
        // SAFETY: by the contract the span is ours and unused; its guard is gone.
        unsafe { heap.free_manual_released(guard) };
    }
}

/// Makes the guard page at `guard` ordinary memory again, as it was before
/// [`install_guard`].
fn remove_guard(guards: &mut Guards, guard: usize) {
    let r = if guards.guard_install == Some(true) {
        // SAFETY: `guard` is the guard page of a stack its owner gives up; the
        // advice only clears the guard marker on that page.
        unsafe { libc::madvise(guard as *mut libc::c_void, GUARD_SIZE, MADV_GUARD_REMOVE) }
    } else {
        guards.mprotect_guards -= 1;
        // SAFETY: as above; the page becomes readable and writable again, as
        // the rest of its arena is, so the kernel merges the mappings back.
        unsafe {
            libc::mprotect(
                guard as *mut libc::c_void,
                GUARD_SIZE,
                libc::PROT_READ | libc::PROT_WRITE,
            )
        }
    };
    if r != 0 {
        // Freeing the span with its guard in place would hand a faulting page
        // to the next allocation.
        crate::panic::fatal(&format!(
            "cannot remove a goroutine stack's guard page: {}",
            std::io::Error::last_os_error()
        ));
    }
}

fn install_guard(pool: &mut Guards, guard: usize) -> Result<(), StackError> {
    if pool.guard_install != Some(false) {
        // SAFETY: `guard` is the first page of a manual span that the heap just
        // gave us and nothing else uses; guarding it affects only that page.
        let r =
            unsafe { libc::madvise(guard as *mut libc::c_void, GUARD_SIZE, MADV_GUARD_INSTALL) };
        if r == 0 {
            pool.guard_install = Some(true);
            return Ok(());
        }
        pool.guard_install = Some(false);
    }
    let max = max_map_count();
    if pool.mprotect_guards >= max / 2 {
        return Err(StackError::MapCountBudget {
            max_map_count: max,
            guards: pool.mprotect_guards,
        });
    }
    // SAFETY: as above; PROT_NONE on the unused first page of our own span.
    let r = unsafe { libc::mprotect(guard as *mut libc::c_void, GUARD_SIZE, libc::PROT_NONE) };
    if r != 0 {
        return Err(StackError::Reserve(std::io::Error::last_os_error()));
    }
    pool.mprotect_guards += 1;
    Ok(())
}

fn max_map_count() -> usize {
    std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(65530)
}

/// If `addr` lies in the guard page of a gort stack, returns that stack.
/// Async-signal-safe: atomic loads only (`STACK_HEAP`, the heap's arena index,
/// and the span's fields, all atomics), no lock, no allocation.
pub(crate) fn guard_hit(addr: usize) -> Option<Stack> {
    let heap = STACK_HEAP.load(Ordering::Acquire);
    // SAFETY: non-null only once set to the process-wide heap, which is never
    // dropped.
    let heap = unsafe { heap.as_ref() }?;
    let span = heap.span_of(addr)?;
    if span.state() != MSpanState::Manual || addr >= span.base() + GUARD_SIZE {
        return None;
    }
    Some(Stack {
        lo: span.base() + GUARD_SIZE,
        hi: span.base() + span.npages() * GUARD_SIZE,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stacks_are_distinct_writable_and_guarded() {
        let a = stackalloc(DEFAULT_STACK_SIZE).unwrap();
        let b = stackalloc(DEFAULT_STACK_SIZE).unwrap();
        assert_ne!(a, b);
        assert_eq!(a.size(), DEFAULT_STACK_SIZE);
        // Both ends are writable.
        // SAFETY: [lo, hi) of a fresh stack is ours and mapped read-write.
        unsafe {
            (a.lo as *mut u8).write(1);
            ((a.hi - 1) as *mut u8).write(2);
        }
        assert_eq!(guard_hit(a.lo - 1), Some(a));
        assert_eq!(guard_hit(a.lo - GUARD_SIZE), Some(a));
        assert_eq!(guard_hit(a.lo), None);
        assert_eq!(guard_hit(a.hi - 8), None);
        assert_eq!(guard_hit(0x1000), None);
        // SAFETY: nothing runs on a or b.
        unsafe { stackfree_all([a, b]) };
        // The freed pages are ordinary heap memory now (other tests may take
        // them meanwhile): a new stack works and has its own guard.
        let c = stackalloc(DEFAULT_STACK_SIZE).unwrap();
        // SAFETY: [lo, hi) of a fresh stack is ours and mapped read-write.
        unsafe { ((c.hi - 1) as *mut u8).write(3) };
        assert_eq!(guard_hit(c.lo - 1), Some(c));
    }

    #[test]
    fn many_stacks_stay_in_few_mappings() {
        // Count the distinct mappings that hold our stacks (other tests in this
        // process create threads and mappings of their own meanwhile).
        let stacks: Vec<_> = (0..3000)
            .map(|_| stackalloc(MIN_STACK_SIZE).unwrap())
            .collect();
        let maps: Vec<(usize, usize)> = std::fs::read_to_string("/proc/self/maps")
            .unwrap()
            .lines()
            .filter_map(|l| {
                let (lo, hi) = l.split_whitespace().next()?.split_once('-')?;
                Some((
                    usize::from_str_radix(lo, 16).ok()?,
                    usize::from_str_radix(hi, 16).ok()?,
                ))
            })
            .collect();
        let mut holding: Vec<usize> = stacks
            .iter()
            .map(|st| {
                maps.iter()
                    .position(|&(lo, hi)| lo <= st.lo && st.hi <= hi)
                    .expect("stack is mapped")
            })
            .collect();
        holding.sort_unstable();
        holding.dedup();
        let guarded_in_place = GUARDS.lock().guard_install == Some(true);
        if guarded_in_place {
            // 3000 16 KiB stacks (24 KiB spans) fill two 64 MiB arenas: one
            // mapping each, guards included.
            assert!(
                holding.len() <= 8,
                "3000 stacks span {} mappings",
                holding.len()
            );
        } else {
            // mprotect guards split an arena into a mapping per stack and guard.
            assert!(holding.len() >= 3000);
        }
        let probe = stacks[0];
        assert_eq!(guard_hit(probe.lo - 1), Some(probe));
        // SAFETY: nothing runs on these stacks.
        unsafe { stackfree_all(stacks) };
    }
}
