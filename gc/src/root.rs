//! `Root<T>`: keeping an object alive from where the collector cannot look.
//!
//! The collector finds live objects from roots: goroutine stacks, statics, the
//! Rust heap's blocks (ARCHITECTURE §6; not wired yet) — and these handles. A
//! plain OS thread's stack and thread-locals are never scanned, so a `Gc` kept
//! there must be held through a [`Root<T>`]: a registered slot in a [`RootSet`]
//! that every mark reads ([`RootSet::for_each`]). `Root<T>` is `Send + Sync` and
//! `Clone`: the currency for handing an object to a thread the runtime does not
//! run. Dropping the last handle lets the object go.
//!
//! Go has no such handle (it sees every thread's stack); the closest are
//! `runtime.Pinner` and cgo handles (`runtime/cgo.Handle`), a registered table of
//! values the collector treats as roots.
//!
//! # Design
//!
//! A root set is a slab of words under a mutex: registering takes a free slot
//! (or appends one), dropping zeroes it and frees it. The mark reads the slab
//! under the same lock. Registration is a slow path (a lock per handle), and the
//! mark runs with the world stopped in part 1; a thread that registers a root
//! while a mark reads the set waits for it. Part 2 will shade the pointer of a
//! root registered during a concurrent mark (ARCHITECTURE §6, "the same for
//! `Root::new`").

use crate::gc::Gc;
use crate::trace::Trace;
use parking_lot::Mutex;
use std::sync::{Arc, OnceLock};

/// A table of root pointers the mark reads.
///
/// ```
/// use gort_gc::{Gc, Root, RootSet};
/// let set = RootSet::new();
/// let r = Root::new_in(&set, Gc::new(5u64));
/// let mut seen = Vec::new();
/// set.for_each(|p| seen.push(p));
/// assert_eq!(seen, [Gc::addr(r.get())]);
/// drop(r);
/// assert!(set.is_empty());
/// ```
pub struct RootSet {
    slots: Mutex<Slab>,
}

#[derive(Default)]
struct Slab {
    /// An object's address, or 0 in a free slot.
    words: Vec<usize>,
    /// Indices of free slots.
    free: Vec<usize>,
}

impl RootSet {
    /// An empty root set.
    ///
    /// ```
    /// assert!(gort_gc::RootSet::new().is_empty());
    /// ```
    pub fn new() -> Arc<RootSet> {
        Arc::new(RootSet {
            slots: Mutex::new(Slab::default()),
        })
    }

    /// The process-wide root set, which [`Root::new`] registers in.
    ///
    /// ```
    /// let a = gort_gc::RootSet::global();
    /// assert!(std::sync::Arc::ptr_eq(a, gort_gc::RootSet::global()));
    /// ```
    pub fn global() -> &'static Arc<RootSet> {
        static GLOBAL: OnceLock<Arc<RootSet>> = OnceLock::new();
        GLOBAL.get_or_init(RootSet::new)
    }

    /// Calls `f` with every registered root's address, under the set's lock
    /// (the mark's `markroot` job for these roots).
    ///
    /// ```
    /// let set = gort_gc::RootSet::new();
    /// let _r = gort_gc::Root::new_in(&set, gort_gc::Gc::new(1u8));
    /// let mut n = 0;
    /// set.for_each(|_| n += 1);
    /// assert_eq!(n, 1);
    /// ```
    pub fn for_each(&self, mut f: impl FnMut(usize)) {
        let slab = self.slots.lock();
        for &w in &slab.words {
            if w != 0 {
                f(w);
            }
        }
    }

    /// Roots registered now.
    ///
    /// ```
    /// let set = gort_gc::RootSet::new();
    /// let r = gort_gc::Root::new_in(&set, gort_gc::Gc::new(1u8));
    /// let r2 = r.clone();
    /// assert_eq!(set.len(), 2);
    /// # drop((r, r2));
    /// ```
    pub fn len(&self) -> usize {
        let slab = self.slots.lock();
        slab.words.len() - slab.free.len()
    }

    /// Whether no root is registered.
    ///
    /// ```
    /// assert!(gort_gc::RootSet::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn register(&self, addr: usize) -> usize {
        let mut slab = self.slots.lock();
        match slab.free.pop() {
            Some(i) => {
                slab.words[i] = addr;
                i
            }
            None => {
                slab.words.push(addr);
                slab.words.len() - 1
            }
        }
    }

    fn unregister(&self, i: usize) {
        let mut slab = self.slots.lock();
        slab.words[i] = 0;
        slab.free.push(i);
    }
}

/// A handle that keeps a GC object alive from anywhere, including threads the
/// collector does not scan. `Send + Sync + Clone`; `Deref` to `T`.
///
/// ```
/// use gort_gc::{Gc, Root};
/// let r = Root::new(Gc::new(String::from("kept")));
/// let t = std::thread::spawn(move || r.len()); // a plain thread: use a Root
/// assert_eq!(t.join().unwrap(), 4);
/// ```
pub struct Root<T: Trace> {
    set: Arc<RootSet>,
    index: usize,
    gc: Gc<T>,
}

impl<T: Trace> Root<T> {
    /// Roots `gc` in the process-wide set.
    ///
    /// ```
    /// let r = gort_gc::Root::new(gort_gc::Gc::new(3u8));
    /// assert_eq!(*r, 3);
    /// ```
    pub fn new(gc: Gc<T>) -> Root<T> {
        Root::new_in(RootSet::global(), gc)
    }

    /// Roots `gc` in `set`.
    ///
    /// ```
    /// let set = gort_gc::RootSet::new();
    /// let r = gort_gc::Root::new_in(&set, gort_gc::Gc::new(3u8));
    /// assert_eq!(set.len(), 1);
    /// # drop(r);
    /// ```
    pub fn new_in(set: &Arc<RootSet>, gc: Gc<T>) -> Root<T> {
        let index = set.register(Gc::addr(gc));
        Root {
            set: set.clone(),
            index,
            gc,
        }
    }

    /// The object's handle.
    ///
    /// ```
    /// use gort_gc::{Gc, Root};
    /// let g = Gc::new(1u64);
    /// assert!(Gc::ptr_eq(Root::new(g).get(), g));
    /// ```
    pub fn get(&self) -> Gc<T> {
        self.gc
    }
}

impl<T: Trace> Clone for Root<T> {
    fn clone(&self) -> Root<T> {
        Root::new_in(&self.set, self.gc)
    }
}

impl<T: Trace> Drop for Root<T> {
    fn drop(&mut self) {
        self.set.unregister(self.index);
    }
}

impl<T: Trace> std::ops::Deref for Root<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.gc
    }
}

impl<T: Trace + std::fmt::Debug> std::fmt::Debug for Root<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Root").field(&*self.gc).finish()
    }
}
