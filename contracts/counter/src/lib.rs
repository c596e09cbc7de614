//! A counter: the smallest useful contract.
//!
//! - `increment {}` -> the new count (uint)
//! - `get {}` -> the count (uint; 0 before the first increment)

#![cfg_attr(target_arch = "wasm32", no_std)]

use wasmchain_sdk::{abort, entry, storage};

wasmchain_sdk::interface!("../counter.wit");

const COUNT: &[u8] = b"count";

entry! {
    fn increment(_args) -> u64 {
        let n = storage::get_u64(COUNT).unwrap_or(0);
        let n = match n.checked_add(1) {
            Some(n) => n,
            None => abort("counter overflow"),
        };
        storage::set_u64(COUNT, n);
        n
    }

    fn get(_args) -> u64 {
        storage::get_u64(COUNT).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmchain_sdk::mock;

    #[test]
    fn counts() {
        mock::reset();
        assert_eq!(mock::invoke(get, &[]).unwrap(), [0]);
        assert_eq!(mock::invoke(increment, &[]).unwrap(), [1]);
        assert_eq!(mock::invoke(increment, &[0x80]).unwrap(), [2]);
        assert_eq!(mock::invoke(get, &[]).unwrap(), [2]);
        assert_eq!(mock::storage_get(COUNT).unwrap(), 2u64.to_le_bytes());
    }

    #[test]
    fn host_calls() {
        mock::reset();
        mock::invoke(increment, &[]).unwrap();
        // the write and the return data in one apply_effects (ABI 1: 3 host calls)
        assert_eq!(mock::take_host_calls(), ["storage_read", "apply_effects"]);
        mock::invoke(get, &[]).unwrap();
        assert_eq!(mock::take_host_calls(), ["storage_read", "apply_effects"]);
    }

    #[test]
    fn overflow_aborts() {
        mock::reset();
        mock::storage_set(COUNT, &u64::MAX.to_le_bytes());
        assert_eq!(mock::invoke(increment, &[]).unwrap_err(), "counter overflow");
        assert_eq!(mock::invoke(get, &[]).unwrap(), [0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    }
}
