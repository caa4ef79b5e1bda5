//! Settings: the builder's values first, then Go's environment variables
//! (`GOMAXPROCS`, `GODEBUG`), then defaults.
//!
//! Models `runtime/runtime1.go` (`parsedebugvars`) and `runtime/proc.go`
//! (`schedinit`'s GOMAXPROCS). Go silently ignores a malformed `GOMAXPROCS`; gort
//! refuses it with an error that names the variable and the value, because a silent
//! default is how a benchmark ends up measuring the wrong thing. An empty
//! `GOMAXPROCS=` is unset, as in Go (`gogetenv` cannot tell the two apart). Unknown
//! `GODEBUG` keys are ignored, as in Go (they may belong to a later Go or gort
//! version); a known key with a malformed or out-of-range value is an error.
//!
//! # Ranges
//!
//! Every number is range-checked here, so that the code using it can do its
//! arithmetic unchecked: `GOMAXPROCS` 1 to [`MAX_GOMAXPROCS`]; a stack size 16 KiB
//! to 1 GiB; `schedtrace` 0 to [`MAX_SCHEDTRACE_MS`] milliseconds, Go's range
//! (`debug.schedtrace` is an `int32`), so that sysmon's `ms * 1_000_000` fits in
//! a `u64` nanosecond count. Go drops a value out of its range silently; gort
//! refuses it.

use std::fmt;

/// A setting that could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// An environment variable or builder value was malformed or out of range.
    Invalid {
        /// The variable or builder method: `GOMAXPROCS`, `GODEBUG`, `Builder::procs`, …
        name: &'static str,
        /// The value as given.
        value: String,
        /// What a valid value looks like.
        expected: &'static str,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Invalid {
                name,
                value,
                expected,
            } => {
                write!(f, "invalid {name}={value:?}: expected {expected}")
            }
        }
    }
}

impl std::error::Error for ConfigError {}

/// Largest GOMAXPROCS accepted (Go allows up to 1024 Ps in practice for `allp`).
pub const MAX_GOMAXPROCS: u32 = 1024;

/// Largest `schedtrace` period in milliseconds (`i32::MAX`, about 24.8 days: Go
/// keeps it in an `int32`).
pub const MAX_SCHEDTRACE_MS: u64 = i32::MAX as u64;

/// The resolved settings of one runtime.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub(crate) gomaxprocs: u32,
    pub(crate) stack_size: usize,
    /// `GODEBUG=schedtrace=N`: print a SCHED line every N ms (0 = off).
    pub(crate) schedtrace_ms: u64,
    /// `GODEBUG=scheddetail=1`.
    pub(crate) scheddetail: bool,
}

/// What the builder was told; `None` means "ask the environment".
#[derive(Clone, Debug, Default)]
pub(crate) struct Requested {
    pub(crate) procs: Option<usize>,
    pub(crate) stack_size: Option<usize>,
    pub(crate) schedtrace_ms: Option<u64>,
    pub(crate) scheddetail: Option<bool>,
}

impl Settings {
    /// Resolves builder values, then `GOMAXPROCS` and `GODEBUG` from `getenv`.
    pub(crate) fn resolve(
        req: &Requested,
        getenv: impl Fn(&str) -> Option<String>,
    ) -> Result<Settings, ConfigError> {
        let gomaxprocs = match req.procs {
            Some(n) => check_procs("Builder::procs", &n.to_string())?,
            // `GOMAXPROCS=` (empty) is unset, as in Go.
            None => match getenv("GOMAXPROCS").filter(|v| !v.is_empty()) {
                Some(v) => check_procs("GOMAXPROCS", &v)?,
                None => std::thread::available_parallelism()
                    .map_or(1, |n| n.get() as u32)
                    .min(MAX_GOMAXPROCS),
            },
        };
        let stack_size = match req.stack_size {
            Some(s) if (crate::stack::MIN_STACK_SIZE..=1 << 30).contains(&s) => (s + 4095) & !4095,
            Some(s) => {
                return Err(ConfigError::Invalid {
                    name: "Builder::stack_size",
                    value: s.to_string(),
                    expected: "a size in bytes from 16384 to 1073741824",
                })
            }
            None => crate::stack::DEFAULT_STACK_SIZE,
        };
        let mut s = Settings {
            gomaxprocs,
            stack_size,
            schedtrace_ms: 0,
            scheddetail: false,
        };
        if let Some(godebug) = getenv("GODEBUG") {
            for kv in godebug.split(',').filter(|kv| !kv.is_empty()) {
                let (k, v) = kv.split_once('=').ok_or_else(|| ConfigError::Invalid {
                    name: "GODEBUG",
                    value: godebug.clone(),
                    expected: "comma-separated key=value pairs",
                })?;
                let bad = |expected| ConfigError::Invalid {
                    name: "GODEBUG",
                    value: kv.to_string(),
                    expected,
                };
                match k {
                    "schedtrace" => {
                        s.schedtrace_ms = v
                            .parse()
                            .ok()
                            .filter(|ms| *ms <= MAX_SCHEDTRACE_MS)
                            .ok_or_else(|| bad("schedtrace=<milliseconds from 0 to 2147483647>"))?
                    }
                    "scheddetail" => {
                        s.scheddetail = parse_flag(v).ok_or_else(|| bad("scheddetail=0 or 1"))?
                    }
                    _ => {}
                }
            }
        }
        if let Some(ms) = req.schedtrace_ms {
            if ms > MAX_SCHEDTRACE_MS {
                return Err(ConfigError::Invalid {
                    name: "Builder::schedtrace",
                    value: ms.to_string(),
                    expected: "milliseconds from 0 to 2147483647",
                });
            }
            s.schedtrace_ms = ms;
        }
        if let Some(d) = req.scheddetail {
            s.scheddetail = d;
        }
        Ok(s)
    }
}

fn parse_flag(v: &str) -> Option<bool> {
    match v {
        "0" => Some(false),
        "1" => Some(true),
        _ => None,
    }
}

fn check_procs(name: &'static str, v: &str) -> Result<u32, ConfigError> {
    match v.trim().parse::<u32>() {
        Ok(n) if (1..=MAX_GOMAXPROCS).contains(&n) => Ok(n),
        _ => Err(ConfigError::Invalid {
            name,
            value: v.to_string(),
            expected: "an integer from 1 to 1024",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn builder_beats_environment() {
        let req = Requested {
            procs: Some(3),
            ..Default::default()
        };
        let s = Settings::resolve(&req, env(&[("GOMAXPROCS", "7")])).unwrap();
        assert_eq!(s.gomaxprocs, 3);
        let s = Settings::resolve(&Requested::default(), env(&[("GOMAXPROCS", "7")])).unwrap();
        assert_eq!(s.gomaxprocs, 7);
    }

    #[test]
    fn bad_gomaxprocs_names_variable_and_value() {
        for bad in ["0", "-1", "two", " ", "99999"] {
            let e =
                Settings::resolve(&Requested::default(), env(&[("GOMAXPROCS", bad)])).unwrap_err();
            assert_eq!(
                e,
                ConfigError::Invalid {
                    name: "GOMAXPROCS",
                    value: bad.to_string(),
                    expected: "an integer from 1 to 1024"
                }
            );
            assert!(e
                .to_string()
                .starts_with(&format!("invalid GOMAXPROCS={bad:?}")));
        }
    }

    #[test]
    fn empty_gomaxprocs_is_unset() {
        let unset = Settings::resolve(&Requested::default(), env(&[])).unwrap();
        let empty = Settings::resolve(&Requested::default(), env(&[("GOMAXPROCS", "")])).unwrap();
        assert_eq!(empty.gomaxprocs, unset.gomaxprocs);
    }

    #[test]
    fn schedtrace_range_is_gos_int32() {
        let ok = Settings::resolve(
            &Requested::default(),
            env(&[("GODEBUG", "schedtrace=2147483647")]),
        )
        .unwrap();
        assert_eq!(ok.schedtrace_ms, MAX_SCHEDTRACE_MS);
        // 18446744073710 ms is about 2^64 ns: sysmon's `ms * 1_000_000` overflowed.
        for big in ["2147483648", "18446744073710", "18446744073709551615"] {
            let kv = format!("schedtrace={big}");
            let e = Settings::resolve(&Requested::default(), env(&[("GODEBUG", &kv)])).unwrap_err();
            assert_eq!(
                e.to_string(),
                format!(
                    "invalid GODEBUG=\"{kv}\": expected schedtrace=<milliseconds from 0 to 2147483647>"
                )
            );
        }
        let req = Requested {
            schedtrace_ms: Some(MAX_SCHEDTRACE_MS + 1),
            ..Default::default()
        };
        let e = Settings::resolve(&req, env(&[])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid Builder::schedtrace=\"2147483648\": expected milliseconds from 0 to 2147483647"
        );
    }

    #[test]
    fn godebug_keys() {
        let s = Settings::resolve(
            &Requested::default(),
            env(&[("GODEBUG", "gctrace=1,schedtrace=250,scheddetail=1")]),
        )
        .unwrap();
        assert_eq!((s.schedtrace_ms, s.scheddetail), (250, true));
        let e = Settings::resolve(
            &Requested::default(),
            env(&[("GODEBUG", "schedtrace=soon")]),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid GODEBUG=\"schedtrace=soon\": expected schedtrace=<milliseconds from 0 to 2147483647>"
        );
        assert!(
            Settings::resolve(&Requested::default(), env(&[("GODEBUG", "schedtrace")])).is_err()
        );
    }
}
