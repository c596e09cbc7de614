//! The wasmchain contract SDK: safe wrappers over the host ABI 2
//! (`docs/abi.md`: the functions of ABI 1.2, imported from the wasm module
//! `wasmchain_v2`, plus `apply_effects` and the io area), a msgpack codec
//! for arguments and results, a bump arena, and a panic handler that
//! reports the panic message.
//!
//! `no_std`, no `alloc`, no external crates. A method is declared with
//! [`entry!`]:
//!
//! ```ignore
//! #![cfg_attr(target_arch = "wasm32", no_std)]
//! use wasmchain_sdk::{entry, storage};
//!
//! entry! {
//!     /// `increment {}` -> the new count
//!     fn increment(_args) -> u64 {
//!         let n = storage::get_u64(b"count").unwrap_or(0) + 1;
//!         storage::set_u64(b"count", n);
//!         n
//!     }
//! }
//! ```
//!
//! Arguments are a msgpack map ([`Args`]); a method's result is encoded as
//! msgpack ([`msgpack::Encode`]); a method returning `()` leaves the return
//! data empty. On native targets (`cargo test`) the host functions are
//! provided by an in-process mock ([`mock`]).
//!
//! Fewer host calls (ABI 2, [`io`]): the input and the environment are read
//! from the io area the host fills before the method runs, and storage
//! writes, events and the return data are collected and applied with one
//! `apply_effects` when the method returns (or earlier, before a call, a
//! transfer, a removal or a debug log, so the order is the program's).
//! Reads see the writes still pending. A token transfer makes 4 host calls
//! (ABI 1: 8).

#![cfg_attr(target_arch = "wasm32", no_std)]

pub mod arena;
pub mod io;
pub mod msgpack;
pub mod sys;

#[cfg(not(target_arch = "wasm32"))]
pub mod mock;

mod args;
mod fmtbuf;
#[cfg(test)]
mod tests;

pub use arena::Bytes;
pub use args::Args;
pub use fmtbuf::FmtBuf;
pub use io::flush;
pub use msgpack::{Encode, Value};

use core::fmt;

/// An account or contract address: 20 bytes. In arguments and results it
/// is a msgpack `bin` of length 20.
pub type Address = [u8; 20];

/// The zero address (`0x000...0`), e.g. the `from` of a mint.
pub const ZERO_ADDRESS: Address = [0; 20];

/// The most bytes of an abort message the host keeps.
pub const MAX_ABORT_MESSAGE: usize = 1024;

// ---------------------------------------------------------------- abort

/// Ends the call with status `abort` and `msg` as its error. The call's
/// state changes are reverted (pending ones are simply dropped). Never
/// returns.
pub fn abort(msg: &str) -> ! {
    unsafe { sys::abort(msg.as_ptr(), msg.len()) }
}

/// Formats the arguments into a fixed buffer (at most
/// [`MAX_ABORT_MESSAGE`] bytes, truncated on a char boundary with `...`)
/// and aborts with it.
pub fn abort_fmt(args: fmt::Arguments<'_>) -> ! {
    let mut buf = FmtBuf::<MAX_ABORT_MESSAGE>::new();
    let _ = fmt::write(&mut buf, args);
    abort(buf.as_str())
}

/// `abort!("insufficient balance: have {}, need {}", have, need)`
#[macro_export]
macro_rules! abort {
    ($($arg:tt)*) => { $crate::abort_fmt(core::format_args!($($arg)*)) };
}

/// `require!(cond, "message {}", x)`: aborts with the message unless `cond`.
#[macro_export]
macro_rules! require {
    ($cond:expr, $($arg:tt)*) => {
        if !$cond { $crate::abort!($($arg)*) }
    };
}

#[cfg(all(target_arch = "wasm32", feature = "panic-handler"))]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    // e.g. "panicked at 'index out of bounds: ...', token/src/lib.rs:10:5"
    abort_fmt(format_args!("{}", info))
}

/// Displays bytes as `0x` + lowercase hex, e.g. an address in a message:
/// `abort!("{} is not the owner", Hex(&caller))`.
#[derive(Clone, Copy, Debug)]
pub struct Hex<'a>(pub &'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        f.write_str("0x")?;
        for &b in self.0 {
            let pair = [DIGITS[(b >> 4) as usize], DIGITS[(b & 15) as usize]];
            f.write_str(unsafe { core::str::from_utf8_unchecked(&pair) })?;
        }
        Ok(())
    }
}

// ------------------------------------------------------- input / return

/// The call's input (the raw bytes): from the io area, without a host
/// call, when it is at most [`io::IO_INPUT_MAX`] (3980) bytes; a longer
/// one is read once with `input_read` and kept for the rest of the call.
pub fn input() -> Bytes {
    if let Some(b) = io::with(|s| s.input) {
        return b;
    }
    let b: Bytes = match io::area() {
        Some(a) => {
            let len = u32::from_le_bytes([a[112], a[113], a[114], a[115]]) as usize;
            if len <= io::IO_INPUT_MAX {
                &a[io::IO_INPUT..io::IO_INPUT + len]
            } else {
                read_input()
            }
        }
        None => read_input(),
    };
    io::with(|s| s.input = Some(b));
    b
}

fn read_input() -> Bytes {
    arena::read(|p, cap| Some(unsafe { sys::input_read(p, cap) } as usize)).map_or(&[], |b| b)
}

/// The call's arguments: the input decoded as a msgpack map (empty input
/// or `nil` count as an empty map). Aborts on anything else.
pub fn args() -> Args {
    Args::new()
}

/// Sets the call's return data to raw bytes (a later call replaces it).
/// Pending until the method returns, like storage writes.
pub fn return_raw(data: &[u8]) {
    if !io::push(io::TAG_RETURN, data, None) {
        unsafe { sys::return_set(data.as_ptr(), data.len()) }
    }
}

/// Sets the call's return data to the msgpack encoding of `value`.
pub fn return_value<T: Encode + ?Sized>(value: &T) {
    let size = value.max_size();
    if size <= 64 {
        let mut buf = [0u8; 64];
        let mut e = msgpack::Encoder::new(&mut buf);
        value.encode(&mut e);
        return_raw(e.as_bytes());
    } else {
        return_raw(msgpack::encode(value));
    }
}

/// What a method declared with [`entry!`] may return: `()` (no return
/// data) or any [`Encode`] value (its msgpack encoding).
pub trait IntoReturn {
    fn set_return(self);
}
impl IntoReturn for () {
    #[inline(always)]
    fn set_return(self) {}
}
impl<T: Encode> IntoReturn for T {
    fn set_return(self) {
        return_value(&self)
    }
}

/// The end of a method declared with [`entry!`]: its result becomes the
/// return data, and everything pending is applied (one `apply_effects`).
#[doc(hidden)]
#[inline(always)]
pub fn __finish<R: IntoReturn>(r: R) {
    r.set_return();
    io::flush();
}

/// Declares contract methods: each becomes an exported `() -> ()` function
/// of the same name that gets its arguments as an [`Args`] and sets the
/// msgpack encoding of its result as the return data. When the method
/// returns, its pending storage writes, events and return data are applied
/// with one host call ([`flush`]).
///
/// ```ignore
/// entry! {
///     fn balance_of(args) -> u64 { balance(&args.address("owner")) }
///     fn transfer(args) { /* returns nothing */ }
/// }
/// ```
#[macro_export]
macro_rules! entry {
    ($( $(#[$meta:meta])* fn $name:ident($args:pat) $(-> $ret:ty)? $body:block )*) => { $(
        $(#[$meta])*
        #[cfg(target_arch = "wasm32")]
        #[no_mangle]
        pub extern "C" fn $name() {
            #[inline(always)]
            fn method($args: $crate::Args) $(-> $ret)? $body
            $crate::__finish(method($crate::Args::new()));
        }

        // Natively (tests with the mock host), a plain Rust fn, so that a
        // mock abort can unwind out of it.
        $(#[$meta])*
        #[cfg(not(target_arch = "wasm32"))]
        pub fn $name() {
            fn method($args: $crate::Args) $(-> $ret)? $body
            $crate::__finish(method($crate::Args::new()));
        }
    )* };
}

// ------------------------------------------------------------- storage

/// The contract's own storage (key/value byte strings).
pub mod storage {
    use crate::{arena, io, sys, Address, Bytes};

    /// The value at `key`, or `None`: the value of this method's newest
    /// pending write of `key` (no host call), else the host's (one host
    /// call in the common case).
    pub fn get(key: &[u8]) -> Option<Bytes> {
        if let Some(v) = io::pending_value(key) {
            return Some(v);
        }
        let v = arena::read(|p, cap| {
            let n = unsafe { sys::storage_read(key.as_ptr(), key.len(), p, cap) };
            if n < 0 {
                None
            } else {
                Some(n as usize)
            }
        })?;
        Some(v)
    }
    /// Sets `key` to `value`: pending until the method returns (or the
    /// next flush, see [`crate::io`]); [`get`] and [`has`] see it at once.
    pub fn set(key: &[u8], value: &[u8]) {
        if !io::push(io::TAG_WRITE, key, Some(value)) {
            unsafe { sys::storage_write(key.as_ptr(), key.len(), value.as_ptr(), value.len()) }
        }
    }
    /// Removes the key; `true` if it was present (a pending write counts:
    /// the pending effects are applied first).
    pub fn remove(key: &[u8]) -> bool {
        io::flush();
        unsafe { sys::storage_remove(key.as_ptr(), key.len()) != 0 }
    }
    /// `true` if the key has a value (a pending write counts).
    pub fn has(key: &[u8]) -> bool {
        if io::pending_has(key) {
            return true;
        }
        unsafe { sys::storage_has(key.as_ptr(), key.len()) != 0 }
    }

    fn fixed<const N: usize>(key: &[u8], what: &str) -> Option<[u8; N]> {
        let v = get(key)?;
        match <[u8; N]>::try_from(v) {
            Ok(a) => Some(a),
            Err(_) => crate::abort!("storage value at {} is not a {} ({} bytes)", crate::Hex(key), what, v.len()),
        }
    }

    /// A `u64` stored as 8 bytes little-endian.
    pub fn get_u64(key: &[u8]) -> Option<u64> {
        fixed::<8>(key, "u64").map(u64::from_le_bytes)
    }
    pub fn set_u64(key: &[u8], value: u64) {
        set(key, &value.to_le_bytes())
    }
    /// A `u128` stored as 16 bytes little-endian.
    pub fn get_u128(key: &[u8]) -> Option<u128> {
        fixed::<16>(key, "u128").map(u128::from_le_bytes)
    }
    pub fn set_u128(key: &[u8], value: u128) {
        set(key, &value.to_le_bytes())
    }
    /// An address stored as its 20 bytes.
    pub fn get_address(key: &[u8]) -> Option<Address> {
        fixed::<20>(key, "address")
    }
    pub fn set_address(key: &[u8], value: &Address) {
        set(key, value)
    }

    /// The most bytes a [`Key`] holds.
    pub const KEY_CAPACITY: usize = 128;

    /// Builds a storage key from a prefix and typed parts, without
    /// allocating: `Key::new(b"bal:").bytes(&owner)` or
    /// `Key::new(b"item:").u64(id)` (big-endian, so keys sort by number).
    /// Dereferences to `&[u8]`. Aborts past [`KEY_CAPACITY`] bytes.
    #[derive(Clone, Copy)]
    pub struct Key {
        buf: [u8; KEY_CAPACITY],
        len: usize,
    }

    impl Key {
        pub fn new(prefix: &[u8]) -> Self {
            Key { buf: [0; KEY_CAPACITY], len: 0 }.bytes(prefix)
        }
        pub fn bytes(mut self, part: &[u8]) -> Self {
            let end = self.len + part.len();
            if end > KEY_CAPACITY {
                crate::abort("storage key longer than 128 bytes");
            }
            self.buf[self.len..end].copy_from_slice(part);
            self.len = end;
            self
        }
        pub fn u64(self, n: u64) -> Self {
            self.bytes(&n.to_be_bytes())
        }
        pub fn as_bytes(&self) -> &[u8] {
            &self.buf[..self.len]
        }
    }
    impl core::ops::Deref for Key {
        type Target = [u8];
        fn deref(&self) -> &[u8] {
            self.as_bytes()
        }
    }
    impl core::fmt::Debug for Key {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            write!(f, "Key({})", crate::Hex(self.as_bytes()))
        }
    }
}

// -------------------------------------------------------------- events

/// Emits an event `(this contract, name, data)`; by convention `data` is
/// msgpack (see [`msgpack::encode_map`]). Discarded if the call fails.
/// Pending until the method returns, in order with storage writes.
pub fn emit(name: &str, data: &[u8]) {
    if !io::push(io::TAG_EVENT, name.as_bytes(), Some(data)) {
        unsafe { sys::event_emit(name.as_ptr(), name.len(), data.as_ptr(), data.len()) }
    }
}

// --------------------------------------------------------- environment

/// The size of the environment record.
pub const ENV_SIZE: usize = 112;

/// The environment record of the call (the io area's, or `env_read`'s).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Env {
    /// The account or contract that called this method.
    pub caller: Address,
    /// This contract's address.
    pub self_address: Address,
    /// The account that signed the transaction.
    pub origin: Address,
    pub height: u64,
    /// Seconds since the Unix epoch.
    pub timestamp: u64,
    /// Native tokens attached to this call.
    pub value: u128,
    /// This contract's balance (the attached value included).
    pub balance: u128,
}

impl Env {
    /// Parses the 112-byte record.
    pub fn parse(r: &[u8; ENV_SIZE]) -> Env {
        fn addr(r: &[u8], at: usize) -> Address {
            let mut a = [0u8; 20];
            a.copy_from_slice(&r[at..at + 20]);
            a
        }
        fn u64_at(r: &[u8], at: usize) -> u64 {
            let mut b = [0u8; 8];
            b.copy_from_slice(&r[at..at + 8]);
            u64::from_le_bytes(b)
        }
        fn u128_at(r: &[u8], at: usize) -> u128 {
            let mut b = [0u8; 16];
            b.copy_from_slice(&r[at..at + 16]);
            u128::from_le_bytes(b)
        }
        Env {
            caller: addr(r, 0),
            self_address: addr(r, 20),
            origin: addr(r, 40),
            height: u64_at(r, 64),
            timestamp: u64_at(r, 72),
            value: u128_at(r, 80),
            balance: u128_at(r, 96),
        }
    }
    /// The 112-byte record (the inverse of [`Env::parse`]).
    pub fn to_bytes(&self) -> [u8; ENV_SIZE] {
        let mut r = [0u8; ENV_SIZE];
        r[0..20].copy_from_slice(&self.caller);
        r[20..40].copy_from_slice(&self.self_address);
        r[40..60].copy_from_slice(&self.origin);
        r[64..72].copy_from_slice(&self.height.to_le_bytes());
        r[72..80].copy_from_slice(&self.timestamp.to_le_bytes());
        r[80..96].copy_from_slice(&self.value.to_le_bytes());
        r[96..112].copy_from_slice(&self.balance.to_le_bytes());
        r
    }
}

/// The environment: from the io area (no host call), or with `env_read`
/// (one host call) once this method has made a `transfer` or a `call`,
/// which change `balance`.
pub fn env() -> Env {
    if !io::with(|s| s.env_stale) {
        if let Some(a) = io::area() {
            return Env::parse(env_record(a));
        }
    }
    let mut r = [0u8; ENV_SIZE];
    unsafe { sys::env_read(r.as_mut_ptr()) };
    Env::parse(&r)
}

fn env_record(a: &[u8; io::IO_SIZE]) -> &[u8; ENV_SIZE] {
    // The record is the area's first 112 bytes.
    unsafe { &*(a.as_ptr() as *const [u8; ENV_SIZE]) }
}

/// An address of the environment that never changes in a call: from the
/// io area (no host call, even after a `transfer` or `call`).
fn env_address(at: usize) -> Address {
    match io::area() {
        Some(a) => {
            let mut r = [0u8; 20];
            r.copy_from_slice(&env_record(a)[at..at + 20]);
            r
        }
        None => {
            let e = env();
            if at == 0 {
                e.caller
            } else {
                e.self_address
            }
        }
    }
}

/// Shorthand for `env().caller` (no host call).
pub fn caller() -> Address {
    env_address(0)
}

/// Shorthand for `env().self_address` (no host call).
pub fn self_address() -> Address {
    env_address(20)
}

// -------------------------------------------------------------- crypto

pub fn sha256(data: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    unsafe { sys::sha256(data.as_ptr(), data.len(), out.as_mut_ptr()) };
    out
}

/// `true` if `sig` is a valid Ed25519 signature of `msg` by `public_key`.
pub fn ed25519_verify(sig: &[u8; 64], public_key: &[u8; 32], msg: &[u8]) -> bool {
    unsafe { sys::ed25519_verify(sig.as_ptr(), public_key.as_ptr(), msg.as_ptr(), msg.len()) == 1 }
}

// ------------------------------------------------- cross-contract calls

/// The status codes of [`call`] (docs/abi.md).
pub mod call_status {
    pub const OK: u32 = 0;
    pub const ABORTED: u32 = 1;
    pub const OUT_OF_GAS: u32 = 2;
    pub const TRAPPED: u32 = 3;
    pub const NOT_FOUND: u32 = 4;
    pub const REENTRANCY: u32 = 5;
    pub const TOO_DEEP: u32 = 6;
    pub const INSUFFICIENT_BALANCE: u32 = 7;

    /// A short name for a status code.
    pub fn name(code: u32) -> &'static str {
        match code {
            OK => "ok",
            ABORTED => "aborted",
            OUT_OF_GAS => "out of gas",
            TRAPPED => "trapped",
            NOT_FOUND => "no such contract or method",
            REENTRANCY => "re-entry refused",
            TOO_DEEP => "call stack too deep",
            INSUFFICIENT_BALANCE => "balance lower than the attached value",
            _ => "unknown status",
        }
    }
}

/// A failed cross-contract call: the status code (1..=7, see
/// [`call_status`]) and the callee's error message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallError {
    pub code: u32,
    pub message: Bytes,
}

impl CallError {
    /// The message as text (up to its first invalid UTF-8 byte; the host
    /// already replaces invalid bytes in abort messages).
    pub fn message_str(&self) -> &'static str {
        match core::str::from_utf8(self.message) {
            Ok(s) => s,
            Err(e) => unsafe { core::str::from_utf8_unchecked(&self.message[..e.valid_up_to()]) },
        }
    }
}

/// An abort shows the callee's own message; other failures are prefixed
/// with the status: `out of gas: ...`.
impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let msg = self.message_str();
        if self.code == call_status::ABORTED {
            f.write_str(msg)
        } else if msg.is_empty() {
            f.write_str(call_status::name(self.code))
        } else {
            write!(f, "{}: {}", call_status::name(self.code), msg)
        }
    }
}

/// Calls `method` of the contract at `addr` with `args` as its input
/// (msgpack by convention, e.g. from [`msgpack::encode_map`]), attaching
/// `value` native tokens from this contract's balance, with a gas budget
/// of `gas` (`0` = all the gas left). Returns the callee's return data, or
/// its status and error message. A failed callee's changes are already
/// rolled back; this call carries on unless it chooses to abort.
///
/// The pending effects are applied first, so the callee's events come
/// after this method's earlier ones; afterwards [`env`] asks the host for
/// the balance.
pub fn call(addr: &Address, method: &str, args: &[u8], value: u128, gas: u64) -> Result<Bytes, CallError> {
    let v = value.to_le_bytes();
    io::flush();
    io::with(|s| s.env_stale = true);
    let code = unsafe {
        sys::call(addr.as_ptr(), method.as_ptr(), method.len(), args.as_ptr(), args.len(), v.as_ptr(), gas)
    };
    let result: Bytes = arena::read(|p, cap| Some(unsafe { sys::call_result_read(p, cap) } as usize)).map_or(&[], |b| b);
    if code == call_status::OK {
        Ok(result)
    } else {
        Err(CallError { code, message: result })
    }
}

/// The native balance was lower than the amount of a [`transfer`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InsufficientBalance;

impl fmt::Display for InsufficientBalance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("insufficient native balance")
    }
}

/// Moves `amount` native tokens from this contract's balance to `to`;
/// nothing moves if the balance is too low. The pending effects are
/// applied first; afterwards [`env`] asks the host for the balance.
pub fn transfer(to: &Address, amount: u128) -> Result<(), InsufficientBalance> {
    let a = amount.to_le_bytes();
    io::flush();
    io::with(|s| s.env_stale = true);
    match unsafe { sys::transfer(to.as_ptr(), a.as_ptr()) } {
        0 => Ok(()),
        _ => Err(InsufficientBalance),
    }
}

// ---------------------------------------------------------- debug logs
// (Last in the file: a panic location in a built .wasm holds the line
// numbers of the code above, so new code goes below it.)

/// The most bytes of a [`debug_log!`] message (longer ones are cut on a
/// char boundary and end with `...`). The host accepts up to the chain's
/// `max_event_data_size` (16 KiB on the devnet); this is the SDK's stack
/// buffer.
pub const MAX_DEBUG_LOG: usize = 1024;

/// Writes `msg` to the debug log (`debug_log`): shown in traces,
/// simulations, the standalone runner and the devnet's console, never in
/// a receipt or a root, and kept when the call fails. Charged like an
/// event of `msg.len()` bytes. The pending effects are applied first, so
/// a trace shows the line after the writes and events before it.
pub fn debug_log(msg: &str) {
    io::flush();
    unsafe { sys::debug_log(msg.as_ptr(), msg.len()) }
}

/// Formats the arguments into a fixed stack buffer (at most
/// [`MAX_DEBUG_LOG`] bytes, truncated on a char boundary with `...`) and
/// logs it with one host call.
pub fn debug_log_fmt(args: fmt::Arguments<'_>) {
    let mut buf = FmtBuf::<MAX_DEBUG_LOG>::new();
    let _ = fmt::write(&mut buf, args);
    debug_log(buf.as_str())
}

/// `debug_log!("balance of {} is {}", Hex(&owner), balance)`: formats like
/// `format!` and writes one line to the debug log (see [`debug_log`]).
#[macro_export]
macro_rules! debug_log {
    ($($arg:tt)*) => { $crate::debug_log_fmt(core::format_args!($($arg)*)) };
}

// ----------------------------------------------------------- interface

/// The custom section that carries a contract's interface: the UTF-8 text
/// of a WIT package (docs/abi.md, "Interfaces"). At most one per module.
pub const INTERFACE_SECTION: &str = "wasmchain:wit";

/// Embeds a WIT file as the contract's interface:
/// `wasmchain_sdk::interface!("../token.wit");` at the top level of the
/// contract's `lib.rs` (the path is relative to that source file, as with
/// `include_bytes!`, so `../token.wit` is the file beside `Cargo.toml`).
///
/// The file's bytes go, unchanged, into a custom section named
/// `wasmchain:wit` ([`INTERFACE_SECTION`]) of the built module, so the
/// interface is part of the deployed bytes and of the code hash; a chain
/// whose genesis names ABI 1.2 or later parses it at deploy and refuses the module
/// if the WIT is malformed or names a method the module does not export.
/// Editing the file rebuilds the contract (`include_bytes!` tracks it).
/// Only on wasm32: native tests build without it. Use it once per module.
#[macro_export]
macro_rules! interface {
    ($path:literal) => {
        #[cfg(target_arch = "wasm32")]
        #[link_section = "wasmchain:wit"]
        #[used]
        static __WASMCHAIN_WIT: [u8; include_bytes!($path).len()] = *include_bytes!($path);
    };
}
