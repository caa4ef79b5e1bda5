//! What the type system refuses, and what the user reads when it does: the
//! `tests/ui/*.rs` programs must fail to compile with the `.stderr` beside them.
//!
//! - `mut_access.rs`: no `&mut` into a GC object — fields are fixed once the
//!   object is allocated (a `GcSlot` is the pointer that can change).
//! - `user_drop.rs`: a traced type with its own `Drop` (a destructor could reach
//!   objects the collector already freed).
//! - `non_trace_field.rs`: a field the collector cannot scan.
//! - `hidden_gc.rs`, `hidden_gc_nogc.rs`: a `Gc` inside a Rust container, where
//!   the collector does not look.
//! - `notrace_with_gc.rs`: `#[derive(NoTrace)]` on a type that holds a `Gc`.
//!
//! Regenerate the expectations after a deliberate change with
//! `TRYBUILD=overwrite cargo test -p gort-gc --test compile_fail`, and read them.

#[test]
fn compile_fail() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
