//! The network poller and sockets: echo round trips over thousands of concurrent
//! connections, deadlines, EOF and resets, `IO wait` in the goroutine list, and
//! idle connections costing no threads.

mod common;

use common::{rt, wait_parked};
use gort::net::{TcpListener, TcpStream, UdpSocket};
use gort::sync::WaitGroup;
use gort::WaitReason;
use std::io::{ErrorKind, Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// An echo server on a loopback port: one goroutine per connection.
fn echo_server() -> std::net::SocketAddr {
    let ln = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = ln.local_addr().unwrap();
    gort::go(move || loop {
        let Ok((mut s, _)) = ln.accept() else { return };
        gort::go(move || {
            let mut buf = [0u8; 4096];
            loop {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        if s.write_all(&buf[..n]).is_err() {
                            return;
                        }
                    }
                }
            }
        });
    });
    addr
}

#[test]
fn echo_round_trips_with_thousands_of_concurrent_connections() {
    const CONNS: usize = 2000;
    const ROUNDS: usize = 20;
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    let done = unsafe {
        rt(2).run(|| {
            let addr = echo_server();
            let wg = WaitGroup::new();
            let ok = Arc::new(AtomicUsize::new(0));
            let gate = Arc::new(WaitGroup::new());
            gate.add(1);
            for c in 0..CONNS {
                let ok = ok.clone();
                let gate = gate.clone();
                wg.go(move || {
                    let mut s = TcpStream::connect(addr).unwrap();
                    // Every connection is open before any traffic flows.
                    gate.wait();
                    for r in 0..ROUNDS {
                        let msg = format!("conn {c} round {r}\n");
                        s.write_all(msg.as_bytes()).unwrap();
                        let mut back = vec![0u8; msg.len()];
                        s.read_exact(&mut back).unwrap();
                        assert_eq!(back, msg.as_bytes());
                    }
                    ok.fetch_add(1, Ordering::Relaxed);
                });
            }
            // All clients connected and parked on the gate, the server side parked
            // in reads: thousands of goroutines in IO wait at once.
            wait_parked(WaitReason::SyncWaitGroupWait, CONNS);
            wait_parked(WaitReason::IoWait, CONNS);
            gate.done();
            wg.wait();
            ok.load(Ordering::Relaxed)
        })
    };
    assert_eq!(done, CONNS);
}

#[test]
fn a_large_transfer_survives_partial_reads_and_writes() {
    // 8 MiB each way through one connection: far more than the socket buffers,
    // so both sides park on full and empty buffers many times.
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    let sum = unsafe {
        rt(2).run(|| {
            let addr = echo_server();
            let s = Arc::new(TcpStream::connect(addr).unwrap());
            let w = s.clone();
            let data: Arc<Vec<u8>> = Arc::new((0..8 << 20).map(|i| (i * 7 % 251) as u8).collect());
            let d = data.clone();
            let writer = gort::spawn(move || {
                (&*w).write_all(&d).unwrap();
                w.shutdown(std::net::Shutdown::Write).unwrap();
            });
            let mut back = Vec::new();
            (&*s).read_to_end(&mut back).unwrap();
            writer.join().unwrap();
            assert_eq!(back.len(), data.len());
            assert!(back == *data, "echoed bytes differ");
            back.len()
        })
    };
    assert_eq!(sum, 8 << 20);
}

#[test]
fn a_read_deadline_fires_and_a_moved_deadline_waits_again() {
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        rt(2).run(|| {
            let ln = TcpListener::bind("127.0.0.1:0").unwrap();
            let mut c = TcpStream::connect(ln.local_addr().unwrap()).unwrap();
            let (mut s, _) = ln.accept().unwrap();

            // Nothing arrives: the read ends with a timeout, never before the deadline.
            let t = Instant::now();
            c.set_read_deadline(Some(t + Duration::from_millis(50)));
            let e = c.read(&mut [0; 8]).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::TimedOut);
            assert_eq!(e.to_string(), "i/o timeout");
            assert!(
                t.elapsed() >= Duration::from_millis(50),
                "fired early: {:?}",
                t.elapsed()
            );

            // Still expired until the deadline moves.
            assert_eq!(c.read(&mut [0; 8]).unwrap_err().kind(), ErrorKind::TimedOut);

            // A later deadline, and data before it: the read succeeds.
            c.set_read_deadline(Some(Instant::now() + Duration::from_secs(30)));
            s.write_all(b"late").unwrap();
            let mut b = [0; 4];
            c.read_exact(&mut b).unwrap();
            assert_eq!(&b, b"late");

            // No deadline at all.
            c.set_read_deadline(None);
            s.write_all(b"more").unwrap();
            c.read_exact(&mut b).unwrap();
            assert_eq!(&b, b"more");
        })
    };
}

#[test]
fn a_deadline_set_meanwhile_wakes_a_goroutine_already_waiting() {
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        rt(2).run(|| {
            let ln = TcpListener::bind("127.0.0.1:0").unwrap();
            let c = Arc::new(TcpStream::connect(ln.local_addr().unwrap()).unwrap());
            let _s = ln.accept().unwrap();
            let r = c.clone();
            let reader = gort::spawn(move || (&*r).read(&mut [0; 8]).map_err(|e| e.kind()));
            wait_parked(WaitReason::IoWait, 1);
            // A deadline in the past ends the wait at once (Go's SetReadDeadline).
            c.set_read_deadline(Some(Instant::now()));
            assert_eq!(reader.join().unwrap(), Err(ErrorKind::TimedOut));
        })
    };
}

#[test]
fn a_write_deadline_fires_when_the_peer_does_not_read() {
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        rt(2).run(|| {
            let ln = TcpListener::bind("127.0.0.1:0").unwrap();
            let mut c = TcpStream::connect(ln.local_addr().unwrap()).unwrap();
            let (_s, _) = ln.accept().unwrap(); // never reads
            c.set_write_deadline(Some(Instant::now() + Duration::from_millis(100)));
            let chunk = vec![0u8; 64 << 10];
            let mut sent = 0usize;
            let e = loop {
                match c.write(&chunk) {
                    Ok(n) => sent += n,
                    Err(e) => break e,
                }
            };
            assert_eq!(e.kind(), ErrorKind::TimedOut);
            assert!(sent > 0, "some bytes fit in the buffers first");
        })
    };
}

#[test]
fn accept_honours_its_deadline() {
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        rt(1).run(|| {
            let ln = TcpListener::bind("127.0.0.1:0").unwrap();
            ln.set_deadline(Some(Instant::now() + Duration::from_millis(20)));
            assert_eq!(ln.accept().unwrap_err().kind(), ErrorKind::TimedOut);
            ln.set_deadline(None);
            let _c = TcpStream::connect(ln.local_addr().unwrap()).unwrap();
            assert!(ln.accept().is_ok());
        })
    };
}

#[test]
fn eof_reset_and_refused_surface_as_io_errors() {
    let body = || {
        let ln = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = ln.local_addr().unwrap();

        // The peer closes: reads return 0 (EOF).
        let mut c = TcpStream::connect(addr).unwrap();
        let (s, _) = ln.accept().unwrap();
        drop(s);
        assert_eq!(c.read(&mut [0; 8]).unwrap(), 0);

        // The peer resets (SO_LINGER 0, then close): ConnectionReset.
        let mut c = TcpStream::connect(addr).unwrap();
        let (s, _) = ln.accept().unwrap();
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        // SAFETY: a valid socket and a linger struct of the size passed.
        let r = unsafe {
            libc::setsockopt(
                std::os::fd::AsRawFd::as_raw_fd(&s),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                &linger as *const libc::linger as *const libc::c_void,
                std::mem::size_of::<libc::linger>() as libc::socklen_t,
            )
        };
        assert_eq!(r, 0);
        drop(s);
        assert_eq!(
            c.read(&mut [0; 8]).unwrap_err().kind(),
            ErrorKind::ConnectionReset
        );

        // Nobody listens: ConnectionRefused.
        drop(ln);
        let e = TcpStream::connect(addr).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
    };
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe { rt(2).run(body) };
}

#[test]
fn a_waiting_goroutine_shows_io_wait_and_costs_no_thread() {
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        rt(1).run(|| {
            let ln = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = ln.local_addr().unwrap();
            let mut c = TcpStream::connect(addr).unwrap();
            let (s, _) = ln.accept().unwrap();
            let reader = gort::spawn(move || {
                let mut b = [0u8; 5];
                (&s).read_exact(&mut b).unwrap();
                b
            });
            wait_parked(WaitReason::IoWait, 1);
            let world = gort::stw::stop_the_world();
            let g = world
                .goroutines()
                .into_iter()
                .find(|g| g.wait_reason == WaitReason::IoWait)
                .unwrap();
            assert_eq!(g.wait_reason.as_str(), "IO wait");
            drop(world);
            // With one P, this goroutine keeps running while the reader waits.
            c.write_all(b"hello").unwrap();
            assert_eq!(&reader.join().unwrap(), b"hello");
        })
    };
}

#[test]
fn udp_datagrams_and_read_deadlines() {
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        rt(2).run(|| {
            let a = Arc::new(UdpSocket::bind("127.0.0.1:0").unwrap());
            let b = UdpSocket::bind("127.0.0.1:0").unwrap();
            let to = a.local_addr().unwrap();
            let ra = a.clone();
            let recv = gort::spawn(move || {
                let mut got = Vec::new();
                let mut buf = [0u8; 64];
                for _ in 0..100 {
                    let (n, _) = ra.recv_from(&mut buf).unwrap();
                    got.push(String::from_utf8(buf[..n].to_vec()).unwrap());
                }
                got
            });
            wait_parked(WaitReason::IoWait, 1);
            for i in 0..100 {
                b.send_to(format!("d{i}").as_bytes(), to).unwrap();
            }
            let got = recv.join().unwrap();
            assert_eq!(got.len(), 100);
            assert!(got.iter().all(|d| d.starts_with('d')));

            a.set_read_deadline(Some(Instant::now() + Duration::from_millis(20)));
            assert_eq!(
                a.recv_from(&mut [0; 8]).unwrap_err().kind(),
                ErrorKind::TimedOut
            );
        })
    };
}

#[test]
fn sockets_work_from_plain_threads_too() {
    // No runtime: would-block calls wait in poll(2), deadlines included.
    let ln = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = ln.local_addr().unwrap();
    let t = std::thread::spawn(move || {
        let (mut s, _) = ln.accept().unwrap();
        s.write_all(b"plain").unwrap();
        s // kept open: the deadline below, not EOF, must end the read
    });
    let mut c = TcpStream::connect(addr).unwrap();
    let mut b = [0u8; 5];
    c.read_exact(&mut b).unwrap();
    assert_eq!(&b, b"plain");
    let _server_side = t.join().unwrap();
    c.set_read_deadline(Some(Instant::now() + Duration::from_millis(10)));
    assert_eq!(c.read(&mut b).unwrap_err().kind(), ErrorKind::TimedOut);
}

#[test]
fn a_socket_made_outside_the_runtime_serves_inside_it() {
    let ln = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = ln.local_addr().unwrap();
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    let got = unsafe {
        rt(2).run(move || {
            gort::go(move || {
                let (mut s, _) = ln.accept().unwrap();
                s.write_all(b"inside").unwrap();
            });
            let mut c = TcpStream::connect(addr).unwrap();
            let mut s = String::new();
            c.read_to_string(&mut s).unwrap();
            s
        })
    };
    assert_eq!(got, "inside");
}

#[test]
fn a_sleeping_poller_is_woken_for_an_earlier_timer() {
    // One goroutine waits on a socket forever; the poller M blocks in epoll with
    // no timeout. A sleep added later must break that wait on time.
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        rt(1).run(|| {
            let ln = TcpListener::bind("127.0.0.1:0").unwrap();
            let c = TcpStream::connect(ln.local_addr().unwrap()).unwrap();
            let (_s, _) = ln.accept().unwrap();
            gort::go(move || {
                let _ = (&c).read(&mut [0; 1]);
            });
            wait_parked(WaitReason::IoWait, 1);
            let t = Instant::now();
            gort::time::sleep(Duration::from_millis(20));
            assert!(t.elapsed() >= Duration::from_millis(20));
        })
    };
}

#[test]
fn sysmon_polls_the_network_when_every_p_is_busy() {
    // One P, kept busy by a goroutine that only yields to the global queue: no M
    // ever gets to find_runnable's network poll or blocks in the poller. The
    // reader's data can only be noticed by sysmon's 10 ms poll.
    // The write comes only after the reader has parked in IO wait, so its wake-up
    // has to come from a poll (no wall-clock assertion: CI machines are loaded).
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        rt(1).run(|| {
            let ln = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = ln.local_addr().unwrap();
            let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
            let writer = std::thread::spawn(move || {
                let mut s = std::net::TcpStream::connect(addr).unwrap();
                go_rx.recv().unwrap();
                s.write_all(b"x").unwrap();
                s
            });
            let (s, _) = ln.accept().unwrap();
            let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let d = done.clone();
            gort::go(move || {
                let mut b = [0u8; 1];
                (&s).read_exact(&mut b).unwrap();
                d.store(true, Ordering::Release);
            });
            wait_parked(WaitReason::IoWait, 1);
            go_tx.send(()).unwrap();
            let t = Instant::now();
            while !done.load(Ordering::Acquire) {
                assert!(
                    t.elapsed() < Duration::from_secs(20),
                    "the reader was never woken"
                );
                gort::yield_now();
            }
            let _keep = writer.join().unwrap();
        })
    };
}

#[test]
fn scheddetail_shows_io_wait() {
    let rt = rt(2);
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    let (ln, _c) = unsafe {
        rt.run(|| {
            let ln = TcpListener::bind("127.0.0.1:0").unwrap();
            let c = TcpStream::connect(ln.local_addr().unwrap()).unwrap();
            let (s, _) = ln.accept().unwrap();
            gort::go(move || {
                let _ = (&s).read(&mut [0; 1]); // waits: the peer never writes
            });
            wait_parked(WaitReason::IoWait, 1);
            (ln, c)
        })
    };
    // The reader is still parked after `run` returned; the report lists it.
    let report = rt.schedtrace(true);
    assert!(
        report
            .lines()
            .any(|l| l.trim_start().starts_with('G') && l.contains("status=4(IO wait)")),
        "{report}"
    );
    drop(ln);
}

/// Threads of this process.
fn os_threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

/// The child half of `idle_connections_cost_no_threads`: a 2-P runtime serving
/// 5,000 idle connections, opened and used once by this thread (plain std
/// sockets, so the clients add no thread). Panics if the runtime holds more than
/// sysmon and GOMAXPROCS + 1 Ms: with no goroutine in a system call, every M
/// without a P is parked, in `mreleasing` or the one poller, so `startm` starts a
/// thread only when no M can take the P (`proc/sched.rs`, `startm`). With the
/// process's main thread (the one blocked in `run`) that is GOMAXPROCS + 3
/// threads, under the target of fewer than 2 + 2 × GOMAXPROCS.
///
/// The window `mreleasing` closes: a `wakep` that lands while an M that has
/// given up its P is still re-checking for work finds no idle M; without the
/// hand-off it would start a thread, one M more for good. Two test binaries
/// racing on a 2-core machine hit that window in about 1 run of 20.
#[test]
fn idle_connections_child() {
    if std::env::var("GORT_IDLE_CHILD").is_err() {
        return;
    }
    const CONNS: usize = 5_000;
    const PROCS: usize = 2;
    let before = os_threads();
    let rt = std::sync::Arc::new(rt(PROCS));
    let (tx, rx) = std::sync::mpsc::channel();
    let r = rt.clone();
    // This thread plays the server's main thread: it blocks in `run`.
    std::thread::spawn(move || {
        // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
        unsafe {
            r.run(move || {
                tx.send(echo_server()).unwrap();
                gort::select! {} // park forever
            })
        }
    });
    let addr = rx.recv().unwrap();
    let mut conns = Vec::with_capacity(CONNS);
    for _ in 0..CONNS {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.write_all(b"x").unwrap();
        conns.push(s);
    }
    for s in &mut conns {
        let mut b = [0u8; 1];
        s.read_exact(&mut b).unwrap();
    }
    // Every server goroutine is back in a read, parked on the poller.
    let runtime_threads = os_threads() - before - 1; // minus the "main" thread
    eprintln!("{CONNS} idle connections: {runtime_threads} runtime threads");
    assert!(
        runtime_threads <= 1 + PROCS + 1,
        "{runtime_threads} runtime threads for {CONNS} idle connections"
    );
    std::process::exit(0); // the runtime's goroutines are parked forever
}

#[test]
fn idle_connections_cost_no_threads() {
    let (code, stderr) = common::run_child("idle_connections_child", "GORT_IDLE_CHILD", "1", &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("idle connections:"), "{stderr}");
}
