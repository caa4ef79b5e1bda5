//! Go's panic rules, each in a child process (this test binary run again with
//! `GORT_PANIC=<scenario>`), where the failure being guarded against is an abort,
//! a hang or a wrong exit status: a panic in user code the runtime runs for you
//! (`time::after_func`, a `Drop` of a value the runtime owns) is a goroutine's
//! panic, reported Go's way with exit status 2; `main` waits for a panic in
//! progress; a closed stderr never turns a report into an abort; a payload that
//! is not a string prints as Go prints a value, under no panic-machinery frames.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

mod common;

/// Runs scenario `name` in a child process; returns (exit code, stderr).
fn child(name: &str) -> (i32, String) {
    common::run_child("child_entry", "GORT_PANIC", name, &[])
}

/// Runs scenario `name` in a child process whose stderr is a pipe with no reader
/// (closed before the child starts); returns the exit code (-1 for a signal).
fn child_with_closed_stderr(name: &str) -> i32 {
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_entry", "--nocapture", "--test-threads=1"])
        .env("GORT_PANIC", name)
        .env_remove("GOMAXPROCS")
        .env_remove("GODEBUG")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stderr.take());
    child.wait().unwrap().code().unwrap_or(-1)
}

/// A value whose `Drop` panics.
struct PanicOnDrop;

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        panic!("drop of an after_func function");
    }
}

/// Set by main just before it returns (the `late_unwind` scenario).
static MAIN_RETURNING: AtomicBool = AtomicBool::new(false);

/// A local of a panicking goroutine whose `Drop` runs after the `WaitGroup` is
/// done: it waits until main is returning, so the panic is still in progress
/// when main's function has returned.
struct WaitForMain;

impl Drop for WaitForMain {
    fn drop(&mut self) {
        while !MAIN_RETURNING.load(Ordering::SeqCst) {
            std::thread::yield_now();
        }
    }
}

/// Calls `done` on a `WaitGroup` when dropped (Go's `defer wg.Done()`).
struct Done(gort::sync::WaitGroup);

impl Drop for Done {
    fn drop(&mut self) {
        self.0.done();
    }
}

/// Takes a `gort::sync::Mutex` when dropped (Go's `defer mu.Lock()`), and checks
/// that the goroutine, unwinding meanwhile, stayed on its thread across the wait:
/// std's panic state belongs to the thread.
struct LockOnDrop(std::sync::Arc<gort::sync::Mutex<u32>>);

impl Drop for LockOnDrop {
    fn drop(&mut self) {
        assert!(std::thread::panicking());
        let me = std::thread::current().id();
        *self.0.lock() += 1;
        assert_eq!(std::thread::current().id(), me, "moved while unwinding");
    }
}

/// Receives from a channel when dropped, and checks it stayed on its thread.
struct RecvOnDrop(gort::chan::Receiver<u32>);

impl Drop for RecvOnDrop {
    fn drop(&mut self) {
        assert!(std::thread::panicking());
        let me = std::thread::current().id();
        assert_eq!(self.0.recv(), Some(7));
        assert_eq!(std::thread::current().id(), me, "moved while unwinding");
    }
}

/// A panic payload that is neither `&str` nor `String`.
#[allow(dead_code)]
#[derive(Debug)]
struct Point {
    x: i32,
    y: i32,
}

/// A goroutine body whose `syscall::blocking` call panics: its report must show
/// this function below the call.
fn calls_and_panics() {
    gort::syscall::blocking(|| panic!("boom in a call"));
}

/// The child side: runs one scenario and exits 0 if it returns.
#[test]
fn child_entry() {
    let Ok(name) = std::env::var("GORT_PANIC") else {
        return;
    };
    match name.as_str() {
        // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
        "after_func_panic" => unsafe {
            gort::run(|| {
                gort::time::after_func(Duration::from_millis(1), || panic!("boom in after_func"));
                loop {
                    gort::yield_now();
                }
            })
        },
        // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
        "recovered_panic" => unsafe {
            gort::run(|| {
                let h = gort::spawn(|| -> u32 { panic!("recovered by join") });
                assert!(h.join().is_err());
            })
        },
        "wg_go_panic" => {
            let rt = gort::Runtime::builder().procs(2).build().unwrap();
            // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
            unsafe {
                rt.run(|| {
                    let wg = gort::sync::WaitGroup::new();
                    wg.go(|| panic!("boom in WaitGroup::go"));
                    wg.wait();
                })
            };
        }
        // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
        "go_recovers_its_own_panic" => unsafe {
            gort::run(|| {
                // Counted by the hook, caught by the goroutine itself: not in
                // progress any more, so main returns and the process exits 0.
                let wg = gort::sync::WaitGroup::new();
                wg.go(|| {
                    let r = std::panic::catch_unwind(|| panic!("caught inside"));
                    assert!(r.is_err());
                });
                wg.wait();
            })
        },
        "panic_in_another_runtime" => {
            // Runtime B: a `go` goroutine recovers a panic and then spins
            // without a switch, so B counts a panic in progress until it stops.
            static RECOVERED: AtomicBool = AtomicBool::new(false);
            static STOP: AtomicBool = AtomicBool::new(false);
            let b = std::thread::spawn(|| {
                let rt = gort::Runtime::builder().procs(1).build().unwrap();
                // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
                unsafe {
                    rt.run(|| {
                        gort::go(|| {
                            let r = std::panic::catch_unwind(|| panic!("recovered in B"));
                            assert!(r.is_err());
                            RECOVERED.store(true, Ordering::SeqCst);
                            while !STOP.load(Ordering::SeqCst) {
                                std::hint::spin_loop();
                            }
                        });
                        while !RECOVERED.load(Ordering::SeqCst) {
                            gort::yield_now();
                        }
                    })
                };
            });
            while !RECOVERED.load(Ordering::SeqCst) {
                std::thread::yield_now();
            }
            // Runtime A's main returns at once: B's panic is none of its business
            // (it used to park for it and be reported as a deadlock in A).
            let a = gort::Runtime::builder().procs(1).build().unwrap();
            // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
            assert_eq!(unsafe { a.run(|| 7) }, 7);
            STOP.store(true, Ordering::SeqCst);
            b.join().unwrap();
        }
        "late_unwind" => {
            let rt = gort::Runtime::builder().procs(2).build().unwrap();
            // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
            unsafe {
                rt.run(|| {
                    let wg = gort::sync::WaitGroup::new();
                    wg.add(1);
                    let w = wg.clone();
                    gort::go(move || {
                        // Dropped in reverse order: `done` first, then the wait.
                        let _late = WaitForMain;
                        let _done = Done(w);
                        panic!("still unwinding when main returns");
                    });
                    wg.wait();
                    MAIN_RETURNING.store(true, Ordering::SeqCst);
                })
            };
        }
        // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
        "after_func_drop_panics" => unsafe {
            gort::run(|| {
                // The timer's function is stopped and its handle dropped: the heap
                // holds the last reference, dropped when the heap is next cleaned —
                // here while arming this goroutine's sleep timer on the same P.
                let bomb = PanicOnDrop;
                let t = gort::time::after_func(Duration::from_secs(3600), move || {
                    let _ = &bomb;
                });
                assert!(t.stop());
                drop(t);
                gort::time::sleep(Duration::from_millis(1));
                loop {
                    gort::yield_now();
                }
            })
        },
        // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
        "after_func_drop_blocks" => unsafe {
            gort::run(|| {
                // The function's `Drop` blocks on a channel: it must run on a
                // goroutine, which parks, not on the scheduler's own stack.
                let (tx, rx) = gort::chan::bounded::<()>(0);
                let (done_tx, done_rx) = gort::chan::bounded::<()>(0);
                struct Blocks(gort::chan::Receiver<()>, gort::chan::Sender<()>);
                impl Drop for Blocks {
                    fn drop(&mut self) {
                        self.0.recv();
                        self.1.send(());
                    }
                }
                let b = Blocks(rx, done_tx);
                let t = gort::time::after_func(Duration::from_secs(3600), move || {
                    let _ = &b;
                });
                assert!(t.stop());
                drop(t);
                gort::time::sleep(Duration::from_millis(1));
                tx.send(());
                done_rx.recv().expect("the Drop ran to its end");
            })
        },
        // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
        "panic_any_struct" => unsafe {
            gort::run(|| {
                gort::go(|| std::panic::panic_any(Point { x: 1, y: 2 }));
                loop {
                    gort::yield_now();
                }
            })
        },
        // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
        "panic_any_int" => unsafe { gort::run(|| std::panic::panic_any(42u32)) },
        "spawn_drop_blocks" => {
            let rt = gort::Runtime::builder().procs(2).build().unwrap();
            // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
            unsafe {
                rt.run(|| {
                    // A Drop during unwinding waits for a contended Mutex, then
                    // for a channel another goroutine sends on later; the panic
                    // then reaches `join` with its payload.
                    let mu = std::sync::Arc::new(gort::sync::Mutex::new(0));
                    let held = mu.lock();
                    let (tx, rx) = gort::chan::bounded::<u32>(0);
                    let m2 = mu.clone();
                    let h = gort::spawn(move || {
                        let _recv = RecvOnDrop(rx);
                        let _lock = LockOnDrop(m2);
                        panic!("unwinding through blocking drops");
                    });
                    common::wait_parked(gort::WaitReason::SyncMutexLock, 1);
                    drop(held);
                    common::wait_parked(gort::WaitReason::ChanReceive, 1);
                    tx.send(7);
                    let err = h.join().unwrap_err();
                    assert_eq!(
                        common::panic_message(err),
                        "unwinding through blocking drops"
                    );
                    assert_eq!(*mu.lock(), 1);
                })
            };
        }
        "spawn_drop_calls" => {
            // With one P kept busy, a `syscall::blocking` call made by a Drop
            // during unwinding comes back the slow way (its P was handed on):
            // it must resume on its own thread all the same.
            let rt = gort::Runtime::builder().procs(1).build().unwrap();
            // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
            unsafe {
                rt.run(|| {
                    let stop = std::sync::Arc::new(AtomicBool::new(false));
                    let s = stop.clone();
                    let busy = gort::spawn(move || {
                        while !s.load(Ordering::SeqCst) {
                            gort::yield_now();
                        }
                    });
                    struct CallOnDrop;
                    impl Drop for CallOnDrop {
                        fn drop(&mut self) {
                            let me = std::thread::current().id();
                            gort::syscall::blocking(|| {
                                std::thread::sleep(Duration::from_millis(30))
                            });
                            assert_eq!(std::thread::current().id(), me, "moved while unwinding");
                        }
                    }
                    let h = gort::spawn(|| {
                        let _call = CallOnDrop;
                        panic!("unwinding through a blocking call");
                    });
                    assert!(h.join().is_err());
                    stop.store(true, Ordering::SeqCst);
                    busy.join().unwrap();
                })
            };
        }
        "locked_drop_blocks" => {
            // The runtime's lock while unwinding nests with the user's own: a
            // goroutine locked by `lock_os_thread` stays locked after a Drop
            // blocked during a panic it then caught, and keeps its thread
            // across later parks.
            let rt = gort::Runtime::builder().procs(2).build().unwrap();
            // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
            unsafe {
                rt.run(|| {
                    let mu = std::sync::Arc::new(gort::sync::Mutex::new(0));
                    let held = mu.lock();
                    let (tx, rx) = gort::chan::bounded::<u32>(0);
                    let m2 = mu.clone();
                    let h = gort::spawn(move || {
                        gort::lock_os_thread();
                        let me = std::thread::current().id();
                        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
                            let _lock = LockOnDrop(m2);
                            panic!("caught after a blocking drop");
                        }));
                        assert!(r.is_err());
                        for _ in 0..20 {
                            assert!(rx.recv().is_some());
                            assert_eq!(std::thread::current().id(), me, "a locked goroutine moved");
                        }
                        gort::unlock_os_thread();
                    });
                    common::wait_parked(gort::WaitReason::SyncMutexLock, 1);
                    drop(held);
                    // Sent from a plain thread, each message readies the goroutine
                    // through the global queue, where either M may find it; one
                    // goroutine keeps running meanwhile, so that no deadlock is
                    // judged while it waits for the thread.
                    let stop = std::sync::Arc::new(AtomicBool::new(false));
                    common::keep_alive(stop.clone());
                    let sender = std::thread::spawn(move || {
                        for i in 0..20 {
                            tx.send(i);
                        }
                    });
                    h.join().unwrap();
                    stop.store(true, Ordering::SeqCst);
                    sender.join().unwrap();
                })
            };
        }
        "go_drop_blocks" => {
            let rt = gort::Runtime::builder().procs(2).build().unwrap();
            // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
            unsafe {
                rt.run::<_, ()>(|| {
                    let mu = std::sync::Arc::new(gort::sync::Mutex::new(0));
                    let held = mu.lock();
                    let m2 = mu.clone();
                    gort::go(move || {
                        let _lock = LockOnDrop(m2);
                        panic!("a go goroutine unwinding through a blocking drop");
                    });
                    common::wait_parked(gort::WaitReason::SyncMutexLock, 1);
                    drop(held);
                    loop {
                        gort::yield_now();
                    }
                })
            };
        }
        // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
        "drop_blocks_forever" => unsafe {
            gort::run(|| {
                // The Drop waits for a lock main never releases, and main waits
                // for nothing that can happen: a true deadlock, reported.
                let mu = std::sync::Arc::new(gort::sync::Mutex::new(0));
                let _held = mu.lock();
                let m2 = mu.clone();
                gort::go(move || {
                    let _lock = LockOnDrop(m2);
                    panic!("stuck in a drop");
                });
                let wg = gort::sync::WaitGroup::new();
                wg.add(1);
                wg.wait();
            })
        },
        // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
        "huge_capture" => unsafe {
            gort::run(|| {
                // Six times the limit, a fifth of the 256 KiB stack: copied about
                // ten times on the way in, it used to overflow the new stack.
                let r = std::panic::catch_unwind(|| {
                    let data = [7u8; 48 * 1024];
                    gort::spawn(move || std::hint::black_box(&data)[0]);
                });
                let msg = common::panic_message(r.unwrap_err());
                assert!(msg.contains("captures 49152 bytes"), "{msg}");
            })
        },
        // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
        "drop_blocks_forever_after_main_returns" => unsafe {
            gort::run(|| {
                // The Drop releases main (`done`) and then waits for a lock nobody
                // will release: main, waiting for the panic in progress, must not
                // spin for ever; once nothing can run, it is a deadlock.
                let mu = std::sync::Arc::new(gort::sync::Mutex::new(0));
                std::mem::forget(mu.lock());
                let m2 = mu.clone();
                let wg = gort::sync::WaitGroup::new();
                wg.add(1);
                let w = wg.clone();
                gort::go(move || {
                    let _lock = LockOnDrop(m2);
                    let _done = Done(w);
                    panic!("stuck in a drop after main returned");
                });
                wg.wait();
            })
        },
        // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
        "go_panic_in_call" => unsafe {
            gort::run(|| {
                gort::go(calls_and_panics);
                loop {
                    gort::yield_now();
                }
            })
        },
        other => panic!("unknown scenario {other}"),
    }
    std::process::exit(0);
}

#[test]
fn a_panic_in_an_after_func_function_is_a_goroutine_panic() {
    let (code, err) = child("after_func_panic");
    assert_eq!(code, 2, "{err}");
    assert!(
        err.starts_with("panic: boom in after_func\n\ngoroutine "),
        "{err}"
    );
}

#[test]
fn a_recovered_panic_with_stderr_closed_does_not_abort() {
    assert_eq!(child_with_closed_stderr("recovered_panic"), 0);
}

#[test]
fn main_does_not_wait_for_a_panic_in_another_runtime() {
    let (code, err) = child("panic_in_another_runtime");
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("deadlock"), "{err}");
}

#[test]
fn main_waits_for_a_goroutine_panic_in_progress() {
    let (code, err) = child("late_unwind");
    assert_eq!(code, 2, "{err}");
    assert!(
        err.starts_with("panic: still unwinding when main returns\n\ngoroutine "),
        "{err}"
    );
}

#[test]
fn a_panic_in_waitgroup_go_is_fatal_even_though_wait_returns() {
    for _ in 0..5 {
        let (code, err) = child("wg_go_panic");
        assert_eq!(code, 2, "{err}");
        assert!(err.starts_with("panic: boom in WaitGroup::go\n"), "{err}");
    }
}

#[test]
fn a_drop_of_an_after_func_function_that_panics_is_a_goroutine_panic() {
    let (code, err) = child("after_func_drop_panics");
    assert_eq!(code, 2, "{err}");
    assert!(
        err.starts_with("panic: drop of an after_func function\n\ngoroutine "),
        "{err}"
    );
}

#[test]
fn a_drop_of_an_after_func_function_may_block() {
    let (code, err) = child("after_func_drop_blocks");
    assert_eq!(code, 0, "{err}");
}

#[test]
fn a_panic_a_goroutine_recovers_itself_does_not_hold_main() {
    let (code, err) = child("go_recovers_its_own_panic");
    assert_eq!(code, 0, "{err}");
}

#[test]
fn a_payload_that_is_not_a_string_prints_gos_shape_and_no_panic_machinery() {
    let (code, err) = child("panic_any_struct");
    assert_eq!(code, 2, "{err}");
    assert!(err.starts_with("panic: (dyn Any) 0x"), "{err}");
    let mut lines = err.lines().skip(2);
    assert!(lines.next().unwrap().ends_with(" [running]:"), "{err}");
    // The first frame is the closure that panicked, not the hook or std.
    let first = lines.next().unwrap();
    assert!(first.starts_with("panic::child_entry::"), "{err}");
    assert!(!err.contains("install_hook"), "{err}");
    assert!(!err.contains("panic_any"), "{err}");
}

#[test]
fn a_number_payload_prints_its_value_as_go_does() {
    let (code, err) = child("panic_any_int");
    assert_eq!(code, 2, "{err}");
    assert!(
        err.starts_with("panic: 42\n\ngoroutine 1 [running]:\n"),
        "{err}"
    );
}

#[test]
fn a_panic_inside_a_blocking_call_reports_the_goroutine_and_its_whole_stack() {
    let (code, err) = child("go_panic_in_call");
    assert_eq!(code, 2, "{err}");
    assert!(
        err.starts_with("panic: boom in a call\n\ngoroutine 2 [running]:\n"),
        "{err}"
    );
    // The call ran on the M's own stack: its frames come first, then the
    // goroutine's, from `blocking` down to the function that called it.
    let frames: Vec<&str> = err.lines().filter(|l| !l.starts_with('\t')).collect();
    let at = |name: &str| {
        frames
            .iter()
            .position(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no frame {name} in\n{err}"))
    };
    let closure = at("panic::calls_and_panics::{{closure}}");
    let blocking = at("gort_runtime::syscall::blocking");
    let caller = at("panic::calls_and_panics(");
    assert!(closure < blocking && blocking < caller, "{err}");
    assert!(!err.contains("gort_runtime::proc::syscall"), "{err}");
    assert!(!err.contains("backtrace::"), "{err}");
}

#[test]
fn a_drop_may_block_while_a_spawned_goroutine_unwinds() {
    let (code, err) = child("spawn_drop_blocks");
    assert_eq!(code, 0, "{err}");
}

#[test]
fn a_drop_may_make_a_blocking_call_while_a_goroutine_unwinds() {
    let (code, err) = child("spawn_drop_calls");
    assert_eq!(code, 0, "{err}");
}

#[test]
fn a_user_lock_os_thread_survives_a_drop_that_blocked_while_unwinding() {
    let (code, err) = child("locked_drop_blocks");
    assert_eq!(code, 0, "{err}");
}

#[test]
fn a_drop_that_blocks_while_a_go_goroutine_unwinds_ends_in_gos_report() {
    let (code, err) = child("go_drop_blocks");
    assert_eq!(code, 2, "{err}");
    assert!(
        err.starts_with(
            "panic: a go goroutine unwinding through a blocking drop\n\ngoroutine 2 [running]:\n"
        ),
        "{err}"
    );
}

#[test]
fn a_drop_blocked_for_ever_while_unwinding_is_a_deadlock() {
    let (code, err) = child("drop_blocks_forever");
    assert_eq!(code, 2, "{err}");
    assert!(
        err.starts_with("fatal error: all goroutines are asleep - deadlock!\n"),
        "{err}"
    );
    assert!(err.contains("[sync.Mutex.Lock]"), "{err}");
}

#[test]
fn a_huge_capture_panics_in_the_spawner_instead_of_overflowing() {
    let (code, err) = child("huge_capture");
    assert_eq!(code, 0, "{err}");
}

#[test]
fn main_waiting_for_a_panic_stuck_in_a_drop_is_a_deadlock_not_a_spin() {
    let (code, err) = child("drop_blocks_forever_after_main_returns");
    assert_eq!(code, 2, "{err}");
    assert!(
        err.starts_with("fatal error: all goroutines are asleep - deadlock!\n"),
        "{err}"
    );
    assert!(err.contains("goroutine 1 [panicwait]:"), "{err}");
    assert!(err.contains("[sync.Mutex.Lock]"), "{err}");
}
