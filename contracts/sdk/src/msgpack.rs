//! A small msgpack codec, without allocation and without floats.
//!
//! Supported: nil, bool, integers (every msgpack int width on decode,
//! unsigned up to `u64` and signed down to `i64::MIN`), str, bin, array and
//! map. Floats, ext and timestamps are refused on decode
//! ([`Error::Unsupported`]) and cannot be encoded.
//!
//! Encoding always picks the shortest form, as Python's `msgpack` package
//! does (`use_bin_type=True`): a non-negative integer is encoded as an
//! unsigned one, whatever its Rust type.
//!
//! Decoding is zero-copy: [`Value::Str`] and [`Value::Bin`] borrow the input,
//! and arrays and maps are views ([`Array`], [`Map`]) whose elements are
//! decoded when iterated. Decoding an array or map checks its whole body
//! once (iteratively, so deep nesting cannot exhaust the stack).

use core::fmt;

/// A decoding error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The data ended in the middle of a value.
    Eof,
    /// A marker byte that msgpack does not define (`0xc1`).
    Invalid(u8),
    /// A float, ext or timestamp (marker byte given): not supported.
    Unsupported(u8),
    /// A str whose bytes are not UTF-8.
    Utf8,
    /// Bytes left after the value ([`decode`] wants exactly one value).
    Trailing,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::Eof => f.write_str("msgpack: unexpected end of data"),
            Error::Invalid(m) => write!(f, "msgpack: invalid marker byte 0x{:02x}", m),
            Error::Unsupported(m) => {
                let what = match m {
                    0xca | 0xcb => "float",
                    _ => "ext",
                };
                write!(f, "msgpack: unsupported type {} (marker 0x{:02x})", what, m)
            }
            Error::Utf8 => f.write_str("msgpack: str is not valid UTF-8"),
            Error::Trailing => f.write_str("msgpack: trailing bytes after the value"),
        }
    }
}

/// A decoded value. Integers: [`Value::Uint`] holds every non-negative
/// integer, whatever its wire width or signedness; [`Value::Int`] only
/// negative ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Value<'a> {
    Nil,
    Bool(bool),
    Uint(u64),
    Int(i64),
    Str(&'a str),
    Bin(&'a [u8]),
    Array(Array<'a>),
    Map(Map<'a>),
}

impl<'a> Value<'a> {
    /// The msgpack type name, for error messages: `nil`, `bool`, `int`,
    /// `str`, `bin`, `array` or `map`.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Nil => "nil",
            Value::Bool(_) => "bool",
            Value::Uint(_) | Value::Int(_) => "int",
            Value::Str(_) => "str",
            Value::Bin(_) => "bin",
            Value::Array(_) => "array",
            Value::Map(_) => "map",
        }
    }
    pub fn is_nil(&self) -> bool {
        matches!(self, Value::Nil)
    }
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }
    /// A non-negative integer.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::Uint(n) => Some(n),
            _ => None,
        }
    }
    /// An integer in `i64`'s range.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Value::Uint(n) if n <= i64::MAX as u64 => Some(n as i64),
            Value::Int(n) => Some(n),
            _ => None,
        }
    }
    pub fn as_str(&self) -> Option<&'a str> {
        match *self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_bin(&self) -> Option<&'a [u8]> {
        match *self {
            Value::Bin(b) => Some(b),
            _ => None,
        }
    }
    pub fn as_array(&self) -> Option<Array<'a>> {
        match *self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }
    pub fn as_map(&self) -> Option<Map<'a>> {
        match *self {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }
}

/// An array: `len()` elements, encoded in `body()`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Array<'a> {
    len: u32,
    body: &'a [u8],
}

impl<'a> Array<'a> {
    pub fn len(&self) -> usize {
        self.len as usize
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// The encoded elements.
    pub fn body(&self) -> &'a [u8] {
        self.body
    }
    pub fn iter(&self) -> ArrayIter<'a> {
        ArrayIter { dec: Decoder::new(self.body), left: self.len }
    }
    /// The element at `index` (decodes the ones before it).
    pub fn get(&self, index: usize) -> Option<Value<'a>> {
        self.iter().nth(index)
    }
}

/// Iterates over an [`Array`]'s elements. The body was checked when the
/// array was decoded, so elements decode without error.
pub struct ArrayIter<'a> {
    dec: Decoder<'a>,
    left: u32,
}

impl<'a> Iterator for ArrayIter<'a> {
    type Item = Value<'a>;
    fn next(&mut self) -> Option<Value<'a>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        self.dec.read().ok()
    }
}

/// A map: `len()` key/value pairs, encoded in `body()`, in wire order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Map<'a> {
    len: u32,
    body: &'a [u8],
}

impl<'a> Map<'a> {
    /// An empty map.
    pub const EMPTY: Map<'static> = Map { len: 0, body: &[] };

    pub fn len(&self) -> usize {
        self.len as usize
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn body(&self) -> &'a [u8] {
        self.body
    }
    pub fn iter(&self) -> MapIter<'a> {
        MapIter { dec: Decoder::new(self.body), left: self.len }
    }
    /// The value of the first entry whose key is the str `key`.
    pub fn get(&self, key: &str) -> Option<Value<'a>> {
        self.iter().find(|(k, _)| *k == Value::Str(key)).map(|(_, v)| v)
    }
}

/// Iterates over a [`Map`]'s `(key, value)` pairs.
pub struct MapIter<'a> {
    dec: Decoder<'a>,
    left: u32,
}

impl<'a> Iterator for MapIter<'a> {
    type Item = (Value<'a>, Value<'a>);
    fn next(&mut self) -> Option<(Value<'a>, Value<'a>)> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let k = self.dec.read().ok()?;
        let v = self.dec.read().ok()?;
        Some((k, v))
    }
}

/// Decodes exactly one value: trailing bytes are an error.
pub fn decode(data: &[u8]) -> Result<Value<'_>, Error> {
    let mut d = Decoder::new(data);
    let v = d.read()?;
    if d.remaining() != 0 {
        return Err(Error::Trailing);
    }
    Ok(v)
}

/// Reads values one after the other from a byte string.
#[derive(Clone, Debug)]
pub struct Decoder<'a> {
    data: &'a [u8],
    pos: usize,
}

/// What one marker byte announces.
enum Head {
    Nil,
    Bool(bool),
    Uint(u64),
    Int(i64),
    Str(usize),
    Bin(usize),
    Array(u32),
    Map(u32),
}

impl<'a> Decoder<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Decoder { data, pos: 0 }
    }
    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }
    /// Bytes read so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        if self.remaining() < n {
            return Err(Error::Eof);
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn be(&mut self, n: usize) -> Result<u64, Error> {
        let b = self.take(n)?;
        let mut v = 0u64;
        for &x in b {
            v = (v << 8) | x as u64;
        }
        Ok(v)
    }

    fn head(&mut self) -> Result<Head, Error> {
        let m = self.take(1)?[0];
        Ok(match m {
            0x00..=0x7f => Head::Uint(m as u64),
            0x80..=0x8f => Head::Map((m & 0x0f) as u32),
            0x90..=0x9f => Head::Array((m & 0x0f) as u32),
            0xa0..=0xbf => Head::Str((m & 0x1f) as usize),
            0xc0 => Head::Nil,
            0xc1 => return Err(Error::Invalid(m)),
            0xc2 => Head::Bool(false),
            0xc3 => Head::Bool(true),
            0xc4 => Head::Bin(self.be(1)? as usize),
            0xc5 => Head::Bin(self.be(2)? as usize),
            0xc6 => Head::Bin(self.be(4)? as usize),
            0xcc => Head::Uint(self.be(1)?),
            0xcd => Head::Uint(self.be(2)?),
            0xce => Head::Uint(self.be(4)?),
            0xcf => Head::Uint(self.be(8)?),
            0xd0 => signed(self.be(1)? as u8 as i8 as i64),
            0xd1 => signed(self.be(2)? as u16 as i16 as i64),
            0xd2 => signed(self.be(4)? as u32 as i32 as i64),
            0xd3 => signed(self.be(8)? as i64),
            0xd9 => Head::Str(self.be(1)? as usize),
            0xda => Head::Str(self.be(2)? as usize),
            0xdb => Head::Str(self.be(4)? as usize),
            0xdc => Head::Array(self.be(2)? as u32),
            0xdd => Head::Array(self.be(4)? as u32),
            0xde => Head::Map(self.be(2)? as u32),
            0xdf => Head::Map(self.be(4)? as u32),
            0xe0..=0xff => Head::Int(m as i8 as i64),
            // 0xc7..=0xc9 ext, 0xca/0xcb float, 0xd4..=0xd8 fixext
            _ => return Err(Error::Unsupported(m)),
        })
    }

    fn str_bytes(&mut self, n: usize) -> Result<&'a str, Error> {
        let b = self.take(n)?;
        core::str::from_utf8(b).map_err(|_| Error::Utf8)
    }

    /// Skips `items` whole values (nested ones included), checking them.
    /// Iterative: the nesting depth does not use the stack.
    fn skip(&mut self, mut items: u64) -> Result<(), Error> {
        while items > 0 {
            items -= 1;
            match self.head()? {
                Head::Str(n) => {
                    self.str_bytes(n)?;
                }
                Head::Bin(n) => {
                    self.take(n)?;
                }
                Head::Array(n) => items += n as u64,
                Head::Map(n) => items += 2 * n as u64,
                _ => {}
            }
            // Every value takes at least one byte: fail early on a count
            // that cannot fit (and bound the loop by the data's length).
            if items > self.remaining() as u64 {
                return Err(Error::Eof);
            }
        }
        Ok(())
    }

    /// Reads the next value.
    pub fn read(&mut self) -> Result<Value<'a>, Error> {
        Ok(match self.head()? {
            Head::Nil => Value::Nil,
            Head::Bool(b) => Value::Bool(b),
            Head::Uint(n) => Value::Uint(n),
            Head::Int(n) => Value::Int(n),
            Head::Str(n) => Value::Str(self.str_bytes(n)?),
            Head::Bin(n) => Value::Bin(self.take(n)?),
            Head::Array(len) => {
                let start = self.pos;
                self.skip(len as u64)?;
                Value::Array(Array { len, body: &self.data[start..self.pos] })
            }
            Head::Map(len) => {
                let start = self.pos;
                self.skip(2 * len as u64)?;
                Value::Map(Map { len, body: &self.data[start..self.pos] })
            }
        })
    }
}

fn signed(n: i64) -> Head {
    if n >= 0 {
        Head::Uint(n as u64)
    } else {
        Head::Int(n)
    }
}

/// Writes msgpack into a fixed buffer. Running out of room is a bug in the
/// contract (the buffer is sized by the caller), so it aborts the call
/// with `msgpack: encoder buffer full` (a panic, on native tests).
pub struct Encoder<'b> {
    buf: &'b mut [u8],
    len: usize,
}

impl<'b> Encoder<'b> {
    pub fn new(buf: &'b mut [u8]) -> Self {
        Encoder { buf, len: 0 }
    }
    /// The bytes written so far.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// The bytes written, with the buffer's lifetime.
    pub fn finish(self) -> &'b [u8] {
        &self.buf[..self.len]
    }

    /// Appends bytes verbatim (e.g. an already encoded value).
    pub fn raw(&mut self, b: &[u8]) -> &mut Self {
        let end = self.len + b.len();
        if end > self.buf.len() {
            full();
        }
        self.buf[self.len..end].copy_from_slice(b);
        self.len = end;
        self
    }
    fn byte(&mut self, b: u8) -> &mut Self {
        self.raw(&[b])
    }
    fn marked(&mut self, marker: u8, n: u64, width: usize) -> &mut Self {
        let be = n.to_be_bytes();
        self.byte(marker).raw(&be[8 - width..])
    }

    pub fn nil(&mut self) -> &mut Self {
        self.byte(0xc0)
    }
    pub fn bool(&mut self, b: bool) -> &mut Self {
        self.byte(if b { 0xc3 } else { 0xc2 })
    }
    /// An unsigned integer, in the shortest form.
    pub fn u64(&mut self, n: u64) -> &mut Self {
        if n < 0x80 {
            self.byte(n as u8)
        } else if n <= 0xff {
            self.marked(0xcc, n, 1)
        } else if n <= 0xffff {
            self.marked(0xcd, n, 2)
        } else if n <= 0xffff_ffff {
            self.marked(0xce, n, 4)
        } else {
            self.marked(0xcf, n, 8)
        }
    }
    /// A signed integer, in the shortest form (unsigned if non-negative).
    pub fn i64(&mut self, n: i64) -> &mut Self {
        if n >= 0 {
            self.u64(n as u64)
        } else if n >= -32 {
            self.byte(n as i8 as u8)
        } else if n >= i8::MIN as i64 {
            self.marked(0xd0, n as u64, 1)
        } else if n >= i16::MIN as i64 {
            self.marked(0xd1, n as u64, 2)
        } else if n >= i32::MIN as i64 {
            self.marked(0xd2, n as u64, 4)
        } else {
            self.marked(0xd3, n as u64, 8)
        }
    }
    pub fn str(&mut self, s: &str) -> &mut Self {
        let n = s.len() as u64;
        if n < 32 {
            self.byte(0xa0 | n as u8);
        } else if n <= 0xff {
            self.marked(0xd9, n, 1);
        } else if n <= 0xffff {
            self.marked(0xda, n, 2);
        } else {
            self.marked(0xdb, n, 4);
        }
        self.raw(s.as_bytes())
    }
    pub fn bin(&mut self, b: &[u8]) -> &mut Self {
        let n = b.len() as u64;
        if n <= 0xff {
            self.marked(0xc4, n, 1);
        } else if n <= 0xffff {
            self.marked(0xc5, n, 2);
        } else {
            self.marked(0xc6, n, 4);
        }
        self.raw(b)
    }
    /// An array header; the `len` elements follow.
    pub fn array(&mut self, len: u32) -> &mut Self {
        if len < 16 {
            self.byte(0x90 | len as u8)
        } else if len <= 0xffff {
            self.marked(0xdc, len as u64, 2)
        } else {
            self.marked(0xdd, len as u64, 4)
        }
    }
    /// A map header; the `len` key/value pairs follow.
    pub fn map(&mut self, len: u32) -> &mut Self {
        if len < 16 {
            self.byte(0x80 | len as u8)
        } else if len <= 0xffff {
            self.marked(0xde, len as u64, 2)
        } else {
            self.marked(0xdf, len as u64, 4)
        }
    }
    /// Any [`Encode`] value.
    pub fn value<T: Encode + ?Sized>(&mut self, v: &T) -> &mut Self {
        v.encode(self);
        self
    }
}

#[cold]
fn full() -> ! {
    panic!("msgpack: encoder buffer full")
}

/// A value that can be written as msgpack.
pub trait Encode {
    fn encode(&self, enc: &mut Encoder<'_>);
    /// An upper bound of the encoded size (used to size buffers).
    fn max_size(&self) -> usize;
}

macro_rules! encode_uint {
    ($($t:ty),*) => { $(
        impl Encode for $t {
            fn encode(&self, e: &mut Encoder<'_>) { e.u64(*self as u64); }
            fn max_size(&self) -> usize { 9 }
        }
    )* };
}
macro_rules! encode_int {
    ($($t:ty),*) => { $(
        impl Encode for $t {
            fn encode(&self, e: &mut Encoder<'_>) { e.i64(*self as i64); }
            fn max_size(&self) -> usize { 9 }
        }
    )* };
}
encode_uint!(u8, u16, u32, u64);
encode_int!(i8, i16, i32, i64);

impl Encode for bool {
    fn encode(&self, e: &mut Encoder<'_>) {
        e.bool(*self);
    }
    fn max_size(&self) -> usize {
        1
    }
}
impl Encode for str {
    fn encode(&self, e: &mut Encoder<'_>) {
        e.str(self);
    }
    fn max_size(&self) -> usize {
        5 + self.len()
    }
}
/// Byte slices and arrays (addresses included) encode as `bin`.
impl Encode for [u8] {
    fn encode(&self, e: &mut Encoder<'_>) {
        e.bin(self);
    }
    fn max_size(&self) -> usize {
        5 + self.len()
    }
}
impl<const N: usize> Encode for [u8; N] {
    fn encode(&self, e: &mut Encoder<'_>) {
        e.bin(self);
    }
    fn max_size(&self) -> usize {
        5 + N
    }
}
impl<T: Encode> Encode for Option<T> {
    fn encode(&self, e: &mut Encoder<'_>) {
        match self {
            Some(v) => v.encode(e),
            None => {
                e.nil();
            }
        }
    }
    fn max_size(&self) -> usize {
        match self {
            Some(v) => v.max_size(),
            None => 1,
        }
    }
}
impl<T: Encode + ?Sized> Encode for &T {
    fn encode(&self, e: &mut Encoder<'_>) {
        (**self).encode(e)
    }
    fn max_size(&self) -> usize {
        (**self).max_size()
    }
}
/// Writes the value unchanged: it is msgpack already.
#[derive(Clone, Copy, Debug)]
pub struct Raw<'a>(pub &'a [u8]);
impl Encode for Raw<'_> {
    fn encode(&self, e: &mut Encoder<'_>) {
        e.raw(self.0);
    }
    fn max_size(&self) -> usize {
        self.0.len()
    }
}
/// The msgpack `nil`.
#[derive(Clone, Copy, Debug)]
pub struct Nil;
impl Encode for Nil {
    fn encode(&self, e: &mut Encoder<'_>) {
        e.nil();
    }
    fn max_size(&self) -> usize {
        1
    }
}

/// Encodes a value into the arena.
pub fn encode<T: Encode + ?Sized>(v: &T) -> &'static [u8] {
    let buf = crate::arena::alloc(v.max_size());
    let mut e = Encoder::new(buf);
    v.encode(&mut e);
    e.finish()
}

/// Encodes a map with str keys, in the given order, into the arena:
/// `encode_map(&[("to", &to), ("amount", &amount)])`.
pub fn encode_map(entries: &[(&str, &dyn Encode)]) -> &'static [u8] {
    let mut size = 5;
    for (k, v) in entries {
        size += k.max_size() + v.max_size();
    }
    let buf = crate::arena::alloc(size);
    let mut e = Encoder::new(buf);
    e.map(entries.len() as u32);
    for (k, v) in entries {
        e.str(k);
        v.encode(&mut e);
    }
    e.finish()
}

// ------------------------------------------------------------------ u128
// (Below the rest: a panic location in a built .wasm holds the line
// numbers of the code above.)

/// The smallest `u128` that is not sent as a msgpack uint: 2^64.
const U128_AS_BIN: u128 = 1 << 64;

impl Encoder<'_> {
    /// A `u128` in its canonical msgpack form (the WIT type `u128`,
    /// docs/abi.md): a uint when below 2^64 (the shortest, as [`Encoder::u64`]),
    /// else a `bin` of 16 bytes, big-endian.
    pub fn u128(&mut self, n: u128) -> &mut Self {
        if n < U128_AS_BIN {
            self.u64(n as u64)
        } else {
            self.bin(&n.to_be_bytes())
        }
    }
}

impl Encode for u128 {
    fn encode(&self, e: &mut Encoder<'_>) {
        e.u128(*self);
    }
    fn max_size(&self) -> usize {
        18
    }
}

impl Value<'_> {
    /// A `u128` in its canonical form: a uint, or a `bin` of 16 bytes
    /// big-endian holding a value of at least 2^64. `None` for anything
    /// else, a non-canonical `bin` included (see [`Encoder::u128`]).
    pub fn as_u128(&self) -> Option<u128> {
        match *self {
            Value::Uint(n) => Some(n as u128),
            Value::Bin(b) => match <[u8; 16]>::try_from(b) {
                Ok(a) if u128::from_be_bytes(a) >= U128_AS_BIN => Some(u128::from_be_bytes(a)),
                _ => None,
            },
            _ => None,
        }
    }
}
