//! Goroutine-local storage: the migration-safe replacement for `thread_local!`.
//!
//! A goroutine may resume on a different OS thread after any call that can block
//! or yield, and the compiler may keep a thread-local's address across such a
//! call, so a `thread_local!` read before the call and used after it is the old
//! thread's (see the safety contract of [`run`](crate::run)). A value declared
//! with [`goroutine_local!`](crate::goroutine_local) instead belongs to the
//! goroutine: it travels with it from thread to thread, each goroutine has its
//! own, initialised on first use, and it is dropped when the goroutine exits —
//! on the goroutine, like the rest of its values.
//!
//! # Design
//!
//! Go has no goroutine-local storage, on purpose (values are passed explicitly,
//! or in a `context.Context`); it is here because Rust code reaches for
//! `thread_local!`, and on a goroutine that is unsound. The values live in the G:
//! a short list of (key, boxed value) pairs (`G::locals`), searched linearly, as
//! a goroutine uses few keys. A key is the address of its static [`LocalKey`].
//! Only the goroutine itself touches its list, so no lock is needed. A reference
//! handed to [`LocalKey::with`] points into the value's box, which stays where it
//! is while the list grows (nested `with` calls on other keys), and the list only
//! shrinks when the goroutine exits, after its function returned; so the
//! reference stays valid across every blocking call and migration.
//!
//! The values need `Send`, since the goroutine carries them between threads, but
//! not `Sync`: no other goroutine sees them. Like a thread-local, a value gives
//! shared access only; put a `Cell` or `RefCell` inside for mutation.

use std::any::Any;

/// One goroutine's values: (address of the [`LocalKey`], the value).
pub(crate) type Locals = Vec<(usize, Box<dyn Any + Send>)>;

/// A key for goroutine-local storage, made by
/// [`goroutine_local!`](crate::goroutine_local).
///
/// # Example
///
/// ```
/// use std::cell::Cell;
/// gort_runtime::goroutine_local! {
///     static HITS: Cell<u32> = Cell::new(0);
/// }
/// // SAFETY: nothing here keeps thread-bound state across a blocking call.
/// unsafe {
///     // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
///     unsafe { gort_runtime::run(|| {
///         HITS.with(|h| h.set(h.get() + 1));
///         gort_runtime::yield_now(); // may resume on another thread
///         assert_eq!(HITS.with(Cell::get), 1);
///     }) }
/// };
/// ```
pub struct LocalKey<T: Send + 'static> {
    init: fn() -> T,
}

impl<T: Send + 'static> LocalKey<T> {
    /// A key whose value starts as `init()` in each goroutine. Used by
    /// [`goroutine_local!`](crate::goroutine_local); not meant to be called
    /// directly.
    #[doc(hidden)]
    pub const fn new(init: fn() -> T) -> LocalKey<T> {
        LocalKey { init }
    }

    /// Calls `f` with this goroutine's value, made with the key's initialiser on
    /// first use. The reference stays valid for the whole goroutine, across
    /// blocking calls and moves between threads.
    ///
    /// # Panics
    /// Outside a goroutine (on a plain thread, or on the runtime's own stack).
    ///
    /// # Example
    ///
    /// ```
    /// use std::cell::RefCell;
    /// gort_runtime::goroutine_local! {
    ///     static LOG: RefCell<Vec<u32>> = RefCell::new(Vec::new());
    /// }
    /// // SAFETY: nothing here keeps thread-bound state across a blocking call.
    /// let n = unsafe {
    ///     // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    ///     unsafe { gort_runtime::run(|| {
    ///         let h = gort_runtime::spawn(|| {
    ///             LOG.with(|l| l.borrow_mut().push(1));
    ///             LOG.with(|l| l.borrow().len())
    ///         });
    ///         LOG.with(|l| l.borrow_mut().push(2)); // main's own, separate value
    ///         h.join().unwrap() + LOG.with(|l| l.borrow().len())
    ///     }) }
    /// };
    /// assert_eq!(n, 2);
    /// ```
    pub fn with<R>(&'static self, f: impl FnOnce(&T) -> R) -> R {
        let key = self as *const Self as usize;
        let locals = current_locals();
        // SAFETY: only the running goroutine touches its own list, and no other
        // reference to the list is live: `with` on another key (inside `f`)
        // takes its own short-lived one after this one ended.
        let found = unsafe { &*locals }
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| &**v as *const (dyn Any + Send));
        let value = match found {
            Some(v) => v,
            None => {
                // Initialise outside any borrow of the list: `init` may use
                // other keys.
                let boxed: Box<dyn Any + Send> = Box::new((self.init)());
                let v = &*boxed as *const (dyn Any + Send);
                // SAFETY: as above; the borrow ends with the push.
                unsafe { &mut *locals }.push((key, boxed));
                v
            }
        };
        // SAFETY: the value lives in its own box, which does not move when the
        // list grows and is dropped only when the goroutine exits, after every
        // `with` returned; it was made from this key, so it is a T.
        let value = unsafe { &*value };
        f(value
            .downcast_ref::<T>()
            .expect("goroutine_local: key type"))
    }
}

impl<T: Send + 'static> std::fmt::Debug for LocalKey<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LocalKey { .. }")
    }
}

/// The current goroutine's list of values.
fn current_locals() -> *mut Locals {
    let g = crate::proc::m::getm()
        .and_then(|m| m.curg())
        .unwrap_or_else(|| panic!("gort: goroutine_local! value used outside a goroutine"));
    g.locals.get()
}

/// Declares goroutine-local values: each goroutine has its own, made on first
/// use and dropped when it exits. The migration-safe replacement for
/// `thread_local!` on a goroutine (see [`LocalKey`]).
///
/// # Example
///
/// ```
/// use std::cell::Cell;
/// gort_runtime::goroutine_local! {
///     /// Requests this goroutine served.
///     static SERVED: Cell<u64> = Cell::new(0);
///     static NAME: String = String::from("worker");
/// }
/// // SAFETY: nothing here keeps thread-bound state across a blocking call.
/// unsafe {
///     // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
///     unsafe { gort_runtime::run(|| {
///         SERVED.with(|s| s.set(s.get() + 1));
///         assert_eq!(NAME.with(|n| n.len()), 6);
///     }) }
/// };
/// ```
#[macro_export]
macro_rules! goroutine_local {
    () => {};
    ($(#[$attr:meta])* $vis:vis static $name:ident: $t:ty = $init:expr; $($rest:tt)*) => {
        $(#[$attr])*
        $vis static $name: $crate::local::LocalKey<$t> = $crate::local::LocalKey::new(|| $init);
        $crate::goroutine_local!($($rest)*);
    };
    ($(#[$attr:meta])* $vis:vis static $name:ident: $t:ty = $init:expr) => {
        $(#[$attr])*
        $vis static $name: $crate::local::LocalKey<$t> = $crate::local::LocalKey::new(|| $init);
    };
}

/// Drops the exiting goroutine's values, on the goroutine (called by `gostart`
/// after its function returned). A `Drop` that panics is fatal, as a panic in a
/// `go` goroutine is.
pub(crate) fn drop_locals() {
    let locals = current_locals();
    // Values may use other keys while they drop (and so add to the list): drop
    // until it stays empty.
    loop {
        // SAFETY: the goroutine's own list, no reference to it is live (its
        // function returned).
        let taken = std::mem::take(unsafe { &mut *locals });
        if taken.is_empty() {
            return;
        }
        if let Err(p) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(taken))) {
            crate::panic::fatalpanic(p);
        }
    }
}
