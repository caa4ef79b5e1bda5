//! The SIGSEGV/SIGBUS handler that turns a touch of a goroutine stack's guard page
//! into Go's stack-overflow report instead of a bare segmentation fault.
//!
//! Models the outcome of `runtime/stack.go`'s `newstack` overflow check
//! (`runtime: goroutine stack exceeds N-byte limit`, `fatal error: stack overflow`)
//! — Go finds overflow in function prologues; gort, with fixed stacks, finds it when
//! the guard page faults.
//!
//! The handler runs on the thread's alternate signal stack (a faulting thread's own
//! stack is, by definition, exhausted). Rust's standard library gives every thread it
//! starts one, for its own overflow message; [`install_for_thread`] makes sure. The
//! handler is async-signal-safe: it reads only the lock-free guard table
//! (`stack::guard_hit`) and a const-initialised thread-local, formats into a stack
//! buffer and calls `write(2)` and `_exit(2)`. A fault anywhere else is passed to the
//! handler that was there before (std's), or to the default action.

use std::sync::atomic::{AtomicBool, Ordering};

static INSTALLED: AtomicBool = AtomicBool::new(false);
static mut PREV_SEGV: std::mem::MaybeUninit<libc::sigaction> = std::mem::MaybeUninit::zeroed();
static mut PREV_BUS: std::mem::MaybeUninit<libc::sigaction> = std::mem::MaybeUninit::zeroed();

/// Installs the handler for the process (once).
pub(crate) fn install() {
    if INSTALLED.swap(true, Ordering::AcqRel) {
        return;
    }
    // SAFETY: the previous actions are read into PREV_* first (a query, installing
    // nothing), and only then is our handler installed, so no fault can reach it
    // before PREV_* hold what it chains to. sigaction gets fully initialised values.
    unsafe {
        libc::sigaction(
            libc::SIGSEGV,
            std::ptr::null(),
            std::ptr::addr_of_mut!(PREV_SEGV).cast(),
        );
        libc::sigaction(
            libc::SIGBUS,
            std::ptr::null(),
            std::ptr::addr_of_mut!(PREV_BUS).cast(),
        );
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = handler as *const () as usize;
        sa.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(libc::SIGSEGV, &sa, std::ptr::null_mut());
        libc::sigaction(libc::SIGBUS, &sa, std::ptr::null_mut());
    }
}

/// Gives the calling thread an alternate signal stack if it has none.
pub(crate) fn install_for_thread() {
    // SAFETY: querying and setting sigaltstack for the current thread; the new stack
    // is a fresh private mapping that is never unmapped (the thread may run until
    // process exit).
    unsafe {
        let mut cur: libc::stack_t = std::mem::zeroed();
        if libc::sigaltstack(std::ptr::null(), &mut cur) == 0
            && cur.ss_flags & libc::SS_DISABLE == 0
        {
            return;
        }
        let size = 64 * 1024;
        let p = libc::mmap(
            std::ptr::null_mut(),
            size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        if p == libc::MAP_FAILED {
            return;
        }
        let st = libc::stack_t {
            ss_sp: p,
            ss_flags: 0,
            ss_size: size,
        };
        libc::sigaltstack(&st, std::ptr::null_mut());
    }
}

/// A fixed buffer that `core::fmt` can write into without allocating.
struct Buf {
    b: [u8; 512],
    n: usize,
}

impl std::fmt::Write for Buf {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let k = s.len().min(self.b.len() - self.n);
        self.b[self.n..self.n + k].copy_from_slice(&s.as_bytes()[..k]);
        self.n += k;
        Ok(())
    }
}

extern "C" fn handler(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers.
    let addr = unsafe { (*info).si_addr() } as usize;
    if let Some(stack) = crate::stack::guard_hit(addr) {
        use std::fmt::Write as _;
        let mut b = Buf { b: [0; 512], n: 0 };
        let sp = context_sp(ctx);
        let goid = crate::proc::m::getg().map_or(0, |g| g.goid());
        let _ = write!(
            b,
            "runtime: goroutine stack exceeds {}-byte limit\nruntime: sp={:#x} stack=[{:#x}, {:#x}]\n\
             fatal error: stack overflow\n\ngoroutine {} [running]:\n",
            stack.size(),
            sp,
            stack.lo,
            stack.hi,
            goid
        );
        // SAFETY: write(2) and _exit(2) are async-signal-safe.
        unsafe {
            libc::write(2, b.b.as_ptr().cast(), b.n);
            libc::_exit(2);
        }
    }
    // Not ours: hand the fault to whoever had it before, or die the default way.
    // SAFETY: PREV_* were written by `install` before the handler was installed.
    unsafe {
        let prev = if sig == libc::SIGSEGV {
            (*std::ptr::addr_of!(PREV_SEGV)).assume_init_ref()
        } else {
            (*std::ptr::addr_of!(PREV_BUS)).assume_init_ref()
        };
        let h = prev.sa_sigaction;
        if h == libc::SIG_DFL || h == libc::SIG_IGN {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = libc::SIG_DFL;
            libc::sigaction(sig, &sa, std::ptr::null_mut());
            // Returning re-executes the faulting instruction, which now kills us.
        } else if prev.sa_flags & libc::SA_SIGINFO != 0 {
            let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                std::mem::transmute(h);
            f(sig, info, ctx);
        } else {
            let f: extern "C" fn(libc::c_int) = std::mem::transmute(h);
            f(sig);
        }
    }
}

fn context_sp(ctx: *mut libc::c_void) -> usize {
    if ctx.is_null() {
        return 0;
    }
    // SAFETY: for SA_SIGINFO handlers the third argument is the interrupted
    // thread's ucontext_t.
    unsafe {
        let uc = &*(ctx as *const libc::ucontext_t);
        #[cfg(target_arch = "x86_64")]
        {
            uc.uc_mcontext.gregs[libc::REG_RSP as usize] as usize
        }
        #[cfg(target_arch = "aarch64")]
        {
            uc.uc_mcontext.sp as usize
        }
    }
}
