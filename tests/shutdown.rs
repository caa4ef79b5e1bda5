//! Dropping a runtime: goroutines that are queued, parked or running stop for
//! good, and their `JoinHandle`s say so instead of waiting forever.

mod common;

use gort::{JoinError, Runtime};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

/// Joins `h` on a plain thread; a join that hangs fails the test (after 60 s)
/// instead of stalling it.
fn join_bounded<T: Send + 'static>(h: gort::JoinHandle<T>) -> Result<T, JoinError> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(h.join());
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("join on a goroutine of a dropped runtime never returned")
}

#[test]
fn join_on_a_goroutine_parked_when_its_runtime_is_dropped_says_abandoned() {
    let rt = Runtime::builder().procs(2).build().unwrap();
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    let (h, _tx) = unsafe {
        rt.run(|| {
            let (tx, rx) = gort::chan::bounded::<u32>(0);
            let h = gort::spawn(move || rx.recv());
            common::wait_parked(gort::WaitReason::ChanReceive, 1);
            (h, tx)
        })
    };
    let goid = h.goid();
    drop(rt);
    match join_bounded(h) {
        Err(JoinError::Abandoned { goid: g }) => assert_eq!(g, goid),
        other => panic!("expected Abandoned, got {other:?}"),
    }
}

#[test]
fn a_goroutine_looping_through_preempt_point_stops_when_its_runtime_is_dropped() {
    let rt = Runtime::builder().procs(2).build().unwrap();
    let count = Arc::new(AtomicU64::new(0));
    let c = count.clone();
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    let h = unsafe {
        rt.run(move || {
            let h = gort::spawn(move || loop {
                c.fetch_add(1, Ordering::Relaxed);
                gort::preempt_point();
            });
            let c = count.clone();
            while c.load(Ordering::Relaxed) == 0 {
                gort::yield_now();
            }
            h
        })
    };
    drop(rt);
    // It stopped at a safepoint and was abandoned there (never to run again),
    // rather than running on its thread for good.
    match join_bounded(h) {
        Err(e @ JoinError::Abandoned { .. }) => {
            assert!(e.to_string().contains("was abandoned"), "{e}")
        }
        other => panic!("expected Abandoned, got {:?}", other.map(|_| ())),
    }
}

#[test]
fn a_finished_goroutine_keeps_its_result_after_the_runtime_is_dropped() {
    let rt = Runtime::builder().procs(2).build().unwrap();
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    let h = unsafe {
        rt.run(|| {
            let h = gort::spawn(|| 42);
            while !h.is_finished() {
                gort::yield_now();
            }
            h
        })
    };
    drop(rt);
    assert_eq!(join_bounded(h).unwrap(), 42);
}
