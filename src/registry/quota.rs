//! A token bucket for public writes. Receipts are issued to anyone without a token and kept
//! for good, so their rate is bounded: a flood of receipt requests must not fill the disk or
//! crowd out the body's own writes. The bound is per instance and shared by all clients.

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

    /// Takes one token, or says how long until one is free.
    pub fn take(&self) -> Result<(), Duration> {
        self.take_at(Instant::now())
    }

    fn take_at(&self, now: Instant) -> Result<(), Duration> {
        // A poisoned lock only means another thread panicked mid-update; the numbers are still usable.
        let mut bucket = self.bucket.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let elapsed = now.saturating_duration_since(bucket.refreshed).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.per_second).min(self.burst);
        bucket.refreshed = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / self.per_second))
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
            assert!(quota.take_at(start).is_ok());
        }
        let wait = quota.take_at(start).expect_err("the burst is spent");
        assert!(wait > Duration::from_millis(90) && wait <= Duration::from_millis(100), "{wait:?}");
        assert!(quota.take_at(start + Duration::from_millis(100)).is_ok(), "10 a second come back");
        assert!(quota.take_at(start + Duration::from_millis(100)).is_err());
        assert!(quota.take_at(start + Duration::from_secs(3600)).is_ok());
    }

    #[test]
    fn small_rates_still_allow_a_burst_of_ten() {
        let quota = Quota::per_minute(1);
        let start = Instant::now();
        for _ in 0..10 {
            assert!(quota.take_at(start).is_ok());
        }
        assert!(quota.take_at(start).is_err_and(|wait| wait > Duration::from_secs(59)));
    }
}
