//! Time: `sleep`, `after_func`, and the glue between timers and the scheduler.
//!
//! Models `runtime/time.go` (`timeSleep`, `resetForSleep`, `goroutineReady`,
//! `wakeNetPoller`, `AfterFunc`'s `goFunc`) and the timer half of `proc.go`
//! (`checkTimers`, `checkTimersNoP`, the timer pass of `stealWork`).
//!
//! # How a sleep works
//!
//! 1. [`sleep`] records the wake-up time in the goroutine (`sleepwhen`) and parks
//!    with reason `sleep`. The G's own timer (made once per G, Go's `gp.timer`)
//!    is armed by the park's unlock function on g0 (`resetForSleep`), after the
//!    goroutine has switched out — so the timer can never fire for a goroutine that
//!    is still running.
//! 2. Arming puts the timer in the heap of the P the M holds (`timer.rs`). If it is
//!    now that heap's earliest, [`wake_netpoller`] makes sure somebody will look
//!    in time: it breaks the sleep of the M waiting for timers if that M would
//!    wake too late, or else starts a spinning M (`wakep`).
//! 3. Due timers run from the scheduler loop: the P's owner at the top of
//!    `find_runnable`, other Ms on their last steal pass. The sleep timer's function
//!    is `ready(g)`, so the goroutine lands in the runnext slot of the P that ran
//!    the timer.
//! 4. An M with nothing to do and no P sleeps until the earliest timer of all Ps
//!    (`find_runnable`'s poll step; only one M at a time, the others park
//!    indefinitely). Thousands of sleeping goroutines therefore cost one sleeping
//!    thread and a heap entry each — no thread each and no busy CPU.
//!
//! Timers count as a reason to live for deadlock detection: while any P has a
//! timer, `checkdead` does not report a deadlock (a goroutine may be about to be
//! woken by one).

pub(crate) mod timer;

use crate::proc::g::{WaitReason, G};
use crate::proc::m::{getg, getm, UnlockF};
use crate::proc::sched::{self, Sched};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use timer::{Modified, Timers};

/// Nanoseconds from now to `d` later on `sched`'s clock, saturating.
fn when_after(sched: &Sched, d: Duration) -> i64 {
    let now = sched.nanotime() as i64;
    now.saturating_add(d.as_nanos().min(i64::MAX as u128) as i64)
        .max(1)
}

/// The heap a timer armed now goes into: the current P's, or P0's when the caller
/// is not on an M of `sched` (a plain thread resetting a timer).
fn current_timers(sched: &'static Sched) -> &'static Timers {
    let pp = getm()
        .filter(|m| std::ptr::eq(m.sched, sched))
        .and_then(|m| m.p());
    match pp {
        Some(pp) => &pp.timers,
        None => &sched.allp[0].timers,
    }
}

/// Arms `t` for `when` (every `period` ns if > 0) on `sched`, and wakes whoever must
/// notice an earlier timer.
pub(crate) fn arm(
    sched: &'static Sched,
    t: &Arc<timer::Timer>,
    when: i64,
    period: i64,
) -> Modified {
    let r = t.modify(when, period, || current_timers(sched));
    if let Some(w) = r.wake {
        wake_netpoller(sched, w);
    }
    r
}

/// `wakeNetPoller`: a timer at `when` was added or moved earlier. If an M sleeps in
/// the poller past `when`, break its sleep; if none does, start a spinning M, which
/// will either run the timer or become the poller.
pub(crate) fn wake_netpoller(sched: &Sched, when: i64) {
    if sched.lastpoll.load(Ordering::SeqCst) == 0 {
        let pu = sched.poll_until.load(Ordering::SeqCst);
        if pu == 0 || pu > when {
            netpoll_break(sched);
        }
    } else {
        sched::wakep(sched);
    }
}

/// `netpollBreak`: wakes the M sleeping in the poller (a wake-up sent while nobody
/// sleeps makes the next sleep return at once, which is harmless).
pub(crate) fn netpoll_break(sched: &Sched) {
    sched.pollnote.wake();
}

/// `checkTimersNoP`: the earliest moment any P's timers need attention, 0 if there
/// are none.
pub(crate) fn timers_wake_time(sched: &Sched) -> i64 {
    sched
        .allp
        .iter()
        .map(|pp| pp.timers.wake_time())
        .filter(|&w| w != 0)
        .min()
        .unwrap_or(0)
}

/// Pauses the current goroutine for at least `d` (Go's `time.Sleep`).
///
/// The goroutine parks (wait reason `sleep`) and its thread runs other goroutines
/// meanwhile. Outside a runtime it sleeps the calling thread. A zero duration
/// returns at once.
///
/// # Example
///
/// ```
/// use std::time::{Duration, Instant};
/// gort_runtime::run(|| {
///     let t = Instant::now();
///     gort_runtime::time::sleep(Duration::from_millis(5));
///     assert!(t.elapsed() >= Duration::from_millis(5));
/// });
/// ```
pub fn sleep(d: Duration) {
    let Some(gp) = getg() else {
        std::thread::sleep(d);
        return;
    };
    sched::preempt_check();
    if d.is_zero() {
        return;
    }
    let when = when_after(gp.sched, d);
    gp.sleepwhen.store(when, Ordering::Relaxed);
    gp.sleep_timer.get_or_init(|| {
        // `goroutineReady`: the timer's whole job.
        timer::Timer::new(Box::new(move |_, _| sched::ready(gp)))
    });
    let u = UnlockF {
        f: reset_for_sleep,
        data: gp as *const G as *const (),
    };
    // SAFETY: `data` is the G itself, which lives for the process (Gs are never
    // freed), not memory on its stack; `reset_for_sleep` only reads the G's timer
    // fields, which stay valid whether or not the G has been resumed meanwhile.
    unsafe { sched::gopark(Some(u), WaitReason::Sleep) };
}

/// `resetForSleep`: on g0, after the sleeping goroutine switched out, arm its timer.
///
/// # Safety
/// `data` is a `&'static G` whose `sleep_timer` is set.
unsafe fn reset_for_sleep(data: *const (), _gp: &'static G) -> bool {
    // SAFETY: by the contract, `data` came from a `&'static G`.
    let gp: &'static G = unsafe { &*(data as *const G) };
    let t = gp.sleep_timer.get().expect("sleep: timer not made");
    let when = gp.sleepwhen.load(Ordering::Relaxed);
    arm(gp.sched.leak_ref(), t, when, 0);
    true
}

/// The runtime the caller is on, for making timers.
fn current_sched(what: &str) -> &'static Sched {
    match getm() {
        Some(m) => m.sched,
        None => panic!("gort: {what} must be called on a goroutine of a gort runtime"),
    }
}

/// A timer: fires once after a duration, unless stopped (Go's `time.Timer`).
///
/// Made by [`after_func`] (runs a function in its own goroutine when it fires).
/// `stop` and `reset` follow Go's rules: `stop` returns whether it prevented a
/// firing; `reset` re-arms it and returns whether it was still pending.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// gort_runtime::run(|| {
///     let t = gort_runtime::time::after_func(Duration::from_secs(3600), || unreachable!());
///     assert!(t.stop(), "stopped before it fired");
///     assert!(!t.stop(), "already stopped");
/// });
/// ```
pub struct Timer {
    inner: Arc<timer::Timer>,
    sched: &'static Sched,
}

impl Timer {
    /// Stops the timer. Returns true if that prevented it from firing, false if it
    /// had already fired or been stopped. It does not wait for a function already
    /// started.
    ///
    /// ```
    /// use std::time::Duration;
    /// gort_runtime::run(|| {
    ///     let t = gort_runtime::time::after_func(Duration::from_secs(60), || {});
    ///     assert!(t.stop());
    /// });
    /// ```
    pub fn stop(&self) -> bool {
        self.inner.stop()
    }

    /// Re-arms the timer to fire `d` from now. Returns true if it was still pending
    /// (the earlier firing will not happen), false if it had fired or been stopped.
    ///
    /// ```
    /// use std::sync::{Arc, atomic::{AtomicU32, Ordering}};
    /// use std::time::Duration;
    /// gort_runtime::run(|| {
    ///     let n = Arc::new(AtomicU32::new(0));
    ///     let n2 = n.clone();
    ///     let t = gort_runtime::time::after_func(Duration::from_millis(1), move || {
    ///         n2.fetch_add(1, Ordering::SeqCst);
    ///     });
    ///     gort_runtime::time::sleep(Duration::from_millis(20));
    ///     assert!(!t.reset(Duration::from_millis(1)), "it had fired");
    ///     gort_runtime::time::sleep(Duration::from_millis(20));
    ///     assert_eq!(n.load(Ordering::SeqCst), 2);
    /// });
    /// ```
    pub fn reset(&self, d: Duration) -> bool {
        arm(self.sched, &self.inner, when_after(self.sched, d), 0).pending
    }
}

/// Runs `f` in its own goroutine once `d` has passed (Go's `time.AfterFunc`), and
/// returns the [`Timer`], whose `stop` cancels it.
///
/// # Panics
/// Outside a goroutine of a gort runtime.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// gort_runtime::run(|| {
///     let wg = gort_runtime::sync::WaitGroup::new();
///     wg.add(1);
///     let w = wg.clone();
///     gort_runtime::time::after_func(Duration::from_millis(2), move || w.done());
///     wg.wait();
/// });
/// ```
pub fn after_func<F>(d: Duration, f: F) -> Timer
where
    F: Fn() + Send + Sync + 'static,
{
    let sched = current_sched("time::after_func");
    let f = Arc::new(f);
    let inner = timer::Timer::new(Box::new(move |_, _| {
        // `goFunc`: timer functions run on the scheduler; user code gets a goroutine.
        let f = f.clone();
        sched::newproc(move || f(), std::any::type_name::<F>, false);
    }));
    arm(sched, &inner, when_after(sched, d), 0);
    Timer { inner, sched }
}
