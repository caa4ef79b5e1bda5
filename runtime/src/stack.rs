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
//! # One mapping, many stacks
//!
//! Linux limits a process to `vm.max_map_count` mappings (65,530 by default). A
//! stack mapped alone with an `mprotect`ed guard page costs two, so that design stops
//! near 32,000 goroutines. gort reserves a *region* of `STACKS_PER_REGION` stack
//! slots with one `mmap` (`MAP_NORESERVE`: address space only) and marks each slot's
//! lowest page as a guard with `madvise(MADV_GUARD_INSTALL)` (Linux 6.13+), which
//! makes touching the page fault without splitting the mapping: a whole region stays
//! one mapping. On older kernels the guard falls back to `mprotect(PROT_NONE)`, which
//! splits the mapping; those guards are counted against a budget of half of
//! `vm.max_map_count`, and when it runs out spawning fails with a message that says
//! so and how to raise the limit, instead of a bare `ENOMEM`.
//!
//! # Reuse
//!
//! Faulting a fresh page costs about 2 µs on a virtual machine, more than the rest of
//! a spawn. So stacks are never returned to the kernel while the program runs: a
//! dead goroutine keeps its stack on the gFree lists (`proc::g`), and stacks of a
//! runtime that shut down return to the process-wide free list here, already warm.
//! (When the allocator issue lands, stacks move onto its manual spans and the
//! scavenger may release the pages of long-idle stacks.)
//!
//! # Overflow
//!
//! The guard ranges are published in a fixed, lock-free table that the SIGSEGV
//! handler (`signal.rs`) reads to tell a stack overflow from any other fault.

use crate::loom::atomic::{AtomicUsize, Ordering};
use parking_lot::Mutex;

/// Default usable size of a goroutine stack, guard page excluded.
pub const DEFAULT_STACK_SIZE: usize = 256 * 1024;
/// Smallest stack size accepted (a goroutine needs room for its first frames).
pub const MIN_STACK_SIZE: usize = 16 * 1024;
/// Stack slots reserved together in one mapping.
pub(crate) const STACKS_PER_REGION: usize = 1024;
/// The guard page size (the kernel's base page size on our targets).
pub(crate) const GUARD_SIZE: usize = 4096;
/// `madvise` advice that installs guard pages without splitting a mapping (Linux 6.13).
const MADV_GUARD_INSTALL: libc::c_int = 102;
/// Most regions the process may reserve; the signal handler's table is this long.
const MAX_REGIONS: usize = 4096;

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
    /// Usable size in bytes.
    pub fn size(&self) -> usize {
        self.hi - self.lo
    }
}

/// Why a stack could not be had.
#[derive(Debug)]
pub enum StackError {
    /// `mmap` refused the reservation.
    Reserve(std::io::Error),
    /// No more guard pages may be installed without exceeding `vm.max_map_count`.
    MapCountBudget {
        /// The kernel's `vm.max_map_count`.
        max_map_count: usize,
        /// Guard pages already installed with `mprotect`.
        guards: usize,
    },
    /// The fixed table of regions is full.
    TooManyRegions,
}

impl std::fmt::Display for StackError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StackError::Reserve(e) => write!(f, "cannot reserve goroutine stacks: {e}"),
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
            StackError::TooManyRegions => write!(
                f,
                "cannot create more goroutine stacks: all {MAX_REGIONS} stack regions are in use"
            ),
        }
    }
}

impl std::error::Error for StackError {}

/// A published region: base address, slot size (guard included) and slot count.
/// Written once, before any stack from it is handed out; read by the signal handler.
struct RegionEntry {
    base: AtomicUsize,
    slot: AtomicUsize,
}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY_ENTRY: RegionEntry = RegionEntry {
    base: AtomicUsize::new(0),
    slot: AtomicUsize::new(0),
};

static REGIONS: [RegionEntry; MAX_REGIONS] = [EMPTY_ENTRY; MAX_REGIONS];
static NREGIONS: AtomicUsize = AtomicUsize::new(0);

/// The process-wide pool: partly carved regions and free stacks, per stack size.
struct Pool {
    /// Free stacks by usable size.
    free: Vec<(usize, Vec<Stack>)>,
    /// The region being carved for each size: (size, next slot address, end).
    carving: Vec<(usize, usize, usize)>,
    /// Guard pages installed with mprotect (the fallback); counted against a budget.
    mprotect_guards: usize,
    /// Whether MADV_GUARD_INSTALL works here (None = not tried yet).
    guard_install: Option<bool>,
}

static POOL: Mutex<Pool> = Mutex::new(Pool {
    free: Vec::new(),
    carving: Vec::new(),
    mprotect_guards: 0,
    guard_install: None,
});

/// Takes a stack of `size` usable bytes (a multiple of the page size), reusing a free
/// one when there is one.
pub(crate) fn stackalloc(size: usize) -> Result<Stack, StackError> {
    let mut pool = POOL.lock();
    if let Some((_, list)) = pool.free.iter_mut().find(|(s, _)| *s == size) {
        if let Some(st) = list.pop() {
            return Ok(st);
        }
    }
    let slot = size + GUARD_SIZE;
    let idx = match pool
        .carving
        .iter()
        .position(|(s, next, end)| *s == size && next < end)
    {
        Some(i) => i,
        None => {
            let base = reserve_region(slot * STACKS_PER_REGION)?;
            pool.carving.retain(|(s, _, _)| *s != size);
            pool.carving
                .push((size, base, base + slot * STACKS_PER_REGION));
            pool.carving.len() - 1
        }
    };
    let guard = pool.carving[idx].1;
    pool.carving[idx].1 += slot;
    install_guard(&mut pool, guard)?;
    Ok(Stack {
        lo: guard + GUARD_SIZE,
        hi: guard + slot,
    })
}

/// Returns stacks to the process-wide pool for any later goroutine (of any runtime).
pub(crate) fn stackfree_all(stacks: impl IntoIterator<Item = Stack>) {
    let mut pool = POOL.lock();
    for st in stacks {
        let size = st.size();
        match pool.free.iter_mut().find(|(s, _)| *s == size) {
            Some((_, list)) => list.push(st),
            None => pool.free.push((size, vec![st])),
        }
    }
}

fn reserve_region(len: usize) -> Result<usize, StackError> {
    let n = NREGIONS.load(Ordering::Relaxed);
    if n >= MAX_REGIONS {
        return Err(StackError::TooManyRegions);
    }
    // SAFETY: an anonymous private mapping at a kernel-chosen address touches no
    // existing memory; the result is checked against MAP_FAILED.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(StackError::Reserve(std::io::Error::last_os_error()));
    }
    let base = p as usize;
    // Publish before any stack of the region is used. The pool lock serialises
    // writers; the handler reads with Acquire and sees either 0 or a full entry.
    let slot = len / STACKS_PER_REGION;
    REGIONS[n].slot.store(slot, Ordering::Relaxed);
    REGIONS[n].base.store(base, Ordering::Release);
    NREGIONS.store(n + 1, Ordering::Release);
    Ok(base)
}

fn install_guard(pool: &mut Pool, guard: usize) -> Result<(), StackError> {
    if pool.guard_install != Some(false) {
        // SAFETY: `guard` is the first page of a slot inside a region we mapped and
        // have not handed out; guarding it affects only that page.
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
    // SAFETY: as above; PROT_NONE on one page of our own unused slot.
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
/// Async-signal-safe: reads only the lock-free region table.
pub(crate) fn guard_hit(addr: usize) -> Option<Stack> {
    let n = NREGIONS.load(Ordering::Acquire);
    for entry in &REGIONS[..n] {
        let base = entry.base.load(Ordering::Acquire);
        let slot = entry.slot.load(Ordering::Relaxed);
        if base == 0 || addr < base || addr >= base + slot * STACKS_PER_REGION {
            continue;
        }
        let guard = base + (addr - base) / slot * slot;
        if addr < guard + GUARD_SIZE {
            return Some(Stack {
                lo: guard + GUARD_SIZE,
                hi: guard + slot,
            });
        }
        return None;
    }
    None
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
        stackfree_all([a, b]);
        let c = stackalloc(DEFAULT_STACK_SIZE).unwrap();
        assert!(
            c == a || c == b,
            "a freed stack is reused before a new one is carved"
        );
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
        let guarded_in_place = POOL.lock().guard_install == Some(true);
        if guarded_in_place {
            // 3000 stacks need 3 regions of 1024 (a few more if reused stacks of
            // earlier regions come back first): one mapping each, guards included.
            assert!(
                holding.len() <= 8,
                "3000 stacks span {} mappings",
                holding.len()
            );
        } else {
            // mprotect guards split a region into a mapping per stack and guard.
            assert!(holding.len() >= 3000);
        }
        let probe = stacks[0];
        assert_eq!(guard_hit(probe.lo - 1), Some(probe));
        stackfree_all(stacks);
    }
}
