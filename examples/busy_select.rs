//! A spinning `select!` with `default` burns a core; a blocking one does not.
//!
//! Run: `cargo run --release --example busy_select`
//!
//! A producer goroutine delivers 20 events, one every 10 ms (`time::sleep` in
//! between). The runtime has 2 Ps, so that the busy consumer below cannot keep
//! the producer waiting for a P. The consumer waits for the events in two ways:
//!
//! 1. **busy**: `loop { select! { recv(events) -> v => ..., default => {} } }` —
//!    the classic mistake: `default` makes the select non-blocking, so the loop
//!    polls the channel as fast as it can.
//! 2. **blocking**: the same `select!` without `default`: the goroutine parks
//!    (wait reason `select`) until an event arrives, and its M goes idle.
//!
//! For each, the process's CPU time (user + system, from
//! `getrusage(RUSAGE_SELF)`) is divided by the wall time. What to look at: the
//! busy loop keeps about one core busy (~100%, and millions of empty polls), the
//! blocking select stays near 0% for the same work.

use gort::{chan, select};
use std::time::{Duration, Instant};

const EVENTS: u32 = 20;
const EVERY: Duration = Duration::from_millis(10);

/// User + system CPU time this process has used so far.
fn cpu_time() -> Duration {
    // SAFETY: `getrusage` fills the struct we pass; all-zero is a valid rusage.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        ru
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn producer(tx: chan::Sender<u32>) {
    gort::go(move || {
        for i in 0..EVENTS {
            gort::time::sleep(EVERY);
            tx.send(i);
        }
        tx.close();
    });
}

fn trial(rt: &gort::Runtime, busy: bool) {
    let (wall0, cpu0) = (Instant::now(), cpu_time());
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    let (events, polls) = unsafe {
        rt.run(move || {
            let (tx, rx) = chan::bounded::<u32>(1);
            producer(tx);
            let (mut events, mut polls) = (0u32, 0u64);
            if busy {
                loop {
                    select! {
                        recv(rx) -> v => match v {
                            Some(_) => events += 1,
                            None => break,
                        },
                        default => polls += 1,
                    }
                }
            } else {
                loop {
                    select! {
                        recv(rx) -> v => match v {
                            Some(_) => events += 1,
                            None => break,
                        },
                    }
                }
            }
            (events, polls)
        })
    };
    let (wall, cpu) = (wall0.elapsed(), cpu_time() - cpu0);
    println!(
        "{:<9} {events} events in {:>6.1} ms wall, {:>6.1} ms CPU = {:>5.1}% of a core; {polls} empty polls",
        if busy { "busy:" } else { "blocking:" },
        wall.as_secs_f64() * 1e3,
        cpu.as_secs_f64() * 1e3,
        100.0 * cpu.as_secs_f64() / wall.as_secs_f64(),
    );
}

fn main() {
    let rt = gort::Runtime::builder().procs(2).build().expect("runtime");
    println!("{EVENTS} events, one every {EVERY:?}; CPU = getrusage(RUSAGE_SELF) user+sys");
    trial(&rt, true);
    trial(&rt, false);
}
