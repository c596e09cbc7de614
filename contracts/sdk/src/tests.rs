//! Native unit tests of the SDK (msgpack codec, formatting, keys, the
//! environment record, arguments and calls through the mock host).
//! Expected msgpack bytes come from Python's `msgpack` 1.1
//! (`packb(v, use_bin_type=True)`), the encoder the chain and CLI use.

use crate::msgpack::{self, decode, Decoder, Encode, Encoder, Error, Value};
use crate::storage::Key;
use crate::*;
use std::string::String;
use std::vec;
use std::vec::Vec;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

fn enc(f: impl FnOnce(&mut Encoder<'_>)) -> Vec<u8> {
    enc_n(400_000, f)
}

fn enc_n(cap: usize, f: impl FnOnce(&mut Encoder<'_>)) -> Vec<u8> {
    let mut buf = vec![0u8; cap];
    let mut e = Encoder::new(&mut buf);
    f(&mut e);
    e.as_bytes().to_vec()
}

const INTS: &[(i128, &str)] = &[
    (0, "00"),
    (1, "01"),
    (127, "7f"),
    (128, "cc80"),
    (255, "ccff"),
    (256, "cd0100"),
    (65535, "cdffff"),
    (65536, "ce00010000"),
    (4294967295, "ceffffffff"),
    (4294967296, "cf0000000100000000"),
    (18446744073709551615, "cfffffffffffffffff"),
    (-1, "ff"),
    (-32, "e0"),
    (-33, "d0df"),
    (-128, "d080"),
    (-129, "d1ff7f"),
    (-32768, "d18000"),
    (-32769, "d2ffff7fff"),
    (-2147483648, "d280000000"),
    (-2147483649, "d3ffffffff7fffffff"),
    (-9223372036854775808, "d38000000000000000"),
];

#[test]
fn ints_encode_shortest_like_python() {
    for &(n, want) in INTS {
        let got = if n >= 0 { enc(|e| { e.u64(n as u64); }) } else { enc(|e| { e.i64(n as i64); }) };
        assert_eq!(got, hex(want), "{}", n);
        if n >= 0 && n <= i64::MAX as i128 {
            assert_eq!(enc(|e| { e.i64(n as i64); }), hex(want), "i64 {}", n);
        }
        let v = decode(&got).unwrap();
        if n >= 0 {
            assert_eq!(v, Value::Uint(n as u64));
        } else {
            assert_eq!(v, Value::Int(n as i64));
        }
    }
}

#[test]
fn ints_decode_from_every_width() {
    // non-shortest and signed encodings of non-negative numbers
    let cases: &[(&str, Value<'_>)] = &[
        ("cc05", Value::Uint(5)),
        ("cd0005", Value::Uint(5)),
        ("ce00000005", Value::Uint(5)),
        ("cf0000000000000005", Value::Uint(5)),
        ("d005", Value::Uint(5)),
        ("d10005", Value::Uint(5)),
        ("d200000005", Value::Uint(5)),
        ("d30000000000000005", Value::Uint(5)),
        ("d0ff", Value::Int(-1)),
        ("d1ffff", Value::Int(-1)),
        ("d2ffffffff", Value::Int(-1)),
        ("d3ffffffffffffffff", Value::Int(-1)),
        ("d37fffffffffffffff", Value::Uint(i64::MAX as u64)),
    ];
    for (h, v) in cases {
        assert_eq!(decode(&hex(h)).unwrap(), *v, "{}", h);
    }
    assert_eq!(Value::Uint(u64::MAX).as_i64(), None);
    assert_eq!(Value::Uint(7).as_i64(), Some(7));
    assert_eq!(Value::Int(-7).as_u64(), None);
}

#[test]
fn str_bin_array_map_headers_like_python() {
    let strs: &[(usize, &str)] = &[
        (0, "a0"),
        (1, "a178"),
        (31, "bf78"),
        (32, "d92078"),
        (255, "d9ff78"),
        (256, "da010078"),
        (65535, "daffff78"),
        (65536, "db0001000078"),
    ];
    for &(n, head) in strs {
        let s: String = "x".repeat(n);
        let got = enc(|e| { e.str(&s); });
        let h = hex(head);
        assert_eq!(&got[..h.len().min(got.len())], &h[..h.len().min(got.len())], "str {}", n);
        assert_eq!(got.len(), h.len() - (n > 0) as usize + n);
        assert_eq!(decode(&got).unwrap(), Value::Str(&s));
    }
    let bins: &[(usize, &str)] = &[(0, "c400"), (255, "c4ff"), (256, "c50100"), (65535, "c5ffff"), (65536, "c600010000")];
    for &(n, head) in bins {
        let b = vec![1u8; n];
        let got = enc(|e| { e.bin(&b); });
        assert_eq!(got[..head.len() / 2], hex(head)[..], "bin {}", n);
        assert_eq!(decode(&got).unwrap(), Value::Bin(&b));
    }
    let arrays: &[(u32, &str, &str)] = &[
        (0, "90", "80"),
        (15, "9f", "8f"),
        (16, "dc0010", "de0010"),
        (65535, "dcffff", "deffff"),
        (65536, "dd00010000", "df00010000"),
    ];
    for &(n, ah, mh) in arrays {
        let a = enc(|e| {
            e.array(n);
            for _ in 0..n {
                e.u64(0);
            }
        });
        assert_eq!(a[..ah.len() / 2], hex(ah)[..]);
        let arr = decode(&a).unwrap().as_array().unwrap();
        assert_eq!(arr.len(), n as usize);
        assert!(arr.iter().all(|v| v == Value::Uint(0)));
        assert_eq!(arr.iter().count(), n as usize);
        let m = enc(|e| {
            e.map(n);
            for i in 0..n {
                e.u64(i as u64).u64(0);
            }
        });
        assert_eq!(m[..mh.len() / 2], hex(mh)[..]);
        let map = decode(&m).unwrap().as_map().unwrap();
        assert_eq!(map.len(), n as usize);
        assert_eq!(map.iter().count(), n as usize);
    }
}

#[test]
fn encode_map_matches_python() {
    // packb({"from": b"\xaa"*20, "to": b"\xbb"*2, "amount": 300, "neg": -5,
    //        "ok": True, "n": None, "l": [1, "é"]}, use_bin_type=True)
    let want = hex(
        "87a466726f6dc414aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa2746fc402bbbba6616d6f756e74cd012ca36e6567fba26f6bc3a16ec0a16c9201a2c3a9",
    );
    let l = enc(|e| {
        e.array(2).u64(1).str("é");
    });
    let got = msgpack::encode_map(&[
        ("from", &[0xaau8; 20]),
        ("to", &[0xbbu8; 2]),
        ("amount", &300u64),
        ("neg", &-5i64),
        ("ok", &true),
        ("n", &msgpack::Nil),
        ("l", &msgpack::Raw(&l)),
    ]);
    assert_eq!(got, &want[..]);
    let m = decode(&want).unwrap().as_map().unwrap();
    assert_eq!(m.get("from"), Some(Value::Bin(&[0xaa; 20])));
    assert_eq!(m.get("amount").and_then(|v| v.as_u64()), Some(300));
    assert_eq!(m.get("neg").and_then(|v| v.as_i64()), Some(-5));
    assert_eq!(m.get("ok"), Some(Value::Bool(true)));
    assert_eq!(m.get("n"), Some(Value::Nil));
    assert_eq!(m.get("missing"), None);
    let l = m.get("l").unwrap().as_array().unwrap();
    assert_eq!(l.iter().collect::<Vec<_>>(), vec![Value::Uint(1), Value::Str("é")]);
    assert_eq!(l.get(1), Some(Value::Str("é")));
    // Option and the Encode impls
    assert_eq!(msgpack::encode(&Some(5u8)), &[5]);
    assert_eq!(msgpack::encode(&None::<u8>), &[0xc0]);
    assert_eq!(msgpack::encode("hi"), &[0xa2, b'h', b'i']);
    assert_eq!(msgpack::encode(&-1i8), &[0xff]);
    assert_eq!(msgpack::encode(&false), &[0xc2]);
}

#[test]
fn decode_errors() {
    let cases: &[(&str, Error)] = &[
        ("", Error::Eof),
        ("c1", Error::Invalid(0xc1)),
        ("ca00000000", Error::Unsupported(0xca)),
        ("cb0000000000000000", Error::Unsupported(0xcb)),
        ("d40100", Error::Unsupported(0xd4)),
        ("c70101ff", Error::Unsupported(0xc7)),
        ("d6ff00000000", Error::Unsupported(0xd6)),
        ("cd01", Error::Eof),
        ("a2ff", Error::Eof),
        ("a2fffe", Error::Utf8),
        ("c403aabb", Error::Eof),
        ("0101", Error::Trailing),
        ("920191", Error::Eof),
        ("9101ca00000000", Error::Unsupported(0xca)), // array [1, float]: trailing check happens after
        ("91ca00000000", Error::Unsupported(0xca)),
        ("81a16191", Error::Eof),
        ("81a161a2fffe", Error::Utf8),
        ("ddffffffff00", Error::Eof),
        ("dfffffffff00", Error::Eof),
    ];
    for (h, e) in cases {
        let data = hex(h);
        // "9101ca..." decodes [1] and then finds trailing bytes
        let want = if *h == "9101ca00000000" { Error::Trailing } else { *e };
        assert_eq!(decode(&data), Err(want), "{}", h);
    }
    assert_eq!(std::format!("{}", Error::Unsupported(0xcb)), "msgpack: unsupported type float (marker 0xcb)");
    assert_eq!(std::format!("{}", Error::Unsupported(0xd4)), "msgpack: unsupported type ext (marker 0xd4)");
}

#[test]
fn deep_nesting_does_not_recurse() {
    let depth = 200_000;
    let mut data = vec![0x91u8; depth];
    data.push(0xc0);
    let v = decode(&data).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1);
    data.pop();
    assert_eq!(decode(&data), Err(Error::Eof));
}

#[test]
fn decoder_reads_a_sequence() {
    let data = hex("01a16192c0c3");
    let mut d = Decoder::new(&data);
    assert_eq!(d.read().unwrap(), Value::Uint(1));
    assert_eq!(d.read().unwrap(), Value::Str("a"));
    assert_eq!(d.read().unwrap().kind(), "array");
    assert_eq!(d.remaining(), 0);
    assert_eq!(d.read(), Err(Error::Eof));
}

/// A tiny deterministic PRNG (xorshift64*).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[derive(Debug, PartialEq)]
enum Tree {
    Nil,
    Bool(bool),
    U(u64),
    I(i64),
    S(String),
    B(Vec<u8>),
    A(Vec<Tree>),
    M(Vec<(Tree, Tree)>),
}

fn gen(r: &mut Rng, depth: u32) -> Tree {
    let k = r.next() % if depth > 3 { 6 } else { 8 };
    let shift = r.next() % 64;
    match k {
        0 => Tree::Nil,
        1 => Tree::Bool(r.next() & 1 == 1),
        2 => Tree::U(r.next() >> shift),
        3 => Tree::I(-((r.next() >> shift) as i64 & i64::MAX) - 1),
        4 => Tree::S((0..r.next() % 40).map(|i| if i % 7 == 3 { 'é' } else { 'a' }).collect()),
        5 => Tree::B((0..r.next() % 300).map(|_| r.next() as u8).collect()),
        6 => Tree::A((0..r.next() % 12).map(|_| gen(r, depth + 1)).collect()),
        _ => Tree::M((0..r.next() % 8).map(|_| (gen(r, depth + 1), gen(r, depth + 1))).collect()),
    }
}

fn put(t: &Tree, e: &mut Encoder<'_>) {
    match t {
        Tree::Nil => {
            e.nil();
        }
        Tree::Bool(b) => {
            e.bool(*b);
        }
        Tree::U(n) => {
            e.u64(*n);
        }
        Tree::I(n) => {
            e.i64(*n);
        }
        Tree::S(s) => {
            e.str(s);
        }
        Tree::B(b) => {
            e.bin(b);
        }
        Tree::A(a) => {
            e.array(a.len() as u32);
            a.iter().for_each(|x| put(x, e));
        }
        Tree::M(m) => {
            e.map(m.len() as u32);
            m.iter().for_each(|(k, v)| {
                put(k, e);
                put(v, e)
            });
        }
    }
}

fn size(t: &Tree) -> usize {
    match t {
        Tree::S(s) => 5 + s.len(),
        Tree::B(b) => 5 + b.len(),
        Tree::A(a) => 5 + a.iter().map(size).sum::<usize>(),
        Tree::M(m) => 5 + m.iter().map(|(k, v)| size(k) + size(v)).sum::<usize>(),
        _ => 9,
    }
}

fn get(v: Value<'_>) -> Tree {
    match v {
        Value::Nil => Tree::Nil,
        Value::Bool(b) => Tree::Bool(b),
        Value::Uint(n) => Tree::U(n),
        Value::Int(n) => Tree::I(n),
        Value::Str(s) => Tree::S(s.into()),
        Value::Bin(b) => Tree::B(b.to_vec()),
        Value::Array(a) => Tree::A(a.iter().map(get).collect()),
        Value::Map(m) => Tree::M(m.iter().map(|(k, v)| (get(k), get(v))).collect()),
    }
}

#[test]
fn random_round_trips() {
    let mut r = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..2000 {
        let t = gen(&mut r, 0);
        let bytes = enc_n(size(&t), |e| put(&t, e));
        let v = decode(&bytes).unwrap();
        assert_eq!(get(v), t);
        // every strict prefix is incomplete
        let cut = (r.next() as usize) % bytes.len();
        assert_eq!(decode(&bytes[..cut]).unwrap_err(), Error::Eof, "{:?}", &bytes[..cut]);
    }
}

#[test]
#[should_panic(expected = "msgpack: encoder buffer full")]
fn encoder_overflow_panics() {
    let mut buf = [0u8; 3];
    Encoder::new(&mut buf).str("four");
}

#[test]
fn fmtbuf_truncates_on_char_boundaries() {
    use core::fmt::Write;
    let mut b = FmtBuf::<8>::new();
    assert!(write!(b, "abc").is_ok());
    assert_eq!(b.as_str(), "abc");
    assert!(write!(b, "déf{}", 12345).is_err());
    assert_eq!(b.as_str(), "abcd...");
    assert!(b.is_truncated());
    // a multi-byte char straddling the cut is dropped whole
    let mut b = FmtBuf::<8>::new();
    let _ = write!(b, "abcdéééé");
    assert_eq!(b.as_str(), "abcd...");
    let mut b = FmtBuf::<8>::new();
    let _ = write!(b, "ab€ü");
    assert_eq!(b.as_str(), "ab€ü");
    let _ = write!(b, "xy");
    assert_eq!(b.as_str(), "ab€...");
    let mut b = FmtBuf::<2>::new();
    let _ = write!(b, "hello");
    assert_eq!(b.as_str(), "..");
    let mut b = FmtBuf::<1024>::new();
    let long = "é".repeat(600);
    let _ = write!(b, "{}", long);
    assert!(b.as_str().len() <= 1024 && b.as_str().ends_with("...") && b.as_str().starts_with("éé"));
}

#[test]
fn hex_and_keys() {
    assert_eq!(std::format!("{}", Hex(&[0x00, 0xab, 0x10])), "0x00ab10");
    let k = Key::new(b"b").bytes(&[7; 20]).u64(0x0102);
    assert_eq!(k.len(), 29);
    assert_eq!(&k[..2], &[b'b', 7]);
    assert_eq!(&k[21..], &[0, 0, 0, 0, 0, 0, 1, 2]);
}

#[test]
fn env_record_layout() {
    let env = Env {
        caller: [1; 20],
        self_address: [2; 20],
        origin: [3; 20],
        height: 0x0102_0304_0506_0708,
        timestamp: 1_767_225_600,
        value: 1u128 << 100,
        balance: u128::MAX - 1,
    };
    let r = env.to_bytes();
    assert_eq!(&r[0..20], &[1; 20]);
    assert_eq!(&r[20..40], &[2; 20]);
    assert_eq!(&r[40..60], &[3; 20]);
    assert_eq!(&r[60..64], &[0; 4]);
    assert_eq!(&r[64..72], &[8, 7, 6, 5, 4, 3, 2, 1]);
    assert_eq!(r[80 + 12], 0x10);
    assert_eq!(Env::parse(&r), env);
    mock::reset();
    mock::set_env(env);
    assert_eq!(crate::env(), env);
    assert_eq!(caller(), [1; 20]);
    assert_eq!(self_address(), [2; 20]);
}

fn args_of(input: &[u8]) -> Result<Vec<u8>, String> {
    fn m() {
        let a = args();
        let n = a.u64("n");
        let s = a.opt_str("s").unwrap_or("-");
        let b = a.opt_bool("b").unwrap_or(false);
        let i = a.opt_i64("i").unwrap_or(0);
        let addr = a.opt_address("addr").map(|x| x[0]).unwrap_or(0);
        let bytes = a.opt_bytes("bytes").map(|x| x.len()).unwrap_or(0);
        return_value(&msgpack::Raw(msgpack::encode_map(&[
            ("n", &n),
            ("s", &s),
            ("b", &b),
            ("i", &i),
            ("addr", &addr),
            ("bytes", &(bytes as u64)),
        ])));
    }
    mock::invoke(m, input)
}

#[test]
fn args_typed_getters() {
    mock::reset();
    let input = msgpack::encode_map(&[
        ("n", &7u64),
        ("s", &"hi"),
        ("b", &true),
        ("i", &-3i64),
        ("addr", &[9u8; 20]),
        ("bytes", &[1u8, 2, 3]),
    ]);
    let out = args_of(input).unwrap();
    let m = decode(&out).unwrap().as_map().unwrap();
    assert_eq!(m.get("n"), Some(Value::Uint(7)));
    assert_eq!(m.get("s"), Some(Value::Str("hi")));
    assert_eq!(m.get("b"), Some(Value::Bool(true)));
    assert_eq!(m.get("i"), Some(Value::Int(-3)));
    assert_eq!(m.get("addr"), Some(Value::Uint(9)));
    assert_eq!(m.get("bytes"), Some(Value::Uint(3)));
    // nil counts as absent for opt_*
    let input = msgpack::encode_map(&[("n", &1u64), ("s", &msgpack::Nil)]);
    assert!(args_of(input).is_ok());
    let e = |input: &[u8]| args_of(input).unwrap_err();
    assert_eq!(e(&[]), "missing argument \"n\"");
    assert_eq!(e(&[0xc0]), "missing argument \"n\"");
    assert_eq!(e(&[0x80]), "missing argument \"n\"");
    assert_eq!(e(&[0x01]), "arguments must be a msgpack map, got int");
    assert_eq!(e(&[0x81, 0xa1]), "arguments: msgpack: unexpected end of data");
    assert_eq!(e(msgpack::encode_map(&[("n", &"7")])), "argument \"n\" must be an unsigned integer (u64), got str");
    assert_eq!(
        e(msgpack::encode_map(&[("n", &1u64), ("i", &u64::MAX)])),
        "argument \"i\" is out of range for i64"
    );
    assert_eq!(
        e(msgpack::encode_map(&[("n", &1u64), ("addr", &[0u8; 32])])),
        "argument \"addr\" must be an address (bin of 20 bytes), got bin of 32 bytes"
    );
    assert_eq!(e(msgpack::encode_map(&[("n", &1u64), ("b", &0u64)])), "argument \"b\" must be a bool, got int");
}

#[test]
fn large_input_and_storage_values_take_two_reads() {
    fn m() {
        let v = storage::get(b"k").unwrap();
        storage::set(b"copy", v);
        return_raw(input());
    }
    mock::reset();
    let big = vec![0x5au8; 100_000];
    mock::storage_set(b"k", &big);
    assert_eq!(mock::invoke(m, &big).unwrap(), big);
    assert_eq!(mock::storage_get(b"copy").unwrap(), big);
}

#[test]
fn storage_wrappers() {
    fn m() {
        assert_eq!(storage::get(b"a"), None);
        assert!(!storage::has(b"a"));
        storage::set(b"a", b"");
        assert!(storage::has(b"a"));
        assert_eq!(storage::get(b"a"), Some(&b""[..]));
        assert!(storage::remove(b"a"));
        assert!(!storage::remove(b"a"));
        storage::set_u64(b"u", 42);
        assert_eq!(storage::get_u64(b"u"), Some(42));
        storage::set_u128(b"w", u128::MAX);
        assert_eq!(storage::get_u128(b"w"), Some(u128::MAX));
        storage::set_address(b"x", &[4; 20]);
        assert_eq!(storage::get_address(b"x"), Some([4; 20]));
        storage::get_u64(b"x");
    }
    mock::reset();
    assert_eq!(mock::invoke(m, &[]).unwrap_err(), "storage value at 0x78 is not a u64 (20 bytes)");
    assert_eq!(mock::storage_len(), 0, "an abort reverts the storage writes");
}

#[test]
fn calls_events_and_transfers() {
    fn m() {
        emit("E", b"data");
        let r = call(&[5; 20], "f", b"\x80", 7, 1000);
        match r {
            Err(e) => {
                assert_eq!(e.code, call_status::OUT_OF_GAS);
                assert_eq!(std::format!("{}", e), "out of gas: ran out");
            }
            Ok(_) => panic!("expected an error"),
        }
        let ok = call(&[5; 20], "ok", b"", 0, 0).unwrap();
        assert_eq!(ok, &[0x2a]);
        assert_eq!(transfer(&[6; 20], 10), Ok(()));
        assert_eq!(transfer(&[6; 20], 1000), Err(InsufficientBalance));
    }
    mock::reset();
    let mut e = mock::env();
    e.balance = 15;
    mock::set_env(e);
    mock::on_call(|r| if r.method == "f" { (2, b"ran out".to_vec()) } else { (0, vec![0x2a]) });
    mock::invoke(m, &[]).unwrap();
    assert_eq!(mock::take_events(), vec![mock::Event { name: "E".into(), data: b"data".to_vec() }]);
    let calls = mock::take_calls();
    assert_eq!((calls[0].value, calls[0].gas, calls[0].args.as_slice()), (7, 1000, &b"\x80"[..]));
    assert_eq!(mock::take_transfers(), vec![([6; 20], 10)]);
    assert_eq!(mock::env().balance, 5);
    let err = CallError { code: 1, message: b"boom" };
    assert_eq!(std::format!("{}", err), "boom");
    let err = CallError { code: 4, message: b"" };
    assert_eq!(std::format!("{}", err), "no such contract or method");
    let err = CallError { code: 1, message: b"ok\xffrest" };
    assert_eq!(err.message_str(), "ok");
}

#[test]
fn abort_macros() {
    fn m() {
        require!(1 + 1 == 2, "never");
        require!(false, "have {}, need {}", 5, 10);
    }
    mock::reset();
    assert_eq!(mock::invoke(m, &[]).unwrap_err(), "have 5, need 10");
    fn long() {
        abort!("{}", "x".repeat(5000));
    }
    let e = mock::invoke(long, &[]).unwrap_err();
    assert_eq!(e.len(), MAX_ABORT_MESSAGE);
    assert!(e.ends_with("xx..."));
}

#[test]
fn encode_trait_sizes_are_upper_bounds() {
    let vals: Vec<std::boxed::Box<dyn Encode>> = vec![
        std::boxed::Box::new(u64::MAX),
        std::boxed::Box::new(i64::MIN),
        std::boxed::Box::new(u128::MAX),
        std::boxed::Box::new([0u8; 20]),
        std::boxed::Box::new(true),
        std::boxed::Box::new(msgpack::Nil),
    ];
    for v in &vals {
        let mut buf = [0u8; 64];
        let mut e = Encoder::new(&mut buf);
        v.encode(&mut e);
        assert!(e.len() <= v.max_size());
    }
}

#[test]
fn debug_log_macro_formats_truncates_and_survives_an_abort() {
    fn m() {
        debug_log!("have {}, need {}", 5, 10);
        debug_log("plain é");
        debug_log!("caller {}", Hex(&[0xab; 2]));
        debug_log!("{}", "y".repeat(5000));
        abort!("failed after logging");
    }
    mock::reset();
    assert_eq!(mock::invoke(m, &[]).unwrap_err(), "failed after logging");
    let logs = mock::take_logs();
    assert_eq!(logs.len(), 4, "one host call per line, kept when the call aborts");
    assert_eq!(logs[0], "have 5, need 10");
    assert_eq!(logs[1], "plain é");
    assert_eq!(logs[2], "caller 0xabab");
    assert_eq!(logs[3].len(), MAX_DEBUG_LOG);
    assert!(logs[3].ends_with("yy..."));
    assert!(mock::take_logs().is_empty());
    // a cut never splits a char
    fn wide() {
        debug_log!("{}", "é".repeat(600));
    }
    mock::invoke(wide, &[]).unwrap();
    let logs = mock::take_logs();
    assert!(logs[0].len() <= MAX_DEBUG_LOG && logs[0].starts_with("éé") && logs[0].ends_with("é..."));
    // invalid UTF-8 reaches the host as bytes and is replaced, as the chain does
    unsafe { sys::debug_log(b"ok\xffend".as_ptr(), 6) };
    assert_eq!(mock::take_logs(), vec![String::from("ok\u{fffd}end")]);
}

// u128 (the WIT type `u128`, docs/abi.md): a uint below 2^64, else a bin
// of 16 bytes big-endian. Expected bytes as Python's msgpack packs
// `n` (n < 2**64) or `n.to_bytes(16, "big")`.
const U128S: &[(u128, &str)] = &[
    (0, "00"),
    (127, "7f"),
    (255, "ccff"),
    (18446744073709551615, "cfffffffffffffffff"),
    (18446744073709551616, "c41000000000000000010000000000000000"),
    (18446744073709551617, "c41000000000000000010000000000000001"),
    (1_000_000_000_000_000_000_000_000_000, "c41000000000033b2e3c9fd0803ce8000000"),
    (u128::MAX, "c410ffffffffffffffffffffffffffffffff"),
];

#[test]
fn u128_encodes_canonically_and_decodes_back() {
    for &(n, want) in U128S {
        assert_eq!(enc(|e| { e.u128(n); }), hex(want), "{}", n);
        assert_eq!(msgpack::encode(&n), &hex(want)[..], "{}", n);
        assert!(hex(want).len() <= n.max_size());
        assert_eq!(decode(&hex(want)).unwrap().as_u128(), Some(n), "{}", n);
    }
    // any uint width decodes; a bin of 16 bytes below 2^64 is not canonical
    assert_eq!(decode(&hex("cf0000000000000005")).unwrap().as_u128(), Some(5));
    assert_eq!(decode(&hex("c41000000000000000000000000000000005")).unwrap().as_u128(), None);
    assert_eq!(decode(&hex("c40f000000000000000100000000000000")).unwrap().as_u128(), None);
    assert_eq!(decode(&hex("ff")).unwrap().as_u128(), None);
    assert_eq!(decode(&hex("a13f")).unwrap().as_u128(), None);
}

fn u128_args_of(input: &[u8]) -> Result<Vec<u8>, String> {
    fn m() {
        let a = args();
        let amount = a.u128("amount");
        let fee = a.opt_u128("fee");
        return_value(&msgpack::Raw(msgpack::encode_map(&[("amount", &amount), ("fee", &fee)])));
    }
    mock::invoke(m, input)
}

#[test]
fn args_u128() {
    mock::reset();
    for &(n, want) in U128S {
        let input = [hex("81a6616d6f756e74"), hex(want)].concat(); // {"amount": n}
        let out = u128_args_of(&input).unwrap();
        assert_eq!(out, [hex("82a6616d6f756e74"), hex(want), hex("a3666565c0")].concat(), "{}", n);
    }
    let big = 1u128 << 100;
    let out = u128_args_of(msgpack::encode_map(&[("amount", &7u64), ("fee", &big)])).unwrap();
    let m = decode(&out).unwrap().as_map().unwrap();
    assert_eq!(m.get("amount").unwrap().as_u128(), Some(7));
    assert_eq!(m.get("fee").unwrap().as_u128(), Some(big));
    // nil and absence are None for opt_u128
    assert!(u128_args_of(msgpack::encode_map(&[("amount", &1u64), ("fee", &msgpack::Nil)])).is_ok());
    let e = |input: &[u8]| u128_args_of(input).unwrap_err();
    assert_eq!(e(&[0x80]), "missing argument \"amount\"");
    assert_eq!(
        e(&[hex("81a6616d6f756e74"), hex("c41000000000000000000000000000000005")].concat()),
        "argument \"amount\" is a u128 below 2^64 sent as a bin of 16 bytes: send it as an unsigned integer"
    );
    assert_eq!(
        e(msgpack::encode_map(&[("amount", &[1u8; 8])])),
        "argument \"amount\" must be an unsigned integer (u128: uint, or bin of 16 bytes big-endian), got bin of 8 bytes"
    );
    assert_eq!(
        e(msgpack::encode_map(&[("amount", &1u64), ("fee", &-2i64)])),
        "argument \"fee\" must be an unsigned integer (u128: uint, or bin of 16 bytes big-endian), got negative int -2"
    );
    assert_eq!(
        e(msgpack::encode_map(&[("amount", &"10")])),
        "argument \"amount\" must be an unsigned integer (u128: uint, or bin of 16 bytes big-endian), got str"
    );
}

// ------------------------------------------------ ABI 2: io area, effects

fn calls_of(method: fn(), input: &[u8]) -> (Result<Vec<u8>, String>, Vec<&'static str>) {
    mock::take_host_calls();
    let r = mock::invoke(method, input);
    (r, mock::take_host_calls())
}

entry! {
    fn entry_returns(_args) -> u64 {
        storage::set(b"k", b"v");
        emit("E", b"");
        7
    }
}

#[test]
fn an_entry_method_flushes_once_when_it_returns() {
    mock::reset();
    // called directly inside another method: entry! itself leaves nothing pending
    fn outer() {
        entry_returns();
        assert_eq!(io::pending_len(), 0);
        assert_eq!(mock::storage_get(b"k").unwrap(), b"v");
    }
    let (r, calls) = calls_of(outer, &[]);
    assert_eq!(r.unwrap(), [7]);
    assert_eq!(calls, ["apply_effects"]);
    let (r, calls) = calls_of(entry_returns, &[]);
    assert_eq!(r.unwrap(), [7]);
    assert_eq!(calls, ["apply_effects"], "one host call for a write, an event and the return data");
    assert_eq!(mock::take_events().len(), 2);
}

#[test]
fn reads_see_pending_writes_as_copies() {
    fn m() {
        storage::set(b"k", b"one");
        assert!(io::pending_len() > 0);
        assert_eq!(storage::get(b"k"), Some(&b"one"[..]));
        assert!(storage::has(b"k"));
        storage::set(b"k", b"two!");
        let v = storage::get(b"k").unwrap();
        assert_eq!(v, b"two!", "the newest pending write wins");
        // the host has not seen it yet
        assert_eq!(mock::storage_get(b"k"), None);
        // the value is a copy: reusing the buffer after a flush leaves it alone
        flush();
        assert_eq!(mock::storage_get(b"k").unwrap(), b"two!");
        storage::set(b"x", b"ZZZZZZZZZZZZZZZZ");
        assert_eq!(v, b"two!");
        // an empty value is a value; the host's values are read as before
        storage::set(b"e", b"");
        assert_eq!(storage::get(b"e"), Some(&b""[..]));
        assert_eq!(storage::get(b"h"), Some(&b"host"[..]));
        assert_eq!(storage::get(b"nope"), None);
        assert!(!storage::has(b"nope"));
    }
    mock::reset();
    mock::storage_set(b"h", b"host");
    let (r, calls) = calls_of(m, &[]);
    r.unwrap();
    assert_eq!(calls, ["apply_effects", "storage_read", "storage_read", "storage_has", "apply_effects"]);
    assert_eq!(mock::storage_get(b"x").unwrap(), b"ZZZZZZZZZZZZZZZZ");
    assert_eq!(mock::storage_get(b"e").unwrap(), b"");
}

#[test]
fn write_then_remove_then_get() {
    fn m() {
        storage::set(b"k", b"v");
        assert!(storage::remove(b"k"), "the pending write is applied first, so the key was present");
        assert_eq!(storage::get(b"k"), None);
        assert!(!storage::has(b"k"));
        assert!(!storage::remove(b"k"));
        storage::set(b"k", b"again");
        assert_eq!(storage::get(b"k"), Some(&b"again"[..]));
    }
    mock::reset();
    let (r, calls) = calls_of(m, &[]);
    r.unwrap();
    assert_eq!(
        calls,
        ["apply_effects", "storage_remove", "storage_read", "storage_has", "storage_remove", "apply_effects"]
    );
    assert_eq!(mock::storage_get(b"k").unwrap(), b"again");
}

#[test]
fn events_and_writes_keep_their_order_across_a_call() {
    fn m() {
        emit("Before", b"1");
        storage::set(b"k", b"before");
        let r = call(&[5; 20], "f", b"", 0, 0).unwrap();
        assert_eq!(r, b"seen");
        emit("After", b"2");
        storage::set(b"k", b"after");
        debug_log("logged");
        emit("Last", b"3");
    }
    mock::reset();
    mock::on_call(|_| {
        // the callee runs after the caller's earlier effects are applied
        assert_eq!(mock::storage_get(b"k").unwrap(), b"before");
        let names: Vec<String> = mock::take_events().into_iter().map(|e| e.name).collect();
        assert_eq!(names, ["Before"]);
        unsafe { sys::event_emit(b"Callee".as_ptr(), 6, b"".as_ptr(), 0) };
        mock::storage_set(b"k", b"callee");
        (0, b"seen".to_vec())
    });
    let (r, calls) = calls_of(m, &[]);
    r.unwrap();
    // (the "event_emit" is the handler's, standing for the callee's event)
    assert_eq!(
        calls,
        ["apply_effects", "call", "event_emit", "call_result_read", "apply_effects", "debug_log", "apply_effects"]
    );
    let names: Vec<String> = mock::take_events().into_iter().map(|e| e.name).collect();
    assert_eq!(names, ["Callee", "After", "Last"]);
    assert_eq!(mock::storage_get(b"k").unwrap(), b"after");
}

#[test]
fn an_abort_applies_nothing_pending() {
    fn m() {
        storage::set(b"k", b"v");
        emit("E", b"");
        return_raw(b"r");
        abort("no");
    }
    mock::reset();
    let (r, calls) = calls_of(m, &[]);
    assert_eq!(r.unwrap_err(), "no");
    assert_eq!(calls, ["abort"]);
    assert_eq!(mock::storage_len(), 0);
    assert!(mock::take_events().is_empty());
}

#[test]
fn a_record_bigger_than_the_buffer_goes_alone() {
    fn m() {
        let big = [7u8; io::PENDING_SIZE];
        storage::set(b"small", b"1");
        storage::set(b"big", &big); // flush, then storage_write
        assert_eq!(storage::get(b"big").unwrap(), &big[..]); // from the host
        emit("Small", b"");
        emit("Big", &big); // flush, then event_emit
        storage::set(b"small", b"2");
        return_raw(&big); // flush, then return_set
        storage::set(b"last", b"3");
    }
    mock::reset();
    let (r, calls) = calls_of(m, &[]);
    assert_eq!(r.unwrap(), [7u8; io::PENDING_SIZE]);
    assert_eq!(
        calls,
        [
            "apply_effects",
            "storage_write",
            "storage_read", // natively the arena offers 64 bytes first,
            "storage_read", // then the value's length
            "apply_effects",
            "event_emit",
            "apply_effects",
            "return_set",
            "apply_effects"
        ]
    );
    assert_eq!(mock::storage_get(b"small").unwrap(), b"2");
    assert_eq!(mock::storage_get(b"big").unwrap().len(), io::PENDING_SIZE);
    assert_eq!(mock::storage_get(b"last").unwrap(), b"3");
    let names: Vec<String> = mock::take_events().into_iter().map(|e| e.name).collect();
    assert_eq!(names, ["Small", "Big"]);
    // a record of exactly the buffer's size still fits (after a flush)
    fn exact() {
        storage::set(b"a", b"");
        let v = [1u8; io::PENDING_SIZE - 9 - 1];
        storage::set(b"b", &v);
    }
    let (r, calls) = calls_of(exact, &[]);
    r.unwrap();
    assert_eq!(calls, ["apply_effects", "apply_effects"]);
    assert_eq!(mock::storage_get(b"b").unwrap().len(), io::PENDING_SIZE - 10);
}

#[test]
fn more_records_than_fit_flush_several_times_in_order() {
    fn m() {
        for i in 0..100u64 {
            let key = storage::Key::new(b"k").u64(i);
            storage::set(&key, &[i as u8; 100]);
            emit("Wrote", &i.to_le_bytes());
            if i % 10 == 9 {
                // every value written so far reads back, pending or applied
                for j in 0..=i {
                    assert_eq!(storage::get(&storage::Key::new(b"k").u64(j)).unwrap(), &[j as u8; 100][..]);
                }
            }
        }
        storage::set(b"done", b"");
    }
    mock::reset();
    let (r, calls) = calls_of(m, &[]);
    r.unwrap();
    // each iteration: a write of 1+8+9+100 bytes and an event of 1+8+5+8
    let per = (1 + 8 + 9 + 100) + (1 + 8 + 5 + 8);
    let flushes = calls.iter().filter(|c| **c == "apply_effects").count();
    assert!(flushes >= (100 * per) / io::PENDING_SIZE + 1, "{} flushes", flushes);
    assert_eq!(calls.iter().filter(|c| **c != "apply_effects" && **c != "storage_read").count(), 0);
    assert_eq!(mock::storage_len(), 101);
    for i in 0..100u64 {
        assert_eq!(mock::storage_get(&storage::Key::new(b"k").u64(i)).unwrap(), vec![i as u8; 100]);
    }
    let events = mock::take_events();
    assert_eq!(events.len(), 100);
    assert!(events.iter().enumerate().all(|(i, e)| e.data == (i as u64).to_le_bytes()));
}

#[test]
fn input_from_the_io_area_up_to_3980_bytes() {
    fn echo() {
        return_raw(input());
        assert_eq!(input().len(), mock_input_len());
    }
    fn mock_input_len() -> usize {
        let a = io::area().unwrap();
        u32::from_le_bytes([a[112], a[113], a[114], a[115]]) as usize
    }
    mock::reset();
    for n in [0, 1, 3979, 3980, 3981, 5000, 100_000] {
        let data: Vec<u8> = (0..n).map(|i| (i % 251) as u8).collect();
        let (r, calls) = calls_of(echo, &data);
        assert_eq!(r.unwrap(), data, "{} bytes", n);
        let reads = calls.iter().filter(|c| **c == "input_read").count();
        // natively the arena offers 64 bytes first, then the input's length
        let want = if n <= io::IO_INPUT_MAX { 0 } else { 2 };
        assert_eq!(reads, want, "{} bytes: {:?}", n, calls);
    }
    // the arguments of a method come from the io area too
    mock::reset();
    let (r, calls) = calls_of(
        || {
            args_of_io();
        },
        msgpack::encode_map(&[("n", &5u64)]),
    );
    r.unwrap();
    assert_eq!(calls, ["apply_effects"]);
    fn args_of_io() {
        return_value(&args().u64("n"));
    }
}

#[test]
fn env_from_the_io_area_until_a_transfer_or_call() {
    fn m() {
        let e = env();
        assert_eq!((e.caller, e.self_address, e.height, e.balance), ([1; 20], [2; 20], 9, 15));
        assert_eq!(env().balance, 15);
        transfer(&[6; 20], 10).unwrap();
        assert_eq!(env().balance, 5, "after a transfer, the balance is the host's");
        assert_eq!(caller(), [1; 20]);
        assert_eq!(self_address(), [2; 20]);
    }
    mock::reset();
    mock::set_env(Env { caller: [1; 20], self_address: [2; 20], origin: [1; 20], height: 9, timestamp: 0, value: 0, balance: 15 });
    let (r, calls) = calls_of(m, &[]);
    r.unwrap();
    assert_eq!(calls, ["transfer", "env_read"]);
    // a call makes it stale too, whatever its outcome
    fn c() {
        assert_eq!(caller(), [1; 20]);
        let _ = call(&[5; 20], "f", b"", 0, 0);
        assert_eq!(env().caller, [1; 20]);
    }
    let (r, calls) = calls_of(c, &[]);
    r.unwrap();
    assert_eq!(calls, ["call", "call_result_read", "env_read"]);
    // outside a method (no io area), env() asks the host
    mock::take_host_calls();
    assert_eq!(crate::env().balance, 5);
    assert_eq!(mock::take_host_calls(), ["env_read"]);
}

#[test]
fn malformed_effects_trap() {
    let bad: &[&[u8]] = &[
        &[9],                          // unknown tag
        &[1, 1, 0, 0],                 // header cut short
        &[1, 1, 0, 0, 0, 1, 0, 0, 0],  // key and value missing
        &[3, 5, 0, 0, 0, 1, 2],        // return data cut short
        &[2, 1, 0, 0, 0, 0, 0, 0, 0, 0xff], // a name that is not UTF-8
    ];
    for b in bad {
        let b = b.to_vec();
        let r = std::panic::catch_unwind(|| unsafe { sys::apply_effects(b.as_ptr(), b.len()) });
        assert!(r.is_err(), "{:?}", b);
    }
    mock::reset();
    let ok = [3u8, 2, 0, 0, 0, b'h', b'i', 1, 1, 0, 0, 0, 0, 0, 0, 0, b'k'];
    unsafe { sys::apply_effects(ok.as_ptr(), ok.len()) };
    assert_eq!(mock::storage_get(b"k").unwrap(), b"");
}
