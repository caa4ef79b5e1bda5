//! G: a goroutine — its stack, saved context, status, wait reason and id — and the
//! gFree lists that recycle dead goroutines with their stacks.
//!
//! Models `runtime/runtime2.go` (`type g`, `_Gidle` … `_Gdead`, `waitReason`) and
//! `runtime/proc.go` (`malg`, `gfput`, `gfget`, `allgadd`).
//!
//! # Lifetime
//!
//! A G is created once (`malg`), added to its runtime's `allgs` and never freed while
//! the runtime lives: when its goroutine exits it goes, stack and all, onto its P's
//! gFree list and is handed to the next `go`. So a `&'static G` is always valid, run
//! queues can hold raw pointers to Gs that may be stale but are never dangling, and a
//! spawn on the hot path touches no fresh memory. Go does the same (`allgs` only
//! grows). gFree lists follow Go's sizes: a P keeps up to 64 and moves down to 32 to
//! the global list when it has more; an empty P list refills up to 32 from it.
//!
//! The stack is what a dead G costs (its first pages were touched), so the global
//! list is two lists, as Go's `sched.gFree` is: Gs that keep their stack and Gs
//! whose stack went back to the heap. `free_g_stacks` (Go's
//! `markrootFreeGStacks`, run once per collection) moves every G of the first to
//! the second, freeing the stacks; `new_g` prefers a G with a stack and gives one
//! without a stack a fresh one. A burst of goroutines therefore costs stack
//! memory only until the next collection (sysmon forces one every 2 minutes
//! while none runs), and the heap's scavenger returns the pages to the OS.
//!
//! # Who touches what
//!
//! `sched_sp` is written only by the context switch on this G's own stack (saving)
//! and read by the M that resumes it — and, while the G is in a system call (its
//! context saved there by `arch::systemstack`, Go's `syscallsp`) or parked, by a
//! stopper listing stacks; `atomicstatus` changes by CAS so that exactly
//! one party moves a G out of `Gwaiting` (`ready`). Everything else is set by the M
//! that owns the G at the time (the one running it, or the one creating it).

use crate::loom::atomic::{
    AtomicBool, AtomicI64, AtomicPtr, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering,
};
use crate::proc::m::M;
use crate::proc::sched::Sched;
use crate::stack::Stack;
use std::cell::{Cell, UnsafeCell};

/// A goroutine's status (`runtime2.go`; numbered as in Go, so scheddetail's
/// `status=N` means the same thing).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Status {
    /// Just allocated, not yet initialised (`_Gidle`).
    Idle = 0,
    /// On a run queue, not running (`_Grunnable`).
    Runnable = 1,
    /// Running on an M that holds a P (`_Grunning`).
    Running = 2,
    /// In a blocking system call, off its P's books (`_Gsyscall`).
    Syscall = 3,
    /// Blocked, recorded somewhere that will `ready` it (`_Gwaiting`).
    Waiting = 4,
    /// Exited; on a gFree list for reuse (`_Gdead`).
    Dead = 6,
    /// Stopped itself for a suspend request (`_Gpreempted`).
    Preempted = 9,
}

impl Status {
    pub(crate) fn from_u32(v: u32) -> Status {
        match v {
            0 => Status::Idle,
            1 => Status::Runnable,
            2 => Status::Running,
            3 => Status::Syscall,
            4 => Status::Waiting,
            6 => Status::Dead,
            9 => Status::Preempted,
            _ => panic!("bad g status {v}"),
        }
    }

    /// The word Go's traceback prints for a goroutine in this state.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Idle => "idle",
            Status::Runnable => "runnable",
            Status::Running => "running",
            Status::Syscall => "syscall",
            Status::Waiting => "waiting",
            Status::Dead => "dead",
            Status::Preempted => "preempted",
        }
    }
}

/// Why a goroutine is waiting (Go's `waitReason`, with Go's strings).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
#[non_exhaustive]
pub enum WaitReason {
    /// Not waiting.
    Zero = 0,
    /// `chan receive`
    ChanReceive,
    /// `chan send`
    ChanSend,
    /// `select`
    Select,
    /// `select (no cases)`
    SelectNoCases,
    /// `sleep`
    Sleep,
    /// `IO wait`
    IoWait,
    /// `semacquire`
    Semacquire,
    /// `sync.Mutex.Lock`
    SyncMutexLock,
    /// `sync.RWMutex.RLock`
    SyncRwMutexRLock,
    /// `sync.RWMutex.Lock`
    SyncRwMutexLock,
    /// `sync.WaitGroup.Wait`
    SyncWaitGroupWait,
    /// `sync.Cond.Wait`
    SyncCondWait,
    /// `preempted`
    Preempted,
    /// `JoinHandle.join` (gort's own: waiting for a spawned goroutine's result).
    JoinHandleJoin,
    /// `GC assist wait`
    GcAssistWait,
    /// `GC worker (idle)`
    GcWorkerIdle,
    /// `force gc (idle)`
    ForceGcIdle,
    /// `chan send (nil chan)`: a send that can never proceed (a never-ready channel).
    ChanSendNilChan,
    /// `chan receive (nil chan)`: a receive that can never proceed.
    ChanReceiveNilChan,
    /// `panicwait`: the main goroutine returned while another goroutine's panic is
    /// in progress (it waits for the unwinding to end) or being reported (it
    /// waits for the process to exit).
    PanicWait,
}

impl WaitReason {
    /// Go's string for this reason (`waitReasonStrings`).
    pub fn as_str(self) -> &'static str {
        match self {
            WaitReason::Zero => "",
            WaitReason::ChanReceive => "chan receive",
            WaitReason::ChanSend => "chan send",
            WaitReason::Select => "select",
            WaitReason::SelectNoCases => "select (no cases)",
            WaitReason::Sleep => "sleep",
            WaitReason::IoWait => "IO wait",
            WaitReason::Semacquire => "semacquire",
            WaitReason::SyncMutexLock => "sync.Mutex.Lock",
            WaitReason::SyncRwMutexRLock => "sync.RWMutex.RLock",
            WaitReason::SyncRwMutexLock => "sync.RWMutex.Lock",
            WaitReason::SyncWaitGroupWait => "sync.WaitGroup.Wait",
            WaitReason::SyncCondWait => "sync.Cond.Wait",
            WaitReason::Preempted => "preempted",
            WaitReason::JoinHandleJoin => "JoinHandle.join",
            WaitReason::PanicWait => "panicwait",
            WaitReason::GcAssistWait => "GC assist wait",
            WaitReason::GcWorkerIdle => "GC worker (idle)",
            WaitReason::ForceGcIdle => "force gc (idle)",
            WaitReason::ChanSendNilChan => "chan send (nil chan)",
            WaitReason::ChanReceiveNilChan => "chan receive (nil chan)",
        }
    }

    fn from_u8(v: u8) -> WaitReason {
        const ALL: [WaitReason; 21] = [
            WaitReason::Zero,
            WaitReason::ChanReceive,
            WaitReason::ChanSend,
            WaitReason::Select,
            WaitReason::SelectNoCases,
            WaitReason::Sleep,
            WaitReason::IoWait,
            WaitReason::Semacquire,
            WaitReason::SyncMutexLock,
            WaitReason::SyncRwMutexRLock,
            WaitReason::SyncRwMutexLock,
            WaitReason::SyncWaitGroupWait,
            WaitReason::SyncCondWait,
            WaitReason::Preempted,
            WaitReason::JoinHandleJoin,
            WaitReason::GcAssistWait,
            WaitReason::GcWorkerIdle,
            WaitReason::ForceGcIdle,
            WaitReason::ChanSendNilChan,
            WaitReason::ChanReceiveNilChan,
            WaitReason::PanicWait,
        ];
        ALL.get(v as usize).copied().unwrap_or(WaitReason::Zero)
    }
}

/// A goroutine.
pub(crate) struct G {
    /// Saved stack pointer while the goroutine is not running, or is `Syscall`
    /// (then it is Go's `syscallsp`: the call runs on g0's stack, `proc/syscall.rs`).
    /// Written by the context switch when the goroutine leaves its stack, read
    /// when it resumes and by `StoppedWorld::goroutines`.
    pub(crate) sched_sp: UnsafeCell<usize>,
    /// The stack, `[lo, hi)` (see [`G::stack`]): set when the G is made, kept
    /// while it is dead on a gFree list, and taken away (`0..0`) only from a dead G
    /// on the global list by [`free_g_stacks`](crate::proc::sched::free_g_stacks);
    /// `new_g` gives such a G a fresh stack before it runs again. Atomics because
    /// dumps and traces read them from other threads.
    stack_lo: AtomicUsize,
    stack_hi: AtomicUsize,
    /// Goroutine id; 0 while dead. Read by traces and dumps from any thread.
    pub(crate) goid: AtomicU64,
    /// `Status` as u32; changed by CAS where two parties may race (`ready`).
    pub(crate) atomicstatus: AtomicU32,
    /// `WaitReason` as u8; set before parking.
    pub(crate) waitreason: AtomicU8,
    /// Intrusive link for the global run queue and the gFree lists. Only touched by
    /// whoever holds the list's lock (or owns the P of a local gFree list).
    pub(crate) schedlink: AtomicPtr<G>,
    /// The M running this G, or null. Read by scheddetail.
    pub(crate) m: AtomicPtr<M>,
    /// Preemption request (Go's `gp.preempt`): set by sysmon or stop-the-world, honoured
    /// at the goroutine's next safepoint, cleared by `execute`.
    pub(crate) preempt: AtomicBool,
    /// The runtime this G belongs to.
    pub(crate) sched: &'static Sched,
    /// Id of the goroutine that started this one (Go's `parentGoid`).
    pub(crate) parent_goid: AtomicU64,
    /// The user's start function, for dumps: a `fn() -> &'static str` (the
    /// monomorphised `std::any::type_name::<F>`) stored as a pointer, so that a dump
    /// on another thread reads it atomically while a creator writes it.
    entry_name: AtomicPtr<()>,
    /// Panic report captured by the panic hook while unwinding this goroutine.
    pub(crate) panic_trace: UnsafeCell<Option<backtrace::Backtrace>>,
    /// Whether an unwinding panic is this goroutine's own business (`spawn`: the
    /// JoinHandle gets it) rather than fatal (`go`).
    pub(crate) joinable: Cell<bool>,
    /// This goroutine's panic is counted in `Sched::running_panic_defers` (set by
    /// the panic hook, cleared when it turns fatal or is found recovered).
    pub(crate) panic_counted: Cell<bool>,
    /// The timer `time::sleep` parks on, made on first use and kept for the G's
    /// life (Go's `gp.timer`): it readies this G.
    pub(crate) sleep_timer: std::sync::OnceLock<std::sync::Arc<crate::time::timer::Timer>>,
    /// When the current sleep ends (Go's `gp.sleepWhen`); read by the park's unlock
    /// function on g0, which arms the timer only once the G is parked.
    pub(crate) sleepwhen: AtomicI64,
    /// The M this G is locked to (`lockOSThread`), or null.
    pub(crate) lockedm: AtomicPtr<M>,
    /// The result slot of a [`crate::spawn`]ed goroutine, so that a runtime that
    /// abandons it (dropped before it finished) can tell its `JoinHandle`. Set by
    /// `newproc` before the G is queued; taken by the goroutine itself just before
    /// it completes, or by `abandon` on the dropping thread or g0.
    pub(crate) join: parking_lot::Mutex<Option<std::sync::Arc<dyn crate::api::Abandon>>>,
    /// The goroutine's `goroutine_local!` values (`local.rs`); touched only by
    /// the goroutine itself, emptied when it exits.
    pub(crate) locals: UnsafeCell<crate::local::Locals>,
}

// SAFETY: the non-atomic fields (`sched_sp`, `panic_trace`, `joinable`,
// `panic_counted`, `locals`) are touched
// only by whoever owns the G at the time — its creator until it is queued, then the
// M running it (or g0 of that M after it switched out) — and ownership passes
// through the run queues' and statuses' Release/Acquire edges. Fields that other
// threads read at any time (dumps, traces) are atomics.
unsafe impl Sync for G {}
// SAFETY: as above; a G is handed between threads whole.
unsafe impl Send for G {}

impl G {
    /// `malg`: a fresh G with its own stack, status `Dead`, not yet in `allgs`.
    pub(crate) fn new(sched: &'static Sched, stack: Stack) -> &'static G {
        Box::leak(Box::new(G {
            sched_sp: UnsafeCell::new(0),
            stack_lo: AtomicUsize::new(stack.lo),
            stack_hi: AtomicUsize::new(stack.hi),
            goid: AtomicU64::new(0),
            atomicstatus: AtomicU32::new(Status::Dead as u32),
            waitreason: AtomicU8::new(0),
            schedlink: AtomicPtr::new(std::ptr::null_mut()),
            m: AtomicPtr::new(std::ptr::null_mut()),
            preempt: AtomicBool::new(false),
            sched,
            parent_goid: AtomicU64::new(0),
            entry_name: AtomicPtr::new(std::ptr::null_mut()),
            panic_trace: UnsafeCell::new(None),
            sleep_timer: std::sync::OnceLock::new(),
            sleepwhen: AtomicI64::new(0),
            lockedm: AtomicPtr::new(std::ptr::null_mut()),
            joinable: Cell::new(false),
            panic_counted: Cell::new(false),
            join: parking_lot::Mutex::new(None),
            locals: UnsafeCell::new(Vec::new()),
        }))
    }

    /// The G's stack; empty (`0..0`) for a dead G whose stack was freed.
    pub(crate) fn stack(&self) -> Stack {
        Stack {
            lo: self.stack_lo.load(Ordering::Relaxed),
            hi: self.stack_hi.load(Ordering::Relaxed),
        }
    }

    /// Gives a dead G a stack, or takes it away (`Stack::EMPTY`). Only the owner
    /// of a dead G calls it: the holder of the global gFree lock, or the M that
    /// took the G off a list and has not queued it yet.
    pub(crate) fn set_stack(&self, st: Stack) {
        self.stack_lo.store(st.lo, Ordering::Relaxed);
        self.stack_hi.store(st.hi, Ordering::Relaxed);
    }

    pub(crate) fn status(&self) -> Status {
        Status::from_u32(self.atomicstatus.load(Ordering::Acquire))
    }

    /// Claims a dead G's stack for freeing: moves it from `Dead` to `Idle`, which
    /// succeeds exactly once however many parties try (`free_g_stacks`, and
    /// `reclaim_stacks` of a runtime shutting down). False if it was not dead.
    pub(crate) fn claim_dead(&self) -> bool {
        self.atomicstatus
            .compare_exchange(
                Status::Dead as u32,
                Status::Idle as u32,
                Ordering::AcqRel,
                Ordering::Relaxed,
            )
            .is_ok()
    }

    /// `casgstatus`: moves the G from `from` to `to`; panics (a runtime bug) if it
    /// was in another state.
    #[inline]
    pub(crate) fn cas_status(&self, from: Status, to: Status) {
        self.cas_status_ordered(from, to, Ordering::AcqRel, Ordering::Acquire);
    }

    /// [`G::cas_status`] with a SeqCst CAS, for the moves to `Running` that
    /// `execute` follows with a SeqCst read of `shutdown` (see
    /// `sched.rs: shutdown_abandons`). The same instructions as AcqRel on x86-64
    /// and aarch64.
    #[inline]
    pub(crate) fn cas_status_seqcst(&self, from: Status, to: Status) {
        self.cas_status_ordered(from, to, Ordering::SeqCst, Ordering::SeqCst);
    }

    #[inline]
    fn cas_status_ordered(&self, from: Status, to: Status, ok: Ordering, err: Ordering) {
        if let Err(v) = self
            .atomicstatus
            .compare_exchange(from as u32, to as u32, ok, err)
        {
            crate::panic::throw(&format!(
                "casgstatus: goroutine {} is {:?}, wanted {:?} -> {:?}",
                self.goid(),
                Status::from_u32(v),
                from,
                to
            ));
        }
    }

    /// Records the user's start function (`type_name::<F>` of the closure).
    pub(crate) fn set_entry(&self, name: fn() -> &'static str) {
        self.entry_name.store(name as *mut (), Ordering::Release);
    }

    /// The user's start function's name, or "" if not set.
    pub(crate) fn entry_name(&self) -> &'static str {
        let p = self.entry_name.load(Ordering::Acquire);
        if p.is_null() {
            return "";
        }
        // SAFETY: only `set_entry` stores here, and it stores a `fn() -> &'static str`.
        let f: fn() -> &'static str =
            unsafe { std::mem::transmute::<*mut (), fn() -> &'static str>(p) };
        f()
    }

    pub(crate) fn goid(&self) -> u64 {
        self.goid.load(Ordering::Relaxed)
    }

    pub(crate) fn waitreason(&self) -> WaitReason {
        WaitReason::from_u8(self.waitreason.load(Ordering::Relaxed))
    }

    pub(crate) fn as_ptr(&'static self) -> *mut G {
        self as *const G as *mut G
    }

    /// # Safety
    /// `p` must come from [`G::as_ptr`] (Gs are never freed).
    pub(crate) unsafe fn from_ptr(p: *mut G) -> &'static G {
        // SAFETY: Gs are leaked boxes that live as long as the process.
        unsafe { &*p }
    }

    /// The saved stack pointer (meaningful while the G is not running).
    pub(crate) fn saved_sp(&self) -> usize {
        // SAFETY: read by the M that owns the G or, with the world stopped, by the
        // stopper; the write happened-before through the status/queue edges.
        unsafe { *self.sched_sp.get() }
    }
}

/// The global list of dead Gs (Go's `sched.gFree`): those that keep their stack
/// and those whose stack went back to the heap. Under `Sched::gfree`'s lock.
pub(crate) struct GFree {
    /// Dead Gs with their stacks (warm: reused first).
    pub(crate) stack: GQueue,
    /// Dead Gs whose stack [`free_g_stacks`](crate::proc::sched::free_g_stacks) freed.
    pub(crate) no_stack: GQueue,
}

impl GFree {
    pub(crate) const fn new() -> Self {
        GFree {
            stack: GQueue::new(),
            no_stack: GQueue::new(),
        }
    }

    /// A dead G, one with a stack if there is one (Go's `gfget` order).
    pub(crate) fn pop(&mut self) -> Option<&'static G> {
        self.stack.pop_front().or_else(|| self.no_stack.pop_front())
    }
}

/// An intrusive singly-linked list of Gs through `schedlink` (Go's `gQueue`/`gList`).
pub(crate) struct GQueue {
    head: *mut G,
    tail: *mut G,
    pub(crate) size: u32,
}

// SAFETY: a GQueue is only used under a lock or by the owner of its P.
unsafe impl Send for GQueue {}

impl GQueue {
    pub(crate) const fn new() -> Self {
        GQueue {
            head: std::ptr::null_mut(),
            tail: std::ptr::null_mut(),
            size: 0,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.head.is_null()
    }

    pub(crate) fn push_back(&mut self, gp: *mut G) {
        // SAFETY: gp is a live G (never freed) owned by the caller.
        let g = unsafe { G::from_ptr(gp) };
        g.schedlink.store(std::ptr::null_mut(), Ordering::Relaxed);
        if self.tail.is_null() {
            self.head = gp;
        } else {
            // SAFETY: tail is a live G in this list.
            unsafe { G::from_ptr(self.tail) }
                .schedlink
                .store(gp, Ordering::Relaxed);
        }
        self.tail = gp;
        self.size += 1;
    }

    /// Pushes at the head: used as a LIFO stack (Go's `gList`) by the gFree lists,
    /// so the most recently dead G — its struct and stack top still in cache and
    /// TLB — is the next one reused.
    pub(crate) fn push_front(&mut self, gp: *mut G) {
        // SAFETY: gp is a live G (never freed) owned by the caller.
        let g = unsafe { G::from_ptr(gp) };
        g.schedlink.store(self.head, Ordering::Relaxed);
        if self.head.is_null() {
            self.tail = gp;
        }
        self.head = gp;
        self.size += 1;
    }

    pub(crate) fn pop_front(&mut self) -> Option<&'static G> {
        if self.head.is_null() {
            return None;
        }
        // SAFETY: head is a live G in this list.
        let g = unsafe { G::from_ptr(self.head) };
        self.head = g.schedlink.load(Ordering::Relaxed);
        if self.head.is_null() {
            self.tail = std::ptr::null_mut();
        }
        self.size -= 1;
        Some(g)
    }
}
