//! The context switch: the only place where a thread changes which stack it runs on.
//!
//! Models Go's `gogo`/`mcall` pair (`asm_amd64.s`, `asm_arm64.s`). gort switches only
//! between a goroutine and its M's scheduler context (g0, the OS thread's own stack),
//! never goroutine to goroutine: `execute` switches g0 → G, and every way a goroutine
//! leaves the CPU (park, yield, exit, preemption, fatal panic) switches G → g0 and
//! lets g0 finish the job. That is Go's `mcall(fn)`.
//!
//! # The switch
//!
//! `gort_swap(save, load)` pushes the callee-saved registers onto the *current*
//! stack, stores the stack pointer into `*save`, loads `load` as the new stack
//! pointer, pops the other side's callee-saved registers and returns into it. The
//! compiler saves everything caller-saved around the call as for any function call,
//! so after the switch every register the suspended code still needs lives on its
//! own stack. A parked goroutine is therefore fully described by
//! `[saved_sp, stack_top)` — exactly the range the collector will scan
//! conservatively (corosensei's approach, simplified to a plain `extern "C"` call).
//!
//! # A new goroutine's first frame
//!
//! [`init_stack`] lays out a frame that looks like one `gort_swap` left behind: zeroed
//! callee-saved slots except two, which carry the entry function and its argument,
//! and a return address pointing at `gort_trampoline`. The first switch to it "returns"
//! into the trampoline, which calls `entry(arg)`. The trampoline's unwind info marks
//! the return address undefined, so unwinders and debuggers stop there instead of
//! walking into garbage; unwinding (panics) never reaches it because the entry
//! function catches every panic first.
//!
//! # Running a function on g0: `systemstack`
//!
//! `gort_systemstack(save, sp, f, arg)` is Go's `systemstack`: it pushes the
//! callee-saved registers and stores the stack pointer into `*save` exactly as
//! `gort_swap` does, then moves the stack pointer to `sp` (on g0's stack) and
//! *calls* `f(arg)` there; when `f` returns it moves back and returns. Calls and
//! returns stay paired, so the CPU's return predictor is not thrown off, and its
//! unwind info finds the caller's frame through a callee-saved register, so a
//! backtrace taken inside `f` walks on into the goroutine's frames. The context
//! saved in `*save` has `gort_swap`'s layout: `f` may instead switch away for good
//! and leave the goroutine to be resumed later by a `gort_swap` to `*save`, which
//! then returns from `gort_systemstack` as if `f` had returned.
//!
//! `syscall::blocking` runs its closure this way (`proc/syscall.rs`): meanwhile
//! the goroutine's stack is frozen and `[*save, stack_top)` holds every live word
//! it has, callee-saved registers included — Go's `syscallsp`, which the
//! collector scans from.
//!
//! Not saved: the x87 control word and MXCSR control bits (x86_64), FPCR (aarch64).
//! They are callee-saved by the ABI but Rust code never changes them; Go does not
//! save them either.

#[cfg(target_arch = "aarch64")]
mod aarch64;
#[cfg(target_arch = "x86_64")]
mod x86_64;

#[cfg(target_arch = "aarch64")]
pub(crate) use aarch64::{init_stack, INITIAL_FRAME_BYTES};
#[cfg(target_arch = "x86_64")]
pub(crate) use x86_64::{init_stack, INITIAL_FRAME_BYTES};

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
compile_error!("gort's context switch is written for x86_64 and aarch64 only");

extern "C" {
    /// Saves the callee-saved registers on the current stack, writes the stack
    /// pointer to `*save`, and resumes the context whose stack pointer is `load`.
    /// Returns when some other context switches back to the one saved here.
    fn gort_swap(save: *mut usize, load: usize);

    /// Saves the callee-saved registers on the current stack and the stack
    /// pointer in `*save` (as `gort_swap` does), calls `f(arg)` with the stack
    /// pointer set to `sp`, and returns when `f` returns.
    fn gort_systemstack(save: *mut usize, sp: usize, f: SystemFn, arg: *mut u8);
}

/// A function [`systemstack`] runs: called on the other stack with its argument.
pub(crate) type SystemFn = unsafe extern "C" fn(arg: *mut u8);

/// Switches from the current context to the one saved at `load`.
///
/// # Safety
/// `load` must be a stack pointer produced by a previous `swap` (a suspended context)
/// or by [`init_stack`], whose stack is still mapped and not running on any thread;
/// `save` must be valid for a write. The current context may be resumed later only
/// by swapping to the value written into `*save`.
#[inline(always)]
pub(crate) unsafe fn swap(save: *mut usize, load: usize) {
    // SAFETY: the caller upholds the contract above, which is the whole of what
    // `gort_swap` needs: a valid save slot and a valid context to resume.
    unsafe { gort_swap(save, load) }
}

/// Runs `f(arg)` on the stack below `top` (Go's `systemstack`), with the current
/// context saved in `*save` meanwhile; returns when `f` returns, or when some
/// context swaps to the value in `*save` (if `f` switched away instead).
///
/// # Safety
/// `[top - room, top)` must be writable stack memory that nothing else uses until
/// `f` returns or switches away for good, `room` being whatever `f` needs; `save`
/// must be valid for a write; `f` must not unwind. If `f` does not return, the
/// current context may be resumed only by swapping to the value in `*save`, once.
#[inline(always)]
pub(crate) unsafe fn systemstack(save: *mut usize, top: usize, f: SystemFn, arg: *mut u8) {
    // SAFETY: the caller upholds the contract above; the stack pointer handed
    // over is 16-byte aligned, as both ABIs require at a call.
    unsafe { gort_systemstack(save, top & !15, f, arg) }
}

/// The signature of a goroutine entry function: called once, on the new stack, with
/// the argument given to [`init_stack`]; it must never return.
pub(crate) type Entry = unsafe extern "C" fn(arg: *mut u8) -> !;
