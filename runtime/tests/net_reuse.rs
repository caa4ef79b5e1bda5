//! Poll descriptors are reused across runtimes (one process-wide cache): a
//! descriptor whose deadline timer was armed in runtime A must, reused by
//! runtime B, time out on B's clock. Its own test binary, so that B gets A's
//! descriptors back. Closing a socket drops its deadline timers: a timer left
//! in A's heap would never fire once A is gone, and B's deadlines would hang.
use gort_runtime::net::{TcpListener, TcpStream};
use std::io::{Read, Write};
use std::time::{Duration, Instant};

fn far() -> Option<Instant> {
    Some(Instant::now() + Duration::from_secs(3600))
}

#[test]
fn deadline_after_descriptor_reuse_across_runtimes() {
    // Runtime A: every socket waits once with a far read deadline (so it is
    // registered and its timer sits in A's heap), then all are dropped.
    let rt_a = gort_runtime::Runtime::builder().procs(1).build().unwrap();
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        rt_a.run(|| {
            // Live timers in the same heap, so the zombies below are neither at the
            // top nor more than a quarter of it (nothing cleans them).
            for _ in 0..12 {
                let _ = gort_runtime::time::after(Duration::from_secs(1800));
            }
            let ln = TcpListener::bind("127.0.0.1:0").unwrap();
            ln.set_deadline(far());
            let addr = ln.local_addr().unwrap();
            let h = gort_runtime::spawn(move || {
                gort_runtime::time::sleep(Duration::from_millis(20));
                let mut c = TcpStream::connect(addr).unwrap();
                c.set_read_deadline(far());
                let mut b = [0u8; 1];
                c.read_exact(&mut b).unwrap(); // waits: registered, timer armed
                c
            });
            let (mut s, _) = ln.accept().unwrap(); // waits
            s.set_read_deadline(far());
            gort_runtime::time::sleep(Duration::from_millis(20));
            s.write_all(b"y").unwrap();
            let c = h.join().unwrap();
            drop((c, s, ln));
        })
    }; // runtime A idle (or dropped below)
    drop(rt_a);

    // Runtime B: the same descriptors come back from the process-wide cache.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
        let r = unsafe {
            gort_runtime::run(|| {
                let ln = TcpListener::bind("127.0.0.1:0").unwrap();
                let mut c = TcpStream::connect(ln.local_addr().unwrap()).unwrap();
                let (mut s, _) = ln.accept().unwrap();
                let mut out = Vec::new();
                for x in [&mut c, &mut s] {
                    x.set_read_deadline(Some(Instant::now() + Duration::from_millis(100)));
                    let t = Instant::now();
                    let e = x.read(&mut [0u8; 1]).unwrap_err();
                    out.push((e.kind(), t.elapsed()));
                }
                ln.set_deadline(Some(Instant::now() + Duration::from_millis(100)));
                let t = Instant::now();
                let e = ln.accept().unwrap_err();
                out.push((e.kind(), t.elapsed()));
                out
            })
        };
        let _ = tx.send(r);
    });
    match rx.recv_timeout(Duration::from_secs(5)) {
        Ok(v) => {
            println!("B: {v:?}");
            assert!(v.iter().all(|(k, _)| *k == std::io::ErrorKind::TimedOut));
        }
        Err(_) => {
            panic!("a read/accept with a 100 ms deadline in runtime B still blocked after 5 s")
        }
    }
}
