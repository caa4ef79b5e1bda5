//! Go's panic rules, each in a child process (this test binary run again with
//! `GORT_PANIC=<scenario>`), where the failure being guarded against is an abort,
//! a hang or a wrong exit status: a panic in user code the runtime runs for you
//! (`time::after_func`) is a goroutine's panic, reported Go's way with exit
//! status 2; a closed stderr never turns a report into an abort.

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

/// The child side: runs one scenario and exits 0 if it returns.
#[test]
fn child_entry() {
    let Ok(name) = std::env::var("GORT_PANIC") else {
        return;
    };
    match name.as_str() {
        "after_func_panic" => gort::run(|| {
            gort::time::after_func(Duration::from_millis(1), || panic!("boom in after_func"));
            loop {
                gort::yield_now();
            }
        }),
        "recovered_panic" => gort::run(|| {
            let h = gort::spawn(|| -> u32 { panic!("recovered by join") });
            assert!(h.join().is_err());
        }),
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
