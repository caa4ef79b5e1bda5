//! The scheduler through the public API: goroutines at scale, fairness, stealing,
//! panics under `spawn`, and the hooks the collector will use (stop-the-world,
//! goroutine stack enumeration, per-P cache slots).

use gort::sync::{Semaphore, WaitGroup};
use gort::{Runtime, Status, WaitReason};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;
use common::rt;

#[test]
fn a_million_goroutines_all_run() {
    let rt = rt(2);
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    let left = unsafe {
        rt.run(move || {
            let wg = WaitGroup::new();
            const N: usize = 1_000_000;
            wg.add(N as i64);
            for _ in 0..N {
                let (wg, r) = (wg.clone(), r.clone());
                gort::go(move || {
                    r.fetch_add(1, Ordering::Relaxed);
                    wg.done();
                });
            }
            wg.wait();
            gort::num_goroutine()
        })
    };
    assert_eq!(ran.load(Ordering::Relaxed), 1_000_000);
    // Only main was left when it looked (the last `done` may still be returning).
    assert!(left <= 2, "{left} goroutines left");
}

fn tree(depth: u32) -> u64 {
    if depth == 0 {
        return 1;
    }
    let l = gort::spawn(move || tree(depth - 1));
    let r = gort::spawn(move || tree(depth - 1));
    l.join().unwrap() + r.join().unwrap()
}

#[test]
fn nested_spawns_join_up_a_tree() {
    let rt = rt(2);
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    assert_eq!(unsafe { rt.run(|| tree(12)) }, 4096);
    // `run` returns as soon as main has its result; main itself exits a moment
    // later. Every one of the 8,191 goroutines must be gone soon after.
    let deadline = Instant::now() + Duration::from_secs(10);
    while rt.num_goroutine() > 0 && Instant::now() < deadline {
        std::thread::yield_now();
    }
    assert_eq!(rt.num_goroutine(), 0);
}

#[test]
fn a_goroutine_yielding_in_a_loop_cannot_starve_the_others() {
    // One P: the yielder and the setter must share it.
    let rt = rt(1);
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    let seen = unsafe {
        rt.run(|| {
            let flag = Arc::new(AtomicBool::new(false));
            let f = flag.clone();
            let spinner = gort::spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(10);
                while !f.load(Ordering::Acquire) && Instant::now() < deadline {
                    gort::yield_now();
                }
                f.load(Ordering::Acquire)
            });
            let f = flag.clone();
            gort::go(move || f.store(true, Ordering::Release));
            spinner.join().unwrap()
        })
    };
    assert!(seen, "the goroutine that sets the flag never ran");
}

#[test]
fn sysmon_preempts_a_loop_that_only_has_safepoints() {
    // One P, and the spinner never yields by itself: only sysmon's 10 ms
    // preemption request, honoured at preempt_point, lets the other goroutine run.
    let rt = rt(1);
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    let (seen, waited) = unsafe {
        rt.run(|| {
            let flag = Arc::new(AtomicBool::new(false));
            // The setter is spawned first and the spinner second: the spinner takes
            // runnext and the setter waits in the local ring, so when main blocks the
            // spinner runs first and the setter needs the P to be taken from it.
            let f = flag.clone();
            let setter = gort::spawn(move || {
                f.store(true, Ordering::Release);
                Instant::now()
            });
            let f = flag.clone();
            let spinner = gort::spawn(move || {
                let start = Instant::now();
                let deadline = start + Duration::from_secs(10);
                while !f.load(Ordering::Acquire) && Instant::now() < deadline {
                    gort::preempt_point();
                }
                (f.load(Ordering::Acquire), start)
            });
            let set_at = setter.join().unwrap();
            let (seen, start) = spinner.join().unwrap();
            (seen, set_at.saturating_duration_since(start))
        })
    };
    // With one P, the setter can only run if the spinner was preempted.
    assert!(
        seen,
        "the spinner was never preempted (setter waited {waited:?})"
    );
}

/// Goroutines started on one P spread to every P: idle Ps are woken (`wakep`) and
/// steal. Each goroutine marks the P it runs on and spins until every P has been
/// marked, so the queued ones stay there to be stolen for as long as that takes
/// (a thread the OS keeps waiting only delays it). Stealing is the only way out:
/// 100 goroutines fit in one P's run queue (nothing spills to the global queue),
/// and the spin has no safepoint (sysmon cannot preempt it onto the global
/// queue). Without stealing the other Ps are never marked, and the goroutines
/// give up at the deadline.
#[test]
fn work_spawned_on_one_p_runs_on_every_p() {
    const PROCS: usize = 4;
    const GOROUTINES: usize = 100;
    let rt = rt(PROCS);
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    let (seen, ran) = unsafe {
        rt.run(|| {
            let seen: Arc<Vec<AtomicBool>> =
                Arc::new((0..PROCS).map(|_| AtomicBool::new(false)).collect());
            let ran = Arc::new(AtomicUsize::new(0));
            let deadline = Instant::now() + Duration::from_secs(30);
            let wg = WaitGroup::new();
            for _ in 0..GOROUTINES {
                wg.add(1);
                let (wg, seen, ran) = (wg.clone(), seen.clone(), ran.clone());
                gort::go(move || {
                    seen[gort::debug::current_p().unwrap()].store(true, Ordering::Relaxed);
                    while !seen.iter().all(|s| s.load(Ordering::Relaxed))
                        && Instant::now() < deadline
                    {
                        std::hint::spin_loop();
                    }
                    ran.fetch_add(1, Ordering::Relaxed);
                    wg.done();
                });
            }
            wg.wait();
            let seen: Vec<bool> = seen.iter().map(|s| s.load(Ordering::Relaxed)).collect();
            (seen, ran.load(Ordering::Relaxed))
        })
    };
    assert_eq!(ran, GOROUTINES);
    assert!(
        seen.iter().all(|&s| s),
        "some P never ran anything: {seen:?}"
    );
}

#[test]
fn a_panic_under_spawn_is_returned_and_others_keep_running() {
    let rt = rt(2);
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    let (err, sum) = unsafe {
        rt.run(|| {
            let workers: Vec<_> = (0..50u64)
                .map(|i| gort::spawn(move || (0..1000).map(|k| k * i).sum::<u64>()))
                .collect();
            let bad = gort::spawn(|| -> u64 { panic!("boom") });
            let err = bad.join().unwrap_err().into_panic();
            let more: Vec<_> = (0..50u64).map(|i| gort::spawn(move || i)).collect();
            let sum: u64 = workers
                .into_iter()
                .chain(more)
                .map(|h| h.join().unwrap())
                .sum();
            (err.downcast_ref::<&str>().map(|s| s.to_string()), sum)
        })
    };
    assert_eq!(err.as_deref(), Some("boom"));
    assert_eq!(
        sum,
        (0..50u64).map(|i| 499_500 * i).sum::<u64>() + (0..50).sum::<u64>()
    );
}

#[test]
fn runtime_runs_several_mains_and_counts_goroutines() {
    let rt = rt(2);
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    assert_eq!(unsafe { rt.run(gort::num_goroutine) }, 1);
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    assert_eq!(unsafe { rt.run(gort::gomaxprocs) }, 2);
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    let ids = unsafe {
        rt.run(|| {
            let hs: Vec<_> = (0..100)
                .map(|_| gort::spawn(|| gort::debug::goid().unwrap()))
                .collect();
            hs.into_iter()
                .map(|h| h.join().unwrap())
                .collect::<std::collections::HashSet<_>>()
        })
    };
    assert_eq!(ids.len(), 100, "goroutine ids are unique");
}

#[test]
fn bad_settings_are_errors_that_name_the_value() {
    let e = Runtime::builder().procs(0).build().err().unwrap();
    assert_eq!(
        e.to_string(),
        "invalid Builder::procs=\"0\": expected an integer from 1 to 1024"
    );
    let e = Runtime::builder().stack_size(100).build().err().unwrap();
    assert!(e.to_string().contains("Builder::stack_size=\"100\""), "{e}");
}

/// A goroutine that parks with `magic` in a local on its own stack.
fn park_with_magic(magic: u64, parked: WaitGroup, gate: Arc<Semaphore>) {
    let words = std::hint::black_box([magic, !magic, magic]);
    parked.done();
    gate.acquire();
    std::hint::black_box(&words);
}

#[test]
fn stop_the_world_lists_every_stack_with_its_live_words() {
    let rt = rt(2);
    let body = || {
        const K: u64 = 20;
        let parked = WaitGroup::new();
        let gate = Arc::new(Semaphore::new(0));
        let mut goids = vec![];
        for i in 0..K {
            parked.add(1);
            let (p, g) = (parked.clone(), gate.clone());
            goids.push(gort::spawn(move || {
                park_with_magic(0x5eed_0000_0000 + i, p, g)
            }));
        }
        parked.wait();
        // `done` comes just before `acquire`: let everyone actually park.
        while goids.iter().any(|h| !h.is_finished()) && gort::num_goroutine() > 0 {
            let world = gort::stw::stop_the_world();
            let parked_now = world
                .goroutines()
                .iter()
                .filter(|g| g.status == Status::Waiting && g.wait_reason == WaitReason::Semacquire)
                .count();
            drop(world);
            if parked_now == K as usize {
                break;
            }
            gort::yield_now();
        }
        let world = gort::stw::stop_the_world();
        let gs = world.goroutines();
        for h in &goids {
            let g = gs
                .iter()
                .find(|g| g.goid == h.goid())
                .expect("every live goroutine is listed");
            assert_eq!(g.status, Status::Waiting);
            assert_eq!(g.wait_reason, WaitReason::Semacquire);
            assert!(g.lo < g.sp && g.sp < g.hi, "{g:?}");
        }
        // The collector's conservative scan: each parked goroutine's magic word lies
        // in [sp, hi) of its own stack.
        let mut found = 0;
        for g in gs.iter().filter(|g| g.status == Status::Waiting) {
            let words = (g.hi - g.sp) / 8;
            for k in 0..words {
                // SAFETY: [sp, hi) of a parked goroutine is mapped stack memory that
                // nobody writes while the world is stopped.
                let w = unsafe { std::ptr::read_volatile((g.sp + k * 8) as *const u64) };
                if w & !0xff == 0x5eed_0000_0000 && w & 0xff < K {
                    found += 1;
                    break;
                }
            }
        }
        assert_eq!(
            found, K as usize,
            "every parked goroutine's live words are in [sp, hi)"
        );
        assert!(world.pause() < Duration::from_secs(5));
        drop(world);
        for _ in 0..K {
            gate.release();
        }
        for h in goids {
            h.join().unwrap();
        }
    };
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe { rt.run(body) };
}

#[test]
fn stop_the_world_halts_running_goroutines() {
    let rt = rt(2);
    let stop = Arc::new(AtomicBool::new(false));
    let counters: Arc<Vec<AtomicU64>> = Arc::new((0..2).map(|_| AtomicU64::new(0)).collect());
    let (s, c) = (stop.clone(), counters.clone());
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    let hs = unsafe {
        rt.run(move || {
            (0..2)
                .map(|i| {
                    let (s, c) = (s.clone(), c.clone());
                    gort::spawn(move || {
                        while !s.load(Ordering::Relaxed) {
                            c[i].fetch_add(1, Ordering::Relaxed);
                            gort::preempt_point();
                        }
                    })
                })
                .collect::<Vec<_>>()
        })
    };
    // Both spinners are running on the runtime now; stop it from outside.
    while counters.iter().any(|c| c.load(Ordering::Relaxed) == 0) {
        std::thread::yield_now();
    }
    let world = rt.stop_the_world();
    let before: Vec<u64> = counters.iter().map(|c| c.load(Ordering::Relaxed)).collect();
    std::thread::sleep(Duration::from_millis(30));
    let after: Vec<u64> = counters.iter().map(|c| c.load(Ordering::Relaxed)).collect();
    assert_eq!(before, after, "a goroutine ran while the world was stopped");
    let running: Vec<_> = world
        .goroutines()
        .into_iter()
        .filter(|g| g.status == Status::Running)
        .collect();
    assert!(running.is_empty(), "{running:?}");
    drop(world);
    while counters
        .iter()
        .zip(&after)
        .any(|(c, &a)| c.load(Ordering::Relaxed) == a)
    {
        std::thread::yield_now();
    }
    stop.store(true, Ordering::Relaxed);
    for h in hs {
        h.join().unwrap();
    }
}

#[test]
fn each_p_has_its_own_cache_that_survives_scheduling() {
    let rt = rt(3);
    let caches = |rt: &Runtime| {
        let mut world = rt.stop_the_world();
        let mut seen = vec![];
        world.for_each_p_cache(|id, c| seen.push((id, c as *mut _ as usize)));
        seen
    };
    let before = caches(&rt);
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        rt.run(|| {
            let hs: Vec<_> = (0..100).map(|_| gort::spawn(gort::yield_now)).collect();
            for h in hs {
                h.join().unwrap();
            }
        })
    };
    let after = caches(&rt);
    assert_eq!(before, after, "a P keeps its cache across Ms");
    let mut addrs: Vec<_> = before.iter().map(|&(_, a)| a).collect();
    addrs.dedup();
    assert_eq!(addrs.len(), 3, "one cache per P");
}

/// Goroutines on every P allocate through their P's cache; no two live objects
/// overlap and each keeps what was written into it.
#[test]
fn goroutines_allocate_through_their_ps_caches() {
    use gort_runtime::export_test::mallocgc;
    let before = gort::debug::mem_stats().mallocs;
    let r = rt(2);
    let body = || {
        let hs: Vec<_> = (0..8u64)
            .map(|g| {
                gort::spawn(move || {
                    let mut mine = Vec::new();
                    for i in 0..2000u64 {
                        let size = 16 + ((g * 7 + i) % 32) as usize * 16;
                        let p = mallocgc(size, true);
                        // SAFETY: `p` points at `size` fresh bytes that are ours.
                        unsafe { p.write_bytes((g as u8) ^ (i as u8), size) };
                        mine.push((p as usize, size, (g as u8) ^ (i as u8)));
                        if i % 100 == 0 {
                            gort::yield_now();
                        }
                    }
                    mine
                })
            })
            .collect();
        hs.into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect::<Vec<_>>()
    };
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    let objs = unsafe { r.run(body) };
    let mut sorted = objs.clone();
    sorted.sort();
    for w in sorted.windows(2) {
        assert!(w[0].0 + w[0].1 <= w[1].0, "objects overlap: {:?}", w);
    }
    for &(p, size, byte) in &objs {
        // SAFETY: the objects are never freed (nothing sweeps), and we wrote them.
        let s = unsafe { std::slice::from_raw_parts(p as *const u8, size) };
        assert!(s.iter().all(|&b| b == byte), "an object was overwritten");
    }
    // Counts are kept per cache and settled when a cache gives its spans back
    // (as Go's ReadMemStats flushes the Ps' caches).
    let mut world = r.stop_the_world();
    world.for_each_p_cache(|_, c| c.release_all());
    drop(world);
    let after = gort::debug::mem_stats().mallocs;
    assert!(
        after - before >= 16_000,
        "mem_stats counts them: {before} -> {after}"
    );
}

#[test]
fn schedtrace_line_has_gos_fields_in_gos_order() {
    let rt = rt(2);
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe { rt.run(|| ()) };
    let line = rt.schedtrace(false);
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(fields[0], "SCHED");
    assert!(fields[1].ends_with("ms:"));
    let keys: Vec<&str> = fields[2..9]
        .iter()
        .map(|f| f.split('=').next().unwrap())
        .collect();
    assert_eq!(
        keys,
        [
            "gomaxprocs",
            "idleprocs",
            "threads",
            "spinningthreads",
            "needspinning",
            "idlethreads",
            "runqueue"
        ]
    );
    assert_eq!(fields[2], "gomaxprocs=2");
    assert_eq!(&fields[9..13], ["[", "0", "0", "]"]);
    assert_eq!(fields[13], "schedticks=[");
    assert_eq!(fields.last(), Some(&"]"));
    let detail = rt.schedtrace(true);
    let mut lines = detail.lines();
    let first = lines.next().unwrap();
    assert!(
        first.ends_with("gcwaiting=false nmidlelocked=0 stopwait=0 sysmonwait=false")
            || first.contains("sysmonwait="),
        "{first}"
    );
    let p0 = lines.next().unwrap();
    // (The M that ran main may still hold P0 for a moment after `run` returns.)
    assert!(
        p0.starts_with("  P0: status=0 schedtick=") || p0.starts_with("  P0: status=1 schedtick="),
        "{p0}"
    );
    assert!(
        detail
            .lines()
            .any(|l| l.starts_with("  M") && l.contains(" p=nil curg=nil mallocing=0")),
        "{detail}"
    );
}

#[test]
fn two_goroutines_stopping_the_world_at_once_take_turns() {
    let rt = rt(2);
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    let pauses = unsafe {
        rt.run(|| {
            let hs: Vec<_> = (0..4)
                .map(|_| {
                    gort::spawn(|| {
                        let mut n = 0;
                        for _ in 0..50 {
                            let w = gort::stw::stop_the_world();
                            n += w.goroutines().len().min(1);
                        }
                        n
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).sum::<usize>()
        })
    };
    assert_eq!(pauses, 200);
}

#[test]
fn back_to_back_runs_never_look_deadlocked() {
    // Each run's main goroutine is injected from outside while the previous run's
    // Ms are still going idle; checkdead must not take it for a lost goroutine
    // (`external_inflight`).
    let rt = rt(2);
    for i in 0..3000u64 {
        // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
        let v = unsafe { rt.run(move || gort::spawn(move || i).join().unwrap()) };
        assert_eq!(v, i);
    }
}

#[test]
fn the_goroutine_holding_a_stopped_world_keeps_running_through_safepoints() {
    // It must not flag itself for preemption and yield at a safepoint: nobody
    // else could start the world again.
    let rt = rt(2);
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    let n = unsafe {
        rt.run(|| {
            let world = gort::stw::stop_the_world();
            for _ in 0..1000 {
                gort::preempt_point();
            }
            let h = gort::spawn(|| 7);
            let seen = world.goroutines().len();
            drop(world);
            h.join().unwrap() + seen
        })
    };
    assert!(n >= 8, "{n}");
}

struct YieldOnDrop;
impl Drop for YieldOnDrop {
    fn drop(&mut self) {
        // Runs while the goroutine unwinds.
        gort::yield_now();
        gort::preempt_point();
    }
}

#[test]
fn yielding_while_unwinding_does_not_leak_the_panic_to_other_goroutines() {
    // One P: if the unwinding goroutine switched out, the next goroutine on the
    // thread would see std's per-thread panic count and die when it blocks.
    let rt = rt(1);
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    let ok = unsafe {
        rt.run(|| {
            let bad = gort::spawn(|| {
                let _d = YieldOnDrop;
                panic!("unwinding through a yield");
            });
            let wg = WaitGroup::new();
            wg.add(1);
            let w = wg.clone();
            let innocent = gort::spawn(move || {
                let s = Semaphore::new(0);
                let t = Arc::new(s);
                let t2 = t.clone();
                gort::go(move || t2.release());
                t.acquire();
                w.done();
                !std::thread::panicking()
            });
            assert!(bad.join().is_err());
            wg.wait();
            innocent.join().unwrap()
        })
    };
    assert!(ok);
}

/// A closure may capture up to 1/32 of the stack (8 KiB of the default
/// 256 KiB): one exactly that large runs and reads its data in a debug build,
/// where it is copied about ten times on the new stack; one a word larger
/// panics in the spawner, naming the sizes and the remedy.
#[test]
fn a_capture_up_to_the_limit_runs_and_a_larger_one_panics_in_the_spawner() {
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        rt(2).run(|| {
            let data = [3u64; 1024];
            let h = gort::spawn(move || std::hint::black_box(&data).iter().sum::<u64>());
            assert_eq!(h.join().unwrap(), 3 * 1024);
            let wg = gort::sync::WaitGroup::new();
            let done = Arc::new(AtomicUsize::new(0));
            let d = done.clone();
            let data = [5u8; 8192 - 8];
            wg.go(move || {
                d.store(
                    std::hint::black_box(&data)[8191 - 8] as usize,
                    Ordering::SeqCst,
                );
            });
            wg.wait();
            assert_eq!(done.load(Ordering::SeqCst), 5);
            let data = [3u64; 1025];
            for (how, spawned) in [
                (
                    "spawn",
                    std::panic::catch_unwind(move || {
                        drop(gort::spawn(move || std::hint::black_box(&data)[0]))
                    }),
                ),
                (
                    "go",
                    std::panic::catch_unwind(move || {
                        gort::go(move || {
                            std::hint::black_box(&data);
                        })
                    }),
                ),
            ] {
                let msg = common::panic_message(spawned.unwrap_err());
                assert!(
                    msg.contains("captures 8200 bytes, more than the 8192 bytes allowed")
                        && msg.contains("box the captured data"),
                    "{how}: {msg}"
                );
            }
        })
    };
}
