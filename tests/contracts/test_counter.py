"""The counter contract (contracts/counter), tested as its author would: with the wasmchain fixture."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wasmchain import Account, Client, Contract, TransactionFailed
from wasmchain.client.testing import ChainFactory
from wasmchain.protocol.genesis import Genesis

COUNTER = Path(__file__).resolve().parents[2] / "contracts" / "counter" / "counter.wasm"
U64_MAX = 2**64 - 1


@pytest.fixture
def alice(wasmchain: Client) -> Account:
    return wasmchain.dev_account(0)


@pytest.fixture
def counter(alice: Account) -> Contract:
    return alice.deploy(COUNTER)


def test_the_count_starts_at_zero(counter: Contract) -> None:
    assert counter.view("get") == 0


def test_increment_returns_the_new_count_whoever_calls(counter: Contract, dev_accounts: list[Account]) -> None:
    alice, bob = dev_accounts[:2]
    assert [counter.call("increment", sender=alice).result for _ in range(3)] == [1, 2, 3]
    assert counter.call("increment", sender=bob).result == 4
    assert counter.view("get") == 4


def test_a_view_runs_the_method_but_keeps_nothing(counter: Contract) -> None:
    assert counter.view("increment") == 1
    assert counter.view("increment") == 1
    assert counter.view("get") == 0


def test_each_deployment_counts_for_itself(wasmchain: Client, counter: Contract, alice: Account) -> None:
    other = wasmchain.dev_account(1).deploy(COUNTER)
    assert other.address != counter.address
    counter.call("increment", sender=alice)
    counter.call("increment", sender=alice)
    assert (counter.view("get"), other.view("get")) == (2, 0)


def test_increment_emits_no_events(wasmchain: Client, counter: Contract, alice: Account) -> None:
    receipt = counter.call("increment", sender=alice)
    assert receipt.events == ()
    assert wasmchain.events(counter) == []


def test_the_gas_simulated_is_the_gas_charged(wasmchain: Client, counter: Contract, alice: Account) -> None:
    simulated = counter.simulate("increment", sender=alice)
    balance = alice.balance()
    receipt = counter.call("increment", sender=alice)
    assert (simulated.status, simulated.result) == ("ok", 1)
    assert receipt.gas_used == simulated.gas_used > 0
    assert balance - alice.balance() == receipt.gas_used * wasmchain.gas_price
    # The second increment writes over an existing value: the figures follow the state.
    assert counter.simulate("increment", sender=alice).gas_used == counter.call("increment", sender=alice).gas_used


def test_increment_past_the_largest_u64_aborts(
    tmp_path: Path, wasmchain_genesis: Genesis, wasmchain_factory: ChainFactory
) -> None:
    # A chain whose genesis holds a counter at 2**64 - 1 (storage: "count" -> u64 little-endian).
    address = "0x" + "c0" * 20
    document = json.loads(wasmchain_genesis.document)
    document["contracts"] = [
        {
            "address": address,
            "code": str(COUNTER),
            "balance": 0,
            "storage": {"0x" + b"count".hex(): "0x" + U64_MAX.to_bytes(8, "little").hex()},
        }
    ]
    (tmp_path / "genesis.json").write_text(json.dumps(document))
    client = wasmchain_factory(tmp_path / "genesis.json")
    counter = client.contract(address)
    assert counter.view("get") == U64_MAX

    with pytest.raises(TransactionFailed, match="counter overflow") as failure:
        counter.call("increment", sender=client.dev_account(0))
    assert (failure.value.result.status, failure.value.result.error) == ("abort", "counter overflow")
    assert counter.view("get") == U64_MAX
