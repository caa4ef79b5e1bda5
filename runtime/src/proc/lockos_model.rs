//! loom model of the locked-M hand-off (`proc/lockos.rs`: `stoplockedm`,
//! `startlockedm`).
//!
//! Restates, step for step, what the two functions do under `sched.lock` and on
//! the locked M's park note (the runtime's own [`Note`]), for one locked M and
//! one other M that finds its goroutine runnable. The goroutine, `handoffp` and
//! the idle lists are abstracted away: "holding the P" is a counter, and
//! `midlelocked` is one flag.
//!
//! Properties checked in every interleaving, whichever of the two comes first:
//! - the idle-locked count never goes below zero (Go's `incidlelocked(-1)`
//!   before the locked M's `incidlelocked(1)` could make it -1);
//! - the locked M gets the P and is not left asleep (a lost wake-up would leave
//!   it parked, which loom reports as a deadlock);
//! - every wake-up is consumed, so none is left to cut a later sleep short;
//! - with the runtime shutting down meanwhile, no P is left in `nextp` of an M
//!   that has gone, and nobody stays listed idle.

use crate::proc::note::Note;
use loom::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, Ordering::SeqCst};
use loom::sync::{Arc, Mutex};

/// What `sched.lock` guards here.
struct Locked {
    /// The locked M is on `midlelocked`.
    listed: bool,
    /// `midlelocked.len()`, kept as Go's signed count would be, to check it.
    nmidlelocked: i32,
}

struct World {
    lock: Mutex<Locked>,
    /// The locked M's `nextp`: 1 if a P was handed to it.
    nextp: AtomicU32,
    /// The locked M's park note.
    park: Note,
    shutdown: AtomicBool,
    /// Parties holding the P (the starter holds it at first).
    owners: AtomicI32,
    /// Wake-ups sent to the locked M and sleeps it finished (each consumes one).
    wakes: AtomicU32,
    sleeps: AtomicU32,
}

/// `stoplockedm`, after `handoffp` gave the locked M's own P away. Returns
/// whether it was handed a P.
fn stoplockedm(w: &World) -> bool {
    let mut listed = false;
    loop {
        {
            let mut l = w.lock.lock().unwrap();
            if w.nextp.swap(0, SeqCst) == 1 {
                drop(l);
                w.owners.fetch_add(1, SeqCst);
                return true;
            }
            if w.shutdown.load(SeqCst) {
                if l.listed {
                    l.listed = false;
                    l.nmidlelocked -= 1;
                }
                return false;
            }
            if !listed {
                l.listed = true;
                l.nmidlelocked += 1;
                listed = true;
            }
        }
        w.park.sleep();
        w.sleeps.fetch_add(1, SeqCst);
    }
}

/// `startlockedm`, on the M that found the locked goroutine runnable.
fn startlockedm(w: &World) {
    let mut l = w.lock.lock().unwrap();
    let asleep = l.listed;
    if asleep {
        l.listed = false;
        l.nmidlelocked -= 1;
    }
    assert!(l.nmidlelocked >= 0, "nmidlelocked went negative");
    if !asleep && w.shutdown.load(SeqCst) {
        // Keeps the P; the goroutine is abandoned.
        return;
    }
    w.owners.fetch_sub(1, SeqCst);
    w.nextp.store(1, SeqCst);
    drop(l);
    if asleep {
        w.wakes.fetch_add(1, SeqCst);
        w.park.wake();
    }
}

fn world() -> Arc<World> {
    Arc::new(World {
        lock: Mutex::new(Locked {
            listed: false,
            nmidlelocked: 0,
        }),
        nextp: AtomicU32::new(0),
        park: Note::new(),
        shutdown: AtomicBool::new(false),
        owners: AtomicI32::new(1),
        wakes: AtomicU32::new(0),
        sleeps: AtomicU32::new(0),
    })
}

/// The starter may come before the locked M has listed itself, or after.
#[test]
fn loom_lockos_handoff_either_order() {
    loom::model(|| {
        let w = world();
        let s = {
            let w = w.clone();
            loom::thread::spawn(move || startlockedm(&w))
        };
        assert!(stoplockedm(&w), "the locked M was not handed the P");
        s.join().unwrap();
        assert_eq!(w.owners.load(SeqCst), 1);
        assert_eq!(
            w.wakes.load(SeqCst),
            w.sleeps.load(SeqCst),
            "a wake-up was left in the note"
        );
        let l = w.lock.lock().unwrap();
        assert!(!l.listed);
        assert_eq!(l.nmidlelocked, 0);
    });
}

/// The runtime is dropped meanwhile: it sets shutdown and wakes the locked M
/// (`Runtime::drop` wakes every M with a locked goroutine).
#[test]
fn loom_lockos_handoff_vs_shutdown() {
    loom::model(|| {
        let w = world();
        let s = {
            let w = w.clone();
            loom::thread::spawn(move || startlockedm(&w))
        };
        let d = {
            let w = w.clone();
            loom::thread::spawn(move || {
                w.shutdown.store(true, SeqCst);
                w.park.wake();
            })
        };
        stoplockedm(&w);
        s.join().unwrap();
        d.join().unwrap();
        assert_eq!(w.owners.load(SeqCst), 1, "the P was lost or doubled");
        assert_eq!(w.nextp.load(SeqCst), 0, "a P was left to an M that left");
        let l = w.lock.lock().unwrap();
        assert!(!l.listed);
        assert_eq!(l.nmidlelocked, 0);
    });
}
