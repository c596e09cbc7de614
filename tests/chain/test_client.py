"""The Python client (chain/client/: client.py, transport.py, results.py, local.py) and its pytest plugin (testing.py).

Most tests run against an in-process chain (the ``wasmchain`` fixture); a
few start the real ``wasmchain devnet`` as a subprocess and talk HTTP.
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from fractions import Fraction
from importlib.metadata import entry_points
from pathlib import Path

import pytest
import wasmtime

from tests.helpers.devnet import start_devnet
from wasmchain.client.client import Account, Client, Contract, estimate_gas
from wasmchain.client.local import LocalTransport, local_client
from wasmchain.client.results import ArgumentTypeError, CallFailed, ReceiptTimeout, TransactionFailed
from wasmchain.client.transport import ClientError, HTTPTransport, RPCClientError
from wasmchain.protocol.keys import dev_key
from wasmchain.protocol.transactions import Transaction, TxKind

ROOT = Path(__file__).resolve().parents[2]
GENESIS = ROOT / "genesis.json"
TOKEN = ROOT / "contracts" / "token" / "token.wasm"
VAULT = ROOT / "contracts" / "vault" / "vault.wasm"
COUNTER = ROOT / "contracts" / "counter" / "counter.wasm"
SPIN = wasmtime.wat2wasm('(module (memory (export "memory") 1) (func (export "spin") (loop (br 0))))')
"""A method that never returns: it runs out of whatever gas it has."""
NESTED_MARGIN = Fraction(64, 63) ** 8
"""What the default gas limit adds: 64/63 for each of 8 levels of nested calls."""


@pytest.fixture
def alice(wasmchain: Client) -> Account:
    return wasmchain.dev_account(0)


@pytest.fixture
def bob(wasmchain: Client) -> Account:
    return wasmchain.dev_account(1)


@pytest.fixture
def token(alice: Account) -> Contract:
    return alice.deploy(TOKEN, init="init", args={"supply": 1_000})


def gas_limit(client: Client, tx_hash: str) -> int:
    limit: int = client.call("get_transaction", hash=tx_hash)["transaction"]["gas_limit"]
    return limit


# -- the plugin -------------------------------------------------------------------------------


def test_the_plugin_is_registered_with_pytest() -> None:
    plugins = {entry.name: entry.value for entry in entry_points(group="pytest11")}
    assert plugins.get("wasmchain") == "wasmchain.client.testing"


def test_each_test_gets_a_fresh_chain_at_genesis(wasmchain: Client, dev_accounts: list[Account]) -> None:
    assert wasmchain.head().height == 0
    assert isinstance(wasmchain.transport, LocalTransport)
    assert dev_accounts == wasmchain.accounts


def test_in_process_chains_are_deterministic() -> None:
    heads = []
    for _ in range(2):
        client = local_client(GENESIS)
        alice = client.dev_account(0)
        token = alice.deploy(TOKEN, init="init", args={"supply": 10})
        token.call("transfer", {"to": client.dev_account(1), "amount": 3}, sender=alice)
        client.increase_time(3600)
        client.mine(2)
        heads.append(client.head())
    assert heads[0] == heads[1]
    assert heads[0].height == 4


# -- accounts and addresses -------------------------------------------------------------------


def test_dev_accounts_are_the_funded_accounts_of_genesis(wasmchain: Client) -> None:
    funded = json.loads(GENESIS.read_text())["accounts"]
    accounts = wasmchain.accounts
    assert [account.address for account in accounts] == [entry["address"] for entry in funded]
    assert [account.balance() for account in accounts] == [entry["balance"] for entry in funded]
    assert accounts[3].key.public_key == dev_key(3).public_key
    with pytest.raises(ClientError, match="the dev accounts are 0 to 9"):
        wasmchain.dev_account(10)


def test_an_address_may_be_given_in_any_form(wasmchain: Client, alice: Account, token: Contract) -> None:
    raw = bytes.fromhex(alice.address[2:])
    forms = [alice, alice.address, alice.address.upper().replace("0X", "0x"), raw]
    assert {wasmchain.balance(form) for form in forms} == {alice.balance()}
    assert wasmchain.contract(token.address) == wasmchain.contract(bytes.fromhex(token.address[2:])) == token
    with pytest.raises(ClientError, match="20 bytes, found 19"):
        wasmchain.balance(raw[1:])
    with pytest.raises(ClientError, match="an address is 0x followed by 40 hex digits"):
        wasmchain.balance("alice")
    with pytest.raises(ClientError, match="no contract at"):
        wasmchain.contract(alice)


def test_arguments_take_accounts_contracts_and_bytes_as_addresses(token: Contract, alice: Account) -> None:
    bob = token.client.dev_account(1)
    for to in (bob, bob.address, bytes.fromhex(bob.address[2:])):
        token.call("transfer", {"to": to, "amount": 1}, sender=alice)
    token.call("transfer", {"to": token, "amount": 1}, sender=alice)
    assert token.view("balance_of", {"owner": bob}) == 3
    assert token.view("balance_of", {"owner": token}) == 1


# -- transactions -----------------------------------------------------------------------------


def test_a_transfer_moves_the_amount_and_charges_the_gas_used(wasmchain: Client, alice: Account, bob: Account) -> None:
    before = alice.balance(), bob.balance()
    receipt = alice.transfer(bob, 12_345)
    assert receipt.ok and receipt.gas_used > 0
    assert bob.balance() == before[1] + 12_345
    assert alice.balance() == before[0] - 12_345 - receipt.gas_used * wasmchain.gas_price
    assert (receipt.block_height, wasmchain.head().height) == (1, 1)


def test_the_default_gas_limit_is_the_simulation_plus_the_nested_call_margin(
    wasmchain: Client, alice: Account, bob: Account, token: Contract
) -> None:
    vault = alice.deploy(VAULT, init="init", args={"token": token})
    token.call("transfer", {"to": vault, "amount": 10}, sender=alice)
    simulated = vault.simulate("withdraw", {"to": bob, "amount": 1}, sender=alice)
    receipt = vault.call("withdraw", {"to": bob, "amount": 1}, sender=alice)
    limit = gas_limit(wasmchain, receipt.tx_hash)
    assert receipt.gas_used == simulated.gas_used
    assert simulated.gas_used * NESTED_MARGIN <= limit < simulated.gas_used * NESTED_MARGIN + 10


def test_estimate_gas_adds_the_margin_up_to_the_cap() -> None:
    for used in (1, 63, 64, 100_000, 123_456_789):
        assert used * NESTED_MARGIN <= estimate_gas(used, 10**12) < used * NESTED_MARGIN + 10
    assert estimate_gas(1_000_000, 1_050_000) == 1_050_000


def test_an_explicit_gas_limit_is_used_as_given(wasmchain: Client, token: Contract, alice: Account) -> None:
    receipt = token.call("transfer", {"to": alice, "amount": 1}, sender=alice, gas=3_000_000)
    assert gas_limit(wasmchain, receipt.tx_hash) == 3_000_000
    needed = receipt.gas_used
    failed = token.call("transfer", {"to": alice, "amount": 1}, sender=alice, gas=needed - 1, check=False)
    assert (failed.status, failed.gas_used) == ("out_of_gas", needed - 1)


def test_the_default_gas_is_what_a_poor_sender_can_pay(wasmchain: Client, alice: Account) -> None:
    spinner = alice.deploy(SPIN)
    poor = wasmchain.dev_account(2)
    wasmchain.set_balance(poor, 2_000_000)
    result = spinner.call("spin", sender=poor, check=False)
    assert (result.status, result.gas_used * wasmchain.gas_price) == ("out_of_gas", 2_000_000)
    assert poor.balance() == 0


def test_several_clients_may_send_for_one_account(wasmchain: Client) -> None:
    other = Client(wasmchain.transport)
    senders = [wasmchain.dev_account(0), other.dev_account(0)]
    for index in range(4):
        senders[index % 2].transfer(wasmchain.dev_account(1), 1)
    assert wasmchain.dev_account(0).nonce() == other.dev_account(0).nonce() == 4


def test_a_failed_transaction_raises_or_is_returned(wasmchain: Client, token: Contract, bob: Account) -> None:
    with pytest.raises(TransactionFailed) as failure:
        token.call("transfer", {"to": bob, "amount": 1}, sender=bob)
    first, *trace = str(failure.value).splitlines()  # the trace of the failing path follows the first line
    assert first == "abort: insufficient balance: have 0, need 1"
    assert trace[0].startswith(f"failed in {token.address}::transfer (depth 0)")
    assert failure.value.status == "abort"
    assert failure.value.error == "insufficient balance: have 0, need 1"
    returned = token.call("transfer", {"to": bob, "amount": 1}, sender=bob, check=False)
    assert (returned.status, returned.error, returned.gas_used) == (
        "abort",
        failure.value.error,
        failure.value.result.gas_used,
    )
    assert returned.block_height == failure.value.result.block_height + 1
    assert bob.nonce() == 2


def test_a_refused_transaction_raises_the_nodes_error_and_costs_nothing(token: Contract, alice: Account) -> None:
    balance, nonce = alice.balance(), alice.nonce()
    with pytest.raises(RPCClientError, match='has no method "mint"') as refused:
        token.call("mint", {"amount": 1}, sender=alice)
    assert (refused.value.code, refused.value.reason) == (-32000, "unknown_method")
    assert (alice.balance(), alice.nonce()) == (balance, nonce)


def test_deploy_from_a_path_or_bytes(wasmchain: Client, alice: Account) -> None:
    from_path = alice.deploy(COUNTER)
    from_str = alice.deploy(str(COUNTER))
    from_bytes = alice.deploy(COUNTER.read_bytes(), value=7)
    addresses = {from_path.address, from_str.address, from_bytes.address}
    assert len(addresses) == 3
    assert len({wasmchain.call("get_code", address=address)["code_hash"] for address in addresses}) == 1
    assert from_bytes.balance() == 7
    assert from_path.deployment is not None and from_path.deployment.address == from_path.address


def test_a_deploy_whose_init_fails_raises_and_creates_nothing(wasmchain: Client, alice: Account) -> None:
    with pytest.raises(TransactionFailed, match="not initialized") as failure:
        alice.deploy(TOKEN, init="transfer", args={"to": alice, "amount": 1})
    assert failure.value.result.address is None
    with pytest.raises(ClientError, match="init="):
        alice.deploy(TOKEN, args={"supply": 1})
    with pytest.raises(ClientError, match="cannot read the module"):
        alice.deploy(ROOT / "no-such.wasm")


def test_a_view_returns_the_value_or_raises(wasmchain: Client, token: Contract, alice: Account) -> None:
    assert token.view("balance_of", {"owner": alice}) == 1_000
    with pytest.raises(CallFailed, match="insufficient balance: have 0, need 1") as failure:
        token.view("transfer", {"to": alice, "amount": 1})  # a view runs any method, and may fail
    assert failure.value.result.gas_used > 0
    with pytest.raises(ArgumentTypeError, match='argument "owner" is missing'):  # the token's world: checked first
        token.view("balance_of")
    raw = wasmchain.view(token, "balance_of", {"owner": alice}, caller=alice)
    assert (raw.status, raw.result, raw.return_data) == ("ok", 1_000, b"\xcd\x03\xe8")


def test_simulate_reports_without_keeping_anything(wasmchain: Client, alice: Account, bob: Account) -> None:
    head = wasmchain.head()
    transfer = wasmchain.simulate(alice, to=bob, value=5, gas=100_000)
    deploy = wasmchain.simulate(alice, code=TOKEN.read_bytes(), method="init", args={"supply": 9})
    assert transfer.ok and deploy.ok
    assert deploy.address is not None and [event.data["amount"] for event in deploy.events] == [9]
    assert wasmchain.head() == head and bob.balance() == wasmchain.dev_account(2).balance()
    assert alice.deploy(TOKEN, init="init", args={"supply": 9}).address == deploy.address
    transfer = wasmchain.simulate(alice, to=bob, value=5, gas=100_000)  # at the next nonce
    assert alice.transfer(bob, 5, gas=100_000).gas_used == transfer.gas_used


# -- receipts and events ----------------------------------------------------------------------


def test_waiting_for_a_transaction_behind_a_nonce_gap(wasmchain: Client, alice: Account, bob: Account) -> None:
    gapped = Transaction(
        chain_id=wasmchain.chain_id,
        nonce=alice.nonce() + 1,
        gas_limit=100_000,
        gas_price=wasmchain.gas_price,
        public_key=alice.key.public_key,
        kind=TxKind.TRANSFER,
        to=bytes.fromhex(bob.address[2:]),
        value=1,
    ).sign(alice.key)
    tx_hash = wasmchain.submit(gapped)
    with pytest.raises(ReceiptTimeout, match="nothing mines an in-process chain") as timeout:
        wasmchain.wait_for_receipt(tx_hash)  # in-process: at once, no sleeping
    assert timeout.value.tx_hash == tx_hash
    first = alice.transfer(bob, 1)  # fills the gap: both are mined
    second = wasmchain.wait_for_receipt(tx_hash)
    assert second.ok and second.block_height == first.block_height + 1
    assert wasmchain.wait_for_receipt(bytes.fromhex(tx_hash[2:])) == second


def test_events_page_through_small_windows_alike(
    monkeypatch: pytest.MonkeyPatch, wasmchain: Client, token: Contract, alice: Account
) -> None:
    for amount in range(1, 8):
        token.call("transfer", {"to": wasmchain.dev_account(amount), "amount": amount}, sender=alice)
    wasmchain.mine(3)
    everything = wasmchain.events()
    assert [event.data["amount"] for event in everything] == [1_000, *range(1, 8)]
    monkeypatch.setattr(Client, "EVENT_WINDOW", 3)
    monkeypatch.setattr(Client, "EVENT_PAGE", 2)
    assert wasmchain.events() == everything
    assert wasmchain.events(token, "Transfer", from_block=3, to_block=6) == [
        event for event in everything if 3 <= event.block_height <= 6
    ]
    assert wasmchain.events(to_block=10**9) == everything
    monkeypatch.setattr(Client, "EVENT_PAGE", 1)
    with pytest.raises(ClientError, match="holds 1 or more matching events"):
        wasmchain.events()


# -- devnet controls --------------------------------------------------------------------------


def test_isolated_undoes_everything_inside_it(wasmchain: Client, token: Contract, alice: Account, bob: Account) -> None:
    head, balance = wasmchain.head(), bob.balance()
    with pytest.raises(TransactionFailed):
        with wasmchain.isolated():
            token.call("transfer", {"to": bob, "amount": 10}, sender=alice)
            alice.transfer(bob, 10)
            assert token.view("balance_of", {"owner": bob}) == 10
            token.call("transfer", {"to": alice, "amount": 11}, sender=bob)
    assert wasmchain.head() == head
    assert (bob.balance(), token.view("balance_of", {"owner": bob})) == (balance, 0)


def test_snapshot_revert_mine_and_time(wasmchain: Client, bob: Account) -> None:
    start = wasmchain.head()
    snapshot = wasmchain.snapshot()
    wasmchain.set_balance(bob, 42)
    assert bob.balance() == 42
    assert wasmchain.mine(3) == start.height + 4
    wasmchain.increase_time(1000)
    wasmchain.mine()
    later = wasmchain.head()
    assert later.timestamp >= start.timestamp + 1000
    wasmchain.set_next_block_timestamp(later.timestamp + 50_000)
    wasmchain.mine()
    assert wasmchain.head().timestamp == later.timestamp + 50_000
    wasmchain.revert(snapshot)
    assert wasmchain.head() == start
    assert bob.balance() == 10**22
    with pytest.raises(RPCClientError, match="no snapshot") as refused:
        wasmchain.revert(snapshot)
    assert refused.value.reason == "devnet_refused"


# -- over HTTP, against the real devnet -------------------------------------------------------


@pytest.fixture
def devnet(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Client]:
    """``wasmchain devnet --port 0`` in a subprocess; the client is connected to the URL it prints."""
    extra: list[str] = getattr(request, "param", [])
    node = start_devnet(tmp_path / "data", *extra)
    try:
        with Client.connect(node.url) as client:
            yield client
    finally:
        node.stop()


def test_over_http_the_same_steps_cost_the_same_gas_as_in_process(devnet: Client) -> None:
    local = local_client(GENESIS)
    results = []
    for client in (devnet, local):
        alice, bob = client.dev_account(0), client.dev_account(1)
        token = alice.deploy(TOKEN, init="init", args={"supply": 500})
        transfer = token.call("transfer", {"to": bob, "amount": 20}, sender=alice)
        with pytest.raises(TransactionFailed, match="insufficient balance: have 20, need 21") as failure:
            token.call("transfer", {"to": alice, "amount": 21}, sender=bob)
        results.append(
            (
                token.address,
                token.deployment.gas_used if token.deployment else None,
                transfer.gas_used,
                failure.value.result.gas_used,
                token.view("balance_of", {"owner": bob}),
                [event.data for event in client.events(token)],
            )
        )
    assert results[0] == results[1]
    assert results[0][4] == 20


def test_over_http_snapshot_and_revert(devnet: Client) -> None:
    alice, bob = devnet.dev_account(0), devnet.dev_account(1)
    balance = bob.balance()
    with devnet.isolated():
        alice.transfer(bob, 1_000)
        assert bob.balance() == balance + 1_000
    assert bob.balance() == balance
    assert devnet.head().height == 0


@pytest.mark.parametrize("devnet", [["--block-time", "0.2"]], indirect=True)
def test_with_a_block_time_a_transaction_waits_for_its_block(devnet: Client) -> None:
    alice, bob = devnet.dev_account(0), devnet.dev_account(1)
    assert devnet.call("chain_info")["mining"] == {"block_time": 0.2}
    counter = alice.deploy(COUNTER)
    receipt = counter.call("increment", sender=bob)
    assert (receipt.ok, receipt.result) == (True, 1)
    assert counter.deployment is not None and receipt.block_height > counter.deployment.block_height
    assert devnet.head().height >= receipt.block_height


def test_an_unreachable_node_is_a_client_error() -> None:
    with pytest.raises(RPCClientError, match="cannot reach the node") as unreachable:
        Client.connect("http://127.0.0.1:1", timeout=5).head()
    assert unreachable.value.code is None and unreachable.value.reason == "no_answer"
    with pytest.raises(RPCClientError, match="http://HOST:PORT"):
        Client.connect("ftp://example.org")


NOOP = wasmtime.wat2wasm('(module (memory (export "memory") 1) (func (export "noop")))')


def _calls_noop(target: str) -> bytes:
    """A contract whose ``go`` calls ``noop`` on ``target`` with all its gas, and aborts if that fails."""
    address = "".join(f"\\{byte:02x}" for byte in bytes.fromhex(target[2:]))
    return wasmtime.wat2wasm(f'''(module
      (import "wasmchain" "call" (func $call (param i32 i32 i32 i32 i32 i32 i64) (result i32)))
      (import "wasmchain" "abort" (func $abort (param i32 i32)))
      (memory (export "memory") 1)
      (data (i32.const 0) "{address}") (data (i32.const 100) "noop") (data (i32.const 200) "callee failed")
      (func (export "go")
        (if (call $call (i32.const 0) (i32.const 100) (i32.const 4) (i32.const 0) (i32.const 0) (i32.const 64)
                        (i64.const 0))
          (then (call $abort (i32.const 200) (i32.const 13))))))''')


def test_the_default_gas_covers_the_call_reserve_of_a_small_nested_call(wasmchain: Client, alice: Account) -> None:
    # The 13% margin of a ~280k call is below the 50k a caller keeps back at
    # least: sent at the margin alone, the callee would not run.
    callee = alice.deploy(NOOP)
    caller = alice.deploy(_calls_noop(callee.address))
    simulated = caller.simulate("go", sender=alice)
    assert simulated.ok
    assert estimate_gas(simulated.gas_used, 10**12) - simulated.gas_used < 50_000
    at_margin = caller.call("go", sender=alice, gas=estimate_gas(simulated.gas_used, 10**12), check=False)
    assert (at_margin.status, at_margin.error) == ("abort", "callee failed")
    by_default = caller.call("go", sender=alice)
    assert by_default.ok and by_default.gas_used == simulated.gas_used


class _Answers(http.server.BaseHTTPRequestHandler):
    """Answers every POST with the error objects of ``replies`` (one per call of a batch)."""

    replies: list[dict[str, object]] = []

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        calls = request if isinstance(request, list) else [request]
        answers = [{"jsonrpc": "2.0", "id": call["id"], **reply} for call, reply in zip(calls, self.replies)]
        body = json.dumps(answers if isinstance(request, list) else answers[0]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_over_http_an_error_carries_the_nodes_reason_from_its_data() -> None:
    _Answers.replies = [
        {
            "error": {
                "code": -32000,
                "message": "rejected: nonce 0 was already used",
                "data": {"reason": "nonce_too_low"},
            }
        },
        {"error": {"code": -32001, "message": "no block"}},  # a node that sends no data: its code's reason
        {"error": {"code": -32001, "message": "odd", "data": {"reason": 7}}},
    ]
    server = http.server.HTTPServer(("127.0.0.1", 0), _Answers)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        transport = HTTPTransport(f"http://127.0.0.1:{server.server_address[1]}", timeout=10)
        with pytest.raises(RPCClientError, match="nonce 0 was already used") as caught:
            transport.call("submit_transaction", {"tx": "0x00"})
        assert (caught.value.code, caught.value.reason) == (-32000, "nonce_too_low")
        answers = transport.batch([("get_block", {}), ("get_block", {}), ("get_block", {})])
        reasons = [(error.code, error.reason) for error in answers if isinstance(error, RPCClientError)]
        assert reasons == [(-32000, "nonce_too_low"), (-32001, "not_found"), (-32001, "not_found")]
        transport.close()
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
