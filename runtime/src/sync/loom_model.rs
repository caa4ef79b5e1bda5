//! loom models of the `Mutex` and `WaitGroup` state machines.
//!
//! `mutex.rs`'s [`RawMutex`] and `waitgroup.rs`'s [`WgState`] are compiled under
//! loom *as they are*: they reach the runtime only through the [`SyncRuntime`]
//! trait (Go's `sync/runtime.go` hooks). This file supplies a model runtime,
//! [`ModelRt`], whose semaphore restates `sema.rs`'s `semacquire1`/`semrelease1`
//! line for line with the goroutine switch abstracted away: instead of
//! `gopark(unlockf)` a sleeper drops the root lock and sleeps on the real
//! [`Note`] (`proc/note.rs`), which keeps a wake-up that arrives first, just as the
//! run queue keeps a goroutine readied before its M switched out. If you change
//! `sema.rs`, change [`ModelRt`] too.
//!
//! | model                        | runtime                           | Go                            |
//! |------------------------------|-----------------------------------|-------------------------------|
//! | `ModelRt::semacquire`        | `sema::semacquire1`               | `semacquire1`                 |
//! | `ModelRt::semrelease`        | `sema::semrelease1`               | `semrelease1`                 |
//! | `cansemacquire`              | `sema::cansemacquire`             | `cansemacquire`               |
//! | `ModelRt::nanotime`          | `Rt::nanotime`                    | `runtime_nanotime`            |
//! | `ModelRt::can_spin`          | `Rt::can_spin`                    | `runtime_canSpin`             |
//!
//! The model clock is a counter that advances `step` ns per reading, so a model
//! with `step = 2 ms` makes every waiter that wakes see more than the starvation
//! threshold and drives the Mutex into starvation mode and handoff; `step = 0`
//! keeps it in normal mode. `semrelease`'s `goyield` is a scheduling hint with no
//! effect on correctness and is left out.
//!
//! # Properties
//!
//! * **Mutex**: never held by two threads (a `held` flag each owner sets and
//!   clears, and a split read-modify-write counter that would lose an update);
//!   every thread gets the lock (loom fails a model where every thread sleeps);
//!   the state word is 0 at the end. With the fast clock, a handoff (ticket = 1)
//!   is observed in some execution, and whoever receives it holds the lock
//!   exclusively at once.
//! * **WaitGroup**: `wait` never returns before every `done` (the doers' writes
//!   are visible to the waiter), and every waiter is released.

use super::mutex::RawMutex;
use super::runtime::SyncRuntime;
use super::waitgroup::WgState;
use crate::loom::atomic::{fence, AtomicBool, AtomicI64, AtomicU32, AtomicUsize, Ordering};
use crate::loom::Mutex;
use crate::proc::note::Note;
use loom::sync::Arc;
use std::collections::VecDeque;

/// A sleeper (the model's `sudog`).
struct Sudog {
    note: Note,
    /// 1 when a handoff release gave us the permit.
    ticket: AtomicU32,
}

/// The model's semaphore root and clock.
struct ModelSema {
    /// One root: every modelled semaphore shares it, queues keyed by address.
    queue: Mutex<VecDeque<(usize, Arc<Sudog>)>>,
    nwait: AtomicU32,
    clock: AtomicI64,
    step: i64,
    spin: bool,
    /// Handoffs delivered in this execution.
    handoffs: AtomicUsize,
}

#[derive(Clone)]
struct ModelRt(Arc<ModelSema>);

impl ModelRt {
    fn new(step: i64, spin: bool) -> Self {
        ModelRt(Arc::new(ModelSema {
            queue: Mutex::new(VecDeque::new()),
            nwait: AtomicU32::new(0),
            clock: AtomicI64::new(0),
            step,
            spin,
            handoffs: AtomicUsize::new(0),
        }))
    }

    /// `semacquire1`, with the root lock dropped before the note sleep (gopark's
    /// unlockf).
    fn semacquire(&self, addr: &AtomicU32, lifo: bool) {
        let root = &*self.0;
        if cansemacquire(addr) {
            return;
        }
        let key = addr as *const AtomicU32 as usize;
        loop {
            let mut q = root.queue.lock();
            root.nwait.fetch_add(1, Ordering::SeqCst);
            fence(Ordering::SeqCst);
            if cansemacquire(addr) {
                root.nwait.fetch_sub(1, Ordering::SeqCst);
                return;
            }
            let s = Arc::new(Sudog {
                note: Note::new(),
                ticket: AtomicU32::new(0),
            });
            if lifo {
                q.push_front((key, s.clone()));
            } else {
                q.push_back((key, s.clone()));
            }
            drop(q);
            s.note.sleep();
            if s.ticket.load(Ordering::Acquire) != 0 || cansemacquire(addr) {
                return;
            }
        }
    }

    /// `semrelease1`.
    fn semrelease(&self, addr: &AtomicU32, handoff: bool) {
        let root = &*self.0;
        addr.fetch_add(1, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        if root.nwait.load(Ordering::SeqCst) == 0 {
            return;
        }
        let key = addr as *const AtomicU32 as usize;
        let s = {
            let mut q = root.queue.lock();
            if root.nwait.load(Ordering::SeqCst) == 0 {
                return;
            }
            let s = q
                .iter()
                .position(|(k, _)| *k == key)
                .and_then(|i| q.remove(i))
                .map(|(_, s)| s);
            if s.is_some() {
                root.nwait.fetch_sub(1, Ordering::SeqCst);
            }
            s
        };
        let Some(s) = s else { return };
        if handoff && cansemacquire(addr) {
            s.ticket.store(1, Ordering::Release);
            root.handoffs.fetch_add(1, Ordering::Relaxed);
        }
        s.note.wake();
    }
}

/// `cansemacquire`.
fn cansemacquire(addr: &AtomicU32) -> bool {
    let mut v = addr.load(Ordering::SeqCst);
    loop {
        if v == 0 {
            return false;
        }
        match addr.compare_exchange(v, v - 1, Ordering::SeqCst, Ordering::SeqCst) {
            Ok(_) => return true,
            Err(x) => v = x,
        }
    }
}

impl SyncRuntime for ModelRt {
    fn semacquire_mutex(&self, sema: &AtomicU32, lifo: bool) {
        self.semacquire(sema, lifo)
    }
    fn semacquire_waitgroup(&self, sema: &AtomicU32) {
        self.semacquire(sema, false)
    }
    fn semrelease(&self, sema: &AtomicU32, handoff: bool) {
        ModelRt::semrelease(self, sema, handoff)
    }
    /// One spin round at most, when enabled: enough to reach the spinner's
    /// `MUTEX_WOKEN` transition.
    fn can_spin(&self, iter: u32) -> bool {
        self.0.spin && iter < 1
    }
    fn do_spin(&self) {}
    fn nanotime(&self) -> i64 {
        self.0.clock.fetch_add(self.0.step, Ordering::Relaxed) + self.0.step
    }
}

/// The protected data: a held flag and a counter updated by a split
/// read-modify-write (load, then store), so a second owner would be caught.
struct Guarded {
    mu: RawMutex<ModelRt>,
    held: AtomicBool,
    count: AtomicUsize,
}

impl Guarded {
    fn critical_section(&self) {
        self.mu.lock();
        assert!(
            !self.held.swap(true, Ordering::Relaxed),
            "mutex held by two threads"
        );
        let c = self.count.load(Ordering::Relaxed);
        self.count.store(c + 1, Ordering::Relaxed);
        self.held.store(false, Ordering::Relaxed);
        self.mu.unlock();
    }
}

/// Runs `per_thread[i]` critical sections on thread i (thread 0 is loom's main
/// thread) and checks the end state. Returns the handoffs seen.
fn run_mutex(step: i64, spin: bool, per_thread: &'static [usize]) -> usize {
    let rt = ModelRt::new(step, spin);
    let g = Arc::new(Guarded {
        mu: RawMutex::new(rt.clone()),
        held: AtomicBool::new(false),
        count: AtomicUsize::new(0),
    });
    let ths: Vec<_> = per_thread[1..]
        .iter()
        .map(|&n| {
            let g = g.clone();
            loom::thread::spawn(move || {
                for _ in 0..n {
                    g.critical_section();
                }
            })
        })
        .collect();
    for _ in 0..per_thread[0] {
        g.critical_section();
    }
    for t in ths {
        t.join().unwrap();
    }
    assert_eq!(
        g.count.load(Ordering::Relaxed),
        per_thread.iter().sum::<usize>()
    );
    assert_eq!(g.mu.state.load(Ordering::Relaxed), 0, "state left dirty");
    assert_eq!(g.mu.sema.load(Ordering::Relaxed), 0, "a permit left over");
    let h = rt.0.handoffs.load(Ordering::Relaxed);
    h
}

/// Normal mode: two threads, one with two sections (a newcomer that can barge
/// past a woken waiter, which then requeues LIFO), with one spin round allowed.
#[test]
fn loom_sync_mutex_normal_mode() {
    loom::model(|| {
        run_mutex(0, true, &[2, 1]);
    });
}

/// Three threads in normal mode, one of them barging twice, with spinning.
#[test]
fn loom_sync_mutex_three_threads() {
    loom::model(|| {
        run_mutex(0, true, &[2, 1, 1]);
    });
}

/// Three threads with the fast clock: starvation mode entered and left while a
/// third thread arrives (a newcomer must queue, never grab a starving lock).
#[test]
fn loom_sync_mutex_starvation_three_threads() {
    loom::model(|| {
        run_mutex(2_000_000, false, &[2, 1, 1]);
    });
}

/// Starvation mode: every waiter that wakes has "waited" 2 ms, so a waiter that
/// loses to the barging thread sets `MUTEX_STARVING` and the next unlock hands
/// the lock to it. Some execution must take the handoff path, and exclusivity must
/// hold in all of them.
#[test]
fn loom_sync_mutex_starvation_handoff() {
    static HANDOFFS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    loom::model(|| {
        let h = run_mutex(2_000_000, false, &[2, 1]);
        HANDOFFS.fetch_add(h, std::sync::atomic::Ordering::Relaxed);
    });
    assert!(
        HANDOFFS.load(std::sync::atomic::Ordering::Relaxed) > 0,
        "no execution reached the starvation handoff"
    );
}

/// One waiter, two doers: `wait` returns only after both `done`s, whose writes it
/// then sees.
#[test]
fn loom_sync_waitgroup_two_doers() {
    loom::model(|| {
        let wg = Arc::new(WgState::new(ModelRt::new(0, false)));
        let flags = Arc::new([AtomicBool::new(false), AtomicBool::new(false)]);
        wg.add(2);
        let ths: Vec<_> = (0..2)
            .map(|i| {
                let (wg, flags) = (wg.clone(), flags.clone());
                loom::thread::spawn(move || {
                    flags[i].store(true, Ordering::Relaxed);
                    wg.add(-1);
                })
            })
            .collect();
        wg.wait();
        assert!(
            flags.iter().all(|f| f.load(Ordering::Relaxed)),
            "wait returned early"
        );
        for t in ths {
            t.join().unwrap();
        }
        assert_eq!(wg.state.load(Ordering::Relaxed), 0);
    });
}

/// Two waiters, one doer: both waiters are released, neither early.
#[test]
fn loom_sync_waitgroup_two_waiters() {
    loom::model(|| {
        let wg = Arc::new(WgState::new(ModelRt::new(0, false)));
        let flag = Arc::new(AtomicBool::new(false));
        wg.add(1);
        let waiter = {
            let (wg, flag) = (wg.clone(), flag.clone());
            loom::thread::spawn(move || {
                wg.wait();
                assert!(flag.load(Ordering::Relaxed), "wait returned early");
            })
        };
        let doer = {
            let (wg, flag) = (wg.clone(), flag.clone());
            loom::thread::spawn(move || {
                flag.store(true, Ordering::Relaxed);
                wg.add(-1);
            })
        };
        wg.wait();
        assert!(flag.load(Ordering::Relaxed), "wait returned early");
        waiter.join().unwrap();
        doer.join().unwrap();
        assert_eq!(wg.sema.load(Ordering::Relaxed), 0, "a release left over");
    });
}
