//! sysmon: the monitor thread that runs without a P.
//!
//! Models `runtime/proc.go`: `sysmon`, `retake`, `preemptone`, the schedtrace
//! call, the forced-GC clock, and the network poll when nobody polled for 10 ms.
//!
//! # Loop
//!
//! Sleep 20 µs; after 50 rounds in which nothing had to be done, double the sleep
//! each round up to 10 ms (Go's backoff, so an idle program costs nothing and a busy
//! one is watched closely). When every P is idle and schedtrace is off, sleep deeply
//! on `sysmonnote` until `startm` wakes it. Each round:
//!
//! - **retake**: for each running P, if its `schedtick` has not moved for 10 ms
//!   (`forcePreemptNS`), the same goroutine has been running all that time: flag it
//!   for preemption (`preemptone`). It yields at its next safepoint. For each P
//!   whose M is in a system call (`syscall.rs`): once the call has lasted a sysmon
//!   tick, take the P and hand it to another M if it has work or nobody else is
//!   looking for any; after 10 ms, take it regardless.
//! - **netpoll**: if the network has not been polled for 10 ms (every P busy
//!   running goroutines, no M idle in the poller), poll it without blocking and
//!   queue what is ready globally (`injectglist`), starting Ms on idle Ps.
//! - **scavenge**: the allocator's background scavenger (`Heap::bgscavenge_slice`
//!   on the process-wide heap): a slice of about 1 ms when retained memory is
//!   over its goal, then a rest 99 times as long (1% of a CPU); a look every
//!   10 ms otherwise. Go runs the scavenger as a goroutine; here it costs no
//!   thread either. While every P is idle, sysmon's deep sleep is cut short for
//!   the next slice if there is memory to give back.
//! - **forced GC**: if no collection started for 2 minutes (`forcegcperiod`),
//!   start one. The collector does not exist yet: the tick is counted
//!   (`Sched::forced_gcs`) where the collector will hook in, and frees the
//!   stacks of the dead goroutines on the global gFree list
//!   (`sched::free_g_stacks`, Go's `markrootFreeGStacks`), their memory
//!   released to the OS with them, then prints the cycle's `scavtrace` line.
//!   An idle sysmon sleeps at most a minute, so an idle program has its forced
//!   collections too.
//! - **schedtrace**: every `GODEBUG=schedtrace=N` ms, print the SCHED line.
//!
//! # Shutdown
//!
//! When the runtime is dropped, sysmon stops its rounds and instead flags every
//! running goroutine for preemption, again each round, until no P runs one
//! ([`preempt_until_stopped`]): a goroutine looping through `preempt_point()`
//! stops there and its thread exits. Then sysmon's thread ends too. The
//! runtime's stacks go back to the heap with their memory released at once
//! (`stack::stackfree_all`), so no sysmon is needed to return them.

use crate::loom::atomic::Ordering;
use crate::proc::m::M;
use crate::proc::p::PStatus;
use crate::proc::sched::Sched;
use std::time::Duration;

/// A goroutine running this long without a scheduling point is asked to yield.
pub(crate) const FORCE_PREEMPT_NS: u64 = 10_000_000;
/// sysmon looks for memory to scavenge this often when it found none.
const SCAV_IDLE_NS: u64 = 10_000_000;
/// sysmon polls the network when nobody has for this long (10 ms).
pub(crate) const NETPOLL_PERIOD_NS: i64 = 10_000_000;
/// A collection is forced if none ran for this long (`forcegcperiod`, 2 minutes).
pub(crate) const FORCEGC_PERIOD_NS: u64 = 2 * 60 * 1_000_000_000;

/// Whether sysmon should force a collection at `now`, the last having started at
/// `last_gc` (Go's `gcTrigger{kind: gcTriggerTime}.test`).
pub(crate) fn forcegc_due(last_gc: u64, now: u64) -> bool {
    now.saturating_sub(last_gc) > FORCEGC_PERIOD_NS
}

/// Starts sysmon's thread for `sched`.
pub(crate) fn start(sched: &'static Sched) {
    let id = {
        let mut l = sched.lock.lock();
        l.mnext += 1;
        l.mnext - 1
    };
    let m = M::new(id, sched);
    sched.allm.lock().push(m);
    sched.sysmon_m.store(m.as_ptr(), Ordering::Release);
    std::thread::Builder::new()
        .name("gort-sysmon".into())
        .spawn(move || sysmon(sched))
        .unwrap_or_else(|e| crate::panic::fatal(&format!("cannot start sysmon: {e}")));
}

fn sysmon(sched: &'static Sched) {
    let mut idle = 0u32;
    let mut delay_us = 0u64;
    let mut last_trace = 0u64;
    let mut next_scav = 0u64;
    loop {
        if idle == 0 {
            delay_us = 20;
        } else if idle > 50 {
            delay_us *= 2;
        }
        delay_us = delay_us.min(10_000);
        sched.sysmonnote.sleep_for(Duration::from_micros(delay_us));
        if sched.shutdown.load(Ordering::Acquire) {
            preempt_until_stopped(sched);
            return;
        }
        let trace_ms = sched.settings.schedtrace_ms;
        if trace_ms == 0
            && (sched.gcwaiting.load(Ordering::Relaxed)
                || sched.npidle.load(Ordering::Relaxed) == sched.gomaxprocs)
        {
            // Decide under sched.lock, where every P changes hands (pidleget clears
            // the flag and wakes us there), so a P taken after this check always
            // finds the flag set.
            let sleep = {
                let _l = sched.lock.lock();
                let all_idle = sched.gcwaiting.load(Ordering::Relaxed)
                    || sched.npidle.load(Ordering::Relaxed) == sched.gomaxprocs;
                sched.sysmonwait.store(all_idle, Ordering::Relaxed);
                all_idle
            };
            if sleep {
                // Deeply, unless the heap has memory to give back: then wake for
                // the scavenger's next slice. At most half the forced-collection
                // period, so that an idle program still has its collections
                // (Go's sysmon caps its sleep the same way).
                let rest = gort_alloc::Heap::global().bgscavenge_slice();
                sched
                    .sysmonnote
                    .sleep_for(rest.unwrap_or(Duration::from_nanos(FORCEGC_PERIOD_NS / 2)));
                forcegc_tick(sched, sched.nanotime());
            }
            {
                let _l = sched.lock.lock();
                sched.sysmonwait.store(false, Ordering::Relaxed);
            }
            idle = 0;
            continue;
        }
        let now = sched.nanotime();
        // Poll the network if nobody has for 10 ms: every P is busy running
        // goroutines, and sockets that became ready must not wait for them.
        let lastpoll = sched.lastpoll.load(Ordering::SeqCst);
        if sched.netpoll.get().is_some()
            && lastpoll != 0
            && lastpoll + NETPOLL_PERIOD_NS < now as i64
            && sched
                .lastpoll
                .compare_exchange(lastpoll, now as i64, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
        {
            let (mut list, delta) = crate::netpoll::netpoll(sched, 0);
            if !list.is_empty() {
                crate::proc::sched::injectglist(sched, &mut list);
                crate::netpoll::adjust_waiters(sched, delta);
                idle = 0;
            }
        }
        // The background scavenger's slice, when it is due.
        if now >= next_scav {
            next_scav = now
                + gort_alloc::Heap::global()
                    .bgscavenge_slice()
                    .map_or(SCAV_IDLE_NS, |rest| rest.as_nanos() as u64);
        }
        if retake(sched, now) {
            idle = 0;
        } else {
            idle += 1;
        }
        forcegc_tick(sched, now);
        // `env.rs` caps schedtrace at Go's `int32` milliseconds, so the period
        // in nanoseconds fits (about 2^51).
        if trace_ms > 0 && now - last_trace >= trace_ms * 1_000_000 {
            last_trace = now;
            crate::trace::schedtrace(sched, sched.settings.scheddetail);
        }
    }
}

/// The forced-collection clock: if no collection started for 2 minutes, start
/// one. Go readies its forcegc goroutine here; gort has no collector yet, so the
/// tick counts it (`Sched::forced_gcs`) and does the part of a collection that
/// exists, freeing the stacks of dead goroutines (Go's `markrootFreeGStacks`,
/// their memory released to the OS with them), and prints the cycle's
/// `scavtrace` line.
fn forcegc_tick(sched: &Sched, now: u64) {
    if forcegc_due(sched.last_gc.load(Ordering::Relaxed), now) {
        sched.last_gc.store(now, Ordering::Relaxed);
        sched.forced_gcs.fetch_add(1, Ordering::Relaxed);
        crate::proc::sched::free_g_stacks(sched);
        trim_system_allocator();
        gort_alloc::Heap::global().scavtrace_cycle();
    }
}

/// Asks the system allocator to give its free pages back to the OS. Until the
/// collector's `Gc` exists, what Rust code allocates (`Box`, `Vec`, a
/// connection's buffers) comes from the global allocator, glibc's malloc here,
/// which keeps freed memory in its per-thread arenas for good: only the top of
/// an arena is ever trimmed by itself. `malloc_trim(0)` releases the free pages
/// inside them too (`madvise`), which is what Go's scavenger does for its own
/// heap. Once per forced collection, and from `debug::free_os_memory`.
pub(crate) fn trim_system_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free memory of malloc's own arenas to
    // the OS; it takes malloc's locks and touches no live allocation.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// The runtime was dropped: flag every running goroutine for preemption, again
/// each round (an M may clear a flag as it starts a goroutine), until no P is
/// running one. Each stops at its next safepoint and its M exits there
/// (`sched.rs: shutdown_abandons`, `find_runnable`'s step 1). A goroutine in a
/// system call holds no P; when the call returns, `exitsyscall` flags it itself.
/// One that never reaches a safepoint keeps sysmon here, waking every 10 ms.
fn preempt_until_stopped(sched: &Sched) {
    let mut delay_us = 20u64;
    loop {
        let mut running = false;
        for pp in sched.allp.iter() {
            // SeqCst against `exitsyscall`'s CAS of the status and its read of
            // shutdown: a P we see in a system call is flagged there.
            if pp.status.load(Ordering::SeqCst) != PStatus::Running as u32 {
                continue;
            }
            running = true;
            let m = pp.m.load(Ordering::Acquire);
            if m.is_null() {
                continue;
            }
            // SAFETY: Ms are leaked; the pointer stays valid.
            if let Some(g) = unsafe { &*m }.curg() {
                g.preempt.store(true, Ordering::Relaxed);
            }
        }
        if !running {
            return;
        }
        sched.sysmonnote.sleep_for(Duration::from_micros(delay_us));
        delay_us = (delay_us * 2).min(10_000);
    }
}

/// `retake`: flags goroutines that ran 10 ms or more, and takes Ps from Ms blocked
/// in system calls (`syscall.rs`). Returns whether it did anything.
fn retake(sched: &Sched, now: u64) -> bool {
    let mut n = false;
    for pp in sched.leak_ref().allp.iter() {
        if pp.status() == PStatus::Syscall {
            n |= crate::proc::syscall::retake_syscall(sched, pp, now);
            continue;
        }
        if pp.status() != PStatus::Running {
            continue;
        }
        let t = pp.schedtick.load(Ordering::Relaxed);
        if pp.sysmon_schedtick.load(Ordering::Relaxed) != t {
            pp.sysmon_schedtick.store(t, Ordering::Relaxed);
            pp.sysmon_schedwhen.store(now, Ordering::Relaxed);
        } else if pp.sysmon_schedwhen.load(Ordering::Relaxed) + FORCE_PREEMPT_NS <= now {
            n |= preemptone(pp);
        }
    }
    n
}

/// `preemptone`: asks the goroutine running on `pp` to yield at its next safepoint.
fn preemptone(pp: &crate::proc::p::P) -> bool {
    let m = pp.m.load(Ordering::Acquire);
    if m.is_null() {
        return false;
    }
    // SAFETY: Ms are leaked; the pointer stays valid.
    match unsafe { &*m }.curg() {
        Some(g) if !g.preempt.load(Ordering::Relaxed) => {
            g.preempt.store(true, Ordering::Relaxed);
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forced_gc_every_two_minutes() {
        let min = 60 * 1_000_000_000u64;
        assert!(!forcegc_due(0, 2 * min));
        assert!(forcegc_due(0, 2 * min + 1));
        assert!(!forcegc_due(5 * min, 6 * min));
        assert!(
            !forcegc_due(10, 5),
            "a clock that went backwards is not due"
        );
    }

    /// Starts `n` goroutines that all park, then lets them exit: most of them end
    /// up dead on the global gFree list, each with its stack.
    fn burst(n: usize) {
        let gate = std::sync::Arc::new(crate::sync::Semaphore::new(0));
        let wg = crate::sync::WaitGroup::new();
        for _ in 0..n {
            let gate = gate.clone();
            wg.go(move || {
                // Touch 16 KiB of the stack, as a goroutine doing real work would.
                let buf = std::hint::black_box([7u8; 16 << 10]);
                gate.acquire();
                assert_eq!(buf[(16 << 10) - 1], 7);
            });
        }
        for _ in 0..n {
            gate.release();
        }
        wg.wait();
    }

    #[test]
    fn the_forced_collection_frees_the_stacks_of_dead_goroutines() {
        let rt = crate::Runtime::builder().procs(1).build().unwrap();
        // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
        unsafe {
            rt.run(|| {
                let sched = crate::proc::m::getm().unwrap().sched;
                burst(300);
                let with_stack = sched.gfree.lock().stack.size;
                assert!(with_stack >= 200, "{with_stack} dead Gs on the global list");

                // Not due yet: nothing happens.
                let last = sched.last_gc.load(Ordering::Relaxed);
                forcegc_tick(sched, last + 1);
                assert_eq!(sched.gfree.lock().stack.size, with_stack);

                let forced = sched.forced_gcs.load(Ordering::Relaxed);
                forcegc_tick(sched, last + FORCEGC_PERIOD_NS + 1);
                assert_eq!(sched.forced_gcs.load(Ordering::Relaxed), forced + 1);
                let gfree = sched.gfree.lock();
                assert_eq!((gfree.stack.size, gfree.no_stack.size), (0, with_stack));
                drop(gfree);

                // The Gs are reused with fresh stacks.
                burst(300);
                assert!(sched.gfree.lock().no_stack.size < with_stack);
            })
        };
    }
}
