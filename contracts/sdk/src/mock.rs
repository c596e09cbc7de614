//! An in-process mock of the host, for native `cargo test` of contract
//! logic (only on non-wasm targets). It implements the ABI functions with
//! the same Rust signatures as the wasm imports, so the SDK's wrappers run
//! unchanged. State is per thread (cargo runs tests on several threads).
//!
//! ```ignore
//! mock::reset();
//! mock::set_caller([1; 20]);
//! let ret = mock::invoke(increment, &[]).unwrap();   // msgpack return data
//! let err = mock::invoke(init, b"\x80").unwrap_err(); // the abort message
//! ```
//!
//! `debug_log` lines are collected ([`take_logs`]) and, like the host's,
//! kept when the call aborts.
//!
//! As the ABI 2 host does, [`invoke`] fills an io area (the environment
//! record and the input, if it is at most 3980 bytes) before the method
//! runs, and `apply_effects` applies the records of the SDK's pending
//! buffer; so native tests go through the same paths as a contract on the
//! chain: pending writes, reads that see them, flushes before a call, a
//! transfer, a removal or a debug log, the balance read with `env_read`
//! after a transfer or call. [`take_host_calls`] lists the host functions
//! called, in order (the crossings a method makes on the chain).
//!
//! Not modelled: gas, limits, sha256 and ed25519 (they panic), nested
//! calls into real contracts (register a handler with [`on_call`]).

use std::boxed::Box;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::string::{String, ToString};
use std::vec::Vec;

use crate::io::{IO_INPUT, IO_INPUT_LEN, IO_INPUT_MAX, IO_SIZE, TAG_EVENT, TAG_RETURN, TAG_WRITE};
use crate::{Address, Env, ENV_SIZE};

/// The panic payload of a mock `abort`.
#[derive(Debug)]
pub struct Aborted(pub String);

/// An emitted event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub name: String,
    pub data: Vec<u8>,
}

/// A cross-contract call seen by the handler of [`on_call`].
#[derive(Clone, Debug)]
pub struct CallRequest {
    pub addr: Address,
    pub method: String,
    pub args: Vec<u8>,
    pub value: u128,
    pub gas: u64,
}

type Handler = Box<dyn FnMut(&CallRequest) -> (u32, Vec<u8>)>;

struct State {
    storage: BTreeMap<Vec<u8>, Vec<u8>>,
    input: Vec<u8>,
    ret: Vec<u8>,
    events: Vec<Event>,
    env: Env,
    last_call: Vec<u8>,
    handler: Option<Handler>,
    calls: Vec<CallRequest>,
    transfers: Vec<(Address, u128)>,
    logs: Vec<String>,
    host_calls: Vec<&'static str>,
}

impl State {
    fn new() -> State {
        State {
            storage: BTreeMap::new(),
            input: Vec::new(),
            ret: Vec::new(),
            events: Vec::new(),
            env: Env {
                caller: [0; 20],
                self_address: [0; 20],
                origin: [0; 20],
                height: 0,
                timestamp: 0,
                value: 0,
                balance: 0,
            },
            last_call: Vec::new(),
            handler: None,
            calls: Vec::new(),
            transfers: Vec::new(),
            logs: Vec::new(),
            host_calls: Vec::new(),
        }
    }
}

std::thread_local! {
    static STATE: RefCell<State> = RefCell::new(State::new());
}

fn with<R>(f: impl FnOnce(&mut State) -> R) -> R {
    STATE.with(|s| f(&mut s.borrow_mut()))
}

/// Clears everything: storage, events, environment, handler, the host
/// calls seen, and the SDK's state outside a call.
pub fn reset() {
    with(|s| *s = State::new());
    crate::io::leave(core::ptr::null_mut());
}

pub fn set_env(env: Env) {
    with(|s| s.env = env);
}
pub fn env() -> Env {
    with(|s| s.env)
}
/// Sets the caller (and the origin).
pub fn set_caller(caller: Address) {
    with(|s| {
        s.env.caller = caller;
        s.env.origin = caller;
    });
}
pub fn set_self_address(addr: Address) {
    with(|s| s.env.self_address = addr);
}
pub fn storage_get(key: &[u8]) -> Option<Vec<u8>> {
    with(|s| s.storage.get(key).cloned())
}
pub fn storage_set(key: &[u8], value: &[u8]) {
    with(|s| s.storage.insert(key.to_vec(), value.to_vec()));
}
pub fn storage_len() -> usize {
    with(|s| s.storage.len())
}
/// Events emitted since the last [`reset`] or [`take_events`].
pub fn take_events() -> Vec<Event> {
    with(|s| std::mem::take(&mut s.events))
}
/// Cross-contract calls made so far.
pub fn take_calls() -> Vec<CallRequest> {
    with(|s| std::mem::take(&mut s.calls))
}
/// Native transfers made so far.
pub fn take_transfers() -> Vec<(Address, u128)> {
    with(|s| std::mem::take(&mut s.transfers))
}
/// `debug_log` messages since the last [`reset`] or [`take_logs`], in
/// order, those of aborted calls included (as on the chain). Invalid UTF-8
/// is replaced with U+FFFD, as the host does.
pub fn take_logs() -> Vec<String> {
    with(|s| std::mem::take(&mut s.logs))
}
/// The host functions called since the last [`reset`] or
/// [`take_host_calls`], in order, by their ABI names (`"storage_read"`,
/// `"apply_effects"`, ...): the host crossings on the chain. Filling the
/// io area before a method is not a call.
pub fn take_host_calls() -> Vec<&'static str> {
    with(|s| std::mem::take(&mut s.host_calls))
}
/// Answers cross-contract calls: the handler returns `(status, result)`.
/// Without one, every call gets status 4.
pub fn on_call(f: impl FnMut(&CallRequest) -> (u32, Vec<u8>) + 'static) {
    with(|s| s.handler = Some(Box::new(f)));
}

fn install_quiet_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<Aborted>().is_none() {
                default(info)
            }
        }));
    });
}

/// The io area the host writes before a method runs: the environment
/// record, the input's length, and the input if it is at most 3980 bytes.
pub fn io_area(env: &Env, input: &[u8]) -> [u8; IO_SIZE] {
    let mut a = [0u8; IO_SIZE];
    a[..ENV_SIZE].copy_from_slice(&env.to_bytes());
    a[IO_INPUT_LEN..IO_INPUT].copy_from_slice(&(input.len() as u32).to_le_bytes());
    if input.len() <= IO_INPUT_MAX {
        a[IO_INPUT..IO_INPUT + input.len()].copy_from_slice(input);
    }
    a
}

/// Runs a method as the host would: a fresh input, an io area filled,
/// empty return data; on success (the pending effects applied, as
/// [`crate::entry!`] does, so a plain `fn` works too) the return data, on
/// abort (or panic) the message, with the call's storage writes, events
/// and transfers reverted (its debug logs are kept). May be nested (e.g.
/// from an [`on_call`] handler): the outer call's state is kept aside.
pub fn invoke(method: fn(), input: &[u8]) -> Result<Vec<u8>, String> {
    install_quiet_hook();
    let (storage, n_events, n_transfers, env, outer_input, outer_ret) = with(|s| {
        let outer_input = std::mem::replace(&mut s.input, input.to_vec());
        let outer_ret = std::mem::take(&mut s.ret);
        (s.storage.clone(), s.events.len(), s.transfers.len(), s.env, outer_input, outer_ret)
    });
    // Leaked: the SDK hands the input out as a slice of it.
    let area: &'static [u8; IO_SIZE] = Box::leak(Box::new(io_area(&env, input)));
    let prev = crate::io::enter(Some(area));
    let r = std::panic::catch_unwind(|| {
        method();
        crate::io::flush();
    });
    crate::io::leave(prev);
    let ret = with(|s| {
        s.input = outer_input;
        std::mem::replace(&mut s.ret, outer_ret)
    });
    match r {
        Ok(()) => Ok(ret),
        Err(p) => {
            with(|s| {
                s.storage = storage;
                s.events.truncate(n_events);
                s.transfers.truncate(n_transfers);
                s.env = env;
            });
            Err(if let Some(a) = p.downcast_ref::<Aborted>() {
                a.0.clone()
            } else if let Some(m) = p.downcast_ref::<&str>() {
                std::format!("panicked: {}", m)
            } else if let Some(m) = p.downcast_ref::<String>() {
                std::format!("panicked: {}", m)
            } else {
                "panicked".to_string()
            })
        }
    }
}

/// The ABI functions (see `crate::sys`).
#[allow(clippy::missing_safety_doc)]
pub mod sys {
    use super::*;
    use core::slice;

    fn log(name: &'static str) {
        with(|s| s.host_calls.push(name));
    }
    unsafe fn bytes<'a>(p: *const u8, n: usize) -> &'a [u8] {
        if n == 0 {
            &[]
        } else {
            slice::from_raw_parts(p, n)
        }
    }
    unsafe fn copy_out(data: &[u8], out: *mut u8, cap: usize) {
        if data.len() <= cap && !data.is_empty() {
            slice::from_raw_parts_mut(out, data.len()).copy_from_slice(data);
        }
    }

    pub unsafe fn input_read(out_ptr: *mut u8, out_cap: usize) -> u32 {
        log("input_read");
        with(|s| {
            copy_out(&s.input, out_ptr, out_cap);
            s.input.len() as u32
        })
    }
    pub unsafe fn return_set(ptr: *const u8, len: usize) {
        log("return_set");
        let d = bytes(ptr, len).to_vec();
        with(|s| s.ret = d);
    }
    pub unsafe fn abort(msg_ptr: *const u8, msg_len: usize) -> ! {
        log("abort");
        let mut m = bytes(msg_ptr, msg_len);
        if m.len() > crate::MAX_ABORT_MESSAGE {
            m = &m[..crate::MAX_ABORT_MESSAGE];
        }
        std::panic::panic_any(Aborted(String::from_utf8_lossy(m).into_owned()))
    }
    pub unsafe fn storage_read(key_ptr: *const u8, key_len: usize, out_ptr: *mut u8, out_cap: usize) -> i64 {
        log("storage_read");
        let k = bytes(key_ptr, key_len);
        with(|s| match s.storage.get(k) {
            None => -1,
            Some(v) => {
                copy_out(v, out_ptr, out_cap);
                v.len() as i64
            }
        })
    }
    pub unsafe fn storage_write(key_ptr: *const u8, key_len: usize, val_ptr: *const u8, val_len: usize) {
        log("storage_write");
        let k = bytes(key_ptr, key_len).to_vec();
        let v = bytes(val_ptr, val_len).to_vec();
        with(|s| s.storage.insert(k, v));
    }
    pub unsafe fn storage_remove(key_ptr: *const u8, key_len: usize) -> u32 {
        log("storage_remove");
        let k = bytes(key_ptr, key_len);
        with(|s| s.storage.remove(k).is_some() as u32)
    }
    pub unsafe fn storage_has(key_ptr: *const u8, key_len: usize) -> u32 {
        log("storage_has");
        let k = bytes(key_ptr, key_len);
        with(|s| s.storage.contains_key(k) as u32)
    }
    pub unsafe fn event_emit(name_ptr: *const u8, name_len: usize, data_ptr: *const u8, data_len: usize) {
        log("event_emit");
        let name = std::str::from_utf8(bytes(name_ptr, name_len)).expect("event name must be UTF-8").to_string();
        let data = bytes(data_ptr, data_len).to_vec();
        with(|s| s.events.push(Event { name, data }));
    }
    pub unsafe fn apply_effects(ptr: *const u8, len: usize) {
        log("apply_effects");
        let b = bytes(ptr, len);
        let u32_at = |at: usize| -> usize {
            if at + 4 > b.len() {
                panic!("apply_effects: the record at {} runs past the buffer ({} bytes)", at, b.len());
            }
            u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]) as usize
        };
        let mut at = 0;
        while at < b.len() {
            let tag = b[at];
            let (head, n, m) = match tag {
                TAG_WRITE | TAG_EVENT => (9, u32_at(at + 1), u32_at(at + 5)),
                TAG_RETURN => (5, u32_at(at + 1), 0),
                t => panic!("apply_effects: unknown tag {} at {}", t, at),
            };
            let end = at + head + n + m;
            if end > b.len() {
                panic!("apply_effects: the record at {} runs past the buffer ({} bytes)", at, b.len());
            }
            let first = &b[at + head..at + head + n];
            let second = &b[at + head + n..end];
            match tag {
                TAG_WRITE => {
                    with(|s| s.storage.insert(first.to_vec(), second.to_vec()));
                }
                TAG_EVENT => {
                    let name = std::str::from_utf8(first).expect("event name must be UTF-8").to_string();
                    with(|s| s.events.push(Event { name, data: second.to_vec() }));
                }
                _ => with(|s| s.ret = first.to_vec()),
            }
            at = end;
        }
    }
    pub unsafe fn debug_log(msg_ptr: *const u8, msg_len: usize) {
        log("debug_log");
        let message = String::from_utf8_lossy(bytes(msg_ptr, msg_len)).into_owned();
        with(|s| s.logs.push(message));
    }
    pub unsafe fn env_read(out_ptr: *mut u8) {
        log("env_read");
        let r = with(|s| s.env.to_bytes());
        copy_out(&r, out_ptr, r.len());
    }
    pub unsafe fn sha256(_ptr: *const u8, _len: usize, _out_ptr: *mut u8) {
        log("sha256");
        panic!("sha256 is not available in the mock host")
    }
    pub unsafe fn ed25519_verify(_sig: *const u8, _pk: *const u8, _msg: *const u8, _msg_len: usize) -> u32 {
        log("ed25519_verify");
        panic!("ed25519_verify is not available in the mock host")
    }
    pub unsafe fn call(
        addr_ptr: *const u8,
        method_ptr: *const u8,
        method_len: usize,
        args_ptr: *const u8,
        args_len: usize,
        value_ptr: *const u8,
        gas: u64,
    ) -> u32 {
        log("call");
        let mut addr = [0u8; 20];
        addr.copy_from_slice(bytes(addr_ptr, 20));
        let mut v = [0u8; 16];
        v.copy_from_slice(bytes(value_ptr, 16));
        let req = CallRequest {
            addr,
            method: String::from_utf8_lossy(bytes(method_ptr, method_len)).into_owned(),
            args: bytes(args_ptr, args_len).to_vec(),
            value: u128::from_le_bytes(v),
            gas,
        };
        let handler = with(|s| {
            s.calls.push(req.clone());
            s.handler.take()
        });
        let (code, result) = match handler {
            Some(mut h) => {
                let r = h(&req);
                with(|s| s.handler = Some(h));
                r
            }
            None => (crate::call_status::NOT_FOUND, b"no contract at the address".to_vec()),
        };
        with(|s| s.last_call = result);
        code
    }
    pub unsafe fn call_result_read(out_ptr: *mut u8, out_cap: usize) -> u32 {
        log("call_result_read");
        with(|s| {
            copy_out(&s.last_call, out_ptr, out_cap);
            s.last_call.len() as u32
        })
    }
    pub unsafe fn transfer(to_ptr: *const u8, amount_ptr: *const u8) -> u32 {
        log("transfer");
        let mut to = [0u8; 20];
        to.copy_from_slice(bytes(to_ptr, 20));
        let mut a = [0u8; 16];
        a.copy_from_slice(bytes(amount_ptr, 16));
        let amount = u128::from_le_bytes(a);
        with(|s| {
            if s.env.balance < amount {
                1
            } else {
                s.env.balance -= amount;
                s.transfers.push((to, amount));
                0
            }
        })
    }
}
