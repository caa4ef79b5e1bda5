//! An HTTP/1.1 server on gort's network poller: one goroutine per connection,
//! blocking-style reads and writes, epoll underneath.
//!
//! ```text
//! cargo run --release --example http_server            # 127.0.0.1:8080
//! cargo run --release --example http_server -- 9000 5  # port 9000, 5 s idle timeout
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
//! - Errors: a malformed request gets `400`, a header block over 64 KiB `431`,
//!   and a client that disconnects mid-request costs nothing but its goroutine.
//!
//! The same responder in Go's `net/http` is `benches/go/http`; the server's code
//! is `server.rs`, which `tests/http.rs` also drives.

mod server;

use gort::net::TcpListener;
use std::time::Duration;

struct Config {
    port: u16,
    idle: Duration,
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
        Some(s) => match s.parse::<u64>() {
            Ok(n) if n > 0 => Duration::from_secs(n),
            _ => {
                return Err(format!(
                    "invalid idle timeout {s:?}: expected whole seconds > 0"
                ))
            }
        },
    };
    if let Some(extra) = args.next() {
        return Err(format!(
            "unexpected argument {extra:?}; usage: http_server [PORT] [IDLE_SECS]"
        ));
    }
    Ok(Config { port, idle })
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
            server::serve_forever(ln, cfg.idle);
        })
    };
}
