//! A cache of reusable objects: Go's `sync/pool.go`.
//!
//! # Design
//!
//! A `Pool` keeps one slot per P (Go's `poolLocal`, padded to its own cache
//! line): a `private` object only that P's goroutines use, and a `shared` list
//! that P pushes and pops at the head while other Ps steal from the tail.
//!
//! * `get`: own `private` → own `shared` head → steal the tail of the other Ps'
//!   `shared` (`getSlow`) → the **victim** generation (own victim private, then
//!   every victim shared) → `new()`.
//! * `put`: own `private` if empty, else the head of own `shared`.
//!
//! Objects are a cache, not storage: the collector clears pools at the start of
//! every GC (Go's `poolCleanup`, called by `clearpools` with the world stopped).
//! Since Go 1.13 it does not drop everything at once: the primary generation
//! becomes the victim and the old victims are dropped, so an object survives at
//! most two cleanups and a steady workload does not see its cache vanish at each
//! GC. [`Pool::clear_victims`] does that for one pool and [`pool_cleanup`] for
//! every live pool; gort's collector will call `pool_cleanup` at GC start, and until
//! it exists, programs (or the runtime) call it themselves.
//!
//! # Which P, and why it stays put
//!
//! Go pins the goroutine to its P (`runtime_procPin`, which disables preemption)
//! while it touches `private`. gort's scheduling is cooperative: a goroutine
//! changes P only at a runtime call (a park, a yield, a safepoint). `get` and
//! `put` read the P id (`getm().p().id`) and then make no runtime call until they
//! are done with the slot, so the goroutine is still on that P while it uses it.
//! We still guard each slot with a small lock, because that argument does not
//! cover everything: a stealer from another P takes the `shared` tail, two
//! *runtimes* in one process both have a P 0, and threads outside any runtime all
//! map to slot 0. The owner's lock is uncontended in the common case (one CAS
//! each way), which stands in for Go's lock-free `poolChain`.
//!
//! The slot array is sized on first use from the GOMAXPROCS of the runtime the
//! caller runs on (1 outside any runtime); a P id beyond it maps to `id % len`,
//! which the locks keep correct.
//!
//! # Differences from Go
//!
//! Go's `shared` is a lock-free chain of ring buffers (`poolqueue.go`: the owner
//! pushes/pops the head, stealers CAS the tail); ours is a `VecDeque` under the
//! slot's lock. Go's `New` is optional; ours is required, so `get` always returns
//! an object. Go's victim is a whole second array swapped in at cleanup; ours sits
//! in the same slot as the primary (moved over slot by slot under the slot's lock),
//! which is equivalent when the cleanup runs with the world stopped and merely
//! racy-but-safe (an object may land in either generation) when it does not.

use crossbeam_utils::CachePadded;
use std::collections::VecDeque;
use std::sync::{Arc, OnceLock, Weak};

/// One P's objects: Go's `poolLocal` plus the same P's slot of the victim array.
struct Local<T> {
    private: Option<T>,
    shared: VecDeque<T>,
    victim_private: Option<T>,
    victim_shared: VecDeque<T>,
}

/// One P's slot, on its own cache line (Go pads `poolLocal` to 128 bytes).
type Slot<T> = CachePadded<parking_lot::Mutex<Local<T>>>;

struct PoolInner<T> {
    /// Per-P slots, sized on first use.
    locals: OnceLock<Box<[Slot<T>]>>,
    new: Box<dyn Fn() -> T + Send + Sync>,
}

/// A set of temporary objects that goroutines may reuse (Go's `sync.Pool`),
/// cached per P so that the common `get`/`put` touches only the caller's P.
///
/// Anything in the pool may be dropped at a cleanup ([`pool_cleanup`], which the
/// collector will call at the start of each GC): use it for buffers and scratch
/// objects, never for state.
///
/// # Example
///
/// ```
/// use gort_runtime::sync::{Pool, WaitGroup};
/// use std::sync::Arc;
/// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
/// unsafe { gort_runtime::run(|| {
///     let bufs = Arc::new(Pool::new(|| Vec::<u8>::with_capacity(4096)));
///     let wg = WaitGroup::new();
///     for i in 0..8u8 {
///         let bufs = bufs.clone();
///         wg.go(move || {
///             let mut b = bufs.get();
///             b.clear();
///             b.push(i);
///             bufs.put(b);
///         });
///     }
///     wg.wait();
/// }) };
/// ```
pub struct Pool<T: Send + 'static> {
    inner: Arc<PoolInner<T>>,
}

/// What `pool_cleanup` needs from any pool, whatever its `T`.
trait Cleanup: Send + Sync {
    fn clear_victims(&self);
}

/// Every pool ever made and still alive (Go's `allPools`; `oldPools` is our
/// per-slot victim fields).
static ALL_POOLS: parking_lot::Mutex<Vec<Weak<dyn Cleanup>>> = parking_lot::Mutex::new(Vec::new());

/// Go's `poolCleanup` for every live pool: drops each pool's victims and demotes
/// its cached objects to victims. The collector will call it at the start of each
/// GC; until then a program may call it itself (for example from a timer), or
/// not at all — pools then simply keep their objects.
///
/// ```
/// let p = gort_runtime::sync::Pool::new(|| 0u32);
/// p.put(7);
/// gort_runtime::sync::pool_cleanup();
/// assert_eq!(p.get(), 7); // still there, as a victim
/// ```
pub fn pool_cleanup() {
    let pools: Vec<Arc<dyn Cleanup>> = {
        let mut all = ALL_POOLS.lock();
        all.retain(|w| w.strong_count() > 0);
        all.iter().filter_map(Weak::upgrade).collect()
    };
    // Outside ALL_POOLS' lock: dropping objects may run arbitrary code.
    for p in pools {
        p.clear_victims();
    }
}

impl<T: Send + 'static> Cleanup for PoolInner<T> {
    fn clear_victims(&self) {
        let Some(locals) = self.locals.get() else {
            return;
        };
        for l in locals.iter() {
            let (old_private, old_shared) = {
                let mut g = l.lock();
                let l = &mut *g;
                let vp = std::mem::replace(&mut l.victim_private, l.private.take());
                let vs = std::mem::replace(&mut l.victim_shared, std::mem::take(&mut l.shared));
                (vp, vs)
            };
            // Dropped after the slot's lock is released.
            drop((old_private, old_shared));
        }
    }
}

impl<T: Send + 'static> Pool<T> {
    /// A pool whose `get` calls `new` when it has nothing cached.
    ///
    /// ```
    /// let p = gort_runtime::sync::Pool::new(String::new);
    /// assert!(p.get().is_empty());
    /// ```
    pub fn new(new: impl Fn() -> T + Send + Sync + 'static) -> Self {
        let inner = Arc::new(PoolInner {
            locals: OnceLock::new(),
            new: Box::new(new),
        });
        let weak: Weak<dyn Cleanup> = Arc::downgrade(&inner) as Weak<dyn Cleanup>;
        let mut all = ALL_POOLS.lock();
        all.retain(|w| w.strong_count() > 0);
        all.push(weak);
        drop(all);
        Pool { inner }
    }

    /// `pin`: the slot array and the caller's index into it. See the module
    /// comment for why the goroutine stays on this P while it uses the slot.
    fn pin(&self) -> (&[Slot<T>], usize) {
        let m = crate::proc::m::getm();
        let locals = self.inner.locals.get_or_init(|| {
            let n = m.map_or(1, |m| m.sched.gomaxprocs as usize).max(1);
            (0..n)
                .map(|_| {
                    CachePadded::new(parking_lot::Mutex::new(Local {
                        private: None,
                        shared: VecDeque::new(),
                        victim_private: None,
                        victim_shared: VecDeque::new(),
                    }))
                })
                .collect()
        });
        let pid = m.and_then(|m| m.p()).map_or(0, |p| p.id as usize);
        (locals, pid % locals.len())
    }

    /// Takes an object from the pool, or makes one with `new` (Go's `Get`).
    ///
    /// ```
    /// let p = gort_runtime::sync::Pool::new(|| 1);
    /// p.put(5);
    /// assert_eq!(p.get(), 5);
    /// assert_eq!(p.get(), 1); // empty: made by `new`
    /// ```
    pub fn get(&self) -> T {
        let (locals, pid) = self.pin();
        {
            let mut l = locals[pid].lock();
            if let Some(x) = l.private.take() {
                return x;
            }
            if let Some(x) = l.shared.pop_front() {
                return x;
            }
        }
        self.get_slow(locals, pid)
            .unwrap_or_else(|| (self.inner.new)())
    }

    /// `getSlow`: steal from the other Ps, then try the victims.
    #[cold]
    fn get_slow(&self, locals: &[Slot<T>], pid: usize) -> Option<T> {
        let n = locals.len();
        for i in 1..n {
            if let Some(x) = locals[(pid + i) % n].lock().shared.pop_back() {
                return Some(x);
            }
        }
        // The victim generation: own private first, then everyone's shared.
        for i in 0..n {
            let mut l = locals[(pid + i) % n].lock();
            if i == 0 {
                if let Some(x) = l.victim_private.take() {
                    return Some(x);
                }
            }
            if let Some(x) = l.victim_shared.pop_back() {
                return Some(x);
            }
        }
        None
    }

    /// Gives an object back for reuse (Go's `Put`).
    ///
    /// ```
    /// let p = gort_runtime::sync::Pool::new(Vec::<u8>::new);
    /// let mut v = p.get();
    /// v.reserve(100);
    /// p.put(v);
    /// assert!(p.get().capacity() >= 100);
    /// ```
    pub fn put(&self, x: T) {
        let (locals, pid) = self.pin();
        let mut l = locals[pid].lock();
        if l.private.is_none() {
            l.private = Some(x);
        } else {
            l.shared.push_front(x);
        }
    }

    /// Go's `poolCleanup` for this pool alone: drops the victims and demotes the
    /// cached objects to victims, so an object not taken back survives at most two
    /// cleanups.
    ///
    /// ```
    /// let p = gort_runtime::sync::Pool::new(|| 0);
    /// p.put(9);
    /// p.clear_victims();
    /// assert_eq!(p.get(), 9); // a victim now, still found
    /// p.put(9);
    /// p.clear_victims();
    /// p.clear_victims();
    /// assert_eq!(p.get(), 0); // gone after two rounds
    /// ```
    pub fn clear_victims(&self) {
        self.inner.clear_victims()
    }
}

impl<T: Send + 'static> std::fmt::Debug for Pool<T> {
    /// Opaque: `Pool { .. }`.
    ///
    /// ```
    /// let p = gort_runtime::sync::Pool::new(|| 0);
    /// assert_eq!(format!("{p:?}"), "Pool { .. }");
    /// ```
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_put_goes_to_shared_and_comes_back_lifo() {
        let p = Pool::new(|| 0);
        p.put(1);
        p.put(2);
        p.put(3);
        assert_eq!(p.get(), 1); // private
        assert_eq!(p.get(), 3); // shared head
        assert_eq!(p.get(), 2);
        assert_eq!(p.get(), 0);
    }

    #[test]
    fn dropped_pools_leave_the_registry() {
        let p = Pool::new(|| 0u8);
        let w = Arc::downgrade(&p.inner);
        drop(p);
        assert!(w.upgrade().is_none());
        pool_cleanup(); // must skip the dead entry
    }
}
