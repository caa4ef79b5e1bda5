//! Go's `sync` through the public API: Mutex, RwLock, WaitGroup, Once, Cond and
//! Pool under contention from many goroutines, Go's panic messages, the wait
//! reasons a parked goroutine shows, and starvation mode's guarantee.

use gort::sync::{Cond, Mutex, Once, Pool, RwLock, Semaphore, WaitGroup};
use gort::{Status, WaitReason};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

mod common;
use common::{panic_message, rt};

/// Yields until goroutine `goid` is parked with `reason` (seen with the world
/// stopped). Returns when it is; a wrong reason keeps the loop going and the test
/// then hangs, which the harness reports.
fn wait_parked(goid: u64, reason: WaitReason) {
    loop {
        let world = gort::stw::stop_the_world();
        let parked = world
            .goroutines()
            .iter()
            .any(|g| g.goid == goid && g.status == Status::Waiting && g.wait_reason == reason);
        drop(world);
        if parked {
            return;
        }
        gort::yield_now();
    }
}

#[test]
fn mutex_1000_goroutines_count_exactly() {
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    let total = unsafe {
        rt(2).run(|| {
            let m = Arc::new(Mutex::new(0u64));
            let wg = WaitGroup::new();
            for _ in 0..1000 {
                let m = m.clone();
                wg.go(move || {
                    for _ in 0..200 {
                        let mut g = m.lock();
                        // A read-modify-write split by a yield: lost updates unless the
                        // lock really excludes.
                        let v = *g;
                        if v.is_multiple_of(64) {
                            gort::yield_now();
                        }
                        *g = v + 1;
                    }
                });
            }
            wg.wait();
            let v = *m.lock();
            v
        })
    };
    assert_eq!(total, 200_000);
}

#[test]
fn mutex_blocks_a_plain_thread_until_a_goroutine_unlocks() {
    let m = Arc::new(Mutex::new(Vec::new()));
    let rt = rt(2);
    let m2 = m.clone();
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        rt.run(move || {
            let g = m2.lock();
            let m3 = m2.clone();
            // A plain OS thread contends with the goroutine that holds the lock.
            let t = std::thread::spawn(move || m3.lock().push("thread"));
            let mut g = g;
            for _ in 0..100 {
                gort::yield_now();
            }
            g.push("goroutine");
            drop(g);
            t.join().unwrap();
        })
    };
    assert_eq!(*m.lock(), ["goroutine", "thread"]);
}

#[test]
fn a_goroutine_waiting_for_a_mutex_is_parked_with_gos_reason() {
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        rt(2).run(|| {
            let m = Arc::new(Mutex::new(()));
            let g = m.lock();
            let m2 = m.clone();
            let h = gort::spawn(move || drop(m2.lock()));
            wait_parked(h.goid(), WaitReason::SyncMutexLock);
            drop(g);
            h.join().unwrap();
        })
    };
}

#[test]
fn mutex_starving_waiter_gets_the_lock_while_others_hammer_it() {
    // Hammers take the lock back to back, holding it across a yield so a parked
    // waiter waits well over 1 ms; only starvation mode's handoff guarantees the
    // victim ever wins. The test asserts that it finishes, not how fast.
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    let rounds = unsafe {
        rt(2).run(|| {
            let m = Arc::new(Mutex::new(0u64));
            let victim_done = Arc::new(AtomicBool::new(false));
            let wg = WaitGroup::new();
            for _ in 0..4 {
                let (m, done) = (m.clone(), victim_done.clone());
                wg.go(move || {
                    while !done.load(Ordering::Acquire) {
                        let mut g = m.lock();
                        *g += 1;
                        for _ in 0..20 {
                            std::hint::black_box(*g);
                            gort::yield_now();
                        }
                    }
                });
            }
            // Let the hammers get going before the victim arrives.
            while *m.lock() < 50 {
                gort::yield_now();
            }
            let (m2, done) = (m.clone(), victim_done.clone());
            let victim = gort::spawn(move || {
                for _ in 0..20 {
                    drop(m2.lock());
                }
                done.store(true, Ordering::Release);
            });
            victim.join().unwrap();
            wg.wait();
            let v = *m.lock();
            v
        })
    };
    assert!(rounds >= 50);
}

#[test]
fn rwlock_readers_are_inside_together() {
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        rt(2).run(|| {
            const N: usize = 8;
            let l = Arc::new(RwLock::new(()));
            let inside = Arc::new(AtomicUsize::new(0));
            let wg = WaitGroup::new();
            for _ in 0..N {
                let (l, inside) = (l.clone(), inside.clone());
                wg.go(move || {
                    let _r = l.read();
                    inside.fetch_add(1, Ordering::SeqCst);
                    // Every reader holds its read lock until all N are in: this only
                    // terminates if read locks are shared.
                    while inside.load(Ordering::SeqCst) < N {
                        gort::yield_now();
                    }
                });
            }
            wg.wait();
        })
    };
}

#[test]
fn rwlock_writers_are_exclusive_and_readers_never_see_a_writer() {
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    let (v, bad) = unsafe {
        rt(2).run(|| {
            let l = Arc::new(RwLock::new(0u64));
            let writing = Arc::new(AtomicBool::new(false));
            let bad = Arc::new(AtomicU64::new(0));
            let wg = WaitGroup::new();
            for i in 0..200 {
                let (l, writing, bad) = (l.clone(), writing.clone(), bad.clone());
                wg.go(move || {
                    for _ in 0..50 {
                        if i % 4 == 0 {
                            let mut w = l.write();
                            writing.store(true, Ordering::SeqCst);
                            let v = *w;
                            gort::yield_now();
                            *w = v + 1;
                            writing.store(false, Ordering::SeqCst);
                        } else {
                            let r = l.read();
                            if writing.load(Ordering::SeqCst) {
                                bad.fetch_add(1, Ordering::Relaxed);
                            }
                            std::hint::black_box(*r);
                            gort::yield_now();
                        }
                    }
                });
            }
            wg.wait();
            let v = *l.read();
            (v, bad.load(Ordering::Relaxed))
        })
    };
    assert_eq!(v, 50 * 50);
    assert_eq!(bad, 0);
}

#[test]
fn rwlock_pending_writer_blocks_new_readers() {
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        rt(2).run(|| {
            let l = Arc::new(RwLock::new(0));
            let r = l.read();
            let l2 = l.clone();
            let writer = gort::spawn(move || *l2.write() = 1);
            wait_parked(writer.goid(), WaitReason::SyncRwMutexLock);
            // Writer preference: with a writer queued, a new reader may not enter.
            assert!(l.try_read().is_none());
            let l3 = l.clone();
            let reader = gort::spawn(move || *l3.read());
            wait_parked(reader.goid(), WaitReason::SyncRwMutexRLock);
            drop(r);
            writer.join().unwrap();
            // The late reader ran after the writer.
            assert_eq!(reader.join().unwrap(), 1);
        })
    };
}

#[test]
fn waitgroup_waits_for_every_goroutine_with_several_waiters() {
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        rt(2).run(|| {
            for _round in 0..20 {
                let wg = WaitGroup::new();
                let n = Arc::new(AtomicUsize::new(0));
                for _ in 0..100 {
                    let n = n.clone();
                    wg.go(move || {
                        gort::yield_now();
                        n.fetch_add(1, Ordering::SeqCst);
                    });
                }
                let waiters: Vec<_> = (0..3)
                    .map(|_| {
                        let (wg, n) = (wg.clone(), n.clone());
                        gort::spawn(move || {
                            wg.wait();
                            n.load(Ordering::SeqCst)
                        })
                    })
                    .collect();
                wg.wait();
                assert_eq!(n.load(Ordering::SeqCst), 100);
                for w in waiters {
                    assert_eq!(w.join().unwrap(), 100, "a waiter left early");
                }
            }
        })
    };
}

#[test]
fn waitgroup_negative_counter_panics_with_gos_message() {
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    let msg = unsafe {
        rt(2).run(|| {
            let wg = WaitGroup::new();
            let h = gort::spawn(move || wg.done());
            panic_message(h.join().unwrap_err())
        })
    };
    assert_eq!(msg, "sync: negative WaitGroup counter");
}

#[test]
fn waitgroup_waiter_is_parked_with_gos_reason() {
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        rt(2).run(|| {
            let wg = WaitGroup::new();
            wg.add(1);
            let w = wg.clone();
            let h = gort::spawn(move || w.wait());
            wait_parked(h.goid(), WaitReason::SyncWaitGroupWait);
            wg.done();
            h.join().unwrap();
        })
    };
}

#[test]
fn once_runs_exactly_once_under_contention() {
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    let (runs, seen) = unsafe {
        rt(2).run(|| {
            let once = Arc::new(Once::new());
            let runs = Arc::new(AtomicUsize::new(0));
            let value = Arc::new(AtomicU64::new(0));
            let seen = Arc::new(AtomicUsize::new(0));
            let wg = WaitGroup::new();
            for _ in 0..500 {
                let (once, runs, value, seen) =
                    (once.clone(), runs.clone(), value.clone(), seen.clone());
                wg.go(move || {
                    once.call_once(|| {
                        runs.fetch_add(1, Ordering::SeqCst);
                        // Park inside f: the others must wait, not return early.
                        for _ in 0..10 {
                            gort::yield_now();
                        }
                        value.store(42, Ordering::Relaxed);
                    });
                    if value.load(Ordering::Relaxed) == 42 {
                        seen.fetch_add(1, Ordering::SeqCst);
                    }
                });
            }
            wg.wait();
            (runs.load(Ordering::SeqCst), seen.load(Ordering::SeqCst))
        })
    };
    assert_eq!(runs, 1);
    assert_eq!(seen, 500, "a caller returned before f completed");
}

#[test]
fn once_is_done_after_f_panics() {
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        rt(2).run(|| {
            let once = Arc::new(Once::new());
            let o = once.clone();
            let h = gort::spawn(move || o.call_once(|| panic!("init failed")));
            assert_eq!(panic_message(h.join().unwrap_err()), "init failed");
            assert!(once.is_completed());
            let mut ran = false;
            once.call_once(|| ran = true);
            assert!(!ran, "Go's Once never runs f again, even after a panic");
        })
    };
}

/// A Cond test's shared state: (registered waiters, woken ids) and the Cond.
type CondState = Arc<(Mutex<(usize, Vec<usize>)>, Cond)>;

/// Starts `n` goroutines that each wait once on `c` (no predicate loop: every
/// wake-up is counted), and returns when all `n` hold a ticket.
fn start_cond_waiters(n: usize, state: &CondState) -> Vec<gort::JoinHandle<()>> {
    let hs = (0..n)
        .map(|i| {
            let s = state.clone();
            let h = gort::spawn(move || {
                let (m, c) = &*s;
                let mut g = m.lock();
                g.0 += 1; // registered
                let mut g = c.wait(g);
                g.1.push(i); // woken
            });
            // One at a time, so that ticket order is i's order.
            loop {
                if state.0.lock().0 == i + 1 {
                    break;
                }
                gort::yield_now();
            }
            h
        })
        .collect();
    hs
}

#[test]
fn cond_signal_wakes_exactly_the_longest_waiter_and_broadcast_all() {
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        rt(2).run(|| {
            let state = Arc::new((Mutex::new((0usize, Vec::new())), Cond::new()));
            let hs = start_cond_waiters(5, &state);
            state.1.signal();
            while state.0.lock().1.is_empty() {
                gort::yield_now();
            }
            for _ in 0..200 {
                gort::yield_now();
            }
            assert_eq!(state.0.lock().1, [0], "signal wakes one, the oldest");
            state.1.signal();
            while state.0.lock().1.len() < 2 {
                gort::yield_now();
            }
            assert_eq!(state.0.lock().1, [0, 1]);
            state.1.broadcast();
            for h in hs {
                h.join().unwrap();
            }
            let mut woken = state.0.lock().1.clone();
            woken.sort();
            assert_eq!(woken, [0, 1, 2, 3, 4]);
        })
    };
}

#[test]
fn cond_signal_before_a_wait_does_not_wake_it() {
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        rt(2).run(|| {
            let state = Arc::new((Mutex::new((0usize, Vec::new())), Cond::new()));
            state.1.signal(); // nobody waits yet: lost, as in Go
            let hs = start_cond_waiters(1, &state);
            wait_parked(hs[0].goid(), WaitReason::SyncCondWait);
            assert!(state.0.lock().1.is_empty());
            state.1.signal();
            for h in hs {
                h.join().unwrap();
            }
            assert_eq!(state.0.lock().1, [0]);
        })
    };
}

#[test]
fn cond_producer_consumer_delivers_every_item_once() {
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    let got = unsafe {
        rt(2).run(|| {
            let q = Arc::new((Mutex::new((Vec::<u32>::new(), false)), Cond::new()));
            let sum = Arc::new(AtomicU64::new(0));
            let wg = WaitGroup::new();
            for _ in 0..4 {
                let (q, sum) = (q.clone(), sum.clone());
                wg.go(move || loop {
                    let (m, c) = &*q;
                    let mut g = m.lock();
                    while g.0.is_empty() && !g.1 {
                        g = c.wait(g);
                    }
                    match g.0.pop() {
                        Some(v) => {
                            drop(g);
                            sum.fetch_add(v as u64, Ordering::Relaxed);
                        }
                        None => return, // closed and drained
                    }
                });
            }
            for v in 1..=1000u32 {
                q.0.lock().0.push(v);
                q.1.signal();
            }
            q.0.lock().1 = true;
            q.1.broadcast();
            wg.wait();
            sum.load(Ordering::Relaxed)
        })
    };
    assert_eq!(got, 1000 * 1001 / 2);
}

#[test]
fn pool_reuses_objects_and_forgets_them_after_two_cleanups() {
    struct Tracked(Arc<AtomicUsize>);
    impl Drop for Tracked {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        rt(2).run(|| {
            let made = Arc::new(AtomicUsize::new(0));
            let dropped = Arc::new(AtomicUsize::new(0));
            let (m, d) = (made.clone(), dropped.clone());
            let pool = Pool::new(move || {
                m.fetch_add(1, Ordering::SeqCst);
                Tracked(d.clone())
            });
            let a = pool.get();
            assert_eq!(made.load(Ordering::SeqCst), 1);
            pool.put(a);
            let a = pool.get(); // same goroutine, same P: the private slot
            assert_eq!(made.load(Ordering::SeqCst), 1, "reused, not made again");
            pool.put(a);
            pool.clear_victims(); // primary -> victim
            let a = pool.get(); // found among the victims
            assert_eq!(made.load(Ordering::SeqCst), 1);
            pool.put(a);
            pool.clear_victims();
            assert_eq!(dropped.load(Ordering::SeqCst), 0);
            pool.clear_victims(); // second round without a get: dropped
            assert_eq!(dropped.load(Ordering::SeqCst), 1);
            drop(pool.get());
            assert_eq!(made.load(Ordering::SeqCst), 2);
        })
    };
}

#[test]
fn pool_under_contention_hands_each_object_to_one_goroutine_at_a_time() {
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        rt(2).run(|| {
            let pool = Arc::new(Pool::new(|| Arc::new(AtomicBool::new(false))));
            let bad = Arc::new(AtomicUsize::new(0));
            let wg = WaitGroup::new();
            for _ in 0..200 {
                let (pool, bad) = (pool.clone(), bad.clone());
                wg.go(move || {
                    for _ in 0..50 {
                        let o = pool.get();
                        if o.swap(true, Ordering::SeqCst) {
                            bad.fetch_add(1, Ordering::Relaxed);
                        }
                        gort::yield_now();
                        o.store(false, Ordering::SeqCst);
                        pool.put(o);
                    }
                });
            }
            wg.wait();
            assert_eq!(bad.load(Ordering::Relaxed), 0);
        })
    };
}

#[test]
fn semaphore_limits_concurrency() {
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        rt(2).run(|| {
            let sem = Arc::new(Semaphore::new(3));
            let inside = Arc::new(AtomicUsize::new(0));
            let max = Arc::new(AtomicUsize::new(0));
            let wg = WaitGroup::new();
            for _ in 0..100 {
                let (sem, inside, max) = (sem.clone(), inside.clone(), max.clone());
                wg.go(move || {
                    sem.acquire();
                    let n = inside.fetch_add(1, Ordering::SeqCst) + 1;
                    max.fetch_max(n, Ordering::SeqCst);
                    gort::yield_now();
                    inside.fetch_sub(1, Ordering::SeqCst);
                    sem.release();
                });
            }
            wg.wait();
            assert!(max.load(Ordering::SeqCst) <= 3);
            assert!(sem.try_acquire() && sem.try_acquire() && sem.try_acquire());
            assert!(!sem.try_acquire());
        })
    };
}

/// The goroutine holding a stopped world may unlock a mutex in starvation mode:
/// the direct hand-off must not make it yield (it has to keep running to start
/// the world again).
#[test]
fn unlocking_a_starving_mutex_while_the_world_is_stopped() {
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        gort::Runtime::builder().procs(1).build().unwrap().run(|| {
            let m = std::sync::Arc::new(gort::sync::Mutex::new(0u32));
            let g = m.lock();
            let m2 = m.clone();
            let waiter = gort::spawn(move || *m2.lock() += 1);
            gort::time::sleep(std::time::Duration::from_millis(5));
            drop(g);
            // The woken waiter has not run yet: barge in, so that when it runs it
            // finds the lock taken after waiting over 1 ms and switches to starvation.
            let g = m.lock();
            gort::yield_now();
            gort::time::sleep(std::time::Duration::from_millis(2));
            let world = gort::stw::stop_the_world();
            drop(g); // hand-off to the starving waiter, with the world stopped
            drop(world);
            waiter.join().unwrap();
            assert_eq!(*m.lock(), 1);
        })
    };
}
