//! A token bucket for public writes. Receipts are issued to anyone without a token and kept
//! for good, so their rate is bounded: a flood of receipt requests must not fill the disk or
//! crowd out the body's own writes. The bound is per instance and shared by all clients.
//! A request may cost several tokens (a receipt one per started 4 KiB it stores), so the bound
//! holds for bytes written, not only for requests.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// At most `per_minute` on average, and a burst of a tenth of that (at least 10) at once.
#[derive(Debug)]
pub struct Quota {
    per_second: f64,
    burst: f64,
    bucket: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    refreshed: Instant,
}

impl Quota {
    pub fn per_minute(per_minute: u32) -> Self {
        let per_minute = f64::from(per_minute.max(1));
        let burst = (per_minute / 10.0).max(10.0);
        Self {
            per_second: per_minute / 60.0,
            burst,
            bucket: Mutex::new(Bucket { tokens: burst, refreshed: Instant::now() }),
        }
    }

    /// Takes `cost` tokens, or says how long until they are there. A cost above the burst is
    /// granted once the bucket is full, and leaves it owing the rest: such a request is
    /// possible, and is paid for by the time that follows it.
    pub fn take(&self, cost: u32) -> Result<(), Duration> {
        self.take_at(Instant::now(), cost)
    }

    fn take_at(&self, now: Instant, cost: u32) -> Result<(), Duration> {
        // A poisoned lock only means another thread panicked mid-update; the numbers are still usable.
        let mut bucket = self.bucket.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let elapsed = now.saturating_duration_since(bucket.refreshed).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.per_second).min(self.burst);
        bucket.refreshed = now;
        let cost = f64::from(cost.max(1));
        let needed = cost.min(self.burst);
        if bucket.tokens >= needed {
            bucket.tokens -= cost;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((needed - bucket.tokens) / self.per_second))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_average_rate() {
        let quota = Quota::per_minute(600);
        let start = Instant::now();
        for _ in 0..60 {
            assert!(quota.take_at(start, 1).is_ok());
        }
        let wait = quota.take_at(start, 1).expect_err("the burst is spent");
        assert!(wait > Duration::from_millis(90) && wait <= Duration::from_millis(100), "{wait:?}");
        assert!(quota.take_at(start + Duration::from_millis(100), 1).is_ok(), "10 a second come back");
        assert!(quota.take_at(start + Duration::from_millis(100), 1).is_err());
        assert!(quota.take_at(start + Duration::from_secs(3600), 1).is_ok());
    }

    #[test]
    fn a_cost_above_the_burst_waits_for_a_full_bucket_and_leaves_a_debt() {
        let quota = Quota::per_minute(600); // 10 a second, a burst of 60
        let start = Instant::now();
        assert!(quota.take_at(start, 30).is_ok());
        let wait = quota.take_at(start, 100).expect_err("half the burst left");
        assert!(wait > Duration::from_millis(2_900) && wait <= Duration::from_secs(3), "until full: {wait:?}");
        let full = start + Duration::from_secs(3);
        assert!(quota.take_at(full, 100).is_ok(), "a full bucket takes it");
        let wait = quota.take_at(full, 1).expect_err("40 owed");
        assert!(wait > Duration::from_millis(4_000) && wait <= Duration::from_millis(4_101), "{wait:?}");
        assert!(quota.take_at(full + Duration::from_millis(4_200), 1).is_ok());
    }

    #[test]
    fn small_rates_still_allow_a_burst_of_ten() {
        let quota = Quota::per_minute(1);
        let start = Instant::now();
        for _ in 0..10 {
            assert!(quota.take_at(start, 1).is_ok());
        }
        assert!(quota.take_at(start, 1).is_err_and(|wait| wait > Duration::from_secs(59)));
    }
}
