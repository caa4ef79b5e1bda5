//! Fatal paths, each in a child process (this test binary run again with
//! `GORT_CHILD=<scenario>`): the output on stderr and exit status 2, as in Go.

mod common;

/// Runs scenario `name` in a child process; returns (exit code, stderr).
fn child(name: &str, env: &[(&str, &str)]) -> (i32, String) {
    common::run_child("child_entry", "GORT_CHILD", name, env)
}

/// Runs the `schedtrace` scenario, whose goroutines keep both Ps busy until its
/// stderr shows `enough`.
fn schedtrace_child(env: &[(&str, &str)], enough: impl Fn(&str) -> bool) -> (i32, String) {
    common::run_child_until("child_entry", "GORT_CHILD", "schedtrace", env, enough)
}

fn recurse(n: u64) -> u64 {
    let pad = std::hint::black_box([n; 32]);
    if n == 0 {
        return pad[0];
    }
    recurse(n - 1) + std::hint::black_box(pad[1])
}

/// The child side: runs one scenario and (normally) never returns from it.
#[test]
fn child_entry() {
    let Ok(name) = std::env::var("GORT_CHILD") else {
        return;
    };
    match name.as_str() {
        // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
        "go_panic" => unsafe {
            gort::run(|| {
                gort::go(|| panic!("boom in a goroutine"));
                loop {
                    gort::yield_now();
                }
            })
        },
        // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
        "main_panic" => unsafe {
            gort::run(|| {
                let v: Vec<u32> = vec![];
                let _ = std::hint::black_box(&v)[3];
            })
        },
        // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
        "stack_overflow" => unsafe {
            gort::run(|| {
                let h = gort::spawn(|| recurse(u64::MAX));
                let _ = h.join();
            })
        },
        // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
        "stack_overflow_in_call" => unsafe {
            gort::run(|| {
                let h = gort::spawn(|| gort::syscall::blocking(|| recurse(u64::MAX)));
                let _ = h.join();
            })
        },
        // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
        "deadlock" => unsafe {
            gort::run(|| {
                let never = std::sync::Arc::new(gort::sync::Semaphore::new(0));
                let n = never.clone();
                gort::go(move || n.acquire());
                let wg = gort::sync::WaitGroup::new();
                wg.add(1);
                wg.wait();
            })
        },
        // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
        "deadlock_after_timer" => unsafe {
            gort::run(|| {
                // A pending timer keeps the program alive; once it has fired and its
                // goroutine blocked too, the deadlock is reported.
                let (tx, rx) = gort::chan::bounded::<u32>(0);
                gort::go(move || {
                    gort::time::sleep(std::time::Duration::from_millis(30));
                    let (lonely, _keep) = gort::chan::bounded::<u32>(0);
                    lonely.send(1);
                    drop(tx);
                });
                rx.recv();
            })
        },
        "schedtrace" => {
            // Four spinners keep both Ps busy until the parent has read what it
            // waits for and closes our stdin (`run_child_until`).
            let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let s = stop.clone();
            std::thread::spawn(move || {
                let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut Vec::new());
                s.store(true, std::sync::atomic::Ordering::Release);
            });
            // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
            unsafe {
                gort::run(move || {
                    let hs: Vec<_> = (0..4)
                        .map(|_| {
                            let stop = stop.clone();
                            gort::spawn(move || {
                                while !stop.load(std::sync::atomic::Ordering::Acquire) {
                                    gort::preempt_point();
                                }
                            })
                        })
                        .collect();
                    for h in hs {
                        h.join().unwrap();
                    }
                })
            }
        }
        // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
        "plain" => unsafe { gort::run(|| ()) },
        other => panic!("unknown scenario {other}"),
    }
    std::process::exit(0);
}

#[test]
fn an_unrecovered_panic_in_a_goroutine_prints_gos_report_and_exits_2() {
    let (code, err) = child("go_panic", &[]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.starts_with("panic: boom in a goroutine\n\ngoroutine "),
        "{err}"
    );
    let header = err.lines().nth(2).unwrap();
    assert!(
        header.starts_with("goroutine ") && header.ends_with(" [running]:"),
        "{header}"
    );
    // At least the closure that panicked, with its file and line.
    assert!(err.contains("fatal::child_entry"), "{err}");
    assert!(
        err.contains("\ttests/fatal.rs:") || err.contains("/tests/fatal.rs:"),
        "{err}"
    );
}

#[test]
fn a_panic_in_the_main_goroutine_is_fatal_too() {
    let (code, err) = child("main_panic", &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.starts_with("panic: index out of bounds"), "{err}");
    assert!(err.contains("\ngoroutine 1 [running]:\n"), "{err}");
}

#[test]
fn a_stack_overflow_prints_gos_message_not_a_bare_sigsegv() {
    let (code, err) = child("stack_overflow", &[]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.starts_with("runtime: goroutine stack exceeds 262144-byte limit\nruntime: sp=0x"),
        "{err}"
    );
    assert!(
        err.contains("\nfatal error: stack overflow\n\ngoroutine "),
        "{err}"
    );
    assert!(err.contains(" [running]:"), "{err}");
}

/// `syscall::blocking` runs its closure on the thread's own stack (g0): an
/// overflow there is the thread's, reported by std, not the goroutine's.
#[test]
fn a_stack_overflow_inside_a_blocking_call_is_the_threads_not_the_goroutines() {
    let (code, err) = child("stack_overflow_in_call", &[]);
    assert_ne!(code, 0, "{err}");
    assert!(!err.contains("goroutine stack exceeds"), "{err}");
    assert!(
        err.contains("thread 'gort-m") && err.contains("has overflowed its stack"),
        "{err}"
    );
}

#[test]
fn all_goroutines_asleep_is_a_deadlock() {
    // Several times: the deadlock can form while the thread that started main is
    // still handing it over, a window that once hid it.
    for _ in 0..20 {
        let (code, err) = child("deadlock", &[]);
        assert_eq!(code, 2, "{err}");
    }
    let (code, err) = child("deadlock", &[]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.starts_with("fatal error: all goroutines are asleep - deadlock!\n\ngoroutine 1 [sync.WaitGroup.Wait]:\n"),
        "{err}"
    );
    assert!(
        err.contains(" [semacquire]:\n"),
        "the other sleeper is listed too: {err}"
    );
    assert!(err.contains("created by goroutine 1"), "{err}");
}

#[test]
fn a_deadlock_is_reported_once_the_last_timer_has_fired() {
    let t = std::time::Instant::now();
    let (code, err) = child("deadlock_after_timer", &[]);
    assert_eq!(code, 2, "{err}");
    assert!(
        t.elapsed() >= std::time::Duration::from_millis(30),
        "reported while a timer was pending"
    );
    assert!(
        err.starts_with(
            "fatal error: all goroutines are asleep - deadlock!\n\ngoroutine 1 [chan receive]:\n"
        ),
        "{err}"
    );
    assert!(err.contains(" [chan send]:\n"), "{err}");
}

#[test]
fn a_malformed_gomaxprocs_is_refused_by_name() {
    let (code, err) = child("plain", &[("GOMAXPROCS", "lots")]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(
        err.trim_end(),
        "gort: invalid GOMAXPROCS=\"lots\": expected an integer from 1 to 1024"
    );
    let (code, err) = child("plain", &[("GODEBUG", "schedtrace=often")]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("invalid GODEBUG=\"schedtrace=often\""),
        "{err}"
    );
}

#[test]
fn an_out_of_range_godebug_number_is_refused_by_name() {
    // About 2^64 ns: sysmon's `ms * 1_000_000` used to overflow (a SCHED line every
    // half millisecond in release builds, a dead sysmon in debug builds).
    let (code, err) = child("plain", &[("GODEBUG", "schedtrace=18446744073710")]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(
        err.trim_end(),
        "gort: invalid GODEBUG=\"schedtrace=18446744073710\": \
         expected schedtrace=<milliseconds from 0 to 2147483647>"
    );
}

#[test]
fn an_empty_gomaxprocs_is_unset() {
    let (code, err) = child("plain", &[("GOMAXPROCS", "")]);
    assert_eq!(code, 0, "{err}");
}

fn is_sched_line(l: &str, procs: usize) -> bool {
    let f: Vec<&str> = l.split_whitespace().collect();
    let num = |s: &str, key: &str| {
        s.strip_prefix(key)
            .is_some_and(|v| v.parse::<u64>().is_ok())
    };
    f.len() == 2 + 7 + procs + 2 + 1 + procs + 1
        && f[0] == "SCHED"
        && f[1]
            .strip_suffix("ms:")
            .is_some_and(|v| v.parse::<u64>().is_ok())
        && f[2] == format!("gomaxprocs={procs}")
        && num(f[3], "idleprocs=")
        && num(f[4], "threads=")
        && num(f[5], "spinningthreads=")
        && num(f[6], "needspinning=")
        && num(f[7], "idlethreads=")
        && num(f[8], "runqueue=")
        && f[9] == "["
        && f[10..10 + procs].iter().all(|v| v.parse::<u32>().is_ok())
        && f[10 + procs] == "]"
        && f[11 + procs] == "schedticks=["
        && f[f.len() - 1] == "]"
}

fn sched_lines(err: &str) -> Vec<&str> {
    err.lines().filter(|l| l.starts_with("SCHED")).collect()
}

/// Three SCHED lines, one of them printed while both Ps were busy. The child
/// runs until its stderr has them, so a slow machine only makes it run longer.
#[test]
fn godebug_schedtrace_prints_sched_lines() {
    let busy = |l: &&str| l.contains(" idleprocs=0 ");
    let (code, err) = schedtrace_child(
        &[("GOMAXPROCS", "2"), ("GODEBUG", "schedtrace=20")],
        |err| {
            let lines = sched_lines(err);
            lines.len() >= 3 && lines.iter().any(busy)
        },
    );
    assert_eq!(code, 0, "{err}");
    let lines = sched_lines(&err);
    assert!(lines.len() >= 3, "{err}");
    for l in &lines {
        assert!(is_sched_line(l, 2), "not Go's format: {l}");
    }
    // While the four spinners run, both Ps are busy.
    assert!(lines.iter().any(busy), "{err}");
}

/// Whether one line of stderr is the line looked for.
type LineTest = fn(&str) -> bool;

/// The lines scheddetail adds, each named, with its test.
const DETAIL_LINES: [(&str, LineTest); 5] = [
    ("SCHED line with the detail fields", |l| {
        l.starts_with("SCHED ") && l.contains(" gcwaiting=false nmidlelocked=0 stopwait=")
    }),
    ("P1", |l| l.starts_with("  P1: status=")),
    ("M", |l| l.starts_with("  M") && l.contains(" spinning=")),
    ("main goroutine joining", |l| {
        l.starts_with("  G1: status=4(JoinHandle.join) m=nil lockedm=nil")
    }),
    ("running goroutine", |l| {
        l.starts_with("  G") && l.contains(": status=2() m=")
    }),
];

#[test]
fn godebug_scheddetail_prints_p_m_and_g_lines() {
    let (code, err) = schedtrace_child(
        &[
            ("GOMAXPROCS", "2"),
            ("GODEBUG", "schedtrace=30,scheddetail=1"),
        ],
        |err| DETAIL_LINES.iter().all(|(_, is)| err.lines().any(is)),
    );
    assert_eq!(code, 0, "{err}");
    for (what, is) in DETAIL_LINES {
        assert!(err.lines().any(is), "no {what} line: {err}");
    }
}
