//! The semaphore wait queue every `sync` type sleeps on: Go's `runtime/sema.go`.
//!
//! # Design
//!
//! A semaphore is any `AtomicU32` (Go: a `*uint32`) that counts available permits.
//! Taking one is a CAS that decrements a non-zero count (`cansemacquire`); only
//! when the count is zero does a caller queue and park. The queues do not live in
//! the semaphore word: like Go, one process-wide table of **251** roots holds
//! them, the root chosen by hashing the word's address (`(addr >> 3) % 251`), and
//! each root keeps the sleepers of every address that hashes to it, per address,
//! in arrival order. A `Mutex` therefore costs one word for its semaphore and no
//! allocation until somebody actually waits.
//!
//! * [`semacquire1`] (Go's `semacquire1`): try the CAS; otherwise lock the root,
//!   count ourselves in `nwait`, try the CAS once more (a release may have
//!   happened in between), queue a waiter record (`sudog`) at the tail — or at the
//!   head with `lifo`, which `Mutex` uses for a waiter that woke and lost the race
//!   again — and park, the root lock being released on g0 by `gopark`'s unlockf.
//!   On wake-up, if the releaser handed us the permit (`ticket == 1`) we own it;
//!   otherwise compete with the CAS again and go round.
//! * [`semrelease1`] (Go's `semrelease1`): add a permit; if the root's `nwait` is
//!   zero nobody can be queued and we are done without touching the lock (the
//!   lock-free fast path). Otherwise dequeue the first waiter of this address and
//!   make it runnable. With **handoff**, the releaser takes the permit back out of
//!   the count itself and gives it straight to the waiter (`ticket = 1`), then
//!   yields (`goyield`: to the tail of its own P's queue) so the waiter, which
//!   `ready` put in `runnext`, runs at once. `Mutex` uses handoff in starvation
//!   mode so a newcomer cannot steal the permit in between.
//! * `notifyList` (Go's `notifyList*` in the same file): the ticket queue `Cond`
//!   sits on. `notify_list_add` takes a ticket before the caller unlocks its
//!   mutex; `notify_list_wait` parks unless that ticket was already notified;
//!   `notify_list_notify_one` wakes the holder of the oldest unnotified ticket,
//!   so a signal never wakes a goroutine that began waiting after it.
//!
//! # Simplifications (on purpose)
//!
//! Go keeps each root's addresses in a treap (a balanced tree keyed by address)
//! so that a root shared by many hot addresses stays O(log n). We keep a plain
//! `Vec` of `(address, queue)` pairs per root and scan it: with 251 roots a root
//! rarely holds more than one or two addresses at a time, and a short linear scan
//! under a lock we already hold beats pointer-chasing a tree. A program with
//! thousands of semaphores contended at once would see the difference. Go's
//! `sudog` is a cached per-P object with profiling fields (acquire/release times
//! for the block and mutex profiles); ours is a small struct carrying the
//! [`Waiter`] and a shared ticket, with no profiling. `semrelease`'s `goyield` is
//! built here on `gopark` (its unlockf puts the goroutine at the tail of its P's
//! queue), so the scheduler needed no new entry point.
//!
//! # Memory ordering
//!
//! The one subtle point is the `nwait` fast path, a store-then-load handshake on
//! both sides: an acquirer increments `nwait` and then re-reads the count; a
//! releaser increments the count and then reads `nwait`. All four accesses are
//! `SeqCst`, and each side also puts a `fence(SeqCst)` between its store and its
//! load (free on x86 after a locked RMW in all but name, and what makes the
//! handshake hold under loom, whose `SeqCst` accesses only count as `AcqRel`;
//! `loom_model.rs` found the missed wake-up without them). So at least one side
//! sees the other's store: either the acquirer
//! finds the permit (and un-counts itself) or the releaser finds `nwait > 0`, takes
//! the root lock — which the acquirer holds until it has queued and switched out —
//! and finds the waiter. The permit handoff (`ticket`) is written before the
//! waiter is made runnable and read after it resumes; `ready` and the scheduler's
//! run-queue publication order the two.

use super::{block, Waiter};
use crate::loom::atomic::{fence, AtomicU32, Ordering};
use crate::proc::g::{Status, WaitReason, G};
use crate::proc::m::{getg, getm, UnlockF};
use crossbeam_utils::CachePadded;
use std::collections::VecDeque;
use std::sync::Arc;

/// Number of roots in the semaphore table: Go's `semTabSize`, a prime.
const SEM_TAB_SIZE: usize = 251;

/// One sleeper: Go's `sudog` as `sema.go` uses it.
struct Sudog {
    waiter: Waiter,
    /// Set to 1 by a handoff release: the permit is already ours.
    ticket: Arc<AtomicU32>,
}

/// The sleepers of one address.
struct AddrQueue {
    addr: usize,
    waiters: VecDeque<Sudog>,
}

/// One bucket of the table: Go's `semaRoot`.
struct SemaRoot {
    /// Every address of this root that has sleepers, with its queue (Go: the treap).
    /// An address is removed as soon as its queue empties.
    lock: parking_lot::Mutex<Vec<AddrQueue>>,
    /// Sleepers queued on this root, all addresses together. Written under `lock`,
    /// read without it by `semrelease1`'s fast path.
    nwait: AtomicU32,
}

impl SemaRoot {
    const fn new() -> Self {
        SemaRoot {
            lock: parking_lot::Mutex::new(Vec::new()),
            nwait: AtomicU32::new(0),
        }
    }
}

/// Go's `semtable`, each root on its own cache line.
static SEMTABLE: [CachePadded<SemaRoot>; SEM_TAB_SIZE] =
    [const { CachePadded::new(SemaRoot::new()) }; SEM_TAB_SIZE];

/// `semtable.rootFor`.
fn root_for(addr: &AtomicU32) -> &'static SemaRoot {
    &SEMTABLE[(addr as *const AtomicU32 as usize >> 3) % SEM_TAB_SIZE]
}

/// `cansemacquire`: takes a permit if the count is non-zero.
pub(crate) fn cansemacquire(addr: &AtomicU32) -> bool {
    let mut v = addr.load(Ordering::SeqCst);
    loop {
        if v == 0 {
            return false;
        }
        match addr.compare_exchange_weak(v, v - 1, Ordering::SeqCst, Ordering::SeqCst) {
            Ok(_) => return true,
            Err(x) => v = x,
        }
    }
}

/// `semacquire1`: waits until `*addr > 0`, then decrements it. `lifo` queues the
/// caller at the head of its address's queue instead of the tail (Mutex uses it for
/// a waiter that has already waited once). Parks with wait reason `reason`.
pub(crate) fn semacquire1(addr: &AtomicU32, lifo: bool, reason: WaitReason) {
    crate::proc::sched::preempt_check();
    // Easy case.
    if cansemacquire(addr) {
        return;
    }
    let root = root_for(addr);
    let key = addr as *const AtomicU32 as usize;
    loop {
        let q = root.lock.lock();
        // Count ourselves first, so a release either sees us or left a permit we
        // see (the SeqCst handshake in the module comment).
        root.nwait.fetch_add(1, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        if cansemacquire(addr) {
            root.nwait.fetch_sub(1, Ordering::SeqCst);
            return;
        }
        let ticket = Arc::new(AtomicU32::new(0));
        let t = ticket.clone();
        block(
            &root.lock,
            q,
            move |queues, waiter| queue(queues, key, Sudog { waiter, ticket: t }, lifo),
            reason,
        );
        // Woken: either the releaser handed us the permit, or we compete for it.
        if ticket.load(Ordering::Acquire) != 0 || cansemacquire(addr) {
            return;
        }
    }
}

/// `semaRoot.queue`: adds `s` to `addr`'s queue (at the head with `lifo`).
fn queue(queues: &mut Vec<AddrQueue>, addr: usize, s: Sudog, lifo: bool) {
    let i = match queues.iter().position(|q| q.addr == addr) {
        Some(i) => i,
        None => {
            queues.push(AddrQueue {
                addr,
                waiters: VecDeque::new(),
            });
            queues.len() - 1
        }
    };
    if lifo {
        queues[i].waiters.push_front(s);
    } else {
        queues[i].waiters.push_back(s);
    }
}

/// `semaRoot.dequeue`: the first sleeper on `addr`, if any.
fn dequeue(queues: &mut Vec<AddrQueue>, addr: usize) -> Option<Sudog> {
    let i = queues.iter().position(|q| q.addr == addr)?;
    let s = queues[i].waiters.pop_front();
    if queues[i].waiters.is_empty() {
        queues.swap_remove(i);
    }
    s
}

/// `semrelease1`: increments `*addr` and wakes its first sleeper. With `handoff`
/// the permit goes straight to that sleeper and the caller yields so it runs next.
pub(crate) fn semrelease1(addr: &AtomicU32, handoff: bool) {
    let root = root_for(addr);
    addr.fetch_add(1, Ordering::SeqCst);
    fence(Ordering::SeqCst);
    // Easy case: no waiters? This check must happen after the add above, to avoid a
    // missed wake-up (see the module comment).
    if root.nwait.load(Ordering::SeqCst) == 0 {
        return;
    }
    let s = {
        let mut q = root.lock.lock();
        if root.nwait.load(Ordering::SeqCst) == 0 {
            // The count is already in place; another release consumed the waiter.
            return;
        }
        let s = dequeue(&mut q, addr as *const AtomicU32 as usize);
        if s.is_some() {
            root.nwait.fetch_sub(1, Ordering::SeqCst);
        }
        s
    };
    let Some(s) = s else { return };
    let handed = handoff && cansemacquire(addr);
    if handed {
        s.ticket.store(1, Ordering::Release);
    }
    s.waiter.wake();
    if handed {
        // Direct handoff: the waiter sits in our P's runnext; step aside so it runs
        // now, holding the permit, instead of after our time slice.
        goyield();
    }
}

/// `goyield`: the current goroutine goes to the *tail of its P's local queue* (not
/// the global queue, as `Gosched` does), so whatever is in `runnext` runs next and
/// this goroutine keeps its locality. A no-op on a plain thread and while
/// unwinding (a goroutine must not switch with a panic in flight).
pub(crate) fn goyield() {
    let Some(gp) = getg() else { return };
    // Not while unwinding, and not inside syscall::blocking (no P to yield).
    if std::thread::panicking() || gp.status() == crate::proc::g::Status::Syscall {
        return;
    }
    // The goroutine holding a stopped world must keep running (Go skips the yield
    // while `m.locks` is held, as it is across stop-the-world).
    let stopped = crate::proc::m::getm()
        .and_then(|m| m.p())
        .is_some_and(|pp| pp.status() == crate::proc::p::PStatus::GcStop);
    if stopped {
        return;
    }
    let u = UnlockF {
        f: goyield_m,
        data: std::ptr::null(),
    };
    // SAFETY: `data` is unused (null), so it cannot point into this stack; the
    // unlockf only touches the P this M holds, on g0 (see `goyield_m`).
    unsafe { crate::proc::sched::gopark(Some(u), WaitReason::Preempted) };
}

/// g0's half of [`goyield`]: Go's `goyield_m`. The goroutine has switched out and is
/// marked waiting; make it runnable at the tail of this M's P's queue and let the
/// scheduler pick the next goroutine.
///
/// # Safety
/// Called on g0 by `gopark` with the goroutine that just switched out.
unsafe fn goyield_m(_data: *const (), gp: &'static G) -> bool {
    let m = getm().expect("goyield_m: not on an M");
    gp.cas_status(Status::Waiting, Status::Runnable);
    match m.p() {
        Some(pp) => pp.runq.put(gp.as_ptr(), false, m.sched),
        None => m.sched.globrunqput(gp),
    }
    // Parked as far as gopark is concerned: the G is already queued to run again.
    true
}

/// `notifyList`: a ticket-based wait list (Go's `runtime.notifyList`, under
/// `sync.Cond`). `wait` is the next ticket to hand out; `notify` the next ticket
/// to wake. Tickets wrap around; comparisons use `less`.
pub(crate) struct NotifyList {
    /// Next ticket to hand out. Incremented without the lock (`notify_list_add`).
    wait: AtomicU32,
    /// Next ticket to notify. Written under `lock`, read lock-free by the fast
    /// paths of the two notify functions.
    notify: AtomicU32,
    /// Sleepers with their tickets, in arrival order (arrival under the lock can
    /// differ from ticket order, which is why `notify_one` searches).
    lock: parking_lot::Mutex<VecDeque<(u32, Waiter)>>,
}

/// `less`: `a < b` for tickets that wrap around.
fn less(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

impl NotifyList {
    pub(crate) const fn new() -> Self {
        NotifyList {
            wait: AtomicU32::new(0),
            notify: AtomicU32::new(0),
            lock: parking_lot::Mutex::new(VecDeque::new()),
        }
    }

    /// `notifyListAdd`: takes a ticket. Called before the caller unlocks the
    /// condition's mutex, so the ticket orders this waiter before any signal sent
    /// after the unlock.
    pub(crate) fn add(&self) -> u32 {
        self.wait.fetch_add(1, Ordering::SeqCst)
    }

    /// `notifyListWait`: parks until ticket `t` is notified (returns at once if it
    /// already was).
    pub(crate) fn wait(&self, t: u32, reason: WaitReason) {
        crate::proc::sched::preempt_check();
        let q = self.lock.lock();
        if less(t, self.notify.load(Ordering::SeqCst)) {
            return;
        }
        block(&self.lock, q, |q, w| q.push_back((t, w)), reason);
    }

    /// `notifyListNotifyAll`: wakes every current sleeper.
    pub(crate) fn notify_all(&self) {
        // Fast path: nobody took a ticket since the last notification.
        if self.wait.load(Ordering::SeqCst) == self.notify.load(Ordering::SeqCst) {
            return;
        }
        let woken = {
            let mut q = self.lock.lock();
            self.notify
                .store(self.wait.load(Ordering::SeqCst), Ordering::SeqCst);
            std::mem::take(&mut *q)
        };
        for (_, w) in woken {
            w.wake();
        }
    }

    /// `notifyListNotifyOne`: wakes the holder of the oldest unnotified ticket. If
    /// that goroutine has taken its ticket but not yet queued, it will find its
    /// ticket notified in `wait` and not sleep.
    pub(crate) fn notify_one(&self) {
        if self.wait.load(Ordering::SeqCst) == self.notify.load(Ordering::SeqCst) {
            return;
        }
        let w = {
            let mut q = self.lock.lock();
            let t = self.notify.load(Ordering::SeqCst);
            if t == self.wait.load(Ordering::SeqCst) {
                return;
            }
            self.notify.store(t.wrapping_add(1), Ordering::SeqCst);
            match q.iter().position(|(tk, _)| *tk == t) {
                Some(i) => q.remove(i).map(|(_, w)| w),
                None => None,
            }
        };
        if let Some(w) = w {
            w.wake();
        }
    }
}

/// A counting semaphore that parks goroutines: Go's runtime semaphore
/// (`sema.go`: `semacquire`/`semrelease`), the wait queue Go's `sync` types are
/// built on.
///
/// `release` adds a permit and wakes the oldest waiter; the woken goroutine then
/// competes for the permit (Go's default, non-handoff mode), so a goroutine that
/// arrives meanwhile may take it and the waiter parks again (at the tail).
///
/// # Example
///
/// ```
/// use std::sync::Arc;
/// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
/// unsafe { gort_runtime::run(|| {
///     let (ping, pong) = (Arc::new(gort_runtime::sync::Semaphore::new(0)), Arc::new(gort_runtime::sync::Semaphore::new(0)));
///     let (p2, q2) = (ping.clone(), pong.clone());
///     gort_runtime::go(move || for _ in 0..100 { p2.acquire(); q2.release(); });
///     for _ in 0..100 { ping.release(); pong.acquire(); }
/// }) };
/// ```
pub struct Semaphore {
    /// Available permits: the semaphore word, whose address keys the table.
    count: AtomicU32,
}

impl Semaphore {
    /// A semaphore holding `permits`.
    ///
    /// ```
    /// let s = gort_runtime::sync::Semaphore::new(1);
    /// assert!(s.try_acquire());
    /// assert!(!s.try_acquire());
    /// ```
    pub fn new(permits: u32) -> Self {
        Semaphore {
            count: AtomicU32::new(permits),
        }
    }

    /// Takes a permit if one is available (`cansemacquire`).
    ///
    /// ```
    /// let s = gort_runtime::sync::Semaphore::new(0);
    /// assert!(!s.try_acquire());
    /// s.release();
    /// assert!(s.try_acquire());
    /// ```
    pub fn try_acquire(&self) -> bool {
        cansemacquire(&self.count)
    }

    /// Takes a permit, parking the goroutine (wait reason `semacquire`) until one is
    /// released.
    ///
    /// ```
    /// let s = gort_runtime::sync::Semaphore::new(1);
    /// s.acquire();
    /// ```
    pub fn acquire(&self) {
        semacquire1(&self.count, false, WaitReason::Semacquire)
    }

    /// Adds a permit and wakes the oldest waiter, if any.
    ///
    /// ```
    /// let s = gort_runtime::sync::Semaphore::new(0);
    /// s.release();
    /// s.acquire();
    /// ```
    pub fn release(&self) {
        semrelease1(&self.count, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tickets_compare_across_wraparound() {
        assert!(less(1, 2));
        assert!(!less(2, 2));
        assert!(less(u32::MAX, 0));
        assert!(!less(0, u32::MAX));
    }

    #[test]
    fn queue_is_fifo_per_address_and_lifo_goes_first() {
        let mk = || Sudog {
            waiter: Waiter::Thread(Arc::new(super::super::ThreadWaiter {
                woken: std::sync::atomic::AtomicBool::new(false),
                thread: std::thread::current(),
            })),
            ticket: Arc::new(AtomicU32::new(0)),
        };
        let mut qs = Vec::new();
        let (a, b, c) = (mk(), mk(), mk());
        let (ta, tb, tc) = (a.ticket.clone(), b.ticket.clone(), c.ticket.clone());
        queue(&mut qs, 8, a, false);
        queue(&mut qs, 16, mk(), false);
        queue(&mut qs, 8, b, false);
        queue(&mut qs, 8, c, true);
        assert!(Arc::ptr_eq(&dequeue(&mut qs, 8).unwrap().ticket, &tc));
        assert!(Arc::ptr_eq(&dequeue(&mut qs, 8).unwrap().ticket, &ta));
        assert!(Arc::ptr_eq(&dequeue(&mut qs, 8).unwrap().ticket, &tb));
        assert!(dequeue(&mut qs, 8).is_none());
        assert_eq!(qs.len(), 1, "an emptied address leaves its root");
    }

    #[test]
    fn release_with_no_waiter_keeps_the_permit() {
        let s = AtomicU32::new(0);
        semrelease1(&s, true);
        assert!(cansemacquire(&s));
        assert!(!cansemacquire(&s));
    }

    /// Waits (yielding) until goroutine `goid` is parked on a semaphore.
    fn wait_semacquire_parked(goid: u64) {
        loop {
            let world = crate::stw::stop_the_world();
            let parked = world.goroutines().iter().any(|g| {
                g.goid == goid
                    && g.status == Status::Waiting
                    && g.wait_reason == WaitReason::Semacquire
            });
            drop(world);
            if parked {
                return;
            }
            crate::yield_now();
        }
    }

    #[test]
    fn handoff_gives_the_permit_to_the_waiter_not_to_the_count() {
        let rt = crate::Runtime::builder().procs(2).build().unwrap();
        // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
        unsafe {
            rt.run(|| {
                let s = Arc::new(AtomicU32::new(0));
                let s2 = s.clone();
                let h = crate::spawn(move || semacquire1(&s2, false, WaitReason::Semacquire));
                wait_semacquire_parked(h.goid());
                semrelease1(&s, true);
                // The permit went to the waiter: a newcomer finds none.
                assert!(!cansemacquire(&s));
                h.join().unwrap();
                assert_eq!(s.load(Ordering::SeqCst), 0);
            })
        };
    }

    #[test]
    fn without_handoff_a_newcomer_may_take_the_permit_and_the_waiter_requeues() {
        let rt = crate::Runtime::builder().procs(2).build().unwrap();
        // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
        unsafe {
            rt.run(|| {
                let s = Arc::new(AtomicU32::new(0));
                let s2 = s.clone();
                let h = crate::spawn(move || semacquire1(&s2, false, WaitReason::Semacquire));
                wait_semacquire_parked(h.goid());
                semrelease1(&s, false);
                // Barging: the count holds the permit until the woken waiter runs.
                // Whether we win depends on who runs first; if we win, the waiter must
                // go back to sleep and a second release must still reach it.
                if cansemacquire(&s) {
                    semrelease1(&s, false);
                }
                h.join().unwrap();
                assert_eq!(s.load(Ordering::SeqCst), 0);
            })
        };
    }

    #[test]
    fn a_plain_thread_waits_for_another_threads_release() {
        let s = Arc::new(Semaphore::new(0));
        let s2 = s.clone();
        let t = std::thread::spawn(move || s2.acquire());
        s.release();
        t.join().unwrap();
        assert!(!s.try_acquire());
    }
}
