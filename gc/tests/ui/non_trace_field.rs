use gort_gc::Trace;

struct Plain {
    x: u64,
}

#[derive(Trace)]
struct Holder {
    p: Plain,
}

fn main() {}
