//! The P-local run queue: a 256-slot ring plus the `runnext` slot.
//!
//! Models `runtime/proc.go`: `runqput`, `runqputslow`, `runqputbatch`, `runqget`,
//! `runqgrab`, `runqsteal`, `runqempty`.
//!
//! # Design
//!
//! Each P owns one ring of [`RUNQ_SIZE`] slots indexed by two free-running `u32`
//! counters: `tail` is written only by the owner (store-release after filling a
//! slot), `head` is advanced by anyone who takes work — the owner in [`RunQ::get`],
//! thieves in [`RunQ::grab`] — with a compare-and-swap. `runnext` is a one-item slot
//! in front of the ring: a goroutine made runnable by the running one (a new `go`, a
//! channel wake-up) goes there and runs next, inheriting the rest of the time slice,
//! so a producer/consumer pair ping-pongs on one P without touching the ring.
//!
//! When the ring is full, [`RunQ::put`] moves half of it plus the new item to the
//! global queue in one locked operation (`runqputslow`), so a spawning burst spreads
//! to idle Ps through the global queue instead of failing. A thief takes half of a
//! victim's ring (`n - n/2`) straight into its own ring and runs the last one
//! (`runqsteal`). If the ring is empty it may take `runnext` — Go lets thieves steal
//! `runnext` but first sleeps 3 µs when the victim is running, because the victim is
//! likely about to run it itself (a just-readied partner) and stealing would bounce
//! the pair between threads. gort keeps those semantics.
//!
//! # Why Go's copy-before-CAS is sound here
//!
//! `runqgrab` reads the victim's slots and only then CASes `head` forward to claim
//! them. In Go the reads are plain loads of GC-managed pointers. In Rust a plain load
//! racing with the owner's store would be a data race, so every slot is an
//! `AtomicPtr` and the copies are `Relaxed` atomic loads. A copy can be stale only if
//! the owner overwrote the slot, which needs `tail - head` to pass the slot index,
//! which needs `head` to have moved — and then the thief's CAS fails and the copies
//! are thrown away. Items are never freed while a runtime lives (dead Gs go to the
//! gFree lists), so even a stale pointer is never dereferenced after a failed CAS.
//! (tokio's queue instead packs two heads into one word to claim before copying; with
//! atomic slots we do not need it, and the code stays line-for-line Go's.)
//!
//! The counters are `u32` and wrap; comparisons use wrapping differences, as Go's
//! unsigned arithmetic does. An ABA on `head` needs 2³² operations between a thief's
//! load and its CAS.
//!
//! # Why not crossbeam-deque
//!
//! `benches/runq.rs` runs this ring against `crossbeam_deque`'s FIFO
//! `Worker`/`Stealer` on the same patterns (the measured figures are in
//! `docs/scheduler.md`, "The run queue"). Put/get and an owner with a thief are a
//! tie: each operation is one locked read-modify-write, which both pay. Stealing
//! the same 64 items the ring is faster: both claim the batch with one CAS, but
//! crossbeam first pins an epoch (a second locked instruction) and copies through
//! its growable buffer; its default `steal_batch_and_pop` stops at 32 items. And the
//! ring does what crossbeam's deque does not: it is bounded, so a full ring moves
//! half of itself to the global queue as Go's `runqputslow` does (crossbeam's grows
//! without bound); it has Go's `runnext` slot, stealable last; and it is covered by
//! gort's loom models.

use crate::loom::atomic::{AtomicPtr, AtomicU32, Ordering};
use std::ptr;

/// Slots in a P's local ring. Go: `len(p.runq)` = 256. Shrunk under loom so that the
/// models reach the full-ring and wrap-around paths with a handful of items.
#[cfg(not(loom))]
pub const RUNQ_SIZE: u32 = 256;
#[cfg(loom)]
pub const RUNQ_SIZE: u32 = 4;

/// Where `runqputslow` sends half of a full ring: the global run queue.
pub trait Overflow<T> {
    /// Appends `batch` (in order) to the global queue.
    fn push_batch(&self, batch: &[*mut T]);
}

/// A P's local run queue.
pub struct RunQ<T> {
    /// Next slot to take. Advanced by CAS by the owner (`get`) and by thieves (`grab`).
    head: AtomicU32,
    /// Next slot to fill. Written only by the owner, with Release after the slot.
    tail: AtomicU32,
    /// The ring. Slots in `[head, tail)` hold items; others are stale or null.
    ring: [AtomicPtr<T>; RUNQ_SIZE as usize],
    /// The item to run next. The owner sets it; the owner or a thief clears it by CAS.
    runnext: AtomicPtr<T>,
}

// SAFETY: all shared state is atomics; the `T`s are only handled by pointer, and the
// ownership of an item passes with a successful CAS or Release/Acquire pair.
unsafe impl<T> Send for RunQ<T> {}
// SAFETY: as above.
unsafe impl<T> Sync for RunQ<T> {}

impl<T> Default for RunQ<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> RunQ<T> {
    /// An empty queue.
    pub fn new() -> Self {
        RunQ {
            head: AtomicU32::new(0),
            tail: AtomicU32::new(0),
            ring: std::array::from_fn(|_| AtomicPtr::new(ptr::null_mut())),
            runnext: AtomicPtr::new(ptr::null_mut()),
        }
    }

    #[inline(always)]
    fn slot(&self, i: u32) -> &AtomicPtr<T> {
        // Inline in the P, as Go's `runq [256]guintptr`: no indirection, and the
        // mask keeps the index in bounds without a check.
        &self.ring[(i & (RUNQ_SIZE - 1)) as usize]
    }

    /// `runqput`: owner only. With `next`, `gp` goes to `runnext` and the item it
    /// displaces goes to the ring's tail; a full ring spills half to `overflow`.
    pub fn put(&self, mut gp: *mut T, next: bool, overflow: &impl Overflow<T>) {
        if next {
            // A thief may clear runnext concurrently, so even the owner swaps it.
            let old = self.runnext.swap(gp, Ordering::AcqRel);
            if old.is_null() {
                return;
            }
            gp = old;
        }
        loop {
            let h = self.head.load(Ordering::Acquire);
            // Only we write tail: a Relaxed read sees our own last store.
            let t = self.tail.load(Ordering::Relaxed);
            if t.wrapping_sub(h) < RUNQ_SIZE {
                self.slot(t).store(gp, Ordering::Relaxed);
                // Publishes the slot to consumers that load tail with Acquire.
                self.tail.store(t.wrapping_add(1), Ordering::Release);
                return;
            }
            if self.put_slow(gp, h, t, overflow) {
                return;
            }
            // A consumer moved head meanwhile: the ring has room again.
        }
    }

    /// `runqputslow`: moves the older half of a full ring plus `gp` to the global
    /// queue. Fails (returns false) if a consumer took items meanwhile.
    fn put_slow(&self, gp: *mut T, h: u32, t: u32, overflow: &impl Overflow<T>) -> bool {
        let n = t.wrapping_sub(h) / 2;
        assert_eq!(n, RUNQ_SIZE / 2, "runqputslow: queue is not full");
        let mut batch: Vec<*mut T> = Vec::with_capacity(n as usize + 1);
        for i in 0..n {
            batch.push(self.slot(h.wrapping_add(i)).load(Ordering::Relaxed));
        }
        // Claim the copied half; Release pairs with the Acquire load of head in put.
        if self
            .head
            .compare_exchange(h, h.wrapping_add(n), Ordering::Release, Ordering::Relaxed)
            .is_err()
        {
            return false;
        }
        batch.push(gp);
        overflow.push_batch(&batch);
        true
    }

    /// `runqputbatch`: owner only; appends items taken from the global queue.
    /// Returns the items that did not fit (the caller sends them back).
    pub fn put_batch<'a>(&self, items: &'a [*mut T]) -> &'a [*mut T] {
        let h = self.head.load(Ordering::Acquire);
        let t = self.tail.load(Ordering::Relaxed);
        let room = (RUNQ_SIZE - t.wrapping_sub(h)) as usize;
        let n = room.min(items.len());
        for (i, &gp) in items[..n].iter().enumerate() {
            self.slot(t.wrapping_add(i as u32))
                .store(gp, Ordering::Relaxed);
        }
        self.tail.store(t.wrapping_add(n as u32), Ordering::Release);
        &items[n..]
    }

    /// `runqget`: owner only. Returns the item and whether it came from `runnext`
    /// (Go's `inheritTime`: it shares the current time slice).
    pub fn get(&self) -> Option<(*mut T, bool)> {
        let next = self.runnext.load(Ordering::Relaxed);
        if !next.is_null()
            && self
                .runnext
                .compare_exchange(next, ptr::null_mut(), Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
        {
            return Some((next, true));
        }
        loop {
            let h = self.head.load(Ordering::Acquire);
            let t = self.tail.load(Ordering::Relaxed);
            if t == h {
                return None;
            }
            let gp = self.slot(h).load(Ordering::Relaxed);
            if self
                .head
                .compare_exchange(h, h.wrapping_add(1), Ordering::Release, Ordering::Relaxed)
                .is_ok()
            {
                return Some((gp, false));
            }
        }
    }

    /// `runqgrab`: any thread. Copies half of this (victim's) ring into `thief`'s
    /// ring starting at `thief_tail`, without publishing it there, and returns how
    /// many. With `steal_runnext` and an empty ring, takes `runnext` instead, after
    /// `before_runnext` (Go's 3 µs pause when the victim is running).
    fn grab(
        &self,
        thief: &RunQ<T>,
        thief_tail: u32,
        steal_runnext: bool,
        before_runnext: &dyn Fn(),
    ) -> u32 {
        loop {
            let h = self.head.load(Ordering::Acquire);
            // Acquire: pairs with the owner's Release store, so the slots are filled.
            let t = self.tail.load(Ordering::Acquire);
            let n = t.wrapping_sub(h);
            let n = n - n / 2;
            if n == 0 {
                if steal_runnext {
                    let next = self.runnext.load(Ordering::Relaxed);
                    if !next.is_null() {
                        before_runnext();
                        if self
                            .runnext
                            .compare_exchange(
                                next,
                                ptr::null_mut(),
                                Ordering::Acquire,
                                Ordering::Relaxed,
                            )
                            .is_err()
                        {
                            continue;
                        }
                        thief.slot(thief_tail).store(next, Ordering::Relaxed);
                        return 1;
                    }
                }
                return 0;
            }
            if n > RUNQ_SIZE / 2 {
                // h and t were read at different times; read them again.
                continue;
            }
            for i in 0..n {
                let gp = self.slot(h.wrapping_add(i)).load(Ordering::Relaxed);
                thief
                    .slot(thief_tail.wrapping_add(i))
                    .store(gp, Ordering::Relaxed);
            }
            if self
                .head
                .compare_exchange(h, h.wrapping_add(n), Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                return n;
            }
        }
    }

    /// `runqsteal`: called by the owner of `self` (the thief) with an empty ring.
    /// Takes half of `victim`'s work and returns one item to run now.
    pub fn steal(
        &self,
        victim: &RunQ<T>,
        steal_runnext: bool,
        before_runnext: &dyn Fn(),
    ) -> Option<*mut T> {
        let t = self.tail.load(Ordering::Relaxed);
        let mut n = victim.grab(self, t, steal_runnext, before_runnext);
        if n == 0 {
            return None;
        }
        n -= 1;
        let gp = self.slot(t.wrapping_add(n)).load(Ordering::Relaxed);
        if n == 0 {
            return Some(gp);
        }
        let h = self.head.load(Ordering::Acquire);
        assert!(
            t.wrapping_sub(h).wrapping_add(n) < RUNQ_SIZE,
            "runqsteal: runq overflow"
        );
        self.tail.store(t.wrapping_add(n), Ordering::Release);
        Some(gp)
    }

    /// Items in the ring (not counting `runnext`); approximate when racing.
    #[cfg_attr(loom, allow(dead_code))] // only the runtime and benchmarks ask
    pub fn len(&self) -> u32 {
        loop {
            let h = self.head.load(Ordering::Acquire);
            let t = self.tail.load(Ordering::Acquire);
            if self.head.load(Ordering::Acquire) == h {
                return t.wrapping_sub(h).min(RUNQ_SIZE);
            }
        }
    }

    /// `runqempty`: true if neither the ring nor `runnext` holds anything. Reads
    /// head, tail, runnext and tail again so that an item moving from runnext to the
    /// ring is not missed (Go's argument in `runqempty`).
    pub fn is_empty(&self) -> bool {
        loop {
            let h = self.head.load(Ordering::Acquire);
            let t = self.tail.load(Ordering::Acquire);
            let next = self.runnext.load(Ordering::Acquire);
            if self.tail.load(Ordering::Acquire) == t {
                return h == t && next.is_null();
            }
        }
    }

    /// True if `runnext` holds an item.
    #[cfg_attr(loom, allow(dead_code))] // only the runtime asks
    pub fn has_runnext(&self) -> bool {
        !self.runnext.load(Ordering::Acquire).is_null()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::Mutex;

    struct Global(Mutex<Vec<*mut u32>>);
    // SAFETY: test items are leaked boxes that are only read, from any thread.
    unsafe impl Send for Global {}
    // SAFETY: as above.
    unsafe impl Sync for Global {}
    impl Overflow<u32> for Global {
        fn push_batch(&self, batch: &[*mut u32]) {
            self.0.lock().unwrap().extend_from_slice(batch);
        }
    }

    fn items(n: u32) -> Vec<*mut u32> {
        (0..n).map(|i| Box::into_raw(Box::new(i))).collect()
    }
    fn val(p: *mut u32) -> u32 {
        // SAFETY: test items are leaked boxes, never freed.
        unsafe { *p }
    }

    #[test]
    fn fifo_ring_and_lifo_runnext() {
        let q = RunQ::new();
        let g = Global(Mutex::new(vec![]));
        let it = items(4);
        q.put(it[0], false, &g);
        q.put(it[1], false, &g);
        q.put(it[2], true, &g);
        q.put(it[3], true, &g); // kicks 2 to the tail
        let order: Vec<_> = std::iter::from_fn(|| q.get())
            .map(|(p, inh)| (val(p), inh))
            .collect();
        assert_eq!(order, vec![(3, true), (0, false), (1, false), (2, false)]);
        assert!(q.is_empty());
    }

    #[test]
    fn full_ring_moves_half_plus_one_to_global() {
        let q = RunQ::new();
        let g = Global(Mutex::new(vec![]));
        let it = items(RUNQ_SIZE + 1);
        for &p in &it {
            q.put(p, false, &g);
        }
        let global: Vec<_> = g.0.lock().unwrap().iter().map(|&p| val(p)).collect();
        // The older half and the new item, in order.
        let want: Vec<_> = (0..RUNQ_SIZE / 2).chain([RUNQ_SIZE]).collect();
        assert_eq!(global, want);
        assert_eq!(q.len(), RUNQ_SIZE / 2);
        assert_eq!(val(q.get().unwrap().0), RUNQ_SIZE / 2);
    }

    #[test]
    fn steal_takes_half_rounded_up_and_runnext_last() {
        let victim = RunQ::new();
        let thief = RunQ::new();
        let g = Global(Mutex::new(vec![]));
        let it = items(6);
        for &p in &it[..5] {
            victim.put(p, false, &g);
        }
        victim.put(it[5], true, &g);
        // 5 in the ring: the thief takes 3, runs the last of them, keeps 2.
        let got = thief.steal(&victim, true, &|| {}).unwrap();
        assert_eq!(val(got), 2);
        assert_eq!(thief.len(), 2);
        assert_eq!(victim.len(), 2);
        // Drain the victim's ring; then runnext is stolen only when allowed.
        while thief.get().is_some() {}
        thief.steal(&victim, false, &|| {}).unwrap();
        while thief.get().is_some() {}
        thief.steal(&victim, false, &|| {}).unwrap();
        assert!(
            thief.steal(&victim, false, &|| {}).is_none(),
            "runnext not taken without leave"
        );
        let paused = std::cell::Cell::new(false);
        let got = thief.steal(&victim, true, &|| paused.set(true)).unwrap();
        assert_eq!(val(got), 5);
        assert!(
            paused.get(),
            "the victim is given its moment before runnext is taken"
        );
        assert!(victim.is_empty());
    }

    #[test]
    fn wraparound_keeps_order() {
        let q = RunQ::new();
        let g = Global(Mutex::new(vec![]));
        let it = items(RUNQ_SIZE * 3);
        let mut out = vec![];
        for chunk in it.chunks(100) {
            for &p in chunk {
                q.put(p, false, &g);
            }
            while let Some((p, _)) = q.get() {
                out.push(val(p));
            }
        }
        assert_eq!(out, (0..RUNQ_SIZE * 3).collect::<Vec<_>>());
        assert!(g.0.lock().unwrap().is_empty());
    }

    #[test]
    fn concurrent_steal_sees_every_item_once() {
        use std::sync::atomic::{AtomicBool, AtomicUsize};
        use std::sync::Arc;
        const N: u32 = 200_000;
        let victim = Arc::new(RunQ::new());
        let g = Arc::new(Global(Mutex::new(vec![])));
        let done = Arc::new(AtomicBool::new(false));
        let seen = Arc::new((0..N).map(|_| AtomicUsize::new(0)).collect::<Vec<_>>());
        let thieves: Vec<_> = (0..2)
            .map(|_| {
                let (victim, done, seen) = (victim.clone(), done.clone(), seen.clone());
                std::thread::spawn(move || {
                    let mine = RunQ::new();
                    loop {
                        let finished = done.load(std::sync::atomic::Ordering::Acquire);
                        if let Some(p) = mine.steal(&victim, true, &|| {}) {
                            seen[val(p) as usize]
                                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            while let Some((p, _)) = mine.get() {
                                seen[val(p) as usize]
                                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            }
                        } else if finished {
                            break;
                        }
                    }
                })
            })
            .collect();
        for p in items(N) {
            victim.put(p, (p as usize).is_multiple_of(3), &*g);
            if val(p).is_multiple_of(7) {
                if let Some((p, _)) = victim.get() {
                    seen[val(p) as usize].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
        }
        done.store(true, std::sync::atomic::Ordering::Release);
        for t in thieves {
            t.join().unwrap();
        }
        while let Some((p, _)) = victim.get() {
            seen[val(p) as usize].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        for &p in g.0.lock().unwrap().iter() {
            seen[val(p) as usize].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        for (i, c) in seen.iter().enumerate() {
            assert_eq!(c.load(std::sync::atomic::Ordering::Relaxed), 1, "item {i}");
        }
    }
}

/// loom models: every item put is taken exactly once, by the owner, a thief or the
/// global queue, whatever the interleaving. Run with
/// `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p gort-runtime --release --lib loom_`.
#[cfg(all(test, loom))]
mod loom_models {
    use super::*;
    use loom::sync::Arc;
    use loom::sync::Mutex;

    struct Global(Mutex<Vec<*mut u32>>);
    // SAFETY: test items are leaked boxes, moved between threads whole.
    unsafe impl Send for Global {}
    // SAFETY: as above.
    unsafe impl Sync for Global {}
    impl Overflow<u32> for Global {
        fn push_batch(&self, batch: &[*mut u32]) {
            self.0.lock().unwrap().extend_from_slice(batch);
        }
    }

    struct Items(Vec<*mut u32>);
    // SAFETY: leaked boxes, only read.
    unsafe impl Send for Items {}

    fn leak(n: u32) -> Vec<*mut u32> {
        (0..n).map(|i| Box::into_raw(Box::new(i))).collect()
    }

    fn count(seen: &mut [u32], ps: &[*mut u32]) {
        for &p in ps {
            // SAFETY: leaked test items.
            seen[unsafe { *p } as usize] += 1;
        }
    }

    /// Owner puts (runnext and ring, overflowing to global) and gets while a thief
    /// steals: every item is seen exactly once.
    #[test]
    fn loom_runq_put_get_steal_overflow() {
        loom::model(|| {
            let victim = Arc::new(RunQ::<u32>::new());
            let global = Arc::new(Global(Mutex::new(vec![])));
            const N: u32 = RUNQ_SIZE + 2;
            let items = Items(leak(N));

            let thief = {
                let victim = victim.clone();
                loom::thread::spawn(move || {
                    let mine = RunQ::new();
                    let mut got = Items(vec![]);
                    if let Some(p) = mine.steal(&victim, true, &|| {}) {
                        got.0.push(p);
                        while let Some((p, _)) = mine.get() {
                            got.0.push(p);
                        }
                    }
                    got
                })
            };

            let mut own = vec![];
            for (i, &p) in items.0.iter().enumerate() {
                victim.put(p, i == 1, &*global);
            }
            if let Some((p, _)) = victim.get() {
                own.push(p);
            }
            let stolen = thief.join().unwrap();
            while let Some((p, _)) = victim.get() {
                own.push(p);
            }
            let mut seen = vec![0u32; N as usize];
            count(&mut seen, &own);
            count(&mut seen, &stolen.0);
            count(&mut seen, &global.0.lock().unwrap());
            assert!(seen.iter().all(|&c| c == 1), "{seen:?}");
        });
    }

    /// Two thieves race for one victim's ring and runnext.
    #[test]
    fn loom_runq_two_thieves() {
        loom::model(|| {
            let victim = Arc::new(RunQ::<u32>::new());
            let global = Global(Mutex::new(vec![]));
            const N: u32 = 3;
            let items = leak(N);
            for (i, &p) in items.iter().enumerate() {
                victim.put(p, i == 2, &global);
            }
            let thieves: Vec<_> = (0..2)
                .map(|_| {
                    let victim = victim.clone();
                    loom::thread::spawn(move || {
                        let mine = RunQ::new();
                        let mut got = Items(vec![]);
                        if let Some(p) = mine.steal(&victim, true, &|| {}) {
                            got.0.push(p);
                            while let Some((p, _)) = mine.get() {
                                got.0.push(p);
                            }
                        }
                        got
                    })
                })
                .collect();
            let mut seen = vec![0u32; N as usize];
            for t in thieves {
                count(&mut seen, &t.join().unwrap().0);
            }
            let mut rest = vec![];
            while let Some((p, _)) = victim.get() {
                rest.push(p);
            }
            count(&mut seen, &rest);
            assert!(seen.iter().all(|&c| c == 1), "{seen:?}");
        });
    }
}
