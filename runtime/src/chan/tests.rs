//! Channels and `select` between plain threads (no runtime): the parking path
//! of threads outside the runtime (`ThreadParker`), the lock, the wait queues,
//! the direct hand-off and select's three passes — the channel core without a
//! goroutine switch, which is the part Miri can run (goroutines switch stacks in
//! assembly). CI runs this file, and `select.rs`'s tests, under Miri with
//! Stacked and Tree Borrows (`.ci/run`); iteration counts shrink there.

use super::{bounded, never};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;

/// Values per test: enough to interleave natively, few enough for Miri.
const N: u32 = if cfg!(miri) { 8 } else { 2_000 };

#[test]
fn plain_threads_hand_off_on_an_unbuffered_channel_in_order() {
    let (tx, rx) = bounded::<Box<u32>>(0);
    let sender = thread::spawn(move || {
        for i in 0..N {
            tx.send(Box::new(i));
        }
        tx.close();
    });
    let got: Vec<u32> = rx.iter().map(|b| *b).collect();
    sender.join().unwrap();
    assert_eq!(got, (0..N).collect::<Vec<_>>());
}

#[test]
fn a_full_buffer_takes_a_parked_sender_threads_value_in_order() {
    let (tx, rx) = bounded::<u32>(2);
    tx.send(0);
    tx.send(1);
    let parked = thread::spawn(move || tx.send(2));
    // The third value waits behind the two buffered ones, whenever it arrives.
    assert_eq!(rx.recv(), Some(0));
    assert_eq!(rx.recv(), Some(1));
    assert_eq!(rx.recv(), Some(2));
    parked.join().unwrap();
}

#[test]
fn close_wakes_a_parked_receiver_and_makes_a_parked_sender_panic() {
    let (tx, rx) = bounded::<Box<u32>>(0);
    let (tx2, rx2) = (tx.clone(), rx.clone());
    let receiver = thread::spawn(move || rx2.recv());
    let sender = thread::spawn(move || tx2.send(Box::new(9)));
    // Whichever met first exchanged the value; the other is released by close.
    let (r, s) = loop {
        if receiver.is_finished() && sender.is_finished() {
            break (receiver.join().unwrap(), sender.join());
        }
        if !receiver.is_finished() && !sender.is_finished() {
            // Both parked (or about to park): close releases both.
            tx.close();
            break (receiver.join().unwrap(), sender.join());
        }
        thread::yield_now();
    };
    match (r, s) {
        (Some(v), Ok(())) => assert_eq!(*v, 9),
        (None, Err(e)) => {
            assert_eq!(e.downcast_ref::<&str>(), Some(&"send on closed channel"));
        }
        (r, s) => panic!("receiver got {r:?}, sender {:?}", s.is_ok()),
    }
    drop(rx);
}

#[test]
fn buffered_values_are_dropped_with_the_channel() {
    struct Counted(Arc<AtomicUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let drops = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = bounded::<Counted>(3);
    for _ in 0..3 {
        tx.send(Counted(drops.clone()));
    }
    drop(rx.recv());
    drop((tx, rx));
    assert_eq!(drops.load(Ordering::SeqCst), 3);
}

#[test]
fn racing_selects_take_each_value_exactly_once() {
    let (a_tx, a_rx) = bounded::<u32>(0);
    let (b_tx, b_rx) = bounded::<u32>(1);
    let senders: Vec<_> = [a_tx, b_tx]
        .into_iter()
        .enumerate()
        .map(|(k, tx)| {
            thread::spawn(move || {
                for i in 0..N {
                    tx.send(2 * i + k as u32);
                }
                tx.close();
            })
        })
        .collect();
    let receivers: Vec<_> = (0..2)
        .map(|_| {
            let (a, b, closed) = (a_rx.clone(), b_rx.clone(), never::<u32>());
            thread::spawn(move || {
                // A closed channel is always ready: select on a never-ready one
                // (Go's nil channel) instead once it has said so.
                let (mut got, mut a_open, mut b_open) = (Vec::new(), true, true);
                while a_open || b_open {
                    crate::select! {
                        recv(if a_open { &a } else { &closed }) -> v => match v {
                            Some(v) => got.push(v),
                            None => a_open = false,
                        },
                        recv(if b_open { &b } else { &closed }) -> v => match v {
                            Some(v) => got.push(v),
                            None => b_open = false,
                        },
                    }
                }
                got
            })
        })
        .collect();
    for s in senders {
        s.join().unwrap();
    }
    let mut all: Vec<u32> = receivers
        .into_iter()
        .flat_map(|r| r.join().unwrap())
        .collect();
    all.sort_unstable();
    assert_eq!(all, (0..2 * N).collect::<Vec<_>>());
}

/// A select parked on a send arm and a receive arm: a receiver of the first and
/// a close of the second race; exactly one arm wins, and a send that lost keeps
/// (and drops) its value.
#[test]
fn a_parked_select_completes_exactly_one_of_a_racing_receive_and_close() {
    for _ in 0..if cfg!(miri) { 2 } else { 200 } {
        let (tx, rx) = bounded::<Box<u32>>(0);
        let (quit_tx, quit_rx) = bounded::<()>(0);
        let tx2 = tx.clone();
        let selecting = thread::spawn(move || {
            crate::select! {
                send(tx, Box::new(5)) => "sent",
                recv(quit_rx) -> v => { assert!(v.is_none()); "quit" },
            }
        });
        let receiver = thread::spawn(move || rx.recv());
        let closer = thread::spawn(move || quit_tx.close());
        closer.join().unwrap();
        let took = selecting.join().unwrap();
        if took == "quit" {
            // Nobody will send now: release the receiver.
            tx2.close();
        }
        let got = receiver.join().unwrap();
        match took {
            "sent" => assert_eq!(got.as_deref(), Some(&5)),
            _ => assert!(got.is_none()),
        }
    }
}
