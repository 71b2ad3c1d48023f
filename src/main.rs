//! The `topo` binary: parse arguments, run, map the outcome to an exit code.

// Loading a large topology is allocation-bound (hundreds of thousands of small strings);
// mimalloc makes `topo validate` of the 10,000-queue benchmark file about 1.3x faster.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    no_huge_pages();
    topo::cli::main()
}

/// Ask Linux for no transparent huge pages in this process (`PR_SET_THP_DISABLE`, what
/// `MIMALLOC_ALLOW_THP=0` does). mimalloc asks for them on its arenas, and on a kernel that
/// compacts memory to find them (`defrag` set to `madvise`, Debian's default) a fault can
/// stall for tens of milliseconds, and each one zeroes 2 MiB whether topo uses it or not. A
/// run of topo is short and its memory is freshly touched: at 10,000 queues on a 2-core VM a
/// no-op `topo plan` had a median 10% lower and a peak of 110 MiB instead of 144 MiB with
/// them off, and no more runs of twice the median (docs/plan-apply.md, Performance). A
/// kernel that refuses the call leaves things as they were.
fn no_huge_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: prctl with PR_SET_THP_DISABLE takes four integer arguments, touches no memory
    // of ours, and only sets a flag of this process; the result is deliberately ignored.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}
