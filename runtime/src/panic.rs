//! Failures as Go shows them: unrecovered panics, `fatal error:` throws, and the
//! deadlock report — each printed to stderr in Go's format, then exit status 2.
//!
//! Models `runtime/panic.go` (`fatalpanic`, `printpanics`, `throw`, `fatal`) and
//! `runtime/traceback.go` (`goroutineheader`).
//!
//! # Panics in goroutines
//!
//! Every goroutine's closure runs inside `catch_unwind`, so unwinding never reaches
//! the context-switch trampoline. What happens next depends on how it was started:
//!
//! - `go(f)`: like Go, an unrecovered panic kills the program. The panic hook
//!   (installed once, chained to the previous hook for non-goroutine threads)
//!   captures an unresolved backtrace at the panic site while the frames still
//!   exist; the goroutine then switches to g0, which resolves the symbols on the
//!   M's large thread stack and prints
//!   `panic: <msg>` / blank line / `goroutine N [running]:` / frames as
//!   `function(...)` + tab + `file:line`, and exits with status 2.
//! - `spawn(f)`: the panic is the `JoinHandle`'s business (`join` returns `Err`, the
//!   Rust way), and the hook prints Rust's one-line notice, naming the goroutine.
//!
//! # Main waits for a panic in progress
//!
//! As in Go, a main goroutine whose function returns while a `go` goroutine is
//! unwinding a panic waits for it (`main_wait_for_panics`, Go's
//! `runningPanicDefers` and `panicking`). The count and its waiters are per
//! runtime (`Sched::running_panic_defers`, `Sched::panic_waiters`): one runtime's
//! main does not wait for another's goroutines, and a main parked for its own
//! runtime's panic is never mistaken for a deadlock there because of a panic
//! elsewhere. `panicking` is process-wide: a fatal panic in any runtime ends the
//! process. The panic hook counts the panic before
//! any `Drop` runs, `fatalpanic` sets `panicking` before uncounting it, and main
//! parks (`panicwait`) while the count is non-zero, woken when it drops to zero,
//! and for good once `panicking` is set. So `WaitGroup::go(|| panic!())` +
//! `wait()` exits 2, never 0. Main parks rather than yields (Go yields) because
//! an unwinding goroutine may block in a `Drop` now, possibly for ever; parked,
//! main lets `checkdead` see that nothing can run and report the deadlock.
//!
//! User code the runtime runs on the user's behalf — `time::after_func`'s function —
//! runs in a goroutine started as `go` starts one (`api::newproc_go`), so its panic
//! follows the `go` rule.
//!
//! Everything the runtime writes to stderr goes through [`print_stderr`], which
//! ignores write errors as Go's `print` does: with stderr closed (a broken pipe),
//! `eprintln!` would panic, and a panic inside the panic hook aborts the process.

use crate::proc::g::G;
use crate::proc::m::getg;
use std::io::Write;
use std::sync::atomic::{AtomicU32, Ordering};

/// Installs the panic hook (once per process).
pub(crate) fn install_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| match getg() {
            Some(g) if !g.joinable.get() => {
                // Counted before any Drop runs: a Drop may release the main
                // goroutine (`WaitGroup::go`'s `done`), which must then wait.
                if !g.panic_counted.replace(true) {
                    g.sched.running_panic_defers.fetch_add(1, Ordering::SeqCst);
                }
                // SAFETY: panic_trace belongs to the running goroutine, which is us.
                unsafe { *g.panic_trace.get() = Some(backtrace::Backtrace::new_unresolved()) };
            }
            Some(g) => {
                let loc = info.location().map(|l| l.to_string()).unwrap_or_default();
                print_stderr(&format!(
                    "goroutine {} panicked at {loc}:\n{}\n",
                    g.goid(),
                    payload_str(info.payload())
                ));
            }
            None => prev(info),
        }));
    });
}

/// A panic payload as Go's `printpanicval` shows a value: a string as itself; an
/// error (`Box<dyn Error>`, `io::Error`) by its message, as Go prints
/// `err.Error()`; a number, `bool` or `char` by its value. For any other type Go
/// prints `(T) 0xADDR`; Rust has erased the type by now (a `dyn Any` carries a
/// `TypeId`, not a name), so gort prints `(dyn Any) 0xADDR`, the payload's
/// address in Go's shape. Panic with a `String` (`panic!("{v:?}")`) to see a value.
pub(crate) fn payload_str(p: &(dyn std::any::Any + Send)) -> String {
    macro_rules! shown {
        ($($t:ty),*) => {
            $(if let Some(v) = p.downcast_ref::<$t>() {
                return v.to_string();
            })*
        };
    }
    shown!(
        &str,
        String,
        Box<str>,
        std::borrow::Cow<'static, str>,
        Box<dyn std::error::Error + Send + Sync>,
        Box<dyn std::error::Error + Send>,
        std::io::Error,
        i8,
        i16,
        i32,
        i64,
        i128,
        isize,
        u8,
        u16,
        u32,
        u64,
        u128,
        usize,
        f32,
        f64,
        bool,
        char
    );
    format!(
        "(dyn Any) {:p}",
        p as *const (dyn std::any::Any + Send) as *const ()
    )
}

/// Go's `panicking`: a goroutine is reporting a fatal panic; the process is about
/// to exit with status 2.
static PANICKING: AtomicU32 = AtomicU32::new(0);

/// `gp`'s panic is no longer in progress: it turned fatal, or (called from
/// `mcall` when the thread is not panicking) user code caught it.
pub(crate) fn uncount_panic(gp: &G) {
    let sched = gp.sched;
    if gp.panic_counted.replace(false)
        && sched.running_panic_defers.fetch_sub(1, Ordering::SeqCst) == 1
    {
        // The runtime's last panic in progress: its main goes on.
        let waiters = std::mem::take(&mut *sched.panic_waiters.lock());
        for main in waiters {
            crate::proc::sched::ready(main);
        }
    }
}

/// Whether a goroutine is reporting a fatal panic (`checkdead` stands aside, as
/// Go's does while `panicking`).
pub(crate) fn panicking() -> bool {
    PANICKING.load(Ordering::SeqCst) != 0
}

/// The end of Go's `runtime.main`, run by a main goroutine whose function has
/// returned: while a `go` goroutine is unwinding a panic, wait for it to finish
/// (parked, `panicwait`; [`uncount_panic`] wakes us when none is left); if a
/// panic is being reported, never return — the process exits with status 2 from
/// the reporting M. Without this, a `Drop` that releases main during the
/// unwinding (`WaitGroup::go`'s `done`) lets `run` return and the process exit 0
/// with the panic unreported.
///
/// Go yields up to 1000 times and then exits, because a recovered panic is
/// uncounted only by `recover`, which Go sees. gort cannot see a user's
/// `catch_unwind` return, so it uncounts a recovered panic at the goroutine's
/// next switch (`mcall`: park, yield, exit) and waits without a bound: the wait
/// ends with each goroutine's next runtime call, not after a guess at how long
/// unwinding takes. It waits parked, not yielding: an unwinding goroutine may
/// block in a `Drop` (`proc/lockos.rs`), and if it blocks for ever, every
/// goroutine sleeps and `checkdead` reports the deadlock instead of main
/// spinning.
pub(crate) fn main_wait_for_panics() {
    use crate::proc::g::WaitReason;
    let sched = getg().expect("main_wait_for_panics off a goroutine").sched;
    while sched.running_panic_defers.load(Ordering::SeqCst) != 0 && !panicking() {
        let wait = crate::proc::m::UnlockF {
            f: park_for_panics,
            data: std::ptr::null(),
        };
        // SAFETY: `park_for_panics` ignores `data` and touches only its G's runtime.
        unsafe { crate::proc::sched::gopark(Some(wait), WaitReason::PanicWait) };
    }
    if panicking() {
        // SAFETY: no unlock function: nothing is published and nobody readies us.
        unsafe { crate::proc::sched::gopark(None, WaitReason::PanicWait) };
        unreachable_exit()
    }
}

/// The park's unlock function, on g0 once main has switched out: publish main as
/// a waiter, unless the count dropped to zero (or a report began) meanwhile. The
/// check and the push happen under `Sched::panic_waiters`' lock, which the waker
/// takes after its decrement, so a decrement is either seen here or wakes us.
///
/// # Safety
/// None beyond `UnlockF`'s: `_data` is unused.
unsafe fn park_for_panics(_data: *const (), gp: &'static G) -> bool {
    let mut waiters = gp.sched.panic_waiters.lock();
    if gp.sched.running_panic_defers.load(Ordering::SeqCst) == 0 || panicking() {
        return false;
    }
    waiters.push(gp);
    true
}

/// Called on a `go` goroutine whose closure panicked: hands over to g0 to report.
pub(crate) fn fatalpanic(payload: Box<dyn std::any::Any + Send>) -> ! {
    let msg = payload_str(&*payload);
    std::mem::forget(payload);
    let m = crate::proc::m::getm().expect("fatalpanic off an M");
    let gp = m.curg().expect("fatalpanic: no goroutine");
    // Go's order (`fatalpanic`): set `panicking` first, which keeps main from
    // returning, then stop counting this panic as running.
    PANICKING.fetch_add(1, Ordering::SeqCst);
    uncount_panic(gp);
    m.mcall(gp, crate::proc::m::After::FatalPanic(msg));
    unreachable_exit()
}

/// On g0: prints a goroutine's unrecovered panic and exits with status 2.
pub(crate) fn die_of_panic(gp: &G, msg: &str) -> ! {
    let mut out = format!("panic: {msg}\n\n{}\n", goroutine_header(gp, "running"));
    // SAFETY: gp has switched out for good; g0 of its last M owns it now.
    if let Some(mut bt) = unsafe { (*gp.panic_trace.get()).take() } {
        bt.resolve();
        format_frames(&bt, &mut out);
    }
    exit2(&out)
}

/// Go's goroutine header: `goroutine N [state]:`.
pub(crate) fn goroutine_header(gp: &G, state: &str) -> String {
    format!("goroutine {} [{state}]:", gp.goid())
}

/// Writes the user-relevant frames of a panic backtrace in Go's layout: from the
/// frame that panicked (everything up to the last frame of the panic machinery is
/// skipped) down to the goroutine's entry, leaving out the runtime's own wrappers.
fn format_frames(bt: &backtrace::Backtrace, out: &mut String) {
    use std::fmt::Write as _;
    let syms: Vec<(String, Option<(String, u32)>)> = bt
        .frames()
        .iter()
        .flat_map(|f| f.symbols())
        .map(|sym| {
            let name = sym
                .name()
                .map(|n| format!("{n:#}"))
                .unwrap_or_else(|| "???".into());
            let loc = sym
                .filename()
                .zip(sym.lineno())
                .map(|(f, l)| (f.display().to_string(), l));
            (name, loc)
        })
        .collect();
    // The top frames are the panic machinery, whatever the entry: the backtrace
    // capture and this module's hook, std's hook call and `rust_panic_with_hook`,
    // then `rust_begin_unwind` and core's helpers (`panic_fmt`,
    // `panic_bounds_check`) for `panic!`, or `panic_any`/`begin_panic`/
    // `resume_unwind` for other payloads. The first frame past them panicked.
    let machinery = |n: &str| {
        n.starts_with("backtrace::")
            || n.starts_with("gort_runtime::panic::")
            || n.starts_with("<alloc::boxed::Box<dyn for<")
            || n.starts_with("std::panicking::")
            || n.starts_with("core::panicking::")
            || n.starts_with("std::panic::panic_any")
            || n.starts_with("std::panic::resume_unwind")
            || n.starts_with("std::sys::backtrace::")
            || n.starts_with("std::sys_common::backtrace::")
            || n.contains("rust_begin_unwind")
            || n.contains("rust_panic")
    };
    // Past the last `rust_begin_unwind` if there is one (frames above it are
    // machinery whatever their names), then past any machinery below it.
    let mut first = syms
        .iter()
        .position(|(n, _)| n.contains("rust_begin_unwind"))
        .map_or(0, |i| i + 1);
    while syms.get(first).is_some_and(|(n, _)| machinery(n)) {
        first += 1;
    }
    for (name, loc) in &syms[first..] {
        if name.contains("gort_runtime::proc::sched::gostart") {
            break;
        }
        // The runtime's wrappers, including the g0 side of a
        // `syscall::blocking` call (`proc/syscall.rs`, `gort_systemstack`);
        // `gort_runtime::syscall::blocking` itself stays, where the call began.
        let wrapper = name.starts_with("<core::panic::unwind_safe::AssertUnwindSafe")
            || name.starts_with("std::panic::catch_unwind")
            || name.starts_with("std::panicking::")
            || name.starts_with("__rust_try")
            || name.starts_with("gort_runtime::api::")
            || name.starts_with("gort_runtime::proc::syscall::")
            || name.starts_with("gort_runtime::arch::")
            || name == "gort_systemstack";
        if wrapper {
            continue;
        }
        let _ = writeln!(out, "{name}(...)");
        if let Some((file, line)) = loc {
            let _ = writeln!(out, "\t{file}:{line}");
        }
    }
}

/// `throw`: a runtime bug. Prints `fatal error: msg` and exits 2.
pub(crate) fn throw(msg: &str) -> ! {
    fatal(msg)
}

/// `fatal`: an unrecoverable condition. Prints `fatal error: msg` and the current
/// goroutine's header, and exits 2.
pub(crate) fn fatal(msg: &str) -> ! {
    let mut out = format!("fatal error: {msg}\n");
    if let Some(g) = getg() {
        out.push('\n');
        out.push_str(&goroutine_header(g, "running"));
        out.push('\n');
    }
    exit2(&out)
}

/// The deadlock report: every goroutine that is still alive, then exit 2.
pub(crate) fn deadlock(sched: &crate::proc::sched::Sched) -> ! {
    let mut out = String::from("fatal error: all goroutines are asleep - deadlock!\n");
    let mut gs: Vec<&G> = sched
        .allgs
        .lock()
        .iter()
        .copied()
        .filter(|g| {
            !matches!(
                g.status(),
                crate::proc::g::Status::Dead | crate::proc::g::Status::Idle
            )
        })
        .collect();
    gs.sort_by_key(|g| g.goid());
    for g in gs {
        out.push('\n');
        out.push_str(&goroutine_dump(g));
    }
    exit2(&out)
}

/// One goroutine in a dump: header, its entry function, and its creator.
pub(crate) fn goroutine_dump(g: &G) -> String {
    let state = match g.status() {
        crate::proc::g::Status::Waiting => g.waitreason().as_str().to_string(),
        s => s.as_str().to_string(),
    };
    let mut s = format!("{}\n{}(...)\n", goroutine_header(g, &state), g.entry_name());
    let parent = g.parent_goid.load(std::sync::atomic::Ordering::Relaxed);
    if parent != 0 {
        s.push_str(&format!("created by goroutine {parent}\n"));
    }
    s
}

/// Writes `text` to stderr, ignoring errors (Go's `print`): a report must never
/// turn into a second failure because stderr is closed or a broken pipe — std's
/// `eprintln!` panics then, and a panic inside the panic hook aborts the process.
pub(crate) fn print_stderr(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(text.as_bytes());
    let _ = err.flush();
}

fn exit2(text: &str) -> ! {
    let _ = std::io::stdout().flush();
    print_stderr(text);
    std::process::exit(2)
}

fn unreachable_exit() -> ! {
    exit2("fatal error: a goroutine resumed after a fatal panic\n")
}
