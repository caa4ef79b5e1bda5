//! The `http_server` example's server (examples/http_server/server.rs), driven
//! over loopback from goroutine clients: the handlers, keep-alive, pipelining,
//! bodies, 400/431, the idle timeout and clients that leave mid-request.

mod common;

#[path = "../examples/http_server/server.rs"]
mod server;

use common::rt;
use gort::net::{TcpListener, TcpStream};
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Starts the server on a free loopback port with the given idle timeout.
fn start(idle: Duration) -> SocketAddr {
    let ln = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = ln.local_addr().unwrap();
    gort::go(move || server::serve_forever(ln, idle));
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
            big.resize(big.len() + server::MAX_HEADER_BYTES, b'a');
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
