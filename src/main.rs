//! The `starmark` binary: see `starmark --help`.

/// mimalloc rather than glibc's malloc: under load glibc's allocator took 8 to 17% of the
/// server's CPU, much of it in its slow paths (`malloc_consolidate`, `unlink_chunk`). Measured
/// side by side (BENCHMARKS.md): 10 to 20% less server CPU per answer and per scan, for 15 to
/// 20% more peak memory. Built without transparent huge pages (`no_thp`): a 2 MB page half
/// used still counts whole, and with all answers of 100,000 certificates in memory they cost
/// 37 MiB of peak memory (425 against 388 MiB) for no measurable speed.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    starmark::cli::main()
}
