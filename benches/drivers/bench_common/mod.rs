//! Shared by the `bench_*` drivers (each includes this file with `#[path]`): Go
//! `flag`-style argument parsing and the runtime every benchmark uses, so that the
//! gort mirrors of `benches/go/*` take the same flags as the Go programs.

/// A runtime configured from the environment (`GOMAXPROCS`, `GODEBUG`), or exit 2
/// with the configuration error, naming the benchmark.
pub fn runtime(name: &str) -> gort::Runtime {
    gort::Runtime::new().unwrap_or_else(|e| {
        eprintln!("{name}: {e}");
        std::process::exit(2)
    })
}

/// Go `flag`-style parsing of unsigned integer flags: `-name value`, `-name=value`,
/// and the same with `--`. Exits with status 2 on a bad flag, as Go's does.
pub fn parse_flags(flags: &mut [(&str, &mut u64)]) {
    fn fail(msg: String) -> ! {
        eprintln!("{msg}");
        std::process::exit(2)
    }
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let Some(body) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) else {
            fail(format!("unexpected argument {arg:?}"))
        };
        let (name, inline) = match body.split_once('=') {
            Some((k, v)) => (k, Some(v.to_string())),
            None => (body, None),
        };
        let Some((_, slot)) = flags.iter_mut().find(|(k, _)| *k == name) else {
            fail(format!("flag provided but not defined: -{name}"))
        };
        let value = inline
            .or_else(|| args.next())
            .unwrap_or_else(|| fail(format!("flag needs an argument: -{name}")));
        **slot = value
            .parse()
            .unwrap_or_else(|_| fail(format!("invalid value {value:?} for flag -{name}")));
    }
}

/// The resident set size of this process in KiB (`VmRSS` in `/proc/self/status`);
/// exits with status 1, naming the benchmark, if it cannot be read.
#[allow(dead_code)] // used by the memory benchmarks only
pub fn vm_rss(name: &str) -> i64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_else(|e| {
        eprintln!("{name}: {e}");
        std::process::exit(1)
    });
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:")) // e.g. "    1234 kB"
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| {
            eprintln!("{name}: no VmRSS in /proc/self/status");
            std::process::exit(1)
        })
}

/// Goroutines parked on one semaphore, as the memory benchmarks make them (Go's
/// twins block receiving from one channel).
#[allow(dead_code)] // used by the memory benchmarks only
pub struct Parked {
    block: std::sync::Arc<gort::sync::Semaphore>,
    exited: gort::sync::WaitGroup,
    n: u64,
}

#[allow(dead_code)]
impl Parked {
    /// Starts `n` goroutines that each mark themselves started and then block
    /// acquiring one shared `Semaphore::new(0)`; returns once all have started.
    /// Must be called on a goroutine.
    pub fn start(n: u64) -> Parked {
        let block = std::sync::Arc::new(gort::sync::Semaphore::new(0));
        let (started, exited) = (gort::sync::WaitGroup::new(), gort::sync::WaitGroup::new());
        started.add(n as i64);
        exited.add(n as i64);
        for _ in 0..n {
            let (block, started, exited) = (block.clone(), started.clone(), exited.clone());
            gort::go(move || {
                started.done();
                block.acquire();
                exited.done();
            });
        }
        started.wait();
        Parked { block, exited, n }
    }

    /// Releases every goroutine and waits until all have exited.
    pub fn release(self) {
        for _ in 0..self.n {
            self.block.release();
        }
        self.exited.wait();
    }
}
