//! Where an M goes when it has nothing to run, and how it is woken: the idle Ps
//! and Ms, the spinning Ms, and `findRunnable`, written once for the runtime and
//! for its loom model.
//!
//! Models `runtime/proc.go`: `findRunnable`, `stealWork`, `checkRunqsNoP`,
//! `wakep`, `startm`, `stopm`, `pidleput`, `pidleget`, `pidlegetSpinning`,
//! `becomeSpinning`, `resetspinning`, `globrunqget`, `globrunqputbatch`, and the
//! `schedt` fields they share (`pidle`, `midle`, `npidle`, `nmspinning`,
//! `needspinning`, `runq`).
//!
//! # One protocol, two hosts
//!
//! The idle/wake protocol is where a scheduler loses wake-ups: a goroutine is
//! queued while the last M that could run it goes to sleep. loom can check it, but
//! only code that compiles under `--cfg loom`, and the scheduler proper switches
//! stacks, starts OS threads and blocks in epoll. So this file holds the protocol
//! alone, generic over a [`Scheduler`]: the runtime's `Sched` (`sched.rs`, with
//! `&'static M`, `&'static P` and `&'static G` as handles) and the loom model's
//! (`idle_model.rs`, with small indices). What loom cannot run sits behind the
//! trait as *hooks* with do-nothing defaults: stop-the-world, timers, the network
//! poller, the steal order's randomness. The model runs the same `find_runnable`,
//! `wakep`, `startm` and `stopm` as every M of every program.
//!
//! Two things come back to the host instead of happening here. Starting an OS
//! thread: [`startm`] reserves the M under `sched.lock` (Go's `mReserveID`) and
//! calls [`Scheduler::newm`] after dropping it, and returns what it decided
//! ([`Started`]: woke a parked M, handed the P to a releasing M, or needed a new
//! one); the model's `newm` wakes one of the threads it made in advance. And the deadlock judgement: [`Scheduler::checkdead`] is called
//! under the lock wherever an M stops running, and the host decides.
//!
//! # The lists and counters
//!
//! Under `sched.lock` ([`Locked`]): the global run queue, `pidle` (idle Ps),
//! `midle` (parked Ms), and `mreleasing`, gort's addition (below). Outside it,
//! read as hints or for the wake-up handshake: `runqsize` (mirrors the global
//! queue's length), `npidle`, `nmspinning` (Ms looking for work) and
//! `needspinning` (a `wakep` wanted a spinning M and found no idle P).
//!
//! # Spinning, and the lost wake-up it prevents
//!
//! A submitter queues a goroutine, **then** reads `nmspinning` ([`wakep`]); the
//! last spinning M decrements `nmspinning`, **then** looks at every queue again
//! ([`recheck`]). Each side stores and then loads what the other stored, so a
//! StoreLoad fence on each side (`fence(SeqCst)`) guarantees that one of them sees
//! the other. `docs/scheduler.md` ("Spinning Ms and the StoreLoad argument") walks
//! through it, and `docs/loom.md` shows loom losing the wake-up without the fence.
//!
//! # `mreleasing`: where gort adds to Go
//!
//! Between giving up its P ([`release_p`]) and parking ([`stopm_released`]) an M
//! re-checks the queues and may poll; Go's `startm` cannot see it then and starts
//! a new thread when `midle` is empty. gort lists such an M in `mreleasing`, and
//! `startm` hands it the P instead (`nextp`, under the lock). The listed M looks
//! for that hand-off whenever it takes the lock to leave the list
//! ([`unlist_or_handed`], [`p_for_found_work`]). With the poller listed again when
//! it comes back without a P, every M without a P is parked, listed or the one
//! poller: without system calls a runtime has at most GOMAXPROCS + 1 Ms.
//!
//! # Variants for loom
//!
//! Under `--cfg loom` each mechanism that prevents a lost wake-up can be switched
//! off ([`Variant`]), and the model shows loom finding the failure that mechanism
//! prevents. Without loom the switches are constant `true` and compile away, as
//! do the `step!` lines that narrate each decision, with its source line, in a
//! loom model's `LOOM_LOG` trace (`docs/loom.md` reads one).

use crate::loom::atomic::{fence, AtomicBool, AtomicU32, Ordering};
use crate::loom::MutexGuard;
use crate::proc::runq::{Overflow, RunQ, RUNQ_SIZE};

/// How often `find_runnable` looks at the global queue before the local one.
pub(crate) const GLOBAL_RUNQ_CHECK: u32 = 61;
/// Passes over all Ps in [`steal_work`] (`stealTries`).
pub(crate) const STEAL_TRIES: u32 = 4;

/// A protocol mechanism, on unless a loom model switched it off.
#[cfg(not(loom))]
macro_rules! on {
    ($s:expr, $field:ident) => {
        true
    };
}
#[cfg(loom)]
macro_rules! on {
    ($s:expr, $field:ident) => {
        $s.variant().$field
    };
}

/// Under loom, one line of `LOOM_LOG`'s trace: the loom thread, the source line,
/// and the protocol step taken there (`docs/loom.md` reads such a trace).
/// Nothing otherwise.
#[cfg(loom)]
macro_rules! step {
    ($($arg:tt)*) => {
        tracing::info!(
            target: "gort",
            "{:?} {}:{}: {}",
            loom::thread::current().id(),
            file!().rsplit('/').next().unwrap_or(""),
            line!(),
            format_args!($($arg)*)
        )
    };
}
#[cfg(not(loom))]
macro_rules! step {
    ($($arg:tt)*) => {};
}
#[cfg(all(loom, test))]
pub(crate) use step;

/// Which mechanisms of the protocol are on (loom builds only; everything is on
/// otherwise). Each negative model switches one off and must find the failure.
#[cfg(loom)]
#[derive(Clone, Copy, Debug)]
pub(crate) struct Variant {
    /// `fence(SeqCst)` in [`recheck`], between `nmspinning -= 1` and the loads.
    pub(crate) fence_recheck: bool,
    /// `fence(SeqCst)` at the top of [`wakep`].
    pub(crate) fence_wakep: bool,
    /// [`pidleget_spinning`] sets `needspinning` when it finds no idle P.
    pub(crate) needspinning: bool,
    /// [`park_locked`] looks at shutdown under the lock before parking.
    pub(crate) stopm_checks_shutdown: bool,
    /// [`recheck`] looks at the running Ps' queues ([`check_runqs_no_p`]).
    pub(crate) check_runqs_no_p: bool,
    /// A listed M looks for a P handed to it by [`startm`] as it leaves the list.
    pub(crate) releasing_takes_handoff: bool,
}

#[cfg(loom)]
impl Variant {
    /// The protocol as the runtime runs it.
    pub(crate) const FAITHFUL: Variant = Variant {
        fence_recheck: true,
        fence_wakep: true,
        needspinning: true,
        stopm_checks_shutdown: true,
        check_runqs_no_p: true,
        releasing_takes_handoff: true,
    };
}

/// The global run queue's interface (Go's `gQueue` as `sched.runq`).
pub(crate) trait GlobalQueue<G> {
    /// Appends `g` at the tail.
    fn enqueue(&mut self, g: G);
    /// Takes the head.
    fn dequeue(&mut self) -> Option<G>;
    /// How many are queued.
    fn size(&self) -> u32;
}

/// A plain queue (the loom model's global queue).
impl<G> GlobalQueue<G> for std::collections::VecDeque<G> {
    fn enqueue(&mut self, g: G) {
        self.push_back(g);
    }
    fn dequeue(&mut self) -> Option<G> {
        self.pop_front()
    }
    fn size(&self) -> u32 {
        self.len() as u32
    }
}

/// What `sched.lock` guards: the idle lists and the global queue, plus the
/// host's own state under the same lock (`ext`, reached through `Deref`).
pub(crate) struct Locked<S: Scheduler> {
    /// The global run queue (`sched.runq`).
    pub(crate) runq: S::Queue,
    /// Idle Ps (`sched.pidle`), popped from the back.
    pub(crate) pidle: Vec<S::P>,
    /// Parked Ms (`sched.midle`).
    pub(crate) midle: Vec<S::M>,
    /// Ms that gave up their P in [`release_p`] and are still re-checking on
    /// their way to `midle` or the poller (see the module comment). Awake, so
    /// not idle for `checkdead`.
    pub(crate) mreleasing: Vec<S::M>,
    /// The host's other fields under `sched.lock`.
    pub(crate) ext: S::Ext,
}

impl<S: Scheduler> Locked<S> {
    /// Every P idle (`pidle`, P0 handed out first), nothing queued, no M yet.
    pub(crate) fn new(pidle: Vec<S::P>, runq: S::Queue, ext: S::Ext) -> Self {
        Locked {
            runq,
            pidle,
            midle: Vec::new(),
            mreleasing: Vec::new(),
            ext,
        }
    }
}

impl<S: Scheduler> std::ops::Deref for Locked<S> {
    type Target = S::Ext;
    fn deref(&self) -> &S::Ext {
        &self.ext
    }
}

impl<S: Scheduler> std::ops::DerefMut for Locked<S> {
    fn deref_mut(&mut self) -> &mut S::Ext {
        &mut self.ext
    }
}

/// What [`startm`] did with the P it was given.
#[must_use]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Started {
    /// No P to run (none given and none idle), or the runtime is shutting down.
    NoP,
    /// Woke a parked M from `midle`.
    WokeIdle,
    /// Handed the P to an M in `mreleasing`, which is awake and will find it.
    Handed,
    /// Reserved a new M and asked the host to start it ([`Scheduler::newm`]).
    NewM,
}

/// What [`Scheduler::poll`] found (step 10 of `find_runnable`). The loom model
/// never polls.
#[cfg_attr(loom, allow(dead_code))]
pub(crate) enum Polled<G> {
    /// Did not poll (nothing to wait for, or another M is the poller): park.
    Skipped,
    /// Polled, holds a P, and runs this goroutine now.
    Found(G),
    /// Polled and came back with a P (or parked and was handed one): look again.
    Again,
}

/// The [`Scheduler`] methods that reach `sched.lock` and the counters, for a host
/// whose fields carry the protocol's names: `lock`, `runqsize`, `npidle`,
/// `nmspinning`, `needspinning`, `external_inflight`.
#[cfg_attr(all(loom, not(test)), allow(unused_macros))]
macro_rules! sched_fields {
    () => {
        fn lock(&self) -> $crate::loom::MutexGuard<'_, $crate::proc::idle::Locked<Self>> {
            self.lock.lock()
        }
        fn runqsize(&self) -> &$crate::loom::atomic::AtomicU32 {
            &self.runqsize
        }
        fn npidle(&self) -> &$crate::loom::atomic::AtomicU32 {
            &self.npidle
        }
        fn nmspinning(&self) -> &$crate::loom::atomic::AtomicU32 {
            &self.nmspinning
        }
        fn needspinning(&self) -> &$crate::loom::atomic::AtomicU32 {
            &self.needspinning
        }
        fn external_inflight(&self) -> &$crate::loom::atomic::AtomicU32 {
            &self.external_inflight
        }
    };
}
#[cfg(any(not(loom), test))]
pub(crate) use sched_fields;

/// A scheduler the protocol runs on: its state, its M/P/G handles, and the hooks
/// for what loom cannot run. Implemented by the runtime's `Sched` and by the loom
/// model's.
pub(crate) trait Scheduler: Sized {
    /// An M (OS thread) handle; equal handles are the same M.
    type M: Copy + PartialEq;
    /// A P handle.
    type P: Copy;
    /// A goroutine handle.
    type G: Copy;
    /// What run queue slots point at (`*mut Item`).
    type Item;
    /// The global run queue.
    type Queue: GlobalQueue<Self::G>;
    /// The host's other fields under `sched.lock`.
    type Ext;
    /// What [`Scheduler::reserve_m`] returns: the identity of an M not started yet.
    type MId;

    // ----- State.

    /// Takes `sched.lock`.
    fn lock(&self) -> MutexGuard<'_, Locked<Self>>;
    /// GOMAXPROCS.
    fn gomaxprocs(&self) -> u32;
    /// `allp[id]`.
    fn p(&self, id: u32) -> Self::P;
    /// `pp.id`.
    fn p_id(&self, pp: Self::P) -> u32;
    /// Length of the global queue, kept beside it to be read without the lock.
    fn runqsize(&self) -> &AtomicU32;
    /// Idle Ps (`pidle.len()`), readable without the lock.
    fn npidle(&self) -> &AtomicU32;
    /// Ms spinning.
    fn nmspinning(&self) -> &AtomicU32;
    /// A `wakep` wanted a spinning M and found no idle P.
    fn needspinning(&self) -> &AtomicU32;
    /// Threads outside the runtime between queueing a goroutine and the end of
    /// the `wakep` for it; `checkdead` does not judge meanwhile.
    fn external_inflight(&self) -> &AtomicU32;
    /// The runtime is shutting down.
    fn shutting_down(&self) -> bool;

    // ----- Handles.

    /// `m.spinning`: whether `m` counts in `nmspinning`.
    fn spinning(&self, m: Self::M) -> &AtomicBool;
    /// `m.nextp = pp`, published with Release (read by [`Scheduler::take_nextp`]).
    fn set_nextp(&self, m: Self::M, pp: Self::P);
    /// Takes `m.nextp` (Acquire), leaving none.
    fn take_nextp(&self, m: Self::M) -> Option<Self::P>;
    /// The P `m` holds. Only `m` itself asks.
    fn m_p(&self, m: Self::M) -> Option<Self::P>;
    /// `acquirep`: `m` now holds `pp`, which is running.
    fn acquirep(&self, m: Self::M, pp: Self::P);
    /// `releasep`: `m` gives up its P.
    fn releasep(&self, m: Self::M) -> Self::P;
    /// `mPark`: `m` sleeps on its note until [`Scheduler::unpark`].
    fn park(&self, m: Self::M);
    /// Wakes `m` from [`Scheduler::park`].
    fn unpark(&self, m: Self::M);
    /// `pp`'s local run queue.
    fn runq(&self, pp: Self::P) -> &RunQ<Self::Item>;
    /// Whether `pp` is idle (`_Pidle`).
    fn p_is_idle(&self, pp: Self::P) -> bool;
    /// Marks `pp` idle.
    fn p_set_idle(&self, pp: Self::P);
    /// `pp.schedtick`.
    fn schedtick(&self, pp: Self::P) -> u32;
    /// The goroutine a run queue slot points at.
    fn g_of(&self, item: *mut Self::Item) -> Self::G;
    /// The run queue slot value for `g`.
    fn item_of(&self, g: Self::G) -> *mut Self::Item;

    // ----- What comes back to the host.

    /// `mReserveID`, under `sched.lock`: count a new M as running from now on (so
    /// `checkdead` never sees a P handed over with no M to run it) and name it.
    fn reserve_m(&self, l: &mut Locked<Self>) -> Self::MId;
    /// `newm` + `mstart`: start the reserved M, holding `pp` (and spinning, if
    /// asked). Called without the lock.
    fn newm(&self, id: Self::MId, pp: Self::P, spinning: bool);
    /// `checkdead`, with the lock held, wherever an M stops running.
    fn checkdead(&self, l: &Locked<Self>);

    // ----- Hooks, for what loom does not run (defaults: nothing there).

    /// `pidleget` took a P: a P is about to run (sysmon wakes if it sleeps deeply).
    fn pidle_taken(&self, _l: &mut Locked<Self>) {}
    /// A stop-the-world is pending.
    fn gcwaiting(&self) -> bool {
        false
    }
    /// `gcstopm`: stop this M's P for the pending stop-the-world and park.
    fn gcstopm(&self, _m: Self::M) {}
    /// `checkTimers`: run `pp`'s due timers.
    fn check_timers(&self, _pp: Self::P) {}
    /// A non-blocking network poll (step 6): a goroutine to run now, the rest
    /// injected.
    fn poll_nonblocking(&self) -> Option<Self::G> {
        None
    }
    /// Where `steal_work`'s pass starts and its stride, coprime with GOMAXPROCS
    /// (Go's `stealOrder`); the default visits the Ps in index order.
    fn steal_order(&self, _m: Self::M) -> (u32, u32) {
        (0, 1)
    }
    /// On the last steal pass: run `victim`'s due timers; true if that made
    /// something runnable here. `now` caches the clock for the pass.
    fn steal_timers(&self, _victim: Self::P, _now: &mut i64) -> bool {
        false
    }
    /// Before taking a running victim's `runnext`: Go waits 3 µs, since the victim
    /// is probably about to run it itself.
    fn before_runnext(&self, _victim: Self::P) {}
    /// Step 10: block in the network poller (or skip). The M gave up its P, is
    /// listed in `mreleasing`, and `was_spinning` says whether it had been spinning.
    fn poll(&self, _m: Self::M, _was_spinning: bool) -> Polled<Self::G> {
        Polled::Skipped
    }

    /// Which protocol mechanisms are on (loom builds).
    #[cfg(loom)]
    fn variant(&self) -> Variant {
        Variant::FAITHFUL
    }
    /// Model oracle: the idle lists changed (an M parked or was taken to run).
    /// Called under the lock.
    #[cfg(loom)]
    fn idle_changed(&self, _l: &Locked<Self>) {}
}

// ---------------------------------------------------------------------------------
// The global queue.

/// A full local ring spills to the global queue (`runqputslow`). (`Overflow` is
/// public for the run queue's benchmarks; only the crate's schedulers are hosts.)
impl<S: Scheduler> Overflow<S::Item> for S {
    /// `globrunqputbatch`: appends `batch` to the global queue.
    #[allow(private_bounds, private_interfaces)]
    fn push_batch(&self, batch: &[*mut S::Item]) {
        let mut l = self.lock();
        for &item in batch {
            l.runq.enqueue(self.g_of(item));
        }
        self.runqsize().store(l.runq.size(), Ordering::Relaxed);
    }
}

/// `globrunqput`: appends `g` to the global queue.
pub(crate) fn globrunqput<S: Scheduler>(s: &S, l: &mut Locked<S>, g: S::G) {
    l.runq.enqueue(g);
    s.runqsize().store(l.runq.size(), Ordering::Relaxed);
}

/// `globrunqget`, with the lock held: one G to run now, and up to
/// `min(size / gomaxprocs + 1, max) - 1` more into `pp`'s ring.
pub(crate) fn globrunqget_batch<S: Scheduler>(
    s: &S,
    l: &mut Locked<S>,
    pp: S::P,
    max: u32,
) -> Option<S::G> {
    let size = l.runq.size();
    if size == 0 {
        return None;
    }
    let n = size.min(size / s.gomaxprocs() + 1).min(max).max(1);
    let gp = l.runq.dequeue();
    let mut batch: [*mut S::Item; 128] = [std::ptr::null_mut(); 128];
    let mut k = 0;
    for _ in 1..n.min(129) {
        match l.runq.dequeue() {
            Some(g) => {
                batch[k] = s.item_of(g);
                k += 1;
            }
            None => break,
        }
    }
    for &item in s.runq(pp).put_batch(&batch[..k]) {
        l.runq.enqueue(s.g_of(item));
    }
    s.runqsize().store(l.runq.size(), Ordering::Relaxed);
    gp
}

// ---------------------------------------------------------------------------------
// Idle Ps.

/// `pidleput`, with the lock held.
pub(crate) fn pidleput<S: Scheduler>(s: &S, l: &mut Locked<S>, pp: S::P) {
    s.p_set_idle(pp);
    l.pidle.push(pp);
    s.npidle().fetch_add(1, Ordering::SeqCst);
}

/// `pidleget`, with the lock held.
pub(crate) fn pidleget<S: Scheduler>(s: &S, l: &mut Locked<S>) -> Option<S::P> {
    let pp = l.pidle.pop()?;
    s.npidle().fetch_sub(1, Ordering::SeqCst);
    s.pidle_taken(l);
    Some(pp)
}

/// `pidlegetSpinning`: like [`pidleget`], but records that a spinning M was
/// wanted when there is no idle P.
pub(crate) fn pidleget_spinning<S: Scheduler>(s: &S, l: &mut Locked<S>) -> Option<S::P> {
    let pp = pidleget(s, l);
    if pp.is_none() && on!(s, needspinning) {
        s.needspinning().store(1, Ordering::SeqCst);
    }
    pp
}

// ---------------------------------------------------------------------------------
// Waking Ms.

/// `wakep`: if no M is spinning, take an idle P and start a spinning M on it.
/// Callers have just made a goroutine runnable.
pub(crate) fn wakep<S: Scheduler>(s: &S) {
    // StoreLoad: our caller just published work; order that before reading
    // nmspinning (see the module comment).
    if on!(s, fence_wakep) {
        fence(Ordering::SeqCst);
    }
    let nmspinning = s.nmspinning();
    if nmspinning.load(Ordering::SeqCst) != 0
        || nmspinning
            .compare_exchange(0, 1, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
    {
        step!("wakep: an M is spinning; the work is left to it");
        return;
    }
    let pp = pidleget_spinning(s, &mut s.lock());
    match pp {
        Some(pp) => {
            step!("wakep: no M spinning; starts one on idle P{}", s.p_id(pp));
            let _ = startm(s, Some(pp), true);
        }
        None => {
            step!("wakep: no idle P (needspinning set)");
            nmspinning.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// `startm`: runs `pp` (or any idle P) on a parked M, on an M in `mreleasing`, or
/// on a new M. With `spinning`, the caller has already counted the M in
/// `nmspinning`; if no M runs the P, the count is dropped here.
pub(crate) fn startm<S: Scheduler>(s: &S, pp: Option<S::P>, spinning: bool) -> Started {
    let unspin = || {
        if spinning {
            s.nmspinning().fetch_sub(1, Ordering::SeqCst);
        }
    };
    if s.shutting_down() {
        unspin();
        return Started::NoP;
    }
    let mut l = s.lock();
    let Some(pp) = pp.or_else(|| pidleget(s, &mut l)) else {
        drop(l);
        unspin();
        return Started::NoP;
    };
    if let Some(nmp) = l.midle.pop() {
        step!("startm: wakes a parked M for P{}", s.p_id(pp));
        #[cfg(loom)]
        s.idle_changed(&l);
        drop(l);
        s.spinning(nmp).store(spinning, Ordering::Relaxed);
        s.set_nextp(nmp, pp);
        s.unpark(nmp);
        Started::WokeIdle
    } else if let Some(nmp) = l.mreleasing.pop() {
        // Under the lock: the M reads them after it sees itself unlisted.
        step!("startm: hands P{} to an M in mreleasing", s.p_id(pp));
        s.spinning(nmp).store(spinning, Ordering::Relaxed);
        s.set_nextp(nmp, pp);
        Started::Handed
    } else {
        let id = s.reserve_m(&mut l);
        step!("startm: starts a new M for P{}", s.p_id(pp));
        drop(l);
        s.newm(id, pp, spinning);
        Started::NewM
    }
}

// ---------------------------------------------------------------------------------
// Parking Ms, and the mreleasing hand-off.

/// `stopm`: parks `m` on `midle` until someone hands it a P.
pub(crate) fn stopm<S: Scheduler>(s: &S, m: S::M) {
    park_locked(s, m, s.lock());
}

/// `stopm` for an M listed in `mreleasing`: runs a P that [`startm`] handed it
/// meanwhile, or leaves the list for `midle` in one critical section and parks.
pub(crate) fn stopm_released<S: Scheduler>(s: &S, m: S::M) {
    let mut l = s.lock();
    match unlist_or_handed(s, &mut l, m) {
        Some(pp) => {
            drop(l);
            s.acquirep(m, pp);
        }
        None => park_locked(s, m, l),
    }
}

/// `stopm` from inside `sched.lock`: on `midle`, `checkdead`, sleep; then run the
/// P found in `nextp`, if any (none: woken by shutdown).
fn park_locked<S: Scheduler>(s: &S, m: S::M, mut l: MutexGuard<'_, Locked<S>>) {
    // The runtime's drop empties midle under this lock after setting shutdown: an
    // M arriving later must not park where nobody will wake it.
    if on!(s, stopm_checks_shutdown) && s.shutting_down() {
        return;
    }
    l.midle.push(m);
    s.checkdead(&l);
    #[cfg(loom)]
    s.idle_changed(&l);
    drop(l);
    step!("stopm: parks on midle");
    s.park(m);
    if let Some(pp) = s.take_nextp(m) {
        step!("stopm: woken with P{}", s.p_id(pp));
        s.acquirep(m, pp);
    }
}

/// Takes `m` off `mreleasing`; whether it was there.
fn unlist<S: Scheduler>(l: &mut Locked<S>, m: S::M) -> bool {
    match l.mreleasing.iter().position(|&x| x == m) {
        Some(i) => {
            l.mreleasing.swap_remove(i);
            true
        }
        None => false,
    }
}

/// Lists `m` in `mreleasing` (it has no P and is awake), under the lock.
pub(crate) fn list<S: Scheduler>(l: &mut Locked<S>, m: S::M) {
    l.mreleasing.push(m);
}

/// The P that [`startm`] handed `m`, which it took off `mreleasing` to do so
/// (with `m.spinning` set as `startm` was asked). The M must run it.
fn take_handed<S: Scheduler>(s: &S, m: S::M) -> Option<S::P> {
    if !on!(s, releasing_takes_handoff) {
        return None;
    }
    let pp = s.take_nextp(m);
    assert!(pp.is_some(), "an M left mreleasing without a P");
    pp
}

/// `m`, listed since it gave up its P, leaves the list: `None` if it was still
/// there, or the P that [`startm`] handed it meanwhile.
pub(crate) fn unlist_or_handed<S: Scheduler>(s: &S, l: &mut Locked<S>, m: S::M) -> Option<S::P> {
    if unlist(l, m) {
        None
    } else {
        take_handed(s, m)
    }
}

/// A P to run the work listed M `m` found after giving up its own: the one
/// [`startm`] handed it meanwhile (`true`: `m.spinning` is already as `startm`
/// was asked), else an idle one (`false`: `m` leaves the list and must start
/// spinning), else `None` (still listed).
fn p_for_found_work<S: Scheduler>(s: &S, l: &mut Locked<S>, m: S::M) -> Option<(S::P, bool)> {
    if !l.mreleasing.contains(&m) {
        if let Some(pp) = take_handed(s, m) {
            return Some((pp, true));
        }
    }
    let pp = pidleget_spinning(s, l)?;
    unlist(l, m);
    Some((pp, false))
}

// ---------------------------------------------------------------------------------
// Spinning.

/// `becomeSpinning`: `m` starts looking for work.
pub(crate) fn become_spinning<S: Scheduler>(s: &S, m: S::M) {
    s.spinning(m).store(true, Ordering::Relaxed);
    s.nmspinning().fetch_add(1, Ordering::SeqCst);
    s.needspinning().store(0, Ordering::SeqCst);
}

/// `resetspinning`: a spinning M found work; it stops spinning and wakes another
/// M to keep looking, since there may be more work than one M can take.
pub(crate) fn reset_spinning<S: Scheduler>(s: &S, m: S::M) {
    s.spinning(m).store(false, Ordering::Relaxed);
    s.nmspinning().fetch_sub(1, Ordering::SeqCst);
    wakep(s);
}

/// Stops `m` spinning if it was (shutdown, stop-the-world); whether it was.
pub(crate) fn drop_spinning<S: Scheduler>(s: &S, m: S::M) -> bool {
    let was = s.spinning(m).swap(false, Ordering::Relaxed);
    if was {
        s.nmspinning().fetch_sub(1, Ordering::SeqCst);
    }
    was
}

// ---------------------------------------------------------------------------------
// Goroutines readied from outside the runtime.

/// Makes a goroutine runnable from a thread that is not one of the runtime's Ms:
/// under the lock, `mark` (its status change) and the global queue, then a
/// `wakep`. Until that is done the injection counts as in flight, so `checkdead`
/// cannot mistake the runnable G for a lost one.
pub(crate) fn inject_external<S: Scheduler>(s: &S, g: S::G, mark: impl FnOnce()) {
    {
        let mut l = s.lock();
        mark();
        globrunqput(s, &mut l, g);
        s.external_inflight().fetch_add(1, Ordering::SeqCst);
    }
    wakep(s);
    end_injection(s);
}

/// Ends an injection counted in `external_inflight`. An M that went idle
/// meanwhile skipped `checkdead` because of it: if this was the last injection in
/// flight, judge now. Under the lock, so that exactly one of us and that M sees
/// the count at zero.
pub(crate) fn end_injection<S: Scheduler>(s: &S) {
    let l = s.lock();
    if s.external_inflight().fetch_sub(1, Ordering::SeqCst) == 1 {
        s.checkdead(&l);
    }
}

// ---------------------------------------------------------------------------------
// findRunnable.

/// `findRunnable`: blocks until there is a goroutine for `m` to run, and returns
/// it with whether it inherits the time slice (it came from `runnext`). `None`
/// when the runtime shuts down: the M then holds no P and exits. The numbered
/// steps are those of `docs/scheduler.md` §4.
pub(crate) fn find_runnable<S: Scheduler>(s: &S, m: S::M) -> Option<(S::G, bool)> {
    loop {
        // 1. Shutting down: give the P back, stop. Woken without a P: sleep again.
        if s.shutting_down() {
            leave_for_shutdown(s, m);
            return None;
        }
        let Some(pp) = s.m_p(m) else {
            stopm(s, m);
            continue;
        };
        // 2. A stop-the-world is pending.
        if s.gcwaiting() {
            s.gcstopm(m);
            continue;
        }
        s.check_timers(pp);
        // 3.-5. Now and then the global queue first; the local queue; the global.
        if let Some(found) = runq_or_global(s, pp) {
            return Some(found);
        }
        // 6. Sockets, without blocking.
        if let Some(g) = s.poll_nonblocking() {
            return Some((g, false));
        }
        // 7. Steal, if not too many Ms are at it already.
        match spin_and_steal(s, m, pp) {
            Steal::Got(g) => return Some((g, false)),
            Steal::Again => continue,
            Steal::Nothing => {}
        }
        // 8. Give the P back, re-checking under the lock.
        let was_spinning = match release_p(s, m, pp) {
            Release::Run(g) => return Some((g, false)),
            Release::Again => continue,
            Release::Released { was_spinning } => was_spinning,
        };
        // 9. A spinning M looks again after it stopped spinning.
        if was_spinning {
            match recheck(s, m) {
                Release::Run(g) => return Some((g, false)),
                Release::Again => continue,
                Release::Released { .. } => {}
            }
        }
        // 10. Block in the poller, if there is anything to wait for.
        match s.poll(m, was_spinning) {
            Polled::Found(g) => return Some((g, false)),
            Polled::Again => continue,
            Polled::Skipped => {}
        }
        // 11. Park.
        stopm_released(s, m);
    }
}

/// Step 1: the runtime is shutting down; `m` stops spinning and gives its P back.
fn leave_for_shutdown<S: Scheduler>(s: &S, m: S::M) {
    drop_spinning(s, m);
    if s.m_p(m).is_some() {
        let pp = s.releasep(m);
        pidleput(s, &mut s.lock(), pp);
    }
}

/// Steps 3-5: every 61st schedule one G from the global queue first (so a P
/// busy with its own queue still serves the global one); `runnext` and the local
/// ring; a batch from the global queue.
fn runq_or_global<S: Scheduler>(s: &S, pp: S::P) -> Option<(S::G, bool)> {
    if s.schedtick(pp) % GLOBAL_RUNQ_CHECK == 0 && s.runqsize().load(Ordering::Relaxed) > 0 {
        if let Some(g) = globrunqget_batch(s, &mut s.lock(), pp, 1) {
            return Some((g, false));
        }
    }
    if let Some((item, inherit)) = s.runq(pp).get() {
        step!("find_runnable: from P{}'s own queue", s.p_id(pp));
        return Some((s.g_of(item), inherit));
    }
    if s.runqsize().load(Ordering::Relaxed) != 0 {
        if let Some(g) = globrunqget_batch(s, &mut s.lock(), pp, RUNQ_SIZE / 2) {
            return Some((g, false));
        }
    }
    None
}

/// What step 7 found.
enum Steal<G> {
    Got(G),
    /// A stop-the-world interrupted it: start over.
    Again,
    Nothing,
}

/// Step 7: if this M is spinning already, or fewer than half the busy Ps' worth of
/// Ms spin, spin and steal.
fn spin_and_steal<S: Scheduler>(s: &S, m: S::M, pp: S::P) -> Steal<S::G> {
    let busy = s.gomaxprocs() - s.npidle().load(Ordering::SeqCst);
    let spinning = s.spinning(m).load(Ordering::Relaxed);
    if !spinning && 2 * s.nmspinning().load(Ordering::SeqCst) >= busy {
        return Steal::Nothing;
    }
    if !spinning {
        become_spinning(s, m);
        step!("spin_and_steal: becomes spinning on P{}", s.p_id(pp));
    }
    steal_work(s, m, pp)
}

/// `stealWork`: four passes over the other Ps in [`Scheduler::steal_order`]; the
/// last pass may also take a victim's `runnext`, and runs its due timers.
fn steal_work<S: Scheduler>(s: &S, m: S::M, pp: S::P) -> Steal<S::G> {
    let n = s.gomaxprocs();
    let mut now = 0i64;
    for i in 0..STEAL_TRIES {
        let last = i == STEAL_TRIES - 1;
        let (mut pos, step) = s.steal_order(m);
        for _ in 0..n {
            if s.gcwaiting() {
                return Steal::Again;
            }
            let p2 = s.p(pos);
            pos = (pos + step) % n;
            if s.p_id(p2) == s.p_id(pp) {
                continue;
            }
            // What the victim's timers ready lands in our runnext.
            if last && s.steal_timers(p2, &mut now) {
                if let Some((item, _)) = s.runq(pp).get() {
                    return Steal::Got(s.g_of(item));
                }
            }
            if s.p_is_idle(p2) {
                continue;
            }
            if let Some(item) = s.runq(pp).steal(s.runq(p2), last, &|| s.before_runnext(p2)) {
                step!("steal_work: P{} stole from P{}", s.p_id(pp), s.p_id(p2));
                return Steal::Got(s.g_of(item));
            }
        }
    }
    Steal::Nothing
}

/// What steps 8 and 9 decided.
enum Release<G> {
    /// Found a goroutine, and holds a P to run it.
    Run(G),
    /// Holds a P (kept, handed or taken back) and looks again from the top.
    Again,
    /// Gave up its P and is listed in `mreleasing`.
    Released { was_spinning: bool },
}

/// Step 8: give up the P, re-checking under `sched.lock` what could have arrived:
/// a stop-the-world, the global queue, `needspinning` (a `wakep` wanted a spinning
/// M and found no idle P: this M becomes that M). Otherwise the P goes idle and
/// the M is listed in `mreleasing`, and stops spinning under the same lock, so
/// that a hand-off's `spinning` is stored after ours.
fn release_p<S: Scheduler>(s: &S, m: S::M, pp: S::P) -> Release<S::G> {
    let mut l = s.lock();
    if s.gcwaiting() {
        return Release::Again;
    }
    if let Some(g) = globrunqget_batch(s, &mut l, pp, RUNQ_SIZE / 2) {
        return Release::Run(g);
    }
    let spinning = s.spinning(m);
    if !spinning.load(Ordering::Relaxed) && s.needspinning().load(Ordering::SeqCst) == 1 {
        become_spinning(s, m);
        return Release::Again;
    }
    let pp = s.releasep(m);
    pidleput(s, &mut l, pp);
    list(&mut l, m);
    let was_spinning = spinning.load(Ordering::Relaxed);
    if was_spinning {
        spinning.store(false, Ordering::Relaxed);
        s.nmspinning().fetch_sub(1, Ordering::SeqCst);
    }
    step!(
        "release_p: P{} idle; was spinning: {was_spinning}",
        s.p_id(pp)
    );
    Release::Released { was_spinning }
}

/// Step 9: the M stopped spinning; **then**, after a StoreLoad fence, it looks at
/// the global queue and every running P's queue again (the other half of
/// `wakep`'s handshake). Work found: it takes back a P (the one handed to it, or
/// an idle one, and then spins again).
fn recheck<S: Scheduler>(s: &S, m: S::M) -> Release<S::G> {
    if on!(s, fence_recheck) {
        fence(Ordering::SeqCst);
    }
    step!("recheck: looks at every queue again");
    if s.runqsize().load(Ordering::SeqCst) != 0 {
        let mut l = s.lock();
        if l.runq.size() != 0 {
            if let Some((pp, handed)) = p_for_found_work(s, &mut l, m) {
                let g = globrunqget_batch(s, &mut l, pp, RUNQ_SIZE / 2);
                drop(l);
                s.acquirep(m, pp);
                if !handed {
                    become_spinning(s, m);
                }
                return g.map_or(Release::Again, Release::Run);
            }
        }
    }
    if on!(s, check_runqs_no_p) {
        if let Some((pp, handed)) = check_runqs_no_p(s, m) {
            step!("recheck: a running P has work; takes P{}", s.p_id(pp));
            s.acquirep(m, pp);
            if !handed {
                become_spinning(s, m);
            }
            return Release::Again;
        }
    }
    Release::Released { was_spinning: true }
}

/// `checkRunqsNoP`: after giving up its P, a formerly spinning M looks at every
/// running P's queue once more; if one has work, it takes a P (handed or idle) to
/// steal it. Returns what [`p_for_found_work`] does.
fn check_runqs_no_p<S: Scheduler>(s: &S, m: S::M) -> Option<(S::P, bool)> {
    for id in 0..s.gomaxprocs() {
        let p2 = s.p(id);
        if !s.p_is_idle(p2) && !s.runq(p2).is_empty() {
            return p_for_found_work(s, &mut s.lock(), m);
        }
    }
    step!("check_runqs_no_p: every running P's queue looks empty");
    None
}
