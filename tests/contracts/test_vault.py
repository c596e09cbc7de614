"""The vault contract (contracts/vault), which calls the token: tested with the wasmchain fixture."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wasmchain import Account, CallFailed, Client, Contract, TransactionFailed
from wasmchain.client.local import LocalTransport
from wasmchain.client.results import ArgumentTypeError
from wasmchain.protocol.transactions import TxKind

CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"
TOKEN = CONTRACTS / "token" / "token.wasm"
VAULT = CONTRACTS / "vault" / "vault.wasm"
GENESIS = CONTRACTS.parent / "genesis.json"


@pytest.fixture
def alice(wasmchain: Client) -> Account:
    """Deploys both contracts, so owns the vault."""
    return wasmchain.dev_account(0)


@pytest.fixture
def bob(wasmchain: Client) -> Account:
    return wasmchain.dev_account(1)


@pytest.fixture
def token(alice: Account) -> Contract:
    return alice.deploy(TOKEN, init="init", args={"supply": 1_000})


@pytest.fixture
def vault(alice: Account, token: Contract) -> Contract:
    vault = alice.deploy(VAULT, init="init", args={"token": token})
    token.call("transfer", {"to": vault, "amount": 100}, sender=alice)
    return vault


def balance(token: Contract, owner: Account | Contract) -> int:
    result: int = token.view("balance_of", {"owner": owner})
    return result


def test_the_vault_knows_its_token_and_reads_its_balance_there(vault: Contract, token: Contract) -> None:
    assert vault.view("token") == token.address
    assert vault.view("balance") == balance(token, vault) == 100


def test_the_owner_withdraws_the_vaults_tokens(
    wasmchain: Client, vault: Contract, token: Contract, alice: Account, bob: Account
) -> None:
    receipt = vault.call("withdraw", {"to": bob, "amount": 30}, sender=alice)
    # The token saw the vault as its caller; its event is kept, the vault has none of its own.
    assert [(event.contract, event.name, event.data) for event in receipt.events] == [
        (token.address, "Transfer", {"from": vault.address, "to": bob.address, "amount": 30})
    ]
    assert (vault.view("balance"), balance(token, bob), balance(token, alice)) == (70, 30, 900)
    assert wasmchain.events(vault) == []
    assert wasmchain.events(token, "Transfer", from_block=receipt.block_height) == list(receipt.events)


def test_only_the_owner_can_withdraw(vault: Contract, token: Contract, alice: Account, bob: Account) -> None:
    message = f"only the owner can withdraw: caller {bob.address} is not {alice.address}"
    with pytest.raises(TransactionFailed, match=message):
        vault.call("withdraw", {"to": bob, "amount": 1}, sender=bob)
    assert (vault.view("balance"), balance(token, bob)) == (100, 0)


def test_a_failing_token_call_fails_the_withdrawal_with_the_tokens_message(
    wasmchain: Client, vault: Contract, token: Contract, alice: Account, bob: Account
) -> None:
    simulated = vault.simulate("withdraw", {"to": bob, "amount": 500}, sender=alice)
    native = alice.balance()
    with pytest.raises(TransactionFailed) as failure:
        vault.call("withdraw", {"to": bob, "amount": 500}, sender=alice)
    result = failure.value.result
    assert (result.status, result.error) == ("abort", "token transfer failed: insufficient balance: have 100, need 500")
    assert result.events == ()
    assert result.gas_used == simulated.gas_used
    assert alice.balance() == native - result.gas_used * wasmchain.gas_price
    assert (vault.view("balance"), balance(token, bob)) == (100, 0)


def test_a_vault_on_an_address_with_no_contract_reports_the_failed_call(alice: Account, bob: Account) -> None:
    vault = alice.deploy(VAULT, init="init", args={"token": bob})
    with pytest.raises(CallFailed, match=f"token balance_of failed: .*no contract at {bob.address}"):
        vault.view("balance")
    with pytest.raises(TransactionFailed, match=f"token transfer failed: .*no contract at {bob.address}"):
        vault.call("withdraw", {"to": bob, "amount": 1}, sender=alice)


def test_init_runs_only_once_and_first(alice: Account, bob: Account, token: Contract, vault: Contract) -> None:
    with pytest.raises(TransactionFailed, match="already initialized"):
        vault.call("init", {"token": bob}, sender=bob)
    assert vault.view("token") == token.address

    blank = alice.deploy(VAULT)
    for method in ("token", "balance"):
        with pytest.raises(CallFailed, match="not initialized") as failure:
            blank.view(method)
        assert failure.value.status == "abort"
    with pytest.raises(TransactionFailed, match="not initialized"):
        blank.call("withdraw", {"to": bob, "amount": 1}, sender=alice)


def test_bad_arguments_are_refused_before_sending_or_abort_naming_the_argument(
    wasmchain: Client, vault: Contract, alice: Account
) -> None:
    # The vault declares its interface (vault.wit): the typed client refuses before anything is sent ...
    nonce = wasmchain.nonce(alice)
    with pytest.raises(ArgumentTypeError, match='argument "to" is missing'):
        vault.call("withdraw", {"amount": 1}, sender=alice)
    with pytest.raises(ArgumentTypeError, match='argument "amount": expected u64'):
        vault.call("withdraw", {"to": alice, "amount": "all"}, sender=alice)
    assert wasmchain.nonce(alice) == nonce
    # ... and such a call that reaches it anyway (signed untyped, admitted by a node whose admission check,
    # a policy, is off) aborts naming the argument.
    transport = wasmchain.transport
    assert isinstance(transport, LocalTransport)
    transport.dispatcher.node.check_args = False
    with pytest.raises(TransactionFailed, match='missing argument "to"'):
        wasmchain.transact(alice, TxKind.CALL, to=vault, method="withdraw", args={"amount": 1}, gas=1_000_000)
    with pytest.raises(TransactionFailed, match='argument "amount" must be an unsigned integer'):
        wasmchain.transact(
            alice, TxKind.CALL, to=vault, method="withdraw", args={"to": alice, "amount": "all"}, gas=1_000_000
        )


def test_the_nested_call_is_charged_as_simulated(vault: Contract, alice: Account, bob: Account) -> None:
    simulated = vault.simulate("withdraw", {"to": bob, "amount": 1}, sender=alice)
    receipt = vault.call("withdraw", {"to": bob, "amount": 1}, sender=alice)
    assert [event.data for event in simulated.events] == [event.data for event in receipt.events]
    assert receipt.gas_used == simulated.gas_used
    # The call costs more than the token's transfer alone: the vault pays for its callee.
    direct = vault.client.contract(vault.view("token")).simulate("transfer", {"to": bob, "amount": 1}, sender=alice)
    assert receipt.gas_used > direct.gas_used


def test_a_token_call_that_runs_out_of_gas_fails_the_withdrawal_with_its_message(
    wasmchain: Client, vault: Contract, token: Contract, alice: Account, bob: Account
) -> None:
    """The vault keeps ``call_reserve`` gas from its token call (docs/gas.md, "Nested calls"), so whatever the
    limit, a withdrawal whose token call runs out of gas aborts with the token's error, as the README says:
    from limits where the token almost finishes, through ones where it cannot pay its ``instantiate``, to ones
    where the vault has only its reserve left and the token is not run at all."""
    gas = json.loads(GENESIS.read_text())["vm"]["gas"]
    args = {"to": bob, "amount": 1}

    def withdraw(limit: int) -> tuple[str, str]:
        result = vault.simulate("withdraw", args, sender=alice, gas=limit)
        return result.status, result.error or ""

    # The lowest limit that succeeds (success is monotone in the limit): the vault needs what it used with
    # plenty, plus what it keeps from the call beyond what it spends after a successful one.
    enough = vault.simulate("withdraw", args, sender=alice).gas_used
    low, high = 1, enough + gas["call_reserve"]
    assert withdraw(high)[0] == "ok"
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if withdraw(middle)[0] == "ok" else (middle, high)
    lowest_ok = high
    assert withdraw(lowest_ok - 1)[0] == "abort"

    # Down from there, every limit aborts with the token's error, until the vault cannot even pay for that.
    reported: list[tuple[int, str]] = []
    limit = lowest_ok - 1
    while (outcome := withdraw(limit))[0] == "abort":
        reported.append((limit, outcome[1]))
        limit -= 499
    status, error = outcome
    assert status == "out_of_gas" and error.startswith("out of gas: "), outcome  # the vault's own, not the token's
    errors = [error for _, error in reported]
    assert all(error.startswith("token transfer failed: out of gas: out of gas: ") for error in errors), errors
    # All three ways for the token call to run out were reported: during its work, at its instantiate, not run.
    not_run = [error for error in errors if ": not run: " in error]
    # At its instantiate, charged with the ABI 2 io area: one host call copying 116 bytes and the 34-byte input.
    first_charge = gas["instantiate"] + gas["host_call"] + gas["copy_byte"] * (116 + 34)
    no_instance = [error for error in errors if f": needed {first_charge} more, " in error]
    assert not_run and no_instance and len(not_run) + len(no_instance) < len(errors)
    # Not run: the vault had no more than its reserve left, and that sufficed to report it.
    assert all(f"no more than the call_reserve of {gas['call_reserve']} it keeps" in error for error in not_run)
    # The range is wide: it spans at least the token's instantiate, and more than that below, where it is not run.
    assert lowest_ok - reported[-1][0] > gas["instantiate"]

    # Sent for real, as simulated: the fee is paid, nothing moves.
    native = alice.balance()
    fees = 0
    for limit, error in (reported[0], reported[len(reported) // 2], reported[-1]):
        receipt = vault.call("withdraw", args, sender=alice, gas=limit, check=False)
        assert (receipt.status, receipt.error, receipt.events) == ("abort", error, ())
        assert receipt.gas_used <= limit
        fees += receipt.gas_used * wasmchain.gas_price
    assert alice.balance() == native - fees
    assert (vault.view("balance"), balance(token, bob)) == (100, 0)
    with pytest.raises(TransactionFailed, match=r"^abort: token transfer failed: out of gas: out of gas: "):
        vault.call("withdraw", args, sender=alice, gas=lowest_ok - 1)
    vault.call("withdraw", args, sender=alice, gas=lowest_ok)
    assert balance(token, bob) == 1
