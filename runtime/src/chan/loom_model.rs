//! loom models of the channel hand-off and of select's done CAS, on the real code.
//!
//! Unlike `proc/idle_model.rs`, nothing is restated here: under `--cfg loom` the
//! real `chan/mod.rs` and `chan/select.rs` are compiled, with two substitutions
//! made inside them: the channel lock ([`ChanLock`](super::ChanLock)) is loom's
//! mutex instead of the futex lock, behind the same
//! [`ChanGuard`](super::ChanGuard) (so a select's raw hand-off, `into_raw` in
//! `sellock`, `from_raw` in `selunlock_raw` and both in `lend_guard`, runs too),
//! and a blocked caller always takes the plain-thread path
//! ([`ThreadParker`](super::ThreadParker): a loom atomic flag and loom's
//! park/unpark) instead of `gopark`. That path registers the sudog under the lock
//! and releases the lock before sleeping, exactly the order `gopark`'s unlock
//! function gives a goroutine, so the protocol checked is the one goroutines run:
//! enqueue under the lock → unlock → sleep; waker: lock → dequeue (select CAS) →
//! write the value and `success` → unlock → wake.
//!
//! The channel state sits in a `loom::cell::UnsafeCell` under loom, so loom also
//! checks that every access to it is ordered by the lock (a causality violation
//! fails the model). A deliberate mistake shows that the models bite: with the
//! select CAS in `WaitQ::dequeue` replaced by a plain store, both select models
//! fail. The other classic mistake, queueing the sudog after the lock was
//! released, needs `unsafe` to write: `park` gets the lock(s) to release only as
//! `register`'s result, and `register` needs the guard to enqueue.
//!
//! Each loom thread plays one goroutine. The properties:
//!
//! * `loom_chan_unbuffered_handoff`: whichever side arrives first parks, the value
//!   arrives exactly once and both return (no lost wake-up: loom reports a
//!   deadlock if a sleeper is never woken).
//! * `loom_chan_full_buffer_rotation`: a sender parked on a full buffer is served by
//!   `recv`'s rotation; values come out in FIFO order.
//! * `loom_chan_close_wakes_receiver`: close racing a receive: the receiver gets
//!   the buffered value first, then `None`, whether it parked or not.
//! * `loom_chan_select_done_cas`: two senders race to complete one blocked select
//!   over two channels; exactly one case wins (the CAS), the other value stays in
//!   its channel, nothing is lost or delivered twice.
//! * `loom_chan_select_close_races_a_receiver`: a close on one case's channel
//!   races a receiver taking the other case's value: exactly one wins, and the
//!   send arm's value is delivered if and only if that arm fired.

use super::{bounded, select};
use loom::thread;

#[test]
fn loom_chan_unbuffered_handoff() {
    loom::model(|| {
        let (tx, rx) = bounded::<u32>(0);
        let t = thread::spawn(move || tx.send(7));
        assert_eq!(rx.recv(), Some(7));
        t.join().unwrap();
    });
}

#[test]
fn loom_chan_full_buffer_rotation() {
    loom::model(|| {
        let (tx, rx) = bounded::<u32>(1);
        let t = thread::spawn(move || {
            tx.send(1);
            tx.send(2); // parks if 1 is still buffered
        });
        assert_eq!(rx.recv(), Some(1));
        assert_eq!(rx.recv(), Some(2));
        t.join().unwrap();
    });
}

#[test]
fn loom_chan_close_wakes_receiver() {
    loom::model(|| {
        let (tx, rx) = bounded::<u32>(1);
        let t = thread::spawn(move || {
            let a = rx.recv();
            let b = rx.recv();
            (a, b)
        });
        tx.send(5);
        tx.close();
        assert_eq!(t.join().unwrap(), (Some(5), None));
    });
}

#[test]
fn loom_chan_select_done_cas() {
    loom::model(|| {
        let (tx1, rx1) = bounded::<u32>(1);
        let (tx2, rx2) = bounded::<u32>(1);
        // Non-blocking sends, as a timer callback makes: into the parked select if
        // it is there and still undecided, else into the buffer.
        let a = thread::spawn(move || tx1.try_send(1).unwrap());
        let b = thread::spawn(move || tx2.try_send(2).unwrap());
        let mut c1 = select::RecvCase::new(&rx1);
        let mut c2 = select::RecvCase::new(&rx2);
        assert!(select::select([c1.case(), c2.case()], false));
        assert!(c1.fired() != c2.fired(), "exactly one case wins");
        let won = if c1.fired() { c1.take() } else { c2.take() };
        a.join().unwrap();
        b.join().unwrap();
        // The other value is in its channel, once; the winner's channel is empty.
        let rest = [rx1.try_recv().ok(), rx2.try_recv().ok()];
        let mut all: Vec<u32> = rest.iter().flatten().copied().chain(won).collect();
        all.sort();
        assert_eq!(all, [1, 2]);
    });
}

#[test]
fn loom_chan_select_close_races_a_receiver() {
    loom::model(|| {
        let (tx1, rx1) = bounded::<u32>(0);
        let (tx2, rx2) = bounded::<u32>(0);
        // One thread closes the channel the select receives from; another tries to
        // take the value the select offers on the other channel.
        let a = thread::spawn(move || tx1.close());
        let b = thread::spawn(move || rx2.try_recv().ok());
        let mut c1 = select::RecvCase::new(&rx1);
        let mut c2 = select::SendCase::new(&tx2, 9);
        assert!(select::select([c1.case(), c2.case()], false));
        assert!(c1.fired() != c2.fired(), "exactly one case wins");
        a.join().unwrap();
        let taken = b.join().unwrap();
        if c1.fired() {
            assert_eq!(c1.take(), None, "woken by close");
            assert_eq!(taken, None, "the send arm lost: its value went nowhere");
        } else {
            assert_eq!(taken, Some(9));
        }
    });
}
