//! The `topo` binary: parse arguments, run, map the outcome to an exit code.

// Loading a large topology is allocation-bound (hundreds of thousands of small strings);
// mimalloc makes `topo validate` of the 10,000-queue benchmark file about 1.3x faster.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    topo::cli::main()
}
