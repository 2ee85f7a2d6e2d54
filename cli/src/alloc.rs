//! The global allocator of the `shipline` binary, and how the reconciler returns memory to it.
//!
//! On Linux the binary uses jemalloc: the long-running reconciler's idle RSS is dominated by how
//! the allocator keeps the few megabytes a reconcile leaves alive, and glibc's malloc leaves them
//! scattered over the pages of the reconcile's transient peak (see `cli/Cargo.toml`).

#[cfg(target_os = "linux")]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Returns every unused dirty page of every jemalloc arena to the kernel; the reconciler calls
/// it after each reconcile. jemalloc otherwise purges on a decay clock that only advances while
/// the process allocates, so an idle reconciler would keep its last peak.
#[cfg(target_os = "linux")]
pub fn release_free_memory() {
    for command in [FLUSH_TCACHE, PURGE_ALL] {
        let status = run(command);
        if status != 0 {
            tracing::debug!(status, "jemalloc refused a memory release command");
        }
    }
}

/// Gives this thread's cached free blocks back to their arenas, so the purge can return them.
#[cfg(target_os = "linux")]
const FLUSH_TCACHE: &[u8] = b"thread.tcache.flush\0";
/// `arena.<MALLCTL_ARENAS_ALL>.purge`: 4096 addresses every arena in jemalloc 5.
#[cfg(target_os = "linux")]
const PURGE_ALL: &[u8] = b"arena.4096.purge\0";

/// Runs a mallctl command that takes and gives nothing; 0 on success, an errno otherwise.
#[cfg(target_os = "linux")]
fn run(command: &[u8]) -> i32 {
    debug_assert_eq!(command.last(), Some(&0));
    // SAFETY: `command` is NUL-terminated (the constants above) and the command takes no input
    // and gives no output, so every pointer argument is null and the lengths are zero.
    unsafe {
        tikv_jemalloc_sys::mallctl(
            command.as_ptr().cast(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
        )
    }
}

/// Elsewhere the system allocator stays, with the reconciler's default release.
#[cfg(not(target_os = "linux"))]
pub fn release_free_memory() {
    shipline_reconcile::run::trim_system_allocator();
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn release_commands_are_known_to_jemalloc() {
        // Freed memory first, so the purge has something to do.
        drop(vec![0u8; 8 << 20]);
        assert_eq!(run(FLUSH_TCACHE), 0, "thread.tcache.flush");
        assert_eq!(run(PURGE_ALL), 0, "arena.4096.purge");
        // A wrong name is refused (ENOENT), so the assertions above can fail.
        assert_ne!(run(b"arena.4096.no-such-command\0"), 0);
    }
}
