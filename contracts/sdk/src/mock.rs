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
//! Not modelled: gas, limits, sha256 and ed25519 (they panic), nested
//! calls into real contracts (register a handler with [`on_call`]).

use std::boxed::Box;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::string::{String, ToString};
use std::vec::Vec;

use crate::{Address, Env};

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
        }
    }
}

std::thread_local! {
    static STATE: RefCell<State> = RefCell::new(State::new());
}

fn with<R>(f: impl FnOnce(&mut State) -> R) -> R {
    STATE.with(|s| f(&mut s.borrow_mut()))
}

/// Clears everything: storage, events, environment, handler.
pub fn reset() {
    with(|s| *s = State::new());
    crate::reset_input_cache();
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

/// Runs a method as the host would: a fresh input, empty return data; on
/// success the return data, on abort (or panic) the message, with the
/// call's storage writes, events and transfers reverted (its debug logs
/// are kept).
pub fn invoke(method: fn(), input: &[u8]) -> Result<Vec<u8>, String> {
    install_quiet_hook();
    crate::reset_input_cache();
    let (storage, n_events, n_transfers, env) = with(|s| {
        s.input = input.to_vec();
        s.ret.clear();
        (s.storage.clone(), s.events.len(), s.transfers.len(), s.env)
    });
    let r = std::panic::catch_unwind(method);
    crate::reset_input_cache();
    match r {
        Ok(()) => Ok(with(|s| std::mem::take(&mut s.ret))),
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
        with(|s| {
            copy_out(&s.input, out_ptr, out_cap);
            s.input.len() as u32
        })
    }
    pub unsafe fn return_set(ptr: *const u8, len: usize) {
        let d = bytes(ptr, len).to_vec();
        with(|s| s.ret = d);
    }
    pub unsafe fn abort(msg_ptr: *const u8, msg_len: usize) -> ! {
        let mut m = bytes(msg_ptr, msg_len);
        if m.len() > crate::MAX_ABORT_MESSAGE {
            m = &m[..crate::MAX_ABORT_MESSAGE];
        }
        std::panic::panic_any(Aborted(String::from_utf8_lossy(m).into_owned()))
    }
    pub unsafe fn storage_read(key_ptr: *const u8, key_len: usize, out_ptr: *mut u8, out_cap: usize) -> i64 {
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
        let k = bytes(key_ptr, key_len).to_vec();
        let v = bytes(val_ptr, val_len).to_vec();
        with(|s| s.storage.insert(k, v));
    }
    pub unsafe fn storage_remove(key_ptr: *const u8, key_len: usize) -> u32 {
        let k = bytes(key_ptr, key_len);
        with(|s| s.storage.remove(k).is_some() as u32)
    }
    pub unsafe fn storage_has(key_ptr: *const u8, key_len: usize) -> u32 {
        let k = bytes(key_ptr, key_len);
        with(|s| s.storage.contains_key(k) as u32)
    }
    pub unsafe fn event_emit(name_ptr: *const u8, name_len: usize, data_ptr: *const u8, data_len: usize) {
        let name = std::str::from_utf8(bytes(name_ptr, name_len)).expect("event name must be UTF-8").to_string();
        let data = bytes(data_ptr, data_len).to_vec();
        with(|s| s.events.push(Event { name, data }));
    }
    pub unsafe fn debug_log(msg_ptr: *const u8, msg_len: usize) {
        let message = String::from_utf8_lossy(bytes(msg_ptr, msg_len)).into_owned();
        with(|s| s.logs.push(message));
    }
    pub unsafe fn env_read(out_ptr: *mut u8) {
        let r = with(|s| s.env.to_bytes());
        copy_out(&r, out_ptr, r.len());
    }
    pub unsafe fn sha256(_ptr: *const u8, _len: usize, _out_ptr: *mut u8) {
        panic!("sha256 is not available in the mock host")
    }
    pub unsafe fn ed25519_verify(_sig: *const u8, _pk: *const u8, _msg: *const u8, _msg_len: usize) -> u32 {
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
        with(|s| {
            copy_out(&s.last_call, out_ptr, out_cap);
            s.last_call.len() as u32
        })
    }
    pub unsafe fn transfer(to_ptr: *const u8, amount_ptr: *const u8) -> u32 {
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
