//! Login throttling: failed logins are counted per account and per client, in the store (so
//! every instance sees them), and each count past a free allowance makes the next attempt wait
//! longer, doubling, up to a cap. The cap is what keeps it from being a lock-out: an attacker
//! who guesses at a member's account slows the member's own login by at most the account cap,
//! never shuts them out; a client that keeps failing waits longer than anyone.

use chrono::{DateTime, Duration, Utc};

use crate::store::LoginFailures;

/// How failures under one kind of key are turned into waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Failures that cost nothing.
    pub free: u32,
    /// The longest wait, in seconds.
    pub cap_secs: i64,
}

/// Per account: five free failures, then 1, 2, 4 ... seconds, at most a minute, so a member
/// under attack still gets in within a minute.
pub const ACCOUNT: Policy = Policy { free: 5, cap_secs: 60 };
/// Per client: ten free failures (several members behind one office address), then 1, 2, 4 ...
/// seconds, at most a quarter of an hour.
pub const CLIENT: Policy = Policy { free: 10, cap_secs: 900 };
/// Failures older than this are forgotten when the next one comes.
pub const FORGET_AFTER_HOURS: i64 = 24;

impl Policy {
    /// Seconds to wait after `count` failures: 0 within the allowance, then doubling to the cap.
    pub fn wait_secs(self, count: u32) -> i64 {
        if count <= self.free {
            return 0;
        }
        let doublings = (count - self.free - 1).min(30);
        (1i64 << doublings).min(self.cap_secs)
    }

    /// Seconds from `now` until another attempt is heard, after `failures`; 0 when it is now.
    pub fn remaining_secs(self, failures: &LoginFailures, now: DateTime<Utc>) -> i64 {
        let until = failures.last_at + Duration::seconds(self.wait_secs(failures.count));
        let left = until - now;
        // Whole seconds, rounded up, so "try again in N s" is never too early.
        let millis = left.num_milliseconds();
        if millis <= 0 {
            0
        } else {
            (millis + 999) / 1000
        }
    }
}

/// The throttle key of an account.
pub fn account_key(username: &str) -> String {
    format!("account:{username}")
}

/// The throttle key of a client address.
pub fn client_key(client: &str) -> String {
    format!("client:{client}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_after_the_allowance_up_to_the_cap() {
        let waits: Vec<i64> = (0..=14).map(|n| ACCOUNT.wait_secs(n)).collect();
        assert_eq!(waits, vec![0, 0, 0, 0, 0, 0, 1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(CLIENT.wait_secs(10), 0);
        assert_eq!(CLIENT.wait_secs(11), 1);
        assert_eq!(CLIENT.wait_secs(u32::MAX), 900);
    }

    #[test]
    fn the_remaining_wait_rounds_up_and_ends() {
        let last_at = DateTime::from_timestamp(1_000_000, 0).unwrap();
        let failures = LoginFailures { count: 8, last_at };
        assert_eq!(ACCOUNT.remaining_secs(&failures, last_at), 4);
        assert_eq!(ACCOUNT.remaining_secs(&failures, last_at + Duration::milliseconds(100)), 4);
        assert_eq!(ACCOUNT.remaining_secs(&failures, last_at + Duration::milliseconds(3100)), 1);
        assert_eq!(ACCOUNT.remaining_secs(&failures, last_at + Duration::seconds(4)), 0);
    }
}
