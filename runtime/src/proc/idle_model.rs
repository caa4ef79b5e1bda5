//! loom model of M park/wake: no lost wake-up, no lost goroutine.
//!
//! `sched.rs` cannot be compiled under loom (it switches stacks, spawns OS threads
//! and sleeps), so this file re-states its idle/wake protocol line for line on top of
//! the pieces that *are* compiled under loom: the real run queue ([`RunQ`], shrunk to
//! 4 slots), the real M park note ([`Note`]), and the `crate::loom` atomics and
//! mutex. Every function below carries the name of the `sched.rs` function (and of
//! Go's `proc.go` function) it mirrors, and keeps its orderings, fences and lock
//! sections. If you change one side, change the other.
//!
//! # What is modelled
//!
//! | model                           | `sched.rs`                      | Go `proc.go`                  |
//! |---------------------------------|---------------------------------|-------------------------------|
//! | [`Sched::inject_external`]      | `Sched::inject_external`        | (none; cf. `injectglist`)     |
//! | [`Sched::globrunqget_batch`]    | `Sched::globrunqget_batch`      | `globrunqget`                 |
//! | `impl Overflow for Sched`       | `impl Overflow<G> for Sched`    | `runqputslow` → `globrunqputbatch` |
//! | [`Sched::pidleput`], [`Sched::pidleget`], [`Sched::pidleget_spinning`] | same | `pidleput`, `pidleget`, `pidlegetSpinning` |
//! | [`wakep`]                       | `wakep`                         | `wakep`                       |
//! | [`startm`], [`newm`]            | `startm`, `newm` + `mstart`     | `startm`, `newm`, `mstart`    |
//! | [`MThread::stopm`], [`MThread::park_locked`] | `stopm`, `park_locked` + `M::park` | `stopm`, `mPark`    |
//! | [`MThread::stopm_released`], [`Sched::unlist_or_handed`], [`Sched::p_for_found_work`] | same (`mreleasing`) | (none: gort's hand-off) |
//! | [`MThread::acquirep`], [`MThread::releasep`] | same               | `acquirep`, `releasep`        |
//! | [`MThread::become_spinning`], [`MThread::reset_spinning`] | same  | `becomeSpinning`, `resetspinning` |
//! | [`MThread::schedule`]           | `schedule`                      | `schedule`                    |
//! | [`MThread::find_runnable`]      | `find_runnable`                 | `findRunnable`                |
//! | [`MThread::steal_work`]         | `steal_work`                    | `stealWork`                   |
//! | [`Sched::check_runqs_no_p`]     | `check_runqs_no_p`              | `checkRunqsNoP`               |
//! | [`MThread::execute`]            | `execute` + `goexit0`           | `execute`, `goexit0`          |
//! | [`MThread::newproc`]            | `newproc` / `ready` on a P      | `newproc`, `ready`            |
//! | [`Sched::checkdead`]            | `checkdead`                     | `checkdead`                   |
//! | [`Sched::run_main`]             | `Runtime::run` (api.rs)         | (none)                        |
//! | [`Sched::shutdown`]             | `impl Drop for Runtime` (api.rs) | (none)                       |
//!
//! The state is `Sched` (1 or 2 Ps, each with a real `RunQ<u32>`, a status and a
//! `schedtick`; the global queue, idle-P list and idle-M list under one mutex,
//! `sched.lock`; the atomics `runqsize`, `npidle`, `nmspinning`, `needspinning`,
//! `mcount`, `nmain`, `external_inflight`, `shutdown`) and one `M` per loom thread
//! (`nextp`, `spinning`, the park `Note`). A goroutine is an index; the run queues
//! carry pointers into a small array of `u32`s (never dereferenced), as the real
//! ones carry `*mut G`.
//!
//! Threads: the loom main thread plays the *outside world*: `Runtime::run` and
//! `ready()` from a plain thread, both of which end in `inject_external` (global
//! queue + `wakep`), and at the end `Runtime::drop`. Each other loom thread is one
//! M running `mstart` → `schedule`. A goroutine's body may `go` children
//! (`newproc`: `runnext` put + `wakep` on the P its M holds): that is the on-P
//! submitter. Scenarios use at most 3 goroutines and 3 Ms (4 loom threads).
//!
//! # The properties, and how a failure shows
//!
//! * **Exactly once.** `execute` asserts that no goroutine runs twice, and at the
//!   end every goroutine made runnable has run.
//! * **No lost goroutine.** When the main thread has finished submitting and every
//!   M is idle (on `midle`, or never started), nobody is left to wake anyone; if a
//!   run queue still holds a goroutine then, a wake-up was lost: the test fails
//!   with `lost wake-up: a goroutine is still queued while every M sleeps`.
//! * **No lost parallelism** (Go's "an idle P with runnable work gets an M"): in the
//!   `hog` scenarios a goroutine `go`es a child into its own `runnext` and then keeps
//!   its M and P busy until the child has run (a CPU-bound goroutine; Go would
//!   eventually preempt it, the model does not). With 2 Ps the child must be taken
//!   by the other P, through `wakep`, a spinning M's re-check (`check_runqs_no_p`)
//!   or `needspinning`. If every M but the hog's is idle and the main thread is
//!   done while the child waits, it never runs: `lost wake-up: goroutine N is
//!   queued behind a busy P`.
//!
//! Both checks are explicit assertions on model-only state kept in plain std
//! atomics (loom runs one thread at a time, so they show the current state and add
//! no synchronisation), rather than loom's deadlock report: a deadlock detected
//! while a thread is inside `crate::loom::Condvar::wait` aborts the test binary
//! (see that function) instead of failing one test.
//!
//! # What the tests show (`LOOM_MAX_PREEMPTIONS=2`)
//!
//! The protocol as sched.rs has it passes the positive models (`loom_idle_*`
//! without `no_`, `ignoring` or `races`). Each mechanism is needed: without the
//! `fence(SeqCst)` of the spinning re-check, the one in `wakep` (both for the
//! local queues), the `check_runqs_no_p` re-check, or (at 3 preemptions)
//! `needspinning`, loom finds a lost wake-up (`loom_idle_no_*_loses_*wakeup`);
//! without `stopm`'s `shutdown` check, `Runtime::drop` leaks an M; an M in
//! `mreleasing` that does not look for a hand-off as it leaves the list strands
//! the P `startm` gave it (`loom_idle_releasing_m_ignoring_handoff_loses_p`).
//! For the global queue the fences are no longer needed: `nmspinning` drops
//! inside the critical section that lists the M in `mreleasing`, and the global
//! queue is filled under the same lock (`loom_idle_global_queue_needs_no_fence_under_the_lock`;
//! before `mreleasing`, loom found the lost wake-up there without either fence). Outside the wake-up handshake, the model
//! found (at 3 preemptions) that `checkdead` could throw on a goroutine that a
//! thread outside the runtime was handing over: `newm` counted the new M in
//! `mcount` after `sched.lock` was dropped, and `inject_external` dropped
//! `external_inflight` without the lock, so both could change in the middle of
//! `checkdead`'s critical section. sched.rs now does both under the lock (the new M
//! is counted in `startm`, Go's `mReserveID`; the last injection in flight judges
//! itself), `FAITHFUL` models that, and the negative variant that showed the race
//! was removed once the lock made it unreachable.
//!
//! # What is abstracted, and why
//!
//! * **The stack switch.** `execute` does not switch to a goroutine stack: it runs
//!   the goroutine's model body (`go` children, maybe wait for them, exit) on the M's
//!   thread. Parking goroutines (`gopark`/`ready` of a `Waiting` G) is not modelled;
//!   `ready` from a goroutine is `newproc`'s path (runnext put + `wakep`) and from
//!   outside is `inject_external`, both present.
//! * **Thread creation.** loom cannot usefully spawn threads on demand, so every M
//!   thread exists from the start but sleeps on its note, on an `unborn` list.
//!   `newm` takes one from that list (under `sched.lock`, where `startm` reserves
//!   `mnext`), hands it `nextp`/`spinning`, then bumps `mcount` outside the lock as
//!   `newm` does; waking the note stands for the spawn's happens-before edge. The
//!   model has `procs + 1` Ms, enough for every `newm` the protocol asks for here
//!   (it panics with `model: newm needs more Ms` otherwise).
//! * **Randomness and timing.** `steal_work` visits victims in index order (with 2
//!   Ps there is one victim), and Go's 3 µs pause before stealing `runnext` is a
//!   no-op: loom explores every interleaving anyway.
//! * **Not modelled**: stop-the-world (`gcwaiting`, `gcstopm`), sysmon and
//!   `sysmonwait`, timers and the poll step (an M that polls leaves
//!   `mreleasing` first, and one that comes back without a P is listed again and
//!   ends in `stopm_released`, both under `sched.lock` as modelled), syscalls and
//!   `handoffp`, gFree lists, goroutine ids, `runqputslow` overflow (the runq model
//!   covers it; with ≤ 3 goroutines a ring never fills).
//! * **loom's memory model** does not give `SeqCst` accesses their full meaning
//!   (its README: they count as `AcqRel`; only `fence(SeqCst)` is sequentially
//!   consistent). The handshake must therefore hold with its fences, which is what
//!   sched.rs claims. This makes loom stricter than Rust (C++20) in one place: for
//!   the re-check's `runqsize` load (a `SeqCst` load after a `SeqCst` RMW of
//!   `nmspinning`, against a store before `wakep`'s fence) the M-side fence was
//!   not needed in C++20, so the global-queue failure loom found without it was
//!   loom-strength only (now `sched.lock` orders that case anyway). The
//!   `check_runqs_no_p` loads are `Acquire`, so for the local queues (the `hog`
//!   scenarios) both fences are needed in C++20 too.
//! * `checkdead` is off except in the `loom_idle_checkdead_*` tests (the
//!   scenarios have no waiting goroutines, so it could only throw), and
//!   `Runtime::drop` runs once the system is quiescent except in the
//!   `drop`/`shutdown` tests.
//!
//! Run with
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p gort-runtime --release --lib loom_idle`.

use crate::loom::atomic::{fence, AtomicBool, AtomicU32, AtomicUsize, Ordering};
use crate::loom::{Condvar, Mutex};
use crate::proc::note::Note;
use crate::proc::runq::{Overflow, RunQ, RUNQ_SIZE};
use loom::sync::Arc;
use std::collections::VecDeque;
// Model bookkeeping that is not part of the protocol (tick counters, execution
// counts, the oracles' state): plain std atomics, invisible to loom, so they add
// no interleavings and no synchronisation.
use std::sync::atomic::{
    AtomicBool as PlainBool, AtomicU32 as PlainU32, AtomicUsize as PlainUsize,
    Ordering as PlainOrdering,
};

/// `GLOBAL_RUNQ_CHECK` in sched.rs (Go: every 61st schedule looks at the global queue).
const GLOBAL_RUNQ_CHECK: u32 = 61;
/// `STEAL_TRIES` in sched.rs (Go's `stealTries`).
const STEAL_TRIES: u32 = 4;
/// No P / no M.
const NONE: usize = usize::MAX;

/// `PStatus` values used here.
const P_IDLE: u32 = 0;
const P_RUNNING: u32 = 1;

/// `Status` values used here (Go's `_Grunnable`, `_Grunning`, `_Gdead`).
const G_RUNNABLE: u32 = 1;
const G_RUNNING: u32 = 2;
const G_DEAD: u32 = 6;

/// Switches for the protocol variants the tests explore. `FAITHFUL` is sched.rs.
#[derive(Clone, Copy)]
struct Config {
    /// GOMAXPROCS (1 or 2).
    procs: usize,
    /// `fence(SeqCst)` in `find_runnable` between `nmspinning -= 1` and the re-check.
    fence_recheck: bool,
    /// `fence(SeqCst)` at the top of `wakep`.
    fence_wakep: bool,
    /// `pidleget_spinning` sets `needspinning` (and `find_runnable` honours it).
    needspinning: bool,
    /// `stopm` runs `checkdead` under the lock, as sched.rs does.
    checkdead: bool,
    /// `stopm` looks at `shutdown` under the lock before parking.
    stopm_checks_shutdown: bool,
    /// `find_runnable` calls `check_runqs_no_p` in the re-check.
    recheck_runqs_no_p: bool,
    /// Not in sched.rs: `startm` counts the M it is about to create in `mcount`
    /// under `sched.lock`, as Go's `mReserveID` does, instead of `newm` counting it
    /// after the lock is dropped.
    mcount_in_startm: bool,
    /// An M listed in `mreleasing` looks for a P handed to it by `startm` whenever
    /// it leaves the list. Off: it leaves the list as if nobody had handed it one.
    releasing_takes_handoff: bool,
}

const FAITHFUL: Config = Config {
    procs: 2,
    fence_recheck: true,
    fence_wakep: true,
    needspinning: true,
    checkdead: false,
    stopm_checks_shutdown: true,
    recheck_runqs_no_p: true,
    // sched.rs counts a new M under sched.lock in startm (Go's mReserveID) since
    // this model found the window when newm counted it.
    mcount_in_startm: true,
    releasing_takes_handoff: true,
};

/// What a goroutine does when it runs.
struct Work {
    /// `go` these goroutines (in order) from this one's P.
    spawns: &'static [usize],
    /// Keep the M and P busy until every spawned child has finished.
    hog: bool,
    /// A `Runtime::run` main goroutine: decrements `nmain` and wakes its caller.
    main: bool,
}

const LEAF: Work = Work {
    spawns: &[],
    hog: false,
    main: false,
};
const MAIN: Work = Work {
    spawns: &[],
    hog: false,
    main: true,
};

/// A P: its status (read by stealers and `check_runqs_no_p`), its run queue.
struct P {
    status: AtomicU32,
    runq: RunQ<u32>,
    /// Owner-only in sched.rs; handed between Ms with the P.
    schedtick: PlainU32,
}

/// The parts of an M other threads touch (`startm` writes `spinning` and `nextp`,
/// then wakes `park`). `m.p` is owner-only and lives in [`MThread`].
struct M {
    nextp: AtomicUsize,
    spinning: AtomicBool,
    park: Note,
}

/// `sched.lock`'s contents.
struct Locked {
    /// The global run queue.
    runq: VecDeque<usize>,
    pidle: Vec<usize>,
    midle: Vec<usize>,
    /// Ms that gave up their P and have not parked yet (sched.rs's `mreleasing`).
    mreleasing: Vec<usize>,
    /// Model only: M threads not created yet (see "Thread creation" above).
    unborn: Vec<usize>,
    /// Model only: `Runtime::drop` has taken `midle`.
    drained: bool,
}

struct Sched {
    cfg: Config,
    allp: Vec<P>,
    ms: Vec<M>,
    lock: Mutex<Locked>,
    runqsize: AtomicU32,
    npidle: AtomicU32,
    nmspinning: AtomicU32,
    needspinning: AtomicU32,
    mcount: AtomicU32,
    nmain: AtomicU32,
    /// Threads between making a G runnable in `inject_external` and the end of
    /// their `wakep`.
    external_inflight: AtomicU32,
    shutdown: AtomicBool,

    // The goroutines.
    work: &'static [Work],
    /// Run queues carry pointers into this array, as the real ones carry `*mut G`.
    gs: Box<[u32]>,
    gstatus: Vec<AtomicU32>,
    /// Someone sleeps on `done[g]` (the `run` caller, or a hogging parent).
    waited: Vec<bool>,
    done: Vec<Note>,
    /// Goroutines made runnable so far, and executions per goroutine (model checks).
    submitted: Vec<PlainU32>,
    executed: Vec<PlainU32>,
    // Model-only oracle state, plain std atomics so that reading it adds no
    // synchronisation between the threads (loom runs one thread at a time, so they
    // show the true current state):
    /// Ms on `midle` or `unborn` (mirrors `midle.len() + unborn.len()`).
    nidle: PlainUsize,
    /// Ms blocked in a `hog` goroutine, waiting for its children.
    hogging: PlainU32,
    /// The main thread has finished submitting: no more `wakep` from outside.
    main_done: PlainBool,
    /// Model only: notified whenever an M goes idle, for the quiescence check.
    quiet: Condvar,
}

impl Overflow<u32> for Sched {
    /// `runqputslow`'s second half: `globrunqputbatch` under `sched.lock`.
    fn push_batch(&self, batch: &[*mut u32]) {
        let mut l = self.lock.lock();
        for &gp in batch {
            l.runq.push_back(self.gid(gp));
        }
        self.runqsize.store(l.runq.len() as u32, Ordering::Relaxed);
    }
}

impl Sched {
    fn new(cfg: Config, work: &'static [Work]) -> Sched {
        let n = work.len();
        let mut waited: Vec<bool> = work.iter().map(|w| w.main).collect();
        for w in work.iter().filter(|w| w.hog) {
            for &c in w.spawns {
                waited[c] = true;
            }
        }
        let nms = cfg.procs + 1;
        Sched {
            cfg,
            allp: (0..cfg.procs)
                .map(|_| P {
                    status: AtomicU32::new(P_IDLE),
                    runq: RunQ::new(),
                    schedtick: PlainU32::new(0),
                })
                .collect(),
            ms: (0..nms)
                .map(|_| M {
                    nextp: AtomicUsize::new(NONE),
                    spinning: AtomicBool::new(false),
                    park: Note::new(),
                })
                .collect(),
            lock: Mutex::new(Locked {
                runq: VecDeque::new(),
                // Popped from the back: P0 first.
                pidle: (0..cfg.procs).rev().collect(),
                midle: Vec::new(),
                mreleasing: Vec::new(),
                unborn: (0..nms).rev().collect(),
                drained: false,
            }),
            runqsize: AtomicU32::new(0),
            npidle: AtomicU32::new(cfg.procs as u32),
            nmspinning: AtomicU32::new(0),
            needspinning: AtomicU32::new(0),
            mcount: AtomicU32::new(0),
            nmain: AtomicU32::new(0),
            external_inflight: AtomicU32::new(0),
            shutdown: AtomicBool::new(false),
            work,
            gs: vec![0; n].into_boxed_slice(),
            gstatus: (0..n).map(|_| AtomicU32::new(G_DEAD)).collect(),
            waited,
            done: (0..n).map(|_| Note::new()).collect(),
            submitted: (0..n).map(|_| PlainU32::new(0)).collect(),
            executed: (0..n).map(|_| PlainU32::new(0)).collect(),
            nidle: PlainUsize::new(nms),
            hogging: PlainU32::new(0),
            main_done: PlainBool::new(false),
            quiet: Condvar::new(),
        }
    }

    /// The run-queue item for goroutine `g`.
    fn gptr(&self, g: usize) -> *mut u32 {
        self.gs[g..].as_ptr() as *mut u32
    }

    fn gid(&self, p: *mut u32) -> usize {
        (p as usize - self.gs.as_ptr() as usize) / std::mem::size_of::<u32>()
    }

    /// `casgstatus`.
    fn cas_status(&self, g: usize, from: u32, to: u32) {
        if let Err(v) =
            self.gstatus[g].compare_exchange(from, to, Ordering::AcqRel, Ordering::Acquire)
        {
            panic!("casgstatus: goroutine {g} is {v}, wanted {from} -> {to}");
        }
    }

    /// Marks `g` runnable (`Dead → Runnable`, as `newproc` does for a fresh G).
    fn make_runnable(&self, g: usize) {
        self.submitted[g].fetch_add(1, PlainOrdering::Relaxed);
        self.cas_status(g, G_DEAD, G_RUNNABLE);
    }

    /// `Sched::globrunqget_batch`, with the lock held.
    fn globrunqget_batch(&self, l: &mut Locked, pp: usize, max: u32) -> Option<usize> {
        let size = l.runq.len() as u32;
        if size == 0 {
            return None;
        }
        let n = size.min(size / self.cfg.procs as u32 + 1).min(max).max(1);
        let gp = l.runq.pop_front();
        let mut batch = Vec::new();
        for _ in 1..n {
            match l.runq.pop_front() {
                Some(g) => batch.push(self.gptr(g)),
                None => break,
            }
        }
        let rest = self.allp[pp].runq.put_batch(&batch);
        for &g in rest {
            l.runq.push_back(self.gid(g));
        }
        self.runqsize.store(l.runq.len() as u32, Ordering::Relaxed);
        gp
    }

    /// `Sched::pidleput`, with the lock held.
    fn pidleput(&self, l: &mut Locked, pp: usize) {
        self.allp[pp].status.store(P_IDLE, Ordering::Release);
        l.pidle.push(pp);
        self.npidle.fetch_add(1, Ordering::SeqCst);
    }

    /// `Sched::pidleget`, with the lock held (its sysmon wake-up is not modelled).
    fn pidleget(&self, l: &mut Locked) -> Option<usize> {
        let id = l.pidle.pop()?;
        self.npidle.fetch_sub(1, Ordering::SeqCst);
        Some(id)
    }

    /// `Sched::pidleget_spinning`, with the lock held.
    fn pidleget_spinning(&self, l: &mut Locked) -> Option<usize> {
        let pp = self.pidleget(l);
        if pp.is_none() && self.cfg.needspinning {
            self.needspinning.store(1, Ordering::SeqCst);
        }
        pp
    }

    /// `check_runqs_no_p`: what `p_for_found_work` returns.
    fn check_runqs_no_p(&self, m: usize) -> Option<(usize, bool)> {
        for p2 in &self.allp {
            if p2.status.load(Ordering::Acquire) != P_IDLE && !p2.runq.is_empty() {
                return self.p_for_found_work(&mut self.lock.lock(), m);
            }
        }
        None
    }

    /// `p_for_found_work`: the P `startm` handed listed M `m` (`true`), else an
    /// idle one, taking `m` off the list (`false`), else `None`.
    fn p_for_found_work(&self, l: &mut Locked, m: usize) -> Option<(usize, bool)> {
        if !l.mreleasing.contains(&m) {
            if let Some(pp) = self.take_handed(m) {
                return Some((pp, true));
            }
        }
        let pp = self.pidleget_spinning(l)?;
        self.unlist(l, m);
        Some((pp, false))
    }

    /// `unlist`: takes M `m` off `mreleasing`; whether it was there.
    fn unlist(&self, l: &mut Locked, m: usize) -> bool {
        match l.mreleasing.iter().position(|&x| x == m) {
            Some(i) => {
                l.mreleasing.swap_remove(i);
                true
            }
            None => false,
        }
    }

    /// `take_handed`: the P `startm` left in `nextp` for listed M `m`.
    fn take_handed(&self, m: usize) -> Option<usize> {
        if !self.cfg.releasing_takes_handoff {
            return None;
        }
        let pp = self.ms[m].nextp.swap(NONE, Ordering::Acquire);
        assert_ne!(pp, NONE, "M{m} left mreleasing without a P");
        Some(pp)
    }

    /// `unlist_or_handed`.
    fn unlist_or_handed(&self, l: &mut Locked, m: usize) -> Option<usize> {
        if self.unlist(l, m) {
            None
        } else {
            self.take_handed(m)
        }
    }

    /// `checkdead`, with the lock held, as `stopm` calls it.
    fn checkdead(&self, l: &Locked) {
        if self.nmain.load(Ordering::SeqCst) == 0 || self.shutdown.load(Ordering::Acquire) {
            return;
        }
        let run = self.mcount.load(Ordering::SeqCst) as i64 - l.midle.len() as i64;
        if run > 0 || self.external_inflight.load(Ordering::SeqCst) > 0 {
            return;
        }
        for (g, st) in self.gstatus.iter().enumerate() {
            let st = st.load(Ordering::Acquire);
            if st == G_RUNNABLE || st == G_RUNNING {
                panic!("checkdead: runnable g (goroutine {g} is {st})");
            }
        }
        // No goroutine of the model ever waits, so this is never Go's deadlock.
    }

    // ----- The outside world (the loom main thread). -----

    /// `Sched::inject_external`: a thread outside the runtime makes `g` runnable
    /// (`newproc_external`, or `ready` from a plain thread): status and global queue
    /// in one critical section, counted in flight until its `wakep` is done.
    fn inject_external(&self, g: usize) {
        {
            let mut l = self.lock.lock();
            self.make_runnable(g);
            l.runq.push_back(g);
            self.runqsize.store(l.runq.len() as u32, Ordering::Relaxed);
            self.external_inflight.fetch_add(1, Ordering::SeqCst);
        }
        wakep(self);
        // As sched.rs: the last injection in flight judges for an M that skipped
        // checkdead meanwhile, under the lock.
        let l = self.lock.lock();
        if self.external_inflight.fetch_sub(1, Ordering::SeqCst) == 1 && self.cfg.checkdead {
            self.checkdead(&l);
        }
    }

    /// `Runtime::run`: `g` is a main goroutine; blocks until it has returned.
    fn run_main(&self, g: usize) {
        assert!(self.work[g].main);
        self.nmain.fetch_add(1, Ordering::SeqCst);
        self.inject_external(g);
        self.done[g].sleep();
    }

    /// Model only: called whenever an M goes idle, a `hog` goroutine starts waiting,
    /// or the main thread finishes. If no more work can come from outside and every
    /// M is idle except those kept busy by a `hog` goroutine, a child that a hog
    /// waits for can never run (its parent's M won't, and nobody is left to wake
    /// another): the wake-up that should have given the idle P an M was lost.
    fn check_stuck(&self) {
        let hogging = self.hogging.load(PlainOrdering::Relaxed) as usize;
        let nidle = self.nidle.load(PlainOrdering::Relaxed);
        if !self.main_done.load(PlainOrdering::Relaxed)
            || hogging == 0
            || nidle + hogging < self.ms.len()
        {
            return;
        }
        for w in self.work.iter().filter(|w| w.hog) {
            for &c in w.spawns {
                let (sub, ex) = (
                    self.submitted[c].load(PlainOrdering::Relaxed),
                    self.executed[c].load(PlainOrdering::Relaxed),
                );
                assert!(
                    sub == 0 || ex != 0,
                    "lost wake-up: goroutine {c} is queued behind a busy P while every \
                     other M sleeps (nmspinning {}, needspinning {})",
                    self.nmspinning.load(Ordering::SeqCst),
                    self.needspinning.load(Ordering::SeqCst),
                );
            }
        }
    }

    /// Model only: waits until every M is idle (on `midle`, or never started). No
    /// thread is left that could wake another, so whatever is still queued is lost.
    /// Then checks that every goroutine made runnable ran exactly once.
    fn wait_quiescent(&self) {
        let nms = self.ms.len();
        self.main_done.store(true, PlainOrdering::Relaxed);
        self.check_stuck();
        let mut l = self.lock.lock();
        while l.midle.len() + l.unborn.len() < nms {
            self.quiet.wait(&mut l);
        }
        let local: Vec<(u32, bool)> = self
            .allp
            .iter()
            .map(|p| (p.runq.len(), p.runq.has_runnext()))
            .collect();
        assert!(
            l.runq.is_empty() && local.iter().all(|&(n, next)| n == 0 && !next),
            "lost wake-up: a goroutine is still queued while every M sleeps \
             (global queue {:?}, per P (ring, runnext) {local:?}, nmspinning {})",
            l.runq,
            self.nmspinning.load(Ordering::SeqCst)
        );
        for g in 0..self.work.len() {
            let sub = self.submitted[g].load(PlainOrdering::Relaxed);
            let ex = self.executed[g].load(PlainOrdering::Relaxed);
            assert_eq!(
                sub, ex,
                "goroutine {g}: made runnable {sub} times, run {ex}"
            );
        }
        assert_eq!(l.pidle.len(), self.cfg.procs, "a P is held by an idle M");
        assert_eq!(
            self.nmspinning.load(Ordering::SeqCst),
            0,
            "nmspinning leaked"
        );
    }

    /// `impl Drop for Runtime`: set `shutdown`, wake every idle M. The model also
    /// wakes the never-started Ms so that their threads end.
    fn shutdown(&self) {
        self.shutdown.store(true, Ordering::SeqCst);
        let idle: Vec<usize> = {
            let mut l = self.lock.lock();
            l.drained = true;
            let mut v = std::mem::take(&mut l.midle);
            v.append(&mut l.unborn);
            v
        };
        for m in idle {
            self.ms[m].park.wake();
        }
    }
}

/// `wakep`: if no M is spinning, take an idle P and start a spinning M on it.
fn wakep(s: &Sched) {
    if s.cfg.fence_wakep {
        fence(Ordering::SeqCst);
    }
    if s.nmspinning.load(Ordering::SeqCst) != 0
        || s.nmspinning
            .compare_exchange(0, 1, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
    {
        return;
    }
    let pp = {
        let mut l = s.lock.lock();
        s.pidleget_spinning(&mut l)
    };
    match pp {
        Some(pp) => startm(s, Some(pp), true),
        None => {
            s.nmspinning.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// `startm`: runs `pp` (or any idle P) on an idle M, or on a new M.
fn startm(s: &Sched, pp: Option<usize>, spinning: bool) {
    if s.shutdown.load(Ordering::Acquire) {
        if spinning {
            s.nmspinning.fetch_sub(1, Ordering::SeqCst);
        }
        return;
    }
    let mut l = s.lock.lock();
    let pp = match pp.or_else(|| s.pidleget(&mut l)) {
        Some(pp) => pp,
        None => {
            drop(l);
            if spinning {
                s.nmspinning.fetch_sub(1, Ordering::SeqCst);
            }
            return;
        }
    };
    if let Some(nmp) = l.midle.pop() {
        s.nidle.fetch_sub(1, PlainOrdering::Relaxed);
        drop(l);
        let m = &s.ms[nmp];
        m.spinning.store(spinning, Ordering::Relaxed);
        m.nextp.store(pp, Ordering::Release);
        m.park.wake();
    } else if let Some(nmp) = l.mreleasing.pop() {
        // Awake: it finds the P when it next leaves the list, under the lock.
        let m = &s.ms[nmp];
        m.spinning.store(spinning, Ordering::Relaxed);
        m.nextp.store(pp, Ordering::Release);
    } else {
        // sched.rs reserves `mnext` here; the model reserves an unborn M thread.
        let id = l
            .unborn
            .pop()
            .expect("model: newm needs more Ms than the model has");
        s.nidle.fetch_sub(1, PlainOrdering::Relaxed);
        if s.cfg.mcount_in_startm {
            s.mcount.fetch_add(1, Ordering::SeqCst);
        }
        drop(l);
        newm(s, id, pp, spinning);
    }
}

/// `newm` + the thread spawn: the M starts scheduling on `pp`.
fn newm(s: &Sched, id: usize, pp: usize, spinning: bool) {
    let m = &s.ms[id];
    m.spinning.store(spinning, Ordering::Relaxed);
    m.nextp.store(pp, Ordering::Relaxed);
    if !s.cfg.mcount_in_startm {
        s.mcount.fetch_add(1, Ordering::SeqCst);
    }
    // `std::thread::spawn`: the happens-before edge is the note's mutex.
    m.park.wake();
}

/// One M: its loom thread's view (`m.p` is owner-only).
struct MThread<'a> {
    s: &'a Sched,
    id: usize,
    p: Option<usize>,
}

impl MThread<'_> {
    fn m(&self) -> &M {
        &self.s.ms[self.id]
    }

    /// The thread body: sleeps until `newm` "creates" it, then `mstart`.
    fn run(s: &Sched, id: usize) {
        s.ms[id].park.sleep();
        let mut m = MThread { s, id, p: None };
        // mstart
        let pp = m.m().nextp.swap(NONE, Ordering::Acquire);
        if pp != NONE {
            m.acquirep(pp);
        }
        m.schedule();
    }

    /// `acquirep`.
    fn acquirep(&mut self, pp: usize) {
        self.s.allp[pp].status.store(P_RUNNING, Ordering::Release);
        self.p = Some(pp);
    }

    /// `releasep`.
    fn releasep(&mut self) -> usize {
        self.p.take().expect("releasep: no P")
    }

    /// `stopm_released`: for an M in `mreleasing`, run a P handed to it meanwhile,
    /// or leave the list for `midle` in one critical section and park.
    fn stopm_released(&mut self) {
        let s = self.s;
        let mut l = s.lock.lock();
        match s.unlist_or_handed(&mut l, self.id) {
            Some(pp) => {
                drop(l);
                self.acquirep(pp);
            }
            None => self.park_locked(l),
        }
    }

    /// `stopm`: parks this M on the idle list until someone hands it a P.
    fn stopm(&mut self) {
        let l = self.s.lock.lock();
        self.park_locked(l);
    }

    /// `park_locked`: `stopm` from inside `sched.lock`.
    fn park_locked(&mut self, mut l: crate::loom::MutexGuard<'_, Locked>) {
        let s = self.s;
        // Runtime::drop empties midle under this lock after setting shutdown.
        if s.cfg.stopm_checks_shutdown && s.shutdown.load(Ordering::SeqCst) {
            return;
        }
        assert!(
            !l.drained,
            "M{} leaked: it parks on midle after Runtime::drop took the idle list, \
             and nobody will ever wake it",
            self.id
        );
        l.midle.push(self.id);
        if s.cfg.checkdead {
            s.checkdead(&l);
        }
        s.nidle.fetch_add(1, PlainOrdering::Relaxed);
        s.check_stuck();
        s.quiet.notify_one();
        drop(l);
        self.m().park.sleep();
        let pp = self.m().nextp.swap(NONE, Ordering::Acquire);
        if pp != NONE {
            self.acquirep(pp);
        }
    }

    /// `become_spinning`.
    fn become_spinning(&self) {
        self.m().spinning.store(true, Ordering::Relaxed);
        self.s.nmspinning.fetch_add(1, Ordering::SeqCst);
        self.s.needspinning.store(0, Ordering::SeqCst);
    }

    /// `reset_spinning`.
    fn reset_spinning(&self) {
        self.m().spinning.store(false, Ordering::Relaxed);
        self.s.nmspinning.fetch_sub(1, Ordering::SeqCst);
        wakep(self.s);
    }

    /// `schedule`.
    fn schedule(&mut self) {
        while let Some((g, inherit)) = self.find_runnable() {
            if self.m().spinning.load(Ordering::Relaxed) {
                self.reset_spinning();
            }
            self.execute(g, inherit);
        }
    }

    /// `find_runnable`, step for step (stop-the-world checks left out).
    fn find_runnable(&mut self) -> Option<(usize, bool)> {
        let s = self.s;
        'top: loop {
            if s.shutdown.load(Ordering::Acquire) {
                if self.m().spinning.swap(false, Ordering::Relaxed) {
                    s.nmspinning.fetch_sub(1, Ordering::SeqCst);
                }
                if self.p.is_some() {
                    let pp = self.releasep();
                    let mut l = s.lock.lock();
                    s.pidleput(&mut l, pp);
                }
                return None;
            }
            let Some(pp) = self.p else {
                // Woken without a P: sleep again.
                self.stopm();
                continue;
            };

            // Fairness: now and then, the global queue before the local one.
            if s.allp[pp].schedtick.load(PlainOrdering::Relaxed) % GLOBAL_RUNQ_CHECK == 0
                && s.runqsize.load(Ordering::Relaxed) > 0
            {
                let mut l = s.lock.lock();
                if let Some(g) = s.globrunqget_batch(&mut l, pp, 1) {
                    return Some((g, false));
                }
            }

            // Local run queue.
            if let Some((gp, inherit)) = s.allp[pp].runq.get() {
                return Some((s.gid(gp), inherit));
            }

            // Global run queue.
            if s.runqsize.load(Ordering::Relaxed) != 0 {
                let mut l = s.lock.lock();
                if let Some(g) = s.globrunqget_batch(&mut l, pp, RUNQ_SIZE / 2) {
                    return Some((g, false));
                }
            }

            // Steal, if not too many Ms are at it already.
            let busy = s.cfg.procs as u32 - s.npidle.load(Ordering::SeqCst);
            if self.m().spinning.load(Ordering::Relaxed)
                || 2 * s.nmspinning.load(Ordering::SeqCst) < busy
            {
                if !self.m().spinning.load(Ordering::Relaxed) {
                    self.become_spinning();
                }
                if let Some(g) = self.steal_work(pp) {
                    return Some((g, false));
                }
            }

            // Nothing to do: give up the P, re-checking under the lock.
            let mut l = s.lock.lock();
            if let Some(g) = s.globrunqget_batch(&mut l, pp, RUNQ_SIZE / 2) {
                return Some((g, false));
            }
            if !self.m().spinning.load(Ordering::Relaxed)
                && s.needspinning.load(Ordering::SeqCst) == 1
            {
                self.become_spinning();
                continue 'top;
            }
            let pp = self.releasep();
            s.pidleput(&mut l, pp);
            l.mreleasing.push(self.id);
            // Stop spinning under the lock (a hand-off's `spinning` comes after).
            let was_spinning = self.m().spinning.load(Ordering::Relaxed);
            if was_spinning {
                self.m().spinning.store(false, Ordering::Relaxed);
                s.nmspinning.fetch_sub(1, Ordering::SeqCst);
            }
            drop(l);

            if was_spinning {
                // *Then* look at every queue again.
                if s.cfg.fence_recheck {
                    fence(Ordering::SeqCst);
                }

                if s.runqsize.load(Ordering::SeqCst) != 0 {
                    let mut l = s.lock.lock();
                    if !l.runq.is_empty() {
                        if let Some((pp, handed)) = s.p_for_found_work(&mut l, self.id) {
                            let gp = s.globrunqget_batch(&mut l, pp, RUNQ_SIZE / 2);
                            drop(l);
                            self.acquirep(pp);
                            if !handed {
                                self.become_spinning();
                            }
                            if let Some(g) = gp {
                                return Some((g, false));
                            }
                            continue 'top;
                        }
                    }
                }
                if s.cfg.recheck_runqs_no_p {
                    if let Some((pp, handed)) = s.check_runqs_no_p(self.id) {
                        self.acquirep(pp);
                        if !handed {
                            self.become_spinning();
                        }
                        continue 'top;
                    }
                }
            }

            // (sched.rs polls here; not modelled.)
            self.stopm_released();
        }
    }

    /// `steal_work`: `STEAL_TRIES` passes over the other running Ps; the last one may
    /// take `runnext`. (Victim order and the 3 µs pause: see the module comment.)
    fn steal_work(&self, pp: usize) -> Option<usize> {
        let s = self.s;
        let n = s.allp.len();
        for i in 0..STEAL_TRIES {
            let steal_runnext = i == STEAL_TRIES - 1;
            for k in 1..n {
                let p2 = &s.allp[(pp + k) % n];
                if p2.status.load(Ordering::Acquire) == P_IDLE {
                    continue;
                }
                if let Some(gp) = s.allp[pp].runq.steal(&p2.runq, steal_runnext, &|| {}) {
                    return Some(s.gid(gp));
                }
            }
        }
        None
    }

    /// `execute` + the goroutine's body + `goexit0`.
    fn execute(&mut self, g: usize, inherit: bool) {
        let s = self.s;
        let pp = self.p.expect("execute: no P");
        if !inherit {
            s.allp[pp].schedtick.fetch_add(1, PlainOrdering::Relaxed);
        }
        s.cas_status(g, G_RUNNABLE, G_RUNNING);
        let n = s.executed[g].fetch_add(1, PlainOrdering::Relaxed);
        assert_eq!(n, 0, "goroutine {g} executed twice");

        let w = &s.work[g];
        for &c in w.spawns {
            self.newproc(c);
        }
        if w.hog {
            // Busy on this P until the children have run elsewhere.
            s.hogging.fetch_add(1, PlainOrdering::Relaxed);
            s.check_stuck();
            for &c in w.spawns {
                s.done[c].sleep();
            }
            s.hogging.fetch_sub(1, PlainOrdering::Relaxed);
        }
        if w.main {
            s.nmain.fetch_sub(1, Ordering::SeqCst);
        }
        if s.waited[g] {
            s.done[g].wake();
        }
        // goexit0
        s.cas_status(g, G_RUNNING, G_DEAD);
    }

    /// `newproc` (and `ready` on a P): the new G goes to this P's `runnext`.
    fn newproc(&self, g: usize) {
        let s = self.s;
        let pp = self.p.expect("newproc: no P");
        s.make_runnable(g);
        s.allp[pp].runq.put(s.gptr(g), true, s);
        wakep(s);
    }
}

/// Runs one model: `procs + 1` M threads, the main thread's `script`, then (with
/// `quiesce`) the lost-goroutine check, then `Runtime::drop` and the joins.
fn check(cfg: Config, work: &'static [Work], script: fn(&Sched), quiesce: bool) {
    check_with(0, cfg, work, script, quiesce)
}

/// [`check`], raising loom's preemption bound to at least `min_preemptions` (when
/// a bound is set at all: no bound is stronger).
fn check_with(
    min_preemptions: usize,
    cfg: Config,
    work: &'static [Work],
    script: fn(&Sched),
    quiesce: bool,
) {
    let mut builder = loom::model::Builder::new();
    if let Some(b) = builder.preemption_bound {
        builder.preemption_bound = Some(b.max(min_preemptions));
    }
    builder.check(move || {
        let s = Arc::new(Sched::new(cfg, work));
        let ms: Vec<_> = (0..s.ms.len())
            .map(|id| {
                let s = s.clone();
                loom::thread::spawn(move || MThread::run(&s, id))
            })
            .collect();
        script(&s);
        if quiesce {
            s.wait_quiescent();
        }
        s.shutdown();
        for m in ms {
            m.join().unwrap();
        }
    });
}

// ----- Scenarios. -----

/// Two goroutines readied from outside.
static TWO_LEAVES: [Work; 2] = [LEAF, LEAF];

fn ready_two(s: &Sched) {
    s.inject_external(0);
    s.inject_external(1);
}

/// A goroutine that `go`es two children and returns.
static GO_TWO: [Work; 3] = [
    Work {
        spawns: &[1, 2],
        hog: false,
        main: false,
    },
    LEAF,
    LEAF,
];

/// A goroutine that `go`es a child and keeps its P busy until the child has run.
static HOG: [Work; 2] = [
    Work {
        spawns: &[1],
        hog: true,
        main: false,
    },
    LEAF,
];

/// The same, plus a second goroutine readied from outside that keeps the other P
/// busy for a while (the `needspinning` case).
static HOG_AND_OTHER: [Work; 3] = [
    Work {
        spawns: &[2],
        hog: true,
        main: false,
    },
    LEAF,
    LEAF,
];

fn ready_first(s: &Sched) {
    s.inject_external(0);
}

/// Two `Runtime::run` calls in a row.
static TWO_MAINS: [Work; 2] = [MAIN, MAIN];

fn run_two(s: &Sched) {
    s.run_main(0);
    s.run_main(1);
}

static ONE_MAIN: [Work; 1] = [MAIN];

fn run_one(s: &Sched) {
    s.run_main(0);
}

// ----- The protocol as sched.rs has it: must pass. -----

/// Two goroutines readied from outside (the global queue) on one P: the
/// `runqsize`/`nmspinning` handshake between `ready_external` → `wakep` and the
/// last spinning M's re-check, `newm` racing `stopm`.
#[test]
fn loom_idle_external_ready_1p() {
    check(
        Config {
            procs: 1,
            ..FAITHFUL
        },
        &TWO_LEAVES,
        ready_two,
        true,
    );
}

/// The same with two Ps (three Ms): `wakep` from `reset_spinning`, two spinning Ms
/// releasing Ps, the re-check taking a P back for the global queue.
#[test]
fn loom_idle_external_ready_2p() {
    check(FAITHFUL, &TWO_LEAVES, ready_two, true);
}

/// A goroutine readied from outside `go`es two children into its P's `runnext`
/// (the second pushes the first to the ring): each runs exactly once, whether its
/// own M, a stealer (ring or `runnext`) or a woken M takes it.
#[test]
fn loom_idle_go_from_goroutine() {
    check(FAITHFUL, &GO_TWO, ready_first, true);
}

/// No lost parallelism: a goroutine `go`es a child into its `runnext` and keeps its
/// P busy until the child has run elsewhere, so the other P must get an M (through
/// `wakep`, or a spinning M's re-check and `check_runqs_no_p`).
#[test]
fn loom_idle_go_hog() {
    check(FAITHFUL, &HOG, ready_first, true);
}

/// As `loom_idle_go_hog`, while a second goroutine from outside keeps the other
/// P's M busy: the scenario where `needspinning` is needed (see
/// `loom_idle_no_needspinning_loses_wakeup`, which needs 3 preemptions).
#[test]
fn loom_idle_go_hog_other_p_busy() {
    check(
        FAITHFUL,
        &HOG_AND_OTHER,
        |s| {
            s.inject_external(0);
            s.inject_external(1);
        },
        true,
    );
}

// ----- Each mechanism is needed: without it loom finds a lost wake-up. -----

/// Global queue: since `nmspinning` drops under `sched.lock` (for the hand-off to
/// `mreleasing`), and the global queue is filled under the same lock, the lock
/// alone orders the two sides: the M's re-check sees the goroutine, or the
/// submitter's `wakep` sees `nmspinning == 0`. Neither fence is needed here any
/// more (before, loom found a lost wake-up without either); the local queues
/// still need both (the next two tests).
#[test]
fn loom_idle_global_queue_needs_no_fence_under_the_lock() {
    let cfg = Config {
        procs: 1,
        fence_recheck: false,
        fence_wakep: false,
        ..FAITHFUL
    };
    check(cfg, &TWO_LEAVES, ready_two, true);
}

/// Without the `fence(SeqCst)` between `nmspinning -= 1` and the re-check, local
/// queues (no lock orders them): the last spinning M's `check_runqs_no_p` misses
/// the child in the busy P's `runnext` while the hog's `wakep` still saw that M
/// spinning.
#[test]
#[should_panic(expected = "queued behind a busy P")]
fn loom_idle_no_recheck_fence_loses_local_wakeup() {
    let cfg = Config {
        fence_recheck: false,
        ..FAITHFUL
    };
    check(cfg, &HOG, ready_first, true);
}

/// Without the `fence(SeqCst)` at the top of `wakep`: the mirror image, local
/// queues. The hog's `go` stores its child in `runnext` and reads `nmspinning`
/// before the store is visible to the last spinning M's `check_runqs_no_p`.
#[test]
#[should_panic(expected = "queued behind a busy P")]
fn loom_idle_no_wakep_fence_loses_local_wakeup() {
    let cfg = Config {
        fence_wakep: false,
        ..FAITHFUL
    };
    check(cfg, &HOG, ready_first, true);
}

/// Without `check_runqs_no_p` in the re-check: the last spinning M does not see
/// the child in the busy P's `runnext` that `wakep` left to it.
#[test]
#[should_panic(expected = "queued behind a busy P")]
fn loom_idle_no_check_runqs_no_p_loses_wakeup() {
    let cfg = Config {
        recheck_runqs_no_p: false,
        ..FAITHFUL
    };
    check(cfg, &HOG, ready_first, true);
}

/// Without `needspinning`: the hog's `wakep` finds no idle P (the other M holds it,
/// busy, and did not steal because another M was still counted as spinning), so
/// nobody is told to look again; that M then gives its P back and sleeps. Needs a
/// preemption bound of 3 (raised here if the environment sets a lower one).
#[test]
#[should_panic(expected = "queued behind a busy P")]
fn loom_idle_no_needspinning_loses_wakeup() {
    let cfg = Config {
        needspinning: false,
        ..FAITHFUL
    };
    check_with(
        3,
        cfg,
        &HOG_AND_OTHER,
        |s| {
            s.inject_external(0);
            s.inject_external(1);
        },
        true,
    );
}

/// Without the M in `mreleasing` looking for a hand-off when it leaves the list:
/// `startm` gave it a P (instead of starting a thread), the M parks as if nobody
/// had, and the P is neither idle nor run.
#[test]
#[should_panic(expected = "a P is held by an idle M")]
fn loom_idle_releasing_m_ignoring_handoff_loses_p() {
    let cfg = Config {
        releasing_takes_handoff: false,
        ..FAITHFUL
    };
    check(cfg, &TWO_LEAVES, ready_two, true);
}

// ----- Shutdown and checkdead. -----

/// `Runtime::drop` right after `run` returns, racing the M that ran the main
/// goroutine on its way to `stopm`: no M is left parked.
#[test]
fn loom_idle_drop_right_after_run() {
    check(
        Config {
            procs: 1,
            ..FAITHFUL
        },
        &ONE_MAIN,
        run_one,
        false,
    );
}

/// Without `stopm`'s `shutdown` check under `sched.lock`: the M passes the
/// `shutdown` check at the top of `find_runnable`, `drop` stores `shutdown` and
/// empties `midle`, then the M pushes itself on `midle` and parks for ever (so
/// `mcount` never reaches 0 and `reclaim_stacks` never runs).
#[test]
#[should_panic(expected = "leaked")]
fn loom_idle_no_stopm_shutdown_check_leaks_m() {
    let cfg = Config {
        procs: 1,
        stopm_checks_shutdown: false,
        ..FAITHFUL
    };
    check(cfg, &ONE_MAIN, run_one, false);
}

/// The fix the model suggests: count the new M in `mcount` under `sched.lock` in
/// `startm`, where its id is reserved (Go's `mReserveID`: `mcount()` is
/// `mnext - nmfreed`, both under the lock).
#[test]
fn loom_idle_checkdead_mcount_reserved_in_startm() {
    let cfg = Config {
        procs: 1,
        checkdead: true,
        mcount_in_startm: true,
        ..FAITHFUL
    };
    check_with(3, cfg, &TWO_MAINS, run_two, true);
}
