//! The public face of a channel: [`bounded`], [`never()`], [`Sender`], [`Receiver`],
//! their iterators and error types. Each operation is a thin call into the
//! `HChan` of `mod.rs` (Go's `chansend`/`chanrecv`/`closechan`); a handle whose
//! channel is `None` is Go's nil channel.

use super::{block_forever, HChan, NeverWait};
use std::fmt;
use std::sync::Arc;

/// Makes a channel of capacity `cap` (Go's `make(chan T, cap)`); `cap == 0` is an
/// unbuffered channel, where every send waits for a receiver.
///
/// Both halves can be cloned; all clones share the channel. Dropping handles does
/// not close it: as in Go, a channel is closed only by an explicit
/// [`Sender::close`].
///
/// # Example
///
/// ```
/// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
/// unsafe { gort_runtime::run(|| {
///     let (tx, rx) = gort_runtime::chan::bounded::<u32>(0);
///     gort_runtime::go(move || {
///         for i in 0..3 {
///             tx.send(i);
///         }
///         tx.close();
///     });
///     let got: Vec<u32> = rx.iter().collect();
///     assert_eq!(got, [0, 1, 2]);
/// }) };
/// ```
pub fn bounded<T>(cap: usize) -> (Sender<T>, Receiver<T>) {
    let c = Arc::new(HChan::new(cap));
    (Sender { c: Some(c.clone()) }, Receiver { c: Some(c) })
}

/// A receiver that is never ready: Go's `nil` channel. `recv` blocks forever (the
/// goroutine parks with wait reason `chan receive (nil chan)`), `try_recv` reports
/// `Empty`, and a `select!` case on it is never chosen — the usual way to switch a
/// case off.
///
/// # Example
///
/// ```
/// use gort_runtime::chan;
/// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
/// unsafe { gort_runtime::run(|| {
///     let (tx, rx) = chan::bounded::<u8>(1);
///     tx.send(7);
///     let off = chan::never::<u8>();
///     let v = gort_runtime::select! {
///         recv(off) -> _ => unreachable!(),
///         recv(rx) -> v => v,
///     };
///     assert_eq!(v, Some(7));
/// }) };
/// ```
pub fn never<T>() -> Receiver<T> {
    Receiver { c: None }
}

/// The sending half of a channel. Cloning it gives another handle to the same
/// channel.
///
/// # Example
///
/// ```
/// let (tx, rx) = gort_runtime::chan::bounded::<&str>(1);
/// tx.send("hi");
/// assert_eq!(rx.recv(), Some("hi"));
/// ```
pub struct Sender<T> {
    pub(crate) c: Option<Arc<HChan<T>>>,
}

/// The receiving half of a channel. Cloning it gives another handle to the same
/// channel; iterate it to receive until the channel is closed and drained.
///
/// # Example
///
/// ```
/// let (tx, rx) = gort_runtime::chan::bounded::<u8>(2);
/// tx.send(1);
/// tx.send(2);
/// tx.close();
/// assert_eq!(rx.iter().sum::<u8>(), 3);
/// ```
pub struct Receiver<T> {
    pub(crate) c: Option<Arc<HChan<T>>>,
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        Sender { c: self.c.clone() }
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        Receiver { c: self.c.clone() }
    }
}

impl<T> Receiver<T> {
    /// How many handles (senders and receivers) share this channel; 0 for
    /// [`never`](super::never). A channel timer uses it to notice that nobody but
    /// itself can receive any more.
    #[cfg_attr(loom, allow(dead_code))] // timers are not compiled under loom
    pub(crate) fn handle_count(&self) -> usize {
        self.c.as_ref().map_or(0, Arc::strong_count)
    }
}

impl<T> Sender<T> {
    /// A sender that is never ready (Go's `nil` channel): `send` blocks forever
    /// (wait reason `chan send (nil chan)`), `try_send` reports `Full`, and a
    /// `select!` send arm on it is never chosen.
    ///
    /// ```
    /// let tx = gort_runtime::chan::Sender::<u8>::never();
    /// assert!(tx.try_send(1).is_err());
    /// ```
    pub fn never() -> Self {
        Sender { c: None }
    }

    /// Sends `v`, blocking until a receiver takes it (unbuffered) or there is room
    /// in the buffer (Go's `ch <- v`). A goroutine parks (wait reason `chan send`);
    /// a plain thread outside the runtime blocks.
    ///
    /// # Panics
    /// `send on closed channel` if the channel is closed, or is closed while this
    /// send waits.
    ///
    /// ```
    /// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    /// unsafe { gort_runtime::run(|| {
    ///     let (tx, rx) = gort_runtime::chan::bounded(0);
    ///     gort_runtime::go(move || tx.send(42));
    ///     assert_eq!(rx.recv(), Some(42));
    /// }) };
    /// ```
    pub fn send(&self, v: T) {
        match &self.c {
            Some(c) => c.send(v),
            None => block_forever(NeverWait::Send),
        }
    }

    /// Sends `v` if that can be done without blocking. Never blocks and never
    /// panics, so it is safe from a timer callback or any non-goroutine context.
    ///
    /// Unlike Go's non-blocking send (`select` with `default`), a closed channel is
    /// reported as [`TrySendError::Closed`] rather than a panic.
    ///
    /// ```
    /// use gort_runtime::chan::{bounded, TrySendError};
    /// let (tx, rx) = bounded(1);
    /// assert!(tx.try_send(1).is_ok());
    /// assert_eq!(tx.try_send(2), Err(TrySendError::Full(2)));
    /// assert_eq!(rx.recv(), Some(1));
    /// tx.close();
    /// assert_eq!(tx.try_send(3), Err(TrySendError::Closed(3)));
    /// ```
    pub fn try_send(&self, v: T) -> Result<(), TrySendError<T>> {
        match &self.c {
            Some(c) => c.try_send(v),
            None => Err(TrySendError::Full(v)),
        }
    }

    /// Closes the channel (Go's `close(ch)`): parked receivers wake with `None`
    /// (after the buffer is drained, receivers get `None`), parked senders wake and
    /// panic.
    ///
    /// # Panics
    /// `close of closed channel` if it is already closed; `close of nil channel` on
    /// [`Sender::never`].
    ///
    /// ```
    /// let (tx, rx) = gort_runtime::chan::bounded::<u8>(1);
    /// tx.send(5);
    /// tx.close();
    /// assert_eq!(rx.recv(), Some(5));
    /// assert_eq!(rx.recv(), None);
    /// ```
    pub fn close(&self) {
        match &self.c {
            Some(c) => c.close(),
            None => panic!("close of nil channel"),
        }
    }

    /// Values in the buffer now (Go's `len(ch)`).
    ///
    /// ```
    /// let (tx, _rx) = gort_runtime::chan::bounded(4);
    /// tx.send(());
    /// assert_eq!(tx.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.c.as_ref().map_or(0, |c| c.len())
    }

    /// Whether the buffer is empty now.
    ///
    /// ```
    /// let (tx, _rx) = gort_runtime::chan::bounded::<u8>(4);
    /// assert!(tx.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The buffer's capacity (Go's `cap(ch)`); 0 for an unbuffered channel.
    ///
    /// ```
    /// let (tx, _rx) = gort_runtime::chan::bounded::<u8>(4);
    /// assert_eq!(tx.cap(), 4);
    /// ```
    pub fn cap(&self) -> usize {
        self.c.as_ref().map_or(0, |c| c.cap())
    }

    /// Whether the channel has been closed.
    ///
    /// ```
    /// let (tx, _rx) = gort_runtime::chan::bounded::<u8>(0);
    /// tx.close();
    /// assert!(tx.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.c.as_ref().is_some_and(|c| c.is_closed())
    }

    pub(crate) fn hchan(&self) -> Option<&HChan<T>> {
        self.c.as_deref()
    }
}

impl<T> Receiver<T> {
    /// Receives a value, blocking until one is available (Go's `v, ok := <-ch`).
    /// Returns `None` once the channel is closed and its buffer drained. A
    /// goroutine parks (wait reason `chan receive`); a plain thread blocks.
    ///
    /// ```
    /// // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    /// unsafe { gort_runtime::run(|| {
    ///     let (tx, rx) = gort_runtime::chan::bounded(0);
    ///     gort_runtime::go(move || { tx.send("x"); tx.close(); });
    ///     assert_eq!(rx.recv(), Some("x"));
    ///     assert_eq!(rx.recv(), None);
    /// }) };
    /// ```
    pub fn recv(&self) -> Option<T> {
        match &self.c {
            Some(c) => c.recv(),
            None => block_forever(NeverWait::Recv),
        }
    }

    /// Receives a value if one is ready, without blocking.
    ///
    /// ```
    /// use gort_runtime::chan::{bounded, TryRecvError};
    /// let (tx, rx) = bounded(1);
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    /// tx.send(9);
    /// assert_eq!(rx.try_recv(), Ok(9));
    /// tx.close();
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    /// ```
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        match &self.c {
            Some(c) => c.try_recv(),
            None => Err(TryRecvError::Empty),
        }
    }

    /// An iterator that receives until the channel is closed and drained (Go's
    /// `for v := range ch`).
    ///
    /// ```
    /// let (tx, rx) = gort_runtime::chan::bounded(3);
    /// for i in 0..3 { tx.send(i); }
    /// tx.close();
    /// assert_eq!(rx.iter().collect::<Vec<_>>(), [0, 1, 2]);
    /// ```
    pub fn iter(&self) -> Iter<'_, T> {
        Iter { rx: self }
    }

    /// Values in the buffer now (Go's `len(ch)`).
    ///
    /// ```
    /// let (tx, rx) = gort_runtime::chan::bounded(4);
    /// tx.send(1);
    /// assert_eq!(rx.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.c.as_ref().map_or(0, |c| c.len())
    }

    /// Whether the buffer is empty now.
    ///
    /// ```
    /// let (_tx, rx) = gort_runtime::chan::bounded::<u8>(4);
    /// assert!(rx.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The buffer's capacity (Go's `cap(ch)`).
    ///
    /// ```
    /// let (_tx, rx) = gort_runtime::chan::bounded::<u8>(0);
    /// assert_eq!(rx.cap(), 0);
    /// ```
    pub fn cap(&self) -> usize {
        self.c.as_ref().map_or(0, |c| c.cap())
    }

    /// Whether the channel has been closed (values may still be buffered).
    ///
    /// ```
    /// let (tx, rx) = gort_runtime::chan::bounded::<u8>(1);
    /// tx.send(1);
    /// tx.close();
    /// assert!(rx.is_closed());
    /// assert_eq!(rx.recv(), Some(1));
    /// ```
    pub fn is_closed(&self) -> bool {
        self.c.as_ref().is_some_and(|c| c.is_closed())
    }

    pub(crate) fn hchan(&self) -> Option<&HChan<T>> {
        self.c.as_deref()
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("chan", &self.c.as_ref().map(Arc::as_ptr))
            .finish()
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("chan", &self.c.as_ref().map(Arc::as_ptr))
            .finish()
    }
}

/// Receives until closed and drained; see [`Receiver::iter`].
///
/// ```
/// let (tx, rx) = gort_runtime::chan::bounded(1);
/// tx.send('a');
/// tx.close();
/// let mut it = rx.iter();
/// assert_eq!(it.next(), Some('a'));
/// assert_eq!(it.next(), None);
/// ```
pub struct Iter<'a, T> {
    rx: &'a Receiver<T>,
}

impl<T> Iterator for Iter<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.recv()
    }
}

/// Receives until closed and drained, owning the receiver (`for v in rx`).
///
/// ```
/// let (tx, rx) = gort_runtime::chan::bounded(2);
/// tx.send(1);
/// tx.send(2);
/// tx.close();
/// let mut n = 0;
/// for v in rx { n += v; }
/// assert_eq!(n, 3);
/// ```
pub struct IntoIter<T> {
    rx: Receiver<T>,
}

impl<T> Iterator for IntoIter<T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.recv()
    }
}

impl<T> IntoIterator for Receiver<T> {
    type Item = T;
    type IntoIter = IntoIter<T>;
    fn into_iter(self) -> IntoIter<T> {
        IntoIter { rx: self }
    }
}

impl<'a, T> IntoIterator for &'a Receiver<T> {
    type Item = T;
    type IntoIter = Iter<'a, T>;
    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}

/// Why [`Sender::try_send`] failed; the value is handed back.
///
/// ```
/// use gort_runtime::chan::{bounded, TrySendError};
/// let (tx, _rx) = bounded::<u8>(0);
/// match tx.try_send(1) {
///     Err(TrySendError::Full(v)) => assert_eq!(v, 1), // nobody receiving
///     other => panic!("{other:?}"),
/// }
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum TrySendError<T> {
    /// The buffer is full (or, unbuffered, no receiver is waiting).
    Full(T),
    /// The channel is closed.
    Closed(T),
}

impl<T> TrySendError<T> {
    /// The value that was not sent.
    ///
    /// ```
    /// let (tx, _rx) = gort_runtime::chan::bounded::<u8>(0);
    /// assert_eq!(tx.try_send(3).unwrap_err().into_inner(), 3);
    /// ```
    pub fn into_inner(self) -> T {
        match self {
            TrySendError::Full(v) | TrySendError::Closed(v) => v,
        }
    }
}

impl<T> fmt::Debug for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("Full(..)"),
            TrySendError::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

impl<T> fmt::Display for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("sending on a full channel"),
            TrySendError::Closed(_) => f.write_str("sending on a closed channel"),
        }
    }
}

impl<T> std::error::Error for TrySendError<T> {}

/// Why [`Receiver::try_recv`] failed.
///
/// ```
/// use gort_runtime::chan::{bounded, TryRecvError};
/// let (tx, rx) = bounded::<u8>(1);
/// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
/// tx.close();
/// assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TryRecvError {
    /// Nothing to receive now.
    Empty,
    /// Closed and drained: nothing will ever arrive.
    Closed,
}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryRecvError::Empty => f.write_str("receiving on an empty channel"),
            TryRecvError::Closed => f.write_str("receiving on a closed channel"),
        }
    }
}

impl std::error::Error for TryRecvError {}
