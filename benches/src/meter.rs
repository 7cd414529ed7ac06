//! Per-component accounting for the in-memory simulation ([`crate::sim`]): heap bytes by owner and the
//! calling thread's CPU time.
//!
//! [`TaggedAlloc`] is a global allocator that charges every allocation to the tag current when it was
//! made ([`set_tag`]) and remembers that tag in a small header in front of the block, so that freeing the
//! block later, from whatever code, credits the same owner. The simulation sets the tag of a reflector
//! around every call into that reflector's engine: [`live`] then gives the bytes that reflector holds
//! (its RIBs, update groups and the encoded messages it handed out and that are still referenced), and
//! [`peak`] the most it ever held at once. Only binaries that install it (`#[global_allocator]`) measure
//! anything; elsewhere [`live`] and [`peak`] stay 0.
//!
//! The current tag is per thread; the counters are per tag, process-wide.
//!
//! This module and `rr-daemon`'s `sockopt` are the workspace's only `unsafe` code: a global allocator
//! and `clock_gettime(2)` cannot be written without it.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicIsize, Ordering::Relaxed};

/// Number of distinct tags (tag 0 is "everything else").
pub const TAGS: usize = 256;

thread_local! {
    static CURRENT: Cell<usize> = const { Cell::new(0) };
}
static LIVE: [AtomicIsize; TAGS] = [const { AtomicIsize::new(0) }; TAGS];
static PEAK: [AtomicIsize; TAGS] = [const { AtomicIsize::new(0) }; TAGS];

/// Header in front of every block: at least 16 bytes and the block's alignment, so the payload keeps it.
fn header(layout: Layout) -> usize {
    layout.align().max(16)
}

fn charge(tag: usize, delta: isize) {
    let now = LIVE[tag].fetch_add(delta, Relaxed) + delta;
    if delta > 0 && now > PEAK[tag].load(Relaxed) {
        PEAK[tag].store(now, Relaxed);
    }
}

/// The tagging global allocator (wraps [`System`]).
#[derive(Debug, Default, Clone, Copy)]
pub struct TaggedAlloc;

// SAFETY: every block handed out is a `System` block of `size + header` bytes at the caller's
// alignment (at least 16), offset by `header`; the tag is written in the 8 bytes before the payload,
// inside the header. `dealloc` and `realloc` recompute the same header from the same layout.
unsafe impl GlobalAlloc for TaggedAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let h = header(layout);
        let Some(size) = layout.size().checked_add(h) else {
            return std::ptr::null_mut();
        };
        let Ok(full) = Layout::from_size_align(size, layout.align().max(16)) else {
            return std::ptr::null_mut();
        };
        // SAFETY: `full` has a non-zero size (at least the header).
        let base = unsafe { System.alloc(full) };
        if base.is_null() {
            return base;
        }
        let tag = CURRENT.try_with(Cell::get).unwrap_or(0);
        // SAFETY: `base + h` is inside the block; the 8 bytes before it are in the header, and
        // aligned to 8 because `h` is a multiple of 16.
        unsafe {
            let payload = base.add(h);
            payload.sub(8).cast::<usize>().write(tag);
            charge(tag, layout.size() as isize);
            payload
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let h = header(layout);
        // SAFETY: `ptr` came from `alloc`/`realloc` with this layout: the tag sits 8 bytes before it
        // and the `System` block starts `h` bytes before it, with the size and alignment below.
        unsafe {
            let tag = ptr.sub(8).cast::<usize>().read();
            charge(tag, -(layout.size() as isize));
            let full = Layout::from_size_align_unchecked(layout.size() + h, layout.align().max(16));
            System.dealloc(ptr.sub(h), full);
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let h = header(layout);
        let Some(new_full) = new_size.checked_add(h) else {
            return std::ptr::null_mut();
        };
        // SAFETY: as in `dealloc`; `System.realloc` keeps the header bytes (and so the tag), and the
        // block stays owned by whoever allocated it first.
        unsafe {
            let tag = ptr.sub(8).cast::<usize>().read();
            let full = Layout::from_size_align_unchecked(layout.size() + h, layout.align().max(16));
            let base = System.realloc(ptr.sub(h), full, new_full);
            if base.is_null() {
                return base;
            }
            charge(tag, new_size as isize - layout.size() as isize);
            base.add(h)
        }
    }
}

/// Charges the allocations this thread makes from now on to `tag` (`0..TAGS`; larger values fold onto
/// the last); returns the previous tag.
pub fn set_tag(tag: usize) -> usize {
    CURRENT.try_with(|c| c.replace(tag.min(TAGS - 1))).unwrap_or(0)
}

/// Bytes currently held by `tag` (0 when [`TaggedAlloc`] is not the global allocator).
pub fn live(tag: usize) -> isize {
    LIVE[tag.min(TAGS - 1)].load(Relaxed)
}

/// The most bytes `tag` held at once since the last [`reset_peak`].
pub fn peak(tag: usize) -> isize {
    PEAK[tag.min(TAGS - 1)].load(Relaxed)
}

/// Restarts the peak of `tag` from its current live bytes.
pub fn reset_peak(tag: usize) {
    let t = tag.min(TAGS - 1);
    PEAK[t].store(LIVE[t].load(Relaxed), Relaxed);
}

/// CPU time consumed by the calling thread, in nanoseconds (`CLOCK_THREAD_CPUTIME_ID`).
pub fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the call only writes it.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return 0;
    }
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_charged_to_their_tag_and_credited_when_freed_elsewhere() {
        // The lib's test binary installs TaggedAlloc (see lib.rs). Tag 200 is used by no other test.
        let before = live(200);
        let prev = set_tag(200);
        let mut v: Vec<u8> = Vec::with_capacity(1000);
        v.push(1);
        set_tag(prev);
        assert_eq!(live(200) - before, 1000);
        // Growing it from another tag keeps it charged to 200.
        v.reserve_exact(5000);
        assert!(live(200) - before >= 5001);
        assert!(peak(200) >= live(200));
        drop(v);
        assert_eq!(live(200), before);
    }

    #[test]
    fn thread_cpu_time_moves() {
        let a = thread_cpu_ns();
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
        }
        assert!(x != 1 && a > 0 && thread_cpu_ns() > a);
    }
}
