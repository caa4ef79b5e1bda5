//! The hazard behind `run`'s safety contract, shown without invoking it: a
//! goroutine may resume on another OS thread after a blocking call or a yield,
//! so the address of a `thread_local!` taken before the call is another thread's
//! after it. Code that kept a reference across the call (or whose compiler kept
//! the address, which it may) would then use that thread's value, racing with
//! whatever runs there. `goroutine_local!` values move with the goroutine, and a
//! goroutine that called `lock_os_thread` never moves.
//!
//! The tests compare addresses and thread ids only; they never dereference a
//! stale address.

use gort::sync::WaitGroup;
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

mod common;

thread_local! {
    static SLOT: Cell<u64> = const { Cell::new(0) };
}

gort::goroutine_local! {
    static MINE: Cell<u64> = Cell::new(0);
}

/// The kernel's id of the calling thread, read with a system call (not from a
/// thread-local, which is what is under test).
fn tid() -> i64 {
    // SAFETY: gettid has no arguments and cannot fail.
    unsafe { libc::syscall(libc::SYS_gettid) }
}

fn slot_addr() -> usize {
    SLOT.with(|s| s as *const Cell<u64> as usize)
}

/// Runs `body` on 8 goroutines over 2 Ps, each calling it 2,000 times, and
/// returns how many calls reported a move to another thread.
fn on_busy_goroutines(body: fn(u64) -> bool) -> u64 {
    let rt = common::rt(2);
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        rt.run(move || {
            let moves = Arc::new(AtomicU64::new(0));
            let wg = WaitGroup::new();
            for g in 0..8 {
                let moves = moves.clone();
                wg.go(move || {
                    for i in 0..2000 {
                        if body(g * 10_000 + i) {
                            moves.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                });
            }
            wg.wait();
            moves.load(Ordering::Relaxed)
        })
    }
}

#[test]
fn a_thread_local_taken_before_a_yield_belongs_to_another_thread_after_a_move() {
    let moves = on_busy_goroutines(|_| {
        let (t0, a0) = (tid(), slot_addr());
        gort::yield_now();
        let (t1, a1) = (tid(), slot_addr());
        if t0 == t1 {
            assert_eq!(a0, a1);
            false
        } else {
            assert_ne!(a0, a1, "threads {t0} and {t1} share a thread-local?");
            true
        }
    });
    assert!(
        moves > 0,
        "no goroutine moved between threads in 16,000 yields"
    );
}

#[test]
fn a_goroutine_local_moves_with_its_goroutine() {
    let moves = on_busy_goroutines(|v| {
        MINE.with(|m| m.set(v));
        let (t0, a0) = (tid(), MINE.with(|m| m as *const Cell<u64> as usize));
        gort::yield_now();
        let (t1, a1) = (tid(), MINE.with(|m| m as *const Cell<u64> as usize));
        assert_eq!(a0, a1, "the value stays where it was");
        assert_eq!(
            MINE.with(Cell::get),
            v,
            "and keeps what the goroutine put there"
        );
        t0 != t1
    });
    assert!(
        moves > 0,
        "no goroutine moved between threads in 16,000 yields"
    );
}

#[test]
fn a_goroutine_locked_to_its_thread_keeps_its_thread_locals() {
    let moves = on_busy_goroutines(|i| {
        if i % 10_000 == 0 {
            gort::lock_os_thread();
        }
        let (t0, a0) = (tid(), slot_addr());
        gort::yield_now();
        assert_eq!(a0, slot_addr());
        t0 != tid()
    });
    assert_eq!(moves, 0, "a locked goroutine moved");
}

#[test]
fn goroutine_locals_are_per_goroutine_and_dropped_when_it_exits() {
    struct Counted(Arc<AtomicU64>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    gort::goroutine_local! {
        static DROPS: Cell<Option<Counted>> = Cell::new(None);
    }
    let rt = common::rt(2);
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    let dropped = unsafe {
        rt.run(|| {
            let dropped = Arc::new(AtomicU64::new(0));
            let wg = WaitGroup::new();
            for _ in 0..100 {
                let d = dropped.clone();
                wg.go(move || {
                    DROPS.with(|c| {
                        assert!(
                            c.take().is_none(),
                            "a fresh goroutine starts with the initial value"
                        );
                        c.set(Some(Counted(d)));
                    });
                    gort::yield_now();
                });
            }
            wg.wait();
            // Each goroutine exited (and dropped its value) before its done().
            dropped.load(Ordering::SeqCst)
        })
    };
    assert_eq!(dropped, 100);
}
