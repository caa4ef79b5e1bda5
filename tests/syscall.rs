//! Blocking system calls and locked threads through the public API.

use gort_runtime::sync::WaitGroup;
use gort_runtime::{syscall, Runtime};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

mod common;
use common::{rt, trace_sum};

fn threads(r: &Runtime) -> u64 {
    trace_sum(&r.schedtrace(false), "threads=")
}

/// With one P, a goroutine blocked in a call waits for a message that only another
/// goroutine sends. Without the P hand-off the sender could never run (the test
/// would fail on the 30 s timeout, not hang).
#[test]
fn a_blocked_call_does_not_stop_other_goroutines() {
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        rt(1).run(|| {
            let (tx, rx) = mpsc::channel::<u32>();
            let got = gort_runtime::spawn(move || {
                syscall::blocking(move || rx.recv_timeout(Duration::from_secs(30)))
            });
            let sender = gort_runtime::spawn(move || {
                // Make sure the receiver is in its call first.
                for _ in 0..100 {
                    gort_runtime::yield_now();
                }
                tx.send(7).unwrap();
            });
            sender.join().unwrap();
            assert_eq!(got.join().unwrap(), Ok(7));
        })
    };
}

/// Four goroutines block at once on a rendezvous only all four can complete: that
/// needs four threads in calls at the same time, so the runtime must start threads
/// beyond GOMAXPROCS, and schedtrace's `threads=` shows them.
#[test]
fn threads_grow_under_blocking_calls() {
    let r = rt(1);
    let before = threads(&r);
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        r.run(|| {
            let barrier = Arc::new(Mutex::new(0u32));
            let cv = Arc::new(std::sync::Condvar::new());
            let wg = WaitGroup::new();
            for _ in 0..4 {
                wg.add(1);
                let (barrier, cv, wg) = (barrier.clone(), cv.clone(), wg.clone());
                gort_runtime::go(move || {
                    let ok = syscall::blocking(|| {
                        let mut n = barrier.lock().unwrap();
                        *n += 1;
                        cv.notify_all();
                        let (n, t) = cv
                            .wait_timeout_while(n, Duration::from_secs(30), |n| *n < 4)
                            .unwrap();
                        drop(n);
                        !t.timed_out()
                    });
                    assert!(ok, "the four calls never overlapped");
                    wg.done();
                });
            }
            wg.wait();
        })
    };
    assert!(threads(&r) >= before + 3, "{}", r.schedtrace(false));
}

/// A call that returns at once takes the fast path back and keeps its P.
///
/// Only sysmon takes a P from a call (nothing else here stops the world), and
/// only from a call it has seen in two of its rounds, which are at least 20 µs
/// apart; a goroutine that ran 10 ms without rescheduling may also be asked to
/// yield at the call's safepoint. So a call can lose its P on a machine that
/// stalls this thread mid-call, but not one that finishes within 20 µs, counted
/// from before the `yield_now` that restarts the goroutine's 10 ms. Every such
/// quick call must keep its P; slow ones are left out, and the loop runs until
/// it has 1,000 quick ones (a stall costs at most the call it hits).
#[test]
fn quick_calls_keep_their_p() {
    const QUICK: Duration = Duration::from_micros(20);
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        rt(2).run(|| {
            let deadline = Instant::now() + Duration::from_secs(30);
            let (mut quick, mut kept) = (0, 0);
            while quick < 1000 && Instant::now() < deadline {
                let t = Instant::now();
                gort_runtime::yield_now();
                let p = gort_runtime::debug::current_p();
                let v = syscall::blocking(|| quick * 2);
                assert_eq!(v, quick * 2);
                let same = gort_runtime::debug::current_p() == p;
                if t.elapsed() < QUICK {
                    quick += 1;
                    kept += usize::from(same);
                }
            }
            assert_eq!(quick, 1000, "too few calls took under {QUICK:?}");
            assert_eq!(kept, quick, "quick calls lost their P");
        })
    };
}

#[test]
fn using_the_runtime_inside_a_call_panics() {
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        rt(2).run(|| {
            let h = gort_runtime::spawn(|| syscall::blocking(|| gort_runtime::go(|| {})));
            let err = h.join().unwrap_err().into_panic();
            let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
            assert!(msg.contains("inside syscall::blocking"), "{msg}");
        })
    };
}

#[test]
fn a_panic_inside_a_call_returns_to_the_goroutine() {
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        rt(1).run(|| {
            let h = gort_runtime::spawn(|| syscall::blocking(|| panic!("boom")));
            assert!(h.join().is_err());
            // The runtime still works: the P came back.
            let h = gort_runtime::spawn(|| 5);
            assert_eq!(h.join().unwrap(), 5);
        })
    };
}

/// Stop-the-world does not wait for a call that will only return after it.
#[test]
fn the_world_stops_while_a_goroutine_is_in_a_call() {
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        rt(2).run(|| {
            let (tx, rx) = mpsc::channel::<()>();
            let in_call = Arc::new(AtomicBool::new(false));
            let ic = in_call.clone();
            let h = gort_runtime::spawn(move || {
                syscall::blocking(move || {
                    ic.store(true, Ordering::SeqCst);
                    rx.recv_timeout(Duration::from_secs(30))
                })
            });
            while !in_call.load(Ordering::SeqCst) {
                gort_runtime::yield_now();
            }
            let world = gort_runtime::stw::stop_the_world();
            let gs = world.goroutines();
            assert!(gs
                .iter()
                .any(|g| g.goid == h.goid() && g.status == gort_runtime::Status::Syscall));
            drop(world);
            tx.send(()).unwrap();
            assert_eq!(h.join().unwrap(), Ok(()));
        })
    };
}

/// A locked goroutine always runs on its thread, and no other goroutine runs there
/// while it is locked.
#[test]
fn a_locked_goroutine_owns_its_thread() {
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        rt(2).run(|| {
            let locked_tid = Arc::new(Mutex::new(None));
            let others = Arc::new(Mutex::new(HashSet::new()));
            let done = Arc::new(AtomicBool::new(false));
            let (lt, d) = (locked_tid.clone(), done.clone());
            let locked = gort_runtime::spawn(move || {
                gort_runtime::lock_os_thread();
                let me = std::thread::current().id();
                *lt.lock().unwrap() = Some(me);
                for _ in 0..200 {
                    gort_runtime::yield_now();
                    gort_runtime::time::sleep(Duration::from_micros(50));
                    assert_eq!(std::thread::current().id(), me, "a locked goroutine moved");
                }
                d.store(true, Ordering::SeqCst);
                gort_runtime::unlock_os_thread();
            });
            let wg = WaitGroup::new();
            for _ in 0..8 {
                wg.add(1);
                let (others, done, wg) = (others.clone(), done.clone(), wg.clone());
                let lt = locked_tid.clone();
                gort_runtime::go(move || {
                    // Count only from the moment the lock holds.
                    while lt.lock().unwrap().is_none() {
                        gort_runtime::yield_now();
                    }
                    while !done.load(Ordering::SeqCst) {
                        others.lock().unwrap().insert(std::thread::current().id());
                        gort_runtime::yield_now();
                    }
                    wg.done();
                });
            }
            locked.join().unwrap();
            wg.wait();
            let tid = locked_tid.lock().unwrap().unwrap();
            assert!(
                !others.lock().unwrap().contains(&tid),
                "another goroutine ran on the locked thread"
            );
        })
    };
}

/// A locked goroutine whose call outlasts its P (sysmon hands the P to a busy
/// goroutine, so the call comes back the slow way) still returns on its own
/// thread; a `blocking` nested inside the call runs in place, on that thread.
#[test]
fn a_locked_goroutine_comes_back_from_a_long_call_on_its_thread() {
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        rt(1).run(|| {
            let stop = Arc::new(AtomicBool::new(false));
            let s = stop.clone();
            let busy = gort_runtime::spawn(move || {
                while !s.load(Ordering::SeqCst) {
                    gort_runtime::yield_now();
                }
            });
            let h = gort_runtime::spawn(|| {
                gort_runtime::lock_os_thread();
                let me = std::thread::current().id();
                let inner = syscall::blocking(|| {
                    std::thread::sleep(Duration::from_millis(30));
                    syscall::blocking(|| std::thread::current().id())
                });
                assert_eq!(inner, me, "the nested call ran on another thread");
                assert_eq!(std::thread::current().id(), me, "a locked goroutine moved");
                gort_runtime::unlock_os_thread();
            });
            h.join().unwrap();
            stop.store(true, Ordering::SeqCst);
            busy.join().unwrap();
        })
    };
}

/// A goroutine that exits while locked takes its thread with it.
#[test]
fn exiting_while_locked_ends_the_thread() {
    let r = rt(2);
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        r.run(|| {
            let h = gort_runtime::spawn(|| {
                gort_runtime::lock_os_thread();
                std::thread::current().id()
            });
            let tid = h.join().unwrap();
            // The runtime keeps working, and the thread is not reused.
            let mut seen = HashSet::new();
            for _ in 0..200 {
                let h = gort_runtime::spawn(|| std::thread::current().id());
                seen.insert(h.join().unwrap());
            }
            assert!(!seen.contains(&tid));
        })
    };
}

/// `nmidlelocked` counts the threads parked because their locked goroutine is not
/// runnable; `checkdead` subtracts it from the running threads. A locked goroutine
/// that yields is runnable again at once, so another thread may hand it a P while
/// its own thread is still on the way to being counted idle: the count must not
/// dip below zero meanwhile (it printed `nmidlelocked=-1` in scheddetail). A
/// plain thread samples the count while locked goroutines yield and ping-pong.
#[test]
fn the_idle_locked_count_never_goes_negative() {
    let r = rt(2);
    let done = AtomicBool::new(false);
    let lowest = std::thread::scope(|s| {
        let sampler = s.spawn(|| {
            let mut lowest = 0;
            while !done.load(Ordering::Relaxed) {
                lowest = lowest.min(gort_runtime::export_test::nmidlelocked(&r));
            }
            lowest
        });
        // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
        unsafe {
            r.run(|| {
                let wg = WaitGroup::new();
                for _ in 0..4 {
                    wg.add(1);
                    let wg = wg.clone();
                    gort_runtime::go(move || {
                        gort_runtime::lock_os_thread();
                        for _ in 0..2_000 {
                            gort_runtime::yield_now();
                        }
                        gort_runtime::unlock_os_thread();
                        wg.done();
                    });
                }
                for _ in 0..2 {
                    let (ping_tx, ping_rx) = gort_runtime::chan::bounded::<u32>(0);
                    let (pong_tx, pong_rx) = gort_runtime::chan::bounded::<u32>(0);
                    wg.add(2);
                    let w = wg.clone();
                    gort_runtime::go(move || {
                        gort_runtime::lock_os_thread();
                        for i in 0..2_000 {
                            ping_tx.send(i);
                            pong_rx.recv();
                        }
                        gort_runtime::unlock_os_thread();
                        w.done();
                    });
                    let w = wg.clone();
                    gort_runtime::go(move || {
                        gort_runtime::lock_os_thread();
                        for _ in 0..2_000 {
                            pong_tx.send(ping_rx.recv().unwrap());
                        }
                        gort_runtime::unlock_os_thread();
                        w.done();
                    });
                }
                wg.wait();
            })
        };
        done.store(true, Ordering::Relaxed);
        sampler.join().unwrap()
    });
    assert_eq!(lowest, 0, "nmidlelocked went negative");
    assert_eq!(gort_runtime::export_test::nmidlelocked(&r), 0);
}

/// A blocking primitive used inside `blocking` panics before it registers
/// anything: the primitive stays usable afterwards.
#[test]
fn a_misused_primitive_is_left_intact() {
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        rt(2).run(|| {
            let sem = Arc::new(gort_runtime::sync::Semaphore::new(0));
            let s2 = sem.clone();
            let h = gort_runtime::spawn(move || syscall::blocking(|| s2.acquire()));
            assert!(h.join().is_err());
            sem.release();
            sem.acquire();
            let m = Arc::new(gort_runtime::sync::Mutex::new(0));
            let m2 = m.clone();
            let h = gort_runtime::spawn(move || syscall::blocking(|| *m2.lock() += 1));
            assert!(h.join().is_err());
            *m.lock() += 1;
            assert_eq!(*m.lock(), 1);
            let h = gort_runtime::spawn(|| syscall::blocking(gort_runtime::yield_now));
            let err = h.join().unwrap_err().into_panic();
            let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
            assert!(msg.contains("inside syscall::blocking"), "{msg}");
        })
    };
}
