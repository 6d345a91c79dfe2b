//! The global allocator: mimalloc, entered by its plain `malloc`-style calls.
//!
//! `mimalloc::MiMalloc` passes every allocation to `mi_malloc_aligned`, even at alignment 1 or
//! 8. In mimalloc 3 that call has a fast path only for blocks of at most 1 KiB; a larger block
//! whose size class is not a power of two is taken for one that may be misaligned and is
//! over-allocated on the slow path. A Segment event's buffers are just over 1 KiB (the parsed
//! line, its tree's nodes, a serialised payload): callgrind counted 56,186 such allocations at
//! ~550 instructions each in an Amplitude pipeline of 20,000 events. Every block `mi_malloc`
//! returns is aligned to at least a machine word, so layouts that ask no more take the plain
//! calls; the rest keep the aligned ones.
//!
//! mimalloc is built with `libmimalloc-sys`'s `no_thp` feature: otherwise it asks the kernel for
//! transparent huge pages on its arenas (`MADV_HUGEPAGE`), so the first byte touched in a 2 MiB
//! region brings in all of it, and peak RSS ran about twice the live heap (20,000 Amplitude
//! events: 104 MB with the advice, 46 MB without, at the same CPU). A host whose THP setting is
//! `always` still decides for itself.

use libmimalloc_sys as mi;
use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;

/// Alignment every `mi_malloc` block has (a machine word).
const PLAIN_ALIGN: usize = std::mem::size_of::<usize>();

/// mimalloc as the global allocator (see the module's documentation).
pub struct Mimalloc;

// SAFETY: every call hands mimalloc a layout it can serve and returns its block unchanged;
// blocks are freed with `mi_free`, which takes blocks from either family of calls.
unsafe impl GlobalAlloc for Mimalloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: mimalloc's allocation calls take any size and alignment
        unsafe {
            if layout.align() <= PLAIN_ALIGN {
                mi::mi_malloc(layout.size()) as *mut u8
            } else {
                mi::mi_malloc_aligned(layout.size(), layout.align()) as *mut u8
            }
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`
        unsafe {
            if layout.align() <= PLAIN_ALIGN {
                mi::mi_zalloc(layout.size()) as *mut u8
            } else {
                mi::mi_zalloc_aligned(layout.size(), layout.align()) as *mut u8
            }
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: `ptr` came from this allocator (the caller's contract)
        unsafe { mi::mi_free(ptr as *mut c_void) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` came from this allocator with `layout` (the caller's contract); the
        // block keeps the alignment it was allocated with
        unsafe {
            if layout.align() <= PLAIN_ALIGN {
                mi::mi_realloc(ptr as *mut c_void, new_size) as *mut u8
            } else {
                mi::mi_realloc_aligned(ptr as *mut c_void, new_size, layout.align()) as *mut u8
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_have_the_alignment_their_layout_asks_for_and_keep_their_bytes() {
        let a = Mimalloc;
        for align in [1, 2, 4, 8, 16, 32, 64, 4096] {
            for size in [0, 1, 7, 24, 1000, 1025, 1100, 3000, 70_000, 300_000] {
                let layout = Layout::from_size_align(size.max(1), align).unwrap();
                // SAFETY: a non-zero layout; every block is freed with its layout
                unsafe {
                    let p = a.alloc(layout);
                    assert!(!p.is_null());
                    assert_eq!(p as usize % align, 0, "size {size}, align {align}");
                    p.write_bytes(0xab, layout.size());
                    let q = a.realloc(p, layout, layout.size() * 2 + 5);
                    assert_eq!(q as usize % align, 0, "grown: size {size}, align {align}");
                    let kept = std::slice::from_raw_parts(q, layout.size());
                    assert!(kept.iter().all(|&b| b == 0xab));
                    let grown = Layout::from_size_align(layout.size() * 2 + 5, align).unwrap();
                    a.dealloc(q, grown);
                    let z = a.alloc_zeroed(layout);
                    assert_eq!(z as usize % align, 0);
                    assert!(
                        std::slice::from_raw_parts(z, layout.size())
                            .iter()
                            .all(|&b| b == 0)
                    );
                    a.dealloc(z, layout);
                }
            }
        }
    }
}
