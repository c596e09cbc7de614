"""The typed client (chain/client/typed.py, Contract's typed methods): methods built from a contract's WIT world.

The example token (contracts/token/token.wit) in the ``wasmchain`` fixture, as a user writes
it; an echo module in WAT whose world has params named like the transaction's options (``value``,
``gas``, ``sender``) and a Python keyword (``%from``), and returns its own arguments; a token
with no interface (its ``wasmchain:wit`` section removed), which is called by name exactly as
before; and a project outside the repository that uses the plugin.
"""

from __future__ import annotations

import inspect
import os
import pydoc
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import wasmtime

from tests.contracts.wit_modules import with_interface, without_interface
from wasmchain.client.client import Account, Client, Contract
from wasmchain.client.local import local_client
from wasmchain.client.results import ArgumentTypeError, CallFailed, TransactionFailed, TxResult
from wasmchain.client.transport import ClientError

from .test_client import GENESIS, TOKEN

ECHO_WIT = """
package test:echo;

interface types {
    type address = list<u8>;

    /// What echo returns: its own arguments.
    record echoed {
        value: u64,
        gas: u64,
        sender: address,
        %from: address,
        memo: option<string>,
    }
}

/// Read-only methods.
interface view {
    use types.{address, echoed};

    /// Returns its arguments, read-only.
    peek: func(value: u64, gas: u64, sender: address, %from: address, memo: option<string>) -> echoed;
}

world echo {
    use types.{address, echoed};

    /// Returns its arguments, in a transaction.
    export echo: func(value: u64, gas: u64, sender: address, %from: address, memo: option<string>) -> echoed;
    export view;
}
"""
ECHO_WAT = """
(module
  (import "wasmchain" "input_read" (func $input_read (param i32 i32) (result i32)))
  (import "wasmchain" "return_set" (func $return_set (param i32 i32)))
  (memory (export "memory") 1)
  (func $echo (export "echo") (export "peek")
    (call $return_set (i32.const 0) (call $input_read (i32.const 0) (i32.const 4096)))))
"""
ECHO = with_interface(wasmtime.wat2wasm(ECHO_WAT), ECHO_WIT)


@pytest.fixture
def alice(wasmchain: Client) -> Account:
    return wasmchain.dev_account(0)


@pytest.fixture
def bob(wasmchain: Client) -> Account:
    return wasmchain.dev_account(1)


@pytest.fixture
def token(alice: Account) -> Contract:
    return alice.deploy(TOKEN, init="init", args={"supply": 1_000})


@pytest.fixture
def echo(alice: Account) -> Contract:
    return alice.deploy(ECHO)


def untouched(client: Client, account: Account) -> tuple[int, int, int]:
    """What a refused call must leave as it was: the head, the account's nonce and balance."""
    return client.head().height, account.nonce(), account.balance()


# -- typed methods as a user calls them -------------------------------------------------------


def test_typed_methods_send_view_and_decode(wasmchain: Client, token: Contract, alice: Account, bob: Account) -> None:
    receipt = token.transfer(to=bob, amount=5)  # signed by alice, who deployed it
    assert isinstance(receipt, TxResult) and receipt.ok
    assert [(event.name, event.data) for event in receipt.events] == [
        ("Transfer", {"from": alice.address, "to": bob.address, "amount": 5})
    ]
    token.transfer(bob, 2)  # positional, in declaration order
    token.transfer(bytes.fromhex(bob.address[2:]), amount=1)
    assert token.balance_of(owner=bob) == 8
    assert token.balance_of(bob.address) == 8
    assert token.total_supply() == 1_000
    assert token.balance_of(owner=token) == 0


def test_the_sender_is_the_deployer_or_the_handle_says(
    wasmchain: Client, token: Contract, alice: Account, bob: Account
) -> None:
    token.transfer(to=bob, amount=10)
    as_bob = token.with_sender(bob)
    assert as_bob == token and as_bob.sender == bob and token.sender == alice
    as_bob.transfer(to=alice, amount=4)
    assert (token.balance_of(owner=bob), token.balance_of(owner=alice)) == (6, 994)
    with pytest.raises(TransactionFailed, match="insufficient balance: have 6, need 7"):
        as_bob.transfer(alice, 7)

    found = wasmchain.contract(token.address)
    assert found.sender is None
    assert found.balance_of(owner=bob) == 6  # a view needs no sender
    with pytest.raises(ClientError, match=r"no sender: use contract.with_sender\(account\)"):
        found.transfer(to=alice, amount=1)
    wasmchain.contract(token.address, sender=bob).transfer(to=alice, amount=1)
    assert token.balance_of(owner=bob) == 5


def test_options_go_to_the_bound_call(wasmchain: Client, token: Contract, alice: Account, bob: Account) -> None:
    token.transfer(to=bob, amount=3)
    bound = token.transfer.bind(to=alice, amount=1)
    simulated = bound.simulate(sender=bob, trace=True)
    assert simulated.ok and simulated.trace is not None and simulated.trace.frame is not None
    assert simulated.trace.frame.args == {"to": alice.address, "amount": 1}
    receipt = bound.send(sender=bob, gas=simulated.gas_used)
    assert (receipt.ok, receipt.gas_used) == (True, simulated.gas_used)
    failed = token.transfer.bind(alice, 100).send(sender=bob, check=False)
    assert (failed.status, failed.error) == ("abort", "insufficient balance: have 2, need 100")
    assert token.balance_of.bind(owner=bob).view() == 2
    assert token.balance_of.bind(owner=bob).simulate(sender=alice).result == 2


def test_params_named_like_options_are_params(wasmchain: Client, echo: Contract, alice: Account, bob: Account) -> None:
    """echo returns its own arguments: the typed result shows each reached the contract as given."""
    sent = {"value": 7, "gas": 8, "sender": bob.address, "from": alice.address, "memo": None}
    receipt = echo.echo(value=7, gas=8, sender=bob, from_=alice)
    assert receipt.result == sent
    assert echo.echo(7, 8, bob, alice, "hi").result == {**sent, "memo": "hi"}
    assert echo.peek(value=7, gas=8, sender=bob, **{"from": alice}) == sent
    bound = echo.echo.bind(value=1, gas=2, sender=alice, from_=bob)
    receipt = bound.send(sender=bob, value=0, gas=500_000)
    assert receipt.result == {"value": 1, "gas": 2, "sender": alice.address, "from": bob.address, "memo": None}
    assert wasmchain.call("get_transaction", hash=receipt.tx_hash)["transaction"]["gas_limit"] == 500_000


# -- refused before anything is sent ----------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "kwargs", "path", "expected", "words"),
    [
        ((), {"to": "bob", "amount": 5}, "to", "address", ['argument "to"', "address"]),
        ((), {"amount": 5}, "to", "address", ['"to"', "missing"]),
        ((), {"to": "0x" + "11" * 19, "amount": 5}, "to", "address", ['argument "to"']),
        ((), {"to": "0x" + "11" * 20, "amount": "ten"}, "amount", "u64", ['argument "amount"', "u64", '"ten"']),
        ((), {"to": "0x" + "11" * 20, "amount": -1}, "amount", "u64", ['argument "amount"']),
        ((), {"to": "0x" + "11" * 20, "amount": 2**64}, "amount", "u64", ['argument "amount"']),
        ((), {"to": "0x" + "11" * 20, "amount": True}, "amount", "u64", ['argument "amount"']),
        ((), {"to": "0x" + "11" * 20, "amount": 1.5}, "amount", "u64", ['argument "amount"']),
        ((), {"to": "0x" + "11" * 20, "amount": 1, "memo": "x"}, "memo", None, ['"memo"']),
        (("0x" + "11" * 20, 1, 2), {}, "", None, ["takes 2 argument(s) (to, amount), given 3"]),
        (("0x" + "11" * 20,), {"to": "0x" + "11" * 20, "amount": 1}, "to", None, ['"to" given twice']),
    ],
)
def test_a_badly_typed_call_is_refused_before_it_is_sent(
    wasmchain: Client,
    token: Contract,
    alice: Account,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    path: str,
    expected: str | None,
    words: list[str],
) -> None:
    before = untouched(wasmchain, alice)
    with pytest.raises(ArgumentTypeError) as refused:
        token.transfer(*args, **kwargs)
    error = refused.value
    assert isinstance(error, TypeError) and isinstance(error, ClientError)
    message = str(error)
    assert message.startswith("transfer: "), message
    assert all(word in message for word in words), message
    assert (error.method, error.path) == ("transfer", path)
    if expected is not None:
        assert error.expected == expected
        assert "e.g." in message  # an example of the expected type
    assert untouched(wasmchain, alice) == before


def test_call_view_and_simulate_by_name_check_a_declared_method(
    wasmchain: Client, token: Contract, alice: Account, bob: Account
) -> None:
    before = untouched(wasmchain, alice)
    with pytest.raises(ArgumentTypeError, match='argument "amount": expected u64'):
        token.call("transfer", {"to": bob, "amount": "ten"}, sender=alice)
    with pytest.raises(ArgumentTypeError, match='argument "owner"'):
        token.view("balance_of", {"owner": 5})
    with pytest.raises(ArgumentTypeError, match='argument "to"'):
        token.simulate("transfer", {"to": "dev1", "amount": 1}, sender=alice)
    with pytest.raises(ArgumentTypeError, match="a map of its params, found list"):
        token.call("transfer", [bob, 1], sender=alice)
    with pytest.raises(ArgumentTypeError, match='argument "supply"'):
        alice.deploy(TOKEN, init="init", args={"supply": "lots"})
    assert untouched(wasmchain, alice) == before
    token.call("transfer", {"to": bob, "amount": 1}, sender=alice)  # well typed: as ever
    assert token.view("balance-of", {"owner": bob}) == 1  # the WIT name works too


def test_help_shows_the_signature_and_the_wit_docs(token: Contract) -> None:
    assert str(inspect.signature(token.transfer)) == "(to: address, amount: u64) -> TxResult"
    assert str(inspect.signature(token.balance_of)) == "(owner: address) -> u64"
    text = pydoc.render_doc(token.transfer, renderer=pydoc.plaintext)
    assert "transfer(to: address, amount: u64) -> TxResult" in text
    assert "Moves `amount` of the caller's tokens to `to`" in text
    assert "signed by the handle's sender" in text
    view_doc = token.balance_of.__doc__ or ""
    assert view_doc.startswith("The tokens `owner` holds (0 for an address that never held any).\n\nRead-only")
    assert token.balance_of.readonly and not token.transfer.readonly
    assert {"transfer", "balance_of", "total_supply", "init"} <= set(dir(token))
    assert list(token.methods) == ["init", "transfer", "balance_of", "total_supply"]
    assert token.methods.balance_of.signature == "balance-of(owner: address) -> u64"
    assert token.interface is not None and token.interface.package.startswith("wasmchain:token")
    with pytest.raises(AttributeError, match="declares no method 'mint'; it has: init, transfer"):
        token.mint  # noqa: B018


def test_a_method_named_like_a_handle_attribute_is_under_methods(alice: Account, token: Contract) -> None:
    vault = alice.deploy(TOKEN.parent.parent / "vault" / "vault.wasm", init="init", args={"token": token})
    token.transfer(to=vault, amount=9)
    assert vault.balance() == 0  # the handle's own: native tokens
    assert vault.methods.balance() == 9  # the vault's view: its tokens
    assert vault.token() == token.address
    assert vault.methods["token"]() == token.address


# -- untyped contracts, caching ---------------------------------------------------------------


def test_an_untyped_contract_works_exactly_as_before(wasmchain: Client, alice: Account, bob: Account) -> None:
    plain = alice.deploy(without_interface(TOKEN.read_bytes()), init="init", args={"supply": 10})
    assert plain.interface is None and list(plain.methods) == []
    receipt = plain.call("transfer", {"to": bob, "amount": 3}, sender=alice)
    assert receipt.events[0].data == {"from": alice.address, "to": bob.address, "amount": 3}
    assert plain.view("balance_of", {"owner": bob}) == 3
    with pytest.raises(AttributeError, match="declares no interface"):
        plain.transfer  # noqa: B018
    assert "transfer" not in dir(plain)
    refused = plain.simulate("transfer", {"to": "0x" + "11" * 20, "amount": "ten"}, sender=alice)
    assert refused.status == "abort" and 'argument "amount" must be' in (refused.error or "")


class Counting:
    """A transport that counts the calls of each method it passes on."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.mines_while_waiting = inner.mines_while_waiting
        self.counts: dict[str, int] = {}

    def call(self, method: str, params: dict[str, Any]) -> Any:
        self.counts[method] = self.counts.get(method, 0) + 1
        return self.inner.call(method, params)

    def batch(self, calls: list[tuple[str, dict[str, Any]]]) -> list[Any]:
        return [self.call(method, params) for method, params in calls]


def test_the_interface_is_fetched_once_a_handle_and_parsed_once_a_code() -> None:
    base = local_client(GENESIS)
    counting = Counting(base.transport)
    client = Client(counting)
    alice, bob = client.dev_account(0), client.dev_account(1)
    first = alice.deploy(TOKEN, init="init", args={"supply": 100})
    second = alice.deploy(TOKEN, init="init", args={"supply": 100})
    for _ in range(3):
        first.transfer(to=bob, amount=1)
        second.with_sender(alice).transfer(to=bob, amount=1)
    assert counting.counts["get_interface"] == 2  # one a contract; with_sender shares what its handle learnt
    assert len(client._interfaces) == 1  # one code: parsed once


LIGHT_CLIENT = """
import sys
from wasmchain.client.client import Client, Contract

class Node:
    mines_while_waiting = True

    def __init__(self, interface):
        self.interface = interface

    def call(self, method, params):
        assert method == "get_interface", method
        return {"address": params["address"], "code_hash": "0x" + "ab" * 32, "interface": self.interface}

address = "0x" + "11" * 20
plain = Contract(Client(Node(None)), address)
assert list(plain.methods) == [] and plain.interface is None
print(sorted(name for name in sys.modules if name.startswith("wasmchain.vm")))
typed = Contract(Client(Node({"wit": sys.stdin.read()})), address)
assert list(typed.methods) == ["init", "transfer", "balance_of", "total_supply"]
print(any(name.startswith("wasmchain.vm.wit") for name in sys.modules))
"""


def test_the_http_client_loads_the_vm_only_for_a_typed_contract() -> None:
    run = subprocess.run(
        [sys.executable, "-I", "-c", LIGHT_CLIENT],
        input=(TOKEN.parent / "token.wit").read_text(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.split("\n")[:2] == ["[]", "True"]


# -- the plugin, in a project outside the repository ------------------------------------------

PROJECT_TEST = """
import os
from pathlib import Path

import pytest

from wasmchain import Client

TOKEN = Path(os.environ["TOKEN_WASM"])


def test_typed_token(wasmchain: Client) -> None:
    alice, bob = wasmchain.dev_account(0), wasmchain.dev_account(1)
    token = alice.deploy(TOKEN, init="init", args={"supply": 1000})
    receipt = token.transfer(to=bob, amount=5)
    assert receipt.events[0].data == {"from": alice.address, "to": bob.address, "amount": 5}
    assert token.balance_of(owner=bob) == 5
    with pytest.raises(TypeError, match='argument "amount": expected u64'):
        token.transfer(to=bob, amount="ten")
"""


def test_typed_methods_in_the_plugins_fixture_in_a_project_outside_the_repository(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_typed.py").write_text(PROJECT_TEST)
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST")}
    env["TOKEN_WASM"] = str(TOKEN)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "tests"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 passed" in run.stdout


def test_a_view_that_fails_raises_call_failed(echo: Contract, bob: Account) -> None:
    with pytest.raises(CallFailed):
        echo.peek.bind(value=1, gas=2, sender=bob, from_=bob).view(gas=1)
