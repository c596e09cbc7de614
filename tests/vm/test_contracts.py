"""The example contracts, used as a contract author would: deploy, call, read events."""

from __future__ import annotations

import msgpack
import pytest

from tests.helpers import ALICE, BOB, CONTRACTS, Sandbox, contract_address
from wasmchain.protocol.args import decode_value

TOKEN = contract_address(1)
VAULT = contract_address(2)
CAROL = bytes.fromhex("ca" * 20)


def args(**values: object) -> bytes:
    return msgpack.packb(values, use_bin_type=True)


@pytest.fixture
def chain() -> Sandbox:
    sandbox = Sandbox()
    sandbox.deploy((CONTRACTS / "token" / "token.wasm").read_bytes(), TOKEN)
    sandbox.deploy((CONTRACTS / "vault" / "vault.wasm").read_bytes(), VAULT)
    assert sandbox.call(TOKEN, "init", args(supply=1_000_000), caller=ALICE).ok
    assert sandbox.call(VAULT, "init", args(token=TOKEN), caller=ALICE).ok
    return sandbox


def balance(sandbox: Sandbox, owner: bytes) -> int:
    outcome = sandbox.call(TOKEN, "balance_of", args(owner=owner))
    assert outcome.ok, outcome.error
    return msgpack.unpackb(outcome.return_data)


def test_counter_counts() -> None:
    sandbox = Sandbox()
    counter = sandbox.deploy((CONTRACTS / "counter" / "counter.wasm").read_bytes(), contract_address(3))
    assert [decode_value(sandbox.call(counter, "increment").return_data) for _ in range(3)] == [1, 2, 3]
    assert decode_value(sandbox.call(counter, "get").return_data) == 3


def test_token_init_only_once_and_supply_is_conserved(chain: Sandbox) -> None:
    again = chain.call(TOKEN, "init", args(supply=5), caller=BOB)
    assert (again.status, again.error) == ("abort", "already initialized")
    for amount, to in ((10, BOB), (20, CAROL), (5, BOB)):
        assert chain.call(TOKEN, "transfer", args(to=to, amount=amount), caller=ALICE).ok
    assert balance(chain, ALICE) + balance(chain, BOB) + balance(chain, CAROL) == 1_000_000
    assert msgpack.unpackb(chain.call(TOKEN, "total_supply").return_data) == 1_000_000


def test_token_transfer_emits_transfer_and_refuses_overdraft(chain: Sandbox) -> None:
    outcome = chain.call(TOKEN, "transfer", args(to=BOB, amount=7), caller=ALICE)
    assert [(e.contract, e.name, msgpack.unpackb(e.data)) for e in outcome.events] == [
        (TOKEN, "Transfer", {"from": ALICE, "to": BOB, "amount": 7})
    ]
    overdraft = chain.call(TOKEN, "transfer", args(to=ALICE, amount=8), caller=BOB)
    assert (overdraft.status, overdraft.error) == ("abort", "insufficient balance: have 7, need 8")
    assert overdraft.events == ()
    assert balance(chain, BOB) == 7


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (args(amount=1), 'missing argument "to"'),
        (args(to="not bytes", amount=1), 'argument "to" must be an address'),
        (args(to=BOB, amount=-1), 'argument "amount"'),
        (b"\xc1", "msgpack"),
    ],
)
def test_token_bad_arguments_abort_naming_the_argument(chain: Sandbox, payload: bytes, message: str) -> None:
    outcome = chain.call(TOKEN, "transfer", payload, caller=ALICE)
    assert outcome.status == "abort"
    assert message in (outcome.error or "")


def test_vault_moves_its_own_tokens_through_the_token_contract(chain: Sandbox) -> None:
    assert chain.call(TOKEN, "transfer", args(to=VAULT, amount=100), caller=ALICE).ok
    assert msgpack.unpackb(chain.call(VAULT, "balance").return_data) == 100
    outcome = chain.call(VAULT, "withdraw", args(to=CAROL, amount=40), caller=ALICE)
    assert outcome.ok, outcome.error
    # The token's event, emitted in the nested call, is kept with the vault's success.
    assert [(e.contract, e.name, msgpack.unpackb(e.data)) for e in outcome.events] == [
        (TOKEN, "Transfer", {"from": VAULT, "to": CAROL, "amount": 40})
    ]
    assert (balance(chain, VAULT), balance(chain, CAROL)) == (60, 40)
    assert msgpack.unpackb(chain.call(VAULT, "token").return_data) == TOKEN


def test_vault_reports_the_token_failure_and_changes_nothing(chain: Sandbox) -> None:
    assert chain.call(TOKEN, "transfer", args(to=VAULT, amount=3), caller=ALICE).ok
    storage_before = dict(chain.host.storage)
    outcome = chain.call(VAULT, "withdraw", args(to=CAROL, amount=5), caller=ALICE)
    assert (outcome.status, outcome.error) == ("abort", "token transfer failed: insufficient balance: have 3, need 5")
    assert chain.host.storage == storage_before
    stranger = chain.call(VAULT, "withdraw", args(to=BOB, amount=1), caller=BOB)
    assert stranger.status == "abort" and "only the owner can withdraw" in (stranger.error or "")


def test_vault_withdraw_running_out_of_gas_inside_the_token_reverts_everything(chain: Sandbox) -> None:
    assert chain.call(TOKEN, "transfer", args(to=VAULT, amount=50), caller=ALICE).ok
    full = chain.call(VAULT, "withdraw", args(to=CAROL, amount=1), caller=ALICE)
    storage_before = dict(chain.host.storage)
    for limit in range(full.gas_used // 3, full.gas_used, full.gas_used // 17):
        outcome = chain.call(VAULT, "withdraw", args(to=CAROL, amount=1), caller=ALICE, gas=limit)
        assert outcome.status in ("out_of_gas", "abort")
        assert outcome.gas_used <= limit
        assert chain.host.storage == storage_before
