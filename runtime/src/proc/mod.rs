//! G, M, P and the scheduler (Go's `proc.go`, `runtime2.go`).
//!
//! Read in this order: `g.rs` (what a goroutine is), `p.rs` and `runq.rs` (where
//! runnable goroutines wait), `m.rs` (threads, and how code finds its M), `note.rs`
//! (how idle threads sleep), `sched.rs` (the scheduler itself, the path of
//! `go(f)` → `runqput` → `schedule` → `execute` → `goexit0` → `gfput`), `idle.rs`
//! (`findRunnable`, spinning Ms, and how idle Ms and Ps are parked and woken: the
//! protocol the loom model `idle_model.rs` runs), `syscall.rs` (lending the P while a goroutine blocks its thread), `lockos.rs`
//! (goroutines wired to a thread; its hand-off's loom model is `lockos_model.rs`) and `sysmon.rs` (the watchdog).

pub(crate) mod g;
pub(crate) mod idle;
#[cfg(all(test, loom))]
mod idle_model;
pub(crate) mod lockos;
#[cfg(all(test, loom))]
mod lockos_model;
pub(crate) mod m;
pub(crate) mod note;
pub(crate) mod p;
pub(crate) mod runq;
pub(crate) mod sched;
pub(crate) mod syscall;
#[cfg(all(test, loom))]
mod syscall_model;
pub(crate) mod sysmon;
