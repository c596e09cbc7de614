//! The raw host ABI 2 (docs/abi.md): every function imported from the
//! wasm module `wasmchain_v2`, with the exact wasm types of `vm/abi.py`:
//! ABI 1.2's functions, same signatures and meanings, and `apply_effects`.
//! A module importing from `wasmchain_v2` is an ABI 2 module (one that
//! imported from both `wasmchain` and `wasmchain_v2` would be refused).
//!
//! A module imports only the functions it calls.
//!
//! On wasm32, pointers and `usize` are `i32`, `u32` is `i32` and `u64` is
//! `i64`. On any other target (native `cargo test`) the same functions are
//! provided by the in-process mock host in [`crate::mock`], so the safe
//! wrappers above this module are exercised unchanged by native tests.
//!
//! Prefer the safe wrappers in the crate root; these are `unsafe` because
//! the host reads and writes the memory behind the pointers.

#[cfg(target_arch = "wasm32")]
#[link(wasm_import_module = "wasmchain_v2")]
extern "C" {
    /// `(out_ptr, out_cap) -> len`; copies the input if `len <= out_cap`.
    pub fn input_read(out_ptr: *mut u8, out_cap: usize) -> u32;
    /// Sets the call's return data.
    pub fn return_set(ptr: *const u8, len: usize);
    /// Ends the call with status `abort` and the message. Never returns.
    pub fn abort(msg_ptr: *const u8, msg_len: usize) -> !;
    /// `-1` if absent, else the value's length; copies it if it fits.
    pub fn storage_read(key_ptr: *const u8, key_len: usize, out_ptr: *mut u8, out_cap: usize) -> i64;
    pub fn storage_write(key_ptr: *const u8, key_len: usize, val_ptr: *const u8, val_len: usize);
    /// `1` if the key was present, else `0`.
    pub fn storage_remove(key_ptr: *const u8, key_len: usize) -> u32;
    /// `1` if the key is present, else `0`.
    pub fn storage_has(key_ptr: *const u8, key_len: usize) -> u32;
    pub fn event_emit(name_ptr: *const u8, name_len: usize, data_ptr: *const u8, data_len: usize);
    /// Writes the 112-byte environment record.
    pub fn env_read(out_ptr: *mut u8);
    /// Writes the 32-byte SHA-256 of the range to `out_ptr`.
    pub fn sha256(ptr: *const u8, len: usize, out_ptr: *mut u8);
    /// `1` if the 64-byte signature is valid for the 32-byte key, else `0`.
    pub fn ed25519_verify(sig_ptr: *const u8, pk_ptr: *const u8, msg_ptr: *const u8, msg_len: usize) -> u32;
    /// Returns a status code (0 = ok, see [`crate::call_status`]).
    pub fn call(
        addr_ptr: *const u8,
        method_ptr: *const u8,
        method_len: usize,
        args_ptr: *const u8,
        args_len: usize,
        value_ptr: *const u8,
        gas: u64,
    ) -> u32;
    /// Length of the last call's result; copies it if it fits.
    pub fn call_result_read(out_ptr: *mut u8, out_cap: usize) -> u32;
    /// `0` on success, `1` if this contract's balance is too low.
    pub fn transfer(to_ptr: *const u8, amount_ptr: *const u8) -> u32;
    /// A message for the developer (traces, simulations, the
    /// runner, the devnet's console); never in a receipt. Charged like an
    /// event of `msg_len` bytes.
    pub fn debug_log(msg_ptr: *const u8, msg_len: usize);
    /// ABI 2: applies the records of `[ptr, ptr + len)` in order, each a
    /// tag byte and little-endian u32 lengths: `1` a storage write (`key_len,
    /// val_len, key, value`), `2` an event (`name_len, data_len, name,
    /// data`), `3` the return data (`len, data`). A malformed buffer traps.
    pub fn apply_effects(ptr: *const u8, len: usize);
}

#[cfg(not(target_arch = "wasm32"))]
pub use crate::mock::sys::*;
