use gort_gc::{Gc, Trace};

#[derive(Trace)]
struct Tree {
    // The Vec's buffer is on the Rust heap: the collector would never see these.
    kids: Vec<Gc<Tree>>,
}

fn main() {}
