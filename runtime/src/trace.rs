//! `GODEBUG=schedtrace=N[,scheddetail=1]`: the SCHED line, and the per-P, per-M and
//! per-G detail lines, in Go's exact format.
//!
//! Models `runtime/proc.go`: `schedtrace`. Fields, in Go's order:
//!
//! ```text
//! SCHED 1004ms: gomaxprocs=4 idleprocs=0 threads=5 spinningthreads=0 needspinning=1 idlethreads=0 runqueue=2 [ 0 0 0 0 ] schedticks=[ 33 31 33 37 ]
//! ```
//!
//! - `gomaxprocs`: Ps; `idleprocs`: Ps on the idle list;
//! - `threads`: Ms (sysmon's included), `spinningthreads`: Ms looking for work,
//!   `needspinning`: a spinning M was wanted but no P was free, `idlethreads`: Ms
//!   parked on the idle list;
//! - `runqueue`: the global queue's length; `[ … ]`: each P's local queue
//!   ring, not counting `runnext` (as Go prints `runqtail - runqhead`);
//!   `schedticks`: each P's scheduling count.
//!
//! With scheddetail the first line instead ends with `gcwaiting= nmidlelocked=
//! stopwait= sysmonwait=`, followed by one line per P, M and G. The numbers are read
//! without stopping the world, so they may be mutually inconsistent by a few, as in
//! Go.

use crate::loom::atomic::Ordering;
use crate::proc::g::Status;
use crate::proc::sched::Sched;
use std::fmt::Write as _;

/// Prints one schedtrace report to stderr.
pub(crate) fn schedtrace(sched: &Sched, detail: bool) {
    crate::panic::print_stderr(&format_schedtrace(sched, detail));
}

fn id_or_nil(v: Option<i64>) -> String {
    v.map_or_else(|| "nil".to_string(), |v| v.to_string())
}

/// The schedtrace report as text.
pub(crate) fn format_schedtrace(sched: &Sched, detail: bool) -> String {
    let ms = sched.nanotime() / 1_000_000;
    let (runq, midle, stopwait, nmidlelocked) = {
        let l = sched.lock.lock();
        (l.runq.size, l.midle.len(), l.stopwait, l.midlelocked.len())
    };
    // Live M threads (`mcount`): the scheduler's, plus sysmon once it runs. Ms that
    // ended (a thread whose locked goroutine exited) are no longer counted.
    let threads = sched.mcount.load(Ordering::Relaxed) as usize
        + usize::from(!sched.sysmon_m.load(Ordering::Relaxed).is_null());
    let mut s = format!(
        "SCHED {ms}ms: gomaxprocs={} idleprocs={} threads={threads} spinningthreads={} needspinning={} idlethreads={midle} runqueue={runq}",
        sched.gomaxprocs,
        sched.npidle.load(Ordering::Relaxed),
        sched.nmspinning.load(Ordering::Relaxed),
        sched.needspinning.load(Ordering::Relaxed),
    );
    if detail {
        let _ = writeln!(
            s,
            " gcwaiting={} nmidlelocked={nmidlelocked} stopwait={stopwait} sysmonwait={}",
            sched.gcwaiting.load(Ordering::Relaxed),
            sched.sysmonwait.load(Ordering::Relaxed)
        );
    } else {
        s.push_str(" [");
        for pp in sched.allp.iter() {
            let _ = write!(s, " {}", pp.runq.len());
        }
        s.push_str(" ] schedticks=[");
        for pp in sched.allp.iter() {
            let _ = write!(s, " {}", pp.schedtick.load(Ordering::Relaxed));
        }
        s.push_str(" ]\n");
        return s;
    }
    for pp in sched.allp.iter() {
        let m = pp.m.load(Ordering::Relaxed);
        // SAFETY: Ms are leaked.
        let mid = (!m.is_null()).then(|| unsafe { &*m }.id);
        let _ = writeln!(
            s,
            "  P{}: status={} schedtick={} syscalltick={} m={} runqsize={} gfreecnt={} timerslen={}",
            pp.id,
            pp.status() as u32,
            pp.schedtick.load(Ordering::Relaxed),
            pp.syscalltick.load(Ordering::Relaxed),
            id_or_nil(mid),
            pp.runq.len(),
            pp.gfreecnt.load(Ordering::Relaxed),
            pp.timers.len(),
        );
    }
    for m in sched.allm.lock().iter() {
        let pid = m.p.load(Ordering::Relaxed);
        // SAFETY: Ps live in the leaked allp.
        let pid = (!pid.is_null()).then(|| unsafe { &*pid }.id as i64);
        let _ = writeln!(
            s,
            "  M{}: p={} curg={} mallocing=0 throwing=0 preemptoff= locks=0 dying=0 spinning={} blocked={} lockedg={}",
            m.id,
            id_or_nil(pid),
            id_or_nil(m.curg().map(|g| g.goid() as i64)),
            m.spinning.load(Ordering::Relaxed),
            m.blocked.load(Ordering::Relaxed),
            id_or_nil(crate::proc::lockos::lockedg(m).map(|g| g.goid() as i64)),
        );
    }
    for g in sched.allgs.lock().iter() {
        let st = g.status();
        if st == Status::Idle {
            // Reclaimed after shutdown: no longer a goroutine.
            continue;
        }
        let reason = if st == Status::Waiting {
            g.waitreason().as_str()
        } else {
            ""
        };
        let m = g.m.load(Ordering::Relaxed);
        // SAFETY: Ms are leaked.
        let mid = (!m.is_null()).then(|| unsafe { &*m }.id);
        let _ = writeln!(
            s,
            "  G{}: status={}({reason}) m={} lockedm={}",
            g.goid(),
            st as u32,
            id_or_nil(mid),
            id_or_nil(crate::proc::lockos::lockedm(g).map(|m| m.id))
        );
    }
    s
}
