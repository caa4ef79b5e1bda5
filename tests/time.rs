//! Timers through the public API: sleep, after_func, stop/reset; many sleepers
//! cost no thread each; timers keep a program from being judged deadlocked.

use gort_runtime::sync::WaitGroup;
use gort_runtime::time;
use gort_runtime::Runtime;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;
use common::{rt, trace_sum};

#[test]
fn sleep_is_never_early() {
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        rt(2).run(|| {
            for ms in [1u64, 2, 5, 10, 3] {
                let t = Instant::now();
                time::sleep(Duration::from_millis(ms));
                assert!(t.elapsed() >= Duration::from_millis(ms), "woke early");
            }
        })
    };
}

/// Many sleepers with different deadlines: none wakes before its deadline. (The
/// order in which timers fire is checked on the heap itself, in `time/timer.rs`;
/// the order in which readied goroutines then run depends on the machine's load —
/// two timers due in the same scheduler round are readied together.)
#[test]
fn many_sleepers_are_never_woken_early() {
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        rt(2).run(|| {
            let wg = WaitGroup::new();
            let early = Arc::new(AtomicU32::new(0));
            for i in 0..200u64 {
                wg.add(1);
                let (wg, early) = (wg.clone(), early.clone());
                gort_runtime::go(move || {
                    let d = Duration::from_micros(100 + 37 * i);
                    let t = Instant::now();
                    time::sleep(d);
                    if t.elapsed() < d {
                        early.fetch_add(1, Ordering::SeqCst);
                    }
                    wg.done();
                });
            }
            wg.wait();
            assert_eq!(early.load(Ordering::SeqCst), 0);
        })
    };
}

#[test]
fn ten_thousand_sleepers_share_a_few_threads() {
    let r = rt(2);
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    let woke = unsafe {
        r.run(|| {
            let woke = Arc::new(AtomicU64::new(0));
            let wg = WaitGroup::new();
            for i in 0..10_000u64 {
                wg.add(1);
                let (woke, wg) = (woke.clone(), wg.clone());
                gort_runtime::go(move || {
                    for _ in 0..3 {
                        time::sleep(Duration::from_micros(500 + (i % 7) * 100));
                    }
                    woke.fetch_add(1, Ordering::Relaxed);
                    wg.done();
                });
            }
            wg.wait();
            woke.load(Ordering::Relaxed)
        })
    };
    assert_eq!(woke, 10_000);
    let trace = r.schedtrace(false);
    let threads = trace_sum(&trace, "threads=");
    assert!(
        threads <= 8,
        "sleeping goroutines must not take a thread each: {trace}"
    );
}

#[test]
fn after_func_runs_in_a_goroutine_and_stop_cancels() {
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        rt(2).run(|| {
            let fired = Arc::new(AtomicU32::new(0));
            let wg = WaitGroup::new();
            wg.add(1);
            let (f2, w2) = (fired.clone(), wg.clone());
            let t = time::after_func(Duration::from_millis(2), move || {
                assert!(gort_runtime::debug::goid().is_some(), "runs on a goroutine");
                f2.fetch_add(1, Ordering::SeqCst);
                w2.done();
            });
            wg.wait();
            assert!(!t.stop(), "already fired");
            let f3 = fired.clone();
            let cancelled = time::after_func(Duration::from_millis(5), move || {
                f3.fetch_add(100, Ordering::SeqCst);
            });
            assert!(cancelled.stop());
            time::sleep(Duration::from_millis(20));
            assert_eq!(
                fired.load(Ordering::SeqCst),
                1,
                "a stopped timer never fires"
            );
        })
    };
}

/// An hour-long timer reset to 3 ms fires then: not before the 3 ms are up, and
/// long before the hour. The test waits for the firing itself, however late a
/// loaded machine gets to it; a timer `reset` did not move would not come
/// within the minute it waits.
#[test]
fn reset_moves_a_pending_timer() {
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        rt(2).run(|| {
            let (fired, rx) = gort_runtime::chan::bounded(1);
            let t = time::after_func(Duration::from_secs(3600), move || {
                fired.send(Instant::now());
            });
            let before_reset = Instant::now();
            assert!(t.reset(Duration::from_millis(3)), "was pending");
            let at = gort_runtime::select! {
                recv(rx) -> at => at.unwrap(),
                recv(time::after(Duration::from_secs(60))) -> _ => {
                    panic!("the reset timer did not fire within a minute")
                }
            };
            assert!(at >= before_reset + Duration::from_millis(3), "fired early");
        })
    };
}

#[test]
fn a_program_waiting_only_on_a_timer_is_not_deadlocked() {
    // Every goroutine parked, every M idle but one waiting for the timer: that is
    // not a deadlock (checkdead sees the timer).
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        rt(1).run(|| {
            let wg = WaitGroup::new();
            wg.add(1);
            let w = wg.clone();
            time::after_func(Duration::from_millis(30), move || w.done());
            wg.wait();
        })
    };
}

#[test]
fn sleep_outside_a_runtime_sleeps_the_thread() {
    let t = Instant::now();
    time::sleep(Duration::from_millis(2));
    assert!(t.elapsed() >= Duration::from_millis(2));
}

#[test]
fn a_timer_delivers_once_and_not_early() {
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        rt(2).run(|| {
            let start = Instant::now();
            let t = time::Timer::new(Duration::from_millis(3));
            let at = t.c().recv().unwrap();
            assert!(at.duration_since(start) >= Duration::from_millis(3));
            time::sleep(Duration::from_millis(10));
            assert!(t.c().try_recv().is_err(), "a one-shot timer fired twice");
        })
    };
}

/// Go 1.23's rule: once `stop` or `reset` returns, no value from the earlier
/// arming is received — even if the timer had already fired into the channel.
#[test]
fn stop_and_reset_leave_no_stale_value() {
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        rt(2).run(|| {
            let t = time::Timer::new(Duration::from_millis(1));
            time::sleep(Duration::from_millis(10)); // fired; the value sits in the channel
            assert!(
                t.stop(),
                "stop drained the value: it prevented the delivery"
            );
            assert!(t.c().try_recv().is_err(), "stale value after stop");
            assert!(!t.stop(), "nothing left to prevent");

            let t = time::Timer::new(Duration::from_millis(1));
            time::sleep(Duration::from_millis(10));
            let before_reset = Instant::now();
            assert!(
                t.reset(Duration::from_millis(20)),
                "reset drained the old value"
            );
            let at = t.c().recv().unwrap();
            assert!(
                at >= before_reset + Duration::from_millis(20),
                "received the old arming's value"
            );
        })
    };
}

#[test]
fn after_times_out_a_select() {
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        rt(2).run(|| {
            let (tx, rx) = gort_runtime::chan::bounded::<u32>(0);
            let start = Instant::now();
            let got = gort_runtime::select! {
                recv(rx) -> v => v,
                recv(time::after(Duration::from_millis(5))) -> _ => None,
            };
            assert_eq!(got, None);
            assert!(start.elapsed() >= Duration::from_millis(5));
            // And a value that arrives first wins over the timeout.
            gort_runtime::go(move || tx.send(9));
            let got = gort_runtime::select! {
                recv(rx) -> v => v,
                recv(time::after(Duration::from_secs(60))) -> _ => None,
            };
            assert_eq!(got, Some(9));
        })
    };
}

#[test]
fn a_ticker_ticks_until_stopped_and_drops_ticks_for_slow_readers() {
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        rt(2).run(|| {
            let t = time::Ticker::new(Duration::from_millis(1));
            let mut last = Instant::now();
            for _ in 0..5 {
                let at = t.c().recv().unwrap();
                assert!(at >= last, "ticks go forward");
                last = at;
            }
            // A slow reader: once a tick waits in the channel (which holds one),
            // 20 more periods pass and the ticks of those are dropped rather than
            // queued. (Waiting for the first one, not for a fixed time: on a
            // stalled machine the timer may run late.)
            let deadline = Instant::now() + Duration::from_secs(60);
            while t.c().is_empty() {
                assert!(Instant::now() < deadline, "no tick within a minute");
                time::sleep(Duration::from_millis(1));
            }
            time::sleep(Duration::from_millis(20));
            assert_eq!(t.c().len(), 1);
            t.stop();
            time::sleep(Duration::from_millis(5));
            assert!(t.c().try_recv().is_err(), "ticked after stop");
            t.reset(Duration::from_millis(1));
            assert!(t.c().recv().is_some(), "reset restarts it");
            t.stop();
        })
    };
}

#[test]
fn tick_of_zero_is_never_ready_and_ticker_of_zero_panics() {
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        rt(1).run(|| {
            let never = time::tick(Duration::ZERO);
            let ready = gort_runtime::select! {
                recv(never) -> _ => true,
                default => false,
            };
            assert!(!ready);
            let h = gort_runtime::spawn(|| time::Ticker::new(Duration::ZERO));
            let err = h.join().err().expect("panicked").into_panic();
            let msg = err
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| err.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            assert_eq!(msg, "non-positive interval for NewTicker");
        })
    };
}

/// The pre-1.23 idiom `if !t.Stop() { <-t.C }` must never block: stop reports
/// false only when the value is gone (received) and nothing is in flight.
#[test]
fn the_stop_then_drain_idiom_never_blocks() {
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        rt(2).run(|| {
            for i in 0..200u64 {
                let t = time::Timer::new(Duration::from_micros(i % 20));
                if i % 3 == 0 {
                    time::sleep(Duration::from_micros(30));
                }
                if !t.stop() {
                    // Go's idiom: a false stop means the value was already received or
                    // is about to be; with gort's guarantee nothing is left either way,
                    // so only a non-blocking look is safe and it finds nothing.
                    assert!(t.c().try_recv().is_err());
                }
                assert!(t.c().try_recv().is_err(), "stale value after stop");
            }
        })
    };
}

/// A ticker nobody can receive from any more leaves its heap at its next tick.
#[test]
fn a_dropped_ticker_leaves_the_heap() {
    let r = rt(1);
    let timerslen = |r: &Runtime| trace_sum(&r.schedtrace(true), "timerslen=");
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        r.run(|| {
            let t = time::Ticker::new(Duration::from_millis(1));
            t.c().recv().unwrap();
            drop(t);
            let rx = time::tick(Duration::from_millis(1));
            rx.recv().unwrap();
            drop(rx);
            // One P, one timer heap: the tickers' next ticks (1 ms) run before
            // this sleep's timer (20 ms) fires, however late the P gets to them.
            time::sleep(Duration::from_millis(20));
        })
    };
    assert_eq!(timerslen(&r), 0, "{}", r.schedtrace(true));
}
