//! `select`: wait on several channel operations, take exactly one.
//!
//! Models `runtime/select.go` (`selectgo`, `sellock`, `selunlock`,
//! `selparkcommit`, `block`) and the `selectDone` hand-shake of `chan.go`'s
//! `waitq.dequeue`. The user-facing form is the [`select!`](crate::select) macro,
//! which builds one case object per arm in its own frame and calls [`select`].
//!
//! # Design
//!
//! Each arm becomes a [`RecvCase`] or [`SendCase`]: the channel, the case's
//! `Sudog`, and the value slot (the value to send, or room for the value
//! received). They live in the caller's frame — on the goroutine's stack — and are
//! passed to `select` as an array of type-erased [`Case`]s, so arms of different
//! element types mix freely. `select` then runs Go's `selectgo`:
//!
//! 1. **Poll order**: a random permutation of the cases (`cheaprandn` per M), cases
//!    on a [`never()`](super::never) channel left out — that is what makes the choice
//!    among ready cases uniform.
//! 2. **Lock order**: the cases sorted by channel address; every channel is locked
//!    once, in that order (`sellock`), so two selects over the same channels cannot
//!    deadlock. The locks are held raw (`ChanGuard::into_raw`), listed in a
//!    `LockList` that stands for their guards until `selunlock_raw`, because the
//!    one who releases them may be g0 (step 4). A step on one case that needs its
//!    channel's guard (poll, enqueue, dequeue) borrows it from the list
//!    (`lend_guard`: `from_raw`, the step, `into_raw`).
//! 3. **Pass 1**: the first case ready in poll order completes (the same code as a
//!    non-blocking send/receive, under the lock). None ready: with a `default` arm,
//!    unlock and take it.
//! 4. **Pass 2**: enqueue the case's sudog on every channel — all pointing at one
//!    `SelectDone` record in this frame — and park (`select`); the unlock function
//!    releases every channel lock (`selparkcommit`).
//! 5. A waker on some channel dequeues one of our sudogs. The dequeue CASes the
//!    shared record from 0 to 1 + case index; only one CAS can succeed, so exactly
//!    one channel completes an operation with us, and only that waker readies us.
//!    A waker whose CAS fails drops our sudog from its queue and serves the next
//!    waiter.
//! 6. **Pass 3**: relock everything, take our sudogs out of the other channels'
//!    queues (`dequeueSudoG`; one a loser dropped is already gone), record the
//!    winner's result, unlock.
//!
//! Go keeps the done flag (`g.selectDone`) and the winning sudog (`g.param`) in
//! the `g`; gort keeps both in the `SelectDone` record on the selecting frame,
//! which is valid for as long as any of our sudogs can be found in a queue (see
//! `selparkcommit` for the one subtle point).
//!
//! # What `select!` expands to is not an API
//!
//! The macro needs public items to expand to: [`select`], [`Case`],
//! [`RecvCase`], [`SendCase`], [`SelectRecv`] and [`SelectSend`]. They are
//! reachable only as `gort_runtime::__private::select::*` (this module itself is
//! private), hidden from the docs, and each is safe to misuse: the worst a
//! caller gets is a panic, never undefined behaviour. The case objects check
//! themselves where it matters: a case used in a second select (its value sent
//! or its result received already) panics in `case()`, before any channel is
//! locked — a `SendCase` that sent its value once must not hand the same bytes
//! to a second receiver (that was a double free), and a `RecvCase` must not land
//! a second value on one it still holds. `take` on a case that did not fire
//! panics. `select` itself is safe with any cases: a `Case` can only be made
//! from a live, exclusively borrowed case, so it cannot outlive its channel or
//! be passed twice.
//!
//! # What gort simplifies on purpose
//!
//! * Lock order uses `sort_unstable` (no allocation) instead of Go's hand-written
//!   heap sort; selects have a handful of cases.
//! * No `block profile`, race or `synctest` hooks; no `selectnbsend`/`selectnbrecv`
//!   special cases (a one-case select with `default` is just a select).

use super::{
    block_forever, park, ChanGuard, ChanLock, Commit, HChan, NeverWait, Receiver, RecvPoll,
    SelectDone, SendPoll, Sender, Sudog, Wait, Waiter,
};
use std::mem::MaybeUninit;

/// What pass 1 found for one case, under the locks.
pub(crate) enum Poll {
    NotReady,
    /// Completed; wake this waiter (after unlocking) if any.
    Ready(Option<Waiter>),
    /// A send arm on a closed channel: `select` unlocks and panics.
    SendClosed,
}

/// One arm of a select, type-erased (the element type is the implementor's).
/// The steps that need the channel lock take its guard, `g`.
pub(crate) trait CaseImpl {
    /// The channel's lock, or None for a never-ready channel.
    fn lock(&self) -> Option<&ChanLock>;
    /// Pass 1: the operation, if it can complete now.
    fn poll(&mut self, g: &mut ChanGuard<'_>) -> Poll;
    /// The case's sudog.
    fn sudog(&self) -> &Sudog;
    /// Pass 2: points the sudog at this case's value slot and queues it.
    ///
    /// # Safety
    /// The case does not move, nor is it dropped, until pass 3 has taken the
    /// sudog out again (`HChan::enqueue`).
    unsafe fn enqueue(&mut self, g: &mut ChanGuard<'_>);
    /// Pass 3, losers: takes the sudog out of its queue if still there.
    ///
    /// # Safety
    /// The sudog was queued in pass 2 and this case lost (`HChan::dequeue_sudog`).
    unsafe fn dequeue(&mut self, g: &mut ChanGuard<'_>);
    /// Pass 3, the winner: records the outcome. False for a send woken by close.
    fn complete(&mut self) -> bool;
}

/// One arm handed to [`select`]: a type-erased borrow of a [`RecvCase`] or
/// [`SendCase`]. Built by the `select!` macro; not meant to be used directly.
///
/// ```
/// use gort_runtime::{chan::bounded, __private::select::{select, RecvCase}};
/// let (tx, rx) = bounded::<u8>(1);
/// tx.send(1);
/// let mut c = RecvCase::new(&rx);
/// assert!(select([c.case()], false));
/// assert_eq!(c.take(), Some(1));
/// ```
#[doc(hidden)]
pub struct Case<'a> {
    c: &'a mut dyn CaseImpl,
}

/// Accepts `Receiver<T>` or any reference to one in a `recv(...)` arm.
///
/// ```
/// use gort_runtime::{chan::bounded, __private::select::SelectRecv};
/// let (_tx, rx) = bounded::<u8>(0);
/// let r = &&rx;
/// assert_eq!(SelectRecv::receiver(r).cap(), 0);
/// ```
#[doc(hidden)]
pub trait SelectRecv {
    /// The element type.
    type Item;
    /// The receiver itself.
    fn receiver(&self) -> &Receiver<Self::Item>;
}

impl<T> SelectRecv for Receiver<T> {
    type Item = T;
    fn receiver(&self) -> &Receiver<T> {
        self
    }
}

impl<R: SelectRecv + ?Sized> SelectRecv for &R {
    type Item = R::Item;
    fn receiver(&self) -> &Receiver<R::Item> {
        (**self).receiver()
    }
}

/// Accepts `Sender<T>` or any reference to one in a `send(...)` arm.
///
/// ```
/// use gort_runtime::{chan::bounded, __private::select::SelectSend};
/// let (tx, _rx) = bounded::<u8>(2);
/// assert_eq!(SelectSend::sender(&&tx).cap(), 2);
/// ```
#[doc(hidden)]
pub trait SelectSend {
    /// The element type.
    type Item;
    /// The sender itself.
    fn sender(&self) -> &Sender<Self::Item>;
}

impl<T> SelectSend for Sender<T> {
    type Item = T;
    fn sender(&self) -> &Sender<T> {
        self
    }
}

impl<S: SelectSend + ?Sized> SelectSend for &S {
    type Item = S::Item;
    fn sender(&self) -> &Sender<S::Item> {
        (**self).sender()
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Got {
    Nothing,
    Value,
    Closed,
    Taken,
}

/// A `recv(rx) -> v` arm: the channel, its sudog, and the slot a value lands in.
/// Built by `select!`.
///
/// ```
/// use gort_runtime::{chan::bounded, __private::select::{select, RecvCase}};
/// let (tx, rx) = bounded::<u8>(0);
/// tx.close();
/// let mut c = RecvCase::new(&rx);
/// assert!(select([c.case()], false));
/// assert!(c.fired());
/// assert_eq!(c.take(), None); // closed
/// ```
#[doc(hidden)]
pub struct RecvCase<'a, T> {
    chan: Option<&'a HChan<T>>,
    sg: Sudog,
    slot: MaybeUninit<T>,
    got: Got,
}

impl<'a, T> RecvCase<'a, T> {
    /// A case receiving from `rx` (a `Receiver<T>`, or a reference to one).
    pub fn new<R: SelectRecv<Item = T> + ?Sized>(rx: &'a R) -> Self {
        RecvCase {
            chan: rx.receiver().hchan(),
            sg: Sudog::new(),
            slot: MaybeUninit::uninit(),
            got: Got::Nothing,
        }
    }

    /// This case, type-erased, for [`select`].
    ///
    /// # Panics
    /// If this case already fired in an earlier select (one case, one select).
    pub fn case(&mut self) -> Case<'_> {
        assert!(
            self.got == Got::Nothing,
            "select: a RecvCase used in a second select (it already received)"
        );
        Case { c: self }
    }

    /// Whether this case was the one chosen.
    pub fn fired(&self) -> bool {
        self.got != Got::Nothing
    }

    /// The chosen case's result: the value, or None if the channel was closed.
    ///
    /// # Panics
    /// If the case was not chosen, or the result was already taken.
    pub fn take(&mut self) -> Option<T> {
        match std::mem::replace(&mut self.got, Got::Taken) {
            // SAFETY: `Value` means the slot was written (by pass 1 or a waker).
            Got::Value => Some(unsafe { self.slot.assume_init_read() }),
            Got::Closed => None,
            _ => panic!("select: RecvCase::take on a case that did not fire"),
        }
    }
}

impl<T> CaseImpl for RecvCase<'_, T> {
    fn lock(&self) -> Option<&ChanLock> {
        self.chan.map(|c| c.lock_ref())
    }

    fn poll(&mut self, g: &mut ChanGuard<'_>) -> Poll {
        let c = self.chan.expect("poll on a never channel");
        match c.recv_locked(g) {
            RecvPoll::Value(v, w) => {
                self.slot.write(v);
                self.got = Got::Value;
                Poll::Ready(w)
            }
            RecvPoll::Closed => {
                self.got = Got::Closed;
                Poll::Ready(None)
            }
            RecvPoll::Empty => Poll::NotReady,
        }
    }

    fn sudog(&self) -> &Sudog {
        &self.sg
    }

    unsafe fn enqueue(&mut self, g: &mut ChanGuard<'_>) {
        self.sg.set_elem(self.slot.as_mut_ptr() as *mut ());
        let c = self.chan.expect("enqueue on a never channel");
        // SAFETY: the case, sudog and slot included, stays put until pass 3
        // (contract); this select queues each sudog once.
        unsafe { c.enqueue(g, &self.sg, false) };
    }

    unsafe fn dequeue(&mut self, g: &mut ChanGuard<'_>) {
        let c = self.chan.expect("dequeue on a never channel");
        // SAFETY: queued here in pass 2, not served (contract).
        unsafe { c.dequeue_sudog(g, &self.sg, false) };
    }

    fn complete(&mut self) -> bool {
        self.got = if self.sg.success() {
            Got::Value
        } else {
            Got::Closed
        };
        true
    }
}

impl<T> Drop for RecvCase<'_, T> {
    fn drop(&mut self) {
        if self.got == Got::Value {
            // SAFETY: received and not taken.
            unsafe { self.slot.assume_init_drop() };
        }
    }
}

/// A `send(tx, v)` arm: the channel, its sudog, and the value to send. Built by
/// `select!`. The value is dropped with the case if another arm wins.
///
/// ```
/// use gort_runtime::{chan::bounded, __private::select::{select, SendCase}};
/// let (tx, rx) = bounded::<u8>(1);
/// let mut c = SendCase::new(&tx, 4);
/// assert!(select([c.case()], false));
/// assert!(c.fired());
/// assert_eq!(rx.recv(), Some(4));
/// ```
#[doc(hidden)]
pub struct SendCase<'a, T> {
    chan: Option<&'a HChan<T>>,
    sg: Sudog,
    val: MaybeUninit<T>,
    has_val: bool,
    fired: bool,
}

impl<'a, T> SendCase<'a, T> {
    /// A case sending `v` on `tx` (a `Sender<T>`, or a reference to one).
    pub fn new<S: SelectSend<Item = T> + ?Sized>(tx: &'a S, v: T) -> Self {
        SendCase {
            chan: tx.sender().hchan(),
            sg: Sudog::new(),
            val: MaybeUninit::new(v),
            has_val: true,
            fired: false,
        }
    }

    /// This case, type-erased, for [`select`].
    ///
    /// # Panics
    /// If this case already fired in an earlier select (one case, one select): its
    /// value was sent, or it was woken by `close`. A case whose select panicked
    /// in pass 1 (`send on closed channel`) still holds its value and may be used
    /// again.
    ///
    /// ```should_panic
    /// use gort_runtime::{chan::bounded, __private::select::{select, SendCase}};
    /// let (tx, _rx) = bounded::<Box<u8>>(2);
    /// let mut c = SendCase::new(&tx, Box::new(1));
    /// assert!(select([c.case()], false));
    /// select([c.case()], false); // panics: the box was sent already
    /// ```
    pub fn case(&mut self) -> Case<'_> {
        assert!(
            self.has_val && !self.fired,
            "select: a SendCase used in a second select (its value was sent already)"
        );
        Case { c: self }
    }

    /// Whether this case was the one chosen.
    pub fn fired(&self) -> bool {
        self.fired
    }
}

impl<T> CaseImpl for SendCase<'_, T> {
    fn lock(&self) -> Option<&ChanLock> {
        self.chan.map(|c| c.lock_ref())
    }

    fn poll(&mut self, g: &mut ChanGuard<'_>) -> Poll {
        let c = self.chan.expect("poll on a never channel");
        // `case()` let only a case with its value in; a breach here would mean
        // reading the value twice (a double free), and a panic, even with
        // channel locks held, is the lesser evil.
        assert!(self.has_val, "select: SendCase polled after its value left");
        // SAFETY: `has_val` (checked just above): `val` holds the value.
        let v = unsafe { self.val.assume_init_read() };
        self.has_val = false;
        match c.send_locked(g, v) {
            SendPoll::Done(w) => {
                self.fired = true;
                Poll::Ready(w)
            }
            SendPoll::Full(v) => {
                self.val.write(v);
                self.has_val = true;
                Poll::NotReady
            }
            SendPoll::Closed(v) => {
                self.val.write(v);
                self.has_val = true;
                Poll::SendClosed
            }
        }
    }

    fn sudog(&self) -> &Sudog {
        &self.sg
    }

    unsafe fn enqueue(&mut self, g: &mut ChanGuard<'_>) {
        self.sg.set_elem(self.val.as_mut_ptr() as *mut ());
        let c = self.chan.expect("enqueue on a never channel");
        // SAFETY: the case, sudog and value included, stays put until pass 3
        // (contract); this select queues each sudog once.
        unsafe { c.enqueue(g, &self.sg, true) };
    }

    unsafe fn dequeue(&mut self, g: &mut ChanGuard<'_>) {
        let c = self.chan.expect("dequeue on a never channel");
        // SAFETY: queued here in pass 2, not served (contract).
        unsafe { c.dequeue_sudog(g, &self.sg, true) };
    }

    fn complete(&mut self) -> bool {
        self.fired = true;
        if self.sg.success() {
            // A receiver moved the value out of `val`.
            self.has_val = false;
            true
        } else {
            // Woken by close: the value is still here; Drop frees it.
            false
        }
    }
}

impl<T> Drop for SendCase<'_, T> {
    fn drop(&mut self) {
        if self.has_val {
            // SAFETY: the value is still ours.
            unsafe { self.val.assume_init_drop() };
        }
    }
}

/// The distinct locks of one select, in lock order: a pointer to an array in the
/// selecting frame and its length. Between `sellock` and `selunlock_raw` the
/// listed locks are held **without guards** (each `ChanGuard` was given up with
/// `into_raw`): the list stands for them, because the one who releases them may
/// be g0 (`selparkcommit`), which can be handed only a pointer.
pub(crate) struct LockList {
    locks: *const *const ChanLock,
    n: usize,
}

/// `sellock`: takes every lock, in address order, and leaves each held raw for
/// `selunlock_raw` to release.
///
/// # Safety
/// `l` and the locks it lists are valid.
unsafe fn sellock(l: &LockList) {
    for i in 0..l.n {
        // SAFETY: `i < n` entries of a valid list (contract); the locks are in
        // channels borrowed by the select's cases.
        let lock = unsafe { &**l.locks.add(i) };
        // The raw hand-off; the pointer returned is `locks[i]` itself.
        let _ = lock.lock().into_raw();
    }
}

/// `selunlock`: releases every lock in `*l`, each by taking its guard back
/// (`ChanGuard::from_raw`) and dropping it. Run by the select itself, or by g0 for
/// a parked select (`selparkcommit`); it touches nothing of `*l` after the last
/// release.
///
/// # Safety
/// Every lock in `*l` is held raw, by `sellock(l)`, and not released since;
/// `*l` is valid until the last of them is released.
pub(crate) unsafe fn selunlock_raw(l: *const LockList) {
    // SAFETY: valid until the last unlock (contract); read before any unlock.
    let (locks, n) = unsafe { ((*l).locks, (*l).n) };
    for i in 0..n {
        // SAFETY: `locks[i..n]` are still held, so the list is still valid
        // (contract) when we read entry i; that lock was left held by `sellock`'s
        // `into_raw` and this is its one release. After the last release the loop
        // ends without reading anything more.
        drop(unsafe { ChanGuard::from_raw(*locks.add(i)) });
    }
}

/// Lends `step` the guard of `lock`, one of the locks a `LockList` holds raw:
/// made back from the raw lock (`ChanGuard::from_raw`), and given up again
/// (`into_raw`) when `step` returns, so that the lock stays held and the list
/// still stands for it. This is how a select's case steps get the proof that
/// their channel is locked.
///
/// # Safety
/// `lock` is listed in a `LockList` whose locks `sellock` left held raw, none
/// released since, and no guard for it is out (lends do not nest). `step` leaves
/// the guard in place: swapping another guard into `g` would leave that lock
/// held raw and release `lock` behind the list's back.
unsafe fn lend_guard<R>(lock: *const ChanLock, step: impl FnOnce(&mut ChanGuard<'_>) -> R) -> R {
    // SAFETY: select's lock list: `sellock` took `lock` and gave its guard up
    // with `into_raw`; nothing has released it, it is in a channel a case
    // borrows, and no other guard for it exists (contract). So this makes its one
    // guard, and `into_raw` below gives it up again before anyone could make
    // another.
    let mut g = unsafe { ChanGuard::from_raw(lock) };
    let r = step(&mut g);
    let _ = g.into_raw();
    r
}

/// g0's half of a select's park (`selparkcommit`): releases every channel lock.
///
/// # Safety
///
/// `data` is a `LockList` **on the parked goroutine's own stack**, which
/// `gopark`'s contract normally forbids, because the goroutine may be resumed on
/// another M as soon as it is published. Here it is sound, by Go's argument:
/// the goroutine's sudogs are published in the channel queues, and the first waker
/// may ready it as soon as we release that waker's channel lock — but a woken
/// select goroutine's first act is `sellock`, which takes **every** lock in the
/// list, so it cannot get past `sellock` (let alone return and free its frame)
/// while this function still holds any of them. While we hold at least one, the
/// list, the locks it names (in channels borrowed by the frame) and the frame
/// itself are therefore alive, and the goroutine only reads the list. The
/// function reads entry `i` while it still holds `locks[i..]`, and after the
/// final `unlock` it touches nothing — neither the list nor the goroutine's
/// stack. Every lock in the list was taken by the goroutine's `sellock` and left
/// held raw through pass 1 and pass 2, so this is their one release.
#[cfg(not(loom))]
pub(crate) unsafe fn selparkcommit(data: *const (), _gp: &'static crate::proc::g::G) -> bool {
    // SAFETY: `data` is the parked select's `LockList`, every lock held raw since
    // its `sellock`, and valid while we hold any of them (see above).
    unsafe { selunlock_raw(data as *const LockList) };
    true
}

/// A number in `[0, n)`: Go's `cheaprandn`, from the M's generator on a gort
/// thread, from a per-thread one elsewhere. Under loom, always 0 (the model
/// explores interleavings, not poll orders).
fn cheaprandn(n: usize) -> usize {
    #[cfg(not(loom))]
    {
        let r = match crate::proc::m::getm() {
            Some(m) => m.cheaprand(),
            None => thread_rand(),
        };
        ((r as u64 * n as u64) >> 32) as usize
    }
    #[cfg(loom)]
    {
        let _ = n;
        0
    }
}

/// A xorshift generator for threads outside the runtime (no migration there, so a
/// thread-local is fine).
#[cfg(not(loom))]
fn thread_rand() -> u32 {
    use std::cell::Cell;
    std::thread_local! {
        static STATE: Cell<u64> = Cell::new({
            // Miri isolates the program from the clock: a fixed seed there.
            #[cfg(miri)]
            let seed = 0x9E37_79B9_7F4A_7C15;
            #[cfg(not(miri))]
            let seed = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            seed | 1
        });
    }
    STATE.with(|s| {
        let mut x = s.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        s.set(x);
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32) as u32
    })
}

/// `selectgo`: runs one select over `cases`; returns false if the `default` arm
/// (allowed when `has_default`) was taken, true if a case fired (ask each case
/// with `fired()`). Called by `select!`.
///
/// # Panics
/// `send on closed channel` if the chosen case is a send on a closed channel (in
/// pass 1, or woken by `close` while parked).
///
/// ```
/// use gort_runtime::{chan::bounded, __private::select::{select, RecvCase, SendCase}};
/// let (tx, rx) = bounded::<u8>(0);
/// let (tx2, _rx2) = bounded::<&str>(1);
/// let mut a = RecvCase::new(&rx);
/// let mut b = SendCase::new(&tx2, "ok");
/// assert!(select([a.case(), b.case()], false)); // only b is ready
/// assert!(b.fired() && !a.fired());
/// let _ = tx;
/// ```
#[doc(hidden)]
pub fn select<const N: usize>(mut cases: [Case<'_>; N], has_default: bool) -> bool {
    super::preempt_check();
    if N == 0 {
        if has_default {
            return false;
        }
        block_forever(NeverWait::SelectNoCases);
    }

    // Poll order: a random permutation of the cases on real channels. Each case's
    // lock is looked up once, here (`lockof`), for the sort and for every step.
    let mut pollorder = [0usize; N];
    let mut lockof = [std::ptr::null::<ChanLock>(); N];
    let mut n = 0;
    for (i, case) in cases.iter().enumerate() {
        let Some(l) = case.c.lock() else {
            continue;
        };
        lockof[i] = l;
        let j = cheaprandn(n + 1);
        pollorder[n] = pollorder[j];
        pollorder[j] = i;
        n += 1;
    }
    if n == 0 {
        if has_default {
            return false;
        }
        block_forever(NeverWait::Select);
    }

    // Lock order: by channel address, each channel once.
    let mut lockorder = pollorder;
    lockorder[..n].sort_unstable_by_key(|&i| lockof[i]);
    let mut locks = [std::ptr::null::<ChanLock>(); N];
    let mut nl = 0;
    for &i in &lockorder[..n] {
        let l = lockof[i];
        if nl == 0 || locks[nl - 1] != l {
            locks[nl] = l;
            nl += 1;
        }
    }
    let list = LockList {
        locks: locks.as_ptr(),
        n: nl,
    };
    // SAFETY: `list` and `locks` live in this frame; the locks are in channels
    // borrowed by `cases` for this whole call.
    unsafe { sellock(&list) };

    // Pass 1: the first ready case in poll order.
    for &i in &pollorder[..n] {
        // SAFETY: `lockof[i]` is case i's lock (every case in `pollorder` is on a
        // real channel), so it is in `list`, held raw by the `sellock` above; no
        // guard is out, and `poll` only passes its guard on.
        match unsafe { lend_guard(lockof[i], |g| cases[i].c.poll(g)) } {
            Poll::NotReady => {}
            Poll::Ready(w) => {
                // SAFETY: `sellock` left every listed lock held raw; nothing has
                // released them.
                unsafe { selunlock_raw(&list) };
                if let Some(w) = w {
                    // SAFETY: the poll dequeued it; nobody else will wake it.
                    unsafe { w.wake() };
                }
                return true;
            }
            Poll::SendClosed => {
                // SAFETY: as above.
                unsafe { selunlock_raw(&list) };
                panic!("send on closed channel");
            }
        }
    }
    if has_default {
        // SAFETY: as above: no case completed, every lock is still held.
        unsafe { selunlock_raw(&list) };
        return false;
    }

    // Pass 2: a sudog on every channel, then park.
    let done = SelectDone::new();
    // SAFETY: every lock in `list` is still held raw (no case was ready, and
    // there is no default), as `Commit::Select` and `lend_guard` need, and
    // `register` lends one guard at a time, which `enqueue` only passes on; the
    // sudogs, slots and `done` live in this frame (the cases are borrowed for
    // the call), which stays put until pass 3 has taken every sudog back out, as
    // `park` and `enqueue` need; `list` is released by `selparkcommit` (or by
    // `park` on a plain thread).
    unsafe {
        park(
            |w| {
                for &i in &lockorder[..n] {
                    cases[i].c.sudog().set_select(&done, i, w);
                    lend_guard(lockof[i], |g| cases[i].c.enqueue(g));
                }
                Commit::Select(&list)
            },
            Wait::Select,
        )
    };

    // Pass 3: relock, withdraw the losers, record the winner.
    let winner = done.winner().expect("select woken without a winner");
    // SAFETY: as for the first sellock; `park` released every lock.
    unsafe { sellock(&list) };
    for &i in &lockorder[..n] {
        if i != winner {
            // SAFETY: `lockof[i]` is in `list`, held raw by the `sellock` just
            // above, and no guard is out (as in pass 1); its sudog was queued in
            // pass 2 and lost (only the winner's was served), as `dequeue` needs.
            unsafe { lend_guard(lockof[i], |g| cases[i].c.dequeue(g)) };
        }
    }
    let ok = cases[winner].c.complete();
    // SAFETY: the `sellock` just above left every listed lock held raw.
    unsafe { selunlock_raw(&list) };
    if !ok {
        panic!("send on closed channel");
    }
    true
}

/// Waits on several channel operations and runs the arm of the one that
/// completes — Go's `select` statement, in crossbeam-channel's syntax.
///
/// ```text
/// select! {
///     recv(rx) -> v => body,      // v: Option<T>; None if rx is closed and drained
///     send(tx, value) => body,    // panics "send on closed channel" if tx is closed
///     default => body,            // optional: taken when no arm is ready now
/// }
/// ```
///
/// * `recv` binds `Option<T>` (any pattern, `_` included), like
///   [`Receiver::recv`]: crossbeam binds a `Result`, gort keeps one convention.
/// * Every channel expression and every value to send is evaluated once, in order,
///   before the select; the values of arms not taken are dropped.
/// * Among arms ready at once, one is chosen uniformly at random (Go's poll
///   order). Without `default`, the goroutine parks (wait reason `select`) until
///   one arm can complete; exactly one does. `select! {}` parks forever
///   (`select (no cases)`). Arms on [`never()`](crate::chan::never) channels are
///   never chosen.
/// * Bodies run after every channel is unlocked, so they may use `break`,
///   `continue`, `return`, `?` and further channel operations.
///
/// # Example
///
/// ```
/// use gort_runtime::{chan, select};
/// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
/// unsafe { gort_runtime::run(|| {
///     let (data_tx, data) = chan::bounded::<u32>(0);
///     let (quit_tx, quit) = chan::bounded::<()>(0);
///     gort_runtime::go(move || {
///         for i in 0..3 { data_tx.send(i); }
///         quit_tx.close();
///     });
///     let mut sum = 0;
///     loop {
///         select! {
///             recv(data) -> v => sum += v.unwrap(),
///             recv(quit) -> _ => break,
///         }
///     }
///     assert_eq!(sum, 3);
/// }) };
/// ```
#[macro_export]
macro_rules! select {
    ($($arms:tt)*) => {
        $crate::__select_parse!(@cases () @default () @rest $($arms)*)
    };
}

/// The `select!` arm parser (a token muncher). Each arm gets its own case
/// variable, `__gort_case`, made distinct from the others by macro hygiene (each
/// is written by a different expansion step).
#[doc(hidden)]
#[macro_export]
macro_rules! __select_parse {
    // recv(rx) -> pat => { block }, ...   and   recv(rx) -> pat => { block } ...
    (@cases ($($c:tt)*) @default ($($d:tt)*)
     @rest recv($rx:expr) -> $v:pat => $body:block, $($rest:tt)*) => {
        $crate::__select_parse!(@cases ($($c)* [__gort_case recv ($rx) ($v) ($body)])
            @default ($($d)*) @rest $($rest)*)
    };
    (@cases ($($c:tt)*) @default ($($d:tt)*)
     @rest recv($rx:expr) -> $v:pat => $body:block $($rest:tt)*) => {
        $crate::__select_parse!(@cases ($($c)* [__gort_case recv ($rx) ($v) ($body)])
            @default ($($d)*) @rest $($rest)*)
    };
    // recv(rx) -> pat => expr, ...
    (@cases ($($c:tt)*) @default ($($d:tt)*)
     @rest recv($rx:expr) -> $v:pat => $body:expr, $($rest:tt)*) => {
        $crate::__select_parse!(@cases ($($c)* [__gort_case recv ($rx) ($v) ($body)])
            @default ($($d)*) @rest $($rest)*)
    };
    // recv(rx) -> pat => expr (last)
    (@cases ($($c:tt)*) @default ($($d:tt)*)
     @rest recv($rx:expr) -> $v:pat => $body:expr) => {
        $crate::__select_parse!(@cases ($($c)* [__gort_case recv ($rx) ($v) ($body)])
            @default ($($d)*) @rest)
    };
    // send(tx, v) => { block } [,] ...
    (@cases ($($c:tt)*) @default ($($d:tt)*)
     @rest send($tx:expr, $val:expr) => $body:block, $($rest:tt)*) => {
        $crate::__select_parse!(@cases ($($c)* [__gort_case send ($tx, $val) (_) ($body)])
            @default ($($d)*) @rest $($rest)*)
    };
    (@cases ($($c:tt)*) @default ($($d:tt)*)
     @rest send($tx:expr, $val:expr) => $body:block $($rest:tt)*) => {
        $crate::__select_parse!(@cases ($($c)* [__gort_case send ($tx, $val) (_) ($body)])
            @default ($($d)*) @rest $($rest)*)
    };
    (@cases ($($c:tt)*) @default ($($d:tt)*)
     @rest send($tx:expr, $val:expr) => $body:expr, $($rest:tt)*) => {
        $crate::__select_parse!(@cases ($($c)* [__gort_case send ($tx, $val) (_) ($body)])
            @default ($($d)*) @rest $($rest)*)
    };
    (@cases ($($c:tt)*) @default ($($d:tt)*)
     @rest send($tx:expr, $val:expr) => $body:expr) => {
        $crate::__select_parse!(@cases ($($c)* [__gort_case send ($tx, $val) (_) ($body)])
            @default ($($d)*) @rest)
    };
    // default => { block } [,] ...
    (@cases ($($c:tt)*) @default ()
     @rest default => $body:block, $($rest:tt)*) => {
        $crate::__select_parse!(@cases ($($c)*) @default (($body)) @rest $($rest)*)
    };
    (@cases ($($c:tt)*) @default ()
     @rest default => $body:block $($rest:tt)*) => {
        $crate::__select_parse!(@cases ($($c)*) @default (($body)) @rest $($rest)*)
    };
    (@cases ($($c:tt)*) @default ()
     @rest default => $body:expr, $($rest:tt)*) => {
        $crate::__select_parse!(@cases ($($c)*) @default (($body)) @rest $($rest)*)
    };
    (@cases ($($c:tt)*) @default ()
     @rest default => $body:expr) => {
        $crate::__select_parse!(@cases ($($c)*) @default (($body)) @rest)
    };
    (@cases ($($c:tt)*) @default ($($d:tt)+) @rest default $($rest:tt)*) => {
        ::core::compile_error!("select!: more than one `default` arm")
    };
    // Done: build the cases, select, dispatch.
    (@cases ($([$case:ident $kind:ident ($($args:tt)*) ($v:pat) ($body:expr)])*)
     @default ($(($default:expr))?) @rest) => {{
        $( $crate::__select_case!($kind $case ($($args)*)); )*
        let __gort_fired = $crate::__private::select::select(
            [$( $case.case() ),*],
            $crate::__select_has_default!($($default)?),
        );
        $(
            if __gort_fired && $case.fired() {
                $crate::__select_body!($kind $case ($v) ($body))
            } else
        )*
        {
            $crate::__select_default!($($default)?)
        }
    }};
    (@cases ($($c:tt)*) @default ($($d:tt)*) @rest $($rest:tt)+) => {
        ::core::compile_error!(::core::concat!(
            "select!: expected `recv(rx) -> v => body`, `send(tx, v) => body` or ",
            "`default => body`, found: ",
            ::core::stringify!($($rest)+)
        ))
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __select_case {
    (recv $case:ident ($rx:expr)) => {
        let $case = &$rx;
        let mut $case = $crate::__private::select::RecvCase::new($case);
    };
    (send $case:ident ($tx:expr, $val:expr)) => {
        let $case = &$tx;
        let mut $case = $crate::__private::select::SendCase::new($case, $val);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __select_body {
    (recv $case:ident ($v:pat) ($body:expr)) => {{
        let $v = $case.take();
        $body
    }};
    (send $case:ident ($v:pat) ($body:expr)) => {{
        $body
    }};
}

#[doc(hidden)]
#[macro_export]
macro_rules! __select_has_default {
    () => {
        false
    };
    ($d:expr) => {
        true
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __select_default {
    () => {
        ::core::unreachable!("select: no case fired and there is no default")
    };
    ($d:expr) => {
        $d
    };
}

#[cfg(test)]
mod tests {
    use super::{select, RecvCase, SendCase};
    use crate::chan::bounded;
    use std::panic::{catch_unwind, AssertUnwindSafe};

    fn message(e: Box<dyn std::any::Any + Send>) -> String {
        e.downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| e.downcast_ref::<String>().cloned())
            .unwrap_or_default()
    }

    /// A `SendCase` that sent its box must not send the same box again: that
    /// was a double free. Reuse panics before any channel is locked, so the
    /// channel stays usable.
    #[test]
    fn a_send_case_used_in_a_second_select_panics_and_sends_once() {
        let (tx, rx) = bounded::<Box<u32>>(2);
        let mut c = SendCase::new(&tx, Box::new(7));
        assert!(select([c.case()], false));
        let again = catch_unwind(AssertUnwindSafe(|| select([c.case()], false)));
        let msg = message(again.unwrap_err());
        assert!(msg.contains("SendCase used in a second select"), "{msg}");
        drop(c);
        assert_eq!(rx.try_recv().ok(), Some(Box::new(7)));
        assert!(rx.try_recv().is_err(), "the value was sent twice");
    }

    /// A `RecvCase` holding a value it received must not land a second one on
    /// it; its first value is still there to take.
    #[test]
    fn a_recv_case_used_in_a_second_select_panics_and_keeps_its_value() {
        let (tx, rx) = bounded::<Box<u32>>(2);
        tx.send(Box::new(1));
        tx.send(Box::new(2));
        let mut c = RecvCase::new(&rx);
        assert!(select([c.case()], false));
        let again = catch_unwind(AssertUnwindSafe(|| select([c.case()], false)));
        let msg = message(again.unwrap_err());
        assert!(msg.contains("RecvCase used in a second select"), "{msg}");
        assert_eq!(c.take(), Some(Box::new(1)));
        assert_eq!(rx.try_recv().ok(), Some(Box::new(2)));
    }
}
