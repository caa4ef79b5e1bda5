//! The `http_server` example's server (examples/http_server/server.rs and
//! framer.rs), driven over loopback from goroutine clients: the handlers,
//! keep-alive, pipelining, bodies, 400/413/431/501, the idle and write timeouts,
//! clients that leave mid-request, and the hardening of issue 12 (unbounded
//! buffers, request smuggling, chunk-size overflow, clients that never read,
//! accept failures). `tests/http_fuzz.rs` works on the framer alone.

mod common;

#[path = "../examples/http_server/framer.rs"]
mod framer;
#[path = "../examples/http_server/server.rs"]
mod server;

use common::rt;
use gort::net::{TcpListener, TcpStream};
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Starts the server on a free loopback port with the given idle timeout (and
/// a 10 s write timeout).
fn start(idle: Duration) -> SocketAddr {
    start_with(server::Timeouts {
        idle,
        write: Duration::from_secs(10),
    })
}

/// Starts the server on a free loopback port.
fn start_with(timeouts: server::Timeouts) -> SocketAddr {
    let ln = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = ln.local_addr().unwrap();
    gort::go(move || server::serve_forever(ln, timeouts));
    addr
}

/// One parsed response.
#[derive(Debug)]
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Reads one response (head, then Content-Length bytes) from `s`, keeping what
/// follows in `pending`. None on EOF before a response.
fn read_response(s: &mut TcpStream, pending: &mut Vec<u8>) -> Option<Response> {
    let mut buf = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = s.read(&mut buf).unwrap();
        if n == 0 {
            return None;
        }
        pending.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8(pending[..head_end].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (n, v) = l.split_once(": ").unwrap();
            (n.to_string(), v.to_string())
        })
        .collect();
    let len: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| v.parse().unwrap())
        .unwrap();
    while pending.len() < head_end + len {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "EOF inside a body");
        pending.extend_from_slice(&buf[..n]);
    }
    let body = String::from_utf8(pending[head_end..head_end + len].to_vec()).unwrap();
    pending.drain(..head_end + len);
    Some(Response {
        status,
        headers,
        body,
    })
}

fn roundtrip(addr: SocketAddr, raw: &[u8]) -> Response {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(raw).unwrap();
    read_response(&mut s, &mut Vec::new()).expect("a response")
}

#[test]
fn healthz_and_header_echo() {
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        rt(2).run(|| {
            let addr = start(Duration::from_secs(30));
            let r = roundtrip(addr, b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
            assert_eq!((r.status, r.body.as_str()), (200, "ok"));
            assert!(r.header("Date").unwrap().ends_with(" GMT"));

            let r = roundtrip(
                addr,
                b"GET /anything?q=1 HTTP/1.1\r\nHost: t\r\nX-Hello: world\r\nX-Two: a b\r\n\r\n",
            );
            assert_eq!(r.status, 200);
            assert_eq!(r.header("X-Hello"), Some("world"));
            assert_eq!(r.header("X-Two"), Some("a b"));
            assert_eq!(r.body, "Host: t\nX-Hello: world\nX-Two: a b\n");
        })
    };
}

#[test]
fn keep_alive_pipelining_and_bodies_share_one_connection() {
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        rt(2).run(|| {
            let addr = start(Duration::from_secs(30));
            let mut s = TcpStream::connect(addr).unwrap();
            let mut pending = Vec::new();
            for _ in 0..3 {
                s.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
                    .unwrap();
                assert_eq!(read_response(&mut s, &mut pending).unwrap().body, "ok");
            }
            // Two pipelined requests in one write, the first with a body to skip,
            // then a chunked body.
            s.write_all(
                b"POST /a HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello\
              GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n\
              POST /b HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n\
              3\r\nabc\r\n0\r\n\r\n",
            )
            .unwrap();
            let a = read_response(&mut s, &mut pending).unwrap();
            assert!(a.body.contains("Content-Length: 5"));
            assert_eq!(read_response(&mut s, &mut pending).unwrap().body, "ok");
            let b = read_response(&mut s, &mut pending).unwrap();
            assert!(b.body.contains("Transfer-Encoding: chunked"));
            // Connection: close is honoured: the answer says so, then EOF.
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                .unwrap();
            let r = read_response(&mut s, &mut pending).unwrap();
            assert_eq!(r.header("Connection"), Some("close"));
            assert!(read_response(&mut s, &mut pending).is_none());
        })
    };
}

#[test]
fn malformed_and_oversized_requests_get_400_and_431() {
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        rt(2).run(|| {
            let addr = start(Duration::from_secs(30));
            let r = roundtrip(addr, b"NOT HTTP AT ALL\r\n\r\n");
            assert_eq!(r.status, 400);
            assert_eq!(r.header("Connection"), Some("close"));

            let mut big = b"GET / HTTP/1.1\r\nX-Big: ".to_vec();
            big.resize(big.len() + framer::MAX_HEADER_BYTES, b'a');
            big.extend_from_slice(b"\r\n\r\n");
            let mut s = TcpStream::connect(addr).unwrap();
            // The server answers before reading all of it; ignore the reset that may
            // follow on our side.
            let _ = s.write_all(&big);
            let r = read_response(&mut s, &mut Vec::new()).unwrap();
            assert_eq!(r.status, 431);

            let mut many = b"GET / HTTP/1.1\r\n".to_vec();
            for i in 0..200 {
                many.extend_from_slice(format!("X-H{i}: v\r\n").as_bytes());
            }
            many.extend_from_slice(b"\r\n");
            assert_eq!(roundtrip(addr, &many).status, 431);
        })
    };
}

#[test]
fn an_idle_connection_is_closed_after_the_read_deadline() {
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        rt(2).run(|| {
            let addr = start(Duration::from_millis(100));
            // Taken before connecting: the server may accept and arm its deadline
            // before `connect` returns here.
            let t = Instant::now();
            let mut s = TcpStream::connect(addr).unwrap();
            assert_eq!(s.read(&mut [0; 16]).unwrap(), 0, "the server closes");
            assert!(t.elapsed() >= Duration::from_millis(100));
        })
    };
}

#[test]
fn a_client_leaving_mid_request_costs_only_its_goroutine() {
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        rt(2).run(|| {
            let addr = start(Duration::from_secs(30));
            // Warm up: the accept loop is parked, nothing else runs.
            let _ = roundtrip(addr, b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
            let base = gort::num_goroutine();
            for _ in 0..50 {
                let mut s = TcpStream::connect(addr).unwrap();
                s.write_all(b"GET /healthz HTTP/1.1\r\nHo").unwrap();
            } // dropped: each client disconnects with half a request sent
            let t = Instant::now();
            while gort::num_goroutine() > base {
                assert!(
                    t.elapsed() < Duration::from_secs(20),
                    "connection goroutines leaked"
                );
                gort::time::sleep(Duration::from_millis(5));
            }
            // The server still serves.
            assert_eq!(roundtrip(addr, b"GET /healthz HTTP/1.1\r\n\r\n").body, "ok");
        })
    };
}

#[test]
fn debug_goroutines_lists_io_waits() {
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        rt(2).run(|| {
            let addr = start(Duration::from_secs(30));
            let _idle = TcpStream::connect(addr).unwrap();
            let r = roundtrip(addr, b"GET /debug/goroutines HTTP/1.1\r\n\r\n");
            assert_eq!(r.status, 200);
            assert!(r.body.starts_with("goroutine profile: total "));
            assert!(r.body.contains("[IO wait]"), "{}", r.body);
            assert!(r.body.contains("[running]"), "{}", r.body);
        })
    };
}

/// Sends `raw` on a new connection and reads the first response within 10 s
/// (a server that keeps waiting fails the test instead of hanging it); for a
/// refusal, checks that the connection is closed after it (nothing more is
/// served). A write error is ignored: the server may answer and close before
/// reading all of `raw`.
fn status_of(addr: SocketAddr, raw: &[u8]) -> u16 {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_deadline(Some(Instant::now() + Duration::from_secs(10)));
    let _ = s.write_all(raw);
    let mut pending = Vec::new();
    let r = read_response(&mut s, &mut pending).expect("a response");
    if r.status >= 400 {
        assert_eq!(r.header("Connection"), Some("close"), "{r:?}");
        // EOF, or a reset for what the server left unread.
        let more = s.read(&mut [0; 64]).unwrap_or(0);
        assert!(
            pending.is_empty() && more == 0,
            "a request after the refused one was answered: {}",
            String::from_utf8_lossy(&pending)
        );
    }
    r.status
}

/// Issue 12 item 1: a chunk extension that never ends used to double the read
/// buffer without limit (and rescan it on every read); the chunk line is cut
/// off at 4 KiB now.
#[test]
fn a_chunk_line_that_never_ends_is_refused_at_the_line_limit() {
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        rt(2).run(|| {
            let addr = start(Duration::from_secs(30));
            let mut raw =
                b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n1;".to_vec();
            raw.resize(raw.len() + (256 << 10), b'a');
            assert_eq!(status_of(addr, &raw), 400);
            // A line within the limit is fine.
            let mut ok =
                b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n1;".to_vec();
            ok.resize(ok.len() + 4000, b'a');
            ok.extend_from_slice(b"\r\nx\r\n0\r\n\r\n");
            assert_eq!(status_of(addr, &ok), 200);
            // So are trailers, within theirs.
            let t = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: 1\r\n\r\n";
            assert_eq!(status_of(addr, t), 200);
            let mut big = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n".to_vec();
            for i in 0..1000 {
                big.extend_from_slice(format!("X-T{i}: 1\r\n").as_bytes());
            }
            big.extend_from_slice(b"\r\n");
            assert_eq!(status_of(addr, &big), 431);
        })
    };
}

/// Issue 12 item 2: `Transfer-Encoding` with `Content-Length` was framed by the
/// length, so the request hidden in the chunked body was served.
#[test]
fn transfer_encoding_with_content_length_is_refused() {
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        rt(2).run(|| {
        let addr = start(Duration::from_secs(30));
        // By the chunked coding the body is one chunk holding a request; by
        // the length it is the chunk's size line, and the request in the
        // chunk comes next: a proxy that framed by the coding would pass on
        // what a server that framed by the length serves as a second request.
        let hidden = "GET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n";
        let size = format!("{:x}\r\n", hidden.len());
        let raw = format!(
            "POST /a HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: {}\r\n\r\n\
             {size}{hidden}\r\n0\r\n\r\n",
            size.len()
        );
        assert_eq!(status_of(addr, raw.as_bytes()), 400);
        let raw = b"POST /a HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
        assert_eq!(status_of(addr, raw), 400);
    })
    };
}

/// Issue 12 item 2: two different lengths (the last one won) and a signed
/// length (`+5` read as 5) are refused; identical repeats are allowed.
#[test]
fn content_length_must_be_digits_and_agree() {
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        rt(2).run(|| {
            let addr = start(Duration::from_secs(30));
            let head = |cl: &str| {
                let mut r = b"POST / HTTP/1.1\r\nHost: t\r\n".to_vec();
                r.extend_from_slice(cl.as_bytes());
                r.extend_from_slice(b"\r\n\r\nhello!");
                r
            };
            for bad in [
                "Content-Length: 5\r\nContent-Length: 6",
                "Content-Length: 6\r\nContent-Length: 5",
                "Content-Length: +6",
                "Content-Length: -6",
                "Content-Length: 6, 6",
                "Content-Length: 0x6",
                "Content-Length: ",
                "Content-Length: 99999999999999999999999",
            ] {
                assert_eq!(status_of(addr, &head(bad)), 400, "{bad}");
            }
            assert_eq!(
                status_of(addr, &head("Content-Length: 6\r\nContent-Length: 6")),
                200
            );
            assert_eq!(status_of(addr, &head("Content-Length:  6 ")), 200);
            assert_eq!(status_of(addr, &head("Content-Length: 1048577")), 413);
        })
    };
}

/// Issue 12 item 2: the CRLF after a chunk's data was skipped unread.
#[test]
fn the_crlf_after_chunk_data_is_checked() {
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        rt(2).run(|| {
            let addr = start(Duration::from_secs(30));
            for bad in [
                &b"3\r\nabcXY0\r\n\r\n"[..],
                b"3\r\nabc\n0\r\n\r\n",
                b"3\r\nabcd\r\n0\r\n\r\n",
                b"3\nabc\r\n0\r\n\r\n",
                b"3;x=\"unterminated\r\nabc\r\n0\r\n\r\n",
            ] {
                let mut raw = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
                raw.extend_from_slice(bad);
                assert_eq!(
                    status_of(addr, &raw),
                    400,
                    "{}",
                    String::from_utf8_lossy(bad)
                );
            }
            let good = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\
                     3 ;a=b; c = \"d\\\"e\" \r\nabc\r\n0\r\n\r\n";
            assert_eq!(status_of(addr, good), 200);
        })
    };
}

/// RFC 9112 §6.1 and §6.3: `chunked` must be the final coding (400); one we
/// do not decode before it is 501; HTTP/1.0 with a transfer coding is 400.
#[test]
fn transfer_codings_other_than_chunked_are_refused() {
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        rt(2).run(|| {
            let addr = start(Duration::from_secs(30));
            let req = |te: &str, version: &str| {
                format!("POST / HTTP/{version}\r\nTransfer-Encoding: {te}\r\n\r\n0\r\n\r\n")
                    .into_bytes()
            };
            assert_eq!(status_of(addr, &req("gzip, chunked", "1.1")), 501);
            assert_eq!(status_of(addr, &req("chunked, gzip", "1.1")), 400);
            assert_eq!(status_of(addr, &req("chunked, chunked", "1.1")), 400);
            assert_eq!(status_of(addr, &req("identity", "1.1")), 400);
            assert_eq!(status_of(addr, &req("chunked", "1.0")), 400);
            assert_eq!(status_of(addr, &req(" Chunked ", "1.1")), 200);
        })
    };
}

/// Issue 12 item 3: chunk sizes were summed unchecked: `1` then
/// `ffffffffffffffff` wrapped past the 1 MiB limit in release builds and
/// panicked the whole server in debug builds.
#[test]
fn chunk_sizes_cannot_overflow_the_body_limit() {
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        rt(2).run(|| {
            let addr = start(Duration::from_secs(30));
            let head = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
            let raw = [&head[..], b"1\r\na\r\nffffffffffffffff\r\n0\r\n\r\n"].concat();
            assert_eq!(status_of(addr, &raw), 413);
            let raw = [&head[..], b"80000\r\n"].concat();
            let mut raw = raw;
            raw.resize(raw.len() + 0x80000, b'x');
            raw.extend_from_slice(b"\r\n80001\r\n");
            assert_eq!(status_of(addr, &raw), 413);
            // More than 64 bits of size is malformed, not large.
            let raw = [&head[..], b"10000000000000000\r\n"].concat();
            assert_eq!(status_of(addr, &raw), 400);
            // The server is still there.
            assert_eq!(roundtrip(addr, b"GET /healthz HTTP/1.1\r\n\r\n").body, "ok");
        })
    };
}

/// Issue 12 item 4: a client that sends requests and never reads the answers
/// used to hold its connection and goroutine forever (writes had no
/// deadline). Its responses fill both socket buffers; the server's write then
/// times out and the connection goes, though the client keeps it open.
#[test]
fn a_client_that_never_reads_is_cut_off_by_the_write_timeout() {
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        rt(2).run(|| {
            let before = gort::num_goroutine();
            let addr = start_with(server::Timeouts {
                idle: Duration::from_secs(30),
                write: Duration::from_millis(200),
            });
            // Each request echoes ~60 KB of headers twice (as headers and body).
            let mut req = b"GET /echo HTTP/1.1\r\nX-Pad: ".to_vec();
            req.resize(req.len() + 60_000, b'p');
            req.extend_from_slice(b"\r\n\r\n");
            let mut s = TcpStream::connect(addr).unwrap();
            // Send until the server stops reading (it is stuck writing to us).
            let mut stuck = false;
            for _ in 0..2000 {
                s.set_write_deadline(Some(Instant::now() + Duration::from_secs(2)));
                if s.write_all(&req).is_err() {
                    stuck = true;
                    break;
                }
            }
            assert!(stuck, "the server kept reading without being read from");
            // Left: this goroutine and the accept loop.
            let t = Instant::now();
            while gort::num_goroutine() > before + 1 {
                assert!(
                    t.elapsed() < Duration::from_secs(20),
                    "the connection's goroutine outlived the write timeout"
                );
                gort::time::sleep(Duration::from_millis(5));
            }
            // And the server has closed the connection: what it had written, then
            // EOF (or a reset, for the requests it left unread).
            s.set_read_deadline(Some(Instant::now() + Duration::from_secs(10)));
            let mut buf = vec![0; 64 << 10];
            loop {
                match s.read(&mut buf) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) => {
                        assert_ne!(e.kind(), std::io::ErrorKind::TimedOut, "still open");
                        break;
                    }
                }
            }
            assert_eq!(roundtrip(addr, b"GET /healthz HTTP/1.1\r\n\r\n").body, "ok");
        })
    };
}

#[test]
fn accept_backoff_doubles_from_5ms_to_1s_and_resets() {
    let mut b = server::AcceptBackoff::default();
    let ms: Vec<u128> = (0..10).map(|_| b.failed().as_millis()).collect();
    assert_eq!(ms, [5, 10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
    b.succeeded();
    assert_eq!(b.failed(), Duration::from_millis(5));
}

/// The lowest free descriptor number.
fn lowest_free_fd() -> i32 {
    // SAFETY: dup of stdin; the copy is closed at once.
    unsafe {
        let fd = libc::dup(0);
        assert!(fd >= 0);
        libc::close(fd);
        fd
    }
}

/// Sets the soft limit on open files.
fn set_nofile(soft: u64) {
    let mut l = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain calls with a valid rlimit.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut l), 0);
        l.rlim_cur = soft;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &l), 0);
    }
}

/// The child half of `accept_backs_off_when_out_of_file_descriptors`: twice,
/// lowers the open-files limit so that a client's connect takes the last
/// descriptor and the server's accept fails with EMFILE, waits, then raises it
/// again and checks that the connection is served.
#[test]
fn accept_backoff_child() {
    if std::env::var("GORT_HTTP_ACCEPT_CHILD").is_err() {
        return;
    }
    let body = || {
        let addr = start(Duration::from_secs(30));
        // The runtime's poller exists: it has raised the limit, we lower it.
        let _ = roundtrip(addr, b"GET /healthz HTTP/1.1\r\n\r\n");
        let mut saved = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: a plain call with a valid rlimit.
        let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut saved) };
        assert_eq!(rc, 0);
        for wait_ms in [300, 30] {
            set_nofile(lowest_free_fd() as u64 + 1);
            let mut c = TcpStream::connect(addr).unwrap();
            gort::time::sleep(Duration::from_millis(wait_ms));
            set_nofile(saved.rlim_cur);
            c.set_read_deadline(Some(Instant::now() + Duration::from_secs(10)));
            c.write_all(b"GET /healthz HTTP/1.1\r\n\r\n").unwrap();
            assert_eq!(read_response(&mut c, &mut Vec::new()).unwrap().body, "ok");
        }
    };
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe { rt(2).run(body) };
    std::process::exit(0);
}

/// Issue 12 item 4: out of file descriptors, accept failed every 10 ms for as
/// long as it lasted. Now each failure is logged with the delay before the
/// next try, which doubles from 5 ms (to 1 s) and starts over after a success.
#[test]
fn accept_backs_off_when_out_of_file_descriptors() {
    let (code, stderr) =
        common::run_child("accept_backoff_child", "GORT_HTTP_ACCEPT_CHILD", "1", &[]);
    assert_eq!(code, 0, "{stderr}");
    let delays: Vec<u64> = stderr
        .lines()
        .filter_map(|l| l.strip_prefix("http_server: accept: "))
        .map(|l| {
            assert!(l.contains("Too many open files"), "{l}");
            let (_, d) = l
                .rsplit_once("; retrying in ")
                .expect("the delay is logged");
            d.strip_suffix("ms").and_then(|d| d.parse().ok()).expect(d)
        })
        .collect();
    // Two episodes, each a doubling run from 5 ms.
    let starts: Vec<usize> = (0..delays.len()).filter(|&i| delays[i] == 5).collect();
    assert_eq!(starts.len(), 2, "{delays:?}");
    assert_eq!(starts[0], 0, "{delays:?}");
    for w in delays.windows(2) {
        assert!(w[1] == 5 || w[1] == w[0] * 2, "{delays:?}");
    }
    // 300 ms of failures are at most 6 tries (5+10+20+40+80+160 ms), not 30.
    assert!(starts[1] <= 7, "{delays:?}");
}
