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
