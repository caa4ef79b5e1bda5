//! The HTTP/1.1 server of the `http_server` example (also driven by
//! `tests/http.rs`): the accept loop, one goroutine per connection, and the
//! handlers. Where each request begins and ends is `framer.rs`'s business;
//! this file moves bytes between the socket and the framer.
//!
//! What one connection may cost is bounded:
//! - memory: one read buffer of at most [`MAX_PENDING`] (64 KiB) and one
//!   response; the framer's limits (`framer.rs`) keep every head, chunk line
//!   and trailer section within it, and bodies are dropped as they arrive;
//! - time: a read deadline (the idle timeout, from the start of each request
//!   until its body has been read) and a write deadline on each response
//!   (Go's `Server.ReadTimeout` and `WriteTimeout`), so a client that stops
//!   sending, or stops reading, loses its connection and goroutine;
//! - CPU: linear in the bytes received, however they are cut into segments.
//!
//! The accept loop backs off when `accept` fails (out of file descriptors), as
//! Go's `Server.Serve` does: 5 ms, doubling to 1 s, reset by a success.

use crate::framer::{Framer, Reject, Request, Step, MAX_PENDING};
use gort::net::{TcpListener, TcpStream};
use std::io::{Read, Write};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long a connection may take.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// From the start of a request (or of the wait for it) until its body has
    /// been read: the idle timeout of a kept-alive connection.
    pub idle: Duration,
    /// For writing each response (a client that does not read is cut off).
    pub write: Duration,
}

/// The delay after a failed `accept` in Go's `Server.Serve`: `tempDelay`,
/// 5 ms doubling to 1 s while accepts keep failing, back to 5 ms after one
/// succeeds.
#[derive(Debug, Default)]
pub struct AcceptBackoff {
    delay: Option<Duration>,
}

impl AcceptBackoff {
    /// The delay after the first failure in a row.
    const FIRST: Duration = Duration::from_millis(5);
    /// The longest delay.
    const MAX: Duration = Duration::from_secs(1);

    /// An accept failed: how long to sleep before the next.
    pub fn failed(&mut self) -> Duration {
        let d = match self.delay {
            None => Self::FIRST,
            Some(d) => (d * 2).min(Self::MAX),
        };
        self.delay = Some(d);
        d
    }

    /// An accept succeeded: the next failure starts from 5 ms again.
    pub fn succeeded(&mut self) {
        self.delay = None;
    }
}

/// Accepts connections forever, each served by its own goroutine.
pub fn serve_forever(ln: TcpListener, timeouts: Timeouts) -> ! {
    let mut backoff = AcceptBackoff::default();
    loop {
        match ln.accept() {
            Ok((s, _)) => {
                backoff.succeeded();
                gort::go(move || serve(s, timeouts));
            }
            // Out of file descriptors and the like: the listener stays ready,
            // so retrying at once would spin. Say so each time, as Go logs
            // each one; the doubling delay bounds the rate.
            Err(e) => {
                let delay = backoff.failed();
                eprintln!("http_server: accept: {e}; retrying in {delay:?}");
                gort::time::sleep(delay);
            }
        }
    }
}

/// Serves one connection until it closes, errs, idles past the deadline or
/// asks to close. Every exit path just returns: dropping the stream closes it.
fn serve(mut s: TcpStream, timeouts: Timeouts) {
    // Bytes read: `buf[start..filled]` are the ones the framer has not consumed.
    let mut buf = vec![0u8; 8 << 10];
    let (mut start, mut filled) = (0, 0);
    let mut framer = Framer::new();
    let mut req: Option<Request> = None;
    let mut out = Vec::with_capacity(1024);
    s.set_read_deadline(Some(Instant::now() + timeouts.idle));
    loop {
        let (n, step) = framer.advance(&buf[start..filled]);
        start += n;
        match step {
            Step::Head(r) => req = Some(r),
            // The body is dropped (the handlers ignore it).
            Step::Data(_) => {}
            Step::End => {
                let Some(req) = req.take() else {
                    unreachable!("the framer ends only a request it began")
                };
                out.clear();
                respond(&req, &mut out);
                if !write_response(&mut s, &out, timeouts.write) || !req.keep_alive {
                    return;
                }
                s.set_read_deadline(Some(Instant::now() + timeouts.idle));
            }
            Step::Reject(r) => return reply_error(&mut s, r, timeouts.write),
            Step::NeedMore => {
                // Keep only the unconsumed bytes, at the front. A partial head
                // or line is moved once: the framer consumes none of it until
                // it is whole, so `start` stays 0 while it grows.
                if start == filled {
                    (start, filled) = (0, 0);
                } else if start > 0 {
                    buf.copy_within(start..filled, 0);
                    (start, filled) = (0, filled - start);
                }
                if filled == buf.len() {
                    // The framer leaves fewer than MAX_PENDING bytes unconsumed.
                    buf.resize((buf.len() * 2).min(MAX_PENDING), 0);
                }
                match s.read(&mut buf[filled..]) {
                    Ok(0) => return, // the client went away (maybe mid-request)
                    Ok(n) => filled += n,
                    Err(_) => return, // deadline, reset: nothing to answer
                }
            }
        }
    }
}

/// Writes `out` within `timeout`; false if that failed (the client is gone or
/// does not read).
fn write_response(s: &mut TcpStream, out: &[u8], timeout: Duration) -> bool {
    s.set_write_deadline(Some(Instant::now() + timeout));
    s.write_all(out).is_ok()
}

/// The two handlers and the goroutine page.
fn respond(req: &Request, out: &mut Vec<u8>) {
    let path = req.path.split('?').next().unwrap_or("");
    match path {
        "/healthz" => response(out, 200, "OK", &[], b"ok", req.keep_alive),
        "/debug/goroutines" => {
            let body = goroutines_page();
            response(out, 200, "OK", &[], body.as_bytes(), req.keep_alive)
        }
        _ => {
            // Echo: each request header back as a response header (except the
            // ones that frame this response) and as a line of the body.
            let mut body = Vec::new();
            let mut extra = Vec::new();
            for (name, value) in &req.headers {
                body.extend_from_slice(name.as_bytes());
                body.extend_from_slice(b": ");
                body.extend_from_slice(value);
                body.extend_from_slice(b"\n");
                let framing = ["content-length", "transfer-encoding", "connection"]
                    .iter()
                    .any(|f| name.eq_ignore_ascii_case(f));
                if !framing {
                    extra.push((name.as_str(), value.as_slice()));
                }
            }
            response(out, 200, "OK", &extra, &body, req.keep_alive)
        }
    }
}

/// Writes a whole response into `out`.
fn response(
    out: &mut Vec<u8>,
    code: u16,
    reason: &str,
    headers: &[(&str, &[u8])],
    body: &[u8],
    keep_alive: bool,
) {
    let _ = write!(out, "HTTP/1.1 {code} {reason}\r\n");
    for (n, v) in headers {
        out.extend_from_slice(n.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(v);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"Content-Type: text/plain; charset=utf-8\r\nDate: ");
    http_date(out);
    let _ = write!(out, "\r\nContent-Length: {}\r\n", body.len());
    if !keep_alive {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
}

/// Answers a refused request; the caller then closes the connection.
fn reply_error(s: &mut TcpStream, r: Reject, timeout: Duration) {
    let (code, reason) = r.status();
    let mut out = Vec::new();
    let body = format!("{code} {reason}");
    response(&mut out, code, reason, &[], body.as_bytes(), false);
    write_response(s, &out, timeout);
}

/// The current time as an HTTP date (`Sun, 22 Nov 2026 05:00:00 GMT`).
fn http_date(out: &mut Vec<u8>) {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (h, m, s) = (rem / 3600, rem / 60 % 60, rem % 60);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mon = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(mon <= 2);
    const WD: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MON: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let _ = write!(
        out,
        "{}, {d:02} {} {y} {h:02}:{m:02}:{s:02} GMT",
        WD[days.rem_euclid(7) as usize],
        MON[(mon - 1) as usize]
    );
}

/// `/debug/goroutines`: every goroutine with its state, like Go's
/// `/debug/pprof/goroutine?debug=2` headers (taken with the world stopped).
fn goroutines_page() -> String {
    let world = gort::stw::stop_the_world();
    let gs = world.goroutines();
    drop(world);
    let mut page = format!("goroutine profile: total {}\n\n", gs.len());
    for g in gs {
        let state = match g.status {
            gort::Status::Waiting => g.wait_reason.as_str().to_string(),
            s => s.as_str().to_string(),
        };
        page.push_str(&format!("goroutine {} [{state}]\n", g.goid));
    }
    page
}
