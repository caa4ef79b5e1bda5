//! loom model of M park/wake: no lost wake-up, no lost goroutine, no leaked M.
//!
//! The protocol under test is `idle.rs` itself, run by this file's [`Scheduler`]
//! host: 1 or 2 Ps with real [`RunQ`]s, Ms that are loom threads parking on the
//! real [`Note`], goroutines that are small indices. This file holds that host,
//! the scenarios and the oracles (`execute`, `check_stuck`, `wait_quiescent`,
//! `idle_changed`); no step of the protocol is stated here. Stop-the-world,
//! timers and the poller keep the hooks' do-nothing defaults; steal order is
//! index order. The loom main thread is the outside world (`ready()` from a plain
//! thread, `Runtime::run`, `Runtime::drop`); every other loom thread is an M,
//! asleep on the `unborn` list until the host's `newm` wakes it. The oracles read
//! plain std atomics, which add no synchronisation.
//!
//! Each negative model switches one mechanism off ([`Variant`]) and must fail
//! with the oracle's message. `docs/loom.md` explains them and replays one
//! failing interleaving step by step. Run with
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p gort-runtime --release --lib loom_idle`.

use crate::loom::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use crate::loom::{Condvar, Mutex};
use crate::proc::idle::{self, Locked, Scheduler, Variant};
use crate::proc::note::Note;
use crate::proc::runq::RunQ;
use loom::sync::Arc;
use std::collections::VecDeque;
use std::sync::atomic::{
    AtomicBool as PlainBool, AtomicU32 as PlainU32, AtomicUsize as PlainUsize,
    Ordering::Relaxed as Plain,
};
use tracing_subscriber::EnvFilter;

const NONE: usize = usize::MAX;
const P_IDLE: u32 = 0;
const P_RUNNING: u32 = 1;
const G_DEAD: u32 = 0;
const G_RUNNABLE: u32 = 1;
const G_RUNNING: u32 = 2;

/// GOMAXPROCS, the protocol variant, and whether `checkdead` judges (only in its
/// own model: no goroutine here ever waits, so it could only throw).
#[derive(Clone, Copy)]
struct Config {
    procs: usize,
    variant: Variant,
    checkdead: bool,
}

const TWO_P: Config = Config {
    procs: 2,
    variant: Variant::FAITHFUL,
    checkdead: false,
};
const ONE_P: Config = Config { procs: 1, ..TWO_P };
/// `cfg` with mechanisms switched off.
fn without(mut cfg: Config, f: impl FnOnce(&mut Variant)) -> Config {
    f(&mut cfg.variant);
    cfg
}

/// What a goroutine does when it runs: `go` the `spawns` from its P; with `hog`,
/// keep its M and P busy until they have run; with `main`, it is a
/// `Runtime::run` main goroutine (ends `nmain`, wakes its caller).
struct Work {
    spawns: &'static [usize],
    hog: bool,
    main: bool,
}

const fn work(spawns: &'static [usize], hog: bool, main: bool) -> Work {
    Work { spawns, hog, main }
}
const LEAF: Work = work(&[], false, false);
const MAIN: Work = work(&[], false, true);

#[derive(Default)]
struct P {
    /// `P_IDLE` (0) or `P_RUNNING`.
    status: AtomicU32,
    runq: RunQ<u32>,
    schedtick: PlainU32,
}

struct M {
    nextp: AtomicUsize,
    spinning: AtomicBool,
    park: Note,
    /// The P held: owner-only, as the runtime's `m.p`.
    p: PlainUsize,
}

/// Under `sched.lock`: Ms not started yet; `Runtime::drop` has taken `midle`.
struct Ext {
    unborn: Vec<usize>,
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
    external_inflight: AtomicU32,
    mcount: AtomicU32,
    nmain: AtomicU32,
    shutdown: AtomicBool,
    work: &'static [Work],
    gstatus: Vec<AtomicU32>,
    done: Vec<Note>,
    submitted: Vec<PlainU32>, // The oracles' state, from here on.
    executed: Vec<PlainU32>,
    /// Ms parked or unborn (`midle.len() + unborn.len()`).
    nidle: PlainUsize,
    hogging: PlainU32,
    main_done: PlainBool,
    /// Notified whenever the idle lists change, for `wait_quiescent`.
    quiet: Condvar,
}

/// The host: handles are indices into `allp`, `ms` and the goroutine table. Run
/// queue slots hold `g + 1` as a pointer that is never dereferenced. One line a
/// method, as a table of what each handle is.
#[rustfmt::skip]
impl Scheduler for Sched {
    type M = usize;
    type P = usize;
    type G = usize;
    type Item = u32;
    type Queue = VecDeque<usize>;
    type Ext = Ext;
    type MId = usize;

    idle::sched_fields!();
    fn gomaxprocs(&self) -> u32 { self.cfg.procs as u32 }
    fn p(&self, id: u32) -> usize { id as usize }
    fn p_id(&self, pp: usize) -> u32 { pp as u32 }
    fn shutting_down(&self) -> bool { self.shutdown.load(Ordering::SeqCst) }
    fn spinning(&self, m: usize) -> &AtomicBool { &self.ms[m].spinning }
    fn set_nextp(&self, m: usize, pp: usize) { self.ms[m].nextp.store(pp, Ordering::Release) }
    fn take_nextp(&self, m: usize) -> Option<usize> { Some(self.ms[m].nextp.swap(NONE, Ordering::Acquire)).filter(|&p| p != NONE) }
    fn m_p(&self, m: usize) -> Option<usize> { Some(self.ms[m].p.load(Plain)).filter(|&p| p != NONE) }
    fn releasep(&self, m: usize) -> usize { self.ms[m].p.swap(NONE, Plain) }
    fn park(&self, m: usize) { self.ms[m].park.sleep() }
    fn unpark(&self, m: usize) { self.ms[m].park.wake() }
    fn runq(&self, pp: usize) -> &RunQ<u32> { &self.allp[pp].runq }
    fn p_is_idle(&self, pp: usize) -> bool { self.allp[pp].status.load(Ordering::Acquire) == P_IDLE }
    fn p_set_idle(&self, pp: usize) { self.allp[pp].status.store(P_IDLE, Ordering::Release) }
    fn schedtick(&self, pp: usize) -> u32 { self.allp[pp].schedtick.load(Plain) }
    fn g_of(&self, item: *mut u32) -> usize { item as usize - 1 }
    fn item_of(&self, g: usize) -> *mut u32 { (g + 1) as *mut u32 }
    fn variant(&self) -> Variant { self.cfg.variant }

    fn acquirep(&self, m: usize, pp: usize) {
        self.allp[pp].status.store(P_RUNNING, Ordering::Release);
        self.ms[m].p.store(pp, Plain);
    }
    /// Takes an unborn M thread; counted in `mcount` under the lock, as the
    /// runtime's `reserve_m`.
    fn reserve_m(&self, l: &mut Locked<Sched>) -> usize {
        let id = l.unborn.pop().expect("model: newm needs more Ms than it has");
        self.mcount.fetch_add(1, Ordering::SeqCst);
        self.idle_changed(l);
        id
    }
    /// Wakes the reserved thread; the note's mutex is the spawn's happens-before.
    fn newm(&self, id: usize, pp: usize, spinning: bool) {
        self.ms[id].spinning.store(spinning, Ordering::Relaxed);
        self.ms[id].nextp.store(pp, Ordering::Relaxed);
        self.ms[id].park.wake();
    }
    /// The runtime's `checkdead`, less what the model has no part of (timers,
    /// locked Ms, stop-the-world). No goroutine here waits, so it only throws.
    fn checkdead(&self, l: &Locked<Sched>) {
        let running = self.mcount.load(Ordering::SeqCst) as usize > l.midle.len();
        if !self.cfg.checkdead || self.nmain.load(Ordering::SeqCst) == 0 || self.shutting_down()
            || running || self.external_inflight.load(Ordering::SeqCst) > 0 {
            return;
        }
        for (g, st) in self.gstatus.iter().enumerate() {
            let st = st.load(Ordering::Acquire);
            assert!(st != G_RUNNABLE && st != G_RUNNING, "checkdead: runnable g (goroutine {g} is {st})");
        }
    }
    /// Oracle: `M leaked`; when an M goes idle, `check_stuck` and `wait_quiescent`.
    fn idle_changed(&self, l: &Locked<Sched>) {
        assert!(!l.drained || l.midle.is_empty(), "M leaked: it parks on midle after Runtime::drop took the idle list");
        let idle = l.midle.len() + l.unborn.len();
        if self.nidle.swap(idle, Plain) < idle {
            self.check_stuck();
            self.quiet.notify_one();
        }
    }
}

fn each<T>(n: usize, f: impl Fn() -> T) -> Vec<T> {
    (0..n).map(|_| f()).collect()
}

impl Sched {
    fn new(cfg: Config, work: &'static [Work]) -> Sched {
        let (n, nms) = (work.len(), cfg.procs + 1);
        let ext = Ext {
            unborn: (0..nms).rev().collect(),
            drained: false,
        };
        let m = || M {
            nextp: AtomicUsize::new(NONE),
            spinning: AtomicBool::new(false),
            park: Note::new(),
            p: PlainUsize::new(NONE),
        };
        Sched {
            cfg,
            allp: each(cfg.procs, P::default),
            ms: each(nms, m),
            lock: Mutex::new(Locked::new(
                (0..cfg.procs).rev().collect(),
                VecDeque::new(),
                ext,
            )),
            runqsize: AtomicU32::new(0),
            npidle: AtomicU32::new(cfg.procs as u32),
            nmspinning: AtomicU32::new(0),
            needspinning: AtomicU32::new(0),
            external_inflight: AtomicU32::new(0),
            mcount: AtomicU32::new(0),
            nmain: AtomicU32::new(0),
            shutdown: AtomicBool::new(false),
            work,
            gstatus: each(n, || AtomicU32::new(G_DEAD)),
            done: each(n, Note::new),
            submitted: each(n, || PlainU32::new(0)),
            executed: each(n, || PlainU32::new(0)),
            nidle: PlainUsize::new(nms),
            hogging: PlainU32::new(0),
            main_done: PlainBool::new(false),
            quiet: Condvar::new(),
        }
    }

    fn cas_status(&self, g: usize, from: u32, to: u32) {
        let r = self.gstatus[g].compare_exchange(from, to, Ordering::AcqRel, Ordering::Acquire);
        assert!(
            r.is_ok(),
            "casgstatus: g{g} is {r:?}, wanted {from} -> {to}"
        );
    }

    /// `Dead → Runnable`, as for a fresh G.
    fn make_runnable(&self, g: usize) {
        self.submitted[g].fetch_add(1, Plain);
        self.cas_status(g, G_DEAD, G_RUNNABLE);
    }

    /// `ready()` from a plain thread (or `newproc_external`).
    fn inject(&self, g: usize) {
        idle::step!("ready: g{g} onto the global queue");
        idle::inject_external(self, g, || self.make_runnable(g));
    }

    /// `Runtime::run`: `g` is a main goroutine; blocks until it has returned.
    fn run_main(&self, g: usize) {
        self.nmain.fetch_add(1, Ordering::SeqCst);
        self.inject(g);
        self.done[g].sleep();
    }

    /// An M thread: asleep until `newm`, then `mstart` and `schedule`.
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
        idle::step!("execute: g{g} on P{pp}");
        self.cas_status(g, G_RUNNABLE, G_RUNNING);
        assert_eq!(self.executed[g].fetch_add(1, Plain), 0, "ran twice: {g}");
        let w = &self.work[g];
        for &c in w.spawns {
            // `newproc`: the child goes to this P's runnext.
            idle::step!("go: g{c} into P{pp}'s runnext");
            self.make_runnable(c);
            self.allp[pp].runq.put(self.item_of(c), true, self);
            idle::wakep(self);
        }
        if w.hog {
            self.hogging.fetch_add(1, Plain);
            self.check_stuck();
            w.spawns.iter().for_each(|&c| self.done[c].sleep());
            self.hogging.fetch_sub(1, Plain);
        }
        if w.main {
            self.nmain.fetch_sub(1, Ordering::SeqCst);
        }
        // Someone sleeps on `done[g]`: the `run` caller, or a hogging parent.
        if w.main || self.work.iter().any(|p| p.hog && p.spawns.contains(&g)) {
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
        for &c in self.work.iter().filter(|w| w.hog).flat_map(|w| w.spawns) {
            assert!(
                self.submitted[c].load(Plain) == 0 || self.executed[c].load(Plain) != 0,
                "lost wake-up: goroutine {c} is queued behind a busy P while every other M \
                 sleeps (nmspinning {})",
                self.nmspinning.load(Ordering::SeqCst),
            );
        }
    }

    /// Oracle: waits until every M is parked or unborn; then nothing may be queued,
    /// everything made runnable ran once, every P is idle and nobody spins.
    fn wait_quiescent(&self) {
        self.main_done.store(true, Plain);
        self.check_stuck();
        let mut l = self.lock.lock();
        while l.midle.len() + l.unborn.len() < self.ms.len() {
            self.quiet.wait(&mut l);
        }
        let queued = !l.runq.is_empty() || self.allp.iter().any(|p| !p.runq.is_empty());
        assert!(
            !queued,
            "lost wake-up: a goroutine is still queued while every M sleeps"
        );
        for g in 0..self.work.len() {
            let (sub, ex) = (self.submitted[g].load(Plain), self.executed[g].load(Plain));
            assert_eq!(sub, ex, "goroutine {g}: made runnable {sub} times, run");
        }
        assert_eq!(l.pidle.len(), self.cfg.procs, "a P is held by an idle M");
        assert_eq!(self.nmspinning.load(Ordering::SeqCst), 0, "nmspinning");
    }

    /// `Runtime::drop`: set `shutdown`, wake every idle M (and the unborn ones, so
    /// that their threads end).
    fn shutdown(&self) {
        self.shutdown.store(true, Ordering::SeqCst);
        let mut l = self.lock.lock();
        l.drained = true;
        let idle = [std::mem::take(&mut l.midle), std::mem::take(&mut l.unborn)].concat();
        drop(l);
        idle.into_iter().for_each(|m| self.ms[m].park.wake());
    }
}

/// Runs one model: the M threads, then the outside world's `script`, then
/// `Runtime::drop` and the joins. loom's preemption bound is raised to
/// `min_preemptions` when one is set.
fn check(min_preemptions: usize, cfg: Config, work: &'static [Work], script: &'static [Outside]) {
    let mut builder = loom::model::Builder::new();
    if let Some(b) = builder.preemption_bound {
        builder.preemption_bound = Some(b.max(min_preemptions));
    }
    let log = tracing_subscriber::fmt().with_env_filter(EnvFilter::from_env("LOOM_LOG"));
    let log = log.with_test_writer().without_time().with_ansi(false);
    let _log = tracing::subscriber::set_default(log.finish());
    builder.check(move || {
        let s = Arc::new(Sched::new(cfg, work));
        let ms: Vec<_> = (0..s.ms.len())
            .map(|id| (id, s.clone()))
            .map(|(id, s)| loom::thread::spawn(move || s.mstart(id)))
            .collect();
        for &act in script {
            match act {
                Ready(g) => s.inject(g),
                Run(g) => s.run_main(g),
                Quiesce => s.wait_quiescent(),
            }
        }
        s.shutdown();
        ms.into_iter().for_each(|m| m.join().unwrap());
    });
}

// ----- Scenarios: what the goroutines do, and what the outside world does. -----

static TWO_LEAVES: [Work; 2] = [LEAF, LEAF];
/// A goroutine that `go`es two children and returns.
static GO_TWO: [Work; 3] = [work(&[1, 2], false, false), LEAF, LEAF];
/// A goroutine that `go`es a child and keeps its P busy until the child ran.
static HOG: [Work; 2] = [work(&[1], true, false), LEAF];
/// The same, while a goroutine from outside keeps the other P busy a while.
static HOG_AND_OTHER: [Work; 3] = [work(&[2], true, false), LEAF, LEAF];
static ONE_MAIN: [Work; 1] = [MAIN];
static TWO_MAINS: [Work; 2] = [MAIN, MAIN];

/// The outside world: `ready()` goroutine `n` from a plain thread, `run` it as a
/// main goroutine (and wait for it), or wait until every M sleeps and check the
/// end state (`wait_quiescent`).
#[derive(Clone, Copy)]
enum Outside {
    Ready(usize),
    Run(usize),
    Quiesce,
}
use Outside::{Quiesce, Ready, Run};
const READY_FIRST: &[Outside] = &[Ready(0), Quiesce];
const READY_TWO: &[Outside] = &[Ready(0), Ready(1), Quiesce];

/// A loom model per line: `name: check(arguments)`, with its doc and attributes.
macro_rules! models {
    ($($(#[$attr:meta])* $name:ident: $($arg:expr),+;)*) => {
        $($(#[$attr])* #[test] fn $name() { check($($arg),+) })*
    };
}

models! {
    // ----- The protocol as the runtime runs it: must pass. -----

    /// Two goroutines from outside on one P: `inject_external` → `wakep` against the
    /// last spinning M's re-check; `newm` racing `stopm`.
    loom_idle_external_ready_1p: 0, ONE_P, &TWO_LEAVES, READY_TWO;
    /// The same on two Ps: `wakep` from `reset_spinning`, two spinning Ms releasing
    /// Ps, a re-check taking a P back, hand-offs to `mreleasing`.
    loom_idle_external_ready_2p: 0, TWO_P, &TWO_LEAVES, READY_TWO;
    /// Two children into `runnext` (the second pushes the first to the ring): each
    /// runs exactly once, whoever takes it.
    loom_idle_go_from_goroutine: 0, TWO_P, &GO_TWO, READY_FIRST;
    /// No lost parallelism: the other P gets an M for the hog's child.
    loom_idle_go_hog: 0, TWO_P, &HOG, READY_FIRST;
    /// The same while the other P's M is busy: the case `needspinning` exists for.
    loom_idle_go_hog_other_p_busy: 0, TWO_P, &HOG_AND_OTHER, READY_TWO;
    /// The global queue needs neither fence: it is filled under `sched.lock`, where
    /// the last spinning M also drops `nmspinning`.
    loom_idle_global_queue_needs_no_fence_under_the_lock:
        0, without(ONE_P, |v| (v.fence_recheck, v.fence_wakep) = (false, false)), &TWO_LEAVES,
        READY_TWO;

    // ----- Each mechanism is needed: without it loom finds the failure. -----

    /// No fence in `recheck`: the last spinning M's `check_runqs_no_p` misses the
    /// child in the busy P's `runnext`, while the hog's `wakep` still saw it spin.
    #[should_panic(expected = "queued behind a busy P")]
    loom_idle_no_recheck_fence_loses_local_wakeup:
        0, without(TWO_P, |v| v.fence_recheck = false), &HOG, READY_FIRST;
    /// No fence in `wakep`: the mirror image; the hog reads `nmspinning` before its
    /// `runnext` store is visible to the re-checking M.
    #[should_panic(expected = "queued behind a busy P")]
    loom_idle_no_wakep_fence_loses_local_wakeup:
        0, without(TWO_P, |v| v.fence_wakep = false), &HOG, READY_FIRST;
    /// No `check_runqs_no_p`: the last spinning M never looks at the busy P's
    /// `runnext`, which `wakep` left to it.
    #[should_panic(expected = "queued behind a busy P")]
    loom_idle_no_check_runqs_no_p_loses_wakeup:
        0, without(TWO_P, |v| v.check_runqs_no_p = false), &HOG, READY_FIRST;
    /// No `needspinning`: the hog's `wakep` finds no idle P (the other M holds it and
    /// did not steal, another M still counting as spinning); nobody is told to look
    /// again, and that M gives its P back and sleeps. Needs 3 preemptions.
    #[should_panic(expected = "queued behind a busy P")]
    loom_idle_no_needspinning_loses_wakeup:
        3, without(TWO_P, |v| v.needspinning = false), &HOG_AND_OTHER, READY_TWO;
    /// A listed M that ignores the hand-off as it leaves `mreleasing`: `startm` gave
    /// it a P, it parks as if nobody had, and the P is neither idle nor run.
    #[should_panic(expected = "a P is held by an idle M")]
    loom_idle_releasing_m_ignoring_handoff_loses_p:
        0, without(TWO_P, |v| v.releasing_takes_handoff = false), &TWO_LEAVES, READY_TWO;

    // ----- Shutdown and checkdead. -----

    /// `Runtime::drop` right after `run` returns, racing the M that ran the main
    /// goroutine on its way to `stopm`: no M is left parked.
    loom_idle_drop_right_after_run: 0, ONE_P, &ONE_MAIN, &[Run(0)];
    /// No `shutdown` check in `stopm` under `sched.lock`: the M passes the one at the
    /// top of `find_runnable`, `drop` empties `midle`, the M parks there for ever.
    #[should_panic(expected = "M leaked")]
    loom_idle_no_stopm_shutdown_check_leaks_m:
        0, without(ONE_P, |v| v.stopm_checks_shutdown = false), &ONE_MAIN, &[Run(0)];
    /// `checkdead` never judges a goroutine lost while it is handed over: a new M
    /// counts in `mcount` from `reserve_m`, under `sched.lock` (Go's `mReserveID`),
    /// and the last injection in flight judges under the lock. Needs 3 preemptions.
    loom_idle_checkdead_never_sees_a_handover:
        3, Config { checkdead: true, ..ONE_P }, &TWO_MAINS, &[Run(0), Run(1), Quiesce];
}
