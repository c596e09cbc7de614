//! A bump arena for variable-length data (storage values, input, call
//! results, encoded messages).
//!
//! A contract instance lives for one method call (docs/abi.md: every call
//! gets a fresh instance), so nothing is ever freed: the arena hands out
//! `&'static mut [u8]` slices from the free memory after the program's
//! data and stack (`__heap_base`), and grows the memory with `memory.grow`
//! when it runs out. Growing past the chain's `max_memory_pages` fails and
//! aborts the call with `out of memory`.
//!
//! This is why the SDK needs neither `alloc` nor a global allocator.

/// The type of byte strings handed out by the SDK: they live until the
/// end of the call.
pub type Bytes = &'static [u8];

#[cfg(target_arch = "wasm32")]
mod imp {
    use core::cell::UnsafeCell;

    const PAGE: usize = 65536;

    struct State {
        next: usize,
        end: usize,
    }

    struct Global(UnsafeCell<State>);
    // wasm32 contracts are single-threaded.
    unsafe impl Sync for Global {}

    static STATE: Global = Global(UnsafeCell::new(State { next: 0, end: 0 }));

    extern "C" {
        static __heap_base: u8;
    }

    #[inline(always)]
    fn state() -> &'static mut State {
        unsafe { &mut *STATE.0.get() }
    }

    fn init(s: &mut State) {
        if s.next == 0 {
            s.next = unsafe { &__heap_base as *const u8 as usize };
            s.end = core::arch::wasm32::memory_size(0) * PAGE;
        }
    }

    /// Makes at least `len` bytes free at `next`.
    fn ensure(s: &mut State, len: usize) {
        let free = s.end - s.next;
        if free >= len {
            return;
        }
        let missing = len - free;
        let pages = (missing + PAGE - 1) / PAGE;
        if core::arch::wasm32::memory_grow(0, pages) == usize::MAX {
            crate::abort("out of memory");
        }
        s.end += pages * PAGE;
    }

    pub fn alloc(len: usize) -> &'static mut [u8] {
        let s = state();
        init(s);
        s.next = (s.next + 7) & !7;
        if len > usize::MAX / 2 {
            crate::abort("out of memory");
        }
        ensure(s, len);
        let p = s.next;
        s.next += len;
        // Zeroed without clearing: memory above `__heap_base` starts zeroed
        // (and memory.grow gives zeroed pages), and the arena never writes
        // past `next` (a `read` whose data did not fit writes nothing).
        unsafe { core::slice::from_raw_parts_mut(p as *mut u8, len) }
    }

    pub fn read(mut f: impl FnMut(*mut u8, usize) -> Option<usize>) -> Option<&'static mut [u8]> {
        // At least this much free space is offered on the first try, so
        // one host call does the whole read in the common case.
        const MIN_FREE: usize = 4096;
        let s = state();
        init(s);
        ensure(s, MIN_FREE);
        let cap = s.end - s.next;
        let len = f(s.next as *mut u8, cap)?;
        if len > cap {
            ensure(s, len);
            let again = f(s.next as *mut u8, len)?;
            if again != len {
                crate::abort("host returned a different length on the second read");
            }
        }
        let p = s.next;
        s.next += len;
        Some(unsafe { core::slice::from_raw_parts_mut(p as *mut u8, len) })
    }

    pub fn used() -> usize {
        let s = state();
        init(s);
        s.next - unsafe { &__heap_base as *const u8 as usize }
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod imp {
    // Native builds (tests with the mock host): leak heap blocks.
    use std::cell::Cell;
    use std::vec;

    std::thread_local! { static USED: Cell<usize> = Cell::new(0); }

    pub fn alloc(len: usize) -> &'static mut [u8] {
        USED.with(|u| u.set(u.get() + len));
        vec![0u8; len].leak()
    }

    pub fn read(mut f: impl FnMut(*mut u8, usize) -> Option<usize>) -> Option<&'static mut [u8]> {
        let first = vec![0u8; 64].leak();
        let len = f(first.as_mut_ptr(), first.len())?;
        if len <= first.len() {
            USED.with(|u| u.set(u.get() + len));
            return Some(&mut first[..len]);
        }
        let buf = alloc(len);
        let again = f(buf.as_mut_ptr(), len)?;
        assert_eq!(again, len, "host returned a different length on the second read");
        Some(buf)
    }

    pub fn used() -> usize {
        USED.with(|u| u.get())
    }
}

/// Allocates `len` zeroed bytes (8-byte aligned) that live until the end of
/// the call. Aborts the call with `out of memory` if the memory cannot grow.
pub fn alloc(len: usize) -> &'static mut [u8] {
    imp::alloc(len)
}

/// Copies `data` into the arena.
pub fn copy(data: &[u8]) -> &'static mut [u8] {
    let out = alloc(data.len());
    out.copy_from_slice(data);
    out
}

/// Concatenates byte strings into one arena allocation.
pub fn concat(parts: &[&[u8]]) -> &'static mut [u8] {
    let total = parts.iter().map(|p| p.len()).sum();
    let out = alloc(total);
    let mut at = 0;
    for p in parts {
        out[at..at + p.len()].copy_from_slice(p);
        at += p.len();
    }
    out
}

/// Bytes handed out so far (for tests and gas tuning).
pub fn used() -> usize {
    imp::used()
}

/// Reads variable-length host data with the ABI's `(out_ptr, out_cap) ->
/// len` convention: `f` is called with all the arena's free space (one host
/// call in the common case), and once more with exactly `len` bytes if the
/// data did not fit. `f` returns `None` for "absent" (e.g. `storage_read`'s
/// `-1`), which is passed through.
pub(crate) fn read(f: impl FnMut(*mut u8, usize) -> Option<usize>) -> Option<&'static mut [u8]> {
    imp::read(f)
}
