//! The `starmark` binary: see `starmark --help`.

/// mimalloc rather than glibc's malloc: under load glibc's allocator took 8 to 17% of the
/// server's CPU, much of it in its slow paths (`malloc_consolidate`, `unlink_chunk`). Measured
/// side by side (BENCHMARKS.md): 10 to 20% less server CPU per answer and per scan, for 15 to
/// 20% more peak memory.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    starmark::cli::main()
}
