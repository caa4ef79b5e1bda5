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

#[test]
fn sleepers_wake_in_deadline_order() {
    // Deadlines 3 ms apart: far enough that the order of wake-ups is the order of
    // deadlines even on a loaded machine (a sleeper may wake late, never early, and
    // every wake-up is recorded by the goroutine itself as it resumes).
    let order = rt(2).run(|| {
        let order = Arc::new(Mutex::new(Vec::new()));
        let wg = WaitGroup::new();
        for i in (0..20u64).rev() {
            wg.add(1);
            let (order, wg) = (order.clone(), wg.clone());
            gort_runtime::go(move || {
                time::sleep(Duration::from_millis(5 + 3 * i));
                order.lock().unwrap().push(i);
                wg.done();
            });
        }
        wg.wait();
        let v = order.lock().unwrap().clone();
        v
    });
    // Lateness could in principle reorder neighbours; count inversions against a
    // strict bound instead of demanding perfection under arbitrary load.
    let inversions = order.windows(2).filter(|w| w[0] > w[1]).count();
    assert_eq!(order.len(), 20);
    assert!(inversions <= 2, "wake order {order:?}");
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
