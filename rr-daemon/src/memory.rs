//! Giving freed heap memory back to the operating system.
//!
//! glibc's allocator keeps memory freed by the program in its arenas and returns it to the kernel only
//! when the top of a heap is free. After a burst (the first listing of a large datastore, a full-table
//! control request, many sessions going away) the heap is mostly free but fragmented, so the resident set
//! stays at its peak: with 20,000 configured peers the start-up peak left about 50 MiB of free heap
//! resident. [`run`] asks glibc to release free pages (`malloc_trim(0)`, which `madvise`s every whole free
//! page of every arena) at a fixed interval, on a blocking thread so that no runtime worker waits on the
//! arena locks. Elsewhere than glibc it does nothing.

// The one unsafe call: libc::malloc_trim.
#![allow(unsafe_code)]

use std::time::Duration;

/// How often free heap pages are given back.
pub(crate) const INTERVAL: Duration = Duration::from_secs(10);

/// Releases free heap pages every `interval`, forever.
pub(crate) async fn run(interval: Duration) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if tokio::task::spawn_blocking(trim).await.is_err() {
            return;
        }
    }
}

/// Gives free heap pages back to the kernel; true if glibc released any.
pub(crate) fn trim() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: malloc_trim only walks the allocator's own free lists under its arena locks; it has no
        // preconditions on the caller.
        unsafe { libc::malloc_trim(0) == 1 }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Resident set size in KiB, from /proc/self/statm.
    fn rss_kib() -> u64 {
        let s = std::fs::read_to_string("/proc/self/statm").expect("statm");
        let pages: u64 = s.split_whitespace().nth(1).expect("rss").parse().expect("number");
        pages * 4
    }

    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn trim_returns_a_freed_fragmented_heap() {
        // Many small blocks (below the mmap threshold, so they come from the heap), every other one kept:
        // the freed half cannot be returned by shrinking the top of the heap, only by trimming.
        let mut blocks: Vec<Vec<u8>> = (0..200_000).map(|i| vec![i as u8; 512]).collect();
        let keep: Vec<Vec<u8>> = blocks
            .drain(..)
            .enumerate()
            .filter(|(i, _)| i % 64 == 0)
            .map(|(_, b)| b)
            .collect();
        let before = rss_kib();
        trim();
        let after = rss_kib();
        assert!(keep.iter().all(|b| b.len() == 512));
        // About 100 MB were freed: at least a third of it must have left the resident set.
        assert!(
            before.saturating_sub(after) > 30_000,
            "RSS before trim {before} KiB, after {after} KiB"
        );
    }
}
