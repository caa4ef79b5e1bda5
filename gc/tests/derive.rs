//! `#[derive(Trace)]` and `#[derive(NoTrace)]` on the shapes of types a user
//! writes: the layout each gets, and that `trace` reports every pointer.

use gort_gc::{type_info, Gc, GcArray, GcSlot, NoGc, NoTrace, Pointers, Trace, Tracer};

fn traced<T: Trace>(v: &T) -> Vec<usize> {
    let mut seen = Vec::new();
    let mut push = |p| seen.push(p);
    v.trace(&mut Tracer::new(&mut push));
    seen
}

#[derive(Trace)]
struct Tuple(u64, Gc<u64>, Option<Gc<u64>>);

#[derive(Trace)]
struct Pair<T: Trace> {
    a: T,
    b: T,
}

#[derive(Trace)]
struct BigGeneric<T: Trace> {
    pad: [u64; 100],
    x: T,
}

#[derive(Trace)]
struct Big {
    pad: [u64; 100],
    x: Gc<u64>,
    y: [Option<Gc<u64>>; 3],
}

#[derive(Trace)]
enum Shape {
    Empty,
    Circle { r: u64 },
    Pair(Gc<Shape>, Gc<Shape>),
    Named { name: String, of: Gc<Shape> },
}

#[derive(Trace)]
enum Flat {
    A(u64),
    B { s: String },
}

#[derive(NoTrace)]
struct Meta<T: NoTrace> {
    tag: T,
    names: Vec<String>,
}

#[derive(NoTrace)]
enum Level {
    Low,
    High(u8),
}

#[derive(Trace)]
struct WithMeta {
    meta: NoGc<Meta<u32>>,
    level: NoGc<Level>,
    list: GcArray<Gc<u64>>,
    slot: GcSlot<u64>,
}

#[test]
fn struct_layouts_are_masks_bitmaps_or_traced() {
    // Rust may reorder fields: the mask follows the offsets.
    let word = |off: usize| 1u64 << (off / 8);
    assert_eq!(
        Tuple::POINTERS,
        Pointers::Mask(word(std::mem::offset_of!(Tuple, 1)) | word(std::mem::offset_of!(Tuple, 2)))
    );
    assert_eq!(<Pair<Gc<u64>>>::POINTERS, Pointers::Mask(0b11));
    assert_eq!(<Pair<u64>>::POINTERS, Pointers::None);
    // Generic and over 512 bytes: no const array can be sized, so traced.
    assert_eq!(<BigGeneric<Gc<u64>>>::POINTERS, Pointers::Trace);
    assert_eq!(<BigGeneric<u8>>::POINTERS, Pointers::None);
    // Not generic: a bitmap, at the fields' offsets.
    let Pointers::Bitmap(bits) = Big::POINTERS else {
        panic!("a bitmap: {:?}", Big::POINTERS)
    };
    let set: Vec<usize> = (0..bits.len() * 64)
        .filter(|i| bits[i / 64] >> (i % 64) & 1 != 0)
        .collect();
    let x = std::mem::offset_of!(Big, x) / 8;
    let y = std::mem::offset_of!(Big, y) / 8;
    let mut want = vec![x, y, y + 1, y + 2];
    want.sort();
    assert_eq!(set, want);
    assert_eq!(WithMeta::POINTERS, {
        let l = std::mem::offset_of!(WithMeta, list) / 8;
        let s = std::mem::offset_of!(WithMeta, slot) / 8;
        Pointers::Mask(1 << l | 1 << s)
    });
}

#[test]
fn enums_are_traced_unless_pointer_free() {
    assert_eq!(Shape::POINTERS, Pointers::Trace);
    assert_eq!(Flat::POINTERS, Pointers::None);
    assert!(traced(&Flat::A(1)).is_empty() && traced(&Flat::B { s: "s".into() }).is_empty());
    assert!(
        type_info::<Flat>().drop.is_some(),
        "a String in one variant"
    );
    let e = Gc::new(Shape::Empty);
    let c = Gc::new(Shape::Circle { r: 1 });
    for (v, want) in [
        (Shape::Empty, vec![]),
        (Shape::Circle { r: 2 }, vec![]),
        (Shape::Pair(e, c), vec![Gc::addr(e), Gc::addr(c)]),
        (
            Shape::Named {
                name: "n".into(),
                of: c,
            },
            vec![Gc::addr(c)],
        ),
    ] {
        assert_eq!(traced(&v), want);
    }
}

#[test]
fn trace_visits_every_field_in_order() {
    let (a, b) = (Gc::new(1u64), Gc::new(2u64));
    assert_eq!(traced(&Tuple(9, a, Some(b))), [Gc::addr(a), Gc::addr(b)]);
    assert_eq!(traced(&Pair { a, b }), [Gc::addr(a), Gc::addr(b)]);
    let big = BigGeneric {
        pad: [0; 100],
        x: a,
    };
    assert_eq!(traced(&big), [Gc::addr(a)]);
    let list: GcArray<Gc<u64>> = [a, b].into_iter().collect();
    let w = WithMeta {
        meta: NoGc::new(Meta {
            tag: 1,
            names: vec![],
        }),
        level: NoGc::new(if Gc::ptr_eq(a, b) {
            Level::Low
        } else {
            Level::High(3)
        }),
        list,
        slot: GcSlot::new(Some(b)),
    };
    assert_eq!(traced(&w), [GcArray::addr(list), Gc::addr(b)]);
    assert!(matches!(*w.level, Level::High(3)) && !matches!(*w.level, Level::Low));
    assert_eq!(w.meta.tag + w.meta.names.len() as u32, 1);
}
