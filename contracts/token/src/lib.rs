//! A fungible token with u64 amounts.
//!
//! - `init {"supply": N}`: credits N to the caller; only once.
//! - `transfer {"to": ADDRESS, "amount": N}`: moves N from the caller.
//! - `balance_of {"owner": ADDRESS}` -> uint
//! - `total_supply {}` -> uint
//!
//! Every transfer (and the mint in `init`, from the zero address) emits an
//! event `Transfer` with data `{"from": bin20, "to": bin20, "amount": uint}`.
//!
//! Storage: `supply` -> u64 LE (present once initialized);
//! `b` + owner (21 bytes) -> u64 LE balance (absent = 0).

#![cfg_attr(target_arch = "wasm32", no_std)]

use wasmchain_sdk::storage::{self, Key};
use wasmchain_sdk::{abort, caller, emit, entry, msgpack, Address, ZERO_ADDRESS};

wasmchain_sdk::interface!("../token.wit");

const SUPPLY: &[u8] = b"supply";

fn balance_key(owner: &Address) -> Key {
    Key::new(b"b").bytes(owner)
}

fn balance(owner: &Address) -> u64 {
    storage::get_u64(&balance_key(owner)).unwrap_or(0)
}

fn set_balance(owner: &Address, amount: u64) {
    storage::set_u64(&balance_key(owner), amount)
}

fn emit_transfer(from: &Address, to: &Address, amount: u64) {
    let data = msgpack::encode_map(&[("from", from), ("to", to), ("amount", &amount)]);
    emit("Transfer", data);
}

entry! {
    fn init(args) {
        let supply = args.u64("supply");
        if storage::has(SUPPLY) {
            abort("already initialized");
        }
        let owner = caller();
        storage::set_u64(SUPPLY, supply);
        set_balance(&owner, supply);
        emit_transfer(&ZERO_ADDRESS, &owner, supply);
    }

    fn transfer(args) {
        let to = args.address("to");
        let amount = args.u64("amount");
        if !storage::has(SUPPLY) {
            abort("not initialized");
        }
        let from = caller();
        let have = balance(&from);
        if have < amount {
            wasmchain_sdk::abort!("insufficient balance: have {}, need {}", have, amount);
        }
        set_balance(&from, have - amount);
        // Read after the debit, so a transfer to oneself changes nothing.
        let to_balance = match balance(&to).checked_add(amount) {
            Some(b) => b,
            None => abort("balance overflow"),
        };
        set_balance(&to, to_balance);
        emit_transfer(&from, &to, amount);
    }

    fn balance_of(args) -> u64 {
        balance(&args.address("owner"))
    }

    fn total_supply(_args) -> u64 {
        storage::get_u64(SUPPLY).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmchain_sdk::mock;
    use wasmchain_sdk::msgpack::{decode, Encode, Value};

    const ALICE: Address = [0xa1; 20];
    const BOB: Address = [0xb0; 20];

    fn args(entries: &[(&str, &dyn Encode)]) -> Vec<u8> {
        msgpack::encode_map(entries).to_vec()
    }
    fn uint(ret: Vec<u8>) -> u64 {
        decode(&ret).unwrap().as_u64().unwrap()
    }
    fn balance_of_(who: &Address) -> u64 {
        uint(mock::invoke(balance_of, &args(&[("owner", who)])).unwrap())
    }
    fn setup(supply: u64) {
        mock::reset();
        mock::set_caller(ALICE);
        mock::invoke(init, &args(&[("supply", &supply)])).unwrap();
        mock::take_events();
    }
    fn transfer_event(from: &Address, to: &Address, amount: u64) -> mock::Event {
        mock::Event { name: "Transfer".into(), data: args(&[("from", from), ("to", to), ("amount", &amount)]) }
    }

    #[test]
    fn init_mints_to_the_caller_once() {
        mock::reset();
        mock::set_caller(ALICE);
        assert_eq!(mock::invoke(init, &args(&[("supply", &1000u64)])).unwrap(), b"");
        assert_eq!(mock::take_events(), vec![transfer_event(&ZERO_ADDRESS, &ALICE, 1000)]);
        assert_eq!(uint(mock::invoke(total_supply, &[]).unwrap()), 1000);
        assert_eq!(balance_of_(&ALICE), 1000);
        assert_eq!(balance_of_(&BOB), 0);
        assert_eq!(mock::invoke(init, &args(&[("supply", &5u64)])).unwrap_err(), "already initialized");
        assert_eq!(uint(mock::invoke(total_supply, &[]).unwrap()), 1000);
    }

    #[test]
    fn transfer_moves_and_emits() {
        setup(100);
        mock::invoke(transfer, &args(&[("to", &BOB), ("amount", &30u64)])).unwrap();
        assert_eq!(balance_of_(&ALICE), 70);
        assert_eq!(balance_of_(&BOB), 30);
        assert_eq!(mock::take_events(), vec![transfer_event(&ALICE, &BOB, 30)]);
        // to oneself: nothing changes, the event is still emitted
        mock::invoke(transfer, &args(&[("to", &ALICE), ("amount", &70u64)])).unwrap();
        assert_eq!(balance_of_(&ALICE), 70);
        assert_eq!(mock::take_events(), vec![transfer_event(&ALICE, &ALICE, 70)]);
    }

    #[test]
    fn a_transfer_makes_four_host_calls() {
        setup(100);
        mock::take_host_calls();
        mock::invoke(transfer, &args(&[("to", &BOB), ("amount", &30u64)])).unwrap();
        // the input and the caller come from the io area; both writes and
        // the event go in one apply_effects (ABI 1: 8 host calls)
        assert_eq!(mock::take_host_calls(), ["storage_has", "storage_read", "storage_read", "apply_effects"]);
        // to oneself, the credit reads the pending debit
        mock::invoke(transfer, &args(&[("to", &ALICE), ("amount", &1u64)])).unwrap();
        assert_eq!(mock::take_host_calls(), ["storage_has", "storage_read", "apply_effects"]);
        assert_eq!(balance_of_(&ALICE), 70);
    }

    #[test]
    fn overdraft_is_refused() {
        setup(5);
        let err = mock::invoke(transfer, &args(&[("to", &BOB), ("amount", &10u64)])).unwrap_err();
        assert_eq!(err, "insufficient balance: have 5, need 10");
        assert_eq!(balance_of_(&ALICE), 5);
        assert!(mock::take_events().is_empty());
    }

    #[test]
    fn overflow_is_refused() {
        setup(u64::MAX);
        mock::set_caller(BOB);
        mock::invoke(init, &[]).unwrap_err();
        mock::storage_set(&balance_key(&BOB), &1u64.to_le_bytes());
        let err = mock::invoke(transfer, &args(&[("to", &ALICE), ("amount", &1u64)])).unwrap_err();
        assert_eq!(err, "balance overflow");
        assert_eq!(balance_of_(&BOB), 1);
    }

    #[test]
    fn bad_args_name_the_argument() {
        setup(5);
        let e = |input: Vec<u8>| mock::invoke(transfer, &input).unwrap_err();
        assert_eq!(e(args(&[("amount", &1u64)])), "missing argument \"to\"");
        assert_eq!(e(args(&[("to", &BOB)])), "missing argument \"amount\"");
        assert_eq!(
            e(args(&[("to", &"0xb0b0"), ("amount", &1u64)])),
            "argument \"to\" must be an address (bin of 20 bytes), got str"
        );
        assert_eq!(
            e(args(&[("to", &[1u8; 19]), ("amount", &1u64)])),
            "argument \"to\" must be an address (bin of 20 bytes), got bin of 19 bytes"
        );
        assert_eq!(
            e(args(&[("to", &BOB), ("amount", &-1i64)])),
            "argument \"amount\" must be an unsigned integer (u64), got negative int -1"
        );
        assert_eq!(e(vec![0x91, 0x01]), "arguments must be a msgpack map, got array");
        assert_eq!(e(vec![0xcb, 0, 0, 0, 0, 0, 0, 0, 0]), "arguments: msgpack: unsupported type float (marker 0xcb)");
        assert_eq!(
            mock::invoke(init, &args(&[("supply", &true)])).unwrap_err(),
            "argument \"supply\" must be an unsigned integer (u64), got bool"
        );
    }

    #[test]
    fn uninitialized_token() {
        mock::reset();
        mock::set_caller(ALICE);
        assert_eq!(uint(mock::invoke(total_supply, &[]).unwrap()), 0);
        assert_eq!(
            mock::invoke(transfer, &args(&[("to", &BOB), ("amount", &0u64)])).unwrap_err(),
            "not initialized"
        );
        let _ = Value::Nil;
    }
}
