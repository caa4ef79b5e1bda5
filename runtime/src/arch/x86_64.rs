//! x86_64 System V context switch (Go: `asm_amd64.s` `gogo`, `mcall`).
//!
//! Stack of a suspended context, lowest address first (what `*save` points at):
//!
//! ```text
//!   sp+0   r15
//!   sp+8   r14
//!   sp+16  r13      (new goroutine: entry argument)
//!   sp+24  r12      (new goroutine: entry function)
//!   sp+32  rbx
//!   sp+40  rbp      (new goroutine: 0, ends frame-pointer chains)
//!   sp+48  return address (new goroutine: gort_trampoline)
//! ```
//!
//! `gort_systemstack` saves the same frame, then runs a function on another stack
//! with an ordinary call, and returns: see `arch/mod.rs`.

/// Bytes `init_stack` uses below the top it is given: up to 15 of alignment, the
/// trampoline's 16-byte slot and the 7-word frame.
pub(crate) const INITIAL_FRAME_BYTES: usize = 15 + 16 + 7 * 8;

std::arch::global_asm!(
    ".text",
    // The frame both routines save, as assembler macros, so that it is one
    // layout: a context `gort_systemstack` saved is resumed by `gort_swap`.
    // CFI after each push, so that profilers and debuggers that sample inside
    // the switch can still find the return address (CFA = rsp + 8 at entry).
    ".macro gort_save_callee_saved",
    "  push rbp",
    "  .cfi_adjust_cfa_offset 8",
    "  .cfi_rel_offset rbp, 0",
    "  push rbx",
    "  .cfi_adjust_cfa_offset 8",
    "  .cfi_rel_offset rbx, 0",
    "  push r12",
    "  .cfi_adjust_cfa_offset 8",
    "  .cfi_rel_offset r12, 0",
    "  push r13",
    "  .cfi_adjust_cfa_offset 8",
    "  .cfi_rel_offset r13, 0",
    "  push r14",
    "  .cfi_adjust_cfa_offset 8",
    "  .cfi_rel_offset r14, 0",
    "  push r15",
    "  .cfi_adjust_cfa_offset 8",
    "  .cfi_rel_offset r15, 0",
    ".endm",
    ".macro gort_restore_callee_saved",
    "  pop r15",
    "  .cfi_adjust_cfa_offset -8",
    "  pop r14",
    "  .cfi_adjust_cfa_offset -8",
    "  pop r13",
    "  .cfi_adjust_cfa_offset -8",
    "  pop r12",
    "  .cfi_adjust_cfa_offset -8",
    "  pop rbx",
    "  .cfi_adjust_cfa_offset -8",
    "  pop rbp",
    "  .cfi_adjust_cfa_offset -8",
    ".endm",
    "",
    ".globl gort_swap",
    ".type gort_swap,@function",
    ".p2align 4",
    "gort_swap:",
    ".cfi_startproc",
    // rdi = save slot, rsi = stack pointer to resume.
    "gort_save_callee_saved",
    // Publish where this context stopped, then become the other one.
    "mov [rdi], rsp",
    // The other context's stack has the same layout, so the CFA rule (rsp + 56)
    // still describes its frame.
    "mov rsp, rsi",
    "gort_restore_callee_saved",
    // Return into whoever saved this stack (or into gort_trampoline).
    "ret",
    ".cfi_endproc",
    ".size gort_swap, .-gort_swap",
    "",
    ".globl gort_trampoline",
    ".type gort_trampoline,@function",
    ".p2align 4",
    "gort_trampoline:",
    ".cfi_startproc",
    // No caller: tell unwinders this is the outermost frame.
    ".cfi_undefined rip",
    // rsp is 16-byte aligned here, so the call below leaves the callee with the
    // ABI's rsp % 16 == 8 at entry.
    "mov rdi, r13",
    "call r12",
    // The entry function never returns.
    "ud2",
    ".cfi_endproc",
    ".size gort_trampoline, .-gort_trampoline",
    "",
    ".globl gort_systemstack",
    ".type gort_systemstack,@function",
    ".p2align 4",
    "gort_systemstack:",
    ".cfi_startproc",
    // rdi = save slot, rsi = stack pointer to run on, rdx = function, rcx = its
    // argument. The same pushes as gort_swap, so that the context saved here can
    // also be resumed by a gort_swap to `*save` (it then returns from this call).
    "gort_save_callee_saved",
    "mov [rdi], rsp",
    // rbx (callee-saved, so the function keeps it) remembers where we were; the
    // CFA is now found through it, so unwinders walk from the function's frames
    // back into the caller's stack.
    "mov rbx, rsp",
    ".cfi_def_cfa_register rbx",
    "mov rsp, rsi",
    "mov rdi, rcx",
    // rsp is 16-byte aligned here: the callee sees rsp % 16 == 8 at entry.
    "call rdx",
    "mov rsp, rbx",
    ".cfi_def_cfa_register rsp",
    "gort_restore_callee_saved",
    "ret",
    ".cfi_endproc",
    ".size gort_systemstack, .-gort_systemstack",
);

extern "C" {
    fn gort_trampoline();
}

/// Writes a first frame for a goroutine below `top` and returns its stack pointer.
///
/// # Safety
/// `[top - INITIAL_FRAME_BYTES - 16, top)` must be writable memory of a stack that
/// nobody runs on.
pub(crate) unsafe fn init_stack(top: usize, entry: super::Entry, arg: *mut u8) -> usize {
    let top = top & !15;
    // The trampoline starts with rsp = top - 16 (16-byte aligned); the six register
    // slots and the return address sit just below.
    let sp = top - 16 - 7 * 8;
    let frame = sp as *mut usize;
    // SAFETY: the caller guarantees the range below `top` is writable and unused;
    // sp..top-16 is 7 words inside it.
    unsafe {
        frame.add(0).write(0); // r15
        frame.add(1).write(0); // r14
        frame.add(2).write(arg as usize); // r13
        frame.add(3).write(entry as *const () as usize); // r12
        frame.add(4).write(0); // rbx
        frame.add(5).write(0); // rbp
        frame.add(6).write(gort_trampoline as *const () as usize); // return address
                                                                   // A zero word above the trampoline's frame: a fake null return address for
                                                                   // frame-pointer walkers that ignore CFI.
        (top as *mut usize).sub(1).write(0);
        (top as *mut usize).sub(2).write(0);
    }
    sp
}
