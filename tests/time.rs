//! Timers through the public API: sleep, after_func, stop/reset; many sleepers
//! cost no thread each; timers keep a program from being judged deadlocked.

use gort_runtime::sync::WaitGroup;
use gort_runtime::time;
use gort_runtime::Runtime;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn rt(procs: usize) -> Runtime {
    Runtime::builder().procs(procs).build().unwrap()
}

#[test]
fn sleep_is_never_early() {
    rt(2).run(|| {
        for ms in [1u64, 2, 5, 10, 3] {
            let t = Instant::now();
            time::sleep(Duration::from_millis(ms));
            assert!(t.elapsed() >= Duration::from_millis(ms), "woke early");
        }
    });
}

/// Many sleepers with different deadlines: none wakes before its deadline. (The
/// order in which timers fire is checked on the heap itself, in `time/timer.rs`;
/// the order in which readied goroutines then run depends on the machine's load —
/// two timers due in the same scheduler round are readied together.)
#[test]
fn many_sleepers_are_never_woken_early() {
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
    });
}

#[test]
fn ten_thousand_sleepers_share_a_few_threads() {
    let r = rt(2);
    let woke = r.run(|| {
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
    });
    assert_eq!(woke, 10_000);
    let trace = r.schedtrace(false);
    let threads: usize = trace
        .split("threads=")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        threads <= 8,
        "sleeping goroutines must not take a thread each: {trace}"
    );
}

#[test]
fn after_func_runs_in_a_goroutine_and_stop_cancels() {
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
    });
}

#[test]
fn reset_moves_a_pending_timer() {
    rt(2).run(|| {
        let fired_at = Arc::new(Mutex::new(None));
        let f = fired_at.clone();
        let start = Instant::now();
        let t = time::after_func(Duration::from_secs(3600), move || {
            *f.lock().unwrap() = Some(Instant::now());
        });
        assert!(t.reset(Duration::from_millis(3)), "was pending");
        time::sleep(Duration::from_millis(50));
        let at = fired_at.lock().unwrap().expect("fired after the reset");
        assert!(at.duration_since(start) >= Duration::from_millis(3));
    });
}

#[test]
fn a_program_waiting_only_on_a_timer_is_not_deadlocked() {
    // Every goroutine parked, every M idle but one waiting for the timer: that is
    // not a deadlock (checkdead sees the timer).
    rt(1).run(|| {
        let wg = WaitGroup::new();
        wg.add(1);
        let w = wg.clone();
        time::after_func(Duration::from_millis(30), move || w.done());
        wg.wait();
    });
}

#[test]
fn sleep_outside_a_runtime_sleeps_the_thread() {
    let t = Instant::now();
    time::sleep(Duration::from_millis(2));
    assert!(t.elapsed() >= Duration::from_millis(2));
}
