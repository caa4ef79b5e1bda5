//! loom model of the system-call P hand-off (`proc/syscall.rs`, `stw.rs`).
//!
//! Restates, step for step, the parts of `entersyscall`, `exitsyscall`,
//! sysmon's `retake_syscall` + `handoffp`, `stop_syscall_ps` and `gcstopm` that
//! touch the P's status, `gcwaiting` and `stopwait`, on loom atomics. The goroutine
//! switch, run queues and Ms are abstracted away: "owning the P" is a counter.
//!
//! Properties checked in every interleaving:
//! - at any moment at most one party owns the P;
//! - stop-the-world counts the P exactly once (`stopwait` reaches 0 and never goes
//!   below), whether the P is stopped by the stopper, by `entersyscall` seeing
//!   `gcwaiting`, by `handoffp` after sysmon took it, or by the goroutine's M at
//!   its next safepoint.

use loom::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, Ordering::SeqCst};
use loom::sync::{Arc, Mutex};

const IDLE: u32 = 0;
const RUNNING: u32 = 1;
const SYSCALL: u32 = 2;
const GCSTOP: u32 = 3;

/// What `sched.lock` guards here.
struct Locked {
    stopwait: i32,
    /// The P is on the idle list (`sched.pidle`).
    on_pidle: bool,
}

struct World {
    status: AtomicU32,
    gcwaiting: AtomicBool,
    stopwait: Mutex<Locked>,
    /// How many parties believe they own the P right now.
    owners: AtomicI32,
}

impl World {
    fn own(&self) {
        let n = self.owners.fetch_add(1, SeqCst) + 1;
        assert_eq!(n, 1, "two owners of one P");
    }
    fn disown(&self) {
        self.owners.fetch_sub(1, SeqCst);
    }
    /// One P counted as stopped (`stopwait -= 1` under the lock).
    fn count_stopped(&self, l: &mut Locked) {
        l.stopwait -= 1;
        assert!(l.stopwait >= 0, "the P was counted twice");
    }
    /// `stop_syscall_ps` for our one P, with the lock held.
    fn stop_syscall_p(&self, sw: &mut Locked) {
        if self
            .status
            .compare_exchange(SYSCALL, GCSTOP, SeqCst, SeqCst)
            .is_ok()
        {
            self.count_stopped(sw);
        }
    }
}

/// The goroutine's M: enters a call and returns. If it got its P back and a stop
/// is coming (`stop_coming`), it keeps running until a safepoint sees `gcwaiting`,
/// then stops its P (`gcstopm`).
fn goroutine(w: &World, stop_coming: bool) {
    // entersyscall: unwire, then publish Syscall; then look at gcwaiting.
    w.disown();
    w.status.store(SYSCALL, SeqCst);
    if w.gcwaiting.load(SeqCst) {
        let mut sw = w.stopwait.lock().unwrap();
        if sw.stopwait > 0
            && w.status
                .compare_exchange(SYSCALL, GCSTOP, SeqCst, SeqCst)
                .is_ok()
        {
            w.count_stopped(&mut sw);
        }
    }
    // ... the call ...
    // exitsyscall fast path.
    if w.status
        .compare_exchange(SYSCALL, RUNNING, SeqCst, SeqCst)
        .is_ok()
    {
        w.own();
        if stop_coming {
            // Runs Go code until a safepoint honours the stop (gcstopm).
            while !w.gcwaiting.load(SeqCst) {
                loom::thread::yield_now();
            }
            w.disown();
            let mut sw = w.stopwait.lock().unwrap();
            w.status.store(GCSTOP, SeqCst);
            w.count_stopped(&mut sw);
        } else {
            w.disown();
        }
    }
    // Slow path: the P went to sysmon or to the stopper; the goroutine queues
    // itself and the M parks (nothing more happens to the P here).
}

/// sysmon's retake: take the P from the call, then `handoffp`.
fn sysmon(w: &World) {
    if w.status
        .compare_exchange(SYSCALL, IDLE, SeqCst, SeqCst)
        .is_ok()
    {
        w.own();
        // handoffp: a pending stop gets the P; else it goes on the idle list.
        let mut sw = w.stopwait.lock().unwrap();
        w.disown();
        if w.gcwaiting.load(SeqCst) {
            w.status.store(GCSTOP, SeqCst);
            w.count_stopped(&mut sw);
        } else {
            sw.on_pidle = true;
        }
    }
}

/// stop-the-world: flag, stop syscall Ps, then wait (re-checking) until the P is
/// counted.
fn stopper(w: &World) {
    {
        let mut sw = w.stopwait.lock().unwrap();
        sw.stopwait = 1;
        w.gcwaiting.store(true, SeqCst);
        w.stop_syscall_p(&mut sw);
        // Idle Ps stop at once (they are popped off the idle list).
        if sw.on_pidle {
            sw.on_pidle = false;
            w.status.store(GCSTOP, SeqCst);
            w.count_stopped(&mut sw);
        }
    }
    loop {
        {
            let mut sw = w.stopwait.lock().unwrap();
            w.stop_syscall_p(&mut sw);
            if sw.stopwait == 0 {
                break;
            }
        }
        loom::thread::yield_now();
    }
    assert_eq!(
        w.status.load(SeqCst),
        GCSTOP,
        "the world stopped with the P running"
    );
    assert_eq!(w.owners.load(SeqCst), 0);
}

fn world() -> Arc<World> {
    Arc::new(World {
        status: AtomicU32::new(RUNNING),
        gcwaiting: AtomicBool::new(false),
        stopwait: Mutex::new(Locked {
            stopwait: 0,
            on_pidle: false,
        }),
        owners: AtomicI32::new(1), // the goroutine's M holds it
    })
}

/// The goroutine's call races with stop-the-world.
#[test]
fn loom_syscall_vs_stop_the_world() {
    loom::model(|| {
        let w = world();
        let g = {
            let w = w.clone();
            loom::thread::spawn(move || goroutine(&w, true))
        };
        stopper(&w);
        g.join().unwrap();
    });
}

/// The goroutine's return races with sysmon taking its P; no stop pending.
#[test]
fn loom_syscall_exit_vs_retake() {
    loom::model(|| {
        let w = world();
        let s = {
            let w = w.clone();
            loom::thread::spawn(move || sysmon(&w))
        };
        goroutine(&w, false);
        s.join().unwrap();
        assert_eq!(w.owners.load(SeqCst), 0);
        assert_ne!(w.status.load(SeqCst), SYSCALL, "someone took the P back");
    });
}

/// All three: the goroutine, sysmon and a stopper.
#[test]
fn loom_syscall_retake_vs_stop_the_world() {
    loom::model(|| {
        let w = world();
        let g = {
            let w = w.clone();
            loom::thread::spawn(move || goroutine(&w, true))
        };
        let s = {
            let w = w.clone();
            loom::thread::spawn(move || sysmon(&w))
        };
        stopper(&w);
        g.join().unwrap();
        s.join().unwrap();
    });
}
