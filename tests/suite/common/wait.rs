//! Waiting for something observable (a state, a counter, a log line) instead of sleeping a
//! fixed time or timing a stopwatch. The deadline is only a hang guard: generous enough for a
//! loaded two-core machine, never the thing a test asserts.

use std::fmt::Display;
use std::future::Future;
use std::time::{Duration, Instant};

/// How long a test waits for something that should happen promptly before calling it a hang.
pub const HANG_GUARD: Duration = Duration::from_secs(30);

/// How often a condition is looked at again.
pub const POLL: Duration = Duration::from_millis(20);

/// Polls `check` until it gives a value, failing the test (naming `what` and the last thing
/// `check` saw) after [`HANG_GUARD`].
pub async fn until<T, F, Fut>(what: impl Display, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + HANG_GUARD;
    loop {
        match check().await {
            Ok(value) => return value,
            Err(seen) => assert!(Instant::now() < deadline, "{what}: not seen within {HANG_GUARD:?}; last: {seen}"),
        }
        tokio::time::sleep(POLL).await;
    }
}

/// [`until`] for a condition that says only yes or no.
pub async fn until_true<F, Fut>(what: impl Display, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    until(what, || {
        let seen = check();
        async move {
            if seen.await {
                Ok(())
            } else {
                Err("no".to_string())
            }
        }
    })
    .await
}

/// How long a test lets a request run that waits on purpose (for a lock, up to 8 s) before
/// calling it a hang.
pub const SLOW_GUARD: Duration = Duration::from_secs(60);

/// Awaits `future`, failing the test (naming `what`) if it is not done within [`SLOW_GUARD`]:
/// a hang guard, never what a test asserts.
pub async fn guarded<F: Future>(what: impl Display, future: F) -> F::Output {
    match tokio::time::timeout(SLOW_GUARD, future).await {
        Ok(output) => output,
        Err(_) => panic!("{what}: not done within {SLOW_GUARD:?}"),
    }
}
