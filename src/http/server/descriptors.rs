//! File descriptors: the server raises its soft limit to the hard one (as Go's runtime and most
//! servers do) and sizes its connection limit below it, so that it refuses connections before
//! accepting fails and the store, Redis and files still get descriptors.

/// Descriptors kept out of the connection limit by default: at least this many, or an eighth.
const MIN_RESERVE: u64 = 64;
/// No default connection limit above this, however many descriptors there are.
const MAX_DEFAULT_CONNECTIONS: u64 = 65_536;
/// Nor below this.
const MIN_CONNECTIONS: u64 = 16;

/// Raises the process's soft limit on open files to its hard limit and returns the soft limit
/// then in force; `None` where it cannot be read.
pub fn raise_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: getrlimit and setrlimit only read and write the struct given.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
                return None;
            }
            if limit.rlim_cur < limit.rlim_max {
                let raised = libc::rlimit { rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                    limit = raised;
                }
            }
        }
        #[allow(clippy::unnecessary_cast, reason = "rlim_t is u64 on Linux, not on every Unix")]
        Some(limit.rlim_cur as u64)
    }
    #[cfg(not(unix))]
    None
}

/// The connection limit for a process that may open `descriptors` files: all but a reserve.
pub fn default_max_connections(descriptors: Option<u64>) -> usize {
    let Some(descriptors) = descriptors else {
        return 1024;
    };
    let reserve = MIN_RESERVE.max(descriptors / 8);
    descriptors.saturating_sub(reserve).clamp(MIN_CONNECTIONS, MAX_DEFAULT_CONNECTIONS) as usize
}

/// The per-client connection limit when none is configured: a quarter of the total, at most 256
/// (a browser opens six, a crowd behind one carrier NAT a few hundred at once).
pub fn default_max_per_client(max_connections: usize) -> usize {
    (max_connections / 4).clamp(1, 256)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_leaves_a_reserve() {
        assert_eq!(default_max_connections(Some(256)), 192);
        assert_eq!(default_max_connections(Some(1024)), 896);
        assert_eq!(default_max_connections(Some(20_000)), 17_500);
        assert_eq!(default_max_connections(Some(1 << 20)), 65_536);
        assert_eq!(default_max_connections(Some(20)), 16);
        assert_eq!(default_max_per_client(192), 48);
        assert_eq!(default_max_per_client(17_500), 256);
    }

    #[test]
    fn the_soft_limit_is_raised_to_the_hard_one() {
        let soft = raise_limit().expect("a Unix test machine has a descriptor limit");
        let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: as above.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) }, 0);
        assert_eq!(soft, limit.rlim_cur);
        assert_eq!(limit.rlim_cur, limit.rlim_max);
    }
}
