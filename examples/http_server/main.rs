//! An HTTP/1.1 server on gort's network poller: one goroutine per connection,
//! blocking-style reads and writes, epoll underneath.
//!
//! ```text
//! cargo run --release --example http_server            # 127.0.0.1:8080
//! cargo run --release --example http_server -- 9000 5  # port 9000, 5 s idle timeout
//! cargo run --release --example http_server -- 9000 5 2  # and 2 s to write a response
//! curl -s localhost:8080/healthz                        # ok
//! curl -s -H 'X-Hello: world' localhost:8080/anything   # the request's headers, echoed
//! curl -s localhost:8080/debug/goroutines               # every goroutine and its state
//! wrk -t1 -c64 -d5s http://127.0.0.1:8080/healthz       # benches/http.sh does this beside Go
//! ```
//!
//! What to look at:
//! - `/debug/goroutines` while connections are open: the accept loop and each
//!   idle connection are goroutines in `[IO wait]`, parked on the poller — not
//!   threads. `GODEBUG=schedtrace=1000` shows `threads=` staying at a handful
//!   however many connections are open.
//! - Keep-alive: one goroutine serves every request of its connection; a read
//!   deadline (the idle timeout) closes connections nobody uses.
//! - Errors: a malformed request gets `400` (so does ambiguous framing:
//!   `Transfer-Encoding` with `Content-Length`, two different lengths, `+5`), a
//!   body over 1 MiB `413`, a header block over 64 KiB `431`, a transfer coding
//!   other than `chunked` `501`; a client that disconnects mid-request costs
//!   nothing but its goroutine.
//! - Limits: a connection holds at most a 64 KiB read buffer (chunk lines are
//!   cut at 4 KiB, trailers at 8 KiB) and its goroutine only while the client
//!   sends within the idle timeout and reads each response within the write
//!   timeout (default 10 s; Go's `net/http` has none unless `WriteTimeout` is
//!   set). Out of file descriptors, the accept loop logs each failure and
//!   backs off from 5 ms to 1 s, as Go's does.
//!
//! The same responder in Go's `net/http` is `benches/go/http`. The server's
//! code is `server.rs` (sockets, handlers) and `framer.rs` (where each request
//! begins and ends, with no socket: `tests/http.rs` drives the first,
//! `tests/http_fuzz.rs` the second).

mod framer;
mod server;

use gort::net::TcpListener;
use std::time::Duration;

struct Config {
    port: u16,
    timeouts: server::Timeouts,
}

/// Whole seconds > 0, or what is wrong with `s` (`what` names it).
fn seconds(s: &str, what: &str) -> Result<Duration, String> {
    match s.parse::<u64>() {
        Ok(n) if n > 0 => Ok(Duration::from_secs(n)),
        _ => Err(format!("invalid {what} {s:?}: expected whole seconds > 0")),
    }
}

fn parse_args() -> Result<Config, String> {
    let mut args = std::env::args().skip(1);
    let port = match args.next() {
        None => 8080,
        Some(p) => p
            .parse::<u16>()
            .map_err(|_| format!("invalid port {p:?}: expected an integer from 0 to 65535"))?,
    };
    let idle = match args.next() {
        None => Duration::from_secs(30),
        Some(s) => seconds(&s, "idle timeout")?,
    };
    let write = match args.next() {
        None => Duration::from_secs(10),
        Some(s) => seconds(&s, "write timeout")?,
    };
    if let Some(extra) = args.next() {
        return Err(format!(
            "unexpected argument {extra:?}; usage: http_server [PORT] [IDLE_SECS] [WRITE_SECS]"
        ));
    }
    Ok(Config {
        port,
        timeouts: server::Timeouts { idle, write },
    })
}

fn main() {
    let cfg = match parse_args() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("http_server: {e}");
            std::process::exit(2);
        }
    };
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        gort::run::<_, ()>(move || {
            let ln = match TcpListener::bind(("127.0.0.1", cfg.port)) {
                Ok(l) => l,
                Err(e) => {
                    eprintln!("http_server: cannot listen on 127.0.0.1:{}: {e}", cfg.port);
                    std::process::exit(1);
                }
            };
            println!("listening on http://{}", ln.local_addr().unwrap());
            server::serve_forever(ln, cfg.timeouts);
        })
    };
}
