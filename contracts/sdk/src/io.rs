//! ABI 2's two ways around host calls (docs/abi.md): the **io area** the
//! host fills before a method runs, and the **pending effects** the SDK
//! applies with one `apply_effects` at the end of it.
//!
//! - The io area is a 4096-byte static exported as the global
//!   `wasmchain_io` ([`IO_SIZE`]). Before each method of a fresh instance,
//!   the host writes the 112-byte environment record at 0, the input's
//!   length (u32 LE) at 112 and the input itself at 116 if it is at most
//!   [`IO_INPUT_MAX`] (3980) bytes. [`crate::input`], [`crate::env`],
//!   [`crate::caller`] and [`crate::self_address`] read it without a host
//!   call (a longer input is read with `input_read`; the balance after a
//!   `transfer` or `call` of this method with `env_read`).
//! - The pending-effects buffer ([`PENDING_SIZE`] bytes) collects storage
//!   writes ([`crate::storage::set`]), events ([`crate::emit`]) and the
//!   return data ([`crate::return_raw`]) as `apply_effects` records, in
//!   program order. [`flush`] hands them to the host in one call: the
//!   [`crate::entry!`] macro does at the end of each method, and the SDK
//!   does before every host call whose meaning depends on what came before
//!   (`storage_remove`, `call`, `transfer`, `debug_log`) and when a record
//!   would not fit. An abort never flushes: it reverts the call anyway.
//!   Reads see pending writes: [`crate::storage::get`] and
//!   [`crate::storage::has`] look in the buffer (newest write first)
//!   before asking the host.
//!
//! Natively (`cargo test`), [`crate::mock::invoke`] fills an io area of
//! its own for each call and flushes after the method returns; SDK
//! functions called outside `mock::invoke` use the host calls directly.

use crate::{sys, Bytes};

/// The size of the io area (the exported `wasmchain_io`).
pub const IO_SIZE: usize = 4096;
/// Where the input's length (u32 LE) is in the io area.
pub const IO_INPUT_LEN: usize = 112;
/// Where the input is in the io area (if it fits).
pub const IO_INPUT: usize = 116;
/// The longest input the host writes into the io area: `4096 - 116`.
pub const IO_INPUT_MAX: usize = IO_SIZE - IO_INPUT;

/// The size of the pending-effects buffer: a record bigger than this is
/// applied with its own host call (`storage_write`, `event_emit`,
/// `return_set`), after the records before it.
pub const PENDING_SIZE: usize = 4096;

pub(crate) const TAG_WRITE: u8 = 1;
pub(crate) const TAG_EVENT: u8 = 2;
pub(crate) const TAG_RETURN: u8 = 3;

/// The io area. The linker exports a `#[no_mangle]` static as a wasm
/// global holding its address, which is what the host looks for.
#[cfg(target_arch = "wasm32")]
#[no_mangle]
#[used]
#[allow(non_upper_case_globals)]
pub static mut wasmchain_io: [u8; IO_SIZE] = [0; IO_SIZE];

pub(crate) struct State {
    /// Natively, the io area of the current `mock::invoke` (null outside
    /// one: no io area, no buffering). Unused on wasm32.
    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) io: *const u8,
    /// The input, once read.
    pub(crate) input: Option<Bytes>,
    /// A `transfer` or `call` ran in this method: the io area's balance is
    /// stale.
    pub(crate) env_stale: bool,
    len: usize,
    buf: [u8; PENDING_SIZE],
}

impl State {
    #[allow(dead_code)]
    pub(crate) const fn new() -> State {
        State {
            #[cfg(not(target_arch = "wasm32"))]
            io: core::ptr::null(),
            input: None,
            env_stale: false,
            len: 0,
            buf: [0; PENDING_SIZE],
        }
    }
}

#[cfg(target_arch = "wasm32")]
static mut STATE: State = State::new();

/// Runs `f` on the call's state. `f` must not call back into `with`.
#[cfg(target_arch = "wasm32")]
#[inline(always)]
pub(crate) fn with<R>(f: impl FnOnce(&mut State) -> R) -> R {
    // A contract instance is single-threaded and lives for one method.
    f(unsafe { &mut *core::ptr::addr_of_mut!(STATE) })
}

#[cfg(not(target_arch = "wasm32"))]
std::thread_local! {
    static CURRENT: core::cell::Cell<*mut State> = core::cell::Cell::new(core::ptr::null_mut());
}

#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn with<R>(f: impl FnOnce(&mut State) -> R) -> R {
    let p = CURRENT.with(|c| {
        if c.get().is_null() {
            c.set(std::boxed::Box::leak(std::boxed::Box::new(State::new())));
        }
        c.get()
    });
    f(unsafe { &mut *p })
}

/// Natively: makes a fresh state with the io area `io` current (for
/// `mock::invoke`), returning the one it replaces, for [`leave`].
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn enter(io: Option<&'static [u8; IO_SIZE]>) -> *mut State {
    let mut s = std::boxed::Box::new(State::new());
    s.io = io.map_or(core::ptr::null(), |a| a.as_ptr());
    // Leaked: the input is handed out as a slice of the io area, which
    // may outlive the call in a test.
    let s = std::boxed::Box::leak(s);
    CURRENT.with(|c| c.replace(s))
}

/// Natively: makes `prev` (from [`enter`]) current again.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn leave(prev: *mut State) {
    CURRENT.with(|c| c.set(prev));
}

/// The io area, if the host filled one (always on wasm32).
#[inline(always)]
pub(crate) fn area() -> Option<&'static [u8; IO_SIZE]> {
    #[cfg(target_arch = "wasm32")]
    return Some(unsafe { &*core::ptr::addr_of!(wasmchain_io) });
    #[cfg(not(target_arch = "wasm32"))]
    return with(|s| if s.io.is_null() { None } else { Some(unsafe { &*(s.io as *const [u8; IO_SIZE]) }) });
}

#[inline(always)]
fn buffering(_s: &State) -> bool {
    #[cfg(target_arch = "wasm32")]
    return true;
    #[cfg(not(target_arch = "wasm32"))]
    return !_s.io.is_null();
}

fn u32_at(b: &[u8], at: usize) -> usize {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]) as usize
}

fn flush_state(s: &mut State) {
    if s.len > 0 {
        unsafe { sys::apply_effects(s.buf.as_ptr(), s.len) };
        s.len = 0;
    }
}

/// Applies the pending storage writes, events and return data now, in
/// one host call (`apply_effects`; none if nothing is pending). Methods
/// declared with [`crate::entry!`] flush when they return; an export
/// written by hand must call this before it returns, or its writes,
/// events and return data are lost.
pub fn flush() {
    with(flush_state)
}

/// Appends a record (`tag`, then `a`'s length, `b`'s length if any, `a`,
/// `b`), flushing first if it would not fit. `false`: not appended (it is
/// bigger than the whole buffer, or natively there is no method running);
/// the caller then uses the record's own host function, everything before
/// it having been flushed.
pub(crate) fn push(tag: u8, a: &[u8], b: Option<&[u8]>) -> bool {
    with(|s| {
        if !buffering(s) {
            return false;
        }
        let head = if b.is_some() { 9 } else { 5 };
        let size = (head + a.len()).saturating_add(b.map_or(0, |b| b.len()));
        if size > PENDING_SIZE - s.len {
            flush_state(s);
            if size > PENDING_SIZE {
                return false;
            }
        }
        let out = &mut s.buf[s.len..s.len + size];
        out[0] = tag;
        out[1..5].copy_from_slice(&(a.len() as u32).to_le_bytes());
        let mut at = 5;
        if let Some(b) = b {
            out[5..9].copy_from_slice(&(b.len() as u32).to_le_bytes());
            at = 9;
        }
        out[at..at + a.len()].copy_from_slice(a);
        if let Some(b) = b {
            out[at + a.len()..].copy_from_slice(b);
        }
        s.len += size;
        true
    })
}

/// Where the value of the newest pending write of `key` is in the buffer.
fn find(s: &State, key: &[u8]) -> Option<core::ops::Range<usize>> {
    let b = &s.buf[..s.len];
    let mut found = None;
    let mut at = 0;
    // Records are variable-length, so the scan goes forwards and keeps the
    // last match: the newest write.
    while at < b.len() {
        let n = u32_at(b, at + 1);
        if b[at] == TAG_RETURN {
            at += 5 + n;
            continue;
        }
        let m = u32_at(b, at + 5);
        if b[at] == TAG_WRITE && n == key.len() && &b[at + 9..at + 9 + n] == key {
            found = Some(at + 9 + n..at + 9 + n + m);
        }
        at += 9 + n + m;
    }
    found
}

/// The value of the newest pending write of `key`, copied into the arena
/// (the buffer is reused after a flush); `None` if none is pending.
pub(crate) fn pending_value(key: &[u8]) -> Option<Bytes> {
    with(|s| find(s, key).map(|r| &*crate::arena::copy(&s.buf[r])))
}

/// Whether a write of `key` is pending.
pub(crate) fn pending_has(key: &[u8]) -> bool {
    with(|s| find(s, key).is_some())
}

/// Pending bytes (for tests).
#[cfg(test)]
pub(crate) fn pending_len() -> usize {
    with(|s| s.len)
}
