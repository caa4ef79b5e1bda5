//! Channels: Go's `hchan`, with direct hand-off between goroutines.
//!
//! Models `runtime/chan.go` (`makechan`, `chansend`, `send`, `chanrecv`, `recv`,
//! `closechan`, `waitq.enqueue`, `waitq.dequeue`) and the `sudog` of
//! `runtime/runtime2.go`. `handles.rs` holds the public [`Sender`]/[`Receiver`]
//! API over it, and `select.rs` models `select.go`.
//!
//! # Design
//!
//! A channel is one heap object, `HChan`, shared by every [`Sender`] and
//! [`Receiver`] through an `Arc`. It holds a lock and, under it, Go's fields: the
//! ring buffer (`buf`, `dataqsiz`, `qcount`, `sendx`, `recvx`), the `closed` flag,
//! and two FIFO wait queues, `recvq` and `sendq`, of parked goroutines. A parked
//! goroutine is represented by a `Sudog` ("pseudo-g") that lives **on the parked
//! goroutine's own stack**, in the frame of the `send`/`recv`/`select` call that
//! parked; the queues are intrusive doubly linked lists of pointers to them. No
//! operation allocates.
//!
//! The lock (`ChanLock`) is the runtime's futex mutex (`lock_futex.rs`). Taking it
//! returns a `ChanGuard`, and dropping the guard is the unlock: an operation that
//! does not park releases the lock with a `drop` just before it wakes anyone (Go's
//! `unlock(&c.lock)`), or by leaving scope.
//!
//! The guard is also the proof that the lock is held. Everything that needs the
//! lock — `send_locked`, `recv_locked`, `enqueue`, `dequeue_sudog`, and `state`,
//! through which they all reach the fields — takes `&mut ChanGuard`, so "called
//! with the lock held" is checked by the compiler instead of promised in an
//! `unsafe` contract. `state` asserts that the guard is this channel's, and
//! hands out the fields only for as long as it borrows the guard (its doc comment
//! gives the argument).
//!
//! A caller that parks cannot keep its guard: the lock must stay held across the
//! switch to g0 and be released there by `gopark`'s unlock function, which is
//! handed only a pointer. That is the one raw hand-off: `ChanGuard::into_raw`
//! gives the guard up with the lock still held, and `ChanGuard::from_raw` makes it
//! again where the lock is released (`chanparkcommit`). A select holds all its
//! locks raw from `sellock` to `selunlock_raw`, and lends a guard back
//! (`from_raw`, then `into_raw`) for each step that needs one (`select.rs`).
//!
//! Each operation takes the lock and then does the first thing that applies, in
//! Go's order:
//!
//! * **send** (`chansend`): closed → panic `send on closed channel`; a receiver is
//!   parked → copy the value straight into that receiver's slot (the `elem` of its
//!   sudog, on its stack), mark it successful and make it runnable (`send`,
//!   `goready`: it lands in this P's `runnext`) — the buffer is never touched;
//!   room in the buffer → `buf[sendx]`; otherwise enqueue a sudog whose `elem`
//!   points at the value (still on the sender's stack) and park.
//! * **receive** (`chanrecv`): closed and empty → `None`; a sender is parked →
//!   `recv`: on an unbuffered channel take its value directly; on a full buffer take
//!   the head `buf[recvx]` and move the sender's value into the slot just freed (the
//!   tail, since the ring is full), so FIFO order across buffer and parked senders is
//!   kept; data in the buffer → take it; otherwise park with an empty slot for a
//!   sender (or `close`) to fill.
//! * **close** (`closechan`): closed → panic `close of closed channel`; mark closed,
//!   dequeue every waiter with `success = false` (receivers then return `None`,
//!   senders panic), release the lock, and only then wake them all.
//!
//! # Where values in flight live
//!
//! A value is in exactly one of three places: the sender's hands (a Rust local), a
//! buffer slot in the heap-allocated `HChan`, or the `elem` slot a sudog points to —
//! a `MaybeUninit<T>` in the frame of the parked goroutine (a parked sender's value,
//! or the slot a parked receiver waits to have filled). That frame is on the
//! goroutine's stack, inside the `[sp, hi)` range that `StoppedWorld::goroutines()`
//! reports, so a conservative stack scan sees values in flight; the buffer will be
//! made visible to the collector with the channel object itself.
//!
//! # Invariants (all under `lock`)
//!
//! * `recvq` non-empty ⇒ the buffer is empty; `sendq` non-empty ⇒ the buffer is
//!   full (both as in Go; they are what make the three cases above exhaustive).
//! * A sudog is in at most one queue, and it is there only while its owner is parked
//!   (or, for a select, until pass 3 takes it out).
//! * A closed channel has empty wait queues.
//!
//! # Memory ordering
//!
//! Every field of the channel is read and written under `lock`, whose acquire and
//! release order them. A sudog is written by the waker (value, `success`) while it
//! holds the lock and after it dequeued the sudog; the owner reads it after it was
//! woken: for a goroutine through `ready` → run queue → `execute` (release/acquire
//! in the run queue), for a thread through `ThreadParker`'s `woken` flag
//! (release store / acquire load). The waker copies what it needs out of the sudog
//! before it wakes the owner and never touches it afterwards: from that moment the
//! owner may return and its stack frame is gone. A waker cannot find a goroutine
//! still running: the goroutine enqueues its sudog under the lock and the lock is
//! released only by `gopark`'s unlock function on g0, after the switch.
//!
//! # What gort simplifies on purpose
//!
//! * The element type is a Rust type parameter, so there is no `elemtype`/`elemsize`
//!   and no `typedmemmove`: a move is a `ptr::read`/`ptr::write`.
//! * Sudogs are not cached per P (`acquireSudog`): they are plain locals of the
//!   blocking frame, which costs nothing to create.
//! * No lock-free fast paths for non-blocking operations on an empty/full channel
//!   (Go's `full(c)`/`empty(c)` peeks): every operation takes the lock, which is
//!   uncontended in the common case (one CAS).
//! * No `nil` channel value: [`never()`] (and [`Sender::never`]) build a handle that
//!   behaves like one (blocks forever, never ready in a select).
//! * A non-blocking send on a closed channel ([`Sender::try_send`]) returns
//!   [`TrySendError::Closed`] instead of panicking, so a timer callback running on
//!   g0 can never panic; a `select!` send arm on a closed channel does panic, as
//!   Go's `select` does (with or without `default`).
//! * No `chan` debug hooks (race detector, `blockprofile`, `acquiretime`).

use crate::loom::atomic::{AtomicBool, AtomicU32, Ordering};
use std::cell::{Cell, UnsafeCell};
use std::mem::MaybeUninit;

#[cfg(not(loom))]
use crate::proc::g::{WaitReason, G};

mod handles;
// Private: `select!` reaches it as `crate::__private::select` (see its module
// docs); users write the macro.
pub(crate) mod select;

pub use handles::{bounded, never, IntoIter, Iter, Receiver, Sender, TryRecvError, TrySendError};

#[cfg(all(test, loom))]
mod loom_model;
#[cfg(all(test, not(loom)))]
mod tests;

// ---------------------------------------------------------------------------------
// The channel lock.

/// The lock of one channel (Go's `hchan.lock`, a runtime `mutex`).
///
/// The runtime's futex mutex (`lock_futex.rs`): one CAS to take and one swap to
/// release when uncontended, Go's short spin and then a futex wait when not.
/// [`lock`](ChanLock::lock) returns a [`ChanGuard`]; dropping the guard releases
/// the lock, so an operation that finishes without parking cannot forget to
/// unlock, and unlocking needs no `unsafe`.
///
/// The lock is never held across a goroutine switch except through `gopark`'s
/// unlock function, which releases it on g0 of the same OS thread after the
/// goroutine has switched out. That is the one place a lock outlives its guard:
/// [`ChanGuard::into_raw`] gives the guard up with the lock still held, and
/// [`ChanGuard::from_raw`] makes the guard again where it is released. A select
/// holds its channels' locks that way from `sellock` on, because g0 may have to
/// release all of them for it, and makes a guard again only to lend it to one
/// step (`select::lend_guard`).
///
/// Under loom it is loom's mutex (loom cannot model a futex), whose own guard is
/// kept inside the lock between `lock` and the `ChanGuard`'s drop, so that the
/// same shape, raw hand-off included, is checked.
pub(crate) struct ChanLock {
    #[cfg(not(loom))]
    raw: crate::lock_futex::RawLock,
    #[cfg(loom)]
    m: loom::sync::Mutex<()>,
    /// The holder's loom guard; touched only by the thread holding `m`.
    #[cfg(loom)]
    guard: UnsafeCell<Option<loom::sync::MutexGuard<'static, ()>>>,
}

impl ChanLock {
    fn new() -> Self {
        ChanLock {
            #[cfg(not(loom))]
            raw: crate::lock_futex::RawLock::new(),
            #[cfg(loom)]
            m: loom::sync::Mutex::new(()),
            #[cfg(loom)]
            guard: UnsafeCell::new(None),
        }
    }

    /// Takes the lock (`lock(&c.lock)`); it is held until the guard is dropped.
    #[inline]
    pub(crate) fn lock(&self) -> ChanGuard<'_> {
        #[cfg(not(loom))]
        self.raw.lock();
        #[cfg(loom)]
        {
            let g = self.m.lock().unwrap();
            // SAFETY: the loom guard borrows `self.m` and is dropped with the
            // `ChanGuard` (this one, or the one `from_raw` makes after a raw
            // hand-off), before the lock (kept alive by the channel's `Arc`) can
            // go away.
            let g: loom::sync::MutexGuard<'static, ()> = unsafe { std::mem::transmute(g) };
            // SAFETY: we hold `m`, so nobody else touches `guard`.
            unsafe { *self.guard.get() = Some(g) };
        }
        ChanGuard { lock: self }
    }
}

/// Proof that a channel lock is held; dropping it releases the lock
/// (`unlock(&c.lock)`). Each held lock has exactly one guard, or none while it is
/// handed off raw (see [`into_raw`](ChanGuard::into_raw)).
///
/// Functions that need the lock held take `&mut ChanGuard` (`HChan::state` and
/// all that reach the fields through it), so holding the lock is no part of any
/// `unsafe` contract: a guard can only be had from [`ChanLock::lock`] or, for a
/// lock handed off raw, from the `unsafe` [`from_raw`](ChanGuard::from_raw),
/// whose contract keeps it one per held lock.
#[must_use = "dropping the guard releases the channel lock at once"]
pub(crate) struct ChanGuard<'a> {
    lock: &'a ChanLock,
}

impl<'a> ChanGuard<'a> {
    /// Gives the guard up **without releasing the lock**, for a release that
    /// happens where no guard can travel: on g0, in the unlock function of
    /// `gopark` (`chanparkcommit`, `selparkcommit`), after this goroutine has
    /// switched out. A select gives up every guard in `sellock`, since any of its
    /// parks may end that way. Returns the lock, still held. Whoever takes it over
    /// must release it exactly once, by [`from_raw`](ChanGuard::from_raw) and a
    /// drop; until then the lock stays held (a forgotten raw lock deadlocks the
    /// channel).
    #[inline]
    pub(crate) fn into_raw(self) -> *const ChanLock {
        let lock: *const ChanLock = self.lock;
        std::mem::forget(self);
        lock
    }

    /// Takes back a lock handed off by [`into_raw`](ChanGuard::into_raw), as a
    /// guard (to drop, which releases it).
    ///
    /// # Safety
    /// `lock` came from `into_raw`, has not been taken back since, and is still
    /// alive; the returned guard does not outlive it.
    #[inline]
    pub(crate) unsafe fn from_raw(lock: *const ChanLock) -> ChanGuard<'a> {
        ChanGuard {
            // SAFETY: alive (contract).
            lock: unsafe { &*lock },
        }
    }
}

impl Drop for ChanGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: a guard exists only while its lock is held: made by `lock`, or
        // by `from_raw` for a lock `into_raw` left held. There is one guard per
        // held lock, so this is the lock's one release.
        #[cfg(not(loom))]
        unsafe {
            self.lock.raw.unlock()
        };
        #[cfg(loom)]
        {
            // SAFETY: we hold `m` (as above), so `guard` is ours.
            let g = unsafe { (*self.lock.guard.get()).take() };
            drop(g.expect("unlock of an unlocked channel"));
        }
    }
}

// ---------------------------------------------------------------------------------
// Waiters and sudogs.

/// Who to wake when a sudog is served: a goroutine, or a plain OS thread that
/// called a channel operation outside any runtime.
#[derive(Clone, Copy)]
pub(crate) enum Waiter {
    #[cfg(not(loom))]
    G(&'static G),
    /// Points at a parker on the waiting thread's stack; valid until `woken` is set.
    Thread(*const ThreadParker),
}

impl Waiter {
    /// Makes the waiter run again (`goready`, or sets the flag and unparks the
    /// thread). The last thing a waker does with the sudog's owner.
    ///
    /// # Safety
    /// The waiter was dequeued by the caller, who is the only one to wake it, and it
    /// has not been woken yet (so a `Thread` parker is still alive).
    pub(crate) unsafe fn wake(self) {
        match self {
            #[cfg(not(loom))]
            Waiter::G(gp) => crate::proc::sched::ready(gp),
            Waiter::Thread(p) => {
                // SAFETY: the thread waits until `woken` is set, so the parker is
                // alive until the store below; after it we use only our clone.
                let thread = unsafe { (*p).thread.clone() };
                // SAFETY: as above.
                unsafe { (*p).woken.store(true, Ordering::Release) };
                thread.unpark();
            }
        }
    }
}

#[cfg(not(loom))]
type Thread = std::thread::Thread;
#[cfg(loom)]
type Thread = loom::thread::Thread;

/// How a thread outside the runtime waits (the runtime's own threads never use it
/// for goroutines: those park with `gopark`).
pub(crate) struct ThreadParker {
    woken: AtomicBool,
    thread: Thread,
}

impl ThreadParker {
    pub(crate) fn new() -> Self {
        ThreadParker {
            woken: AtomicBool::new(false),
            #[cfg(not(loom))]
            thread: std::thread::current(),
            #[cfg(loom)]
            thread: loom::thread::current(),
        }
    }

    /// Blocks until `Waiter::wake`; its acquire load pairs with the waker's
    /// release store, so everything the waker wrote to our sudog is visible.
    pub(crate) fn wait(&self) {
        while !self.woken.load(Ordering::Acquire) {
            #[cfg(not(loom))]
            std::thread::park();
            #[cfg(loom)]
            loom::thread::park();
        }
    }
}

/// The shared state of one blocked `select` (Go keeps it in `g.selectDone` and
/// `g.param`): 0 while undecided, then 1 + the index of the winning case. It lives
/// in the selecting frame; every sudog of that select points to it.
pub(crate) struct SelectDone {
    done: AtomicU32,
}

impl SelectDone {
    pub(crate) fn new() -> Self {
        SelectDone {
            done: AtomicU32::new(0),
        }
    }

    /// The winning case, once woken (`None` before).
    pub(crate) fn winner(&self) -> Option<usize> {
        match self.done.load(Ordering::Acquire) {
            0 => None,
            n => Some(n as usize - 1),
        }
    }
}

/// A waiting goroutine's entry in a channel queue (Go's `sudog`). Lives in the
/// blocked frame, on the waiter's stack; the channel only links pointers to it.
///
/// Fields are `Cell`s: the owner and the waker touch them at different times (the
/// owner before it enqueues and after it was woken, the waker under the channel
/// lock in between), never at once.
pub(crate) struct Sudog {
    /// Who to wake.
    waiter: Cell<Option<Waiter>>,
    /// The value slot: a sender's `MaybeUninit<T>` holding the value, or a
    /// receiver's empty `MaybeUninit<T>` to fill. Type-erased; the channel knows `T`.
    elem: Cell<*mut ()>,
    next: Cell<*const Sudog>,
    prev: Cell<*const Sudog>,
    /// True if the operation completed with a value passed (false: woken by close).
    success: Cell<bool>,
    /// The select this sudog belongs to, or null (Go's `isSelect`).
    sel: Cell<*const SelectDone>,
    /// Its case index in that select.
    case: Cell<u32>,
}

impl Sudog {
    pub(crate) fn new() -> Self {
        Sudog {
            waiter: Cell::new(None),
            elem: Cell::new(std::ptr::null_mut()),
            next: Cell::new(std::ptr::null()),
            prev: Cell::new(std::ptr::null()),
            success: Cell::new(false),
            sel: Cell::new(std::ptr::null()),
            case: Cell::new(0),
        }
    }

    pub(crate) fn success(&self) -> bool {
        self.success.get()
    }

    pub(crate) fn set_select(&self, sel: &SelectDone, case: usize, w: Waiter) {
        self.sel.set(sel);
        self.case.set(case as u32);
        self.waiter.set(Some(w));
    }

    pub(crate) fn set_elem(&self, elem: *mut ()) {
        self.elem.set(elem);
    }

    fn waiter(&self) -> Waiter {
        self.waiter.get().expect("sudog without a waiter")
    }
}

/// A FIFO of sudogs (Go's `waitq`), intrusive, doubly linked so that a select can
/// take its sudog out of the middle (`dequeueSudoG`).
///
/// A `WaitQ` lives in a channel's `State`, so `&mut WaitQ` means the channel lock
/// is held. Its invariant, which `enqueue`'s contract establishes:
///
/// * every sudog linked in the queue is valid — its owner is parked, or is a
///   select that cannot leave its frame before it re-locks this channel — and so
///   is the `SelectDone` its `sel` points to; a sudog stays valid after it is
///   dequeued, until whoever dequeued it wakes its owner;
/// * `first.prev` and `last.next` are null, and a sudog that leaves the queue
///   leaves with both links cleared.
///
/// Given that, `dequeue` is safe; `enqueue` (which adds a pointer) and `remove`
/// (which trusts the links of the sudog it is given) are not.
struct WaitQ {
    first: *const Sudog,
    last: *const Sudog,
}

impl WaitQ {
    const fn new() -> Self {
        WaitQ {
            first: std::ptr::null(),
            last: std::ptr::null(),
        }
    }

    /// # Safety
    /// `sg` is in no queue, and stays valid while queued (its owner is parked, or
    /// holds the lock); see the invariant on [`WaitQ`].
    unsafe fn enqueue(&mut self, sg: *const Sudog) {
        // SAFETY: `sg` (contract) and every queued sudog (invariant) are valid.
        unsafe {
            (*sg).next.set(std::ptr::null());
            (*sg).prev.set(self.last);
            if self.last.is_null() {
                self.first = sg;
            } else {
                (*self.last).next.set(sg);
            }
        }
        self.last = sg;
    }

    /// The oldest sudog that can still be served. A select's sudog whose select
    /// was already won elsewhere (the `SelectDone` CAS fails) is dropped from the
    /// queue and skipped: its owner is about to take it out anyway (pass 3).
    ///
    /// The sudog returned stays valid while the queue is borrowed (the lock is
    /// held): its owner stays parked until the caller wakes it, the last thing
    /// the caller does with it (`Waiter::wake`).
    fn dequeue(&mut self) -> Option<&Sudog> {
        loop {
            if self.first.is_null() {
                return None;
            }
            // SAFETY: queued sudogs are valid (the invariant): their owners are
            // parked, and a select's owner cannot leave its frame before it
            // re-locks this channel, whose lock `&mut self` stands for.
            let sg = unsafe { &*self.first };
            let y = sg.next.get();
            if y.is_null() {
                self.first = std::ptr::null();
                self.last = std::ptr::null();
            } else {
                // SAFETY: as above.
                unsafe { (*y).prev.set(std::ptr::null()) };
                self.first = y;
                sg.next.set(std::ptr::null());
            }
            let sel = sg.sel.get();
            if !sel.is_null() {
                // SAFETY: the SelectDone lives in the selecting frame, which cannot
                // return before it re-locks this channel (we hold the lock).
                let won = unsafe { &*sel }.done.compare_exchange(
                    0,
                    sg.case.get() + 1,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                );
                if won.is_err() {
                    continue;
                }
            }
            return Some(sg);
        }
    }

    /// Takes `sg` out if it is still queued (Go's `dequeueSudoG`).
    ///
    /// # Safety
    /// `sg` is in this queue, or in none with its links cleared (a waker dequeued
    /// it): links into another queue would be followed and that queue corrupted.
    unsafe fn remove(&mut self, sg: &Sudog) {
        let x = sg.prev.get();
        let y = sg.next.get();
        // SAFETY: `x` and `y`, where not null, are `sg`'s neighbours in this queue
        // (contract), so valid (the invariant).
        unsafe {
            if !x.is_null() {
                if !y.is_null() {
                    (*x).next.set(y);
                    (*y).prev.set(x);
                } else {
                    (*x).next.set(std::ptr::null());
                    self.last = x;
                }
            } else if !y.is_null() {
                (*y).prev.set(std::ptr::null());
                self.first = y;
            } else if std::ptr::eq(self.first, sg) {
                self.first = std::ptr::null();
                self.last = std::ptr::null();
            } else {
                // Not queued: a waker dequeued it (and lost the select CAS).
                return;
            }
        }
        sg.next.set(std::ptr::null());
        sg.prev.set(std::ptr::null());
    }

    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.first.is_null()
    }
}

// ---------------------------------------------------------------------------------
// Parking the caller.

/// What a parked caller waits on, for the goroutine's wait reason.
#[derive(Clone, Copy)]
pub(crate) enum Wait {
    Send,
    Recv,
    Select,
}

#[cfg(not(loom))]
impl Wait {
    fn reason(self) -> WaitReason {
        match self {
            Wait::Send => WaitReason::ChanSend,
            Wait::Recv => WaitReason::ChanReceive,
            Wait::Select => WaitReason::Select,
        }
    }
}

/// The lock(s) a parking caller holds, for `park` to release once the caller's
/// sudogs are queued: what `register` returns.
pub(crate) enum Commit<'a> {
    /// One channel's lock (in the heap-allocated `HChan`), held by this guard.
    Chan(ChanGuard<'a>),
    /// A select's locks, all held raw since `sellock` (see `select::LockList`).
    Select(*const select::LockList),
}

/// Parks the caller until a waker serves it: `register` (called with the waiter,
/// locks still held) puts the caller's sudog(s) in the queue(s) and returns the
/// locks, which are then released — after the switch to g0 for a goroutine
/// (`gopark`'s unlockf), at once for a plain thread, which then sleeps on its
/// parker. Since `register` needs the guard to enqueue and gives it up only by
/// returning it, no lock can be released before the sudog is queued.
///
/// # Safety
/// For `Commit::Select`, every lock in the list is held raw since the caller's
/// `sellock` (as `selunlock_raw` requires); `register` must enqueue sudogs that
/// stay valid until woken (they are in the caller's frame).
pub(crate) unsafe fn park<'a>(register: impl FnOnce(Waiter) -> Commit<'a>, why: Wait) {
    #[cfg(not(loom))]
    if let Some(gp) = crate::proc::m::getg() {
        let u = match register(Waiter::G(gp)) {
            // The raw hand-off: the lock stays held across the switch, and
            // `chanparkcommit` on g0 releases it.
            Commit::Chan(g) => crate::proc::m::UnlockF {
                f: chanparkcommit,
                data: g.into_raw() as *const (),
            },
            Commit::Select(l) => crate::proc::m::UnlockF {
                f: select::selparkcommit,
                data: l as *const (),
            },
        };
        // SAFETY: for `Commit::Chan`, `data` is the lock inside the heap-allocated
        // `HChan`, which the caller's `Arc` keeps alive across the park; it is
        // held, and nothing but `chanparkcommit` (on g0, same thread) releases it.
        // For `Commit::Select`, `data` is on this goroutine's stack, which gopark's
        // contract normally forbids: `selparkcommit`'s SAFETY comment argues why
        // this one use is sound.
        unsafe { crate::proc::sched::gopark(Some(u), why.reason()) };
        return;
    }
    let _ = why;
    let parker = ThreadParker::new();
    match register(Waiter::Thread(&parker)) {
        Commit::Chan(g) => drop(g),
        // SAFETY: every listed lock is held raw since the caller's `sellock`
        // (contract); this is their one release before it relocks.
        Commit::Select(l) => unsafe { select::selunlock_raw(l) },
    }
    parker.wait();
}

/// g0's half of a channel park (`chanparkcommit`): releases the channel lock.
///
/// # Safety
/// `data` is a `ChanLock` that `park` handed off with `ChanGuard::into_raw` for
/// the goroutine that just switched out on this thread.
#[cfg(not(loom))]
unsafe fn chanparkcommit(data: *const (), _gp: &'static G) -> bool {
    // SAFETY: the lock is held without a guard and this is its one release
    // (contract); the `HChan` it is in outlives the park (see `park`).
    drop(unsafe { ChanGuard::from_raw(data as *const ChanLock) });
    true
}

/// Blocks forever: an operation on a [`never()`] channel (Go's nil channel), or a
/// `select` with no cases.
pub(crate) fn block_forever(_why: NeverWait) -> ! {
    loop {
        #[cfg(not(loom))]
        if crate::proc::m::getg().is_some() {
            let reason = match _why {
                NeverWait::Send => WaitReason::ChanSendNilChan,
                NeverWait::Recv => WaitReason::ChanReceiveNilChan,
                NeverWait::Select => WaitReason::Select,
                NeverWait::SelectNoCases => WaitReason::SelectNoCases,
            };
            // SAFETY: no unlock function; nobody will ever ready this goroutine.
            unsafe { crate::proc::sched::gopark(None, reason) };
            continue;
        }
        #[cfg(not(loom))]
        std::thread::park();
        #[cfg(loom)]
        loom::thread::park();
    }
}

/// Why a caller blocks forever.
#[derive(Clone, Copy)]
pub(crate) enum NeverWait {
    Send,
    Recv,
    Select,
    SelectNoCases,
}

/// A safepoint at the start of every blocking channel operation.
#[inline]
fn preempt_check() {
    #[cfg(not(loom))]
    crate::proc::sched::preempt_check();
}

// ---------------------------------------------------------------------------------
// hchan.

/// Go's `hchan`: the channel object every handle points to.
pub(crate) struct HChan<T> {
    lock: ChanLock,
    /// The buffer's size (`dataqsiz`), fixed at `makechan`; read without the lock.
    dataqsiz: usize,
    /// Everything below is guarded by `lock`. Under loom a tracked cell: loom then
    /// checks that every access is ordered after the previous one by the lock.
    s: StateCell<State<T>>,
}

#[cfg(not(loom))]
type StateCell<S> = UnsafeCell<S>;
#[cfg(loom)]
type StateCell<S> = loom::cell::UnsafeCell<S>;

struct State<T> {
    /// Elements in the buffer.
    qcount: usize,
    /// The buffer: `dataqsiz` slots (none for an unbuffered channel).
    buf: Box<[MaybeUninit<T>]>,
    /// Next slot to send into / receive from.
    sendx: usize,
    recvx: usize,
    /// Parked receivers and senders, FIFO.
    recvq: WaitQ,
    sendq: WaitQ,
    closed: bool,
}

// SAFETY: the state is only reached through `state`, with this channel's guard,
// so only under `lock`; values of T move between threads (hence T: Send), never
// shared.
unsafe impl<T: Send> Send for HChan<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for HChan<T> {}

/// What a non-blocking send did, under the lock.
pub(crate) enum SendPoll<T> {
    /// Delivered; wake this receiver (after unlocking) if any.
    Done(Option<Waiter>),
    Full(T),
    Closed(T),
}

/// What a non-blocking receive did, under the lock.
pub(crate) enum RecvPoll<T> {
    /// A value; wake this sender (after unlocking) if any.
    Value(T, Option<Waiter>),
    /// Closed and drained.
    Closed,
    Empty,
}

impl<T> HChan<T> {
    /// `makechan`.
    fn new(cap: usize) -> Self {
        let buf = (0..cap).map(|_| MaybeUninit::uninit()).collect();
        HChan {
            lock: ChanLock::new(),
            dataqsiz: cap,
            s: StateCell::new(State {
                qcount: 0,
                buf,
                sendx: 0,
                recvx: 0,
                recvq: WaitQ::new(),
                sendq: WaitQ::new(),
                closed: false,
            }),
        }
    }

    pub(crate) fn lock_ref(&self) -> &ChanLock {
        &self.lock
    }

    /// The fields under the lock, for as long as `g` is lent.
    ///
    /// Why this is sound as a safe function:
    ///
    /// * `g` is this channel's guard: `assert!`, not `debug_assert!`, because a
    ///   guard of another channel would give unsynchronised access to this one's
    ///   state, and a safe function must not rely on its callers for that. It
    ///   costs a pointer compare and a branch never taken, which the optimiser
    ///   can remove where `g` was just made from `self.lock` and the call is
    ///   inlined.
    /// * A guard exists only while its lock is held, one per held lock
    ///   ([`ChanGuard`]), so no other thread can be in the state now.
    /// * The result borrows `g` mutably: while it lives, `g` cannot be dropped
    ///   (unlocked) or given up raw, and no second `&mut State` can be taken
    ///   through it — the fields cannot outlive the lock, nor be aliased.
    fn state<'g>(&'g self, g: &'g mut ChanGuard<'_>) -> &'g mut State<T> {
        assert!(
            std::ptr::eq(g.lock, &self.lock),
            "channel state accessed under another channel's lock"
        );
        // Under loom, `with_mut` records the access when it starts: loom then
        // checks it happens after every earlier one, which only the lock ensures.
        #[cfg(loom)]
        let p = self.s.with_mut(|p| p);
        #[cfg(not(loom))]
        let p = self.s.get();
        // SAFETY: exclusive for the borrow of `g` (see above).
        unsafe { &mut *p }
    }

    /// The body of `chansend` after `lock`, without blocking: Go's cases 1-3.
    pub(crate) fn send_locked(&self, g: &mut ChanGuard<'_>, v: T) -> SendPoll<T> {
        let s = self.state(g);
        if s.closed {
            return SendPoll::Closed(v);
        }
        if let Some(sg) = s.recvq.dequeue() {
            // `send`: straight into the parked receiver's slot, on its stack.
            // SAFETY: a receiver's elem is an empty MaybeUninit<T> in its frame,
            // alive until it is woken, and nobody else writes it.
            unsafe { (sg.elem.get() as *mut T).write(v) };
            sg.success.set(true);
            return SendPoll::Done(Some(sg.waiter()));
        }
        if s.qcount < s.buf.len() {
            s.buf[s.sendx].write(v);
            s.sendx += 1;
            if s.sendx == s.buf.len() {
                s.sendx = 0;
            }
            s.qcount += 1;
            return SendPoll::Done(None);
        }
        SendPoll::Full(v)
    }

    /// The body of `chanrecv` after `lock`, without blocking.
    pub(crate) fn recv_locked(&self, g: &mut ChanGuard<'_>) -> RecvPoll<T> {
        let s = self.state(g);
        if s.closed && s.qcount == 0 {
            return RecvPoll::Closed;
        }
        if let Some(sg) = s.sendq.dequeue() {
            // `recv`.
            let src = sg.elem.get() as *const T;
            let v = if s.buf.is_empty() {
                // Unbuffered: take the sender's value directly.
                // SAFETY: a sender's elem holds its value until it is woken;
                // dequeuing it made us its only reader.
                unsafe { src.read() }
            } else {
                // Full buffer (a sender is parked): take the head, and put the
                // sender's value in the slot just freed, which is now the tail.
                // SAFETY: qcount == len (sendq non-empty), so the head slot is
                // initialised; the sender's value as above.
                let head = unsafe { s.buf[s.recvx].assume_init_read() };
                // SAFETY: as above.
                s.buf[s.recvx].write(unsafe { src.read() });
                s.recvx += 1;
                if s.recvx == s.buf.len() {
                    s.recvx = 0;
                }
                s.sendx = s.recvx;
                head
            };
            sg.success.set(true);
            return RecvPoll::Value(v, Some(sg.waiter()));
        }
        if s.qcount > 0 {
            // SAFETY: qcount > 0: the slot at recvx holds a value.
            let v = unsafe { s.buf[s.recvx].assume_init_read() };
            s.recvx += 1;
            if s.recvx == s.buf.len() {
                s.recvx = 0;
            }
            s.qcount -= 1;
            return RecvPoll::Value(v, None);
        }
        RecvPoll::Empty
    }

    /// Puts `sg` on the receive or send queue.
    ///
    /// # Safety
    /// `sg` is in no queue, and stays valid (not moved, not freed) until it
    /// leaves this one: its owner parks, and wakes only once a waker or `close`
    /// has dequeued it, or (a select) takes it out itself with `dequeue_sudog`.
    pub(crate) unsafe fn enqueue(&self, g: &mut ChanGuard<'_>, sg: &Sudog, send: bool) {
        let s = self.state(g);
        let q = if send { &mut s.sendq } else { &mut s.recvq };
        // SAFETY: contract.
        unsafe { q.enqueue(sg) };
    }

    /// Takes `sg` out of its queue if still there (select pass 3).
    ///
    /// # Safety
    /// `sg` was queued here by `enqueue` (same `send`) and not served: it is
    /// still in that queue, or a waker whose select CAS failed dropped it.
    pub(crate) unsafe fn dequeue_sudog(&self, g: &mut ChanGuard<'_>, sg: &Sudog, send: bool) {
        let s = self.state(g);
        let q = if send { &mut s.sendq } else { &mut s.recvq };
        // SAFETY: in this queue or in none, links cleared (contract).
        unsafe { q.remove(sg) };
    }

    /// `chansend` with `block = true`.
    fn send(&self, v: T) {
        preempt_check();
        let mut g = self.lock.lock();
        match self.send_locked(&mut g, v) {
            SendPoll::Done(w) => {
                drop(g);
                if let Some(w) = w {
                    // SAFETY: we dequeued it; nobody else will wake it.
                    unsafe { w.wake() };
                }
            }
            SendPoll::Closed(v) => {
                drop(g);
                drop(v);
                panic!("send on closed channel");
            }
            SendPoll::Full(v) => {
                // Park with the value on our stack; a receiver takes it from there.
                let mut slot = MaybeUninit::new(v);
                let sg = Sudog::new();
                sg.elem.set(slot.as_mut_ptr() as *mut ());
                // SAFETY: `sg` and `slot` live in this frame, which stays put until
                // we are woken, so `sg` stays valid while queued (as `park` and
                // `enqueue` require); it is in no queue yet.
                unsafe {
                    park(
                        |w| {
                            sg.waiter.set(Some(w));
                            self.enqueue(&mut g, &sg, true);
                            Commit::Chan(g)
                        },
                        Wait::Send,
                    )
                };
                if !sg.success() {
                    // Woken by close: the value is still ours.
                    // SAFETY: nobody took it (success is false).
                    drop(unsafe { slot.assume_init() });
                    panic!("send on closed channel");
                }
            }
        }
    }

    /// `chansend` with `block = false`.
    fn try_send(&self, v: T) -> Result<(), TrySendError<T>> {
        let mut g = self.lock.lock();
        let r = self.send_locked(&mut g, v);
        drop(g);
        match r {
            SendPoll::Done(w) => {
                if let Some(w) = w {
                    // SAFETY: we dequeued it; nobody else will wake it.
                    unsafe { w.wake() };
                }
                Ok(())
            }
            SendPoll::Full(v) => Err(TrySendError::Full(v)),
            SendPoll::Closed(v) => Err(TrySendError::Closed(v)),
        }
    }

    /// `chanrecv` with `block = true`: None once closed and drained.
    fn recv(&self) -> Option<T> {
        preempt_check();
        let mut g = self.lock.lock();
        match self.recv_locked(&mut g) {
            RecvPoll::Value(v, w) => {
                drop(g);
                if let Some(w) = w {
                    // SAFETY: we dequeued it; nobody else will wake it.
                    unsafe { w.wake() };
                }
                Some(v)
            }
            RecvPoll::Closed => {
                drop(g);
                None
            }
            RecvPoll::Empty => {
                let mut slot = MaybeUninit::<T>::uninit();
                let sg = Sudog::new();
                sg.elem.set(slot.as_mut_ptr() as *mut ());
                // SAFETY: `sg` and `slot` live in this frame, which stays put until
                // we are woken, so `sg` stays valid while queued (as `park` and
                // `enqueue` require); it is in no queue yet.
                unsafe {
                    park(
                        |w| {
                            sg.waiter.set(Some(w));
                            self.enqueue(&mut g, &sg, false);
                            Commit::Chan(g)
                        },
                        Wait::Recv,
                    )
                };
                // success: a sender filled the slot; otherwise close woke us.
                // SAFETY: a successful waker wrote the slot before waking us.
                sg.success().then(|| unsafe { slot.assume_init() })
            }
        }
    }

    /// `chanrecv` with `block = false`.
    fn try_recv(&self) -> Result<T, TryRecvError> {
        let mut g = self.lock.lock();
        let r = self.recv_locked(&mut g);
        drop(g);
        match r {
            RecvPoll::Value(v, w) => {
                if let Some(w) = w {
                    // SAFETY: we dequeued it; nobody else will wake it.
                    unsafe { w.wake() };
                }
                Ok(v)
            }
            RecvPoll::Closed => Err(TryRecvError::Closed),
            RecvPoll::Empty => Err(TryRecvError::Empty),
        }
    }

    /// `closechan`.
    fn close(&self) {
        let mut g = self.lock.lock();
        let s = self.state(&mut g);
        if s.closed {
            drop(g);
            panic!("close of closed channel");
        }
        s.closed = true;
        // Collect every waiter (receivers first, as Go does), chained through
        // `next`, which the dequeue cleared and nobody else now writes.
        let mut head: *const Sudog = std::ptr::null();
        let mut tail: *const Sudog = std::ptr::null();
        for q in [&mut s.recvq, &mut s.sendq] {
            while let Some(sg) = q.dequeue() {
                sg.success.set(false);
                if tail.is_null() {
                    head = sg;
                } else {
                    // SAFETY: `tail` is a dequeued sudog whose owner is still
                    // parked (only we can wake it).
                    unsafe { (*tail).next.set(sg) };
                }
                tail = sg;
            }
        }
        drop(g);
        // Wake them all, outside the lock. Read `next` before each wake-up: from
        // then on that sudog's frame may be gone.
        while !head.is_null() {
            // SAFETY: dequeued above, owner still parked.
            let (next, w) = unsafe { ((*head).next.get(), (*head).waiter()) };
            // SAFETY: we dequeued it; nobody else will wake it.
            unsafe { w.wake() };
            head = next;
        }
    }

    fn len(&self) -> usize {
        let mut g = self.lock.lock();
        self.state(&mut g).qcount
    }

    fn is_closed(&self) -> bool {
        let mut g = self.lock.lock();
        self.state(&mut g).closed
    }

    fn cap(&self) -> usize {
        self.dataqsiz
    }
}

/// Dropped with the channel, when the last handle goes: `&mut self`, so no lock.
impl<T> Drop for State<T> {
    fn drop(&mut self) {
        #[cfg(test)]
        debug_assert!(self.recvq.is_empty() && self.sendq.is_empty());
        let cap = self.buf.len();
        for i in 0..self.qcount {
            // SAFETY: the qcount slots from recvx (wrapping) hold values.
            unsafe { self.buf[(self.recvx + i) % cap].assume_init_drop() };
        }
    }
}
