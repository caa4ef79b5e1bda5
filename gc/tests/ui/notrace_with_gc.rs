use gort_gc::{Gc, NoTrace};

// NoTrace is the promise "no GC pointer inside"; the derive checks every field.
#[derive(NoTrace)]
struct Config {
    name: String,
    parent: Option<Gc<u64>>,
}

fn main() {}
