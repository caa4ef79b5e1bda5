//! loom model of M park/wake: no lost wake-up, no lost goroutine, no leaked M.
//!
//! The protocol under test is `idle.rs` itself — `find_runnable`, `wakep`,
//! `startm`, `stopm`, the `mreleasing` hand-off — run by this file's
//! [`Scheduler`] host: 1 or 2 Ps, each with a real [`RunQ`], Ms that are loom
//! threads parking on the real [`Note`], and goroutines that are small indices.
//! This file holds only that host, the scenarios and the oracles; it states no
//! step of the protocol. The hooks for what loom cannot run (stop-the-world,
//! timers, the network poller) keep their do-nothing defaults, and steal order is
//! index order (with 2 Ps there is one victim).
//!
//! # Threads
//!
//! The loom main thread is the outside world: `Runtime::run` and `ready()` from a
//! plain thread, both [`idle::inject_external`], and at the end `Runtime::drop`.
//! Every other loom thread is an M. loom cannot spawn threads on demand, so each M
//! exists from the start, asleep on its note on an `unborn` list; the host's
//! `newm` wakes one (`reserve_m` took it under `sched.lock`, where the runtime
//! reserves `mnext`). A goroutine's body may `go` children (`newproc`: `runnext`
//! put + `wakep` on its M's P) and may keep its P busy until they have run.
//!
//! # Oracles
//!
//! * **Exactly once**: `execute` asserts that no goroutine runs twice, and at the
//!   end every goroutine made runnable has run.
//! * **No lost goroutine**: once the main thread is done and every M is parked
//!   (or unborn), a goroutine still queued was lost: `lost wake-up: a goroutine is
//!   still queued while every M sleeps`.
//! * **No lost parallelism** (an idle P with runnable work gets an M): a `hog`
//!   goroutine `go`es a child into its own `runnext` and keeps its M busy until
//!   the child ran, so another P must take it. If every other M is idle while the
//!   child waits: `lost wake-up: goroutine N is queued behind a busy P`.
//! * **No stranded P or M**: at the end every P is idle (`a P is held by an idle
//!   M`) and no M parks after `Runtime::drop` took the idle list (`leaked`).
//!
//! The oracles read plain std atomics, invisible to loom (it runs one thread at a
//! time, so they show the current state and add no synchronisation).
//!
//! # What the tests show (`LOOM_MAX_PREEMPTIONS=2`)
//!
//! The faithful protocol passes every positive model. Each mechanism is needed:
//! switched off through [`Variant`], loom finds the failure it prevents (the
//! `loom_idle_no_*` and `*_ignoring_*` models, `should_panic` on the oracle's
//! message). For the global queue neither fence is needed, since the queue and
//! the `nmspinning` decrement are ordered by `sched.lock`; for the local queues
//! both are. loom treats `SeqCst` accesses as `AcqRel` (only `fence(SeqCst)` is
//! sequentially consistent), so the protocol must hold with its fences, which is
//! what `idle.rs` claims. `docs/loom.md` replays one failure step by step.
//!
//! Run with
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p gort-runtime --release --lib loom_idle`.

use crate::loom::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use crate::loom::{Condvar, Mutex, MutexGuard};
use crate::proc::idle::{self, GlobalQueue, Locked, Scheduler, Variant};
use crate::proc::note::Note;
use crate::proc::runq::{Overflow, RunQ};
use loom::sync::Arc;
use std::collections::VecDeque;
use std::sync::atomic::{
    AtomicBool as PlainBool, AtomicU32 as PlainU32, AtomicUsize as PlainUsize,
    Ordering::Relaxed as Plain,
};

const NONE: usize = usize::MAX;
const P_IDLE: u32 = 0;
const P_RUNNING: u32 = 1;
const G_RUNNABLE: u32 = 1;
const G_RUNNING: u32 = 2;
const G_DEAD: u32 = 6;

/// One model's shape: GOMAXPROCS, the protocol variant, whether `checkdead` judges.
#[derive(Clone, Copy)]
struct Config {
    procs: usize,
    variant: Variant,
    /// `checkdead` is off except in the checkdead model: no goroutine here ever
    /// waits, so it could only throw.
    checkdead: bool,
}

const FAITHFUL: Config = Config {
    procs: 2,
    variant: Variant::FAITHFUL,
    checkdead: false,
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

struct P {
    status: AtomicU32,
    runq: RunQ<u32>,
    schedtick: PlainU32,
}

struct M {
    nextp: AtomicUsize,
    spinning: AtomicBool,
    park: Note,
    /// Owner-only, as the runtime's `m.p`.
    p: PlainUsize,
}

/// The model's fields under `sched.lock`.
struct Ext {
    /// M threads not started yet.
    unborn: Vec<usize>,
    /// `Runtime::drop` has taken `midle`.
    drained: bool,
}

struct Sched {
    cfg: Config,
    allp: Vec<P>,
    ms: Vec<M>,
    lock: Mutex<Locked<Sched>>,
    runqsize: AtomicU32,
    npidle: AtomicU32,
    nmspinning: AtomicU32,
    needspinning: AtomicU32,
    mcount: AtomicU32,
    nmain: AtomicU32,
    external_inflight: AtomicU32,
    shutdown: AtomicBool,
    work: &'static [Work],
    /// Run queues carry pointers into this array, as the runtime's carry `*mut G`.
    gs: Box<[u32]>,
    gstatus: Vec<AtomicU32>,
    /// Someone sleeps on `done[g]` (the `run` caller, or a hogging parent).
    waited: Vec<bool>,
    done: Vec<Note>,
    // Oracle state (plain atomics, see the module comment).
    submitted: Vec<PlainU32>,
    executed: Vec<PlainU32>,
    /// Ms parked or unborn (`midle.len() + unborn.len()`).
    nidle: PlainUsize,
    hogging: PlainU32,
    main_done: PlainBool,
    /// Notified whenever the idle lists change, for [`Sched::wait_quiescent`].
    quiet: Condvar,
}

impl GlobalQueue<usize> for VecDeque<usize> {
    fn enqueue(&mut self, g: usize) {
        self.push_back(g);
    }
    fn dequeue(&mut self) -> Option<usize> {
        self.pop_front()
    }
    fn size(&self) -> u32 {
        self.len() as u32
    }
}

impl Overflow<u32> for Sched {
    fn push_batch(&self, batch: &[*mut u32]) {
        idle::globrunqputbatch(self, batch);
    }
}

impl Scheduler for Sched {
    type M = usize;
    type P = usize;
    type G = usize;
    type Item = u32;
    type Queue = VecDeque<usize>;
    type Ext = Ext;
    type MId = usize;

    fn lock(&self) -> MutexGuard<'_, Locked<Sched>> {
        self.lock.lock()
    }
    fn gomaxprocs(&self) -> u32 {
        self.cfg.procs as u32
    }
    fn p(&self, id: u32) -> usize {
        id as usize
    }
    fn p_id(&self, pp: usize) -> u32 {
        pp as u32
    }
    fn runqsize(&self) -> &AtomicU32 {
        &self.runqsize
    }
    fn npidle(&self) -> &AtomicU32 {
        &self.npidle
    }
    fn nmspinning(&self) -> &AtomicU32 {
        &self.nmspinning
    }
    fn needspinning(&self) -> &AtomicU32 {
        &self.needspinning
    }
    fn external_inflight(&self) -> &AtomicU32 {
        &self.external_inflight
    }
    fn shutting_down(&self) -> bool {
        self.shutdown.load(Ordering::SeqCst)
    }
    fn same_m(a: usize, b: usize) -> bool {
        a == b
    }
    fn spinning(&self, m: usize) -> &AtomicBool {
        &self.ms[m].spinning
    }
    fn set_nextp(&self, m: usize, pp: usize) {
        self.ms[m].nextp.store(pp, Ordering::Release);
    }
    fn take_nextp(&self, m: usize) -> Option<usize> {
        let pp = self.ms[m].nextp.swap(NONE, Ordering::Acquire);
        (pp != NONE).then_some(pp)
    }
    fn m_p(&self, m: usize) -> Option<usize> {
        let pp = self.ms[m].p.load(Plain);
        (pp != NONE).then_some(pp)
    }
    fn acquirep(&self, m: usize, pp: usize) {
        self.allp[pp].status.store(P_RUNNING, Ordering::Release);
        self.ms[m].p.store(pp, Plain);
    }
    fn releasep(&self, m: usize) -> usize {
        let pp = self.ms[m].p.swap(NONE, Plain);
        assert_ne!(pp, NONE, "releasep: no P");
        pp
    }
    fn park(&self, m: usize) {
        self.ms[m].park.sleep();
    }
    fn unpark(&self, m: usize) {
        self.ms[m].park.wake();
    }
    fn runq(&self, pp: usize) -> &RunQ<u32> {
        &self.allp[pp].runq
    }
    fn p_is_idle(&self, pp: usize) -> bool {
        self.allp[pp].status.load(Ordering::Acquire) == P_IDLE
    }
    fn p_set_idle(&self, pp: usize) {
        self.allp[pp].status.store(P_IDLE, Ordering::Release);
    }
    fn schedtick(&self, pp: usize) -> u32 {
        self.allp[pp].schedtick.load(Plain)
    }
    fn g_of(&self, item: *mut u32) -> usize {
        (item as usize - self.gs.as_ptr() as usize) / std::mem::size_of::<u32>()
    }
    fn item_of(&self, g: usize) -> *mut u32 {
        self.gs[g..].as_ptr() as *mut u32
    }

    fn reserve_m(&self, l: &mut Locked<Sched>) -> usize {
        let id = l
            .unborn
            .pop()
            .expect("model: newm needs more Ms than it has");
        self.mcount.fetch_add(1, Ordering::SeqCst);
        self.idle_changed(l);
        id
    }
    fn newm(&self, id: usize, pp: usize, spinning: bool) {
        let m = &self.ms[id];
        m.spinning.store(spinning, Ordering::Relaxed);
        m.nextp.store(pp, Ordering::Relaxed);
        // The thread spawn's happens-before edge is the note's mutex.
        m.park.wake();
    }
    fn checkdead(&self, l: &Locked<Sched>) {
        if !self.cfg.checkdead
            || self.nmain.load(Ordering::SeqCst) == 0
            || self.shutdown.load(Ordering::SeqCst)
        {
            return;
        }
        let run = self.mcount.load(Ordering::SeqCst) as i64 - l.midle.len() as i64;
        if run > 0 || self.external_inflight.load(Ordering::SeqCst) > 0 {
            return;
        }
        for (g, st) in self.gstatus.iter().enumerate() {
            let st = st.load(Ordering::Acquire);
            assert!(
                st != G_RUNNABLE && st != G_RUNNING,
                "checkdead: runnable g (goroutine {g} is {st})"
            );
        }
    }

    fn variant(&self) -> Variant {
        self.cfg.variant
    }
    fn idle_changed(&self, l: &Locked<Sched>) {
        assert!(
            !l.drained || l.midle.is_empty(),
            "M leaked: it parks on midle after Runtime::drop took the idle list, \
             and nobody will ever wake it"
        );
        self.nidle.store(l.midle.len() + l.unborn.len(), Plain);
        self.check_stuck();
        self.quiet.notify_one();
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
        let ext = Ext {
            unborn: (0..nms).rev().collect(),
            drained: false,
        };
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
                    p: PlainUsize::new(NONE),
                })
                .collect(),
            lock: Mutex::new(Locked::new(
                (0..cfg.procs).rev().collect(),
                VecDeque::new(),
                ext,
            )),
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

    fn cas_status(&self, g: usize, from: u32, to: u32) {
        if let Err(v) =
            self.gstatus[g].compare_exchange(from, to, Ordering::AcqRel, Ordering::Acquire)
        {
            panic!("casgstatus: goroutine {g} is {v}, wanted {from} -> {to}");
        }
    }

    /// `Dead → Runnable`, as for a fresh G.
    fn make_runnable(&self, g: usize) {
        self.submitted[g].fetch_add(1, Plain);
        self.cas_status(g, G_DEAD, G_RUNNABLE);
    }

    /// `ready()` from a plain thread (or `newproc_external`).
    fn inject(&self, g: usize) {
        idle::inject_external(self, g, || self.make_runnable(g));
    }

    /// `Runtime::run`: `g` is a main goroutine; blocks until it has returned.
    fn run_main(&self, g: usize) {
        assert!(self.work[g].main);
        self.nmain.fetch_add(1, Ordering::SeqCst);
        self.inject(g);
        self.done[g].sleep();
    }

    /// An M thread: asleep until `newm`, then `mstart` → `schedule`.
    fn mstart(&self, m: usize) {
        self.ms[m].park.sleep();
        if let Some(pp) = self.take_nextp(m) {
            self.acquirep(m, pp);
        }
        while let Some((g, inherit)) = idle::find_runnable(self, m) {
            if self.ms[m].spinning.load(Ordering::Relaxed) {
                idle::reset_spinning(self, m);
            }
            self.execute(m, g, inherit);
        }
    }

    /// `execute`: the goroutine's body on its M, then `goexit0`.
    fn execute(&self, m: usize, g: usize, inherit: bool) {
        let pp = self.m_p(m).expect("execute: no P");
        if !inherit {
            self.allp[pp].schedtick.fetch_add(1, Plain);
        }
        self.cas_status(g, G_RUNNABLE, G_RUNNING);
        assert_eq!(
            self.executed[g].fetch_add(1, Plain),
            0,
            "goroutine {g} executed twice"
        );
        let w = &self.work[g];
        for &c in w.spawns {
            // `newproc`: the child goes to this P's runnext.
            self.make_runnable(c);
            self.allp[pp].runq.put(self.item_of(c), true, self);
            idle::wakep(self);
        }
        if w.hog {
            self.hogging.fetch_add(1, Plain);
            self.check_stuck();
            for &c in w.spawns {
                self.done[c].sleep();
            }
            self.hogging.fetch_sub(1, Plain);
        }
        if w.main {
            self.nmain.fetch_sub(1, Ordering::SeqCst);
        }
        if self.waited[g] {
            self.done[g].wake();
        }
        self.cas_status(g, G_RUNNING, G_DEAD);
    }

    /// Oracle: once no more work can come from outside, if every M is idle but
    /// those held by a `hog`, a child a hog waits for can never run.
    fn check_stuck(&self) {
        let hogging = self.hogging.load(Plain) as usize;
        if !self.main_done.load(Plain)
            || hogging == 0
            || self.nidle.load(Plain) + hogging < self.ms.len()
        {
            return;
        }
        for w in self.work.iter().filter(|w| w.hog) {
            for &c in w.spawns {
                assert!(
                    self.submitted[c].load(Plain) == 0 || self.executed[c].load(Plain) != 0,
                    "lost wake-up: goroutine {c} is queued behind a busy P while every \
                     other M sleeps (nmspinning {}, needspinning {})",
                    self.nmspinning.load(Ordering::SeqCst),
                    self.needspinning.load(Ordering::SeqCst),
                );
            }
        }
    }

    /// Oracle: waits until every M is parked or unborn, then nothing may be queued,
    /// everything made runnable ran once, every P is idle and nobody spins.
    fn wait_quiescent(&self) {
        self.main_done.store(true, Plain);
        self.check_stuck();
        let mut l = self.lock.lock();
        while l.midle.len() + l.unborn.len() < self.ms.len() {
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
             (global queue {:?}, per P (ring, runnext) {local:?})",
            l.runq
        );
        for g in 0..self.work.len() {
            let (sub, ex) = (self.submitted[g].load(Plain), self.executed[g].load(Plain));
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

    /// `impl Drop for Runtime`: set `shutdown`, wake every idle M (and, in the
    /// model, the unborn ones, so their threads end).
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

/// Runs one model: `procs + 1` M threads, the main thread's `script`, then (with
/// `quiesce`) the quiescence oracle, then `Runtime::drop` and the joins. loom's
/// preemption bound is raised to at least `min_preemptions` when one is set.
fn check(
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
                loom::thread::spawn(move || s.mstart(id))
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

fn without(f: impl FnOnce(&mut Variant)) -> Config {
    let mut cfg = FAITHFUL;
    f(&mut cfg.variant);
    cfg
}

const ONE_P: Config = Config {
    procs: 1,
    ..FAITHFUL
};

// ----- Scenarios. -----

/// Two goroutines readied from outside.
static TWO_LEAVES: [Work; 2] = [LEAF, LEAF];
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
/// A goroutine that `go`es a child and keeps its P busy until the child ran.
static HOG: [Work; 2] = [
    Work {
        spawns: &[1],
        hog: true,
        main: false,
    },
    LEAF,
];
/// The same, plus a goroutine from outside that keeps the other P busy a while.
static HOG_AND_OTHER: [Work; 3] = [
    Work {
        spawns: &[2],
        hog: true,
        main: false,
    },
    LEAF,
    LEAF,
];
static ONE_MAIN: [Work; 1] = [MAIN];
static TWO_MAINS: [Work; 2] = [MAIN, MAIN];

fn ready_two(s: &Sched) {
    s.inject(0);
    s.inject(1);
}
fn ready_first(s: &Sched) {
    s.inject(0);
}
fn run_one(s: &Sched) {
    s.run_main(0);
}
fn run_two(s: &Sched) {
    s.run_main(0);
    s.run_main(1);
}

// ----- The protocol as the runtime runs it: must pass. -----

/// Two goroutines from outside on one P: the global-queue handshake between
/// `inject_external` → `wakep` and the last spinning M's re-check, `newm` racing
/// `stopm`.
#[test]
fn loom_idle_external_ready_1p() {
    check(0, ONE_P, &TWO_LEAVES, ready_two, true);
}

/// The same with two Ps: `wakep` from `reset_spinning`, two spinning Ms releasing
/// Ps, the re-check taking a P back for the global queue, hand-offs to `mreleasing`.
#[test]
fn loom_idle_external_ready_2p() {
    check(0, FAITHFUL, &TWO_LEAVES, ready_two, true);
}

/// A goroutine `go`es two children into its `runnext` (the second pushes the first
/// to the ring): each runs exactly once, whoever takes it.
#[test]
fn loom_idle_go_from_goroutine() {
    check(0, FAITHFUL, &GO_TWO, ready_first, true);
}

/// No lost parallelism: the other P must get an M for the hog's child.
#[test]
fn loom_idle_go_hog() {
    check(0, FAITHFUL, &HOG, ready_first, true);
}

/// As `loom_idle_go_hog` while another goroutine keeps the other P's M busy: the
/// case `needspinning` exists for.
#[test]
fn loom_idle_go_hog_other_p_busy() {
    check(0, FAITHFUL, &HOG_AND_OTHER, ready_two, true);
}

/// The global queue needs neither fence: it is filled under `sched.lock`, and the
/// last spinning M drops `nmspinning` under the same lock.
#[test]
fn loom_idle_global_queue_needs_no_fence_under_the_lock() {
    let cfg = Config {
        procs: 1,
        ..without(|v| (v.fence_recheck, v.fence_wakep) = (false, false))
    };
    check(0, cfg, &TWO_LEAVES, ready_two, true);
}

// ----- Each mechanism is needed: without it loom finds the failure. -----

/// Without the fence in `recheck`: the last spinning M's `check_runqs_no_p` misses
/// the child in the busy P's `runnext` while the hog's `wakep` still saw it spin.
#[test]
#[should_panic(expected = "queued behind a busy P")]
fn loom_idle_no_recheck_fence_loses_local_wakeup() {
    check(
        0,
        without(|v| v.fence_recheck = false),
        &HOG,
        ready_first,
        true,
    );
}

/// Without the fence in `wakep`: the mirror image. The hog's `go` reads
/// `nmspinning` before its `runnext` store is visible to the re-checking M.
#[test]
#[should_panic(expected = "queued behind a busy P")]
fn loom_idle_no_wakep_fence_loses_local_wakeup() {
    check(
        0,
        without(|v| v.fence_wakep = false),
        &HOG,
        ready_first,
        true,
    );
}

/// Without `check_runqs_no_p`: the last spinning M does not look at the busy P's
/// `runnext`, which `wakep` left to it.
#[test]
#[should_panic(expected = "queued behind a busy P")]
fn loom_idle_no_check_runqs_no_p_loses_wakeup() {
    check(
        0,
        without(|v| v.check_runqs_no_p = false),
        &HOG,
        ready_first,
        true,
    );
}

/// Without `needspinning`: the hog's `wakep` finds no idle P (the other M holds
/// it, and did not steal because another M still counted as spinning), nobody is
/// told to look again, and that M gives its P back and sleeps. Needs 3 preemptions.
#[test]
#[should_panic(expected = "queued behind a busy P")]
fn loom_idle_no_needspinning_loses_wakeup() {
    check(
        3,
        without(|v| v.needspinning = false),
        &HOG_AND_OTHER,
        ready_two,
        true,
    );
}

/// Without the listed M looking for a hand-off as it leaves `mreleasing`: `startm`
/// gave it a P, it parks as if nobody had, and the P is neither idle nor run.
#[test]
#[should_panic(expected = "a P is held by an idle M")]
fn loom_idle_releasing_m_ignoring_handoff_loses_p() {
    check(
        0,
        without(|v| v.releasing_takes_handoff = false),
        &TWO_LEAVES,
        ready_two,
        true,
    );
}

// ----- Shutdown and checkdead. -----

/// `Runtime::drop` right after `run` returns, racing the M that ran the main
/// goroutine on its way to `stopm`: no M is left parked.
#[test]
fn loom_idle_drop_right_after_run() {
    check(0, ONE_P, &ONE_MAIN, run_one, false);
}

/// Without `stopm`'s `shutdown` check under `sched.lock`: the M passes the check
/// at the top of `find_runnable`, `drop` stores `shutdown` and empties `midle`,
/// then the M parks on `midle` for ever.
#[test]
#[should_panic(expected = "leaked")]
fn loom_idle_no_stopm_shutdown_check_leaks_m() {
    let cfg = Config {
        procs: 1,
        ..without(|v| v.stopm_checks_shutdown = false)
    };
    check(0, cfg, &ONE_MAIN, run_one, false);
}

/// `checkdead` never judges a goroutine lost while it is handed over: a new M is
/// counted in `mcount` under `sched.lock` (`reserve_m`, Go's `mReserveID`), and
/// the last injection in flight judges under the lock. Needs 3 preemptions.
#[test]
fn loom_idle_checkdead_never_sees_a_handover() {
    check(
        3,
        Config {
            procs: 1,
            checkdead: true,
            ..FAITHFUL
        },
        &TWO_MAINS,
        run_two,
        true,
    );
}
