//! The scheduler: `schedule`, `execute`, `newproc`, `gopark`/`ready`,
//! `injectglist`, the gFree lists, `newm`/`mstart`, and `checkdead`; and the host
//! of `idle.rs`, where `findRunnable`, work stealing, spinning Ms, `wakep` and
//! `startm`/`stopm` live.
//!
//! Models `runtime/proc.go`. Read that file's header beside this one; the names
//! match.
//!
//! # Glossary
//!
//! - **G**, a goroutine (`g.rs`). **M**, an OS thread (`m.rs`). **P**, a processor:
//!   the right to run goroutines, with a local run queue (`p.rs`, `runq.rs`). There
//!   are GOMAXPROCS Ps; an M runs goroutines only while it holds one.
//! - **g0**: each M's own thread stack, where this file's functions run. A
//!   goroutine never runs the scheduler on its stack: it switches to g0 first.
//!
//! # One round, top to bottom
//!
//! `go(f)` → [`newproc`]: take a dead G from the P's gFree list (or make one), move
//! the closure onto its stack, put it in the P's `runnext` (the old `runnext` goes to
//! the ring; a full ring spills half to the global queue), then [`wakep`] in case an
//! idle P could run something. An M loops in [`schedule`]: `find_runnable` then
//! [`execute`], which switches to the G. When the G parks, yields or returns it
//! switches back to g0 with an `After` note (Go's `mcall`), `execute` finishes that
//! job (`park_m`, `gosched_m`, `goexit0` → `gfput`) and the loop goes round.
//!
//! [`idle::find_runnable`] looks, in Go's order (the numbered steps of
//! `docs/scheduler.md` §4): shutdown; a pending stop-the-world; this P's timers;
//! every 61st schedule the global queue first (so a P busy with its own queue
//! still serves the global one); `runnext` and the local ring; a batch from the
//! global queue; a non-blocking network poll; then, if few enough Ms are already
//! spinning, steal from the other Ps (four passes in random order, `runnext` only
//! on the last); then give the P back, look once more, poll or park.
//!
//! # Why spinning Ms: the designs Go rejected
//!
//! The scheduler has to spread runnable goroutines over threads, keeping every P
//! busy while there is work, without waking threads that will find nothing.
//! Three simpler designs fail at that. One lock around all scheduler state (a
//! single run queue and idle list) serialises every `go` and every park on one
//! cache line, so the scheduler stops scaling past a few cores. Handing a readied
//! goroutine straight to an idle thread loses locality (the readier, about to
//! block, usually is the best thread to run it) and makes threads flip between
//! sleeping and running with each hand-off. Waking an extra thread for every
//! goroutine readied while a P is idle keeps the CPUs busy, but most such threads
//! find the work already taken and go back to sleep: a park/unpark storm.
//!
//! Go's answer, and gort's: an M *spins* while it looks for work it has not found
//! (the queues, other Ps' queues, timers, the poller). A readier wakes a new M only
//! if a P is idle and no M is spinning (`wakep`); a spinning M that finds work
//! stops spinning and wakes the next one (`resetspinning`). Bursts of readiness
//! then start threads one at a time, each justified by work the previous one
//! found, and yet any runnable goroutine with an idle P gets an M. The price is
//! the transition out of spinning, where a wake-up can be lost; `idle.rs` states
//! that protocol once, and the loom model runs it.
//!
//! # The idle half lives in `idle.rs`
//!
//! `find_runnable`, `stealWork`, `wakep`, `startm`, `stopm`, the idle P and M
//! lists, `nmspinning`/`needspinning` and gort's `mreleasing` hand-off are in
//! [`idle`], written once and generic over a host, so that loom checks the code
//! every M runs (`idle_model.rs`). This file is the host: `impl idle::Scheduler
//! for Sched` supplies the handles and the parts loom cannot run (stop-the-world,
//! timers, the poller's step 10 in [`poll_network`], thread creation in [`newm`],
//! [`checkdead`]).
//!
//! # The network poller
//!
//! [`idle::find_runnable`] polls sockets (`netpoll/`) where Go does: non-blocking after
//! the global queue, and — for the one idle M that claims the poller — blocking
//! until an event, the earliest timer or a break, instead of parking. What a poll
//! readies goes through [`injectglist`].
//!
//! # What is not here
//!
//! GOMAXPROCS is fixed for a runtime's life (no `procresize` after start).

use crate::env::Settings;
use crate::loom::atomic::{AtomicBool, AtomicI64, AtomicPtr, AtomicU32, AtomicU64, Ordering};
use crate::loom::Mutex;
use crate::proc::g::{GFree, GQueue, Status, WaitReason, G};
use crate::proc::idle::{self, Polled};
use crate::proc::m::{getm, set_current_m, After, UnlockF, M};
use crate::proc::note::Note;
use crate::proc::p::{PStatus, GFREE_LOCAL_KEEP, GFREE_LOCAL_MAX, P};
use crate::proc::runq::RunQ;
use crate::proc::{lockos, syscall};
use crate::stack::Stack;
use std::time::{Duration, Instant};

pub(crate) use crate::proc::idle::wakep;

/// Most M threads a runtime may have (`sched.maxmcount`).
const MAX_MCOUNT: u32 = 10_000;

/// The runtime-wide scheduler state (Go's `schedt` plus `allp`, `allm`, `allgs`).
pub(crate) struct Sched {
    /// All Ps, index = id. Fixed at start.
    pub(crate) allp: &'static [P],
    pub(crate) gomaxprocs: u32,
    /// Step sizes coprime with gomaxprocs, for random steal order (`stealOrder`).
    coprimes: Vec<u32>,
    pub(crate) settings: Settings,
    /// `sched.lock`: the global run queue, idle Ps, idle Ms, stop-the-world count.
    pub(crate) lock: Mutex<Locked>,
    /// Mirror of `lock.runq.size`, read without the lock as a hint.
    pub(crate) runqsize: AtomicU32,
    /// Idle Ps (length of `lock.pidle`), readable without the lock.
    pub(crate) npidle: AtomicU32,
    /// Ms spinning (looking for work).
    pub(crate) nmspinning: AtomicU32,
    /// Set when `wakep` wanted a spinning M but found no idle P.
    pub(crate) needspinning: AtomicU32,
    /// Source of goroutine ids (`sched.goidgen`).
    pub(crate) goidgen: AtomicU64,
    /// Stop-the-world pending: Ms must halt at their next scheduling point.
    pub(crate) gcwaiting: AtomicBool,
    /// Woken when the last P stops for stop-the-world.
    pub(crate) stopnote: Note,
    /// Serialises stop-the-world callers (Go's `worldsema`). A semaphore that parks
    /// the goroutine, not a thread lock: a second stopper blocked on a thread lock
    /// would hold its P forever and the first stopper would wait for it forever.
    pub(crate) worldsema: crate::sync::Semaphore,
    /// Every G ever made by this runtime (`allgs`).
    pub(crate) allgs: parking_lot::Mutex<Vec<&'static G>>,
    /// Every M (`allm`), sysmon's included.
    pub(crate) allm: parking_lot::Mutex<Vec<&'static M>>,
    /// M threads alive and not exited (sysmon excluded): Go's `mcount() - nmsys`.
    pub(crate) mcount: AtomicU32,
    /// Live user goroutines (`gcount`).
    /// Goroutines started from outside the runtime (main goroutines). The rest are
    /// counted per P (`P::gcount`): see [`Sched::gcount`].
    pub(crate) ngoroutines_ext: AtomicI64,
    /// The global gFree list (`sched.gFree`), with its own lock as in Go.
    pub(crate) gfree: parking_lot::Mutex<GFree>,
    /// Go's `runningPanicDefers`, for this runtime: its `go` goroutines (whose
    /// panics are fatal) unwinding a panic not yet reported or found recovered
    /// (`panic.rs`).
    pub(crate) running_panic_defers: AtomicU32,
    /// Main goroutines parked until `running_panic_defers` drops to zero.
    pub(crate) panic_waiters: parking_lot::Mutex<Vec<&'static G>>,
    /// Main goroutines currently running (`Runtime::run` calls in progress).
    pub(crate) nmain: AtomicI64,
    /// Threads outside the runtime between making a G runnable and finishing the
    /// `wakep` that gets an M to run it. Changed under `lock`; `checkdead` does not
    /// judge while it is non-zero (Go has no outside threads; gort's `run` and
    /// wake-ups from plain threads are).
    pub(crate) external_inflight: AtomicU32,
    /// Set when the runtime is dropped: Ms exit at their next scheduling point.
    pub(crate) shutdown: AtomicBool,
    /// When the runtime started (schedtrace's clock).
    pub(crate) start: Instant,
    /// sysmon sleeps here; woken by shutdown and when work appears while it sleeps
    /// deeply (`sysmonwait`).
    pub(crate) sysmonnote: Note,
    pub(crate) sysmonwait: AtomicBool,
    /// The sysmon M, once started.
    pub(crate) sysmon_m: AtomicPtr<M>,
    /// When the poller last ran, in nanotime; 0 while an M is blocked in it
    /// (`sched.lastpoll`). "The poller" is the one idle M that waits in epoll
    /// (sockets, and the earliest timer) instead of parking indefinitely.
    pub(crate) lastpoll: AtomicI64,
    /// When the M blocked in the poller will wake by itself, 0 if none
    /// (`sched.pollUntil`).
    pub(crate) poll_until: AtomicI64,
    /// The network poller (`netpoll/`), made on first need.
    pub(crate) netpoll: std::sync::OnceLock<crate::netpoll::Netpoll>,
    /// When the last collection started (nanotime); sysmon forces one after 2
    /// minutes without.
    pub(crate) last_gc: AtomicU64,
    /// Collections sysmon asked for (`forcegc`): counted here; nothing collects yet.
    pub(crate) forced_gcs: AtomicU64,
}

/// What `sched.lock` guards: the global run queue and the idle lists
/// ([`idle::Locked`]), and through it the fields below.
pub(crate) type Locked = idle::Locked<Sched>;

/// The runtime's own fields under `sched.lock`, beside the idle lists.
pub(crate) struct SchedLocked {
    /// Ps still to stop for a pending stop-the-world (`sched.stopwait`).
    pub(crate) stopwait: i32,
    /// Next M id (`sched.mnext`).
    pub(crate) mnext: i64,
    /// Ms parked in `stoplockedm` because the goroutine locked to them is not
    /// runnable; `checkdead` does not count them as running. Go keeps only the
    /// count, `sched.nmidlelocked` (this list's length); the list also tells
    /// `startlockedm` whether the M it hands a P to has counted itself yet
    /// (`lockos.rs`), so the count never dips below zero.
    pub(crate) midlelocked: Vec<&'static M>,
}

impl idle::GlobalQueue<&'static G> for GQueue {
    fn enqueue(&mut self, g: &'static G) {
        self.push_back(g.as_ptr());
    }
    fn dequeue(&mut self) -> Option<&'static G> {
        self.pop_front()
    }
    fn size(&self) -> u32 {
        self.size
    }
}

/// The runtime as a host of the idle/wake protocol (`idle.rs`): handles are the
/// leaked M, P and G structs, and the hooks reach the parts loom does not run.
impl idle::Scheduler for Sched {
    type M = &'static M;
    type P = &'static P;
    type G = &'static G;
    type Item = G;
    type Queue = GQueue;
    type Ext = SchedLocked;
    type MId = i64;

    idle::sched_fields!();

    fn gomaxprocs(&self) -> u32 {
        self.gomaxprocs
    }
    fn p(&self, id: u32) -> &'static P {
        &self.allp[id as usize]
    }
    fn p_id(&self, pp: &'static P) -> u32 {
        pp.id
    }
    fn shutting_down(&self) -> bool {
        self.shutdown.load(Ordering::SeqCst)
    }

    fn spinning(&self, m: &'static M) -> &AtomicBool {
        &m.spinning
    }
    fn set_nextp(&self, m: &'static M, pp: &'static P) {
        m.nextp.store(pp as *const P as *mut P, Ordering::Release);
    }
    fn take_nextp(&self, m: &'static M) -> Option<&'static P> {
        let pp = m.nextp.swap(std::ptr::null_mut(), Ordering::Acquire);
        // SAFETY: `nextp` is null or a P of the leaked allp.
        (!pp.is_null()).then(|| unsafe { &*pp })
    }
    fn m_p(&self, m: &'static M) -> Option<&'static P> {
        m.p()
    }
    fn acquirep(&self, m: &'static M, pp: &'static P) {
        acquirep(m, pp);
    }
    fn releasep(&self, m: &'static M) -> &'static P {
        releasep(m)
    }
    fn park(&self, m: &'static M) {
        m.park();
    }
    fn unpark(&self, m: &'static M) {
        m.park.wake();
    }
    fn runq(&self, pp: &'static P) -> &RunQ<G> {
        &pp.runq
    }
    fn p_is_idle(&self, pp: &'static P) -> bool {
        pp.status() == PStatus::Idle
    }
    fn p_set_idle(&self, pp: &'static P) {
        pp.set_status(PStatus::Idle);
    }
    fn schedtick(&self, pp: &'static P) -> u32 {
        pp.schedtick.load(Ordering::Relaxed)
    }
    fn g_of(&self, item: *mut G) -> &'static G {
        // SAFETY: run queues hold pointers to live Gs (Gs are never freed).
        unsafe { G::from_ptr(item) }
    }
    fn item_of(&self, g: &'static G) -> *mut G {
        g.as_ptr()
    }

    fn reserve_m(&self, l: &mut Locked) -> i64 {
        let id = l.mnext;
        l.mnext += 1;
        if self.mcount.fetch_add(1, Ordering::SeqCst) + 1 > MAX_MCOUNT {
            // `checkmcount`: threads only multiply this far when something is badly
            // wrong (every goroutine stuck in a blocking call).
            crate::panic::print_stderr(&format!(
                "runtime: program exceeds {MAX_MCOUNT}-thread limit\n"
            ));
            crate::panic::fatal("thread exhaustion");
        }
        id
    }
    fn newm(&self, id: i64, pp: &'static P, spinning: bool) {
        newm(self.leak_ref(), id, pp, spinning);
    }
    fn checkdead(&self, l: &Locked) {
        checkdead(self, l);
    }

    fn pidle_taken(&self, _l: &mut Locked) {
        // A P is about to run: if sysmon sleeps deeply (it decided so under this
        // lock), wake it so that preemption and schedtrace resume.
        if self.sysmonwait.load(Ordering::Relaxed) {
            self.sysmonwait.store(false, Ordering::Relaxed);
            self.sysmonnote.wake();
        }
    }
    fn gcwaiting(&self) -> bool {
        self.gcwaiting.load(Ordering::Acquire)
    }
    fn gcstopm(&self, m: &'static M) {
        crate::stw::gcstopm(m);
    }
    fn check_timers(&self, pp: &'static P) {
        // Two atomic loads when no timer is due.
        if pp.timers.wake_time() != 0 {
            pp.timers.check(self.nanotime() as i64);
        }
    }
    fn poll_nonblocking(&self) -> Option<&'static G> {
        // Only if goroutines wait on sockets and no M is blocked in the poller
        // already (it will deliver them).
        if !crate::netpoll::any_waiters(self) || self.lastpoll.load(Ordering::SeqCst) == 0 {
            return None;
        }
        let (list, delta) = crate::netpoll::netpoll(self, 0);
        run_one_inject_rest(self, list, delta)
    }
    fn steal_order(&self, m: &'static M) -> (u32, u32) {
        let n = self.gomaxprocs;
        let r = m.cheaprand();
        let step = self.coprimes[(r as usize / n as usize) % self.coprimes.len()];
        (r % n, step)
    }
    fn steal_timers(&self, victim: &'static P, now: &mut i64) -> bool {
        if victim.timers.wake_time() == 0 {
            return false;
        }
        if *now == 0 {
            *now = self.nanotime() as i64;
        }
        victim.timers.check(*now)
    }
    fn before_runnext(&self, victim: &'static P) {
        if victim.status() == PStatus::Running {
            std::thread::sleep(Duration::from_micros(3));
        }
    }
    fn poll(&self, m: &'static M, was_spinning: bool) -> Polled<&'static G> {
        poll_network(self, m, was_spinning)
    }
}

impl Sched {
    /// Builds the scheduler with every P idle and no M yet (Go's `schedinit` +
    /// `procresize`). Leaked: Gs, Ms and Ps point at it for the life of the process.
    pub(crate) fn new(settings: Settings) -> &'static Sched {
        let n = settings.gomaxprocs;
        let coprimes = (1..=n).filter(|&i| gcd(i, n) == 1).collect();
        let allp_ref: &'static [P] = Box::leak((0..n).map(P::new).collect());
        Box::leak(Box::new(Sched {
            allp: allp_ref,
            gomaxprocs: n,
            coprimes,
            settings,
            lock: Mutex::new(Locked::new(
                // Popped from the back: P0 is handed out first.
                allp_ref.iter().rev().collect(),
                GQueue::new(),
                SchedLocked {
                    stopwait: 0,
                    mnext: 0,
                    midlelocked: Vec::new(),
                },
            )),
            runqsize: AtomicU32::new(0),
            npidle: AtomicU32::new(n),
            nmspinning: AtomicU32::new(0),
            needspinning: AtomicU32::new(0),
            goidgen: AtomicU64::new(0),
            gcwaiting: AtomicBool::new(false),
            stopnote: Note::new(),
            worldsema: crate::sync::Semaphore::new(1),
            allgs: parking_lot::Mutex::new(Vec::new()),
            allm: parking_lot::Mutex::new(Vec::new()),
            mcount: AtomicU32::new(0),
            ngoroutines_ext: AtomicI64::new(0),
            gfree: parking_lot::Mutex::new(GFree::new()),
            running_panic_defers: AtomicU32::new(0),
            panic_waiters: parking_lot::Mutex::new(Vec::new()),
            nmain: AtomicI64::new(0),
            external_inflight: AtomicU32::new(0),
            shutdown: AtomicBool::new(false),
            start: Instant::now(),
            sysmonnote: Note::new(),
            sysmonwait: AtomicBool::new(false),
            sysmon_m: AtomicPtr::new(std::ptr::null_mut()),
            lastpoll: AtomicI64::new(1),
            poll_until: AtomicI64::new(0),
            netpoll: std::sync::OnceLock::new(),
            last_gc: AtomicU64::new(0),
            forced_gcs: AtomicU64::new(0),
        }))
    }

    /// Live user goroutines (Go's `gcount`). Each P counts the goroutines started
    /// and ended on it (a goroutine may start on one P and end on another, so one
    /// P's count can be negative); the sum is exact when nothing is starting or
    /// ending, approximate otherwise — as Go's is. Per-P counters keep a shared
    /// cache line out of every spawn and exit.
    pub(crate) fn gcount(&self) -> usize {
        let per_p: i64 = self
            .allp
            .iter()
            .map(|p| p.gcount.load(Ordering::Relaxed))
            .sum();
        (per_p + self.ngoroutines_ext.load(Ordering::Relaxed)).max(0) as usize
    }

    /// Nanoseconds since the runtime started (Go's `nanotime`, rebased).
    pub(crate) fn nanotime(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }

    /// `globrunqput`: appends `gp` to the global queue.
    pub(crate) fn globrunqput(&self, gp: &'static G) {
        idle::globrunqput(self, &mut self.lock.lock(), gp);
    }

    /// `self` with the `'static` lifetime it has (every Sched is leaked).
    pub(crate) fn leak_ref(&self) -> &'static Sched {
        // SAFETY: Sched values are only ever created by `Sched::new`, which leaks them.
        unsafe { &*(self as *const Sched) }
    }

    /// Returns the stacks of exited goroutines to the heap, their memory to the
    /// OS, once no M of a shut-down runtime is left to use them.
    pub(crate) fn reclaim_stacks(&self) {
        if !self.shutdown.load(Ordering::SeqCst) {
            return;
        }
        if let Some(np) = self.netpoll.get() {
            np.close();
        }
        let mut gfree = self.gfree.lock();
        let mut stacks = Vec::new();
        for g in self.allgs.lock().iter() {
            // The claim frees the G's stack exactly once, against a second call
            // here and against `free_g_stacks`.
            if g.claim_dead() {
                let st = g.stack();
                if st != Stack::EMPTY {
                    stacks.push(st);
                    g.set_stack(Stack::EMPTY);
                }
            }
        }
        *gfree = GFree::new();
        drop(gfree);
        // SAFETY: each stack belonged to a dead G claimed above (no goroutine runs
        // on it, and the G is off every list and never reused: the runtime is shut
        // down), and the claim makes this the only place that frees it.
        unsafe { crate::stack::stackfree_all(stacks) };
    }

    /// Makes `gp` runnable from a thread that is not one of this runtime's Ms:
    /// moves it from `from` to `Runnable` and onto the global queue, then wakes an
    /// M ([`idle::inject_external`]).
    pub(crate) fn inject_external(&self, gp: &'static G, from: Status) {
        idle::inject_external(self, gp, || gp.cas_status(from, Status::Runnable));
    }
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

// ---------------------------------------------------------------------------------
// Ms: start and stop. (`wakep`, `startm`, `stopm` and the idle lists are in
// `idle.rs`, shared with the loom model.)

/// `startm` for callers outside the idle protocol (system calls, stop-the-world,
/// locked threads): runs `pp` (or any idle P) on an M. See [`idle::startm`].
pub(crate) fn startm(sched: &Sched, pp: Option<&'static P>, spinning: bool) {
    let _ = idle::startm(sched, pp, spinning);
}

/// `newm` + `mstart`: a new OS thread that starts scheduling on `pp`. The caller
/// has counted it in `mcount` already (under `sched.lock`, `reserve_m`).
fn newm(sched: &'static Sched, id: i64, pp: &'static P, spinning: bool) {
    let m = M::new(id, sched);
    m.spinning.store(spinning, Ordering::Relaxed);
    m.nextp.store(pp as *const P as *mut P, Ordering::Relaxed);
    sched.allm.lock().push(m);
    let r = std::thread::Builder::new()
        .name(format!("gort-m{id}"))
        // g0's stack: the scheduler, panic reports and backtraces run here.
        .stack_size(8 << 20)
        .spawn(move || mstart(m));
    if let Err(e) = r {
        crate::panic::fatal(&format!("newm: cannot create an OS thread: {e}"));
    }
}

/// `mstart`: the body of every M thread.
fn mstart(m: &'static M) {
    set_current_m(Some(m));
    crate::signal::install_for_thread();
    let pp = m.nextp.swap(std::ptr::null_mut(), Ordering::Acquire);
    if !pp.is_null() {
        // SAFETY: Ps live in the leaked allp.
        acquirep(m, unsafe { &*pp });
    }
    schedule(m);
    set_current_m(None);
    m_exited(m.sched);
}

/// Called as an M thread ends: a thread whose locked goroutine exited, or one
/// leaving a shut-down runtime (the last of those reclaims the stacks).
fn m_exited(sched: &Sched) {
    if !sched.shutdown.load(Ordering::SeqCst) {
        // A thread whose locked goroutine exited (`mexit`): one running M fewer,
        // so judge as an M going idle would (under the lock checkdead reads).
        let l = sched.lock.lock();
        sched.mcount.fetch_sub(1, Ordering::SeqCst);
        checkdead(sched, &l);
        return;
    }
    if sched.mcount.fetch_sub(1, Ordering::SeqCst) == 1 {
        sched.reclaim_stacks();
    }
}

/// `acquirep`: this M now holds `pp`.
pub(crate) fn acquirep(m: &'static M, pp: &'static P) {
    pp.m.store(m.as_ptr(), Ordering::Relaxed);
    pp.set_status(PStatus::Running);
    m.p.store(pp as *const P as *mut P, Ordering::Release);
}

/// `releasep`: this M gives up its P.
pub(crate) fn releasep(m: &M) -> &'static P {
    let pp = m.p().expect("releasep: no P");
    pp.m.store(std::ptr::null_mut(), Ordering::Relaxed);
    m.p.store(std::ptr::null_mut(), Ordering::Release);
    pp
}

// ---------------------------------------------------------------------------------
// The loop.

/// `schedule`: find a runnable goroutine and run it, forever (until shutdown).
fn schedule(m: &'static M) {
    let sched = m.sched;
    loop {
        if m.exiting.get() {
            // The goroutine locked to this thread exited while locked.
            return;
        }
        if let Some(lg) = lockos::lockedg(m) {
            // Our goroutine is locked to us: wait for it, running nothing else.
            if !lockos::stoplockedm(m) {
                return;
            }
            execute(m, lg, false);
            continue;
        }
        let Some((gp, inherit)) = idle::find_runnable(sched, m) else {
            return;
        };
        if m.spinning.load(Ordering::Relaxed) {
            idle::reset_spinning(sched, m);
        }
        if let Some(lm) = lockos::lockedm(gp) {
            if !std::ptr::eq(lm, m) {
                // Locked to another M: give it our P; we go idle.
                lockos::startlockedm(m, gp, lm);
                continue;
            }
        }
        execute(m, gp, inherit);
    }
}

/// Step 10 of `find_runnable`: if goroutines wait on sockets or any P has timers,
/// and no other M is in the poller, this M (without a P, listed in `mreleasing`)
/// blocks in epoll until an event, the earliest timer or a break
/// (`netpoll(delay)`). Otherwise it lets the caller park it, after making sure the
/// M in the poller wakes by this P's earliest timer.
fn poll_network(sched: &Sched, m: &'static M, was_spinning: bool) -> Polled<&'static G> {
    let poll_until = crate::time::timers_wake_time(sched);
    let wanted = crate::netpoll::any_waiters(sched) || poll_until != 0;
    if !wanted || sched.lastpoll.swap(0, Ordering::SeqCst) == 0 {
        if poll_until != 0 {
            // Another M waits in the poller: make sure it wakes by our deadline.
            let pu = sched.poll_until.load(Ordering::SeqCst);
            if pu == 0 || pu > poll_until {
                crate::netpoll::netpoll_break(sched);
            }
        }
        return Polled::Skipped;
    }
    // This M is the poller. Off the list before blocking in epoll; a P handed
    // meanwhile is run instead, and the poller is left for another M.
    if let Some(pp) = idle::unlist_or_handed(sched, &mut sched.lock.lock(), m) {
        sched
            .lastpoll
            .store((sched.nanotime() as i64).max(1), Ordering::SeqCst);
        acquirep(m, pp);
        return Polled::Again;
    }
    sched.poll_until.store(poll_until, Ordering::SeqCst);
    let now = sched.nanotime() as i64;
    let delay = if sched.shutdown.load(Ordering::SeqCst) {
        0
    } else if poll_until != 0 {
        (poll_until - now).max(0)
    } else {
        -1
    };
    if delay != 0 {
        // Made here if this is the first wait (a timer): a break sent before now
        // must find a poller to wake. Without one this M could only spin, so
        // failing is fatal, as Go's `netpollinit` is.
        if let Err(e) = crate::netpoll::Netpoll::get_or_init(sched) {
            crate::panic::throw(&format!("runtime: netpollinit failed: {e}"));
        }
    }
    let (mut list, delta) = if delay == 0 && !crate::netpoll::any_waiters(sched) {
        (GQueue::new(), 0)
    } else {
        crate::netpoll::netpoll(sched, delay)
    };
    sched.poll_until.store(0, Ordering::SeqCst);
    let pp = {
        let mut l = sched.lock.lock();
        let pp = idle::pidleget(sched, &mut l);
        if pp.is_none() {
            // Listed again while it hands out what it polled: this M is the one
            // `startm` should find, not a new thread.
            idle::list(&mut l, m);
        }
        pp
    };
    // Go stores `lastpoll` before taking a P; gort after, so that another M can
    // claim the poller only once this one holds a P or is listed: then every M
    // without a P is listed, parked or the one poller, and a runtime without
    // system calls never has more than GOMAXPROCS + 1 Ms.
    sched
        .lastpoll
        .store((sched.nanotime() as i64).max(1), Ordering::SeqCst);
    match pp {
        None => {
            injectglist(sched, &mut list);
            crate::netpoll::adjust_waiters(sched, delta);
            idle::stopm_released(sched, m);
        }
        Some(pp) => {
            acquirep(m, pp);
            if let Some(gp) = run_one_inject_rest(sched, list, delta) {
                return Polled::Found(gp);
            }
            // Go's `wasSpinning`: an M that was spinning before it slept goes on
            // looking for work as a spinning M.
            if was_spinning {
                idle::become_spinning(sched, m);
            }
        }
    }
    Polled::Again
}

/// What a poll returned, with a P in hand: the first goroutine to run on this M
/// now, the rest injected; then the waiter count drops by all `delta` of them.
fn run_one_inject_rest(sched: &Sched, mut list: GQueue, delta: i32) -> Option<&'static G> {
    let gp = list.pop_front()?;
    injectglist(sched, &mut list);
    crate::netpoll::adjust_waiters(sched, delta);
    gp.cas_status(Status::Waiting, Status::Runnable);
    Some(gp)
}

/// `injectglist`: makes the goroutines in `list` (parked, `Waiting`) runnable.
/// With a P, as many as there are idle Ps go to the global queue with an M
/// started for each, the rest to this P's queue; without one (the poller M
/// found no P, or sysmon), all go to the global queue and Ms start on idle Ps.
pub(crate) fn injectglist(sched: &Sched, list: &mut GQueue) {
    if list.is_empty() {
        return;
    }
    let pp = getm()
        .filter(|m| std::ptr::eq(m.sched, sched))
        .and_then(|m| m.p());
    let Some(pp) = pp else {
        let n = list.size;
        {
            let mut l = sched.lock.lock();
            while let Some(gp) = list.pop_front() {
                gp.cas_status(Status::Waiting, Status::Runnable);
                idle::globrunqput(sched, &mut l, gp);
            }
            // Counted in flight until the Ms are started, as `inject_external`
            // does, so an M going idle meanwhile does not judge a deadlock.
            sched.external_inflight.fetch_add(1, Ordering::SeqCst);
        }
        start_idle(sched, n);
        idle::end_injection(sched);
        return;
    };
    let npidle = sched.npidle.load(Ordering::SeqCst);
    let mut n = 0;
    if npidle > 0 {
        let mut l = sched.lock.lock();
        while n < npidle {
            let Some(gp) = list.pop_front() else { break };
            gp.cas_status(Status::Waiting, Status::Runnable);
            idle::globrunqput(sched, &mut l, gp);
            n += 1;
        }
    }
    if n > 0 {
        start_idle(sched, n);
    }
    while let Some(gp) = list.pop_front() {
        gp.cas_status(Status::Waiting, Status::Runnable);
        pp.runq.put(gp.as_ptr(), false, sched);
    }
    wakep(sched);
}

/// `startIdle`: starts an M on an idle P for each of `n` goroutines just queued
/// globally, while idle Ps last.
fn start_idle(sched: &Sched, n: u32) {
    for _ in 0..n {
        let pp = idle::pidleget_spinning(sched, &mut sched.lock.lock());
        match pp {
            Some(pp) => startm(sched, Some(pp), false),
            None => break,
        }
    }
}

/// `execute`: runs `gp` on this M until it switches back, then does what it asked.
fn execute(m: &'static M, gp: &'static G, inherit: bool) {
    let pp = m.p().expect("execute: no P");
    if !inherit {
        pp.schedtick.fetch_add(1, Ordering::Relaxed);
    }
    gp.cas_status_seqcst(Status::Runnable, Status::Running);
    if shutdown_abandons(gp) {
        return;
    }
    loop {
        m.curg.store(gp.as_ptr(), Ordering::Relaxed);
        gp.m.store(m.as_ptr(), Ordering::Relaxed);
        gp.preempt.store(false, Ordering::Relaxed);
        // SAFETY: gp is Running and owned by this M (we took it off a queue or it
        // just asked to resume); its saved context is valid; g0's context is saved
        // into g0_sp, which only this thread uses.
        unsafe { crate::arch::swap(m.g0_sp.get(), gp.saved_sp()) };

        // Back on g0: gp has switched out and told us why.
        m.curg.store(std::ptr::null_mut(), Ordering::Relaxed);
        gp.m.store(std::ptr::null_mut(), Ordering::Relaxed);
        match m.after.replace(After::None) {
            After::Park(unlockf) => {
                gp.cas_status(Status::Running, Status::Waiting);
                if let Some(u) = unlockf {
                    // SAFETY: `gopark`'s contract: `u.data` is valid for `u.f` and
                    // does not live on gp's stack, so gp may be resumed by another M
                    // while `u.f` runs; after it returns we touch gp only if it asked
                    // to stay running.
                    let keep_waiting = unsafe { (u.f)(u.data, gp) };
                    if !keep_waiting {
                        gp.cas_status_seqcst(Status::Waiting, Status::Running);
                        if shutdown_abandons(gp) {
                            return;
                        }
                        continue;
                    }
                }
            }
            After::Gosched => {
                // goschedImpl: to the global queue, then wake an idle P for it.
                gp.cas_status(Status::Running, Status::Runnable);
                m.sched.globrunqput(gp);
                // After a drop no M starts: wakep would take an idle P for nobody.
                if !m.sched.shutdown.load(Ordering::SeqCst) {
                    wakep(m.sched);
                }
            }
            After::Exit => {
                goexit0(m, gp);
                return;
            }
            After::ExitSyscall => {
                if syscall::exitsyscall0(m, gp) {
                    if shutdown_abandons(gp) {
                        return;
                    }
                    continue;
                }
            }
            After::FatalPanic(msg) => crate::panic::die_of_panic(gp, &msg),
            After::None => crate::panic::throw("execute: goroutine switched out without a reason"),
        }
        // gp parked, yielded or was queued by exitsyscall0: if the runtime was
        // dropped, that was its last safepoint and nobody will resume it.
        if m.sched.shutdown.load(Ordering::SeqCst) {
            abandon(gp);
        }
        return;
    }
}

/// Called on g0 just after `gp` became `Running` here (by a SeqCst CAS): if the
/// runtime is shutting down, `gp` does not run. It goes back to the global queue,
/// which no M serves any more, and its `JoinHandle` learns it was abandoned.
///
/// Ordering: the dropping thread stores `shutdown` (SeqCst) and then reads every
/// G's status (SeqCst) to abandon those not running; this M makes `gp` Running
/// and then reads `shutdown`. One of the two sees the other, so a G the drop
/// judged abandoned (seen Runnable or Waiting) never runs again here.
fn shutdown_abandons(gp: &'static G) -> bool {
    if !gp.sched.shutdown.load(Ordering::SeqCst) {
        return false;
    }
    gp.cas_status(Status::Running, Status::Runnable);
    gp.sched.globrunqput(gp);
    abandon(gp);
    true
}

/// `gp` will never run again (its runtime was dropped): if it was started by
/// `spawn`, its `JoinHandle` returns [`crate::JoinError::Abandoned`]. Only the
/// runtime's reference to the result slot is dropped here; the goroutine's own
/// (in its closure, on its stack) is abandoned with it, so no user value is
/// dropped on g0.
pub(crate) fn abandon(gp: &G) {
    let hook = gp.join.lock().take();
    if let Some(h) = hook {
        h.abandon();
    }
}

/// `goexit0`: the goroutine finished; recycle it.
fn goexit0(m: &'static M, gp: &'static G) {
    gp.cas_status(Status::Running, Status::Dead);
    gp.waitreason
        .store(WaitReason::Zero as u8, Ordering::Relaxed);
    m.p().expect("goexit0: no P").gcount_add(-1);
    let locked = lockos::lockedm(gp).is_some();
    gp.lockedm.store(std::ptr::null_mut(), Ordering::Relaxed);
    gfput(m.sched, m.p().expect("goexit0: no P"), gp);
    if locked {
        // Exited while locked to this thread: the thread goes with it (gdestroy).
        m.lockedg.store(std::ptr::null_mut(), Ordering::Relaxed);
        m.locked_ext.set(0);
        m.exiting.set(true);
        let pp = releasep(m);
        syscall::handoffp(m.sched, pp);
    }
}

// ---------------------------------------------------------------------------------
// gFree lists.

/// `gfput`: keeps a dead G (with its stack) for reuse; spills to the global list.
/// Both lists are LIFO stacks, as Go's are.
fn gfput(sched: &Sched, pp: &P, gp: &'static G) {
    // SAFETY: we are the M holding pp.
    let local = unsafe { pp.gfree_mut() };
    local.push_front(gp.as_ptr());
    if local.size >= GFREE_LOCAL_MAX {
        let mut global = sched.gfree.lock();
        while local.size > GFREE_LOCAL_KEEP {
            let g = local.pop_front().expect("gfput: short list");
            // Every G on a P's list has its stack (new_g gives one to a G that
            // lost it before it runs).
            global.stack.push_front(g.as_ptr());
        }
    }
    pp.gfreecnt.store(local.size, Ordering::Relaxed);
}

/// `gfget`: a dead G from the P's list, refilled from the global list when empty
/// (Gs with stacks first). The G may have no stack: `new_g` gives it one.
fn gfget(sched: &Sched, pp: &P) -> Option<&'static G> {
    // SAFETY: we are the M holding pp.
    let local = unsafe { pp.gfree_mut() };
    if local.is_empty() {
        let mut global = sched.gfree.lock();
        while local.size < GFREE_LOCAL_KEEP {
            match global.pop() {
                Some(g) => local.push_front(g.as_ptr()),
                None => break,
            }
        }
    }
    let g = local.pop_front();
    pp.gfreecnt.store(local.size, Ordering::Relaxed);
    g
}

/// Frees the stacks of the dead Gs on the global gFree list (Go's
/// `markrootFreeGStacks`, run once per collection): each G moves to the
/// no-stack list and gets a fresh stack when it is reused. The P-local lists
/// (at most 64 Gs each) keep theirs. Returns how many stacks were freed.
///
/// Called by sysmon on the forced-collection clock and by
/// [`debug::free_os_memory`](crate::debug::free_os_memory); the collector will
/// call it once per cycle.
pub(crate) fn free_g_stacks(sched: &Sched) -> usize {
    let mut list = std::mem::replace(&mut sched.gfree.lock().stack, GQueue::new());
    if list.is_empty() {
        return 0;
    }
    let mut stacks = Vec::with_capacity(list.size as usize);
    let mut no_stack = GQueue::new();
    while let Some(g) = list.pop_front() {
        // Claim the stack: a runtime shutting down meanwhile finds the G not
        // Dead and leaves its stack to us.
        if !g.claim_dead() {
            continue;
        }
        stacks.push(g.stack());
        g.set_stack(Stack::EMPTY);
        g.cas_status(Status::Idle, Status::Dead);
        no_stack.push_front(g.as_ptr());
    }
    let n = stacks.len();
    // SAFETY: every stack belonged to a dead G we took off the global list and
    // claimed above; nothing runs on it, and the G gets a new stack before it
    // runs again.
    unsafe { crate::stack::stackfree_all(stacks) };
    let mut global = sched.gfree.lock();
    while let Some(g) = no_stack.pop_front() {
        global.no_stack.push_front(g.as_ptr());
    }
    n
}

// ---------------------------------------------------------------------------------
// Creating, parking and readying goroutines.

/// The entry of every goroutine: moves the closure off the top of the stack into
/// this frame, runs it, and exits. The closure catches its own panics (see
/// `api.rs`), so nothing unwinds into the trampoline.
unsafe extern "C" fn gostart<F: FnOnce()>(arg: *mut u8) -> ! {
    // SAFETY: `newproc` wrote an F at `arg` and nobody else reads it.
    let f = unsafe { std::ptr::read(arg as *mut F) };
    f();
    crate::local::drop_locals();
    goexit1()
}

/// `goexit1`: switch to g0 for the last time; g0 recycles this G.
fn goexit1() -> ! {
    let m = getm().expect("goexit1: not on an M");
    let gp = m.curg().expect("goexit1: no goroutine");
    m.mcall(gp, After::Exit);
    crate::panic::throw("goexit1: a dead goroutine was resumed")
}

/// The largest closure a goroutine may capture is its stack size divided by this:
/// 8 KiB of the default 256 KiB stack.
///
/// The closure is copied on its way in, and a limit must count every copy: in a
/// debug build (the default for tests) about ten copies of it sit on the new
/// goroutine's stack by the time it runs (`gostartcall`'s, `gostart`'s read,
/// `FnOnce::call_once`, `catch_unwind`'s wrappers and the runtime's own), and up
/// to six on the spawner's (`go` → `newproc_go` → `fatal_on_panic` → `newproc` →
/// `gostartcall`; three for `spawn`); in a release build three and one or two.
/// (Measured by counting a marker in both stacks and the spawner's stack use.)
/// At 1/32, ten copies take under a third of the new stack and six under a
/// fifth of the spawner's, leaving the rest to the code that runs. Go has no such
/// limit because it moves stacks; a large capture belongs in a `Box` (8 bytes).
pub(crate) const CAPTURE_DIVISOR: usize = 32;

/// What the runtime's own wrappers add around the user's closure (`spawn`'s
/// result slot, `WaitGroup::go`'s handle): not counted against the limit.
const WRAPPER_BYTES: usize = 64;

/// Panics, in the spawner, if a closure of `size` bytes is too large to start as
/// a goroutine of `sched` (see [`CAPTURE_DIVISOR`]). The public entries (`go`,
/// `spawn`, `WaitGroup::go`, `Runtime::run`) call it first thing, before the
/// closure is copied down the call chain; `gostartcall` checks again for every
/// other way in.
pub(crate) fn check_capture(sched: &Sched, size: usize) {
    let stack = sched.settings.stack_size;
    let max = stack / CAPTURE_DIVISOR;
    if size > max {
        panic!(
            "gort: a goroutine's closure captures {size} bytes, more than the {max} bytes \
             allowed with {stack}-byte stacks (1/{CAPTURE_DIVISOR}: it is copied about ten times \
             before it runs); box the captured data, or raise Builder::stack_size"
        );
    }
}

/// Places `f` on `gp`'s stack and prepares the first frame.
fn gostartcall<F: FnOnce() + Send + 'static>(gp: &'static G, f: F, entry: fn() -> &'static str) {
    let align = std::mem::align_of::<F>().max(16);
    let size = std::mem::size_of::<F>();
    check_capture(gp.sched, size.saturating_sub(WRAPPER_BYTES));
    let fptr = (gp.stack().hi - size) & !(align - 1);
    // Implied by the limit (stacks are at least 16 KiB), unless F's alignment is
    // huge; the writes below rely on it.
    assert!(
        fptr >= gp.stack().lo + crate::arch::INITIAL_FRAME_BYTES + 16,
        "gort: a goroutine's closure ({size} bytes, aligned to {align}) leaves no room on a \
         {}-byte stack",
        gp.stack().size()
    );
    // SAFETY: [fptr, fptr+size) lies inside gp's stack (checked above), which no
    // one runs on (gp is dead or fresh), and is aligned for F.
    unsafe { std::ptr::write(fptr as *mut F, f) };
    // SAFETY: the frame goes just below the closure, inside the same stack, where
    // the assertion above left room for it.
    let sp = unsafe { crate::arch::init_stack(fptr, gostart::<F>, fptr as *mut u8) };
    // SAFETY: gp is not running; we own it until it is queued.
    unsafe { *gp.sched_sp.get() = sp };
    gp.set_entry(entry);
}

/// A dead G to reuse or a fresh one (`gfget` or `malg` + `allgadd`).
fn new_g(sched: &'static Sched, pp: Option<&P>) -> &'static G {
    let stackalloc = || {
        crate::stack::stackalloc(sched.settings.stack_size)
            .unwrap_or_else(|e| crate::panic::fatal(&e.to_string()))
    };
    if let Some(gp) = pp
        .and_then(|pp| gfget(sched, pp))
        .or_else(|| sched.gfree.lock().pop())
    {
        if gp.stack() == Stack::EMPTY {
            // Its stack was freed while it sat on the global list (Go's gfget
            // `stackalloc` for a G from `noStack`).
            gp.set_stack(stackalloc());
        }
        return gp;
    }
    let gp = G::new(sched, stackalloc());
    sched.allgs.lock().push(gp);
    gp
}

/// `newproc`: starts `f` as a new goroutine of the current runtime and puts it in
/// this P's `runnext`. Must be called on a goroutine. `entry` names the user's
/// function for goroutine dumps.
pub(crate) fn newproc<F: FnOnce() + Send + 'static>(
    f: F,
    entry: fn() -> &'static str,
    joinable: bool,
) -> u64 {
    newproc_join(f, entry, joinable, None)
}

/// [`newproc`] for `spawn`: `join` is the goroutine's result slot, told if the
/// runtime abandons the goroutine (see [`abandon`]).
pub(crate) fn newproc_join<F: FnOnce() + Send + 'static>(
    f: F,
    entry: fn() -> &'static str,
    joinable: bool,
    join: Option<std::sync::Arc<dyn crate::api::Abandon>>,
) -> u64 {
    let m = getm().expect("gort: go/spawn called outside a gort runtime (use Runtime::run)");
    let sched = m.sched;
    if let Some(gp) = m.curg() {
        no_runtime_in_syscall(gp);
    }
    let pp = m.p().expect("newproc: no P");
    let gp = new_g(sched, Some(pp));
    gostartcall(gp, f, entry);
    let goid = pp.next_goid(&sched.goidgen);
    init_g(gp, goid, joinable, m.curg().map_or(0, |g| g.goid()));
    if join.is_some() {
        // Only `spawn` has a slot to set. A dead G's slot is already empty (the
        // spawned goroutine takes it as it completes), so `go` skips the lock.
        *gp.join.lock() = join;
    }
    pp.gcount_add(1);
    gp.cas_status(Status::Dead, Status::Runnable);
    pp.runq.put(gp.as_ptr(), true, sched);
    wakep(sched);
    goid
}

/// Starts a goroutine from a thread outside the runtime (the main goroutine of a
/// `Runtime::run`): it goes to the global queue.
pub(crate) fn newproc_external<F: FnOnce() + Send + 'static>(
    sched: &'static Sched,
    f: F,
    entry: fn() -> &'static str,
) -> u64 {
    let gp = new_g(sched, None);
    gostartcall(gp, f, entry);
    let goid = sched.goidgen.fetch_add(1, Ordering::Relaxed) + 1;
    init_g(gp, goid, false, 0);
    sched.ngoroutines_ext.fetch_add(1, Ordering::Relaxed);
    sched.inject_external(gp, Status::Dead);
    goid
}

fn init_g(gp: &G, goid: u64, joinable: bool, parent: u64) {
    gp.goid.store(goid, Ordering::Relaxed);
    gp.parent_goid.store(parent, Ordering::Relaxed);
    gp.joinable.set(joinable);
    gp.preempt.store(false, Ordering::Relaxed);
    gp.waitreason
        .store(WaitReason::Zero as u8, Ordering::Relaxed);
}

/// `gopark`: puts the current goroutine to sleep. On g0, after the switch, the G is
/// marked waiting and `unlockf` runs; it must publish the G where a waker will find
/// it (and may release a lock), and returns false to cancel the park. The G sleeps
/// until someone calls [`ready`] on it.
///
/// # Safety
/// `unlockf.data` must stay valid until `unlockf.f` returns, must not point into the
/// current goroutine's stack, and `unlockf.f` must be sound to call with it on g0.
pub(crate) unsafe fn gopark(unlockf: Option<UnlockF>, reason: WaitReason) {
    let m = getm().expect("gort: a blocking operation was called outside a goroutine");
    let gp = m.curg().expect("gopark: no goroutine");
    if gp.status() == Status::Syscall {
        // Too late to unwind: the caller has registered a waiter and may hold a
        // lock it forgot (see sync::block). The safepoint every blocking entry
        // passes first reports this as a panic; reaching here is a runtime bug.
        crate::panic::throw("gopark: goroutine is in a system call (inside syscall::blocking)");
    }
    gp.waitreason.store(reason as u8, Ordering::Relaxed);
    // A `Drop` blocking while the goroutine unwinds: std's panic state is this
    // thread's, so the goroutine parks locked to it (see `lockos.rs`).
    let unwinding = std::thread::panicking();
    if unwinding {
        lockos::lock_internal(m, gp);
    }
    m.mcall(gp, After::Park(unlockf));
    if unwinding {
        let m = getm().expect("gopark: resumed off an M");
        lockos::unlock_internal(m, gp);
    }
}

/// Code running under `syscall::blocking` has given its P away: it may not block,
/// yield or start goroutines until the call returns. Every blocking entry point
/// passes a safepoint ([`preempt_check`]) before it registers anything, and the
/// check there panics cleanly; `newproc` checks too.
fn no_runtime_in_syscall(gp: &G) {
    if gp.status() == Status::Syscall {
        panic!(
            "gort: the runtime was used inside syscall::blocking (goroutine {}); \
             the closure must only block its thread",
            gp.goid()
        );
    }
}

/// `goready`/`ready`: makes a parked goroutine runnable. On a goroutine or M of the
/// same runtime it goes into this P's `runnext` (it runs next, as in Go); from
/// anywhere else, to its runtime's global queue.
pub(crate) fn ready(gp: &'static G) {
    let sched = gp.sched;
    let own_p = getm()
        .filter(|m| std::ptr::eq(m.sched, sched))
        .and_then(|m| m.p());
    match own_p {
        Some(pp) => {
            gp.cas_status(Status::Waiting, Status::Runnable);
            pp.runq.put(gp.as_ptr(), true, sched);
            wakep(sched);
        }
        None => sched.inject_external(gp, Status::Waiting),
    }
}

/// `Gosched`: the current goroutine goes to the back of the global queue.
pub(crate) fn gosched() {
    let m = getm().expect("gort: yield_now called outside a goroutine");
    let gp = m.curg().expect("gosched: no goroutine");
    no_runtime_in_syscall(gp);
    m.mcall(gp, After::Gosched);
}

/// A safepoint: if preemption was requested (sysmon found this goroutine running for
/// over 10 ms, or stop-the-world is pending), yield now (`gopreempt_m`).
#[inline]
pub(crate) fn preempt_check() {
    if let Some(gp) = crate::proc::m::getg() {
        // Inside syscall::blocking the goroutine has no P: any runtime call is a
        // misuse, reported here before the caller has registered anything.
        no_runtime_in_syscall(gp);
        // Never switch while unwinding (std's panic count is per thread): the
        // request stays set for the next safepoint after the panic is caught.
        if gp.preempt.load(Ordering::Relaxed) && !std::thread::panicking() {
            gp.preempt.store(false, Ordering::Relaxed);
            gosched();
        }
    }
}

/// Called with `sched.lock` held as an M goes idle: if no M is running and a main
/// goroutine is still waiting, nothing can ever wake it — Go's deadlock.
pub(crate) fn checkdead(sched: &Sched, l: &Locked) {
    // Not while the world is stopped (the Ms park on purpose, and the stopper may
    // be a thread outside the runtime that will start it again), nor while a panic
    // is being reported (main may be parked on purpose, `panicwait`, and the
    // reporting M is about to exit the process).
    if sched.nmain.load(Ordering::SeqCst) <= 0
        || sched.shutdown.load(Ordering::Acquire)
        || sched.gcwaiting.load(Ordering::SeqCst)
        || crate::panic::panicking()
    {
        return;
    }
    let run = sched.mcount.load(Ordering::SeqCst) as i64
        - l.midle.len() as i64
        - l.midlelocked.len() as i64;
    if run > 0 || sched.external_inflight.load(Ordering::SeqCst) > 0 {
        return;
    }
    let mut waiting = 0;
    for gp in sched.allgs.lock().iter() {
        match gp.status() {
            Status::Waiting => waiting += 1,
            Status::Dead | Status::Idle => {}
            s => crate::panic::throw(&format!(
                "checkdead: runnable g (goroutine {} is {s:?})",
                gp.goid()
            )),
        }
    }
    if waiting == 0 {
        return;
    }
    // A pending timer may still wake somebody. (Goroutines waiting on sockets
    // are not a reason to live by themselves: the M blocked in the poller is
    // running, so `run` above was positive while any could be woken.)
    if sched.allp.iter().any(|pp| pp.timers.len() > 0) {
        return;
    }
    crate::panic::deadlock(sched);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coprime_steps_visit_every_p() {
        for n in 1..=12u32 {
            let coprimes: Vec<u32> = (1..=n).filter(|&i| gcd(i, n) == 1).collect();
            for &step in &coprimes {
                for start in 0..n {
                    let mut seen = vec![false; n as usize];
                    let mut pos = start;
                    for _ in 0..n {
                        seen[pos as usize] = true;
                        pos = (pos + step) % n;
                    }
                    assert!(seen.iter().all(|&s| s), "n={n} step={step}");
                }
            }
        }
    }
}
