//! The `starmark` binary: see `starmark --help`.

/// mimalloc rather than glibc's malloc: under load glibc's allocator took 8 to 17% of the
/// server's CPU, much of it in its slow paths (`malloc_consolidate`, `unlink_chunk`). Measured
/// side by side (BENCHMARKS.md): 10 to 20% less server CPU per answer and per scan, for 15 to
/// 20% more peak memory. Built without transparent huge pages (`no_thp`): a 2 MB page half
/// used still counts whole, and with all answers of 100,000 certificates in memory they cost
/// 37 MiB of peak memory (425 against 388 MiB) for no measurable speed. mimalloc 2 rather than
/// 3 (the crate's default): with those answers loaded and three batches of fresh scans, its
/// peak was 20 MiB lower (245-249 against 266-270 MiB) at the same CPU per answer and per scan.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    c_heap::fix_thresholds();
    starmark::cli::main()
}

/// SQLite is C and allocates through glibc's malloc, not mimalloc. glibc raises its mmap
/// threshold to the size of the largest mapped block freed (up to 32 MiB), and its trim threshold
/// to twice that: once SQLite has handed back one 8 MB blob (a batch's mark digest index), later
/// blocks of that size come from the arenas, and each of SQLite's connection threads keeps up to
/// 16 MiB resident that nothing uses. Fixed at glibc's defaults, large blocks keep mappings of
/// their own and go back to the system when freed: after three batches of fresh scans, glibc's
/// arenas held 17.5 MiB instead of 45.8 (BENCHMARKS.md, "Memory the C heap kept").
#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod c_heap {
    /// glibc's own default: blocks from 128 KiB up get mappings of their own.
    const MMAP_THRESHOLD: libc::c_int = 128 * 1024;

    pub fn fix_thresholds() {
        // SAFETY: mallopt only changes allocator parameters; it runs first in `main`, before
        // any other thread exists. Setting a threshold also turns off their dynamic adjustment.
        // A refusal (0) leaves glibc's behaviour as it was, which is only more memory.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
            libc::mallopt(libc::M_TRIM_THRESHOLD, MMAP_THRESHOLD);
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
mod c_heap {
    pub fn fix_thresholds() {}
}
