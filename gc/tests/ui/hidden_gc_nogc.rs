use gort_gc::{Gc, NoGc, Trace};

#[derive(Trace)]
struct Cache {
    // NoGc promises "no GC pointer inside": a Box of one breaks it.
    last: NoGc<Box<Gc<u64>>>,
}

fn main() {}
