//! The `starmark` binary: see `starmark --help`.

fn main() -> std::process::ExitCode {
    starmark::cli::main()
}
