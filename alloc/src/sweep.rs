//! Sweeping: turning mark bits into free slots, span by span.
//!
//! Models `runtime/mgcsweep.go` (`sweepLocked.sweep`, `sweepone`,
//! `sweepLocker.tryAcquire`, `finishsweep_m`, `nextSpanForSweep`) and the sweep
//! start in `runtime/mgc.go` (`gcSweep`).
//!
//! # Design: the API the collector drives
//!
//! 1. The collector marks reachable objects: [`MSpan::mark`](crate::span::MSpan::mark)
//!    (or [`Heap::mark`] from an address).
//! 2. With the world stopped, it calls [`Heap::start_sweep`] (Go's `gcSweep`):
//!    the heap's `sweepgen` grows by 2, which at once turns every mcentral's swept
//!    sets into its unswept sets (see `mcentral.rs`), and every mcache is flushed
//!    with [`MCache::prepare_for_sweep`](crate::MCache::prepare_for_sweep).
//! 3. Spans are then swept lazily and concurrently with allocation: by
//!    `cache_span` when an mcache needs a span of that class, by `uncache_span`
//!    for spans that were cached when the cycle began, and by whoever calls
//!    [`Heap::sweepone`] (Go's background sweeper) or [`Heap::finish_sweep`].
//!
//! Sweeping one span (`sweep`, Go's `sweepLocked.sweep`) is: count the marked
//! objects, make the mark bits the alloc bits, clear the mark bits, rewind
//! `freeindex` to 0 (the allocator now skips exactly the survivors), note that
//! freed memory needs zeroing, publish `sweepgen = sg`, and then file the span:
//! no survivors → its pages go back to the mheap; all slots taken → full swept
//! set; otherwise the partial swept set. When the caller will use the span at once
//! (`preserve`, from `cache_span`) it is not filed.
//!
//! # Memory ordering
//!
//! Only the thread that moved a span's `sweepgen` from `sg − 2` to `sg − 1` (CAS,
//! acquire-release) sweeps it. The sweep's writes are published by the release
//! store of `sg`; the mark bits it reads were set before the world stopped
//! (`start_sweep`'s caller orders them). The loom models below check the hand-off.
//!
//! # What gort simplifies
//!
//! No finalizers/specials, no proportional sweep pacing, no `reclaim` by page
//! count. [`Heap::finish_sweep`] and `start_sweep` assume no other
//! thread is sweeping at the same moment (the world is stopped); Go counts active
//! sweepers (`sweep.active`) to know when a cycle is really done.

use crate::loom::atomic::{AtomicUsize, Ordering};
use crate::mcentral::SpanPtr;
use crate::mheap::Heap;
use crate::sizeclass::PAGE_SIZE;
use crate::span::NUM_SPAN_CLASSES;

/// The background sweeper's position (Go's `sweep.centralIndex`): span class × 2,
/// plus 0 for the full unswept set, 1 for the partial one. On its own cache lines.
#[repr(align(128))]
pub(crate) struct SweepState {
    pub(crate) cursor: AtomicUsize,
}

impl SweepState {
    pub(crate) fn new() -> SweepState {
        SweepState {
            cursor: AtomicUsize::new(0),
        }
    }

    /// Whether the sweeper has already found unswept set `i` (the cursor's
    /// numbering) empty in this cycle. Nothing is pushed onto an unswept set
    /// during a cycle, so an empty one stays empty until the next
    /// `start_sweep`, which resets the cursor before it publishes the new
    /// `sweepgen` (a reader that saw the new `sweepgen` sees the reset).
    /// `cache_span` asks before it looks at its class's unswept sets: one read
    /// of this line, which only the sweeper writes, instead of two reads of
    /// per-class lines that allocation has long evicted (Go's `cacheSpan` skips
    /// them once `sweep.active.begin` reports the sweep drained).
    #[inline]
    pub(crate) fn drained(&self, i: usize) -> bool {
        self.cursor.load(Ordering::Relaxed) > i
    }
}

/// Sweeps a span this thread claimed (`sweepgen == sg − 1`); files it, or frees
/// it to the heap, unless `preserve`. Returns true if the span was freed.
pub(crate) fn sweep(heap: &Heap, s: SpanPtr, preserve: bool) -> bool {
    let span = s.get();
    let sg = heap.sweepgen();
    debug_assert_eq!(
        span.sweepgen.load(Ordering::Relaxed),
        sg.wrapping_sub(1),
        "sweeping an unclaimed span"
    );
    let spc = span.spanclass();
    let before = span.alloc_count();
    // SAFETY: the caller claimed the span (checked above).
    let nalloc = unsafe { span.sweep_bits() };
    // More marks than allocated objects means a free slot was marked through
    // `MSpan::mark` (Heap::mark refuses): the bitmap is then the truth.
    debug_assert!(
        nalloc <= before,
        "sweep: {nalloc} marked of {before} allocated"
    );
    let nfreed = before.saturating_sub(nalloc);
    if nfreed > 0 {
        // SAFETY: ours, as above.
        unsafe { span.set_needzero(true) };
        if spc.sizeclass() == 0 {
            heap.stats.large_free(span.npages() * PAGE_SIZE);
        } else {
            heap.stats.small_free(spc.sizeclass(), nfreed);
        }
    }
    span.sweepgen.store(sg, Ordering::Release);
    if preserve {
        return false;
    }
    if nalloc == 0 {
        heap.free_span(s);
        return true;
    }
    let c = heap.central(spc);
    if nalloc == span.nelems() {
        c.full_swept(sg).push(s);
    } else {
        c.partial_swept(sg).push(s);
    }
    false
}

impl Heap {
    /// Starts a sweep cycle (Go's `gcSweep` at mark termination): advances
    /// `sweepgen` by 2 so that every span not cached becomes "needs sweeping".
    ///
    /// The cycle around it is Go's: [`Heap::finish_sweep`] *before marking starts*
    /// (Go's `gcStart` → `finishsweep_m`: a span still unswept would carry last
    /// cycle's marks), then marking, then — with the world stopped — `start_sweep`,
    /// and every mcache flushed ([`crate::MCache::prepare_for_sweep`]) before it
    /// allocates again.
    ///
    /// ```
    /// let heap = gort_alloc::Heap::new();
    /// let mut c = heap.new_mcache();
    /// let keep = c.alloc(32, true) as usize;
    /// let drop = c.alloc(32, true) as usize;
    /// heap.mark(keep);
    /// heap.start_sweep();
    /// c.prepare_for_sweep();
    /// heap.finish_sweep();
    /// let (span, _, i) = heap.find_object(keep).unwrap();
    /// assert!(!span.is_free(i));
    /// assert!(span.is_free(span.object_index(drop)));
    /// ```
    pub fn start_sweep(&self) {
        self.scavtrace_cycle();
        self.sweep.cursor.store(0, Ordering::Relaxed);
        self.sweepgen.fetch_add(2, Ordering::AcqRel);
    }

    /// Sweeps one unswept span not held by an mcache, if any is left; returns its
    /// page count (Go's `sweepone`, the background sweeper's step). Safe to call
    /// from any thread, concurrently with allocation and other `sweepone`s.
    ///
    /// ```
    /// let heap = gort_alloc::Heap::new();
    /// let mut c = heap.new_mcache();
    /// c.alloc(100_000, true); // a 13-page large object, never marked
    /// heap.start_sweep();
    /// c.prepare_for_sweep();
    /// assert_eq!(heap.sweepone(), Some(13));
    /// assert_eq!(heap.sweepone(), None);
    /// assert_eq!(heap.mem_stats().heap_inuse, 0);
    /// ```
    pub fn sweepone(&self) -> Option<usize> {
        let sg = self.sweepgen();
        loop {
            let i = self.sweep.cursor.load(Ordering::Relaxed);
            if i >= NUM_SPAN_CLASSES * 2 {
                return None;
            }
            let c = &self.central[i / 2];
            let set = if i.is_multiple_of(2) {
                c.full_unswept(sg)
            } else {
                c.partial_unswept(sg)
            };
            match set.pop() {
                Some(s) => {
                    if s.get().try_acquire_sweep(sg) {
                        let npages = s.get().npages();
                        sweep(self, s, false);
                        return Some(npages);
                    }
                }
                None => {
                    let _ = self.sweep.cursor.compare_exchange(
                        i,
                        i + 1,
                        Ordering::Relaxed,
                        Ordering::Relaxed,
                    );
                }
            }
        }
    }

    /// Sweeps every span left in this cycle (Go's `finishsweep_m`). Spans still
    /// cached by unflushed mcaches are swept when those caches give them back.
    ///
    /// ```
    /// let heap = gort_alloc::Heap::new();
    /// let mut c = heap.new_mcache();
    /// for _ in 0..10_000 {
    ///     c.alloc(48, true);
    /// }
    /// heap.start_sweep();
    /// c.prepare_for_sweep();
    /// heap.finish_sweep();
    /// let m = heap.mem_stats();
    /// assert_eq!((m.heap_objects, m.frees, m.heap_inuse), (0, 10_000, 0));
    /// ```
    pub fn finish_sweep(&self) {
        while self.sweepone().is_some() {}
    }
}

#[cfg(all(test, not(miri), not(loom)))]
mod tests {
    use crate::Heap;
    use std::collections::BTreeSet;

    fn xorshift(x: &mut u64) -> u64 {
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        *x
    }

    /// A free slot that is the last of a 64-slot window (63 marked slots before
    /// it): allocation shifts the window by 64, which must give 0, as in Go
    /// (Rust's `>>` by 64 overflows, so the shift is written out).
    #[test]
    fn a_free_slot_at_the_end_of_a_window_is_handed_out() {
        let heap = Heap::new();
        let mut c = heap.new_mcache();
        // One span of the 8-byte class: 1024 slots (scan class: noscan objects this
        // small would go to the tiny allocator).
        let objs: Vec<usize> = (0..1024).map(|_| c.alloc(8, false) as usize).collect();
        for (i, &p) in objs.iter().enumerate() {
            if i != 127 && i != 200 {
                assert!(heap.mark(p));
            }
        }
        heap.start_sweep();
        c.prepare_for_sweep();
        heap.finish_sweep();
        let got: BTreeSet<usize> = (0..2).map(|_| c.alloc(8, false) as usize).collect();
        assert_eq!(got, BTreeSet::from([objs[127], objs[200]]));
    }

    /// A conservative scan may find an address in a free slot: marking it is
    /// refused, so the sweep's counts stay right.
    #[test]
    fn marking_a_free_slot_is_refused() {
        let heap = Heap::new();
        let mut c = heap.new_mcache();
        let p = c.alloc(64, true) as usize;
        assert!(heap.mark(p));
        assert!(!heap.mark(p + 64), "the next slot is free");
        heap.start_sweep();
        c.prepare_for_sweep();
        heap.finish_sweep();
        let m = heap.mem_stats();
        assert_eq!((m.heap_objects, m.frees), (1, 0));
    }

    #[test]
    fn exactly_the_unmarked_objects_are_reclaimed_and_reused() {
        for (size, per_span) in [(64usize, 128usize), (1408, 11), (24, 341)] {
            let heap = Heap::new();
            let mut c = heap.new_mcache();
            let n = per_span * 8; // whole spans: no never-used slots
            let objs: Vec<usize> = (0..n).map(|_| c.alloc(size, true) as usize).collect();
            let mut x = 0x1234_5678_9abc_def1u64 ^ size as u64;
            // Keep about a third; leave one span entirely unmarked.
            let kept: BTreeSet<usize> = objs
                .iter()
                .enumerate()
                .filter(|(i, _)| i / per_span != 3 && xorshift(&mut x).is_multiple_of(3))
                .map(|(_, p)| *p)
                .collect();
            for &p in &kept {
                assert!(heap.mark(p));
            }
            heap.start_sweep();
            c.prepare_for_sweep();
            heap.finish_sweep();
            let m = heap.mem_stats();
            assert_eq!(m.heap_objects as usize, kept.len());
            assert_eq!(m.frees as usize, n - kept.len());
            assert_eq!(
                m.heap_inuse as usize,
                7 * heap.span_of(objs[0]).unwrap().npages() * 8192,
                "the empty span went back"
            );
            for &p in &objs {
                match heap.find_object(p) {
                    Some((s, base, i)) => {
                        assert_eq!(base, p);
                        assert_eq!(s.is_free(i), !kept.contains(&p), "object {p:#x}");
                    }
                    None => assert!(!kept.contains(&p), "a kept object's span was freed"),
                }
            }
            // Reuse: the reclaimed slots of the spans that kept survivors come
            // first (partial swept spans before fresh pages), and exactly them.
            let empty_span = 3 * per_span..4 * per_span;
            let freed: BTreeSet<usize> = objs
                .iter()
                .enumerate()
                .filter(|(i, p)| !kept.contains(p) && !empty_span.contains(i))
                .map(|(_, p)| *p)
                .collect();
            let again: BTreeSet<usize> = (0..freed.len())
                .map(|_| c.alloc(size, true) as usize)
                .collect();
            assert_eq!(again, freed, "size {size}");
        }
    }

    #[test]
    fn spans_cached_across_a_cycle_are_swept_when_given_back() {
        let heap = Heap::new();
        let mut c = heap.new_mcache();
        let a = c.alloc(48, true) as usize;
        let b = c.alloc(48, true) as usize;
        heap.mark(b);
        heap.start_sweep();
        // Not flushed: the span is still cached, with sweepgen sg + 1 now.
        let s = heap.span_of(a).unwrap();
        assert_eq!(s.sweepgen(), heap.sweepgen() + 1);
        heap.finish_sweep(); // cannot reach it
        assert!(!s.is_free(0));
        c.prepare_for_sweep(); // uncache_span sweeps it
        assert_eq!(s.sweepgen(), heap.sweepgen());
        assert!(s.is_free(0) && !s.is_free(1));
    }

    #[test]
    fn sweeping_concurrently_with_allocation_from_several_threads() {
        let heap = Heap::new();
        let threads = 3;
        let per = 20_000;
        let mut caches: Vec<_> = (0..threads).map(|_| heap.new_mcache()).collect();
        // Fill, keep every 4th object, start the cycle.
        let lists: Vec<Vec<usize>> = caches
            .iter_mut()
            .map(|c| {
                (0..per)
                    .map(|i| c.alloc(16 + i % 200, false) as usize)
                    .collect()
            })
            .collect();
        let kept: Vec<usize> = lists
            .iter()
            .flat_map(|l| l.iter().step_by(4).copied())
            .collect();
        for &p in &kept {
            heap.mark(p);
        }
        heap.start_sweep();
        for c in &mut caches {
            c.prepare_for_sweep();
        }
        // Allocate from every thread while one more thread sweeps in the background.
        let fresh: Vec<Vec<usize>> = std::thread::scope(|sc| {
            sc.spawn(|| while heap.sweepone().is_some() {});
            let hs: Vec<_> = caches
                .iter_mut()
                .map(|c| {
                    sc.spawn(move || {
                        (0..per)
                            .map(|i| c.alloc(16 + i % 200, false) as usize)
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut all: Vec<(usize, usize)> = kept
            .iter()
            .map(|&p| (p, heap.find_object(p).unwrap().0.elemsize()))
            .collect();
        for l in &fresh {
            for &p in l {
                all.push((p, heap.find_object(p).unwrap().0.elemsize()));
            }
        }
        all.sort();
        for w in all.windows(2) {
            assert!(
                w[0].0 + w[0].1 <= w[1].0,
                "live objects overlap: {:x?} {:x?}",
                w[0],
                w[1]
            );
        }
        for &p in &kept {
            let (s, _, i) = heap.find_object(p).unwrap();
            assert!(!s.is_free(i), "a marked object was reclaimed");
        }
    }
}

/// loom models of the span hand-offs: `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2
/// CARGO_TARGET_DIR=target/loom cargo test -p gort-alloc --release --lib loom_`.
///
/// The heap's page allocator, arena index and mmap run for real inside each model
/// execution (they are behind the heap lock or are std atomics); loom explores the
/// interleavings of the set locks and the `sweepgen` CAS. Spans of class 66 (two
/// 28 KiB objects, span class 133) keep the bitmaps one word long, and the
/// sweeper's cursor starts at that class, so each execution stays short.
#[cfg(all(test, loom))]
mod loom_models {
    use crate::mcentral::SpanPtr;
    use crate::mheap::Heap;
    use crate::span::SpanClass;
    use loom::sync::atomic::Ordering;
    use std::sync::Arc;

    const SPC: SpanClass = SpanClass::new(66, true);

    /// A full span of `SPC` whose slot 0 is marked and slot 1 is garbage, filed
    /// as swept, before the sweep cycle starts.
    fn full_span_with_one_survivor(heap: &Heap) -> SpanPtr {
        let s = heap.alloc_span(7, SPC, None);
        let span = s.get();
        // SAFETY: fresh from the heap, ours until pushed below. Both slots taken
        // (the model's mcache filled the span).
        unsafe {
            assert_eq!(span.next_free_index(), 0);
            span.count_alloc();
            assert_eq!(span.next_free_index(), 1);
            span.count_alloc();
        }
        span.sweepgen.store(heap.sweepgen(), Ordering::Relaxed);
        assert!(span.mark(0));
        heap.central(SPC).full_swept(heap.sweepgen()).push(s);
        s
    }

    fn start_cycle_at_spc(heap: &Heap) {
        heap.start_sweep();
        heap.sweep
            .cursor
            .store(SPC.0 as usize * 2, Ordering::Relaxed);
    }

    /// mcentral's hand-off: an mcache's `cache_span` and the background sweeper
    /// race for the same unswept span. It is swept exactly once (one object freed,
    /// the survivor kept), and ends up owned by exactly one party: cached by the
    /// allocator, or filed on the partial swept set.
    #[test]
    fn loom_cache_span_vs_sweepone_sweeps_once_and_hands_over_once() {
        loom::model(|| {
            let heap = Heap::new();
            let s = full_span_with_one_survivor(&heap);
            start_cycle_at_spc(&heap);
            let sg = heap.sweepgen();
            assert_eq!(s.get().sweepgen(), sg - 2, "needs sweeping after the bump");
            let h2 = Arc::clone(&heap);
            let sweeper = loom::thread::spawn(move || {
                h2.sweepone();
            });
            let got = heap.central(SPC).cache_span(&heap, sg, None);
            sweeper.join().unwrap();
            let span = s.get();
            assert_eq!(span.sweepgen(), sg, "swept in this cycle");
            assert_eq!(heap.mem_stats().frees, 1, "swept exactly once");
            assert!(
                !span.is_free(0) && span.is_free(1),
                "survivor kept, garbage freed"
            );
            let filed = heap.central(SPC).partial_swept(sg).pop();
            if got == s {
                assert_eq!(filed, None, "cached and filed at once");
            } else {
                // The sweeper had it: cache_span grew a fresh span instead, and
                // the swept one waits on the partial swept set.
                assert_eq!(filed, Some(s));
            }
            assert_eq!(heap.central(SPC).partial_swept(sg).pop(), None);
        });
    }

    /// Two background sweepers over two unswept spans: each span is claimed by
    /// exactly one of them (the `sweepgen` CAS), and both end swept and filed.
    #[test]
    fn loom_two_sweepers_claim_each_span_once() {
        loom::model(|| {
            let heap = Heap::new();
            let a = full_span_with_one_survivor(&heap);
            let b = full_span_with_one_survivor(&heap);
            start_cycle_at_spc(&heap);
            let sg = heap.sweepgen();
            let h2 = Arc::clone(&heap);
            let t = loom::thread::spawn(move || {
                let mut n = 0;
                while h2.sweepone().is_some() {
                    n += 1;
                }
                n
            });
            let mut n = 0;
            while heap.sweepone().is_some() {
                n += 1;
            }
            n += t.join().unwrap();
            assert_eq!(n, 2, "two spans, two sweeps");
            assert_eq!(heap.mem_stats().frees, 2);
            for s in [a, b] {
                assert_eq!(s.get().sweepgen(), sg);
            }
            let set = heap.central(SPC).partial_swept(sg);
            let mut filed = vec![set.pop().unwrap(), set.pop().unwrap()];
            filed.sort_by_key(|s| s.0);
            let mut want = vec![a, b];
            want.sort_by_key(|s| s.0);
            assert_eq!(filed, want);
        });
    }

    /// A full span waiting in an mcache's batch when a cycle starts is filed
    /// late (`file_full`) while the background sweeper works through the class:
    /// whichever way they interleave — the sweeper may finish the class before
    /// the span is filed — it is swept exactly once in this cycle and filed.
    /// (Filed onto the unswept set instead, it would be missed whenever the
    /// sweeper got there first: that set is behind the sweeper's cursor.)
    #[test]
    fn loom_late_file_full_vs_sweepone() {
        loom::model(|| {
            let heap = Heap::new();
            let s = full_span_with_one_survivor(&heap);
            let other = full_span_with_one_survivor(&heap);
            // Take one back off the set: it waits in the cache's batch.
            let sg0 = heap.sweepgen();
            let batched = heap.central(SPC).full_swept(sg0).pop().unwrap();
            assert!(batched == s || batched == other);
            start_cycle_at_spc(&heap);
            let sg = heap.sweepgen();
            let h2 = Arc::clone(&heap);
            let sweeper = loom::thread::spawn(move || while h2.sweepone().is_some() {});
            heap.central(SPC).file_full(&heap, &mut vec![batched]);
            sweeper.join().unwrap();
            heap.finish_sweep();
            for x in [s, other] {
                assert_eq!(x.get().sweepgen(), sg, "swept in this cycle");
            }
            assert_eq!(heap.mem_stats().frees, 2, "each span swept once");
        });
    }

    /// A span cached across the start of a cycle (`sweepgen == sg + 1`) is swept
    /// by `uncache_span` and never by the background sweeper, which cannot reach
    /// it; the two run at once.
    #[test]
    fn loom_uncache_of_a_stale_span_vs_sweepone() {
        loom::model(|| {
            let heap = Heap::new();
            let s = full_span_with_one_survivor(&heap);
            let other = full_span_with_one_survivor(&heap);
            // Take `s` back off the set and "cache" it.
            let c = heap.central(SPC);
            let sg0 = heap.sweepgen();
            let popped = c.full_swept(sg0).pop();
            let s = if popped == Some(s) { s } else { other };
            s.get().sweepgen.store(sg0 + 3, Ordering::Relaxed);
            start_cycle_at_spc(&heap);
            let sg = heap.sweepgen();
            let h2 = Arc::clone(&heap);
            let sweeper = loom::thread::spawn(move || while h2.sweepone().is_some() {});
            heap.central(SPC).uncache_span(&heap, s, sg);
            sweeper.join().unwrap();
            assert_eq!(s.get().sweepgen(), sg);
            assert_eq!(heap.mem_stats().frees, 2, "each span swept once");
        });
    }
}
