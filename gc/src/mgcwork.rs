//! Mark work: work buffers, the global full and empty lists, and `gcWork`.
//!
//! Models `runtime/mgcwork.go` (`workbuf`, `gcWork` with `put`, `tryGet`,
//! `balance`, `dispose`, `getempty`, `putempty`, `putfull`, `trygetfull`,
//! `handoff`), `runtime/lfstack.go` (the lock-free stack), and Go 1.4's
//! `getfull` (how parallel markers agree that the mark is over).
//!
//! # Design
//!
//! Grey objects — marked, not yet scanned — wait in *work buffers* of
//! [`WORKBUF_OBJS`] addresses (2 KiB each, as in Go). Each marker owns a
//! [`GcWork`]: two buffers, `wbuf1` and `wbuf2`, used as a stack (`put`/`get`
//! on `wbuf1`; when it is full or empty, swap with `wbuf2`, and only when both
//! are, go to the global lists). Two buffers instead of one keep a marker that
//! hovers at a buffer boundary from trading buffers with the lists on every
//! object (Go's comment in `mgcwork.go`). The global lists are two lock-free
//! stacks, `full` and `empty`; a marker with nothing left takes a full buffer,
//! and one with work to spare ([`GcWork::balance`]) gives one up when the full
//! list is empty, so idle markers get something to do.
//!
//! Buffers come from a pool of 32 KiB chunks that is never shrunk while the
//! [`Work`] lives (Go allocates workbufs in 32 KiB batches from spans that it
//! frees only between cycles). A buffer is named by its index in the pool, and
//! the lock-free stacks hold indices, never pointers.
//!
//! # The lock-free stack (`lfstack`)
//!
//! `head` is one 64-bit word: the index + 1 of the top buffer (0: empty) in the
//! low half, a push/pop count in the high half. Push: read `head`, store it as
//! the buffer's `next`, CAS `head` from the old word to (count + 1, buffer).
//! Pop: read `head`, read the top buffer's `next`, CAS `head` to (count + 1,
//! next). The count is what makes pop safe: between a popper's read of the top
//! buffer's `next` and its CAS, another thread may pop that buffer, use it and
//! push it back with a different `next` — the same index on top, so a CAS on
//! the index alone would succeed and install a stale `next` (the ABA problem).
//! The count changed, so the CAS fails. Go packs a count into the pointer's
//! unused bits instead; indices leave 32 bits for it. `next` is an atomic
//! because that popper reads it while its new owner may write it.
//!
//! Ordering: a push publishes the buffer's contents with the release of its
//! successful CAS; a pop acquires with its own. A buffer belongs to exactly
//! one party at a time — a `GcWork`, or a list — so its contents need no
//! atomics (a loom-checked `UnsafeCell`).
//!
//! # When is the mark over (`getfull`)
//!
//! With several markers draining at once, a marker that finds no work may not
//! stop: another may be about to publish some. Go 1.4 counted the waiting
//! markers (`work.nwait` out of `work.nproc`): a marker with nothing to do
//! increments `nwait` and waits, looking at the full list; it takes a buffer if
//! one appears (decrementing `nwait` first). Once `nwait == nproc` with the
//! full list empty, every marker is waiting with empty buffers, so no one can
//! produce work again: all return. Go since 1.5 stops the drain differently
//! (`gcMarkDone`'s ragged barrier, needed once mutators also produce work
//! through the write barrier); with the world stopped this is the simpler
//! protocol, and part 2 replaces it.
//!
//! The loom models at the bottom check the stack (no buffer lost or popped
//! twice under racing pushes and pops) and the termination (every object
//! scanned exactly once, every marker returns only when all work is done).

use crate::loom::atomic::{AtomicPtr, AtomicU32, AtomicU64, Ordering};
use crate::loom::{spin_wait, Mutex, UnsafeCell};

/// Addresses per work buffer: a 2 KiB buffer less its 16-byte header (Go's
/// `workbuf` holds 253 behind a 24-byte header). Tiny under loom, so that
/// models fill and trade buffers.
///
/// ```
/// assert_eq!(gort_gc::WORKBUF_OBJS, 254);
/// ```
#[cfg(not(loom))]
pub const WORKBUF_OBJS: usize = (2048 - 16) / 8;
/// Addresses per work buffer (tiny under loom: models fill and trade buffers).
#[cfg(loom)]
pub const WORKBUF_OBJS: usize = 2;

/// Buffers per pool chunk (32 KiB, Go's `workbufAlloc`).
#[cfg(not(loom))]
const CHUNK_BUFS: usize = 16;
#[cfg(loom)]
const CHUNK_BUFS: usize = 2;

/// Chunks a pool may hold: 2^16 × 32 KiB = 2 GiB of buffers, 266 million grey
/// objects at once. (The chunk table is 512 KiB of address space; under Miri,
/// which initialises every entry slowly, 2 MiB of buffers.)
#[cfg(all(not(loom), not(miri)))]
const MAX_CHUNKS: usize = 1 << 16;
#[cfg(all(not(loom), miri))]
const MAX_CHUNKS: usize = 64;
#[cfg(loom)]
const MAX_CHUNKS: usize = 4;

/// A buffer's contents: owned by whoever holds the buffer.
struct WorkbufData {
    nobj: usize,
    obj: [usize; WORKBUF_OBJS],
}

/// A work buffer (Go's `workbuf`).
struct Workbuf {
    /// The next buffer's index + 1 on the list holding this one (0: last).
    /// Written by the pusher, read by poppers (possibly racing a later owner).
    next: AtomicU32,
    data: UnsafeCell<WorkbufData>,
}

type Chunk = [Workbuf; CHUNK_BUFS];

/// The buffers: chunks reached by index without a lock, added under one.
struct Pool {
    /// `chunks[i]`: set once (release) when chunk `i` is made, never changed.
    chunks: Box<[AtomicPtr<Chunk>]>,
    /// Buffers handed out so far.
    nbufs: Mutex<usize>,
}

impl Pool {
    fn new() -> Pool {
        Pool {
            chunks: (0..MAX_CHUNKS)
                .map(|_| AtomicPtr::new(std::ptr::null_mut()))
                .collect(),
            nbufs: Mutex::new(0),
        }
    }

    /// Buffer `i`, which was handed out (its chunk published before).
    #[inline]
    fn get(&self, i: u32) -> &Workbuf {
        let i = i as usize;
        let c = self.chunks[i / CHUNK_BUFS].load(Ordering::Acquire);
        debug_assert!(!c.is_null());
        // SAFETY: index `i` was handed out by `alloc`, which published its chunk
        // (release, acquired above); chunks are freed only with the pool.
        unsafe { &(*c)[i % CHUNK_BUFS] }
    }

    /// A fresh buffer, making a chunk if needed.
    fn alloc(&self) -> u32 {
        let mut n = self.nbufs.lock();
        let i = *n;
        if i.is_multiple_of(CHUNK_BUFS) {
            assert!(
                i / CHUNK_BUFS < MAX_CHUNKS,
                "gort-gc: out of mark work buffers ({i} in use)"
            );
            let chunk: Box<Chunk> = Box::new(std::array::from_fn(|_| Workbuf {
                next: AtomicU32::new(0),
                data: UnsafeCell::new(WorkbufData {
                    nobj: 0,
                    obj: [0; WORKBUF_OBJS],
                }),
            }));
            self.chunks[i / CHUNK_BUFS].store(Box::into_raw(chunk), Ordering::Release);
        }
        *n += 1;
        i as u32
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        for c in self.chunks.iter() {
            let p = c.load(Ordering::Relaxed);
            if !p.is_null() {
                // SAFETY: from `Box::into_raw` in `alloc`, freed once, here; no
                // buffer is in use once the pool is dropped (`&mut self`).
                drop(unsafe { Box::from_raw(p) });
            }
        }
    }
}

/// A lock-free stack of buffers (Go's `lfstack`; see the module comment).
struct LfStack {
    /// (count << 32) | (index + 1 of the top buffer, 0: empty).
    head: AtomicU64,
}

impl LfStack {
    fn new() -> LfStack {
        LfStack {
            head: AtomicU64::new(0),
        }
    }

    fn push(&self, pool: &Pool, i: u32) {
        let node = pool.get(i);
        let mut old = self.head.load(Ordering::Relaxed);
        loop {
            node.next.store(old as u32, Ordering::Relaxed);
            let new = ((old >> 32).wrapping_add(1) << 32) | (i as u64 + 1);
            // Release: whoever pops this buffer sees what we wrote into it.
            match self
                .head
                .compare_exchange_weak(old, new, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(cur) => old = cur,
            }
        }
    }

    fn pop(&self, pool: &Pool) -> Option<u32> {
        let mut old = self.head.load(Ordering::Acquire);
        loop {
            let top = old as u32;
            if top == 0 {
                return None;
            }
            // May be stale if the buffer was popped meanwhile: then the count
            // moved and the CAS below fails.
            let next = pool.get(top - 1).next.load(Ordering::Relaxed);
            let new = ((old >> 32).wrapping_add(1) << 32) | next as u64;
            match self
                .head
                .compare_exchange_weak(old, new, Ordering::Acquire, Ordering::Acquire)
            {
                Ok(_) => return Some(top - 1),
                Err(cur) => old = cur,
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.head.load(Ordering::Acquire) as u32 == 0
    }
}

/// The mark's shared state: the buffer pool and lists, the markers' count, and
/// the bytes marked (Go's `work` and `gcController.heapMarked`).
///
/// ```
/// let work = gort_gc::Work::new();
/// let mut gcw = gort_gc::GcWork::new(&work);
/// gcw.put(0x1000);
/// assert_eq!(gcw.try_get(), Some(0x1000));
/// ```
pub struct Work {
    pool: Pool,
    full: LfStack,
    empty: LfStack,
    /// Markers taking part in this mark (Go's `work.nproc`).
    nproc: AtomicU32,
    /// Of those, markers waiting for work in `getfull` (Go's `work.nwait`).
    nwait: AtomicU32,
    /// Bytes of objects marked, flushed from each `GcWork` (Go's
    /// `work.bytesMarked`).
    bytes_marked: AtomicU64,
}

impl Default for Work {
    fn default() -> Self {
        Work::new()
    }
}

impl Work {
    /// Empty lists and no buffers yet.
    ///
    /// ```
    /// assert_eq!(gort_gc::Work::new().bytes_marked(), 0);
    /// ```
    pub fn new() -> Work {
        Work {
            pool: Pool::new(),
            full: LfStack::new(),
            empty: LfStack::new(),
            nproc: AtomicU32::new(1),
            nwait: AtomicU32::new(0),
            bytes_marked: AtomicU64::new(0),
        }
    }

    /// Starts a mark with `nproc` markers draining in parallel (their
    /// [`GcWork::gc_drain`]s return when all of them run out of work), and
    /// resets the bytes-marked count.
    ///
    /// ```
    /// let work = gort_gc::Work::new();
    /// work.start(2);
    /// assert_eq!(work.bytes_marked(), 0);
    /// ```
    pub fn start(&self, nproc: usize) {
        assert!(nproc > 0, "gort-gc: a mark needs at least one marker");
        debug_assert!(self.full.is_empty(), "a new mark found grey objects left");
        self.nproc.store(nproc as u32, Ordering::Relaxed);
        self.nwait.store(0, Ordering::Relaxed);
        self.bytes_marked.store(0, Ordering::Relaxed);
    }

    /// Bytes of the objects marked so far, from the `GcWork`s disposed (Go's
    /// `work.bytesMarked`, the heap's live size for the pacer and gctrace).
    ///
    /// ```
    /// let work = gort_gc::Work::new();
    /// assert_eq!(work.bytes_marked(), 0);
    /// ```
    pub fn bytes_marked(&self) -> u64 {
        self.bytes_marked.load(Ordering::Relaxed)
    }

    /// Whether no full buffer waits on the global list (Go's `work.full == 0`).
    pub(crate) fn full_list_is_empty(&self) -> bool {
        self.full.is_empty()
    }

    /// A buffer from the empty list, or a new one (Go's `getempty`).
    fn getempty(&self) -> u32 {
        self.empty
            .pop(&self.pool)
            .unwrap_or_else(|| self.pool.alloc())
    }

    /// A full buffer, if any (Go's `trygetfull`).
    fn trygetfull(&self) -> Option<u32> {
        self.full.pop(&self.pool)
    }

    /// A full buffer, waiting while other markers may still produce one; `None`
    /// once every marker is waiting and no buffer is left (Go 1.4's
    /// `getfull`; module comment).
    fn getfull(&self) -> Option<u32> {
        if let Some(b) = self.trygetfull() {
            return Some(b);
        }
        let n = self.nwait.fetch_add(1, Ordering::AcqRel) + 1;
        assert!(
            n <= self.nproc.load(Ordering::Relaxed),
            "gort-gc: more markers waiting than taking part (Work::start)"
        );
        loop {
            if !self.full.is_empty() {
                self.nwait.fetch_sub(1, Ordering::AcqRel);
                if let Some(b) = self.trygetfull() {
                    return Some(b);
                }
                self.nwait.fetch_add(1, Ordering::AcqRel);
            }
            if self.nwait.load(Ordering::Acquire) == self.nproc.load(Ordering::Relaxed)
                && self.full.is_empty()
            {
                return None;
            }
            spin_wait();
        }
    }
}

/// A buffer held by a `GcWork`.
#[derive(Clone, Copy)]
struct Held<'w> {
    index: u32,
    buf: &'w Workbuf,
}

impl Held<'_> {
    #[inline(always)]
    fn nobj(&self) -> usize {
        // SAFETY: the holder owns the buffer (module comment): no one else
        // touches its contents.
        self.buf.data.with(|d| unsafe { (*d).nobj })
    }
    #[inline(always)]
    fn push(&self, obj: usize) {
        // SAFETY: as in `nobj`; the caller checked there is room.
        self.buf.data.with_mut(|d| unsafe {
            let d = &mut *d;
            d.obj[d.nobj] = obj;
            d.nobj += 1;
        })
    }
    #[inline(always)]
    fn pop(&self) -> usize {
        // SAFETY: as in `nobj`; the caller checked it is not empty.
        self.buf.data.with_mut(|d| unsafe {
            let d = &mut *d;
            d.nobj -= 1;
            d.obj[d.nobj]
        })
    }
}

/// One marker's grey objects: two work buffers and the bytes it marked (Go's
/// per-P `gcWork`). Dropping it flushes everything to the [`Work`].
///
/// ```
/// let work = gort_gc::Work::new();
/// let mut gcw = gort_gc::GcWork::new(&work);
/// for i in 1..=1000 {
///     gcw.put(i * 8);
/// }
/// let mut n = 0;
/// while gcw.try_get().is_some() {
///     n += 1;
/// }
/// assert_eq!(n, 1000);
/// ```
pub struct GcWork<'w> {
    pub(crate) work: &'w Work,
    wbuf1: Option<Held<'w>>,
    wbuf2: Option<Held<'w>>,
    /// Bytes marked by this marker, not yet added to `work.bytes_marked`.
    pub(crate) bytes_marked: u64,
}

impl<'w> GcWork<'w> {
    /// A marker's work, with no buffers yet (they are taken on first use).
    ///
    /// ```
    /// let work = gort_gc::Work::new();
    /// assert!(gort_gc::GcWork::new(&work).is_empty());
    /// ```
    pub fn new(work: &'w Work) -> GcWork<'w> {
        GcWork {
            work,
            wbuf1: None,
            wbuf2: None,
            bytes_marked: 0,
        }
    }

    fn hold(&self, index: u32) -> Held<'w> {
        Held {
            index,
            buf: self.work.pool.get(index),
        }
    }

    /// Takes two empty buffers (Go's `gcWork.init`).
    fn init(&mut self) -> (Held<'w>, Held<'w>) {
        let b1 = self.hold(self.work.getempty());
        let b2 = self.hold(self.work.getempty());
        self.wbuf1 = Some(b1);
        self.wbuf2 = Some(b2);
        (b1, b2)
    }

    /// Queues a grey object (Go's `gcWork.put`).
    ///
    /// ```
    /// let work = gort_gc::Work::new();
    /// let mut gcw = gort_gc::GcWork::new(&work);
    /// gcw.put(0x40);
    /// assert!(!gcw.is_empty());
    /// ```
    #[inline]
    pub fn put(&mut self, obj: usize) {
        let mut b = match self.wbuf1 {
            Some(b) => b,
            None => self.init().0,
        };
        if b.nobj() == WORKBUF_OBJS {
            std::mem::swap(&mut self.wbuf1, &mut self.wbuf2);
            b = self.wbuf1.expect("initialised");
            if b.nobj() == WORKBUF_OBJS {
                self.work.full.push(&self.work.pool, b.index);
                b = self.hold(self.work.getempty());
                self.wbuf1 = Some(b);
            }
        }
        b.push(obj);
    }

    /// A grey object from this marker's buffers, else from the full list, if
    /// any (Go's `gcWork.tryGet`).
    ///
    /// ```
    /// let work = gort_gc::Work::new();
    /// let mut gcw = gort_gc::GcWork::new(&work);
    /// assert_eq!(gcw.try_get(), None);
    /// ```
    #[inline]
    pub fn try_get(&mut self) -> Option<usize> {
        self.get(false)
    }

    /// `try_get`, or with `wait`, Go 1.4's `getfull` for the global step:
    /// waits while other markers may still produce work.
    #[inline]
    pub(crate) fn get(&mut self, wait: bool) -> Option<usize> {
        let mut b = match self.wbuf1 {
            Some(b) => b,
            None => self.init().0,
        };
        if b.nobj() == 0 {
            std::mem::swap(&mut self.wbuf1, &mut self.wbuf2);
            b = self.wbuf1.expect("initialised");
            if b.nobj() == 0 {
                let got = if wait {
                    self.work.getfull()
                } else {
                    self.work.trygetfull()
                };
                let full = self.hold(got?);
                self.work.empty.push(&self.work.pool, b.index);
                self.wbuf1 = Some(full);
                b = full;
            }
        }
        Some(b.pop())
    }

    /// Whether this marker holds no grey object.
    ///
    /// ```
    /// let work = gort_gc::Work::new();
    /// let mut gcw = gort_gc::GcWork::new(&work);
    /// gcw.put(8);
    /// gcw.try_get();
    /// assert!(gcw.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.wbuf1.is_none_or(|b| b.nobj() == 0) && self.wbuf2.is_none_or(|b| b.nobj() == 0)
    }

    /// Gives work to the full list for idle markers, if it is empty: the
    /// second buffer if it has any, else half of the first (Go's
    /// `gcWork.balance` and `handoff`).
    ///
    /// ```
    /// let work = gort_gc::Work::new();
    /// let mut a = gort_gc::GcWork::new(&work);
    /// (1..=10).for_each(|i| a.put(i * 8));
    /// a.balance();
    /// let mut b = gort_gc::GcWork::new(&work);
    /// assert_eq!(b.try_get(), Some(40), "b got the older half");
    /// ```
    pub fn balance(&mut self) {
        if !self.work.full.is_empty() {
            return;
        }
        let (Some(b1), Some(b2)) = (self.wbuf1, self.wbuf2) else {
            return;
        };
        if b2.nobj() != 0 {
            self.work.full.push(&self.work.pool, b2.index);
            self.wbuf2 = Some(self.hold(self.work.getempty()));
        } else if b1.nobj() > 4 {
            // Go's handoff: keep the newer half (LIFO), give the older.
            let keep = self.hold(self.work.getempty());
            let n = b1.nobj() / 2;
            let mut moved = [0usize; WORKBUF_OBJS];
            for m in moved.iter_mut().take(n) {
                *m = b1.pop();
            }
            for &m in moved[..n].iter().rev() {
                keep.push(m);
            }
            self.work.full.push(&self.work.pool, b1.index);
            self.wbuf1 = Some(keep);
        }
    }

    /// Returns both buffers to the lists (full or empty) and adds the bytes
    /// marked to the `Work` (Go's `gcWork.dispose`). Dropping does the same.
    ///
    /// ```
    /// let work = gort_gc::Work::new();
    /// let mut a = gort_gc::GcWork::new(&work);
    /// a.put(8);
    /// a.dispose();
    /// assert_eq!(gort_gc::GcWork::new(&work).try_get(), Some(8));
    /// ```
    pub fn dispose(&mut self) {
        for b in [self.wbuf1.take(), self.wbuf2.take()].into_iter().flatten() {
            if b.nobj() == 0 {
                self.work.empty.push(&self.work.pool, b.index);
            } else {
                self.work.full.push(&self.work.pool, b.index);
            }
        }
        self.work
            .bytes_marked
            .fetch_add(std::mem::take(&mut self.bytes_marked), Ordering::Relaxed);
    }
}

impl Drop for GcWork<'_> {
    fn drop(&mut self) {
        self.dispose();
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn buffers_overflow_to_the_full_list_and_come_back() {
        let work = Work::new();
        let n = WORKBUF_OBJS * 5 + 3;
        {
            let mut a = GcWork::new(&work);
            for i in 0..n {
                a.put(i);
            }
            assert!(
                !work.full.is_empty(),
                "two buffers cannot hold 5 buffers' worth"
            );
        }
        let mut b = GcWork::new(&work);
        let mut got: Vec<usize> = std::iter::from_fn(|| b.try_get()).collect();
        got.sort();
        assert_eq!(got, (0..n).collect::<Vec<_>>());
        assert!(work.full.is_empty());
    }

    #[test]
    fn lfstack_pops_in_lifo_order_and_reuses_buffers() {
        let work = Work::new();
        let ids: Vec<u32> = (0..40).map(|_| work.pool.alloc()).collect();
        for &i in &ids {
            work.full.push(&work.pool, i);
        }
        let popped: Vec<u32> = std::iter::from_fn(|| work.full.pop(&work.pool)).collect();
        assert_eq!(popped, ids.iter().rev().copied().collect::<Vec<_>>());
        // A popped buffer comes back from the empty list before new ones.
        work.empty.push(&work.pool, 7);
        assert_eq!(work.getempty(), 7);
        assert_eq!(work.getempty(), 40);
    }

    #[test]
    fn parallel_producers_and_consumers_lose_nothing() {
        let work = Work::new();
        let per = if cfg!(miri) { 600 } else { 20_000 };
        std::thread::scope(|s| {
            for t in 0..2 {
                let work = &work;
                s.spawn(move || {
                    let mut g = GcWork::new(work);
                    for i in 0..per {
                        g.put(t * per + i);
                        if i % 100 == 0 {
                            g.balance();
                        }
                    }
                });
            }
        });
        let mut g = GcWork::new(&work);
        let mut got: Vec<usize> = std::iter::from_fn(|| g.try_get()).collect();
        got.sort();
        assert_eq!(got, (0..2 * per).collect::<Vec<_>>());
    }
}

#[cfg(all(test, loom))]
mod loom_models {
    use super::*;
    use loom::sync::atomic::AtomicUsize;
    use loom::sync::Arc;

    /// The ABA pattern: while one thread pops, another pops two buffers and
    /// pushes the first back, so the same buffer is on top again with another
    /// `next`. Every buffer must end up with exactly one owner (a thread or
    /// the stack): without the count in `head`, the first popper's CAS would
    /// succeed and put the second thread's buffer back on the stack.
    #[test]
    fn loom_lfstack_aba_no_loss_no_duplicate() {
        loom::model(|| {
            let work = Arc::new(Work::new());
            let ids: Vec<u32> = (0..3).map(|_| work.pool.alloc()).collect();
            for &i in &ids {
                work.full.push(&work.pool, i);
            }
            let w2 = work.clone();
            let t = loom::thread::spawn(move || {
                let x = w2.full.pop(&w2.pool);
                let y = w2.full.pop(&w2.pool);
                if let Some(x) = x {
                    w2.full.push(&w2.pool, x);
                }
                y
            });
            let mine = work.full.pop(&work.pool);
            let theirs = t.join().unwrap();
            let mut all: Vec<u32> = [mine, theirs].into_iter().flatten().collect();
            all.extend(std::iter::from_fn(|| work.full.pop(&work.pool)));
            all.sort();
            assert_eq!(all, ids);
        });
    }

    /// Two markers drain a graph where scanning an object greys others (five
    /// objects in all); only one marker starts with work. Both must return,
    /// having scanned every object exactly once between them, and neither may
    /// return before every object is scanned (`getfull`'s promise).
    #[test]
    fn loom_getfull_terminates_after_every_object_is_scanned() {
        const N: usize = 5;
        loom::model(|| {
            let work = Arc::new(Work::new());
            work.start(2);
            let scanned: Arc<Vec<AtomicUsize>> =
                Arc::new((0..N).map(|_| AtomicUsize::new(0)).collect());
            let drain = |work: &Work, scanned: &[AtomicUsize], seed: bool| {
                let mut g = GcWork::new(work);
                if seed {
                    g.put(0);
                    g.put(2);
                }
                while let Some(obj) = g.get(true) {
                    scanned[obj].fetch_add(1, Ordering::Relaxed);
                    if obj % 2 == 0 && obj + 1 < N {
                        g.put(obj + 1);
                    }
                    if obj == 2 {
                        g.put(4);
                    }
                    g.balance();
                }
                assert!(g.is_empty());
                // A marker stops only when the whole mark is done: had it quit
                // while another still held work, that work would lose a helper
                // (and in the runtime, mark termination would start early).
                for (i, s) in scanned.iter().enumerate() {
                    assert_eq!(s.load(Ordering::Relaxed), 1, "returned before object {i}");
                }
            };
            let (w2, s2) = (work.clone(), scanned.clone());
            let t = loom::thread::spawn(move || drain(&w2, &s2, false));
            drain(&work, &scanned, true);
            t.join().unwrap();
            for (i, s) in scanned.iter().enumerate() {
                assert_eq!(s.load(Ordering::Relaxed), 1, "object {i}");
            }
        });
    }
}
