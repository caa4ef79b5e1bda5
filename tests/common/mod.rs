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
    let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", entry, "--nocapture", "--test-threads=1"])
        .env(var, scenario)
        .env_remove("GOMAXPROCS")
        .env_remove("GODEBUG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut err, &mut s).unwrap();
        s
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("child scenario {scenario:?} hung");
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    (status.code().unwrap_or(-1), reader.join().unwrap())
}
