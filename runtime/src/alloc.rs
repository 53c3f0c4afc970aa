//! A counting global allocator over mimalloc: the live heap in bytes, for memory-per-process
//! figures. mimalloc rather than the system allocator because processes are often freed on
//! another worker thread than the one that spawned them, and glibc's arenas serialise that.
//!
//! Install it in a binary with `#[global_allocator] static A: CountingAlloc = CountingAlloc;`.
//! Counters are spread over cache lines by thread so that counting does not become a point of
//! contention between worker threads.

use std::alloc::{GlobalAlloc, Layout};

use mimalloc::MiMalloc as System;
use std::cell::Cell;
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};

use crossbeam_utils::CachePadded;

const SLOTS: usize = 16;

static LIVE: [CachePadded<AtomicIsize>; SLOTS] =
    [const { CachePadded::new(AtomicIsize::new(0)) }; SLOTS];
static NEXT_SLOT: AtomicUsize = AtomicUsize::new(0);
static INSTALLED: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static SLOT: Cell<usize> = const { Cell::new(usize::MAX) };
    /// Bytes this thread has allocated since it started (only grows).
    static BY_THREAD: Cell<usize> = const { Cell::new(0) };
}

fn count_by_thread(bytes: usize) {
    let _ = BY_THREAD.try_with(|c| c.set(c.get().wrapping_add(bytes)));
}

fn slot() -> usize {
    SLOT.try_with(|s| {
        let v = s.get();
        if v != usize::MAX {
            return v;
        }
        let v = NEXT_SLOT.fetch_add(1, Ordering::Relaxed) % SLOTS;
        s.set(v);
        v
    })
    .unwrap_or(0)
}

/// mimalloc, counting live bytes.
pub struct CountingAlloc;

// SAFETY: every call is forwarded unchanged to mimalloc; we only count.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        INSTALLED.store(1, Ordering::Relaxed);
        let p = System.alloc(layout);
        if !p.is_null() {
            LIVE[slot()].fetch_add(layout.size() as isize, Ordering::Relaxed);
            count_by_thread(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        LIVE[slot()].fetch_sub(layout.size() as isize, Ordering::Relaxed);
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        INSTALLED.store(1, Ordering::Relaxed);
        let p = System.alloc_zeroed(layout);
        if !p.is_null() {
            LIVE[slot()].fetch_add(layout.size() as isize, Ordering::Relaxed);
            count_by_thread(layout.size());
        }
        p
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() {
            LIVE[slot()].fetch_add(
                new_size as isize - layout.size() as isize,
                Ordering::Relaxed,
            );
        }
        p
    }
}

/// Bytes the calling thread has allocated so far (a running total that never goes down; fresh
/// allocations only, not growth by `realloc`), if [`CountingAlloc`] is the global allocator.
/// The difference across a call is what that call allocated on this thread.
pub fn allocated_by_this_thread() -> Option<usize> {
    if INSTALLED.load(Ordering::Relaxed) == 0 {
        return None;
    }
    BY_THREAD.try_with(Cell::get).ok()
}

/// Live heap bytes, if [`CountingAlloc`] is the global allocator.
pub fn live_bytes() -> Option<usize> {
    if INSTALLED.load(Ordering::Relaxed) == 0 {
        return None;
    }
    Some(
        LIVE.iter()
            .map(|c| c.load(Ordering::Relaxed))
            .sum::<isize>()
            .max(0) as usize,
    )
}

/// Resident set size of this OS process (VmRSS), in bytes.
pub fn rss_bytes() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
