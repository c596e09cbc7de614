//! A method's arguments: the call's input as a msgpack map with str keys.

use crate::msgpack::{self, Map, Value};
use crate::Address;

/// The arguments of the call. The input is read (from the io area, or with
/// one host call if it is longer than 3980 bytes) and checked the first
/// time an argument is asked for, so a method that takes none never reads
/// it.
///
/// The typed getters abort the call with a message naming the argument:
/// `missing argument "to"`, `argument "amount" must be an unsigned
/// integer (u64), got str`. The `opt_*` getters return `None` when the
/// argument is absent or `nil`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Args {
    _private: (),
}

impl Args {
    #[doc(hidden)]
    pub fn new() -> Args {
        Args { _private: () }
    }

    /// The arguments as a map: empty input and `nil` are the empty map.
    pub fn map(&self) -> Map<'static> {
        let input = crate::input();
        if input.is_empty() {
            return Map::EMPTY;
        }
        match msgpack::decode(input) {
            Ok(Value::Map(m)) => m,
            Ok(Value::Nil) => Map::EMPTY,
            Ok(v) => crate::abort!("arguments must be a msgpack map, got {}", v.kind()),
            Err(e) => crate::abort!("arguments: {}", e),
        }
    }

    /// The raw value of an argument (`None` if absent).
    pub fn get(&self, name: &str) -> Option<Value<'static>> {
        self.map().get(name)
    }

    fn required(&self, name: &str) -> Value<'static> {
        match self.get(name) {
            Some(v) => v,
            None => crate::abort!("missing argument \"{}\"", name),
        }
    }

    fn present(&self, name: &str) -> Option<Value<'static>> {
        match self.get(name) {
            None | Some(Value::Nil) => None,
            v => v,
        }
    }

    pub fn u64(&self, name: &str) -> u64 {
        let v = self.required(name);
        as_u64(name, v)
    }
    pub fn opt_u64(&self, name: &str) -> Option<u64> {
        self.present(name).map(|v| as_u64(name, v))
    }
    pub fn i64(&self, name: &str) -> i64 {
        let v = self.required(name);
        as_i64(name, v)
    }
    pub fn opt_i64(&self, name: &str) -> Option<i64> {
        self.present(name).map(|v| as_i64(name, v))
    }
    pub fn bool(&self, name: &str) -> bool {
        let v = self.required(name);
        as_bool(name, v)
    }
    pub fn opt_bool(&self, name: &str) -> Option<bool> {
        self.present(name).map(|v| as_bool(name, v))
    }
    pub fn str(&self, name: &str) -> &'static str {
        let v = self.required(name);
        as_str(name, v)
    }
    pub fn opt_str(&self, name: &str) -> Option<&'static str> {
        self.present(name).map(|v| as_str(name, v))
    }
    /// A msgpack `bin`.
    pub fn bytes(&self, name: &str) -> &'static [u8] {
        let v = self.required(name);
        as_bin(name, v)
    }
    pub fn opt_bytes(&self, name: &str) -> Option<&'static [u8]> {
        self.present(name).map(|v| as_bin(name, v))
    }
    /// A 20-byte address (a msgpack `bin` of length 20).
    pub fn address(&self, name: &str) -> Address {
        let v = self.required(name);
        as_address(name, v)
    }
    pub fn opt_address(&self, name: &str) -> Option<Address> {
        self.present(name).map(|v| as_address(name, v))
    }
    /// A `u128` (the WIT type `u128`, docs/abi.md): a uint below 2^64,
    /// else a `bin` of 16 bytes big-endian. A `bin` of another length, or
    /// one that holds a value below 2^64 (not canonical: that is sent as a
    /// uint), aborts naming the argument.
    pub fn u128(&self, name: &str) -> u128 {
        let v = self.required(name);
        as_u128(name, v)
    }
    pub fn opt_u128(&self, name: &str) -> Option<u128> {
        self.present(name).map(|v| as_u128(name, v))
    }
}

#[cold]
fn wrong_type(name: &str, want: &str, got: &Value<'_>) -> ! {
    match got {
        Value::Int(n) => crate::abort!("argument \"{}\" must be {}, got negative int {}", name, want, n),
        Value::Bin(b) => crate::abort!("argument \"{}\" must be {}, got bin of {} bytes", name, want, b.len()),
        _ => crate::abort!("argument \"{}\" must be {}, got {}", name, want, got.kind()),
    }
}

fn as_u64(name: &str, v: Value<'_>) -> u64 {
    match v {
        Value::Uint(n) => n,
        _ => wrong_type(name, "an unsigned integer (u64)", &v),
    }
}
fn as_i64(name: &str, v: Value<'_>) -> i64 {
    match v.as_i64() {
        Some(n) => n,
        None if matches!(v, Value::Uint(_)) => abort_range(name),
        None => wrong_type(name, "an integer (i64)", &v),
    }
}
#[cold]
fn abort_range(name: &str) -> ! {
    crate::abort!("argument \"{}\" is out of range for i64", name)
}
fn as_bool(name: &str, v: Value<'_>) -> bool {
    match v {
        Value::Bool(b) => b,
        _ => wrong_type(name, "a bool", &v),
    }
}
fn as_str(name: &str, v: Value<'static>) -> &'static str {
    match v {
        Value::Str(s) => s,
        _ => wrong_type(name, "a str", &v),
    }
}
fn as_bin(name: &str, v: Value<'static>) -> &'static [u8] {
    match v {
        Value::Bin(b) => b,
        _ => wrong_type(name, "bytes (bin)", &v),
    }
}
fn as_address(name: &str, v: Value<'_>) -> Address {
    if let Value::Bin(b) = v {
        if let Ok(a) = <[u8; 20]>::try_from(b) {
            return a;
        }
    }
    wrong_type(name, "an address (bin of 20 bytes)", &v)
}
fn as_u128(name: &str, v: Value<'_>) -> u128 {
    match v.as_u128() {
        Some(n) => n,
        None if matches!(v, Value::Bin(b) if b.len() == 16) => crate::abort!(
            "argument \"{}\" is a u128 below 2^64 sent as a bin of 16 bytes: send it as an unsigned integer",
            name
        ),
        None => wrong_type(name, "an unsigned integer (u128: uint, or bin of 16 bytes big-endian)", &v),
    }
}
