"""A real CometBFT network: four validators on loopback, each a ``cometbft`` and a ``wasmchain node`` process.

One network serves the module's tests, in order (each leaves its four validators running and agreeing):
refusals at CheckTx, a transaction that fails in execution, 500 transactions sent round-robin (every
height's app hash equal on every node, and equal to our own replay of an export), one validator killed
under load and restarted, an application killed alone and brought back by CometBFT's handshake.  Then
``wasmchain localnet`` itself: set up, used, stopped, resumed.  Without the pinned cometbft they skip
(and fail under ``WASMCHAIN_REQUIRE_COMETBFT=1``, as in CI): see tests/helpers/network.py.
"""

from __future__ import annotations

import base64
import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.network import GENESIS, ROOT, Network, cometbft_binary, free_loopback_range, run_cli, start_network
from wasmchain import Client, RPCClientError
from wasmchain.client.client import Contract
from wasmchain.node.abci.app import CODES
from wasmchain.protocol.keys import dev_key
from wasmchain.protocol.transactions import Transaction, TxKind

pytestmark = pytest.mark.slow

TOKEN = ROOT / "contracts/token/token.wasm"
COUNTER = ROOT / "contracts/counter/counter.wasm"
SENDERS = 10
PER_SENDER = 50


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    started = start_network(tmp_path_factory.mktemp("network"), 4)
    try:
        yield started
    except BaseException:
        started.kill_all()
        raise
    try:
        started.stop_all()
    except BaseException:
        print(started.logs())
        started.kill_all()
        raise


def head(client: Client) -> int:
    height: int = client.call("chain_info")["head"]["height"]
    return height


def wait_head(client: Client, height: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while head(client) < height:
        assert time.monotonic() < deadline, f"the node did not reach height {height} within {timeout:g} s"
        time.sleep(0.05)


def state_roots(network: Network, upto: int) -> list[list[str]]:
    """Each node's state root at every height 1..upto (every node at ``upto`` or beyond first)."""
    clients = [network.client(index) for index in range(network.size)]
    for client in clients:
        wait_head(client, upto)
    return [
        [client.call("get_block", block=height)["state_root"] for height in range(1, upto + 1)] for client in clients
    ]


def assert_agree(network: Network, upto: int) -> list[str]:
    roots = state_roots(network, upto)
    for index, theirs in enumerate(roots[1:], start=1):
        differ = [height for height, (a, b) in enumerate(zip(roots[0], theirs), start=1) if a != b]
        assert not differ, f"validator{index}'s state root differs from validator0's at heights {differ[:10]}"
    return roots[0]


def signed_transfer(client: Client, sender: int, nonce: int, *, bad_signature: bool = False) -> bytes:
    tx = Transaction(
        chain_id=client.chain_id,
        nonce=nonce,
        gas_limit=1_000_000,
        gas_price=client.gas_price,
        public_key=dev_key(sender).public_key,
        kind=TxKind.TRANSFER,
        to=dev_key(9).address,
        value=1,
    )
    encoded = tx.sign(dev_key(sender)).encoded
    return encoded[:-1] + bytes([encoded[-1] ^ 1]) if bad_signature else encoded


def cometbft_broadcast(network: Network, index: int, tx: bytes) -> dict[str, Any]:
    url = f"/broadcast_tx_sync?tx=0x{tx.hex()}"
    result: dict[str, Any] = network.comet_rpc(index, url)
    return result


def block_txs(network: Network, index: int, height: int) -> list[bytes]:
    block = network.comet_rpc(index, f"/block?height={height}")["block"]
    return [base64.b64decode(tx) for tx in block["data"]["txs"] or []]


# -- refusals and failures ---------------------------------------------------------------------------


def test_malformed_and_badly_signed_transactions_are_refused_at_check_tx(network: Network) -> None:
    client = network.client(1)
    start = head(client)
    nonce = client.nonce(client.dev_account(4))
    bad = signed_transfer(client, 4, nonce, bad_signature=True)
    malformed = b"\x92\x01\x02"  # msgpack, but not a transaction
    with pytest.raises(RPCClientError) as refused:  # through our node: CheckTx's refusal, as ours
        client.call("submit_transaction", tx="0x" + bad.hex())
    assert refused.value.reason == "bad_signature", refused.value
    # Straight to CometBFT, past our node's own decoding: CheckTx refuses both.
    assert cometbft_broadcast(network, 2, malformed)["code"] == CODES["malformed_transaction"]
    assert cometbft_broadcast(network, 3, bad)["code"] == CODES["bad_signature"]
    for index in range(network.size):
        wait_head(network.client(index), start + 3)
    for height in range(start + 1, head(network.client(0)) + 1):
        for index in range(network.size):
            assert not {bad, malformed} & set(block_txs(network, index, height)), (index, height)
    assert client.nonce(client.dev_account(4)) == nonce
    assert network.comet_rpc(0, "/num_unconfirmed_txs")["n_txs"] == "0"


def test_a_transaction_that_fails_in_execution_fails_alike_everywhere(network: Network) -> None:
    client = network.client(0)
    owner = client.dev_account(0)
    token = owner.deploy(TOKEN, init="init", args={"supply": 1000})
    poor = client.dev_account(5)
    before = [network.client(index).balance(poor) for index in range(network.size)]
    failed = client.contract(token.address).call("transfer", {"to": owner, "amount": 10}, sender=poor, check=False)
    assert failed.status == "abort" and failed.error, failed
    height = failed.block_height
    for index in range(network.size):
        other = network.client(index)
        wait_head(other, height)
        receipt = other.call("get_receipt", hash=failed.tx_hash)
        assert (receipt["status"], receipt["gas_used"], receipt["block_height"]) == ("abort", failed.gas_used, height)
        assert other.balance(poor) == before[index] - failed.gas_used * other.gas_price  # the fee, nothing else
        assert other.view(token, "balance_of", {"owner": owner.address}).result == 1000
    assert_agree(network, height)


# -- 500 transactions, round-robin ---------------------------------------------------------------------


class Sender:
    """One dev account sending to every validator in turn, each send after the last one's block reached it."""

    def __init__(self, network: Network, dev: int) -> None:
        self.dev = dev
        self.clients = [network.client(index) for index in range(network.size)]
        self.height = 0
        self.results: list[Any] = []

    def client(self, turn: int) -> Client:
        client = self.clients[(self.dev + turn) % len(self.clients)]
        wait_head(client, self.height)  # its nonce and state include this account's last transaction
        return client

    def close(self) -> None:
        """Close this thread's connections (each thread closes its own)."""
        for client in self.clients:
            client.close()

    def record(self, result: Any) -> None:
        assert result.ok, result
        self.height = result.block_height
        self.results.append(result)


def send_round_robin(sender: Sender, count: int, errors: list[BaseException]) -> None:
    try:
        token: Contract | None = None
        for turn in range(count):
            client = sender.client(turn)
            me = client.dev_account(sender.dev)
            if token is None:
                token = me.deploy(TOKEN, init="init", args={"supply": 1_000_000})
                sender.record(token.deployment)
            elif turn % 10 == 5:
                sender.record(me.deploy(COUNTER).deployment)
            else:
                to = client.dev_account((sender.dev + turn) % SENDERS)
                mine = client.contract(token.address)
                sender.record(mine.call("transfer", {"to": to, "amount": turn}, sender=me))
    except BaseException as error:
        errors.append(error)
    finally:
        sender.close()


def test_500_transactions_round_robin_agree_everywhere_and_with_a_replay(network: Network, tmp_path: Path) -> None:
    senders = [Sender(network, dev) for dev in range(SENDERS)]
    errors: list[BaseException] = []
    threads = [threading.Thread(target=send_round_robin, args=(sender, PER_SENDER, errors)) for sender in senders]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(600)
    assert not errors, errors[0]
    seconds = time.monotonic() - started
    results = [result for sender in senders for result in sender.results]
    assert len(results) == SENDERS * PER_SENDER
    assert (
        sum(1 for result in results if result.address is not None) == SENDERS * 6
    )  # deploys: a token and 5 counters each
    last = max(result.block_height for result in results)
    print(f"{len(results)} transactions in {seconds:.1f} s, heights up to {last}")

    roots = assert_agree(network, last + 1)
    # CometBFT's header H + 1 carries the app hash after block H: our state root, on every node.
    for index in range(network.size):
        header = network.comet_rpc(index, f"/block?height={last + 1}")["block"]["header"]
        assert "0x" + header["app_hash"].lower() == roots[last - 1], index
    for height in range(1, last + 1, 7):
        header = network.comet_rpc(height % 4, f"/block?height={height + 1}")["block"]["header"]
        assert "0x" + header["app_hash"].lower() == roots[height - 1], height
    # Every receipt is the same on every node.
    for result in results[::25]:
        receipts = [network.client(index).call("get_receipt", hash=result.tx_hash) for index in range(network.size)]
        assert all(receipt == receipts[0] for receipt in receipts), result.tx_hash

    # Our own replay of one node's export: validator3 stopped, its data directory exported and replayed.
    network.stop(3)
    data = network.layout.data(3).path
    exported = tmp_path / "chain.blocks"
    done = run_cli("export", "--data", str(data), "--out", str(exported), "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    replayed = run_cli("replay", str(exported), "--json", cwd=tmp_path)
    assert replayed.returncode == 0 and json.loads(replayed.stdout)["status"] == "match", replayed.stdout
    fresh = tmp_path / "imported"
    imported = run_cli("import", str(exported), "--data", str(fresh), "--json", cwd=tmp_path)
    assert imported.returncode == 0, imported.stdout + imported.stderr
    block = run_cli("block", "latest", "--data", str(fresh), "--json", cwd=tmp_path)
    report = json.loads(block.stdout)
    assert report["height"] >= last + 1
    assert report["state_root"] == network.client(0).call("get_block", block=report["height"])["state_root"]
    network.start(3)
    wait_head(network.client(3), head(network.client(0)))


# -- crashes -------------------------------------------------------------------------------------------


class Load:
    """Transfers sent by dev8 to the validators ``to`` in turn, in a thread, until stopped."""

    def __init__(self, network: Network, to: tuple[int, ...]) -> None:
        self.sender = Sender(network, 8)
        self.sender.clients = [self.sender.clients[index] for index in to]
        self.stopping = threading.Event()
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self.run)

    def run(self) -> None:
        try:
            turn = 0
            while not self.stopping.is_set():
                client = self.sender.client(turn)
                self.sender.record(client.dev_account(8).transfer(client.dev_account(7), 1))
                turn += 1
        except BaseException as error:
            self.errors.append(error)
        finally:
            self.sender.close()

    def __enter__(self) -> Load:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stopping.set()
        self.thread.join(120)
        assert not self.errors, self.errors[0]


def test_a_validator_killed_under_load_catches_up(network: Network) -> None:
    clients = [network.client(index) for index in range(network.size)]
    with Load(network, (0, 1, 2)) as load:
        time.sleep(2)
        network.kill(3)
        killed_at = max(head(client) for client in clients[:3])
        for client in clients[:3]:  # the other three keep committing
            wait_head(client, killed_at + 10)
        sent = len(load.sender.results)
        time.sleep(2)
        network.start(3)
        wait_head(clients[3], max(head(client) for client in clients[:3]))
    assert len(load.sender.results) > sent, "no transaction went through while validator3 was down"
    assert_agree(network, max(head(client) for client in clients))


def test_an_application_killed_alone_is_brought_back_by_the_handshake(network: Network) -> None:
    clients = [network.client(index) for index in range(network.size)]
    with Load(network, (0, 1, 3)):
        time.sleep(2)
        network.kill(2, cometbft=False)
        node = network.nodes[2]
        assert node is not None
        node.process.wait(30)  # CometBFT stops when its application's connection breaks
        network.nodes[2] = None
        killed_at = max(head(clients[index]) for index in (0, 1, 3))
        for index in (0, 1, 3):
            wait_head(clients[index], killed_at + 5)
        network.start(2)
        wait_head(clients[2], max(head(clients[index]) for index in (0, 1, 3)))
    upto = max(head(client) for client in clients)
    assert_agree(network, upto)
    hashes = [[client.call("get_block", block=height)["hash"] for height in range(1, upto + 1)] for client in clients]
    assert all(theirs == hashes[0] for theirs in hashes)  # nothing lost, nothing different


# -- wasmchain localnet ----------------------------------------------------------------------------------


def test_wasmchain_localnet_starts_stops_and_resumes(tmp_path: Path) -> None:
    cometbft = cometbft_binary()
    first = free_loopback_range()
    command = [
        sys.executable, "-m", "wasmchain.cli.main", "localnet", "--validators", "2", "--dir", str(tmp_path / "net"),
        "--genesis", str(GENESIS), "--cometbft", str(cometbft), "--first-address", first,
    ]  # fmt: skip

    def run_until_ready() -> tuple[subprocess.Popen[str], list[str]]:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path)
        lines: list[str] = []
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if line.startswith("Localnet running: 2 validators"):
                return process, lines
        raise AssertionError(f"wasmchain localnet exited {process.wait()}:\n{''.join(lines)}")

    def stop(process: subprocess.Popen[str], lines: list[str]) -> str:
        process.send_signal(signal.SIGINT)
        assert process.stdout is not None
        lines += process.stdout.readlines()
        process.stdout.close()
        assert process.wait(60) == 0, "".join(lines)
        output = "".join(lines)
        assert "Traceback" not in output and lines[-1].startswith("stopped 2 validators"), output
        return output

    process, lines = run_until_ready()
    try:
        output = "".join(lines)
        second = first.rsplit(".", 1)[0] + ".2"
        assert f"validator1  rpc http://{second}:8545" in output and "(set up now)" in output, output
        client = Client.connect(f"http://{second}:8545")
        dev0, dev3 = client.dev_account(0), client.dev_account(3)
        balance = dev3.balance()
        sent = dev0.transfer(dev3, 77)
        client.close()
    finally:
        if process.poll() is None:
            stop(process, lines)
    process, lines = run_until_ready()
    try:
        assert "(resumed)" in "".join(lines)
        client = Client.connect(f"http://{first}:8545")
        wait_head(client, sent.block_height)  # (validator0 may have stopped a block behind validator1)
        assert client.balance(client.dev_account(3)) == balance + 77
        client.close()
    finally:
        stop(process, lines)
