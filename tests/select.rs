//! `select!` through the public API, modelled on Go's select tests: default,
//! readiness, uniform choice among ready cases, never-ready cases, send arms, a
//! blocked select winning exactly one case, close while selecting, Go's panics.

use gort::chan::{self, TryRecvError, TrySendError};
use gort::{select, WaitReason};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

mod common;
use common::{panic_message, parked, rt, wait_parked};

#[test]
fn default_is_taken_when_nothing_is_ready() {
    let (tx, rx) = chan::bounded::<u32>(0);
    let r = select! {
        recv(rx) -> _ => "recv",
        send(tx, 1) => "send", // unbuffered, nobody receiving
        default => "default",
    };
    assert_eq!(r, "default");
    // Nothing was left behind: the send arm's value was dropped, not queued.
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
}

#[test]
fn a_ready_receive_is_taken_over_default_and_a_closed_one_yields_none() {
    let (tx, rx) = chan::bounded::<u32>(1);
    tx.send(5);
    let v = select! {
        recv(rx) -> v => v,
        default => panic!("default taken with a value buffered"),
    };
    assert_eq!(v, Some(5));
    tx.close();
    let v = select! {
        recv(rx) -> v => v,
        default => panic!("a closed channel is always ready"),
    };
    assert_eq!(v, None);
}

#[test]
fn a_send_arm_delivers_its_value() {
    let (tx, rx) = chan::bounded::<String>(1);
    select! {
        send(tx, "hello".to_string()) => {},
        default => panic!("room in the buffer"),
    }
    assert_eq!(rx.recv().as_deref(), Some("hello"));
    // Full now: the send arm is not ready.
    tx.send("x".into());
    let took_default = select! {
        send(&tx, "y".to_string()) => false,
        default => true,
    };
    assert!(took_default);
    assert_eq!(rx.len(), 1);
}

/// With every case ready, each is chosen about equally often. 4 cases x 10,000
/// trials each expected; the standard deviation of one count is
/// sqrt(40000 * 1/4 * 3/4) ≈ 87, so a bound of ±1,000 (over 11 sigma) cannot flake
/// unless the choice is biased.
fn uniform_choice() {
    const TRIALS: usize = 40_000;
    let chans: Vec<_> = (0..4).map(|_| chan::bounded::<usize>(1)).collect();
    for (i, (tx, _)) in chans.iter().enumerate() {
        tx.send(i);
    }
    let mut counts = [0usize; 4];
    for _ in 0..TRIALS {
        let got = select! {
            recv(chans[0].1) -> v => v,
            recv(chans[1].1) -> v => v,
            recv(chans[2].1) -> v => v,
            recv(chans[3].1) -> v => v,
        }
        .unwrap();
        counts[got] += 1;
        chans[got].0.send(got); // ready again
    }
    for (i, &c) in counts.iter().enumerate() {
        assert!(
            (9_000..=11_000).contains(&c),
            "case {i} chosen {c} times of {TRIALS}: {counts:?}"
        );
    }
}

#[test]
fn ready_cases_are_chosen_uniformly_on_a_goroutine() {
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe { rt(2).run(uniform_choice) };
}

#[test]
fn ready_cases_are_chosen_uniformly_on_a_plain_thread() {
    uniform_choice();
}

#[test]
fn never_cases_are_never_chosen() {
    let off = chan::never::<u32>();
    let off_tx = chan::Sender::<u32>::never();
    let (tx, rx) = chan::bounded::<u32>(1);
    for i in 0..1000 {
        tx.send(i);
        let v = select! {
            recv(off) -> _ => unreachable!(),
            send(off_tx, 0) => unreachable!(),
            recv(rx) -> v => v,
        };
        assert_eq!(v, Some(i));
    }
    let d = select! {
        recv(off) -> _ => false,
        send(off_tx, 0) => false,
        default => true,
    };
    assert!(d);
}

#[test]
fn arms_of_different_element_types_mix() {
    let (a_tx, a_rx) = chan::bounded::<u8>(1);
    let (b_tx, b_rx) = chan::bounded::<String>(1);
    let (c_tx, c_rx) = chan::bounded::<Vec<u64>>(1);
    b_tx.send("b".into());
    let mut got = Vec::new();
    for _ in 0..3 {
        select! {
            recv(a_rx) -> v => got.push(format!("a{}", v.unwrap())),
            recv(b_rx) -> v => { got.push(v.unwrap()); a_tx.send(1); },
            send(c_tx, vec![1, 2, 3]) => got.push("c".into()),
        }
        // After c is sent its buffer stays full: the arm is no longer ready.
    }
    got.sort();
    assert_eq!(got, ["a1", "b", "c"]);
    assert_eq!(c_rx.recv(), Some(vec![1, 2, 3]));
}

#[test]
fn a_blocked_select_wins_exactly_one_case_and_leaves_the_others_unchanged() {
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        rt(2).run(|| {
            let (tx1, rx1) = chan::bounded::<u32>(0);
            let (tx2, rx2) = chan::bounded::<u32>(0);
            let (tx3, rx3) = chan::bounded::<u32>(0);
            let h = gort::spawn(move || {
                select! {
                    recv(rx1) -> v => (1, v),
                    recv(rx2) -> v => (2, v),
                    send(tx3, 30) => (3, None),
                }
            });
            wait_parked(WaitReason::Select, 1);
            tx2.send(20);
            assert_eq!(h.join().unwrap(), (2, Some(20)));
            // The select withdrew from the other channels: no receiver waits on 1, no
            // sender waits on 3.
            assert_eq!(tx1.try_send(10), Err(TrySendError::Full(10)));
            assert_eq!(rx3.try_recv(), Err(TryRecvError::Empty));
            assert_eq!(tx2.try_send(21), Err(TrySendError::Full(21)));
        })
    };
}

#[test]
fn a_blocked_send_arm_is_taken_by_a_receiver() {
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        rt(2).run(|| {
            let (tx, rx) = chan::bounded::<Vec<u8>>(0);
            let (_quit_tx, quit_rx) = chan::bounded::<()>(0);
            let h = gort::spawn(move || {
                select! {
                    send(tx, vec![7; 3]) => "sent",
                    recv(quit_rx) -> _ => "quit",
                }
            });
            wait_parked(WaitReason::Select, 1);
            assert_eq!(rx.recv(), Some(vec![7, 7, 7]));
            assert_eq!(h.join().unwrap(), "sent");
        })
    };
}

#[test]
fn racing_senders_each_value_is_received_once() {
    // Two senders race to complete one parked select at a time; the loser's send
    // must stay pending (its value neither lost nor delivered twice).
    const N: u64 = 20_000;
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    let total = unsafe {
        rt(2).run(|| {
            let (tx1, rx1) = chan::bounded::<u64>(0);
            let (tx2, rx2) = chan::bounded::<u64>(0);
            gort::go(move || (0..N).for_each(|i| tx1.send(i)));
            gort::go(move || (0..N).for_each(|i| tx2.send(N + i)));
            let mut seen = vec![false; 2 * N as usize];
            for _ in 0..2 * N {
                let v = select! {
                    recv(rx1) -> v => v.unwrap(),
                    recv(rx2) -> v => v.unwrap(),
                };
                assert!(!seen[v as usize], "{v} received twice");
                seen[v as usize] = true;
            }
            seen.iter().filter(|&&s| s).count()
        })
    };
    assert_eq!(total, 2 * N as usize);
}

#[test]
fn selects_on_both_ends_hand_values_to_each_other() {
    // Both sides block in select; every value still passes exactly once.
    const N: u64 = 10_000;
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    let sum = unsafe {
        rt(2).run(|| {
            let (tx, rx) = chan::bounded::<u64>(0);
            let (_idle_tx, idle_rx) = chan::bounded::<u64>(0);
            let (idle2_tx, _idle2_rx) = chan::bounded::<u64>(0);
            gort::go(move || {
                for i in 0..N {
                    select! {
                        send(tx, i) => {},
                        recv(idle_rx) -> _ => unreachable!(),
                    }
                }
                tx.close();
            });
            let mut sum = 0;
            loop {
                select! {
                    recv(rx) -> v => match v {
                        Some(v) => sum += v,
                        None => break,
                    },
                    send(idle2_tx, 0) => unreachable!(),
                }
            }
            sum
        })
    };
    assert_eq!(sum, N * (N - 1) / 2);
}

#[test]
fn close_wakes_a_select_receive_with_none() {
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        rt(2).run(|| {
            let (tx, rx) = chan::bounded::<u32>(0);
            let (_tx2, rx2) = chan::bounded::<u32>(0);
            let h = gort::spawn(move || {
                select! {
                    recv(rx) -> v => v,
                    recv(rx2) -> _ => Some(99),
                }
            });
            wait_parked(WaitReason::Select, 1);
            tx.close();
            assert_eq!(h.join().unwrap(), None);
        })
    };
}

#[test]
fn a_send_arm_on_a_closed_channel_panics_with_or_without_default() {
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        rt(2).run(|| {
            let (tx, _rx) = chan::bounded::<u32>(1);
            tx.close();
            let t = tx.clone();
            let e = gort::spawn(move || {
                select! {
                    send(t, 1) => {},
                    default => {},
                }
            })
            .join()
            .unwrap_err();
            assert_eq!(panic_message(e), "send on closed channel");

            // Parked in select, then the channel is closed: it wakes and panics.
            let (tx, _rx) = chan::bounded::<u32>(0);
            let (_qtx, qrx) = chan::bounded::<u32>(0);
            let t = tx.clone();
            let h = gort::spawn(move || {
                select! {
                    send(t, 1) => {},
                    recv(qrx) -> _ => {},
                }
            });
            wait_parked(WaitReason::Select, 1);
            tx.close();
            assert_eq!(
                panic_message(h.join().unwrap_err()),
                "send on closed channel"
            );
        })
    };
}

#[test]
fn an_empty_select_and_an_all_never_select_park_forever() {
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        rt(2).run(|| {
            gort::go(|| {
                select! {}
            });
            gort::go(|| {
                let off = chan::never::<u8>();
                select! {
                    recv(off) -> _ => unreachable!(),
                }
            });
            wait_parked(WaitReason::SelectNoCases, 1);
            wait_parked(WaitReason::Select, 1);
            for _ in 0..50 {
                gort::yield_now();
            }
            assert_eq!(parked(WaitReason::SelectNoCases), 1);
            assert_eq!(parked(WaitReason::Select), 1);
        })
    };
}

#[test]
fn bodies_can_break_and_continue_the_enclosing_loop() {
    let (tx, rx) = chan::bounded::<u32>(8);
    for i in 0..8 {
        tx.send(i);
    }
    tx.close();
    let mut odd = 0;
    loop {
        select! {
            recv(rx) -> v => {
                let Some(v) = v else { break };
                if v % 2 == 0 {
                    continue;
                }
                odd += v;
            }
        }
    }
    assert_eq!(odd, 1 + 3 + 5 + 7);
}

#[test]
fn a_busy_select_with_default_is_a_safepoint() {
    // One P, and the spinning loop never yields: only the safepoint at the select's
    // entry (honouring sysmon's preemption request) lets the goroutine that makes
    // the case ready run. Without it this test would hang.
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        rt(1).run(|| {
            let (tx, rx) = chan::bounded::<u32>(1);
            gort::go(move || tx.send(1));
            let v = loop {
                select! {
                    recv(rx) -> v => break v,
                    default => {}
                }
            };
            assert_eq!(v, Some(1));
        })
    };
}

#[test]
fn a_plain_thread_can_block_in_select() {
    const N: u64 = 2_000;
    let rt = rt(2);
    let (tx1, rx1) = chan::bounded::<u64>(0);
    let (tx2, rx2) = chan::bounded::<u64>(0);
    let thread = std::thread::spawn(move || {
        let mut sum = 0;
        for _ in 0..N {
            sum += select! {
                recv(rx1) -> v => v.unwrap(),
                recv(rx2) -> v => v.unwrap(),
            };
        }
        sum
    });
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        rt.run(move || {
            // Deadlock detection counts only goroutine wake-ups: while goroutines wait
            // for the plain thread, keep one runnable.
            let stop = Arc::new(AtomicBool::new(false));
            let s = stop.clone();
            gort::go(move || {
                while !s.load(Ordering::Acquire) {
                    gort::yield_now();
                }
            });
            for i in 0..N {
                if i % 2 == 0 {
                    tx1.send(i);
                } else {
                    tx2.send(i);
                }
            }
            stop.store(true, Ordering::Release);
        })
    };
    assert_eq!(thread.join().unwrap(), N * (N - 1) / 2);
}

#[test]
fn arm_syntax_variants_parse() {
    let (tx, rx) = chan::bounded::<u8>(1);
    // Only a default, with a trailing comma.
    assert_eq!(select! { default => 0, }, 0);
    // Default first; block bodies without commas; last arm without a comma.
    let r = select! {
        default => { 1 }
        recv(rx) -> _ => { 2 }
        send(tx, 9) => 3
    };
    assert_eq!(r, 3); // room in the buffer: the send arm is ready
                      // A reference to a handle, and an owned temporary channel.
    let r = select! {
        recv(&rx) -> v => v,
        recv(chan::never::<u8>()) -> _ => unreachable!(),
    };
    assert_eq!(r, Some(9));
}
