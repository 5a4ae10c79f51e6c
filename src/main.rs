fn main() {
    keep_large_buffers_out_of_the_heap();
    std::process::exit(exportd::run(std::env::args_os()));
}

/// glibc raises its mmap threshold each time a large block is freed; from then on every
/// 8 MiB upload part (and rust-s3's copy of it) is carved from a thread's heap, where it stays
/// resident after it is freed, so peak memory grew with the length of an export (45.6 MiB at
/// 1M invoices, 53.3 MiB at 5M). A fixed threshold keeps blocks of 1 MiB and more in mappings
/// of their own, returned to the system when freed (44.1 and 45.5 MiB). Setting it also turns
/// off the dynamic adjustment, as `man mallopt` says.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn keep_large_buffers_out_of_the_heap() {
    const LARGE: libc::c_int = 1 << 20;
    // SAFETY: mallopt only sets an allocator parameter, before any other thread starts. A
    // refusal (0) leaves glibc's default, which is correct, only less frugal.
    unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, LARGE) };
}

/// Other allocators do not have glibc's sliding threshold.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn keep_large_buffers_out_of_the_heap() {}
