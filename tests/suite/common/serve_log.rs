//! What a running `starmark serve` logs, read line by line, for tests of what it must or must
//! never write there.

use std::time::{Duration, Instant};

use super::{without_colours, ServeProcess};

impl ServeProcess {
    /// Every line it logs from now on, colours removed, up to and including the first one that
    /// contains `needle`; fails the test if that line does not come within `within`.
    pub fn lines_until(&self, needle: &str, within: Duration) -> Vec<String> {
        let deadline = Instant::now() + within;
        let mut lines = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = self.log.recv_timeout(left) else {
                panic!("no log line with {needle:?} within {within:?}; it logged:\n{}", lines.join("\n"));
            };
            let line = without_colours(&line);
            let found = line.contains(needle);
            lines.push(line);
            if found {
                return lines;
            }
        }
    }
}
