//! Size classes: Go's table of object sizes and the spans that hold them.
//!
//! Models `src/internal/runtime/gc/sizeclasses.go` (generated in Go by
//! `mksizeclasses.go`) and the lookup in `malloc.go`.
//!
//! # Design
//!
//! A small object (at most [`MAX_SMALL_SIZE`] = 32 KiB) is rounded up to one of 67
//! size classes; class 0 means "large" (a span of its own). Each class fixes the
//! object size and the number of 8 KiB pages in one span of that class, so a span
//! holds `npages * 8192 / size` objects and wastes the tail. The table is Go's,
//! transcribed row by row (bytes per object, pages per span); the objects per span
//! are computed from them. Go chose the rows so that, for every class, the tail
//! waste is at most 1/8 of the span and the worst-case waste (an object one byte
//! bigger than the previous class, plus the tail) stays around 12.5%; the tests
//! below recompute Go's "tail waste" and "max waste" columns for every row.
//!
//! The size → class lookup is two dense tables, exactly as in Go: sizes up to
//! [`SMALL_SIZE_MAX`] (1024 − 8) are looked up in steps of 8 bytes
//! ([`SIZE_TO_SIZE_CLASS8`]), bigger small sizes in steps of 128 bytes
//! ([`SIZE_TO_SIZE_CLASS128`]). Go writes the two tables out literally; gort builds
//! them at compile time from the class table with a `const fn`, which is the same
//! rule (the smallest class whose size fits) and cannot drift from the table.
//!
//! # What gort simplifies
//!
//! Nothing in the table. Go also records a "division magic" per class (`divMul`) so
//! that `offset / size` becomes a multiply and a shift; gort computes the same
//! constant in [`div_mul`] and uses it in `span.rs` (`find_object`'s index).

/// log2 of the page size (Go's `_PageShift`).
///
/// ```
/// assert_eq!(1 << gort_alloc::sizeclass::PAGE_SHIFT, 8192);
/// ```
pub const PAGE_SHIFT: usize = 13;
/// The allocator's page: 8 KiB (Go's `_PageSize`), the unit of spans.
///
/// ```
/// assert_eq!(gort_alloc::sizeclass::PAGE_SIZE, 8192);
/// ```
pub const PAGE_SIZE: usize = 1 << PAGE_SHIFT;
/// The largest small object (Go's `_MaxSmallSize`); bigger ones get a span of their own.
///
/// ```
/// use gort_alloc::sizeclass::{size_to_class, MAX_SMALL_SIZE};
/// assert_eq!(size_to_class(MAX_SMALL_SIZE), 67); // the last small class
/// ```
pub const MAX_SMALL_SIZE: usize = 32768;
/// The step of the first lookup table (Go's `smallSizeDiv`).
///
/// ```
/// assert_eq!(gort_alloc::sizeclass::SMALL_SIZE_DIV, 8);
/// ```
pub const SMALL_SIZE_DIV: usize = 8;
/// Sizes up to this (minus 8) use the 8-byte-step lookup table (Go's `smallSizeMax`).
///
/// ```
/// assert_eq!(gort_alloc::sizeclass::SMALL_SIZE_MAX, 1024);
/// ```
pub const SMALL_SIZE_MAX: usize = 1024;
/// The step of the second lookup table (Go's `largeSizeDiv`).
///
/// ```
/// assert_eq!(gort_alloc::sizeclass::LARGE_SIZE_DIV, 128);
/// ```
pub const LARGE_SIZE_DIV: usize = 128;
/// Number of size classes, class 0 (large) included (Go's `_NumSizeClasses`).
///
/// ```
/// use gort_alloc::sizeclass::{CLASS_TO_SIZE, NUM_SIZE_CLASSES};
/// assert_eq!(CLASS_TO_SIZE.len(), NUM_SIZE_CLASSES);
/// ```
pub const NUM_SIZE_CLASSES: usize = 68;
/// The tiny allocator's block (Go's `_TinySize`): pointer-free objects under 16 bytes share one.
///
/// ```
/// assert_eq!(gort_alloc::sizeclass::TINY_SIZE, 16);
/// ```
pub const TINY_SIZE: usize = 16;
/// The size class of a tiny block (Go's `tinySizeClass`).
///
/// ```
/// use gort_alloc::sizeclass::{CLASS_TO_SIZE, TINY_SIZE, TINY_SIZE_CLASS};
/// assert_eq!(CLASS_TO_SIZE[TINY_SIZE_CLASS as usize] as usize, TINY_SIZE);
/// ```
pub const TINY_SIZE_CLASS: u8 = 2;

/// Bytes per object of each class (Go's `class_to_size`); class 0 is large.
///
/// ```
/// use gort_alloc::sizeclass::CLASS_TO_SIZE;
/// assert_eq!(CLASS_TO_SIZE[1], 8);
/// assert_eq!(CLASS_TO_SIZE[67], 32768);
/// ```
pub const CLASS_TO_SIZE: [u16; NUM_SIZE_CLASSES] = [
    0, 8, 16, 24, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240, 256, 288, 320,
    352, 384, 416, 448, 480, 512, 576, 640, 704, 768, 896, 1024, 1152, 1280, 1408, 1536, 1792,
    2048, 2304, 2688, 3072, 3200, 3456, 4096, 4864, 5376, 6144, 6528, 6784, 6912, 8192, 9472, 9728,
    10240, 10880, 12288, 13568, 14336, 16384, 18432, 19072, 20480, 21760, 24576, 27264, 28672,
    32768,
];

/// Pages per span of each class (Go's `class_to_allocnpages`).
///
/// ```
/// use gort_alloc::sizeclass::CLASS_TO_ALLOCNPAGES;
/// assert_eq!(CLASS_TO_ALLOCNPAGES[35], 2); // 1408-byte objects live in 16 KiB spans
/// ```
pub const CLASS_TO_ALLOCNPAGES: [u8; NUM_SIZE_CLASSES] = [
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 2, 1, 2, 1, 2, 1, 3, 2, 3, 1, 3, 2, 3, 4, 5, 6, 1, 7, 6, 5, 4, 3, 5, 7, 2, 9, 7, 5, 8,
    3, 10, 7, 4,
];

/// Objects per span of each class (`npages * 8192 / size`; Go's `class_to_nobjs`
/// in older releases, recomputed by `mspan.init` in newer ones).
///
/// ```
/// use gort_alloc::sizeclass::CLASS_TO_NOBJS;
/// assert_eq!(CLASS_TO_NOBJS[3], 341); // 24-byte objects: 8192 / 24
/// ```
pub const CLASS_TO_NOBJS: [u16; NUM_SIZE_CLASSES] = {
    let mut t = [0u16; NUM_SIZE_CLASSES];
    let mut c = 1;
    while c < NUM_SIZE_CLASSES {
        t[c] = ((CLASS_TO_ALLOCNPAGES[c] as usize * PAGE_SIZE) / CLASS_TO_SIZE[c] as usize) as u16;
        c += 1;
    }
    t
};

/// The smallest class whose size is at least `size` (the rule both lookup tables encode).
const fn smallest_class_for(size: usize) -> u8 {
    let mut c = 1;
    while c < NUM_SIZE_CLASSES {
        if CLASS_TO_SIZE[c] as usize >= size {
            return c as u8;
        }
        c += 1;
    }
    0
}

/// Size class for sizes up to 1016, indexed by `ceil(size / 8)` (Go's `size_to_class8`).
///
/// ```
/// use gort_alloc::sizeclass::SIZE_TO_SIZE_CLASS8;
/// assert_eq!(SIZE_TO_SIZE_CLASS8[(100 + 7) / 8], 9); // 100 bytes → 112-byte class
/// ```
pub const SIZE_TO_SIZE_CLASS8: [u8; SMALL_SIZE_MAX / SMALL_SIZE_DIV + 1] = {
    let mut t = [0u8; SMALL_SIZE_MAX / SMALL_SIZE_DIV + 1];
    let mut i = 0;
    while i < t.len() {
        t[i] = smallest_class_for(i * SMALL_SIZE_DIV);
        i += 1;
    }
    t[0] = 0; // size 0 never reaches the table: mallocgc returns &zerobase first
    t
};

/// Size class for sizes from 1017 to 32768, indexed by `ceil((size − 1024) / 128)`
/// (Go's `size_to_class128`).
///
/// ```
/// use gort_alloc::sizeclass::SIZE_TO_SIZE_CLASS128;
/// assert_eq!(SIZE_TO_SIZE_CLASS128[(5000 - 1024 + 127) / 128], 46); // 5376-byte class
/// ```
pub const SIZE_TO_SIZE_CLASS128: [u8; (MAX_SMALL_SIZE - SMALL_SIZE_MAX) / LARGE_SIZE_DIV + 1] = {
    let mut t = [0u8; (MAX_SMALL_SIZE - SMALL_SIZE_MAX) / LARGE_SIZE_DIV + 1];
    let mut i = 0;
    while i < t.len() {
        t[i] = smallest_class_for(SMALL_SIZE_MAX + i * LARGE_SIZE_DIV);
        i += 1;
    }
    t
};

/// The size class of a small object of `size` bytes, `1 ..= size ≤ 32768`
/// (the two-table lookup of `mallocgc`).
///
/// ```
/// use gort_alloc::sizeclass::{size_to_class, CLASS_TO_SIZE};
/// assert_eq!(CLASS_TO_SIZE[size_to_class(17) as usize], 24);
/// assert_eq!(CLASS_TO_SIZE[size_to_class(1025) as usize], 1152);
/// ```
#[inline]
pub fn size_to_class(size: usize) -> u8 {
    debug_assert!(size > 0 && size <= MAX_SMALL_SIZE);
    if size <= SMALL_SIZE_MAX - 8 {
        SIZE_TO_SIZE_CLASS8[size.div_ceil(SMALL_SIZE_DIV)]
    } else {
        // ceil((size − 1024) / 128), written so that 1017..=1023 give 0 (Go gets
        // the same from unsigned wrap-around in divRoundUp).
        SIZE_TO_SIZE_CLASS128[(size + LARGE_SIZE_DIV - 1 - SMALL_SIZE_MAX) / LARGE_SIZE_DIV]
    }
}

/// The "magic" for dividing an offset inside a span by the class's object size:
/// `offset / size == (offset * div_mul(size)) >> 32` for every offset inside a span
/// (Go's `class_to_divmagic`, `^uint32(0)/size + 1`).
///
/// ```
/// use gort_alloc::sizeclass::div_mul;
/// let m = div_mul(48) as usize;
/// assert_eq!((4800 * m) >> 32, 100);
/// ```
pub const fn div_mul(size: usize) -> u32 {
    match (u32::MAX as usize).checked_div(size) {
        Some(q) => (q + 1) as u32,
        None => 0, // large objects: one per span, index always 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Go's comment columns: (bytes/span, objects, tail waste, max waste in 0.01 %).
    const GO_ROWS: [(usize, usize, usize, usize); 67] = [
        (8192, 1024, 0, 8750),
        (8192, 512, 0, 4375),
        (8192, 341, 8, 2924),
        (8192, 256, 0, 2188),
        (8192, 170, 32, 3152),
        (8192, 128, 0, 2344),
        (8192, 102, 32, 1907),
        (8192, 85, 32, 1595),
        (8192, 73, 16, 1356),
        (8192, 64, 0, 1172),
        (8192, 56, 128, 1182),
        (8192, 51, 32, 973),
        (8192, 46, 96, 959),
        (8192, 42, 128, 925),
        (8192, 39, 80, 812),
        (8192, 36, 128, 815),
        (8192, 34, 32, 662),
        (8192, 32, 0, 586),
        (8192, 28, 128, 1216),
        (8192, 25, 192, 1180),
        (8192, 23, 96, 988),
        (8192, 21, 128, 951),
        (8192, 19, 288, 1071),
        (8192, 18, 128, 837),
        (8192, 17, 32, 682),
        (8192, 16, 0, 605),
        (8192, 14, 128, 1233),
        (8192, 12, 512, 1548),
        (8192, 11, 448, 1393),
        (8192, 10, 512, 1394),
        (8192, 9, 128, 1552),
        (8192, 8, 0, 1240),
        (8192, 7, 128, 1241),
        (8192, 6, 512, 1555),
        (16384, 11, 896, 1400),
        (8192, 5, 512, 1400),
        (16384, 9, 256, 1557),
        (8192, 4, 0, 1245),
        (16384, 7, 256, 1246),
        (8192, 3, 128, 1559),
        (24576, 8, 0, 1247),
        (16384, 5, 384, 622),
        (24576, 7, 384, 883),
        (8192, 2, 0, 1560),
        (24576, 5, 256, 1665),
        (16384, 3, 256, 1092),
        (24576, 4, 0, 1248),
        (32768, 5, 128, 623),
        (40960, 6, 256, 436),
        (49152, 7, 768, 337),
        (8192, 1, 0, 1561),
        (57344, 6, 512, 1428),
        (49152, 5, 512, 364),
        (40960, 4, 0, 499),
        (32768, 3, 128, 624),
        (24576, 2, 0, 1145),
        (40960, 3, 256, 999),
        (57344, 4, 0, 535),
        (16384, 1, 0, 1249),
        (73728, 4, 0, 1111),
        (57344, 3, 128, 357),
        (40960, 2, 0, 687),
        (65536, 3, 256, 625),
        (24576, 1, 0, 1145),
        (81920, 3, 128, 1000),
        (57344, 2, 0, 491),
        (32768, 1, 0, 1250),
    ];

    #[test]
    fn every_row_matches_gos_columns() {
        for c in 1..NUM_SIZE_CLASSES {
            let size = CLASS_TO_SIZE[c] as usize;
            let prev = CLASS_TO_SIZE[c - 1] as usize;
            let span = CLASS_TO_ALLOCNPAGES[c] as usize * PAGE_SIZE;
            let objs = CLASS_TO_NOBJS[c] as usize;
            let tail = span - objs * size;
            // mksizeclasses.go: worst case is an object one byte bigger than the
            // previous class in every slot, plus the tail.
            let max_waste = ((size - prev - 1) * objs + tail) as f64 / span as f64;
            let (go_span, go_objs, go_tail, go_max) = GO_ROWS[c - 1];
            assert_eq!((span, objs, tail), (go_span, go_objs, go_tail), "class {c}");
            assert_eq!(
                (max_waste * 10000.0).round() as usize,
                go_max,
                "class {c} max waste"
            );
        }
    }

    #[test]
    fn every_row_keeps_gos_invariants() {
        for c in 1..NUM_SIZE_CLASSES {
            let size = CLASS_TO_SIZE[c] as usize;
            let span = CLASS_TO_ALLOCNPAGES[c] as usize * PAGE_SIZE;
            let objs = CLASS_TO_NOBJS[c] as usize;
            assert!(
                size > CLASS_TO_SIZE[c - 1] as usize,
                "class {c}: sizes increase"
            );
            assert!((1..=1024).contains(&objs), "class {c}: 1..=1024 objects");
            assert!(CLASS_TO_ALLOCNPAGES[c] <= 10, "class {c}: at most 10 pages");
            assert!(
                span - objs * size <= span / 8,
                "class {c}: tail waste ≤ 1/8"
            );
            // Alignment (mksizeclasses.go): every size is a multiple of 8; from 32 on
            // of 16 (the heap bitmap relies on it); from 128 on of the last power of
            // two / 8; from 2048 on of 128 (the "fit the same objects, bigger" pass
            // rounds down to 128). Powers of two up to a page then tile every page.
            let align = match size {
                0..=31 => 8,
                32..=2047 => 16.max((1usize << (usize::BITS - 1 - size.leading_zeros())) / 8),
                _ => 128,
            };
            assert_eq!(size % align, 0, "class {c}: {size} not {align}-aligned");
            if size.is_power_of_two() && size <= PAGE_SIZE {
                assert_eq!(
                    PAGE_SIZE % size,
                    0,
                    "class {c}: power-of-two objects tile pages"
                );
            }
        }
    }

    #[test]
    fn lookup_is_the_smallest_fitting_class_for_every_small_size() {
        // Every size natively; under Miri every 7th (and both ends).
        let step = if cfg!(miri) { 7 } else { 1 };
        for size in (1..=MAX_SMALL_SIZE).step_by(step).chain([MAX_SMALL_SIZE]) {
            let c = size_to_class(size) as usize;
            assert!(c >= 1, "size {size}");
            assert!(
                CLASS_TO_SIZE[c] as usize >= size,
                "size {size} fits class {c}"
            );
            assert!(
                (CLASS_TO_SIZE[c - 1] as usize) < size,
                "size {size}: a smaller class fits"
            );
        }
        assert_eq!(size_to_class(TINY_SIZE), TINY_SIZE_CLASS);
    }

    #[test]
    fn div_mul_divides_every_offset_in_a_span() {
        for c in 1..NUM_SIZE_CLASSES {
            let size = CLASS_TO_SIZE[c] as usize;
            let m = div_mul(size) as usize;
            let span = CLASS_TO_ALLOCNPAGES[c] as usize * PAGE_SIZE;
            let step = if cfg!(miri) { 61 } else { 1 };
            for off in (0..span).step_by(step) {
                assert_eq!((off * m) >> 32, off / size, "class {c} offset {off}");
            }
        }
    }
}
