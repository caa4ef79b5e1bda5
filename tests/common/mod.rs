//! Helpers shared by the integration tests (each test file includes this module;
//! not every file uses every helper).
#![allow(dead_code)]

use gort::{Runtime, WaitReason};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A runtime with `procs` Ps.
pub fn rt(procs: usize) -> Runtime {
    Runtime::builder().procs(procs).build().unwrap()
}

/// A panic payload, or the error of a join that panicked.
pub trait PanicPayload {
    fn payload(self) -> Box<dyn std::any::Any + Send>;
}

impl PanicPayload for Box<dyn std::any::Any + Send> {
    fn payload(self) -> Box<dyn std::any::Any + Send> {
        self
    }
}

impl PanicPayload for gort::JoinError {
    fn payload(self) -> Box<dyn std::any::Any + Send> {
        self.into_panic()
    }
}

/// The message a joined goroutine panicked with.
pub fn panic_message(e: impl PanicPayload) -> String {
    let e = e.payload();
    if let Some(s) = e.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = e.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string panic>".into()
    }
}

/// Goroutines parked with `reason` right now (looked up with the world stopped).
pub fn parked(reason: WaitReason) -> usize {
    let world = gort::stw::stop_the_world();
    world
        .goroutines()
        .iter()
        .filter(|g| g.wait_reason == reason)
        .count()
}

/// Yields until at least `n` goroutines are parked with `reason`.
pub fn wait_parked(reason: WaitReason, n: usize) {
    while parked(reason) < n {
        gort::yield_now();
    }
}

/// Deadlock detection assumes every wake-up comes from a goroutine: while a
/// goroutine waits for a plain thread, keep one goroutine runnable until `stop`.
pub fn keep_alive(stop: Arc<AtomicBool>) {
    gort::go(move || {
        while !stop.load(Ordering::Acquire) {
            gort::yield_now();
        }
    });
}

/// The number after `key=` in a schedtrace report, summed over its lines
/// (`threads=` appears once; `timerslen=` once per P).
pub fn trace_sum(trace: &str, key: &str) -> u64 {
    trace
        .lines()
        .filter_map(|l| l.split(key).nth(1))
        .filter_map(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// Runs this test binary again as a child, running only the test `entry` with
/// `var=scenario` set (plus `env`), and returns (exit code, stderr). A child that
/// hangs fails the test after 60 s instead of stalling it (a missed deadlock is a
/// hang).
pub fn run_child(entry: &str, var: &str, scenario: &str, env: &[(&str, &str)]) -> (i32, String) {
    run_child_until(entry, var, scenario, env, |_| true)
}

/// [`run_child`] for a child that runs until told to stop: its stdin stays open
/// until its stderr so far satisfies `enough`, then is closed (the child sees end
/// of file). So a test waits for what it wants to see, however slowly a loaded
/// machine produces it, and still fails after 60 s if it never comes.
pub fn run_child_until(
    entry: &str,
    var: &str,
    scenario: &str,
    env: &[(&str, &str)],
    enough: impl Fn(&str) -> bool,
) -> (i32, String) {
    use std::io::BufRead;
    use std::sync::mpsc::{self, RecvTimeoutError};
    use std::time::{Duration, Instant};

    let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", entry, "--nocapture", "--test-threads=1"])
        .env(var, scenario)
        .env_remove("GOMAXPROCS")
        .env_remove("GODEBUG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take();
    let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
    // Lines as they come, so that `enough` can be asked while the child runs.
    let (tx, lines) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        let mut line = Vec::new();
        while err.read_until(b'\n', &mut line).is_ok_and(|n| n > 0) {
            if tx
                .send(String::from_utf8_lossy(&line).into_owned())
                .is_err()
            {
                return;
            }
            line.clear();
        }
    });
    let mut stderr = String::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if stdin.is_some() && enough(&stderr) {
            drop(stdin.take());
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("child scenario {scenario:?} hung; its stderr so far:\n{stderr}");
        }
        match lines.recv_timeout(Duration::from_millis(10)) {
            Ok(line) => stderr.push_str(&line),
            Err(RecvTimeoutError::Timeout) => {}
            // stderr closed: the child is exiting.
            Err(RecvTimeoutError::Disconnected) => std::thread::sleep(Duration::from_millis(10)),
        }
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
    };
    reader.join().unwrap();
    stderr.extend(lines.try_iter());
    (status.code().unwrap_or(-1), stderr)
}
