//! An allocator setting for training: the one place where `support` changes process-wide
//! state, when `fit` trains with its default options or a program asks.

/// Asks glibc's allocator to keep freed memory instead of returning it to the system (a no-op
/// on other platforms; calling it again changes nothing).
///
/// A training step allocates and frees some 150 MB of activations and gradients (dfdx allocates
/// its own buffers); returned to the system, every step page-faults them back in. With this
/// setting, blocks up to 32 MiB come from the heap and are reused, and the heap is not trimmed
/// below 1 GiB of free space. It changes the allocator of the whole process: `fit` calls it
/// unless its options say otherwise ([`FitParams::keep_freed_memory`]), the `xray` tool and the
/// benchmarks call it at start. BENCHMARKS.md gives its measured effect.
///
/// [`FitParams::keep_freed_memory`]: crate::training::FitParams::keep_freed_memory
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            // SAFETY: mallopt only changes tuning parameters of the allocator; glibc allows
            // calling it at any time from any thread. A refused value (return 0) keeps the default.
            unsafe {
                libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
                libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
            }
        });
    }
}
