//! AArch64 (AAPCS64) context switch (Go: `asm_arm64.s` `gogo`, `mcall`).
//!
//! Callee-saved state is x19–x28, the frame pointer x29, the link register x30 and
//! the low halves of v8–v15 (d8–d15). A suspended context's stack, lowest address
//! first:
//!
//! ```text
//!   sp+0x00  x19 x20   (new goroutine: x19 = entry function, x20 = argument)
//!   sp+0x10  x21 x22
//!   sp+0x20  x23 x24
//!   sp+0x30  x25 x26
//!   sp+0x40  x27 x28
//!   sp+0x50  x29 x30   (new goroutine: x29 = 0, x30 = gort_trampoline)
//!   sp+0x60  d8  d9
//!   sp+0x70  d10 d11
//!   sp+0x80  d12 d13
//!   sp+0x90  d14 d15
//! ```
//!
//! `gort_systemstack` saves the same frame, then runs a function on another stack
//! with an ordinary call, and returns: see `arch/mod.rs`.
//!
//! Tested under qemu-user by `.ci/run` (the scheduler suite and the unit tests run
//! with `--target aarch64-unknown-linux-gnu`); not yet run on aarch64 hardware.

/// Bytes `init_stack` uses below the top it is given.
pub(crate) const INITIAL_FRAME_BYTES: usize = 15 + 16 + 0xa0;

std::arch::global_asm!(
    ".text",
    // The frame both routines save, as assembler macros, so that it is one
    // layout: a context `gort_systemstack` saved is resumed by `gort_swap`.
    ".macro gort_save_callee_saved",
    "  sub sp, sp, #0xa0",
    "  stp x19, x20, [sp, #0x00]",
    "  stp x21, x22, [sp, #0x10]",
    "  stp x23, x24, [sp, #0x20]",
    "  stp x25, x26, [sp, #0x30]",
    "  stp x27, x28, [sp, #0x40]",
    "  stp x29, x30, [sp, #0x50]",
    "  stp d8, d9, [sp, #0x60]",
    "  stp d10, d11, [sp, #0x70]",
    "  stp d12, d13, [sp, #0x80]",
    "  stp d14, d15, [sp, #0x90]",
    ".endm",
    ".macro gort_restore_callee_saved",
    "  ldp x19, x20, [sp, #0x00]",
    "  ldp x21, x22, [sp, #0x10]",
    "  ldp x23, x24, [sp, #0x20]",
    "  ldp x25, x26, [sp, #0x30]",
    "  ldp x27, x28, [sp, #0x40]",
    "  ldp x29, x30, [sp, #0x50]",
    "  ldp d8, d9, [sp, #0x60]",
    "  ldp d10, d11, [sp, #0x70]",
    "  ldp d12, d13, [sp, #0x80]",
    "  ldp d14, d15, [sp, #0x90]",
    "  add sp, sp, #0xa0",
    ".endm",
    "",
    ".globl gort_swap",
    ".type gort_swap,%function",
    ".p2align 4",
    "gort_swap:",
    ".cfi_startproc",
    // x0 = save slot, x1 = stack pointer to resume.
    "gort_save_callee_saved",
    "mov x2, sp",
    "str x2, [x0]",
    "mov sp, x1",
    "gort_restore_callee_saved",
    // x30 now holds the other side's return address.
    "ret",
    ".cfi_endproc",
    ".size gort_swap, .-gort_swap",
    "",
    ".globl gort_trampoline",
    ".type gort_trampoline,%function",
    ".p2align 4",
    "gort_trampoline:",
    ".cfi_startproc",
    ".cfi_undefined x30",
    "mov x0, x20",
    "blr x19",
    "brk #1",
    ".cfi_endproc",
    ".size gort_trampoline, .-gort_trampoline",
    "",
    ".globl gort_systemstack",
    ".type gort_systemstack,%function",
    ".p2align 4",
    "gort_systemstack:",
    ".cfi_startproc",
    // x0 = save slot, x1 = stack pointer to run on, x2 = function, x3 = its
    // argument. The same frame as gort_swap, so that the context saved here can
    // also be resumed by a gort_swap to `*save` (it then returns from this call).
    "gort_save_callee_saved",
    ".cfi_def_cfa_offset 0xa0",
    ".cfi_offset x19, -0xa0",
    ".cfi_offset x29, -0x50",
    ".cfi_offset x30, -0x48",
    "mov x4, sp",
    "str x4, [x0]",
    // x19 (callee-saved, so the function keeps it) remembers where we were; the
    // CFA is now found through it, so unwinders walk from the function's frames
    // back into the caller's stack.
    "mov x19, sp",
    ".cfi_def_cfa x19, 0xa0",
    "mov sp, x1",
    "mov x0, x3",
    "blr x2",
    "mov sp, x19",
    ".cfi_def_cfa sp, 0xa0",
    "gort_restore_callee_saved",
    ".cfi_def_cfa_offset 0",
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
/// `[top - INITIAL_FRAME_BYTES, top)` must be writable memory of a stack that nobody
/// runs on.
pub(crate) unsafe fn init_stack(top: usize, entry: super::Entry, arg: *mut u8) -> usize {
    let top = top & !15;
    let sp = top - 16 - 0xa0;
    let frame = sp as *mut usize;
    // SAFETY: the caller guarantees the range below `top` is writable and unused;
    // the 20 register slots lie in [sp, sp + 0xa0).
    unsafe {
        for i in 0..20 {
            frame.add(i).write(0);
        }
        frame.add(0).write(entry as *const () as usize); // x19
        frame.add(1).write(arg as usize); // x20
        frame.add(11).write(gort_trampoline as *const () as usize); // x30
        (top as *mut usize).sub(1).write(0);
        (top as *mut usize).sub(2).write(0);
    }
    sp
}
