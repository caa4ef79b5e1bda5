//! Timers and the per-P timer heap.
//!
//! Models `runtime/time.go`: `timer` (`modify`, `stop`, `maybeAdd`, `needsAdd`),
//! `timers` (`addHeap`, `deleteMin`, `adjust`, `cleanHead`, `check`, `run`,
//! `wakeTime`, `siftUp`, `siftDown`) with Go's 4-ary heap (`timerHeapN`).
//!
//! # Design
//!
//! Every P owns a [`Timers`]: a min-heap of `(when, timer)` entries under its own
//! lock. The entry keeps a copy of `when` (Go's `timerWhen`) so the heap can be
//! ordered without taking every timer's lock. A timer is in at most one heap.
//!
//! Changing a timer that sits in a heap does not touch the heap (that would mean
//! taking another P's lock on every `Stop`/`Reset`). Instead the timer is marked:
//!
//! - **modified** (`timerModified`): `when` changed, the heap entry is stale. The
//!   heap's `min_when_modified` records the earliest such `when`, so the owner
//!   knows when it must repair the heap (`adjust`).
//! - **zombie** (`timerZombie`): stopped; the entry is dropped the next time the
//!   owner meets it (at the top of the heap, or in a full `adjust` when zombies
//!   exceed a quarter of the heap).
//!
//! The P's owner runs due timers from the scheduler loop ([`Timers::check`], called
//! by `find_runnable`); idle Ms run other Ps' timers on their last steal pass; and
//! the M that would otherwise sleep bounds its sleep by the earliest timer of all
//! Ps ([`Timers::wake_time`]). A timer's function runs with both locks released.
//!
//! # Locks
//!
//! Order: the heap's lock (`ts.mu`), then a timer's (`t.mu`) — as in Go. `stop` and
//! `modify` of a heaped timer take only `t.mu`; `add` takes `ts.mu` then `t.mu`;
//! `run` holds `ts.mu` and takes each top timer's `t.mu`. A timer whose last
//! reference was its heap entry is dropped where the entry is removed, with `ts.mu`
//! held; only `after_func`'s function holds a user value, and it is dropped on a
//! goroutine started then (`time/mod.rs: OnGoroutine`), which may take the
//! scheduler's locks after `ts.mu` (nothing takes `ts.mu` under them). The two mins are atomics
//! so that the scheduler can skip a heap without locking it; they are hints that
//! are only ever too early (a spurious look), never too late:
//! `min_when_modified` is lowered before a modified timer's lock is released.
//!
//! # Simplified on purpose
//!
//! Go's channel timers (`isChan`) are in a heap only while a goroutine is blocked
//! on them, so an unreferenced `time.After` costs nothing; gort's stay in the heap
//! until they fire (the `time` module says so). Timer functions get `(seq, delay)`;
//! Go's `f(arg, seq, delay)` carries `arg` in the closure here.

use crate::loom::atomic::{AtomicBool, AtomicI32, AtomicI64, AtomicU32, Ordering};
use crate::loom::{Mutex, MutexGuard};
use std::sync::Arc;

/// Children per heap node (`timerHeapN`): a 4-ary heap is shallower than a binary
/// one, and the four children share a cache line or two.
pub(crate) const TIMER_HEAP_N: usize = 4;

/// What a timer runs when it fires: `(seq, delay_ns)`. `seq` is the timer's
/// sequence number when it was taken off the heap (a channel timer compares it to
/// drop a send that a `stop`/`reset` overtook); `delay` is how late it runs.
pub(crate) type TimerFn = dyn Fn(u64, i64) + Send + Sync;

/// A timer (`runtime.timer`).
pub(crate) struct Timer {
    mu: Mutex<TimerState>,
    f: Box<TimerFn>,
    /// Mirror of `modified || zombie`, written under `mu`, read without it by
    /// `clean_head` to skip locking a clean top entry (Go's `t.astate`). A stale
    /// read only costs a lock or leaves the top for the next look.
    dirty: AtomicBool,
}

struct TimerState {
    /// When it fires, in the runtime's nanotime; 0 = not armed.
    when: i64,
    /// Re-arm period for tickers; 0 = one-shot.
    period: i64,
    /// Bumped by every `modify`/`stop`.
    seq: u64,
    /// The heap holding an entry for this timer (`timerHeaped` + `t.ts`).
    ts: Option<&'static Timers>,
    /// `when` changed since the heap entry was written (`timerModified`).
    modified: bool,
    /// Stopped while in a heap; the owner will drop the entry (`timerZombie`).
    zombie: bool,
}

/// One heap slot (`timerWhen`).
struct TimerWhen {
    timer: Arc<Timer>,
    when: i64,
}

/// A P's timer heap (`runtime.timers`).
pub(crate) struct Timers {
    mu: Mutex<Vec<TimerWhen>>,
    /// Heap length, readable without the lock (checkdead, tracing).
    len: AtomicU32,
    /// Zombies among the entries.
    zombies: AtomicI32,
    /// `when` of the heap's top entry, 0 if empty (`minWhenHeap`).
    min_when_heap: AtomicI64,
    /// Earliest `when` among modified timers, 0 if none (`minWhenModified`).
    min_when_modified: AtomicI64,
}

impl Timer {
    /// A stopped timer that will call `f` each time it fires.
    pub(crate) fn new(f: Box<TimerFn>) -> Arc<Timer> {
        Self::new_cyclic(|_| f)
    }

    /// Like [`Timer::new`], for a function that needs to reach its own timer (to
    /// stop it): `make` gets a weak handle to the timer being built.
    pub(crate) fn new_cyclic(
        make: impl FnOnce(std::sync::Weak<Timer>) -> Box<TimerFn>,
    ) -> Arc<Timer> {
        Arc::new_cyclic(|me| Timer {
            mu: Mutex::new(TimerState {
                when: 0,
                period: 0,
                seq: 0,
                ts: None,
                modified: false,
                zombie: false,
            }),
            f: make(me.clone()),
            dirty: AtomicBool::new(false),
        })
    }

    /// `modify`: arms the timer for `when` (re-arming every `period` ns if > 0).
    /// Returns whether it was pending before, and the sequence number now in force.
    /// If it must go into a heap, `pick` names the heap (the caller's P) and the
    /// returned `wake` is the `when` the caller must pass to `wakeNetPoller` (the
    /// timer became the earliest of its heap, or moved earlier in a heap).
    pub(crate) fn modify(
        self: &Arc<Self>,
        when: i64,
        period: i64,
        pick: impl FnOnce() -> &'static Timers,
    ) -> Modified {
        assert!(when > 0, "timer: when must be positive");
        let mut s = self.mu.lock();
        let pending = s.when > 0;
        let old_when = s.when;
        s.when = when;
        s.period = period;
        s.seq = s.seq.wrapping_add(1);
        let seq = s.seq;
        if let Some(ts) = s.ts {
            // In a heap: mark it and let the owner repair the entry.
            s.modified = true;
            self.dirty.store(true, Ordering::Relaxed);
            if s.zombie {
                s.zombie = false;
                ts.zombies.fetch_sub(1, Ordering::Relaxed);
            }
            ts.update_min_when_modified(when);
            drop(s);
            // Moved earlier: whoever sleeps until this heap's old minimum must know.
            let earlier = old_when == 0 || when < old_when;
            return Modified {
                pending,
                seq,
                wake: earlier.then_some(when),
            };
        }
        drop(s);
        let wake = pick().add(self);
        Modified { pending, seq, wake }
    }

    /// `stop`: disarms the timer. Returns whether it was pending (it will not fire
    /// for that arming).
    pub(crate) fn stop(&self) -> bool {
        let mut s = self.mu.lock();
        let pending = s.when > 0;
        s.when = 0;
        s.seq = s.seq.wrapping_add(1);
        if let Some(ts) = s.ts {
            s.modified = true;
            self.dirty.store(true, Ordering::Relaxed);
            if !s.zombie {
                s.zombie = true;
                ts.zombies.fetch_add(1, Ordering::Relaxed);
            }
        }
        pending
    }
}

/// What [`Timer::modify`] did.
#[cfg_attr(loom, allow(dead_code))] // the timer models read `pending` only
pub(crate) struct Modified {
    /// The timer was armed before (Go's `Reset` result).
    pub(crate) pending: bool,
    /// The sequence number of this arming.
    pub(crate) seq: u64,
    /// Pass to `wakeNetPoller`: the timer may now be the earliest somewhere.
    pub(crate) wake: Option<i64>,
}

impl Timers {
    pub(crate) fn new() -> Timers {
        Timers {
            mu: Mutex::new(Vec::new()),
            len: AtomicU32::new(0),
            zombies: AtomicI32::new(0),
            min_when_heap: AtomicI64::new(0),
            min_when_modified: AtomicI64::new(0),
        }
    }

    /// Entries in the heap (zombies included), without the lock.
    pub(crate) fn len(&self) -> u32 {
        self.len.load(Ordering::Relaxed)
    }

    /// `wakeTime`: the earliest moment this heap needs attention, 0 if never.
    pub(crate) fn wake_time(&self) -> i64 {
        let h = self.min_when_heap.load(Ordering::Acquire);
        let m = self.min_when_modified.load(Ordering::Acquire);
        match (h, m) {
            (0, m) => m,
            (h, 0) => h,
            (h, m) => h.min(m),
        }
    }

    /// `updateMinWhenModified`: lowers the hint to `when` if it is earlier.
    fn update_min_when_modified(&self, when: i64) {
        let mut cur = self.min_when_modified.load(Ordering::Relaxed);
        while cur == 0 || when < cur {
            match self.min_when_modified.compare_exchange_weak(
                cur,
                when,
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(c) => cur = c,
            }
        }
    }

    /// `maybeAdd`: puts `t` in this heap if it is armed and in none. Returns the
    /// `when` to pass to `wakeNetPoller` if it became the earliest entry.
    fn add(&'static self, t: &Arc<Timer>) -> Option<i64> {
        let mut heap = self.mu.lock();
        self.clean_head(&mut heap);
        let mut s = t.mu.lock();
        // `needsAdd`: a `stop` or another `modify` may have come in between.
        if s.when == 0 || s.ts.is_some() {
            return None;
        }
        let when = s.when;
        s.ts = Some(self);
        s.modified = false;
        drop(s);
        self.push(
            &mut heap,
            TimerWhen {
                timer: t.clone(),
                when,
            },
        );
        (heap[0].when == when).then_some(when)
    }

    /// `cleanHead`: drops zombies and repairs modified timers at the top of the heap,
    /// so the top is a live entry with a correct `when`.
    fn clean_head(&self, heap: &mut Vec<TimerWhen>) {
        while let Some(top) = heap.first() {
            if !top.timer.dirty.load(Ordering::Relaxed) {
                return;
            }
            let t = top.timer.clone();
            if self.repair_top(heap, &t, t.mu.lock()).is_some() {
                break;
            }
        }
    }

    /// The top entry, with its timer locked (`s`): a zombie is dropped from the heap,
    /// a modified timer re-filed at its new `when` (both return None: look at the
    /// new top); a live, current one is handed back still locked.
    fn repair_top<'a>(
        &self,
        heap: &mut Vec<TimerWhen>,
        t: &Timer,
        mut s: MutexGuard<'a, TimerState>,
    ) -> Option<MutexGuard<'a, TimerState>> {
        if s.zombie {
            self.unheap_zombie(t, &mut s);
            drop(s);
            self.delete_min(heap);
            return None;
        }
        if s.modified {
            s.modified = false;
            t.dirty.store(false, Ordering::Relaxed);
            heap[0].when = s.when;
            drop(s);
            sift_down(heap, 0);
            self.update_min_when_heap(heap);
            return None;
        }
        Some(s)
    }

    /// A stopped timer leaves the heap: clear its marks and the zombie count. The
    /// caller removes its entry.
    fn unheap_zombie(&self, t: &Timer, s: &mut TimerState) {
        s.zombie = false;
        s.modified = false;
        s.ts = None;
        t.dirty.store(false, Ordering::Relaxed);
        self.zombies.fetch_sub(1, Ordering::Relaxed);
    }

    /// `deleteMin`: removes the top entry and hands it back.
    fn delete_min(&self, heap: &mut Vec<TimerWhen>) -> TimerWhen {
        let last = heap.len() - 1;
        heap.swap(0, last);
        let e = heap.pop().expect("delete_min: empty heap");
        if !heap.is_empty() {
            sift_down(heap, 0);
        }
        self.len.store(heap.len() as u32, Ordering::Relaxed);
        self.update_min_when_heap(heap);
        e
    }

    /// Puts an entry (back) into the heap.
    fn push(&self, heap: &mut Vec<TimerWhen>, e: TimerWhen) {
        heap.push(e);
        let i = heap.len() - 1;
        sift_up(heap, i);
        self.len.store(heap.len() as u32, Ordering::Relaxed);
        self.update_min_when_heap(heap);
    }

    fn update_min_when_heap(&self, heap: &[TimerWhen]) {
        self.min_when_heap
            .store(heap.first().map_or(0, |e| e.when), Ordering::Release);
    }

    /// `adjust`: repairs every modified entry and drops every zombie, then rebuilds
    /// the heap (Go's `initHeap`). Run when a modified timer may be due or zombies
    /// pile up.
    fn adjust(&self, heap: &mut Vec<TimerWhen>) {
        // Clear the hint first: a timer modified while we walk lowers it again.
        self.min_when_modified.store(0, Ordering::Release);
        let mut i = 0;
        while i < heap.len() {
            let t = heap[i].timer.clone();
            let mut s = t.mu.lock();
            if s.zombie {
                self.unheap_zombie(&t, &mut s);
                drop(s);
                heap.swap_remove(i);
                continue;
            }
            if s.modified {
                s.modified = false;
                t.dirty.store(false, Ordering::Relaxed);
                heap[i].when = s.when;
            }
            i += 1;
        }
        for i in (0..heap.len()).rev() {
            sift_down(heap, i);
        }
        self.len.store(heap.len() as u32, Ordering::Relaxed);
        self.update_min_when_heap(heap);
    }

    /// `check`: runs every timer due at `now`. Returns whether any ran. Cheap when
    /// nothing is due: two atomic loads.
    pub(crate) fn check(&self, now: i64) -> bool {
        let next = self.wake_time();
        let force = {
            let z = self.zombies.load(Ordering::Relaxed);
            z > 0 && z as u32 > self.len() / 4
        };
        if (next == 0 || now < next) && !force {
            return false;
        }
        let mut heap = self.mu.lock();
        let m = self.min_when_modified.load(Ordering::Acquire);
        if force || (m != 0 && m <= now) {
            self.adjust(&mut heap);
        }
        let mut ran = false;
        while let Some(top) = heap.first() {
            if top.when > now {
                break;
            }
            if let Some((t, seq, delay)) = self.run_top(&mut heap, now) {
                // `unlockAndRun`: the function may take other locks, add timers
                // (even to this heap) or ready goroutines.
                drop(heap);
                (t.f)(seq, delay);
                ran = true;
                heap = self.mu.lock();
            }
        }
        ran
    }

    /// `run` for the top entry, whose `when` has passed. The entry comes off the
    /// heap and is judged under its timer's lock: a zombie is dropped and a
    /// modified timer goes back at its new `when` (both return None); a due timer
    /// is returned with what its function gets — after going back at its next tick
    /// if it is periodic. Taking the entry out first moves its `Arc` instead of
    /// cloning it on the common path (a one-shot timer firing).
    fn run_top(&self, heap: &mut Vec<TimerWhen>, now: i64) -> Option<(Arc<Timer>, u64, i64)> {
        let mut e = self.delete_min(heap);
        let mut s = e.timer.mu.lock();
        if s.zombie {
            self.unheap_zombie(&e.timer, &mut s);
            return None;
        }
        if s.modified {
            s.modified = false;
            e.timer.dirty.store(false, Ordering::Relaxed);
            e.when = s.when;
            drop(s);
            self.push(heap, e);
            return None;
        }
        let delay = now - s.when;
        let seq = s.seq;
        if s.period > 0 {
            // Periodic: the next tick after now, skipping the ones missed.
            s.when += s.period * (1 + (now - s.when) / s.period);
            if s.when < 0 {
                s.when = i64::MAX;
            }
            e.when = s.when;
            drop(s);
            let t = e.timer.clone();
            self.push(heap, e);
            return Some((t, seq, delay));
        }
        s.when = 0;
        s.ts = None;
        drop(s);
        Some((e.timer, seq, delay))
    }
}

/// `siftUp` in a 4-ary heap ordered by `when`.
fn sift_up(h: &mut [TimerWhen], mut i: usize) {
    while i > 0 {
        let p = (i - 1) / TIMER_HEAP_N;
        if h[i].when >= h[p].when {
            break;
        }
        h.swap(i, p);
        i = p;
    }
}

/// `siftDown` in a 4-ary heap ordered by `when`.
fn sift_down(h: &mut [TimerWhen], mut i: usize) {
    let n = h.len();
    loop {
        let c = i * TIMER_HEAP_N + 1;
        if c >= n {
            return;
        }
        let mut m = c;
        for k in c + 1..(c + TIMER_HEAP_N).min(n) {
            if h[k].when < h[m].when {
                m = k;
            }
        }
        if h[m].when >= h[i].when {
            return;
        }
        h.swap(i, m);
        i = m;
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::Mutex as StdMutex;

    fn heap() -> &'static Timers {
        Box::leak(Box::new(Timers::new()))
    }

    fn recorder() -> (Arc<StdMutex<Vec<u64>>>, impl Fn(u64) -> Box<TimerFn>) {
        let log = Arc::new(StdMutex::new(Vec::new()));
        let l = log.clone();
        (log, move |id| {
            let l = l.clone();
            Box::new(move |_, _| l.lock().unwrap().push(id))
        })
    }

    #[test]
    fn fires_in_when_order_and_not_early() {
        let ts = heap();
        let (log, mk) = recorder();
        let whens = [50, 10, 40, 30, 20, 60, 15, 35, 45, 5, 25];
        let timers: Vec<_> = whens
            .iter()
            .map(|&w| {
                let t = Timer::new(mk(w as u64));
                t.modify(w, 0, || ts);
                t
            })
            .collect();
        assert!(!ts.check(4), "nothing is due before 5");
        assert!(log.lock().unwrap().is_empty());
        assert!(ts.check(30));
        assert_eq!(*log.lock().unwrap(), vec![5, 10, 15, 20, 25, 30]);
        ts.check(100);
        let mut sorted = whens.to_vec();
        sorted.sort();
        assert_eq!(
            *log.lock().unwrap(),
            sorted.iter().map(|&w| w as u64).collect::<Vec<_>>()
        );
        assert_eq!(ts.len(), 0);
        drop(timers);
    }

    #[test]
    fn stop_and_reset_are_lazy_but_exact() {
        let ts = heap();
        let (log, mk) = recorder();
        let a = Timer::new(mk(1));
        let b = Timer::new(mk(2));
        let c = Timer::new(mk(3));
        a.modify(10, 0, || ts);
        b.modify(20, 0, || ts);
        c.modify(30, 0, || ts);
        assert!(a.stop(), "a was pending");
        assert!(!a.stop(), "a is stopped");
        // b moves later than c; c moves earlier.
        assert!(b.modify(40, 0, || ts).pending);
        c.modify(5, 0, || ts);
        assert_eq!(ts.wake_time(), 5, "the modified hint is the earliest");
        ts.check(35);
        assert_eq!(*log.lock().unwrap(), vec![3]);
        ts.check(40);
        assert_eq!(*log.lock().unwrap(), vec![3, 2]);
        assert_eq!(ts.len(), 0, "the zombie was dropped");
        // A stopped timer re-armed from zombie state fires once.
        a.modify(50, 0, || ts);
        ts.check(60);
        assert_eq!(*log.lock().unwrap(), vec![3, 2, 1]);
    }

    #[test]
    fn periodic_skips_missed_ticks() {
        let ts = heap();
        let (log, mk) = recorder();
        let t = Timer::new(mk(7));
        t.modify(10, 10, || ts);
        ts.check(10);
        ts.check(55); // ticks at 20..50 missed: fires once, next at 60
        assert_eq!(log.lock().unwrap().len(), 2);
        assert_eq!(ts.wake_time(), 60);
        t.stop();
        ts.check(1000);
        assert_eq!(log.lock().unwrap().len(), 2);
    }

    #[test]
    fn zombies_are_swept_when_they_pile_up() {
        let ts = heap();
        let (_log, mk) = recorder();
        let timers: Vec<_> = (0..100)
            .map(|i| {
                let t = Timer::new(mk(i));
                t.modify(1000 + i as i64, 0, || ts);
                t
            })
            .collect();
        for t in &timers[..50] {
            t.stop();
        }
        assert_eq!(ts.len(), 100);
        ts.check(1); // nothing due, but zombies > len/4 forces a sweep
        assert_eq!(ts.len(), 50);
    }

    #[test]
    fn heap_order_holds_for_many_random_timers() {
        let ts = heap();
        let (log, mk) = recorder();
        let mut x: u64 = 88172645463325252;
        let mut ts_all = Vec::new();
        for _ in 0..1000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let w = (x % 10_000) as i64 + 1;
            let t = Timer::new(mk(w as u64));
            t.modify(w, 0, || ts);
            ts_all.push(t);
        }
        for now in (0..=10_000).step_by(97) {
            ts.check(now);
        }
        ts.check(10_001);
        let got = log.lock().unwrap().clone();
        assert_eq!(got.len(), 1000);
        assert!(got.windows(2).all(|w| w[0] <= w[1]), "fired out of order");
    }
}

/// loom models: timer add, stop and reset racing with the scheduler loop running
/// the heap (`check`). The scheduler loop is one thread calling `check`, as an M
/// does in `find_runnable`; the other thread is a goroutine using the timer.
#[cfg(all(test, loom))]
mod loom_models {
    use super::*;
    use loom::sync::atomic::AtomicUsize;

    fn counter() -> (Arc<AtomicUsize>, Box<TimerFn>) {
        let n = Arc::new(AtomicUsize::new(0));
        let n2 = n.clone();
        (
            n,
            Box::new(move |_, _| {
                n2.fetch_add(1, Ordering::SeqCst);
            }),
        )
    }

    /// `stop` returns true exactly when it prevented the firing.
    #[test]
    fn loom_timer_stop_vs_run() {
        loom::model(|| {
            let ts: &'static Timers = Box::leak(Box::new(Timers::new()));
            let (fired, f) = counter();
            let t = Timer::new(f);
            t.modify(10, 0, || ts);
            let t2 = t.clone();
            let stopper = loom::thread::spawn(move || t2.stop());
            ts.check(100);
            let stopped = stopper.join().unwrap();
            ts.check(100);
            let n = fired.load(Ordering::SeqCst);
            assert_eq!(n + stopped as usize, 1, "fired {n}, stop said {stopped}");
            assert_eq!(ts.len(), 0, "the zombie was cleaned");
        });
    }

    /// A reset racing with the firing: the timer fires for the old arming or not,
    /// `reset` says which, and the new arming fires exactly once.
    #[test]
    fn loom_timer_reset_vs_run() {
        loom::model(|| {
            let ts: &'static Timers = Box::leak(Box::new(Timers::new()));
            let (fired, f) = counter();
            let t = Timer::new(f);
            t.modify(10, 0, || ts);
            let t2 = t.clone();
            let resetter = loom::thread::spawn(move || t2.modify(20, 0, || ts).pending);
            ts.check(15);
            let pending = resetter.join().unwrap();
            ts.check(100);
            let n = fired.load(Ordering::SeqCst);
            assert_eq!(n, if pending { 1 } else { 2 }, "pending={pending}");
            assert_eq!(ts.len(), 0);
        });
    }

    /// A timer added from another thread while the owner runs its heap is neither
    /// lost nor run twice, and the owner's wake-up hint covers it.
    #[test]
    fn loom_timer_add_vs_check() {
        loom::model(|| {
            let ts: &'static Timers = Box::leak(Box::new(Timers::new()));
            let (fired, f) = counter();
            let (other, g) = counter();
            let a = Timer::new(f);
            a.modify(10, 0, || ts);
            let b = Timer::new(g);
            let b2 = b.clone();
            let adder = loom::thread::spawn(move || {
                b2.modify(5, 0, || ts);
            });
            ts.check(10);
            adder.join().unwrap();
            assert!(
                ts.len() == 0 || ts.wake_time() == 5,
                "a pending timer is visible"
            );
            ts.check(10);
            assert_eq!(fired.load(Ordering::SeqCst), 1);
            assert_eq!(other.load(Ordering::SeqCst), 1);
            assert_eq!(ts.len(), 0);
        });
    }
}
