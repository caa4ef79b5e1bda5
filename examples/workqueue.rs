//! A Kubernetes-style work queue on `gort::sync::{Mutex, Cond}`.
//!
//! Run: `cargo run --release --example workqueue` (add `GOMAXPROCS=4` for more Ps).
//!
//! client-go's `workqueue.Type` is how every Kubernetes controller schedules
//! reconciles: producers (informers) `add` object keys, workers `get` a key,
//! reconcile it, and call `done`. Three sets make it work, all under one mutex
//! with a condition variable (the same shape as in client-go's `queue.go`):
//!
//! - `queue`: keys waiting, in order;
//! - `dirty`: keys that need processing (in `queue`, or re-added while being
//!   processed). `add` of a dirty key is a no-op: **deduplication**, so a burst of
//!   updates to one object costs one reconcile;
//! - `processing`: keys a worker holds. A key added while processing goes only into
//!   `dirty`, and `done` puts it back in `queue`: **a key is never processed by two
//!   workers at once**, and an update that arrived mid-reconcile is not lost.
//!
//! `get` waits on the `Cond` while the queue is empty; `shut_down` stops new adds
//! and broadcasts, and workers drain what is left, then `get` reports shutdown.
//!
//! What to look at in the output:
//! - `adds` vs `deduplicated`: most adds of a hot key land while it is already
//!   dirty and cost nothing;
//! - `overlaps: 0`: no key was ever in two workers' hands at once (checked with a
//!   per-key flag set on entry and cleared on exit);
//! - `requeued after done`: keys re-added while a worker held them, processed again;
//! - `lost updates: 0`: every key's last add was followed by a reconcile that saw it;
//! - the final line: every worker returned after shutdown and only main is left.

use gort::sync::{Cond, Mutex, WaitGroup};
use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// client-go's `workqueue.Type`, for string keys.
struct WorkQueue {
    state: Mutex<State>,
    cond: Cond,
    /// Statistics for the printout.
    deduplicated: AtomicU64,
    requeued: AtomicU64,
}

struct State {
    queue: VecDeque<String>,
    dirty: HashSet<String>,
    processing: HashSet<String>,
    shutting_down: bool,
}

impl WorkQueue {
    fn new() -> Self {
        WorkQueue {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                dirty: HashSet::new(),
                processing: HashSet::new(),
                shutting_down: false,
            }),
            cond: Cond::new(),
            deduplicated: AtomicU64::new(0),
            requeued: AtomicU64::new(0),
        }
    }

    /// `Add`: marks `key` dirty and queues it, unless it is already dirty (dedup)
    /// or being processed (then `done` will queue it).
    fn add(&self, key: &str) {
        let mut s = self.state.lock();
        if s.shutting_down {
            return;
        }
        if s.dirty.contains(key) {
            self.deduplicated.fetch_add(1, Ordering::Relaxed);
            return;
        }
        s.dirty.insert(key.to_string());
        if s.processing.contains(key) {
            return;
        }
        s.queue.push_back(key.to_string());
        self.cond.signal();
    }

    /// `Get`: blocks until a key is available; `None` once shut down and drained.
    fn get(&self) -> Option<String> {
        let mut s = self.state.lock();
        while s.queue.is_empty() && !s.shutting_down {
            s = self.cond.wait(s);
        }
        let key = s.queue.pop_front()?;
        s.processing.insert(key.clone());
        s.dirty.remove(&key);
        Some(key)
    }

    /// `Done`: the worker finished `key`; if it was re-added meanwhile, queue it.
    fn done(&self, key: &str) {
        let mut s = self.state.lock();
        s.processing.remove(key);
        if s.dirty.contains(key) {
            s.queue.push_back(key.to_string());
            self.requeued.fetch_add(1, Ordering::Relaxed);
            self.cond.signal();
        }
    }

    /// `ShutDown`: no more adds; wake every worker so they drain and exit.
    fn shut_down(&self) {
        self.state.lock().shutting_down = true;
        self.cond.broadcast();
    }
}

const KEYS: usize = 50;
const PRODUCERS: usize = 4;
const ADDS_PER_PRODUCER: usize = 20_000;
const WORKERS: usize = 6;

fn main() {
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        gort::run(|| {
            let q = Arc::new(WorkQueue::new());
            // Per key: the latest version any producer wrote, and the version the last
            // reconcile saw; plus a flag held while a worker processes the key.
            let version: Arc<Vec<AtomicU64>> =
                Arc::new((0..KEYS).map(|_| AtomicU64::new(0)).collect());
            let seen: Arc<Vec<AtomicU64>> =
                Arc::new((0..KEYS).map(|_| AtomicU64::new(0)).collect());
            let busy: Arc<Vec<AtomicBool>> =
                Arc::new((0..KEYS).map(|_| AtomicBool::new(false)).collect());
            let overlaps = Arc::new(AtomicU64::new(0));
            let processed = Arc::new(AtomicU64::new(0));

            let workers = WaitGroup::new();
            for _ in 0..WORKERS {
                let (q, version, seen, busy) =
                    (q.clone(), version.clone(), seen.clone(), busy.clone());
                let (overlaps, processed) = (overlaps.clone(), processed.clone());
                workers.go(move || {
                    while let Some(key) = q.get() {
                        let i: usize = key.trim_start_matches("pod-").parse().unwrap();
                        if busy[i].swap(true, Ordering::SeqCst) {
                            overlaps.fetch_add(1, Ordering::Relaxed);
                        }
                        // "Reconcile": read the object's latest version, do some work.
                        let v = version[i].load(Ordering::SeqCst);
                        for _ in 0..3 {
                            gort::yield_now();
                        }
                        seen[i].fetch_max(v, Ordering::SeqCst);
                        processed.fetch_add(1, Ordering::Relaxed);
                        busy[i].store(false, Ordering::SeqCst);
                        q.done(&key);
                    }
                });
            }

            let producers = WaitGroup::new();
            for p in 0..PRODUCERS {
                let (q, version) = (q.clone(), version.clone());
                producers.go(move || {
                    // A skewed key choice: a few hot keys get most updates, as a busy
                    // controller's hot objects do.
                    let mut x = 0x9E37_79B9u64.wrapping_mul(p as u64 + 1);
                    for n in 0..ADDS_PER_PRODUCER {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        let i = if x.is_multiple_of(4) {
                            (x >> 8) as usize % KEYS
                        } else {
                            (x >> 8) as usize % 5
                        };
                        // Update the object, then enqueue its key (informer order).
                        version[i].fetch_max((n * PRODUCERS + p + 1) as u64, Ordering::SeqCst);
                        q.add(&format!("pod-{i}"));
                        if n % 64 == 0 {
                            gort::yield_now();
                        }
                    }
                });
            }
            producers.wait();
            q.shut_down();
            workers.wait();

            let adds = (PRODUCERS * ADDS_PER_PRODUCER) as u64;
            let dedup = q.deduplicated.load(Ordering::Relaxed);
            let lost = (0..KEYS)
                .filter(|&i| version[i].load(Ordering::SeqCst) > seen[i].load(Ordering::SeqCst))
                .count();
            println!(
                "workqueue: {PRODUCERS} producers, {WORKERS} workers, {KEYS} keys, GOMAXPROCS={}",
                gort::gomaxprocs()
            );
            println!("  adds:                {adds}");
            println!(
                "  deduplicated:        {dedup} ({:.1}% of adds cost nothing)",
                100.0 * dedup as f64 / adds as f64
            );
            println!(
                "  reconciles:          {}",
                processed.load(Ordering::Relaxed)
            );
            println!(
                "  requeued after done: {}",
                q.requeued.load(Ordering::Relaxed)
            );
            println!(
                "  overlaps:            {} (a key in two workers' hands at once)",
                overlaps.load(Ordering::Relaxed)
            );
            println!("  lost updates:        {lost} (keys whose last version no reconcile saw)");
            let s = q.state.lock();
            println!(
                "  shutdown: queue={} dirty={} processing={}; goroutines left: {}",
                s.queue.len(),
                s.dirty.len(),
                s.processing.len(),
                gort::num_goroutine()
            );
            assert_eq!(overlaps.load(Ordering::Relaxed), 0);
            assert_eq!(lost, 0);
        })
    };
}
