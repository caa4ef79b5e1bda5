use gort_gc::{Gc, Trace};

#[derive(Trace)]
struct Counter {
    n: u64,
    next: Option<Gc<Counter>>,
}

fn main() {
    let c = Gc::new(Counter { n: 0, next: None });
    c.n = 1;
    let m: &mut Counter = &mut *c;
    m.next = None;
}
