//! What a user writes: `run`, `Runtime::builder()`, `go`, `spawn`/`JoinHandle`,
//! `yield_now`, `preempt_point`, `num_goroutine`, `gomaxprocs`.
//!
//! Models `runtime/proc.go`'s `main` (the main goroutine), `newproc` (the `go`
//! statement), `Gosched`, `NumGoroutine` and `GOMAXPROCS`.
//!
//! # Runtimes and their life
//!
//! A [`Runtime`] owns a scheduler: its Ps, the Ms (threads) it starts as needed, and
//! a sysmon thread. [`Runtime::run`] starts `f` as the main goroutine and blocks the
//! calling thread (which is not one of the runtime's Ms) until `f` returns, like Go's
//! `runtime.main`. Goroutines that are still running when `run` returns keep running
//! as long as the `Runtime` lives; dropping it ends the runtime the way Go's `exit`
//! ends a program, and returns at once:
//!
//! - idle threads exit at once;
//! - a goroutine that is queued or parked never runs again;
//! - a running goroutine stops at its next safepoint (any runtime call, or
//!   [`preempt_point`]: sysmon keeps flagging running goroutines until none is
//!   left) and never resumes; its thread exits there. A goroutine inside
//!   [`crate::syscall::blocking`] runs on when the call returns, to its next
//!   safepoint. One that loops without safepoints keeps its thread, as it would
//!   hold up a stop-the-world: gort's preemption is cooperative.
//!
//! Goroutines that never run again are abandoned: their destructors do not run,
//! and the [`JoinHandle`] of a spawned one returns [`JoinError::Abandoned`]
//! instead of waiting forever. [`run`] does all three steps.
//!
//! Memory: Gs and the scheduler's own records live until the process ends (Go's
//! `allgs` never shrinks either); the stacks of exited goroutines go back to a
//! process-wide pool when the runtime's last thread ends, so building many runtimes
//! in one process (as tests do) reuses them.

use crate::env::{ConfigError, Requested, Settings};
use crate::loom::atomic::Ordering;
use crate::proc::g::WaitReason;
use crate::proc::m::getm;
use crate::proc::sched::{self, Sched};
use crate::stw::StoppedWorld;
use crate::sync::{block, Waiter};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

/// Configures a [`Runtime`]. Values given here beat the environment (`GOMAXPROCS`,
/// `GODEBUG`), which beats the defaults.
///
/// # Example
///
/// ```
/// let rt = gort_runtime::Runtime::builder().procs(2).build().unwrap();
/// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
/// assert_eq!(unsafe { rt.run(|| gort_runtime::gomaxprocs()) }, 2);
/// ```
#[derive(Clone, Debug, Default)]
pub struct Builder {
    req: Requested,
}

impl Builder {
    /// A builder with nothing set.
    ///
    /// ```
    /// let rt = gort_runtime::Builder::new().build().unwrap();
    /// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    /// unsafe { rt.run(|| ()) };
    /// ```
    pub fn new() -> Builder {
        Builder::default()
    }

    /// The number of Ps (GOMAXPROCS), 1 to 1024.
    ///
    /// ```
    /// assert!(gort_runtime::Runtime::builder().procs(0).build().is_err());
    /// ```
    pub fn procs(mut self, n: usize) -> Builder {
        self.req.procs = Some(n);
        self
    }

    /// The size of every goroutine stack in bytes (16 KiB to 1 GiB; rounded up to
    /// whole pages). Default 256 KiB. Stacks are reserved, not committed: a goroutine
    /// costs the pages it touches.
    ///
    /// ```
    /// let rt = gort_runtime::Runtime::builder().stack_size(1 << 20).build().unwrap();
    /// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    /// unsafe { rt.run(|| ()) };
    /// ```
    pub fn stack_size(mut self, bytes: usize) -> Builder {
        self.req.stack_size = Some(bytes);
        self
    }

    /// Print a schedtrace line every `ms` milliseconds (as `GODEBUG=schedtrace=ms`);
    /// 0 turns it off. At most 2147483647 (Go's `int32`); `build` refuses more.
    ///
    /// ```
    /// let rt = gort_runtime::Runtime::builder().schedtrace(0).build().unwrap();
    /// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    /// unsafe { rt.run(|| ()) };
    /// let err = gort_runtime::Runtime::builder().schedtrace(1 << 31).build().unwrap_err();
    /// assert!(err.to_string().starts_with("invalid Builder::schedtrace=\"2147483648\""));
    /// ```
    pub fn schedtrace(mut self, ms: u64) -> Builder {
        self.req.schedtrace_ms = Some(ms);
        self
    }

    /// Add the per-P, per-M and per-G lines to schedtrace (`GODEBUG=scheddetail=1`).
    ///
    /// ```
    /// let rt = gort_runtime::Runtime::builder().scheddetail(false).build().unwrap();
    /// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    /// unsafe { rt.run(|| ()) };
    /// ```
    pub fn scheddetail(mut self, on: bool) -> Builder {
        self.req.scheddetail = Some(on);
        self
    }

    /// Resolves the settings and starts the runtime's sysmon. No M starts until
    /// there is work.
    ///
    /// # Errors
    /// [`ConfigError`] naming the builder value or environment variable that was
    /// malformed or out of range.
    ///
    /// ```
    /// let err = gort_runtime::Runtime::builder().stack_size(10).build().unwrap_err();
    /// assert!(err.to_string().contains("stack_size"));
    /// ```
    pub fn build(self) -> Result<Runtime, ConfigError> {
        let settings = Settings::resolve(&self.req, |k| std::env::var(k).ok())?;
        crate::panic::install_hook();
        crate::signal::install();
        crate::signal::install_for_thread();
        let sched = Sched::new(settings);
        crate::proc::sysmon::start(sched);
        Ok(Runtime { sched })
    }
}

/// A gort runtime: Ps, Ms, sysmon, and the goroutines they run.
///
/// # Example
///
/// ```
/// let rt = gort_runtime::Runtime::new().unwrap();
/// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
/// let sum = unsafe { rt.run(|| {
///     let hs: Vec<_> = (1..=10u64).map(|i| gort_runtime::spawn(move || i * i)).collect();
///     hs.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
/// }) };
/// assert_eq!(sum, 385);
/// ```
pub struct Runtime {
    pub(crate) sched: &'static Sched,
}

impl Runtime {
    /// A runtime configured from the environment.
    ///
    /// # Errors
    /// [`ConfigError`] if `GOMAXPROCS` or `GODEBUG` is malformed.
    ///
    /// ```
    /// let rt = gort_runtime::Runtime::new().unwrap();
    /// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    /// unsafe { rt.run(|| ()) };
    /// ```
    pub fn new() -> Result<Runtime, ConfigError> {
        Builder::new().build()
    }

    /// A [`Builder`].
    ///
    /// ```
    /// let rt = gort_runtime::Runtime::builder().procs(1).build().unwrap();
    /// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    /// unsafe { rt.run(|| assert_eq!(gort_runtime::gomaxprocs(), 1)) };
    /// ```
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// Runs `f` as a main goroutine and returns its result when it returns.
    /// Blocks the calling thread, which must not be one of this runtime's own.
    ///
    /// An unrecovered panic in `f` (or in any goroutine started with [`go`]) prints
    /// Go's panic report and exits the process with status 2, as Go does. If `f`
    /// returns while a `go` goroutine is unwinding a panic, `run` waits for that
    /// panic to be reported rather than return (Go's `main` does the same).
    ///
    /// # Safety
    ///
    /// The same promise as [`run`](crate::run()): no code on this runtime's
    /// goroutines keeps state tied to its OS thread across a call that may
    /// switch goroutines.
    ///
    /// # Panics
    /// If called on one of the runtime's own threads, or if `f` captures more than
    /// 1/32 of the stack size, as [`go`] does.
    ///
    /// ```
    /// let rt = gort_runtime::Runtime::new().unwrap();
    /// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    /// assert_eq!(unsafe { rt.run(|| 6 * 7) }, 42);
    /// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    /// assert_eq!(unsafe { rt.run(|| "again") }, "again");
    /// ```
    pub unsafe fn run<F, T>(&self, f: F) -> T
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        if getm().is_some() {
            panic!("gort: Runtime::run called from inside a goroutine; use go or spawn there");
        }
        sched::check_capture(self.sched, std::mem::size_of::<F>());
        let state = Arc::new(JoinState::new());
        let done = state.clone();
        let sched = self.sched;
        sched.nmain.fetch_add(1, Ordering::SeqCst);
        sched::newproc_external(
            sched,
            move || match catch_unwind(AssertUnwindSafe(f)) {
                Ok(v) => {
                    // Go's `main` waits for a goroutine's panic in progress.
                    crate::panic::main_wait_for_panics();
                    sched.nmain.fetch_sub(1, Ordering::SeqCst);
                    done.complete(Ok(v));
                }
                Err(p) => crate::panic::fatalpanic(p),
            },
            std::any::type_name::<F>,
        );
        match (JoinHandle { state, goid: 0 }).join() {
            Ok(v) => v,
            Err(_) => unreachable!("the main goroutine's panic is fatal; run borrows the runtime"),
        }
    }

    /// Stops every P of this runtime at a safepoint, from a thread outside it.
    /// Inside a goroutine use [`crate::stw::stop_the_world`].
    ///
    /// ```
    /// let rt = gort_runtime::Runtime::new().unwrap();
    /// let world = rt.stop_the_world();
    /// assert!(world.goroutines().is_empty());
    /// drop(world);
    /// ```
    pub fn stop_the_world(&self) -> StoppedWorld {
        crate::stw::stop_the_world_sched(self.sched)
    }

    /// This runtime's GOMAXPROCS.
    ///
    /// ```
    /// let rt = gort_runtime::Runtime::builder().procs(3).build().unwrap();
    /// assert_eq!(rt.gomaxprocs(), 3);
    /// ```
    pub fn gomaxprocs(&self) -> usize {
        self.sched.gomaxprocs as usize
    }

    /// Live goroutines of this runtime. `run` returns as soon as the main goroutine
    /// has produced its result, so for a moment after it the main goroutine may
    /// still be counted while it exits.
    ///
    /// ```
    /// let rt = gort_runtime::Runtime::new().unwrap();
    /// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    /// unsafe { rt.run(|| ()) };
    /// while rt.num_goroutine() > 0 {
    ///     std::thread::yield_now(); // main is finishing its exit
    /// }
    /// ```
    pub fn num_goroutine(&self) -> usize {
        self.sched.gcount()
    }

    /// The schedtrace report as it would be printed now (with or without detail).
    ///
    /// ```
    /// let rt = gort_runtime::Runtime::builder().procs(2).build().unwrap();
    /// let line = rt.schedtrace(false);
    /// assert!(line.starts_with("SCHED "));
    /// assert!(line.contains("gomaxprocs=2 idleprocs=2"));
    /// ```
    pub fn schedtrace(&self, detail: bool) -> String {
        crate::trace::format_schedtrace(self.sched, detail)
    }
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("gomaxprocs", &self.sched.gomaxprocs)
            .field("goroutines", &self.sched.gcount())
            .finish()
    }
}

impl Drop for Runtime {
    /// Ends the runtime; see "Runtimes and their life" in the module docs. Every
    /// goroutine that is not running (queued or parked) is abandoned now; a
    /// running one stops at its next safepoint (sysmon flags it) and is abandoned
    /// there. A [`JoinHandle`] of an abandoned goroutine returns
    /// [`JoinError::Abandoned`].
    fn drop(&mut self) {
        let sched = self.sched;
        sched.shutdown.store(true, Ordering::SeqCst);
        // SeqCst status reads after the SeqCst store of shutdown: an M that makes
        // a G Running reads shutdown after, so either we see it Running (and leave
        // it to its next safepoint) or it sees shutdown and does not run it
        // (`sched.rs: shutdown_abandons`).
        let gs: Vec<_> = sched.allgs.lock().clone();
        for g in gs {
            let st = g.atomicstatus.load(Ordering::SeqCst);
            if st == crate::Status::Runnable as u32 || st == crate::Status::Waiting as u32 {
                sched::abandon(g);
            }
        }
        let idle: Vec<_> = std::mem::take(&mut sched.lock.lock().midle);
        for m in idle {
            m.park.wake();
        }
        sched.sysmonnote.wake();
        // An M that claimed the poller (`lastpoll == 0`) may block in epoll: break
        // it. (SeqCst against its swap of lastpoll and its read of shutdown.)
        if sched.lastpoll.load(Ordering::SeqCst) == 0 {
            crate::netpoll::netpoll_break(sched);
        }
        // Ms parked with a locked goroutine are on no idle list.
        for m in sched.allm.lock().iter() {
            if !m.lockedg.load(Ordering::Acquire).is_null() {
                m.park.wake();
            }
        }
        if sched.mcount.load(Ordering::SeqCst) == 0 {
            sched.reclaim_stacks();
        }
    }
}

/// Runs `f` as the main goroutine of a runtime configured from the environment,
/// then shuts the runtime down: Go's `func main`.
///
/// A malformed `GOMAXPROCS` or `GODEBUG` is reported (naming the variable and
/// value) and the process exits with status 2. An unrecovered panic in any `go`
/// goroutine prints Go's report and exits with status 2.
///
/// # Safety
///
/// A goroutine may resume on a different OS thread after any call that can
/// switch goroutines: a channel operation or `select!`, a `gort::sync` wait,
/// `join`, `time::sleep`, a socket read or write, `yield_now`, `preempt_point`,
/// `go` and `spawn` themselves. Rust cannot check what code keeps across such a
/// call, so the caller promises, for all code that runs on this runtime's
/// goroutines (`f`, every goroutine started from it, directly or not, and every
/// `Drop` they run), that none of it keeps state tied to its OS thread across
/// one:
///
/// - **No thread-local across a switch.** A function (after inlining) must not
///   use a `thread_local!` value, directly or through a library that does
///   (`rand::thread_rng`, a `tracing` span guard, a `RefCell` cache in a
///   thread-local), both before and after a call that may switch: the compiler
///   may compute a thread-local's address once per function, so looking the
///   value up again after the call is not enough. Code that does this runs
///   between [`lock_os_thread`] and [`unlock_os_thread`], where the goroutine
///   keeps its thread; per-goroutine state goes in
///   [`goroutine_local!`](crate::goroutine_local), which moves with it.
/// - **No thread-bound guard across a switch**: a `std::sync::Mutex` or
///   `RwLock` guard, or any other `!Send` value that must be used or dropped on
///   the thread that made it.
///
/// Code that blocks only through gort (channels, `gort::sync`, `gort::time`,
/// `gort::net`) and keeps its state in its own variables, as Go code does,
/// keeps the promise. Breaking it is undefined behaviour: two threads using one
/// thread-local at once, a lock released by a thread that does not hold it.
/// `tests/thread_locals.rs` shows the move that makes it so, and why this
/// cannot be made safe: every work-stealing runtime of stackful coroutines
/// moves stacks between threads, and only `Send` checks on stackless futures
/// (tokio's way) let the compiler see what crosses the switch.
///
/// # Example
///
/// ```
/// // SAFETY: the goroutines keep no thread-bound state across a switch.
/// let n = unsafe {
///     // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
///     unsafe { gort_runtime::run(|| {
///         let h = gort_runtime::spawn(|| 21);
///         h.join().unwrap() * 2
///     }) }
/// };
/// assert_eq!(n, 42);
/// ```
pub unsafe fn run<F, T>(f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let rt = Runtime::new().unwrap_or_else(|e| {
        crate::panic::print_stderr(&format!("gort: {e}\n"));
        std::process::exit(2)
    });
    // SAFETY: the caller's promise, this function's contract, is Runtime::run's.
    unsafe { rt.run(f) }
}

/// Starts `f` as a new goroutine (Go's `go f()`), to run concurrently with the
/// caller. It goes into this P's `runnext`, so it is the next goroutine this P runs.
/// A panic in it that is not caught kills the program, as in Go.
///
/// # Panics
/// If called outside a goroutine, or if `f` captures more than 1/32 of the stack
/// size (8 KiB of the default 256 KiB; the closure is copied several times on
/// its way onto the new stack): box large captured data.
///
/// # Example
///
/// ```
/// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
/// unsafe { gort_runtime::run(|| {
///     let wg = gort_runtime::sync::WaitGroup::new();
///     wg.add(1);
///     let w = wg.clone();
///     gort_runtime::go(move || { println!("hello from a goroutine"); w.done(); });
///     wg.wait();
/// }) };
/// ```
pub fn go<F>(f: F)
where
    F: FnOnce() + Send + 'static,
{
    check_capture::<F>();
    newproc_go(f, std::any::type_name::<F>);
    sched::preempt_check();
}

/// The check of a new goroutine's closure (`sched::check_capture`), made in the
/// spawner first thing, before the closure is copied down the call chain. Off a
/// runtime there is nothing to check; the caller fails for that reason next.
pub(crate) fn check_capture<F>() {
    if let Some(m) = getm() {
        sched::check_capture(m.sched, std::mem::size_of::<F>());
    }
}

/// `newproc` for a goroutine whose unrecovered panic kills the program: the body
/// of [`go`], and of the goroutines the runtime itself starts to run user code
/// (`time::after_func`'s function, a user value dropped off the scheduler). May be
/// called on g0 of an M that holds a P.
pub(crate) fn newproc_go<F>(f: F, entry: fn() -> &'static str)
where
    F: FnOnce() + Send + 'static,
{
    sched::newproc(fatal_on_panic(f), entry, false);
}

/// `f` as the body of a `go` goroutine: an unrecovered panic is fatal.
fn fatal_on_panic<F: FnOnce() + Send + 'static>(f: F) -> impl FnOnce() + Send + 'static {
    move || {
        if let Err(p) = catch_unwind(AssertUnwindSafe(f)) {
            crate::panic::fatalpanic(p)
        }
    }
}

/// Drops a user value that the runtime owned (a timer's function) on a goroutine
/// of its own, never where the runtime happened to let go of it — often g0,
/// cleaning a timer heap with its lock held. There a `Drop` that panics would
/// unwind through the scheduler and kill the M with its P, and one that blocks
/// would park the scheduler's own stack; on a goroutine the first is an ordinary
/// fatal panic (Go's report, exit 2) and the second an ordinary park.
///
/// Callable from anywhere: on an M of `sched` that holds a P the goroutine goes
/// into that P's `runnext`, elsewhere (a plain thread, a goroutine inside
/// `syscall::blocking`) onto the global queue.
pub(crate) fn drop_on_goroutine<T: Send + 'static>(sched: &'static Sched, v: T) {
    let on_p = getm()
        .filter(|m| std::ptr::eq(m.sched, sched))
        .is_some_and(|m| m.p().is_some());
    let body = fatal_on_panic(move || drop(v));
    if on_p {
        sched::newproc(body, std::any::type_name::<T>, false);
    } else {
        sched::newproc_external(sched, body, std::any::type_name::<T>);
    }
}

/// Starts `f` as a new goroutine and returns a handle to wait for its result. A
/// panic in it is returned by [`JoinHandle::join`] as `Err`, the Rust way.
///
/// # Panics
/// If called outside a goroutine, or if `f` captures more than 1/32 of the stack
/// size (8 KiB of the default 256 KiB), as [`go`] does.
///
/// # Example
///
/// ```
/// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
/// unsafe { gort_runtime::run(|| {
///     let h = gort_runtime::spawn(|| 40 + 2);
///     assert_eq!(h.join().unwrap(), 42);
///     let bad = gort_runtime::spawn(|| -> u32 { panic!("boom") });
///     assert!(bad.join().is_err());
/// }) };
/// ```
pub fn spawn<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    check_capture::<F>();
    let state = Arc::new(JoinState::new());
    let done = state.clone();
    let goid = sched::newproc_join(
        move || {
            let r = catch_unwind(AssertUnwindSafe(f));
            // Finished: the runtime can no longer abandon us. (Dropping the G's
            // reference here, not on g0: `done` holds another.)
            drop(crate::proc::m::getg().and_then(|g| g.join.lock().take()));
            // Storing the result may drop it (if the handle is gone) and a Drop may
            // panic: that too must not unwind into the context-switch trampoline.
            if let Err(p) = catch_unwind(AssertUnwindSafe(move || done.complete(r))) {
                crate::panic::fatalpanic(p)
            }
        },
        std::any::type_name::<F>,
        true,
        Some(state.clone() as Arc<dyn Abandon>),
    );
    sched::preempt_check();
    JoinHandle { state, goid }
}

struct JoinState<T> {
    inner: parking_lot::Mutex<JoinInner<T>>,
}

struct JoinInner<T> {
    result: Option<std::thread::Result<T>>,
    /// Its runtime was dropped before it finished: it will never run again.
    abandoned: bool,
    waiter: Option<Waiter>,
}

/// What the scheduler keeps of a spawned goroutine's [`JoinState`], whatever its
/// `T`: a way to tell it the goroutine was abandoned (`sched.rs: abandon`).
pub(crate) trait Abandon: Send + Sync {
    /// The goroutine will never run again: wake its joiner, which then returns
    /// [`JoinError::Abandoned`] (unless the result is already there).
    fn abandon(&self);
}

impl<T: Send> Abandon for JoinState<T> {
    fn abandon(&self) {
        let waiter = {
            let mut g = self.inner.lock();
            g.abandoned = true;
            g.waiter.take()
        };
        if let Some(w) = waiter {
            w.wake();
        }
    }
}

impl<T> JoinState<T> {
    fn new() -> Self {
        JoinState {
            inner: parking_lot::Mutex::new(JoinInner {
                result: None,
                abandoned: false,
                waiter: None,
            }),
        }
    }

    fn complete(&self, r: std::thread::Result<T>) {
        let waiter = {
            let mut g = self.inner.lock();
            g.result = Some(r);
            g.waiter.take()
        };
        if let Some(w) = waiter {
            w.wake();
        }
    }
}

/// Waits for a goroutine started with [`spawn`] and takes its result.
///
/// # Example
///
/// ```
/// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
/// unsafe { gort_runtime::run(|| {
///     let h = gort_runtime::spawn(|| "done");
///     assert!(h.goid() > 1);
///     assert_eq!(h.join().unwrap(), "done");
/// }) };
/// ```
pub struct JoinHandle<T> {
    state: Arc<JoinState<T>>,
    goid: u64,
}

impl<T> JoinHandle<T> {
    /// Blocks until the goroutine finishes: parks the calling goroutine (wait reason
    /// `JoinHandle.join`), or blocks the thread outside a runtime. Returns the
    /// goroutine's value.
    ///
    /// # Errors
    /// [`JoinError::Panicked`] with the payload of its panic;
    /// [`JoinError::Abandoned`] if its runtime was dropped before it finished (it
    /// never runs again: see [`Runtime`]'s `Drop`).
    ///
    /// ```
    /// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    /// unsafe { gort_runtime::run(|| {
    ///     let h = gort_runtime::spawn(|| vec![1, 2, 3]);
    ///     assert_eq!(h.join().unwrap().len(), 3);
    /// }) };
    /// ```
    pub fn join(self) -> Result<T, JoinError> {
        sched::preempt_check();
        let mut g = self.state.inner.lock();
        if g.result.is_none() && !g.abandoned {
            block(
                &self.state.inner,
                g,
                |inner, w| inner.waiter = Some(w),
                WaitReason::JoinHandleJoin,
            );
            g = self.state.inner.lock();
        }
        match g.result.take() {
            Some(Ok(v)) => Ok(v),
            Some(Err(p)) => Err(JoinError::Panicked(p)),
            None if g.abandoned => Err(JoinError::Abandoned { goid: self.goid }),
            None => unreachable!("JoinHandle woken without a result"),
        }
    }

    /// Whether the goroutine has finished.
    ///
    /// ```
    /// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    /// unsafe { gort_runtime::run(|| {
    ///     let h = gort_runtime::spawn(|| ());
    ///     while !h.is_finished() { gort_runtime::yield_now(); }
    /// }) };
    /// ```
    pub fn is_finished(&self) -> bool {
        self.state.inner.lock().result.is_some()
    }

    /// The goroutine's id.
    ///
    /// ```
    /// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    /// unsafe { gort_runtime::run(|| {
    ///     let a = gort_runtime::spawn(|| ());
    ///     let b = gort_runtime::spawn(|| ());
    ///     assert_ne!(a.goid(), b.goid());
    /// }) };
    /// ```
    pub fn goid(&self) -> u64 {
        self.goid
    }
}

/// Why [`JoinHandle::join`] has no value.
///
/// # Example
///
/// ```
/// use gort_runtime::{JoinError, Runtime};
///
/// let rt = Runtime::new().unwrap();
/// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
/// let (bad, stuck) = unsafe { rt.run(|| {
///     let bad = gort_runtime::spawn(|| -> u32 { panic!("boom") });
///     while !bad.is_finished() {
///         gort_runtime::yield_now();
///     }
///     // Parked forever: nobody will ever send on this channel.
///     let (tx, rx) = gort_runtime::chan::bounded::<u32>(0);
///     let stuck = gort_runtime::spawn(move || rx.recv());
///     (bad, (stuck, tx))
/// }) };
/// let err = bad.join().unwrap_err();
/// assert!(err.is_panic());
/// assert_eq!(err.into_panic().downcast_ref::<&str>(), Some(&"boom"));
///
/// drop(rt); // the parked goroutine is abandoned
/// let (stuck, _tx) = stuck;
/// let goid = stuck.goid();
/// match stuck.join() {
///     Err(e @ JoinError::Abandoned { .. }) => assert_eq!(
///         e.to_string(),
///         format!("goroutine {goid} was abandoned: its runtime was dropped before it finished")
///     ),
///     other => panic!("expected Abandoned, got {other:?}"),
/// }
/// ```
pub enum JoinError {
    /// The goroutine panicked; this is the payload (what `std::thread`'s `join`
    /// returns as its error).
    Panicked(Box<dyn std::any::Any + Send + 'static>),
    /// The goroutine's [`Runtime`] was dropped before it finished: it stopped at
    /// a safepoint, or was parked or queued, and will never run again. Its
    /// closure and stack are not dropped (as Go's `exit` does not run deferred
    /// calls of other goroutines).
    Abandoned {
        /// The goroutine's id.
        goid: u64,
    },
}

impl JoinError {
    /// Whether the goroutine panicked.
    ///
    /// ```
    /// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    /// unsafe { gort_runtime::run(|| {
    ///     let e = gort_runtime::spawn(|| panic!("no")).join().unwrap_err();
    ///     assert!(e.is_panic());
    /// }) };
    /// ```
    pub fn is_panic(&self) -> bool {
        matches!(self, JoinError::Panicked(_))
    }

    /// The panic payload, to inspect or to resume with `std::panic::resume_unwind`.
    ///
    /// # Panics
    /// If the goroutine did not panic (it was abandoned).
    ///
    /// ```
    /// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    /// unsafe { gort_runtime::run(|| {
    ///     let e = gort_runtime::spawn(|| panic!("{}", 7)).join().unwrap_err();
    ///     assert_eq!(e.into_panic().downcast_ref::<String>().unwrap(), "7");
    /// }) };
    /// ```
    pub fn into_panic(self) -> Box<dyn std::any::Any + Send + 'static> {
        match self {
            JoinError::Panicked(p) => p,
            e => panic!("JoinError::into_panic: {e}"),
        }
    }
}

impl std::fmt::Display for JoinError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JoinError::Panicked(p) => match p
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| p.downcast_ref::<String>().map(String::as_str))
            {
                Some(msg) => write!(f, "goroutine panicked: {msg}"),
                None => f.write_str("goroutine panicked"),
            },
            JoinError::Abandoned { goid } => write!(
                f,
                "goroutine {goid} was abandoned: its runtime was dropped before it finished"
            ),
        }
    }
}

impl std::fmt::Debug for JoinError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JoinError::Panicked(_) => write!(f, "Panicked({self})"),
            JoinError::Abandoned { goid } => {
                f.debug_struct("Abandoned").field("goid", goid).finish()
            }
        }
    }
}

impl std::error::Error for JoinError {}

/// Wires the calling goroutine to its current OS thread (Go's
/// `runtime.LockOSThread`): until a matching [`unlock_os_thread`], it always runs on
/// this thread and no other goroutine does. Calls nest. If the goroutine exits
/// while locked, the thread ends with it (its state may have been changed).
///
/// While the goroutine is blocked, its thread sleeps and hands its P to others, so
/// locking costs a thread, not a processor.
///
/// # Panics
/// Outside a goroutine.
///
/// # Example
///
/// ```
/// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
/// unsafe { gort_runtime::run(|| {
///     gort_runtime::lock_os_thread();
///     let before = std::thread::current().id();
///     for _ in 0..10 { gort_runtime::yield_now(); }
///     assert_eq!(std::thread::current().id(), before);
///     gort_runtime::unlock_os_thread();
/// }) };
/// ```
pub fn lock_os_thread() {
    crate::proc::lockos::lock_os_thread()
}

/// Undoes one [`lock_os_thread`]; after the last, the goroutine may move between
/// threads again. Without a matching lock it does nothing (as in Go).
///
/// # Example
///
/// ```
/// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
/// unsafe { gort_runtime::run(|| {
///     gort_runtime::lock_os_thread();
///     gort_runtime::lock_os_thread();
///     gort_runtime::unlock_os_thread();
///     gort_runtime::unlock_os_thread(); // now free to migrate
///     gort_runtime::unlock_os_thread(); // no-op
/// }) };
/// ```
pub fn unlock_os_thread() {
    crate::proc::lockos::unlock_os_thread()
}

/// Yields the processor: the current goroutine goes to the back of the global run
/// queue and others run (Go's `runtime.Gosched`). Outside a runtime, yields the
/// thread.
///
/// # Example
///
/// ```
/// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
/// unsafe { gort_runtime::run(|| {
///     for _ in 0..3 { gort_runtime::yield_now(); }
/// }) };
/// ```
pub fn yield_now() {
    if std::thread::panicking() {
        // A Drop running during unwinding: switching away now would leave the
        // thread's panic count to whichever goroutine runs next. Do nothing.
        return;
    }
    if crate::proc::m::getg().is_some() {
        sched::gosched();
    } else {
        std::thread::yield_now();
    }
}

/// A safepoint: if the runtime asked this goroutine to yield (it has run for 10 ms,
/// or the world is being stopped), yield now; otherwise return at once (one load and
/// a branch). Call it in long loops that make no other runtime calls — gort's
/// preemption is cooperative, like Go's before 1.14.
///
/// # Example
///
/// ```
/// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
/// unsafe { gort_runtime::run(|| {
///     let mut x = 0u64;
///     for i in 0..1_000_000 { x = x.wrapping_add(i); gort_runtime::preempt_point(); }
///     assert!(x > 0);
/// }) };
/// ```
#[inline]
pub fn preempt_point() {
    sched::preempt_check();
}

/// Live goroutines in the current runtime (Go's `runtime.NumGoroutine`); 0 outside
/// a runtime.
///
/// # Example
///
/// ```
/// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
/// unsafe { gort_runtime::run(|| assert_eq!(gort_runtime::num_goroutine(), 1)) };
/// ```
pub fn num_goroutine() -> usize {
    getm().map_or(0, |m| m.sched.gcount())
}

/// The current runtime's number of Ps (Go's `runtime.GOMAXPROCS(0)`); outside a
/// runtime, what a new runtime would get from the environment.
///
/// # Panics
/// Outside a runtime, if `GOMAXPROCS` is malformed (the message names it), as a
/// runtime would refuse to start.
///
/// # Example
///
/// ```
/// let rt = gort_runtime::Runtime::builder().procs(2).build().unwrap();
/// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
/// assert_eq!(unsafe { rt.run(gort_runtime::gomaxprocs) }, 2);
/// ```
pub fn gomaxprocs() -> usize {
    match getm() {
        Some(m) => m.sched.gomaxprocs as usize,
        None => match Settings::resolve(&Requested::default(), |k| std::env::var(k).ok()) {
            Ok(s) => s.gomaxprocs as usize,
            Err(e) => panic!("gort: {e}"),
        },
    }
}

/// Introspection for lessons and tests.
pub mod debug {
    /// Go's `runtime.ReadMemStats`, from the span allocator (`gort-alloc`),
    /// which every P's cache and every goroutine stack draw on.
    pub use gort_alloc::debug::mem_stats;

    /// Go's `debug.FreeOSMemory`: does what a collection would do now, then
    /// returns every free page of the process-wide heap to the OS; returns the
    /// bytes released. Called on a goroutine, the collection's part is freeing
    /// the stacks of its runtime's dead goroutines on the global gFree list
    /// (Go's `markrootFreeGStacks`; the collector is not built yet). Elsewhere it
    /// only returns free pages. The system allocator (glibc's malloc, which
    /// serves `Box` and `Vec`) is asked to return its free pages too.
    ///
    /// # Example
    ///
    /// ```
    /// use gort_runtime::debug::{free_os_memory, mem_stats};
    /// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    /// unsafe { gort_runtime::run(|| {
    ///     let wg = gort_runtime::sync::WaitGroup::new();
    ///     for _ in 0..1000 {
    ///         wg.go(|| {});
    ///     }
    ///     wg.wait();
    ///     free_os_memory();
    ///     let m = mem_stats();
    ///     assert_eq!(m.heap_released, m.heap_idle); // every free page is back
    /// }) };
    /// ```
    pub fn free_os_memory() -> usize {
        if let Some(m) = crate::proc::m::getm() {
            crate::proc::sched::free_g_stacks(m.sched);
        }
        crate::proc::sysmon::trim_system_allocator();
        gort_alloc::debug::free_os_memory()
    }

    /// The id of the P the current goroutine is running on (stale as soon as it
    /// returns: the goroutine may move), or None outside a goroutine.
    ///
    /// # Example
    ///
    /// ```
    /// let rt = gort_runtime::Runtime::builder().procs(2).build().unwrap();
    /// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    /// let p = unsafe { rt.run(gort_runtime::debug::current_p) }.unwrap();
    /// assert!(p < 2);
    /// ```
    pub fn current_p() -> Option<usize> {
        let m = crate::proc::m::getm()?;
        m.curg()?;
        m.p().map(|p| p.id as usize)
    }

    /// The id of the current goroutine, or None outside a goroutine.
    ///
    /// ```
    /// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    /// let id = unsafe { gort_runtime::run(|| gort_runtime::debug::goid().unwrap()) };
    /// assert_eq!(id, 1);
    /// ```
    pub fn goid() -> Option<u64> {
        crate::proc::m::getg().map(|g| g.goid())
    }
}
