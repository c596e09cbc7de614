"""The token contract (contracts/token), tested as its author would: with the wasmchain fixture.

The token is deployed once for the module; each test runs inside a
snapshot of that chain that is reverted after it (``Client.isolated``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from wasmchain import Account, CallResult, Contract, TransactionFailed, TxResult
from wasmchain.client.local import LocalTransport
from wasmchain.client.results import ArgumentTypeError
from wasmchain.client.testing import ChainFactory
from wasmchain.node.rpc import Dispatcher
from wasmchain.protocol.transactions import TxKind

TOKEN = Path(__file__).resolve().parents[2] / "contracts" / "token" / "token.wasm"
SUPPLY = 1_000_000
ZERO = "0x" + "00" * 20


@pytest.fixture(scope="module")
def deployed(wasmchain_factory: ChainFactory) -> Contract:
    client = wasmchain_factory()
    return client.dev_account(0).deploy(TOKEN, init="init", args={"supply": SUPPLY})


@pytest.fixture
def token(deployed: Contract) -> Iterator[Contract]:
    with deployed.client.isolated():
        yield deployed


@pytest.fixture
def alice(token: Contract) -> Account:
    return token.client.dev_account(0)


@pytest.fixture
def bob(token: Contract) -> Account:
    return token.client.dev_account(1)


def balance(token: Contract, owner: Account | str) -> int:
    result: int = token.view("balance_of", {"owner": owner})
    return result


def transfers(result: TxResult | CallResult) -> list[tuple[str, str, Any]]:
    return [(event.contract, event.name, event.data) for event in result.events]


def test_init_credits_the_supply_to_the_deployer_from_the_zero_address(token: Contract, alice: Account) -> None:
    deployment = token.deployment
    assert deployment is not None and deployment.address == token.address
    assert transfers(deployment) == [(token.address, "Transfer", {"from": ZERO, "to": alice.address, "amount": SUPPLY})]
    assert token.view("total_supply") == SUPPLY
    assert balance(token, alice) == SUPPLY
    assert token.client.events(token, "Transfer") == list(deployment.events)


def test_transfer_moves_tokens_and_emits_transfer(token: Contract, alice: Account, bob: Account) -> None:
    receipt = token.call("transfer", {"to": bob, "amount": 250}, sender=alice)
    assert receipt.ok and receipt.result is None
    assert transfers(receipt) == [
        (token.address, "Transfer", {"from": alice.address, "to": bob.address, "amount": 250})
    ]
    assert list(receipt.events[0].data) == ["from", "to", "amount"]  # the documented key order
    assert (balance(token, alice), balance(token, bob)) == (SUPPLY - 250, 250)
    assert token.view("total_supply") == SUPPLY


def test_events_can_be_read_back_by_contract_and_name(token: Contract, alice: Account, bob: Account) -> None:
    first = token.call("transfer", {"to": bob, "amount": 1}, sender=alice)
    second = token.call("transfer", {"to": alice, "amount": 1}, sender=bob)
    client = token.client
    assert client.events(token, "Transfer", from_block=first.block_height) == [*first.events, *second.events]
    assert client.events(token, "Transfer", from_block=second.block_height) == list(second.events)
    assert client.events(token, "Approval") == []
    assert client.events(bob) == []


@pytest.mark.parametrize("amount", [0, 10])
def test_a_transfer_to_oneself_is_allowed_and_emits(token: Contract, alice: Account, amount: int) -> None:
    receipt = token.call("transfer", {"to": alice, "amount": amount}, sender=alice)
    assert transfers(receipt) == [
        (token.address, "Transfer", {"from": alice.address, "to": alice.address, "amount": amount})
    ]
    assert balance(token, alice) == SUPPLY


def test_an_overdraft_aborts_pays_its_gas_and_changes_nothing(token: Contract, alice: Account, bob: Account) -> None:
    client = token.client
    token.call("transfer", {"to": bob, "amount": 5}, sender=alice)
    simulated = token.simulate("transfer", {"to": alice, "amount": 10}, sender=bob)
    native_before, head_before = bob.balance(), client.head().height

    with pytest.raises(TransactionFailed, match="insufficient balance: have 5, need 10") as failure:
        token.call("transfer", {"to": alice, "amount": 10}, sender=bob)

    result = failure.value.result
    assert (result.status, result.error, result.events) == ("abort", "insufficient balance: have 5, need 10", ())
    assert result.block_height == head_before + 1  # it is in a block: it happened, and failed
    assert (simulated.status, simulated.error, simulated.gas_used) == (result.status, result.error, result.gas_used)
    assert bob.balance() == native_before - result.gas_used * client.gas_price
    assert (balance(token, alice), balance(token, bob)) == (SUPPLY - 5, 5)
    assert client.events(token, from_block=result.block_height) == []


def test_a_failed_call_can_be_inspected_without_raising(token: Contract, bob: Account) -> None:
    result = token.call("transfer", {"to": bob, "amount": 1}, sender=bob, check=False)
    assert not result.ok
    assert (result.status, result.error) == ("abort", "insufficient balance: have 0, need 1")
    with pytest.raises(TransactionFailed):
        result.raise_for_status()


def test_init_runs_only_once(token: Contract, bob: Account) -> None:
    with pytest.raises(TransactionFailed, match="already initialized"):
        token.call("init", {"supply": 5}, sender=bob)
    assert token.view("total_supply") == SUPPLY
    assert balance(token, bob) == 0


def test_an_uninitialized_token_has_no_supply_and_refuses_transfers(alice: Account, bob: Account) -> None:
    blank = alice.deploy(TOKEN)
    assert (blank.view("total_supply"), balance(blank, alice)) == (0, 0)
    with pytest.raises(TransactionFailed, match="not initialized"):
        blank.call("transfer", {"to": bob, "amount": 0}, sender=alice)


# Badly typed arguments: what the typed client refuses before sending (the
# token declares its interface, token.wit), and what the contract itself
# aborts with when such a call reaches it anyway.
BAD_ARGUMENTS = [
    ({"amount": 1}, 'argument "to" is missing', 'missing argument "to"'),
    ({"to": "0x" + "b0" * 20}, 'argument "amount" is missing', 'missing argument "amount"'),
    (
        {"to": "bob", "amount": 1},
        'argument "to": expected address',
        'argument "to" must be an address (bin of 20 bytes), got str',
    ),
    (
        {"to": "0x" + "b0" * 19, "amount": 1},
        'argument "to": expected address',
        'argument "to" must be an address (bin of 20 bytes), got bin of 19 bytes',
    ),
    (
        {"to": "0x" + "b0" * 20, "amount": -1},
        'argument "amount": expected u64',
        'argument "amount" must be an unsigned integer (u64), got negative int -1',
    ),
    (
        {"to": "0x" + "b0" * 20, "amount": "1"},
        'argument "amount": expected u64',
        'argument "amount" must be an unsigned integer (u64), got str',
    ),
    (["0x" + "b0" * 20, 1], "a map of its params", "arguments must be a msgpack map, got array"),
]


@pytest.mark.parametrize(("args", "refusal", "abort"), BAD_ARGUMENTS)
def test_bad_arguments_are_refused_before_anything_is_sent(
    token: Contract, alice: Account, args: Any, refusal: str, abort: str
) -> None:
    head, nonce = token.client.head(), token.client.nonce(alice)
    with pytest.raises(ArgumentTypeError, match=re.escape(refusal)):
        token.call("transfer", args, sender=alice)
    assert (token.client.head(), token.client.nonce(alice)) == (head, nonce)
    assert balance(token, alice) == SUPPLY


@pytest.mark.parametrize(("args", "refusal", "abort"), BAD_ARGUMENTS)
def test_bad_arguments_that_reach_the_token_abort_naming_the_argument(
    token: Contract, alice: Account, args: Any, refusal: str, abort: str
) -> None:
    """Signed untyped and admitted by a node whose admission check is off (a policy, not a consensus rule)."""
    node = _dispatcher(token).node
    node.check_args = False
    try:
        with pytest.raises(TransactionFailed, match=re.escape(abort)) as failure:
            token.client.transact(alice, TxKind.CALL, to=token, method="transfer", args=args, gas=1_000_000)
    finally:
        node.check_args = True
    assert failure.value.result.error == abort
    assert balance(token, alice) == SUPPLY


def _dispatcher(contract: Contract) -> Dispatcher:
    transport = contract.client.transport
    assert isinstance(transport, LocalTransport)  # RecordingTransport is one too
    return transport.dispatcher


@pytest.mark.parametrize("run", [1, 2])
def test_each_test_starts_from_the_deployment(token: Contract, alice: Account, bob: Account, run: int) -> None:
    # Run twice against the one module-scoped deployment: without the
    # revert after each test, the second run would find 200.
    receipt = token.call("transfer", {"to": bob, "amount": 100}, sender=alice)
    assert balance(token, bob) == 100
    assert token.deployment is not None
    assert receipt.block_height == token.deployment.block_height + 1
