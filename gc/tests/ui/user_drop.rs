use gort_gc::{Gc, Trace};

#[derive(Trace)]
struct Node {
    next: Option<Gc<Node>>,
}

impl Drop for Node {
    fn drop(&mut self) {
        // `self.next` may point at an object the collector already freed.
        let _ = self.next.map(|n| n.next.is_some());
    }
}

fn main() {}
