//! Channels through the public API, modelled on Go's own channel tests
//! (`runtime/chan_test.go`): hand-off, buffering, close, FIFO service of parked
//! goroutines, many producers and consumers, Go's panics, nil-channel waits, and
//! use from plain OS threads.

use gort::chan::{self, TryRecvError, TrySendError};
use gort::WaitReason;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

mod common;
use common::{keep_alive, panic_message, parked, rt, wait_parked};

#[test]
fn an_unbuffered_send_waits_for_its_receiver() {
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        rt(2).run(|| {
            let (tx, rx) = chan::bounded::<u32>(0);
            assert_eq!(
                tx.try_send(1),
                Err(TrySendError::Full(1)),
                "no receiver yet"
            );
            let sent = Arc::new(AtomicBool::new(false));
            let s = sent.clone();
            let h = gort::spawn(move || {
                tx.send(7);
                s.store(true, Ordering::SeqCst);
            });
            wait_parked(WaitReason::ChanSend, 1);
            // Parked, and it stays parked however long we wait: nobody received.
            for _ in 0..100 {
                gort::yield_now();
            }
            assert!(
                !sent.load(Ordering::SeqCst),
                "send returned without a receiver"
            );
            assert_eq!(rx.recv(), Some(7));
            h.join().unwrap();
            assert!(sent.load(Ordering::SeqCst));
        })
    };
}

#[test]
fn a_buffered_channel_takes_cap_values_without_blocking_then_is_full() {
    let (tx, rx) = chan::bounded::<u32>(3);
    assert_eq!((tx.cap(), rx.cap(), tx.len()), (3, 3, 0));
    for i in 0..3 {
        tx.try_send(i).unwrap();
    }
    assert_eq!(rx.len(), 3);
    assert_eq!(tx.try_send(9), Err(TrySendError::Full(9)));
    assert_eq!(rx.try_recv(), Ok(0));
    tx.send(3); // room again: does not block
    assert_eq!(rx.iter().take(3).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    assert!(rx.is_empty());
}

#[test]
fn receives_drain_a_closed_channel_before_reporting_closed() {
    let (tx, rx) = chan::bounded::<String>(4);
    tx.send("a".into());
    tx.send("b".into());
    tx.close();
    assert!(rx.is_closed());
    assert_eq!(
        tx.try_send("c".into()),
        Err(TrySendError::Closed("c".into()))
    );
    assert_eq!(rx.recv().as_deref(), Some("a"));
    assert_eq!(rx.try_recv().as_deref(), Ok("b"));
    assert_eq!(rx.recv(), None);
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    // Ranging over it ends at once.
    assert_eq!(rx.iter().count(), 0);
}

#[test]
fn close_wakes_every_parked_receiver() {
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        rt(2).run(|| {
            let (tx, rx) = chan::bounded::<u32>(0);
            let hs: Vec<_> = (0..8)
                .map(|_| {
                    let rx = rx.clone();
                    gort::spawn(move || rx.recv())
                })
                .collect();
            wait_parked(WaitReason::ChanReceive, 8);
            tx.close();
            for h in hs {
                assert_eq!(h.join().unwrap(), None);
            }
        })
    };
}

#[test]
fn close_makes_every_parked_sender_panic() {
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        rt(2).run(|| {
            let (tx, rx) = chan::bounded::<Box<u32>>(1);
            tx.send(Box::new(0)); // full: the next senders park
            let hs: Vec<_> = (1..=5)
                .map(|i| {
                    let tx = tx.clone();
                    gort::spawn(move || tx.send(Box::new(i)))
                })
                .collect();
            wait_parked(WaitReason::ChanSend, 5);
            tx.close();
            for h in hs {
                let e = h.join().unwrap_err();
                assert_eq!(panic_message(e), "send on closed channel");
            }
            // The buffered value is still delivered after the close.
            assert_eq!(rx.recv(), Some(Box::new(0)));
            assert_eq!(rx.recv(), None);
        })
    };
}

#[test]
fn send_on_closed_and_close_of_closed_panic_with_gos_messages() {
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        rt(1).run(|| {
            let (tx, _rx) = chan::bounded::<u8>(1);
            tx.close();
            let t = tx.clone();
            let e = gort::spawn(move || t.send(1)).join().unwrap_err();
            assert_eq!(panic_message(e), "send on closed channel");
            let e = gort::spawn(move || tx.close()).join().unwrap_err();
            assert_eq!(panic_message(e), "close of closed channel");
            let e = gort::spawn(|| chan::Sender::<u8>::never().close())
                .join()
                .unwrap_err();
            assert_eq!(panic_message(e), "close of nil channel");
        })
    };
}

#[test]
fn parked_receivers_are_served_in_arrival_order() {
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        rt(2).run(|| {
            let (tx, rx) = chan::bounded::<usize>(0);
            let mut hs = Vec::new();
            for i in 0..6 {
                let rx = rx.clone();
                hs.push(gort::spawn(move || rx.recv()));
                wait_parked(WaitReason::ChanReceive, i + 1);
            }
            for v in 0..6 {
                tx.send(v);
            }
            let got: Vec<_> = hs.into_iter().map(|h| h.join().unwrap()).collect();
            assert_eq!(got, [0, 1, 2, 3, 4, 5].map(Some));
        })
    };
}

#[test]
fn parked_senders_are_served_in_arrival_order_unbuffered() {
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        rt(2).run(|| {
            let (tx, rx) = chan::bounded::<usize>(0);
            let mut hs = Vec::new();
            for i in 0..6 {
                let tx = tx.clone();
                hs.push(gort::spawn(move || tx.send(i)));
                wait_parked(WaitReason::ChanSend, i + 1);
            }
            let got: Vec<_> = (0..6).map(|_| rx.recv().unwrap()).collect();
            assert_eq!(got, [0, 1, 2, 3, 4, 5]);
            for h in hs {
                h.join().unwrap();
            }
        })
    };
}

#[test]
fn a_full_buffer_rotates_parked_senders_in_behind_the_buffered_values() {
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        rt(2).run(|| {
            let (tx, rx) = chan::bounded::<usize>(2);
            tx.send(100);
            tx.send(101);
            let mut hs = Vec::new();
            for i in 0..3 {
                let tx = tx.clone();
                hs.push(gort::spawn(move || tx.send(i)));
                wait_parked(WaitReason::ChanSend, i + 1);
            }
            // Each receive takes the head and moves the oldest parked sender's value
            // into the tail: FIFO overall.
            let got: Vec<_> = (0..5).map(|_| rx.recv().unwrap()).collect();
            assert_eq!(got, [100, 101, 0, 1, 2]);
            assert!(rx.is_empty());
            for h in hs {
                h.join().unwrap();
            }
        })
    };
}

#[test]
fn many_producers_and_consumers_deliver_every_value_exactly_once() {
    const PRODUCERS: usize = 4;
    const CONSUMERS: usize = 4;
    const PER: usize = 20_000;
    for cap in [0, 1, 16] {
        // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
        let seen = unsafe {
            rt(2).run(move || {
                let (tx, rx) = chan::bounded::<usize>(cap);
                let wg = gort::sync::WaitGroup::new();
                for p in 0..PRODUCERS {
                    let (tx, wg) = (tx.clone(), wg.clone());
                    wg.add(1);
                    gort::go(move || {
                        for i in 0..PER {
                            tx.send(p * PER + i);
                        }
                        wg.done();
                    });
                }
                let consumers: Vec<_> = (0..CONSUMERS)
                    .map(|_| {
                        let rx = rx.clone();
                        gort::spawn(move || rx.iter().collect::<Vec<_>>())
                    })
                    .collect();
                wg.wait();
                tx.close();
                let mut seen = vec![0u8; PRODUCERS * PER];
                for c in consumers {
                    let got = c.join().unwrap();
                    // Each producer's values arrive in its own order at each consumer.
                    let mut last = [None::<usize>; PRODUCERS];
                    for v in got {
                        let p = v / PER;
                        assert!(last[p].is_none_or(|l| l < v), "out of order: {v}");
                        last[p] = Some(v);
                        seen[v] += 1;
                    }
                }
                seen
            })
        };
        assert!(
            seen.iter().all(|&n| n == 1),
            "cap {cap}: a value lost or duplicated"
        );
    }
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
    let (tx, rx) = chan::bounded(4);
    for _ in 0..3 {
        tx.send(Counted(drops.clone()));
    }
    drop(rx.recv());
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    drop((tx, rx));
    assert_eq!(drops.load(Ordering::SeqCst), 3);
}

#[test]
fn zero_sized_values_pass_through() {
    let (tx, rx) = chan::bounded::<()>(2);
    tx.send(());
    tx.send(());
    assert_eq!(tx.try_send(()), Err(TrySendError::Full(())));
    assert_eq!(rx.len(), 2);
    assert_eq!(rx.recv(), Some(()));
}

#[test]
fn dropping_every_handle_does_not_close() {
    // Go semantics: only close() closes. A receiver left alone sees no close.
    let (tx, rx) = chan::bounded::<u8>(1);
    let tx2 = tx.clone();
    drop(tx);
    assert!(!rx.is_closed());
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    tx2.send(1);
    assert_eq!(rx.recv(), Some(1));
}

#[test]
fn never_channels_park_forever_with_gos_nil_channel_reasons() {
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        rt(2).run(|| {
            let rx = chan::never::<u32>();
            assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
            assert_eq!((rx.len(), rx.cap(), rx.is_closed()), (0, 0, false));
            let tx = chan::Sender::<u32>::never();
            assert_eq!(tx.try_send(1), Err(TrySendError::Full(1)));
            gort::go(move || {
                rx.recv();
                unreachable!("a receive on a never channel returned");
            });
            gort::go(move || {
                tx.send(1);
                unreachable!("a send on a never channel returned");
            });
            wait_parked(WaitReason::ChanReceiveNilChan, 1);
            wait_parked(WaitReason::ChanSendNilChan, 1);
            assert_eq!(
                WaitReason::ChanReceiveNilChan.as_str(),
                "chan receive (nil chan)"
            );
            // Still there: nothing ever wakes them.
            for _ in 0..50 {
                gort::yield_now();
            }
            assert_eq!(parked(WaitReason::ChanReceiveNilChan), 1);
            assert_eq!(parked(WaitReason::ChanSendNilChan), 1);
        })
    };
}

#[test]
fn plain_threads_and_goroutines_exchange_values_both_ways() {
    let rt = rt(2);
    let (tx, rx) = chan::bounded::<u64>(0);
    let (back_tx, back_rx) = chan::bounded::<u64>(0);
    // A plain thread echoes what goroutines send, doubled; it blocks its thread.
    let echo = std::thread::spawn(move || {
        for v in rx.iter() {
            back_tx.send(v * 2);
        }
        back_tx.close();
    });
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    let sum = unsafe {
        rt.run(move || {
            let stop = Arc::new(AtomicBool::new(false));
            keep_alive(stop.clone());
            let mut sum = 0;
            for i in 0..1000 {
                tx.send(i);
                sum += back_rx.recv().unwrap();
            }
            tx.close();
            assert_eq!(back_rx.recv(), None);
            stop.store(true, Ordering::Release);
            sum
        })
    };
    echo.join().unwrap();
    assert_eq!(sum, 2 * (0..1000).sum::<u64>());
}

#[test]
fn a_try_send_from_outside_the_runtime_readies_a_parked_goroutine() {
    // What a timer callback does: a non-blocking send from a context that is not
    // a goroutine, into a channel a goroutine is parked on.
    let rt = rt(2);
    let (tx, rx) = chan::bounded::<u32>(1);
    let (ready_tx, ready_rx) = chan::bounded::<()>(0);
    let feeder = std::thread::spawn(move || {
        ready_rx.recv(); // the goroutine is about to park
        let mut v = 0;
        while v < 100 {
            match tx.try_send(v) {
                Ok(()) => v += 1,
                Err(TrySendError::Full(_)) => std::thread::yield_now(),
                Err(TrySendError::Closed(_)) => unreachable!(),
            }
        }
        tx.close();
    });
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    let got = unsafe {
        rt.run(move || {
            let stop = Arc::new(AtomicBool::new(false));
            keep_alive(stop.clone());
            ready_tx.send(());
            let got = rx.iter().collect::<Vec<_>>();
            stop.store(true, Ordering::Release);
            got
        })
    };
    feeder.join().unwrap();
    assert_eq!(got, (0..100).collect::<Vec<_>>());
}

/// The child side of the deadlock tests below: runs the scenario named by
/// `GORT_CHAN_CHILD` (this test binary run again) and never returns from it.
#[test]
fn deadlock_child_entry() {
    let Ok(name) = std::env::var("GORT_CHAN_CHILD") else {
        return;
    };
    match name.as_str() {
        // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
        "recv" => unsafe {
            gort::run(|| {
                let (_tx, rx) = chan::bounded::<u8>(0);
                rx.recv();
            })
        },
        // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
        "nil" => unsafe {
            gort::run(|| {
                chan::never::<u8>().recv();
            })
        },
        // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
        "select" => unsafe {
            gort::run(|| {
                let (tx, _rx) = chan::bounded::<u8>(0);
                let (_tx2, rx2) = chan::bounded::<u8>(0);
                gort::select! {
                    send(tx, 1) => {},
                    recv(rx2) -> _ => {},
                }
            })
        },
        other => panic!("unknown scenario {other}"),
    }
    std::process::exit(0);
}

fn deadlock_child(name: &str) -> (i32, String) {
    common::run_child("deadlock_child_entry", "GORT_CHAN_CHILD", name, &[])
}

#[test]
fn a_goroutine_blocked_on_a_channel_forever_is_reported_as_gos_deadlock() {
    for (scenario, reason) in [
        ("recv", "chan receive"),
        ("nil", "chan receive (nil chan)"),
        ("select", "select"),
    ] {
        let (code, err) = deadlock_child(scenario);
        assert_eq!(code, 2, "{scenario}: {err}");
        let want = format!(
            "fatal error: all goroutines are asleep - deadlock!\n\ngoroutine 1 [{reason}]:\n"
        );
        assert!(err.starts_with(&want), "{scenario}: {err}");
    }
}
