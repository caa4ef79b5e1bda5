//! Go's deadlock detector: when no goroutine can ever run again, the program dies
//! with `fatal error: all goroutines are asleep - deadlock!` and exit status 2.
//!
//! ```text
//! cargo run --release --example deadlock; echo "exit status $?"
//! ```
//!
//! The main goroutine waits to receive from a channel that nobody will ever send
//! on; a worker waits on a WaitGroup that nobody will ever finish; a third
//! goroutine sleeps briefly first — while its timer is pending the program is
//! *not* deadlocked (the timer could still wake someone), so the report comes
//! only after it too has blocked. Look at the goroutine dump: each goroutine's
//! wait reason (`chan receive`, `sync.WaitGroup.Wait`, `chan send`), the
//! function it runs, and who created it — the same shape Go prints.

use std::time::Duration;

fn main() {
    println!("expect: fatal error: all goroutines are asleep - deadlock! (exit status 2)");
    println!(
        "        after ~50 ms: the sleeping goroutine's timer keeps the program alive until then\n"
    );
    // SAFETY: no goroutine here keeps thread-bound state across a blocking call.
    unsafe {
        gort::run(|| {
            let (tx, rx) = gort::chan::bounded::<u32>(0);
            let wg = gort::sync::WaitGroup::new();
            wg.add(1);
            let w = wg.clone();
            gort::go(move || w.wait());
            gort::go(move || {
                gort::time::sleep(Duration::from_millis(50));
                // An unbuffered send with no receiver on this channel: blocks forever.
                let (lonely, _keep) = gort::chan::bounded::<u32>(0);
                lonely.send(1);
                drop(tx);
            });
            let v = rx.recv(); // nobody sends: blocks forever
            println!("unreachable: received {v:?}");
        })
    };
}
