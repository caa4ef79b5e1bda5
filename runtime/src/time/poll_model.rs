//! loom model of the timer wake-up handshake: a goroutine adds an earlier timer
//! while an idle M decides how long to sleep (`find_runnable`'s poll step against
//! `wake_netpoller`, in `proc/sched.rs` and `time/mod.rs`).
//!
//! The sleeper reads the earliest timer, claims the poller (`lastpoll.swap(0)`),
//! publishes its deadline (`poll_until`) and waits in the network poller (here a
//! note: `epoll_wait` with a timeout, and the note's wake the eventfd write of
//! `netpoll_break`, which likewise makes a later wait return at once). The adder
//! publishes its timer (the heap's minimum), then reads `lastpoll`: zero means a
//! poller sleeps, so it compares `poll_until` with its timer and breaks the
//! sleep if the poller would wake too late; non-zero means nobody sleeps yet, so
//! it calls `wakep`, whose M will run this same protocol and see the timer.
//!
//! Checked in every interleaving: if a poller computed a deadline later than the
//! new timer (it read the heap before the timer was added), its sleep is broken
//! (`netpoll_break`) or another poller, started through `wakep`, sleeps with a
//! deadline no later than the timer and runs it. The lost case — everyone asleep
//! past a timer — cannot happen. Time is abstract: deadlines are numbers.

use crate::proc::note::Note;
use loom::sync::atomic::{AtomicBool, AtomicI64, Ordering::SeqCst};
use loom::sync::Arc;

struct Poller {
    /// The heaps' earliest `when` (what `timers_wake_time` returns), 0 = none.
    heap_min: AtomicI64,
    lastpoll: AtomicI64,
    poll_until: AtomicI64,
    pollnote: Note,
    /// A poller went to sleep with a deadline later than the new timer.
    late: AtomicBool,
    /// Someone broke the poller's sleep (`netpoll_break`).
    broke: AtomicBool,
    /// A poller slept with a deadline no later than the new timer: it will run it.
    serviced: AtomicBool,
}

impl Poller {
    fn netpoll_break(&self) {
        self.broke.store(true, SeqCst);
        self.pollnote.wake();
    }
}

/// The timer that was already there, and the earlier one being added.
const OLD: i64 = 100;
const NEW: i64 = 50;

/// `Timers::add` then `wake_netpoller(NEW)`. `wakep` starts an M, which (having
/// nothing to run) reaches the poll step and sees the new timer.
fn add_timer(p: &Arc<Poller>) -> Option<loom::thread::JoinHandle<()>> {
    // The heap lock publishes the entry; SeqCst stands for it here.
    p.heap_min.store(NEW, SeqCst);
    if p.lastpoll.load(SeqCst) == 0 {
        let pu = p.poll_until.load(SeqCst);
        if pu == 0 || pu > NEW {
            p.netpoll_break();
        }
        None
    } else {
        let p = p.clone();
        Some(loom::thread::spawn(move || {
            poll_step(&p);
        }))
    }
}

/// The poll step of `find_runnable`, for an M with nothing to run: become the
/// poller and sleep until the earliest timer, or make sure the poller wakes by
/// then. Time is abstract: a poller records whether its deadline is later than the
/// new timer (it read the heap before the timer arrived) and does not block; the
/// test then asks whether such a late sleeper would have been woken.
fn poll_step(p: &Poller) {
    let poll_until = p.heap_min.load(SeqCst);
    if poll_until == 0 {
        return;
    }
    if p.lastpoll.swap(0, SeqCst) != 0 {
        p.poll_until.store(poll_until, SeqCst);
        if poll_until > NEW {
            p.late.store(true, SeqCst);
        } else {
            p.serviced.store(true, SeqCst);
        }
        // ... sleeps until poll_until or a break ...
        p.poll_until.store(0, SeqCst);
        p.lastpoll.store(1, SeqCst);
    } else {
        let pu = p.poll_until.load(SeqCst);
        if pu == 0 || pu > poll_until {
            p.netpoll_break();
        }
    }
}

/// The idle M's poll step races with a goroutine adding an earlier timer: the
/// poller never sleeps past the new timer unwoken.
#[test]
fn loom_timer_wakes_a_sleeping_poller() {
    loom::model(|| {
        let p = Arc::new(Poller {
            heap_min: AtomicI64::new(OLD),
            lastpoll: AtomicI64::new(1),
            poll_until: AtomicI64::new(0),
            pollnote: Note::new(),
            late: AtomicBool::new(false),
            broke: AtomicBool::new(false),
            serviced: AtomicBool::new(false),
        });
        let adder = {
            let p = p.clone();
            loom::thread::spawn(move || add_timer(&p))
        };
        poll_step(&p);
        if let Some(m) = adder.join().unwrap() {
            m.join().unwrap();
        }
        if p.late.load(SeqCst) {
            assert!(
                p.broke.load(SeqCst) || p.serviced.load(SeqCst),
                "a poller slept past the new timer, unwoken, and nobody else will run it"
            );
        }
    });
}
