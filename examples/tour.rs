//! A tour of gort's scheduler: a mixed workload with Go's schedtrace on.
//!
//! Run: `cargo run --release --example tour` (add `GOMAXPROCS=4` to change the
//! number of Ps, `GODEBUG=schedtrace=50,scheddetail=1` for the detail lines).
//!
//! Six phases, each printing what to look for in the `SCHED` lines on stderr:
//! 1. a burst of 200,000 `go` statements from one goroutine (runnext, the local
//!    ring overflowing into the global `runqueue=`);
//! 2. CPU-bound work spawned on one P and stolen by the others (every P's
//!    `schedticks` climbs; the table shows where the work ran);
//! 3. goroutine pairs handing a token back and forth over unbuffered channels
//!    (direct hand-off, park/ready through `runnext`: each pair mostly stays on
//!    one P);
//! 4. a loop that only has safepoints, preempted by sysmon every 10 ms;
//! 5. thousands of sleeping goroutines (timers) beside goroutines blocked in
//!    system calls (`threads=` grows);
//! 6. a thousand TCP connections over loopback, a goroutine at each end, parked
//!    in `IO wait` on the network poller (`threads=` does not grow).

use gort::sync::WaitGroup;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn spin(d: Duration) {
    let t = Instant::now();
    while t.elapsed() < d {
        gort::preempt_point();
    }
}

fn main() {
    let traced = std::env::var("GODEBUG").is_ok_and(|v| v.contains("schedtrace"));
    let mut b = gort::Runtime::builder();
    if !traced {
        b = b.schedtrace(100);
    }
    let rt = b.build().unwrap_or_else(|e| {
        eprintln!("tour: {e}");
        std::process::exit(2)
    });
    let procs = rt.gomaxprocs();
    println!("gort tour: GOMAXPROCS={procs}; SCHED lines go to stderr every 100 ms.\n");

    println!("phase 1: one goroutine runs 200,000 `go` statements.");
    println!("  look for: runqueue=N > 0 (local rings overflowed half of themselves to the global queue),");
    println!("            idleprocs=0 while the burst runs.");
    let t = Instant::now();
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        rt.run(|| {
            let wg = WaitGroup::new();
            let n = 200_000;
            wg.add(n);
            for _ in 0..n {
                let wg = wg.clone();
                gort::go(move || {
                    spin(Duration::from_micros(2));
                    wg.done();
                });
            }
            wg.wait();
        })
    };
    println!("  done in {:?}\n", t.elapsed());

    println!(
        "phase 2: 400 CPU-bound goroutines (1 ms each), all spawned by one goroutine on one P."
    );
    println!(
        "  look for: every P's schedticks=[ ... ] climbing; the table below shows where they ran."
    );
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    let per_p = unsafe {
        rt.run(move || {
            let ran: Arc<Vec<AtomicU64>> =
                Arc::new((0..procs).map(|_| AtomicU64::new(0)).collect());
            let wg = WaitGroup::new();
            let spawner_p = gort::debug::current_p().unwrap();
            for _ in 0..400 {
                wg.add(1);
                let (wg, ran) = (wg.clone(), ran.clone());
                gort::go(move || {
                    spin(Duration::from_millis(1));
                    ran[gort::debug::current_p().unwrap()].fetch_add(1, Ordering::Relaxed);
                    wg.done();
                });
            }
            wg.wait();
            (
                spawner_p,
                ran.iter()
                    .map(|c| c.load(Ordering::Relaxed))
                    .collect::<Vec<_>>(),
            )
        })
    };
    println!("  spawned on P{}; ran on:", per_p.0);
    for (p, n) in per_p.1.iter().enumerate() {
        println!(
            "    P{p}: {n:4} goroutines {}",
            "#".repeat((*n as usize).div_ceil(8))
        );
    }
    println!();

    println!("phase 3: 8 pairs of goroutines pass a token back and forth 20,000 times each over unbuffered channels.");
    println!("  look for: a send hands the value straight to the parked receiver and puts it in the sender's runnext, so a pair shares one P's time slice.");
    let t = Instant::now();
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        rt.run(|| {
            let wg = WaitGroup::new();
            for _ in 0..8 {
                let (ping_tx, ping_rx) = gort::chan::bounded::<u32>(0);
                let (pong_tx, pong_rx) = gort::chan::bounded::<u32>(0);
                wg.add(2);
                let w = wg.clone();
                gort::go(move || {
                    for i in 0..20_000 {
                        ping_tx.send(i);
                        assert_eq!(pong_rx.recv(), Some(i));
                    }
                    w.done();
                });
                let w = wg.clone();
                gort::go(move || {
                    for v in ping_rx.iter().take(20_000) {
                        pong_tx.send(v);
                    }
                    w.done();
                });
            }
            wg.wait();
        })
    };
    println!(
        "  160,000 round trips (320,000 hand-offs) in {:?}\n",
        t.elapsed()
    );

    println!("phase 4: {procs} spinning goroutines + 1 more, for 400 ms: more work than Ps.");
    println!("  look for: runqueue=1 or [ 1 ... ]: sysmon preempts a spinner every 10 ms, and the");
    println!(
        "  goroutines take turns (each gets about {}% of the time).",
        100 * procs / (procs + 1)
    );
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    let shares = unsafe {
        rt.run(move || {
            let hs: Vec<_> = (0..=procs)
                .map(|_| {
                    gort::spawn(|| {
                        let t = Instant::now();
                        let mut mine = Duration::ZERO;
                        let mut last = Instant::now();
                        while t.elapsed() < Duration::from_millis(400) {
                            let now = Instant::now();
                            if now - last < Duration::from_millis(1) {
                                mine += now - last;
                            }
                            last = now;
                            gort::preempt_point();
                        }
                        mine
                    })
                })
                .collect();
            hs.into_iter()
                .map(|h| h.join().unwrap())
                .collect::<Vec<_>>()
        })
    };
    for (i, s) in shares.iter().enumerate() {
        println!("    spinner {i}: ran {:3} ms of 400", s.as_millis());
    }
    println!();

    println!("phase 5: 5,000 goroutines sleep 2 ms twenty times, while 4 goroutines block their threads for 200 ms.");
    println!("  look for: threads= rises above gomaxprocs+1 (each blocking call lends its P to a new thread),");
    println!("  idleprocs= > 0 while the sleepers wait (one thread sleeps until the earliest timer; nobody spins).");
    let t = Instant::now();
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        rt.run(|| {
            let wg = WaitGroup::new();
            for _ in 0..5_000 {
                wg.add(1);
                let w = wg.clone();
                gort::go(move || {
                    for _ in 0..20 {
                        gort::time::sleep(Duration::from_millis(2));
                    }
                    w.done();
                });
            }
            for _ in 0..4 {
                wg.add(1);
                let w = wg.clone();
                gort::go(move || {
                    gort::syscall::blocking(|| std::thread::sleep(Duration::from_millis(200)));
                    w.done();
                });
            }
            wg.wait();
        })
    };
    println!("  done in {:?}", t.elapsed());
    println!();

    println!("phase 6: an echo server and 1,000 client goroutines over loopback TCP, 20 round trips each.");
    println!("  look for: threads= stays where phase 5 left it: 2,000 sockets, no thread per connection;");
    println!(
        "  the goroutines wait in `IO wait` on the network poller (counted below, mid-phase)."
    );
    let t = Instant::now();
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    let (in_io_wait, bytes) = unsafe {
        rt.run(|| {
            use gort::net::{TcpListener, TcpStream};
            use std::io::{Read, Write};
            let ln = TcpListener::bind("127.0.0.1:0").expect("tour: cannot listen on loopback");
            let addr = ln.local_addr().unwrap();
            gort::go(move || {
                while let Ok((mut s, _)) = ln.accept() {
                    gort::go(move || {
                        let mut buf = [0u8; 512];
                        while let Ok(n @ 1..) = s.read(&mut buf) {
                            if s.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                    });
                }
            });
            let wg = WaitGroup::new();
            let bytes = Arc::new(AtomicU64::new(0));
            let connected = Arc::new(WaitGroup::new());
            let go_on = Arc::new(WaitGroup::new());
            go_on.add(1);
            for c in 0..1_000 {
                wg.add(1);
                connected.add(1);
                let (w, bytes, connected, go_on) =
                    (wg.clone(), bytes.clone(), connected.clone(), go_on.clone());
                gort::go(move || {
                    let mut s = TcpStream::connect(addr).expect("tour: connect");
                    connected.done();
                    go_on.wait();
                    let msg = format!("hello from client {c:4}\n");
                    let mut back = vec![0u8; msg.len()];
                    for _ in 0..20 {
                        s.write_all(msg.as_bytes()).unwrap();
                        s.read_exact(&mut back).unwrap();
                        bytes.fetch_add(back.len() as u64, Ordering::Relaxed);
                    }
                    w.done();
                });
            }
            connected.wait();
            gort::time::sleep(Duration::from_millis(50)); // let the server goroutines park
            let in_io_wait = {
                let world = gort::stw::stop_the_world();
                world
                    .goroutines()
                    .iter()
                    .filter(|g| g.wait_reason == gort::WaitReason::IoWait)
                    .count()
            };
            go_on.done();
            wg.wait();
            (in_io_wait, bytes.load(Ordering::Relaxed))
        })
    };
    println!(
        "  mid-phase: {in_io_wait} goroutines in IO wait; echoed {bytes} bytes in {:?}",
        t.elapsed()
    );
    println!("\nfinal: {}", rt.schedtrace(false).trim_end());
}
