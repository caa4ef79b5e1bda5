//! Unit tests of the descriptor cache and the epoll tokens.

use super::desc::{self, Mode, PollDesc, PollErr};
use std::time::{Duration, Instant};

#[test]
fn a_token_names_its_descriptor_until_the_descriptor_is_reused() {
    let pd = PollDesc::alloc();
    let t = pd.token();
    assert!(t != super::WAKE_TOKEN);
    assert!(std::ptr::eq(PollDesc::from_token(t).unwrap(), pd));
    pd.close();
    // The descriptor went back to the cache with a new sequence number: an event
    // still carrying the old token is recognised as stale.
    assert!(PollDesc::from_token(t).is_none());
    assert!(desc::cached() > 0);
}

#[test]
fn deadlines_expire_and_clear_without_a_runtime() {
    let pd = PollDesc::alloc();
    assert_eq!(pd.check_err(Mode::Read), Ok(()));
    pd.set_deadline(Mode::Read, Some(Instant::now()));
    assert_eq!(pd.check_err(Mode::Read), Err(PollErr::Timeout));
    assert_eq!(
        pd.check_err(Mode::Write),
        Ok(()),
        "only the read side expired"
    );
    pd.set_deadline(Mode::Read, Some(Instant::now() + Duration::from_secs(60)));
    assert_eq!(
        pd.check_err(Mode::Read),
        Ok(()),
        "a later deadline clears it"
    );
    pd.set_deadline(Mode::Write, Some(Instant::now()));
    pd.set_deadline(Mode::Write, None);
    assert_eq!(pd.check_err(Mode::Write), Ok(()), "no deadline clears it");
    pd.close();
}

#[test]
fn a_closed_descriptor_comes_back_clean() {
    let pd = PollDesc::alloc();
    pd.set_deadline(Mode::Read, Some(Instant::now()));
    pd.close();
    // Reuse until we get the same descriptor back (the cache is LIFO, but other
    // tests share it).
    let mut taken = Vec::new();
    loop {
        let p = PollDesc::alloc();
        if std::ptr::eq(p, pd) {
            assert_eq!(p.check_err(Mode::Read), Ok(()), "no closing or expired bit");
            p.close();
            break;
        }
        taken.push(p);
    }
    for p in taken {
        p.close();
    }
}
