//! The HTTP/1.1 server of the `http_server` example (also driven by
//! `tests/http.rs`): the accept loop, one goroutine per connection, request
//! parsing with `httparse`, and the handlers.

use gort::net::{TcpListener, TcpStream};
use std::io::{Read, Write};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Largest request head (request line and headers) accepted; larger gets 431.
pub const MAX_HEADER_BYTES: usize = 64 << 10;
/// Headers per request before 431 (httparse needs a fixed array).
const MAX_HEADERS: usize = 100;
/// Largest request body read (and discarded); larger gets 413.
const MAX_BODY_BYTES: usize = 1 << 20;

/// Accepts connections forever, each served by its own goroutine; `idle` is
/// how long a connection may wait for its next request.
pub fn serve_forever(ln: TcpListener, idle: Duration) -> ! {
    loop {
        match ln.accept() {
            Ok((s, _)) => gort::go(move || serve(s, idle)),
            // Out of file descriptors and the like: say so, back off, go on
            // (Go's Server.Serve sleeps 5 ms to 1 s between failed accepts).
            Err(e) => {
                eprintln!("http_server: accept: {e}");
                gort::time::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// Serves one connection until it closes, errs, idles past `idle` or asks to
/// close. Every exit path just returns: dropping the stream closes it.
fn serve(mut s: TcpStream, idle: Duration) {
    let mut buf = vec![0u8; 8 << 10];
    let mut filled = 0;
    let mut out = Vec::with_capacity(1024);
    loop {
        // The idle timeout bounds the wait for each request's head.
        s.set_read_deadline(Some(Instant::now() + idle));
        let (head_len, req) = loop {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut r = httparse::Request::new(&mut headers);
            match r.parse(&buf[..filled]) {
                Ok(httparse::Status::Complete(n)) => break (n, Request::from(&r)),
                Ok(httparse::Status::Partial) => {}
                Err(httparse::Error::TooManyHeaders) => {
                    return reply_error(&mut s, 431, "Request Header Fields Too Large");
                }
                Err(_) => return reply_error(&mut s, 400, "Bad Request"),
            }
            if filled == MAX_HEADER_BYTES {
                return reply_error(&mut s, 431, "Request Header Fields Too Large");
            }
            if filled == buf.len() {
                buf.resize((buf.len() * 2).min(MAX_HEADER_BYTES), 0);
            }
            match s.read(&mut buf[filled..]) {
                Ok(0) => return, // the client went away (maybe mid-request)
                Ok(n) => filled += n,
                Err(_) => return, // idle timeout, reset: nothing to answer
            }
        };
        // The body, if any, is read and dropped (the handlers ignore it).
        let mut consumed = head_len;
        match req.body {
            Body::None => {}
            Body::Length(n) if n > MAX_BODY_BYTES => {
                return reply_error(&mut s, 413, "Request Entity Too Large");
            }
            Body::Length(n) => {
                if !skip_bytes(&mut s, &mut buf, &mut filled, &mut consumed, n) {
                    return;
                }
            }
            Body::Chunked => match skip_chunked(&mut s, &mut buf, &mut filled, &mut consumed) {
                Ok(true) => {}
                Ok(false) => return,
                Err(()) => return reply_error(&mut s, 400, "Bad Request"),
            },
            Body::Invalid => return reply_error(&mut s, 400, "Bad Request"),
        }
        out.clear();
        respond(&req, &mut out);
        if s.write_all(&out).is_err() {
            return;
        }
        if !req.keep_alive {
            return;
        }
        // Keep what follows (a pipelined request) for the next round.
        buf.copy_within(consumed..filled, 0);
        filled -= consumed;
    }
}

/// What the handlers need of a parsed request, owned (the parse borrows `buf`).
struct Request {
    path: String,
    headers: Vec<(String, Vec<u8>)>,
    keep_alive: bool,
    body: Body,
}

enum Body {
    None,
    Length(usize),
    Chunked,
    Invalid,
}

impl Request {
    fn from(r: &httparse::Request<'_, '_>) -> Request {
        let version = r.version.unwrap_or(1);
        let mut keep_alive = version >= 1;
        let mut body = Body::None;
        let mut headers = Vec::with_capacity(r.headers.len());
        for h in r.headers.iter() {
            if h.name.eq_ignore_ascii_case("connection") {
                let v = String::from_utf8_lossy(h.value).to_ascii_lowercase();
                if v.contains("close") {
                    keep_alive = false;
                } else if v.contains("keep-alive") {
                    keep_alive = true;
                }
            } else if h.name.eq_ignore_ascii_case("content-length") {
                body = match std::str::from_utf8(h.value)
                    .ok()
                    .and_then(|v| v.trim().parse().ok())
                {
                    Some(0) => Body::None,
                    Some(n) => Body::Length(n),
                    None => Body::Invalid,
                };
            } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                body = if h.value.eq_ignore_ascii_case(b"chunked") {
                    Body::Chunked
                } else {
                    Body::Invalid
                };
            }
            headers.push((h.name.to_string(), h.value.to_vec()));
        }
        Request {
            path: r.path.unwrap_or("/").to_string(),
            headers,
            keep_alive,
            body,
        }
    }
}

/// Reads and drops `n` body bytes after `consumed`; false if the client left.
fn skip_bytes(
    s: &mut TcpStream,
    buf: &mut [u8],
    filled: &mut usize,
    consumed: &mut usize,
    mut n: usize,
) -> bool {
    let have = (*filled - *consumed).min(n);
    *consumed += have;
    n -= have;
    if n == 0 {
        return true;
    }
    // The rest is not buffered yet: read past it.
    *filled = 0;
    *consumed = 0;
    while n > 0 {
        let want = n.min(buf.len());
        match s.read(&mut buf[..want]) {
            Ok(0) | Err(_) => return false,
            Ok(k) => n -= k,
        }
    }
    true
}

/// Reads and drops a chunked body; Ok(false) if the client left, Err if malformed.
fn skip_chunked(
    s: &mut TcpStream,
    buf: &mut Vec<u8>,
    filled: &mut usize,
    consumed: &mut usize,
) -> Result<bool, ()> {
    let mut total = 0usize;
    loop {
        // Make sure a whole size line is buffered.
        let size = loop {
            match httparse::parse_chunk_size(&buf[*consumed..*filled]) {
                Ok(httparse::Status::Complete((k, size))) => {
                    *consumed += k;
                    break size as usize;
                }
                Ok(httparse::Status::Partial) => {
                    if !refill(s, buf, filled, consumed) {
                        return Ok(false);
                    }
                }
                Err(_) => return Err(()),
            }
        };
        total += size;
        if total > MAX_BODY_BYTES {
            return Err(());
        }
        // The chunk and its CRLF; the last (empty) chunk ends with a CRLF too
        // (trailers are not supported).
        if !skip_bytes(s, buf, filled, consumed, size + 2) {
            return Ok(false);
        }
        if size == 0 {
            return Ok(true);
        }
    }
}

/// Moves unread bytes to the front and reads more; false if the client left.
fn refill(s: &mut TcpStream, buf: &mut Vec<u8>, filled: &mut usize, consumed: &mut usize) -> bool {
    buf.copy_within(*consumed..*filled, 0);
    *filled -= *consumed;
    *consumed = 0;
    if *filled == buf.len() {
        buf.resize(buf.len() * 2, 0);
    }
    match s.read(&mut buf[*filled..]) {
        Ok(0) | Err(_) => false,
        Ok(n) => {
            *filled += n;
            true
        }
    }
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

/// Answers an error and (by returning from `serve`) closes the connection.
fn reply_error(s: &mut TcpStream, code: u16, reason: &str) {
    let mut out = Vec::new();
    let body = format!("{code} {reason}");
    response(&mut out, code, reason, &[], body.as_bytes(), false);
    let _ = s.write_all(&out);
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
