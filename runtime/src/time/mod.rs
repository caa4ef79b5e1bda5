//! Time: `sleep`, `Timer`, `Ticker`, `after`, `tick`, `after_func`, and the glue
//! between timers and the scheduler.
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
//!    now that heap's earliest, `wake_netpoller` makes sure somebody will look
//!    in time: it breaks the sleep of the M waiting for timers if that M would
//!    wake too late, or else starts a spinning M (`wakep`).
//! 3. Due timers run from the scheduler loop: the P's owner at the top of
//!    `find_runnable`, other Ms on their last steal pass. The sleep timer's function
//!    is `ready(g)`, so the goroutine lands in the runnext slot of the P that ran
//!    the timer.
//! 4. An M with nothing to do and no P blocks in the network poller until the
//!    earliest timer of all Ps (`find_runnable`'s poll step, `netpoll(delay)`;
//!    only one M at a time, the others park indefinitely). Thousands of sleeping goroutines therefore cost one sleeping
//!    thread and a heap entry each — no thread each and no busy CPU.
//!
//! Timers count as a reason to live for deadlock detection: while any P has a
//! timer, `checkdead` does not report a deadlock (a goroutine may be about to be
//! woken by one).

#[cfg(all(test, loom))]
mod poll_model;
pub(crate) mod timer;

use crate::chan::{self, Receiver, Sender};
use crate::proc::g::{WaitReason, G};
use crate::proc::m::{getg, getm, UnlockF};
use crate::proc::sched::{self, Sched};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
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
            crate::netpoll::netpoll_break(sched);
        }
    } else {
        sched::wakep(sched);
    }
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
/// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
/// unsafe { gort_runtime::run(|| {
///     let t = Instant::now();
///     gort_runtime::time::sleep(Duration::from_millis(5));
///     assert!(t.elapsed() >= Duration::from_millis(5));
/// }) };
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

/// The channel side of a channel timer: Go 1.23's guarantee that after `stop` or
/// `reset` returns, no value from an earlier arming is received.
///
/// The timer function sends only if the arming it fired for is still the one in
/// force (`expected`, compared under the lock); `stop`/`reset` change the arming
/// and empty the channel under the same lock. So a send either happens before the
/// emptying (and is emptied) or sees the new arming (and is dropped). This is
/// Go's `sendLock` + `seq` (`time.go: timer.modify`, `timerchandrain`).
struct ChanSend {
    state: parking_lot::Mutex<SendState>,
    tx: Sender<Instant>,
    rx: Receiver<Instant>,
}

struct SendState {
    /// The timer sequence number whose firing may send; [`DISARMED`] when stopped.
    expected: u64,
    /// The last arming whose firing was handled (sent, or found nobody listening).
    delivered: u64,
}

const DISARMED: u64 = u64::MAX;

impl ChanSend {
    /// Empties the channel; returns whether a value was removed.
    fn drain(&self) -> bool {
        let mut any = false;
        while self.rx.try_recv().is_ok() {
            any = true;
        }
        any
    }

    /// What `stop`/`reset` report besides the timer's own `pending`: a one-shot
    /// firing of the current arming that they are about to cancel counts as
    /// prevented (Go's `isSending`), and so does a value they drain.
    fn prevented(&self, st: &SendState, one_shot: bool) -> bool {
        let in_flight = one_shot && st.expected != DISARMED && st.delivered != st.expected;
        in_flight | self.drain()
    }
}

/// A timer (Go's `time.Timer`): fires once after a duration, unless stopped.
///
/// Made by [`Timer::new`] (delivers the time on its channel, [`Timer::c`]) or by
/// [`after_func`] (runs a function in its own goroutine; its channel is never
/// ready, as Go's `C` is nil there). `stop` and `reset` follow Go 1.23: `stop`
/// returns whether it prevented a delivery — counting a value it drained from the
/// channel — so `if !t.stop() { t.c().recv(); }` never blocks; `reset` re-arms and
/// answers the same way; after either returns no stale value is received.
///
/// A channel timer nobody can receive from any more (the `Timer` and every clone
/// of its channel dropped) removes itself from its heap when it next fires. Go
/// drops it at once; until then it occupies a heap entry — and, as any pending
/// timer does, keeps a deadlock from being reported.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
/// unsafe { gort_runtime::run(|| {
///     let t = gort_runtime::time::Timer::new(Duration::from_millis(2));
///     let fired_at = t.c().recv().unwrap();
///     assert!(!t.stop(), "already fired and received");
///     let _ = fired_at;
/// }) };
/// ```
pub struct Timer {
    inner: Arc<timer::Timer>,
    sched: &'static Sched,
    c: Receiver<Instant>,
    chan: Option<Arc<ChanSend>>,
    period: i64,
}

/// A timer that sends the time on a channel of capacity 1, every `period` ns if
/// > 0. A tick that finds the channel full is dropped (a slow reader skips ticks).
fn chan_timer(what: &str, d: Duration, period: i64) -> Timer {
    let sched = current_sched(what);
    let (tx, rx) = chan::bounded(1);
    let cs = Arc::new(ChanSend {
        state: parking_lot::Mutex::new(SendState {
            expected: DISARMED,
            delivered: DISARMED,
        }),
        tx,
        rx: rx.clone(),
    });
    let cs2 = cs.clone();
    let inner = timer::Timer::new_cyclic(move |me| {
        Box::new(move |seq, _delay| {
            let mut st = cs2.state.lock();
            if st.expected != seq {
                return; // an arming that stop/reset overtook
            }
            st.delivered = seq;
            if cs2.rx.handle_count() <= 2 {
                // Only our own two handles are left: nobody can ever receive.
                drop(st);
                if let Some(t) = me.upgrade() {
                    t.stop();
                }
                return;
            }
            // Never blocks: a full channel means the reader is behind.
            let _ = cs2.tx.try_send(Instant::now());
        })
    });
    {
        let mut st = cs.state.lock();
        st.expected = arm(sched, &inner, when_after(sched, d), period).seq;
    }
    Timer {
        inner,
        sched,
        c: rx,
        chan: Some(cs),
        period,
    }
}

impl Timer {
    /// A timer that sends the current time on its channel once `d` has passed (Go's
    /// `time.NewTimer`).
    ///
    /// # Panics
    /// Outside a goroutine of a gort runtime.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    /// unsafe { gort_runtime::run(|| {
    ///     let start = Instant::now();
    ///     let t = gort_runtime::time::Timer::new(Duration::from_millis(3));
    ///     let at = t.c().recv().unwrap();
    ///     assert!(at.duration_since(start) >= Duration::from_millis(3));
    /// }) };
    /// ```
    pub fn new(d: Duration) -> Timer {
        chan_timer("time::Timer::new", d, 0)
    }

    /// The channel the time is delivered on (Go's `t.C`). For an [`after_func`]
    /// timer it is never ready.
    ///
    /// ```
    /// use std::time::Duration;
    /// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    /// unsafe { gort_runtime::run(|| {
    ///     let t = gort_runtime::time::Timer::new(Duration::from_millis(1));
    ///     assert!(t.c().recv().is_some());
    /// }) };
    /// ```
    pub fn c(&self) -> &Receiver<Instant> {
        &self.c
    }

    /// Stops the timer. Returns true if that prevented it from firing, false if it
    /// had already fired or been stopped. After it returns, the channel holds no
    /// value from this timer. It does not wait for an `after_func` function already
    /// started.
    ///
    /// ```
    /// use std::time::Duration;
    /// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    /// unsafe { gort_runtime::run(|| {
    ///     let t = gort_runtime::time::Timer::new(Duration::from_secs(60));
    ///     assert!(t.stop());
    ///     assert!(t.c().try_recv().is_err());
    /// }) };
    /// ```
    pub fn stop(&self) -> bool {
        match &self.chan {
            None => self.inner.stop(),
            Some(cs) => {
                let mut st = cs.state.lock();
                let pending = self.inner.stop();
                let prevented = cs.prevented(&st, self.period == 0);
                st.expected = DISARMED;
                pending || prevented
            }
        }
    }

    /// Re-arms the timer to fire `d` from now. Returns true if it was still pending
    /// (the earlier firing will not happen), false if it had fired or been stopped.
    /// A value from the earlier arming still in the channel is discarded.
    ///
    /// ```
    /// use std::time::Duration;
    /// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    /// unsafe { gort_runtime::run(|| {
    ///     let (fired, rx) = gort_runtime::chan::bounded(2);
    ///     let t = gort_runtime::time::after_func(Duration::from_millis(1), move || {
    ///         fired.send(());
    ///     });
    ///     rx.recv().unwrap(); // its function ran, so the timer had fired
    ///     assert!(!t.reset(Duration::from_millis(1)), "it had fired");
    ///     rx.recv().unwrap(); // re-armed: it runs again
    /// }) };
    /// ```
    pub fn reset(&self, d: Duration) -> bool {
        self.rearm(d, self.period)
    }

    fn rearm(&self, d: Duration, period: i64) -> bool {
        let when = when_after(self.sched, d);
        match &self.chan {
            None => arm(self.sched, &self.inner, when, period).pending,
            Some(cs) => {
                let mut st = cs.state.lock();
                let one_shot = self.period == 0;
                let m = arm(self.sched, &self.inner, when, period);
                let prevented = cs.prevented(&st, one_shot);
                st.expected = m.seq;
                m.pending || prevented
            }
        }
    }
}

/// Runs `f` in its own goroutine once `d` has passed (Go's `time.AfterFunc`), and
/// returns the [`Timer`], whose `stop` cancels it. A panic in `f` is that
/// goroutine's: unrecovered, it prints Go's report and exits with status 2, as a
/// panic in a [`go`](crate::go) goroutine does.
///
/// # Panics
/// Outside a goroutine of a gort runtime.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
/// unsafe { gort_runtime::run(|| {
///     let wg = gort_runtime::sync::WaitGroup::new();
///     wg.add(1);
///     let w = wg.clone();
///     gort_runtime::time::after_func(Duration::from_millis(2), move || w.done());
///     wg.wait();
/// }) };
/// ```
pub fn after_func<F>(d: Duration, f: F) -> Timer
where
    F: Fn() + Send + Sync + 'static,
{
    let sched = current_sched("time::after_func");
    let f = OnGoroutine {
        f: Some(Arc::new(f)),
        sched,
    };
    let inner = timer::Timer::new(Box::new(move |_, _| {
        // `goFunc`: timer functions run on the scheduler; user code gets a goroutine.
        // Its panic kills the program, as a `go` goroutine's does.
        let f = f.f.clone().expect("after_func: function already dropped");
        crate::api::newproc_go(move || f(), std::any::type_name::<F>);
    }));
    arm(sched, &inner, when_after(sched, d), 0);
    Timer {
        inner,
        sched,
        c: chan::never(),
        chan: None,
        period: 0,
    }
}

/// `after_func`'s function as its timer holds it. The timer goes when its last
/// reference does, and that is often the heap's, released on g0 while the heap is
/// cleaned (a stopped timer meets the top of the heap as another goroutine arms
/// its sleep, say) — no place to run a user's `Drop`. So the last reference to the
/// function, if the timer holds it, is dropped on a goroutine of its own
/// (`api::drop_on_goroutine`). While a goroutine runs the function, that
/// goroutine holds a reference and the last drop may be its own, which is as good.
struct OnGoroutine<F: Send + Sync + 'static> {
    f: Option<Arc<F>>,
    sched: &'static Sched,
}

impl<F: Send + Sync + 'static> Drop for OnGoroutine<F> {
    fn drop(&mut self) {
        // A function with nothing to drop (captures without a `Drop`) needs no
        // goroutine of its own.
        if !std::mem::needs_drop::<F>() {
            return;
        }
        if let Some(f) = self.f.take().and_then(Arc::into_inner) {
            crate::api::drop_on_goroutine(self.sched, f);
        }
    }
}

/// A channel that receives the time once `d` has passed (Go's `time.After`).
///
/// Each call makes a timer; in a loop, one reused [`Timer`] (`reset`) is cheaper —
/// `examples/timers.rs` measures the difference. (Go frees an unreferenced
/// `After` timer at once; gort's stays in its P's heap until it fires.)
///
/// # Panics
/// Outside a goroutine of a gort runtime.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
/// unsafe { gort_runtime::run(|| {
///     let (_tx, rx) = gort_runtime::chan::bounded::<u32>(0);
///     let timed_out = gort_runtime::select! {
///         recv(rx) -> _ => false,
///         recv(gort_runtime::time::after(Duration::from_millis(5))) -> _ => true,
///     };
///     assert!(timed_out);
/// }) };
/// ```
pub fn after(d: Duration) -> Receiver<Instant> {
    chan_timer("time::after", d, 0).c
}

/// A ticker (Go's `time.Ticker`): sends the time on its channel every period. A
/// slow reader skips ticks rather than queueing them.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
/// unsafe { gort_runtime::run(|| {
///     let t = gort_runtime::time::Ticker::new(Duration::from_millis(1));
///     for _ in 0..3 {
///         t.c().recv().unwrap();
///     }
///     t.stop();
/// }) };
/// ```
pub struct Ticker {
    t: Timer,
}

impl Ticker {
    /// A ticker with period `d` (Go's `time.NewTicker`).
    ///
    /// # Panics
    /// `non-positive interval for NewTicker` if `d` is zero; outside a goroutine.
    ///
    /// ```
    /// use std::time::Duration;
    /// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    /// unsafe { gort_runtime::run(|| {
    ///     let t = gort_runtime::time::Ticker::new(Duration::from_millis(2));
    ///     t.c().recv().unwrap();
    /// }) };
    /// ```
    pub fn new(d: Duration) -> Ticker {
        if d.is_zero() {
            panic!("non-positive interval for NewTicker");
        }
        let p = period_ns(d);
        Ticker {
            t: chan_timer("time::Ticker::new", d, p),
        }
    }

    /// The channel the ticks arrive on (Go's `t.C`).
    ///
    /// ```
    /// use std::time::Duration;
    /// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    /// unsafe { gort_runtime::run(|| {
    ///     let t = gort_runtime::time::Ticker::new(Duration::from_millis(1));
    ///     assert!(t.c().recv().is_some());
    /// }) };
    /// ```
    pub fn c(&self) -> &Receiver<Instant> {
        self.t.c()
    }

    /// Stops the ticker: no more ticks are sent, and none is left in the channel.
    ///
    /// ```
    /// use std::time::Duration;
    /// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    /// unsafe { gort_runtime::run(|| {
    ///     let t = gort_runtime::time::Ticker::new(Duration::from_millis(1));
    ///     t.stop();
    ///     gort_runtime::time::sleep(Duration::from_millis(5));
    ///     assert!(t.c().try_recv().is_err());
    /// }) };
    /// ```
    pub fn stop(&self) {
        self.t.stop();
    }

    /// Changes the period to `d` and restarts the count from now.
    ///
    /// # Panics
    /// `non-positive interval for Ticker.Reset` if `d` is zero.
    ///
    /// ```
    /// use std::time::Duration;
    /// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    /// unsafe { gort_runtime::run(|| {
    ///     let t = gort_runtime::time::Ticker::new(Duration::from_secs(60));
    ///     t.reset(Duration::from_millis(1));
    ///     t.c().recv().unwrap();
    /// }) };
    /// ```
    pub fn reset(&self, d: Duration) {
        if d.is_zero() {
            panic!("non-positive interval for Ticker.Reset");
        }
        self.t.rearm(d, period_ns(d));
    }
}

fn period_ns(d: Duration) -> i64 {
    d.as_nanos().min(i64::MAX as u128) as i64
}

/// A channel that receives the time every `d` (Go's `time.Tick`). The ticker
/// cannot be stopped; for a zero `d` the channel is never ready (Go returns nil).
///
/// # Panics
/// Outside a goroutine of a gort runtime.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
/// unsafe { gort_runtime::run(|| {
///     let tick = gort_runtime::time::tick(Duration::from_millis(1));
///     tick.recv().unwrap();
///     tick.recv().unwrap();
/// }) };
/// ```
pub fn tick(d: Duration) -> Receiver<Instant> {
    if d.is_zero() {
        return chan::never();
    }
    Ticker::new(d).t.c
}
