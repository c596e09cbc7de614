//! A vault that holds tokens of a token contract and calls it.
//!
//! - `init {"token": ADDRESS}`: records the token contract, and the caller
//!   as the owner; only once.
//! - `withdraw {"to": ADDRESS, "amount": N}`: owner only; calls
//!   `token.transfer {"to", "amount"}`, so the vault's own tokens move.
//! - `balance {}` -> uint: `token.balance_of {"owner": <this vault>}`
//! - `token {}` -> bin20: the token contract's address.
//!
//! Storage: `token` -> 20 bytes, `owner` -> 20 bytes.

#![cfg_attr(target_arch = "wasm32", no_std)]

use wasmchain_sdk::msgpack::{self, Value};
use wasmchain_sdk::{abort, call, entry, env, storage, Address, Hex};

wasmchain_sdk::interface!("../vault.wit");

const TOKEN: &[u8] = b"token";
const OWNER: &[u8] = b"owner";

fn token_address() -> Address {
    match storage::get_address(TOKEN) {
        Some(a) => a,
        None => abort("not initialized"),
    }
}

entry! {
    fn init(args) {
        let token = args.address("token");
        if storage::has(TOKEN) {
            abort("already initialized");
        }
        storage::set_address(TOKEN, &token);
        storage::set_address(OWNER, &env().caller);
    }

    fn withdraw(args) {
        let to = args.address("to");
        let amount = args.u64("amount");
        let token = token_address();
        let caller = env().caller;
        let owner = storage::get_address(OWNER).unwrap_or([0; 20]);
        if caller != owner {
            wasmchain_sdk::abort!("only the owner can withdraw: caller {} is not {}", Hex(&caller), Hex(&owner));
        }
        let token_args = msgpack::encode_map(&[("to", &to), ("amount", &amount)]);
        if let Err(e) = call(&token, "transfer", token_args, 0, 0) {
            wasmchain_sdk::abort!("token transfer failed: {}", e);
        }
    }

    fn balance(_args) -> u64 {
        let token = token_address();
        let me = env().self_address;
        let token_args = msgpack::encode_map(&[("owner", &me)]);
        let ret = match call(&token, "balance_of", token_args, 0, 0) {
            Ok(r) => r,
            Err(e) => wasmchain_sdk::abort!("token balance_of failed: {}", e),
        };
        match msgpack::decode(ret) {
            Ok(Value::Uint(n)) => n,
            _ => abort("token balance_of returned something other than an unsigned integer"),
        }
    }

    fn token(_args) -> Address {
        token_address()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::rc::Rc;
    use wasmchain_sdk::mock;
    use wasmchain_sdk::msgpack::{decode, Encode};

    const OWNER_A: Address = [0x0a; 20];
    const TOKEN_A: Address = [0x70; 20];
    const VAULT_A: Address = [0x7a; 20];
    const BOB: Address = [0xb0; 20];

    fn args(entries: &[(&str, &dyn Encode)]) -> Vec<u8> {
        msgpack::encode_map(entries).to_vec()
    }
    fn setup() {
        mock::reset();
        mock::set_caller(OWNER_A);
        mock::set_self_address(VAULT_A);
        mock::invoke(init, &args(&[("token", &TOKEN_A)])).unwrap();
    }

    #[test]
    fn init_once_and_token() {
        setup();
        assert_eq!(mock::invoke(token, &[]).unwrap(), msgpack::encode(&TOKEN_A));
        assert_eq!(mock::invoke(init, &args(&[("token", &BOB)])).unwrap_err(), "already initialized");
        assert_eq!(decode(&mock::invoke(token, &[]).unwrap()).unwrap(), Value::Bin(&TOKEN_A));
    }

    #[test]
    fn withdraw_calls_the_token() {
        setup();
        mock::on_call(|_| (0, vec![]));
        mock::invoke(withdraw, &args(&[("to", &BOB), ("amount", &5u64)])).unwrap();
        let calls = mock::take_calls();
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].addr, TOKEN_A);
        assert_eq!(calls[0].method, "transfer");
        assert_eq!(calls[0].args, args(&[("to", &BOB), ("amount", &5u64)]));
        assert_eq!((calls[0].value, calls[0].gas), (0, 0));
    }

    #[test]
    fn host_calls() {
        setup();
        mock::on_call(|_| (0, msgpack::encode(&7u64).to_vec()));
        mock::take_host_calls();
        mock::invoke(withdraw, &args(&[("to", &BOB), ("amount", &5u64)])).unwrap();
        // the input and the caller come from the io area (ABI 1: 6 host calls)
        assert_eq!(mock::take_host_calls(), ["storage_read", "storage_read", "call", "call_result_read"]);
        mock::invoke(balance, &[]).unwrap();
        assert_eq!(mock::take_host_calls(), ["storage_read", "call", "call_result_read", "apply_effects"]);
        mock::reset();
        mock::invoke(init, &args(&[("token", &TOKEN_A)])).unwrap();
        assert_eq!(mock::take_host_calls(), ["storage_has", "apply_effects"]);
    }

    #[test]
    fn withdraw_reports_the_token_error() {
        setup();
        mock::on_call(|_| (1, b"insufficient balance: have 0, need 5".to_vec()));
        let err = mock::invoke(withdraw, &args(&[("to", &BOB), ("amount", &5u64)])).unwrap_err();
        assert_eq!(err, "token transfer failed: insufficient balance: have 0, need 5");
        mock::on_call(|_| (2, b"out of gas".to_vec()));
        let err = mock::invoke(withdraw, &args(&[("to", &BOB), ("amount", &5u64)])).unwrap_err();
        assert_eq!(err, "token transfer failed: out of gas: out of gas");
    }

    #[test]
    fn withdraw_is_owner_only() {
        setup();
        mock::set_caller(BOB);
        let err = mock::invoke(withdraw, &args(&[("to", &BOB), ("amount", &5u64)])).unwrap_err();
        assert!(err.starts_with("only the owner can withdraw: caller 0xb0b0"), "{}", err);
        assert!(mock::take_calls().is_empty());
    }

    #[test]
    fn balance_asks_for_the_vault_own_balance() {
        setup();
        let seen = Rc::new(RefCell::new(Vec::new()));
        let s = seen.clone();
        mock::on_call(move |r| {
            s.borrow_mut().push(r.clone());
            (0, msgpack::encode(&1234u64).to_vec())
        });
        assert_eq!(mock::invoke(balance, &[]).unwrap(), msgpack::encode(&1234u64));
        let r = &seen.borrow()[0];
        assert_eq!((r.addr, r.method.as_str()), (TOKEN_A, "balance_of"));
        assert_eq!(r.args, args(&[("owner", &VAULT_A)]));
    }

    #[test]
    fn not_initialized() {
        mock::reset();
        assert_eq!(mock::invoke(token, &[]).unwrap_err(), "not initialized");
        assert_eq!(mock::invoke(balance, &[]).unwrap_err(), "not initialized");
    }
}
