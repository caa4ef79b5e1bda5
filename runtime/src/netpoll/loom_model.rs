//! loom models of the socket waiter word (`waiter.rs`, Go's `netpollblock` /
//! `netpollblockcommit` / `netpollunblock`), run on the real functions.
//!
//! A "goroutine" thread does what `PollDesc::wait` does: check the error bits,
//! [`prepare`](waiter::prepare), check again, park — g0's
//! [`commit`](waiter::commit) followed by sleeping on a note, as the real park
//! switches out and is later made runnable — and [`finish`](waiter::finish).
//! Other threads are the poller delivering readiness and a deadline timer
//! expiring the direction. Checked in every interleaving:
//!
//! - readiness before the goroutine announces itself, between its announcement
//!   and its park, or after it parked, always ends the wait with "ready" (a lost
//!   wake-up would leave the goroutine asleep, which loom reports as a deadlock);
//! - a deadline racing readiness ends the wait one way or the other, and
//!   readiness the goroutine did not consume stays recorded (`READY`) for its
//!   next wait;
//! - a close (a deadline with no future) wakes a parked goroutine.
//!
//! A negative model unblocks before publishing the deadline bit and shows the
//! goroutine can then sleep forever: the order the real code follows matters.

use super::waiter::{self, PD_NIL, PD_READY};
use crate::proc::note::Note;
use loom::sync::atomic::{AtomicU32, AtomicUsize, Ordering::SeqCst};
use loom::sync::Arc;

/// A parked goroutine's address, as the waiter word would hold it.
const G: usize = 0x1000;
/// The direction's "deadline passed" bit.
const EXPIRED: u32 = 1;

struct Pd {
    rg: AtomicUsize,
    info: AtomicU32,
    /// The parked goroutine's wake-up (what `ready(g)` stands for).
    parked: Note,
}

impl Pd {
    fn new() -> Arc<Pd> {
        Arc::new(Pd {
            rg: AtomicUsize::new(PD_NIL),
            info: AtomicU32::new(0),
            parked: Note::new(),
        })
    }

    fn expired(&self) -> bool {
        self.info.load(SeqCst) & EXPIRED != 0
    }

    /// `pollWait`: Ok on readiness, Err on an expired deadline.
    fn wait(&self) -> Result<(), ()> {
        if self.expired() {
            return Err(());
        }
        loop {
            if waiter::prepare(&self.rg) {
                return Ok(());
            }
            if !self.expired() && waiter::commit(&self.rg, G) {
                self.parked.sleep();
            }
            if waiter::finish(&self.rg) {
                return Ok(());
            }
            if self.expired() {
                return Err(());
            }
        }
    }

    /// The poller saw the socket ready (`netpollready`).
    fn ready(&self) {
        if let Some(g) = waiter::unblock(&self.rg, true) {
            assert_eq!(g, G);
            self.parked.wake();
        }
    }

    /// The deadline timer fired (`netpolldeadlineimpl`): bit first, then unblock.
    fn expire(&self) {
        self.info.fetch_or(EXPIRED, SeqCst);
        if let Some(g) = waiter::unblock(&self.rg, false) {
            assert_eq!(g, G);
            self.parked.wake();
        }
    }
}

#[test]
fn loom_netpoll_ready_races_park() {
    loom::model(|| {
        let pd = Pd::new();
        let p = pd.clone();
        let poller = loom::thread::spawn(move || p.ready());
        assert_eq!(pd.wait(), Ok(()));
        poller.join().unwrap();
        // Consumed exactly once: nothing left for the next wait.
        assert_eq!(pd.rg.load(SeqCst), PD_NIL);
    });
}

#[test]
fn loom_netpoll_deadline_races_ready() {
    loom::model(|| {
        let pd = Pd::new();
        let (p1, p2) = (pd.clone(), pd.clone());
        let poller = loom::thread::spawn(move || p1.ready());
        let timer = loom::thread::spawn(move || p2.expire());
        let r = pd.wait();
        poller.join().unwrap();
        timer.join().unwrap();
        if r.is_err() {
            // Timed out: the readiness it did not consume is still recorded.
            assert_eq!(pd.rg.load(SeqCst), PD_READY);
        } else {
            assert_eq!(pd.rg.load(SeqCst), PD_NIL);
        }
    });
}

#[test]
fn loom_netpoll_deadline_wakes_parked_waiter() {
    loom::model(|| {
        let pd = Pd::new();
        let p = pd.clone();
        let timer = loom::thread::spawn(move || p.expire());
        assert_eq!(pd.wait(), Err(()));
        timer.join().unwrap();
        assert_eq!(pd.rg.load(SeqCst), PD_NIL);
    });
}

/// Unblocking before publishing the bit: the goroutine can check the bit (not
/// set yet), the timer can find the word still NIL (nobody to wake), and then
/// the goroutine parks for good.
#[test]
#[should_panic(expected = "lost wake-up")]
fn loom_netpoll_bit_after_unblock_loses_the_wakeup() {
    loom::model(|| {
        let pd = Pd::new();
        let woke = Arc::new(loom::sync::atomic::AtomicBool::new(false));
        let (p, w) = (pd.clone(), woke.clone());
        let timer = loom::thread::spawn(move || {
            if waiter::unblock(&p.rg, false).is_some() {
                w.store(true, SeqCst);
            }
            p.info.fetch_or(EXPIRED, SeqCst);
        });
        // The goroutine, up to the point where it would sleep.
        let parked =
            !pd.expired() && !waiter::prepare(&pd.rg) && !pd.expired() && waiter::commit(&pd.rg, G);
        timer.join().unwrap();
        if parked && !woke.load(SeqCst) {
            panic!("lost wake-up: parked past an expired deadline");
        }
    });
}
