//! One-shot sleep/wake-up notes: how an M (an OS thread) sleeps when it has no work.
//!
//! Models Go's `note` (`lock_futex.go`: `notesleep`, `notewakeup`, `notetsleep`,
//! `noteclear`), which `stopm`/`startm` use to park and wake Ms. Go's note is one
//! futex word; ours is a `Mutex<bool>` with a `Condvar` (parking_lot), which is what
//! a futex-based mutex and condvar amount to, and which loom can model. The flag is
//! cleared by the sleeper as it wakes (`notesleep` + `noteclear` in one step), so a
//! wake-up that arrives before the sleep is never lost: the sleeper finds the flag
//! set and returns at once.

use crate::loom::{Condvar, Mutex};
use std::time::Duration;

/// A wake-up flag one thread sleeps on and others set.
pub(crate) struct Note {
    /// True once woken and not yet consumed by the sleeper.
    woken: Mutex<bool>,
    cv: Condvar,
}

impl Note {
    pub(crate) fn new() -> Self {
        Note {
            woken: Mutex::new(false),
            cv: Condvar::new(),
        }
    }

    /// `notesleep` + `noteclear`: blocks until woken, then consumes the wake-up.
    pub(crate) fn sleep(&self) {
        let mut w = self.woken.lock();
        while !*w {
            self.cv.wait(&mut w);
        }
        *w = false;
    }

    /// `notetsleep`: like [`Note::sleep`] but gives up after `dur`; returns whether
    /// it was woken (and consumed the wake-up).
    #[cfg_attr(loom, allow(dead_code))]
    pub(crate) fn sleep_for(&self, dur: Duration) -> bool {
        let mut w = self.woken.lock();
        if !*w {
            self.cv.wait_for(&mut w, dur);
        }
        std::mem::replace(&mut *w, false)
    }

    /// `noteclear`: forgets a wake-up nobody has consumed yet.
    #[cfg_attr(loom, allow(dead_code))]
    pub(crate) fn clear(&self) {
        *self.woken.lock() = false;
    }

    /// `notewakeup`: wakes the sleeper, or makes its next sleep return at once.
    pub(crate) fn wake(&self) {
        let mut w = self.woken.lock();
        *w = true;
        self.cv.notify_one();
    }
}

#[cfg(all(test, loom))]
mod loom_models {
    use super::*;
    use loom::sync::Arc;

    /// A wake-up sent before, during or after the sleep is never lost.
    #[test]
    fn loom_note_no_lost_wakeup() {
        loom::model(|| {
            let n = Arc::new(Note::new());
            let waker = {
                let n = n.clone();
                loom::thread::spawn(move || n.wake())
            };
            n.sleep();
            waker.join().unwrap();
        });
    }
}
