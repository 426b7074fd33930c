//! The generic cell rate algorithm (GCRA) for one client and one class: the whole state is one
//! number, the theoretical arrival time (TAT) of the client's next unit, so a table of clients
//! stays small and a check is a few integer operations.
//!
//! A policy of `quota` units per `window` spaces units `window / quota` apart and tolerates a
//! burst of the whole quota: a unit is granted while the TAT it would move to is at most one
//! window ahead of now. Times are nanoseconds since the limiter's own start.

use super::Policy;

/// One policy in the algorithm's terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gcra {
    /// Nanoseconds one unit of quota takes to come back.
    interval: u64,
    /// The window in nanoseconds: how far ahead of now the TAT may run.
    window: u64,
    quota: u64,
}

/// Why a cost was not granted: how long until it would be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Wait(pub u64);

impl Gcra {
    pub fn new(policy: Policy) -> Self {
        let window = u64::from(policy.window_secs.max(1)) * 1_000_000_000;
        let quota = u64::from(policy.quota.max(1));
        Self { interval: (window / quota).max(1), window, quota }
    }

    /// The TAT after granting `cost` units at `now` to a client whose TAT is `tat`, or how long
    /// the client must wait. A cost above the whole quota is granted only to a client owing
    /// nothing, and leaves it owing the rest: such a request is possible, and is paid for by the
    /// time that follows it.
    pub fn decide(&self, tat: u64, now: u64, cost: u32) -> Result<u64, Wait> {
        let base = tat.max(now);
        let charge = self.interval.saturating_mul(u64::from(cost));
        let next = base.saturating_add(charge);
        if next - now <= self.window {
            return Ok(next);
        }
        if charge > self.window {
            return if base == now { Ok(next) } else { Err(Wait(base - now)) };
        }
        Err(Wait(next - now - self.window))
    }

    /// Units the client could still spend at once at `now`.
    pub fn remaining(&self, tat: u64, now: u64) -> u64 {
        let room = (now + self.window).saturating_sub(tat.max(now));
        (room / self.interval).min(self.quota)
    }

    /// Nanoseconds until the client's whole quota is back.
    pub fn reset(&self, tat: u64, now: u64) -> u64 {
        tat.saturating_sub(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: u64 = 1_000_000_000;

    fn per_minute(quota: u32) -> Gcra {
        Gcra::new(Policy { quota, window_secs: 60 })
    }

    #[test]
    fn a_burst_of_the_quota_then_its_rate() {
        let gcra = per_minute(60);
        let now = 1_000 * SECOND;
        let mut tat = 0;
        for n in 0..60 {
            assert_eq!(gcra.remaining(tat, now), 60 - n);
            tat = gcra.decide(tat, now, 1).expect("within the burst");
        }
        assert_eq!(gcra.remaining(tat, now), 0);
        assert_eq!(gcra.decide(tat, now, 1), Err(Wait(SECOND)), "one a second comes back");
        assert_eq!(gcra.reset(tat, now), 60 * SECOND);
        assert!(gcra.decide(tat, now + SECOND, 1).is_ok());
        assert_eq!(gcra.remaining(tat, now + 60 * SECOND), 60);
    }

    #[test]
    fn a_cost_is_granted_whole_or_not_at_all() {
        let gcra = per_minute(100);
        let now = 10 * SECOND;
        let tat = gcra.decide(0, now, 70).unwrap();
        assert_eq!(gcra.remaining(tat, now), 30);
        // 40 more need 10 to come back: 6 s at 100 a minute.
        assert_eq!(gcra.decide(tat, now, 40), Err(Wait(6 * SECOND)));
        assert!(gcra.decide(tat, now, 30).is_ok());
    }

    #[test]
    fn a_cost_above_the_quota_needs_a_full_budget_and_leaves_a_debt() {
        let gcra = per_minute(10);
        let now = 100 * SECOND;
        let owing = gcra.decide(0, now, 1).unwrap();
        assert_eq!(gcra.decide(owing, now, 30), Err(Wait(6 * SECOND)), "waits until nothing is owed");
        let tat = gcra.decide(0, now, 30).expect("a client owing nothing may");
        assert_eq!(gcra.reset(tat, now), 180 * SECOND);
        assert_eq!(gcra.decide(tat, now + 125 * SECOND, 1), Err(Wait(SECOND)), "the debt is paid first");
        assert!(gcra.decide(tat, now + 126 * SECOND, 1).is_ok());
    }
}
