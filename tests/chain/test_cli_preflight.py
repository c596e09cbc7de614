"""A pre-flight on every send (issue 15, item 4): ``call``, ``deploy`` and ``transfer`` simulate first.

A simulation that fails is not sent: the CLI prints the simulated error, the
frame where it started and what to do, exits 1, and nothing changes (no
block, no nonce, no fee); ``--no-preflight`` sends anyway, and the failed
receipt is mined and charged.  Without ``--gas`` the gas limit is the
simulated gas plus the client's margin (``estimate_gas``), exactly the
simulated gas when no code runs, so a transfer of the whole balance less
the real fee goes through.  Each test runs on an embedded node (``--data``)
and on a running ``wasmchain devnet`` (``--rpc``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import CONTRACTS, GENESIS
from tests.helpers.cli import Run, wasmchain
from tests.helpers.devnet import Devnet, start_devnet
from wasmchain.cli.commands import DEFAULT_GAS, preflight_gas
from wasmchain.client.client import estimate_gas
from wasmchain.client.results import failure_hint
from wasmchain.protocol.keys import contract_address, dev_key, format_address
from wasmchain.protocol.transactions import Transaction, TxKind

TOKEN_WASM = str(CONTRACTS / "token" / "token.wasm")
VAULT_WASM = str(CONTRACTS / "vault" / "vault.wasm")
GENESIS_DOCUMENT = json.loads(GENESIS.read_text())
GAS = GENESIS_DOCUMENT["vm"]["gas"]
PRICE = int(GENESIS_DOCUMENT["chain"]["min_gas_price"])
BLOCK_GAS_LIMIT = int(GENESIS_DOCUMENT["chain"]["block_gas_limit"])
FIX = "fix the call, or send it anyway with --no-preflight (it would be mined, fail, and be charged)"
SPIN_WAT = '(module (memory (export "memory") 1) (func (export "spin") (loop $l (br $l))))'
TRAPPING_INIT_WAT = '(module (memory (export "memory") 1) (func (export "init") unreachable))'


class Chain:
    """Runs the CLI on one node: embedded over a data directory, or a running devnet through ``--rpc``."""

    def __init__(self, where: tuple[str, ...]) -> None:
        self.where = where

    def __call__(self, *argv: str) -> Run:
        return wasmchain(*argv, *self.where)

    def report(self, *argv: str) -> Any:
        run = self(*argv, "--json")
        assert run.code == 0, run
        return run.json()

    def account(self, who: str) -> dict[str, Any]:
        return dict(self.report("account", who))

    def height(self) -> int:
        return int(self.report("block", "latest")["height"])

    def snapshot(self, *who: str) -> tuple[int, list[dict[str, Any]]]:
        """The head height and the accounts: what a send that is not sent must leave as they are."""
        return self.height(), [self.account(name) for name in who]

    def deploy(self, wasm: str, sender: str, *args: str) -> str:
        run = self("deploy", wasm, "--from", sender, *args, "--json")
        assert run.code == 0, run
        return str(run.json()["address"])

    def token(self, sender: str = "dev0", supply: int = 1_000_000) -> str:
        return self.deploy(TOKEN_WASM, sender, "--init", "init", "--args", json.dumps({"supply": supply}))


@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    node = start_devnet(tmp_path_factory.mktemp("preflight") / "data")
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture(params=["embedded", "devnet"])
def chain(request: pytest.FixtureRequest, tmp_path: Path) -> Chain:
    """A fresh embedded chain, or the module's devnet (each test uses accounts no other test touches there)."""
    if request.param == "devnet":
        node: Devnet = request.getfixturevalue("devnet")
        return Chain(("--rpc", node.url, "--data", str(tmp_path / "keys")))
    embedded = Chain(("--data", str(tmp_path / "node")))
    assert embedded("init", "--genesis", str(GENESIS)).code == 0
    return embedded


def transfer_args(to: str, amount: int) -> str:
    return json.dumps({"to": to, "amount": amount})


def address(name: str) -> str:
    return format_address(dev_key(int(name.removeprefix("dev"))).address)


# -- refused before sending ------------------------------------------------------------------


def test_a_call_that_would_fail_is_not_sent(chain: Chain) -> None:
    token = chain.token("dev0")
    before = chain.snapshot("dev1")
    run = chain("call", token, "transfer", "--args", transfer_args("dev0", 5), "--from", "dev1")
    assert run.code == 1 and run.err == "", run
    lines = run.out.splitlines()
    assert lines[0] == (
        f"not sent: the simulation failed: abort: insufficient balance: have 0, need 5 (in {token}::transfer); {FIX}"
    )
    assert lines[1] == f"failed in {token}::transfer (depth 0): abort: insufficient balance: have 0, need 5"
    assert lines[2] == "trace of the failing path:"
    assert lines[-1].endswith("; nothing was signed or sent") and lines[-1].startswith("simulated on block ")
    assert "Traceback" not in run.out
    # Nothing was signed or sent: no block, the nonce and the balance as they were.
    assert chain.snapshot("dev1") == before


def test_the_json_report_of_a_refusal(chain: Chain) -> None:
    token = chain.token("dev0")
    before = chain.snapshot("dev1")
    run = chain("call", token, "transfer", "--args", transfer_args("dev0", 7), "--from", "dev1", "--json")
    assert run.code == 1 and run.err == "", run
    report = run.json()
    assert report["status"] == "preflight_failed" and report["sent"] is False
    assert report["error"].startswith("not sent: the simulation failed: abort: insufficient balance: have 0, need 7")
    assert report["hint"] is None
    simulation = report["simulation"]
    assert simulation["status"] == "abort" and simulation["error"] == "insufficient balance: have 0, need 7"
    assert simulation["block_height"] == before[0] and simulation["gas_used"] > 0
    assert report["gas_limit"] >= simulation["gas_used"]
    frame = {
        "contract": token,
        "method": "transfer",
        "depth": 0,
        "status": "abort",
        "error": "insufficient balance: have 0, need 7",
    }
    assert report["failed_frame"] == frame and report["failing_path"] == [frame]
    trace = report["trace"]  # the debug_trace_call object, as `simulate call --trace --json` prints it
    assert trace["status"] == "abort" and trace["block"] is None and trace["frame"]["method"] == "transfer"
    assert trace["gas_used"] == simulation["gas_used"]
    assert chain.snapshot("dev1") == before


def test_a_nested_failure_names_the_frame_where_it_started(chain: Chain) -> None:
    token = chain.token("dev2")
    vault = chain.deploy(VAULT_WASM, "dev2", "--init", "init", "--args", json.dumps({"token": token}))
    assert chain("call", token, "transfer", "--args", transfer_args(vault, 100), "--from", "dev2").code == 0
    before = chain.snapshot("dev2")
    withdraw = ("call", vault, "withdraw", "--args", transfer_args("dev1", 500), "--from", "dev2")
    run = chain(*withdraw)
    assert run.code == 1, run
    assert run.out.splitlines()[0] == (
        "not sent: the simulation failed: abort: token transfer failed: insufficient balance: have 100, need 500 "
        f"(in {token}::transfer); {FIX}"
    )
    assert f"failed in {token}::transfer (depth 1): abort: insufficient balance: have 100, need 500" in run.out
    report = chain(*withdraw, "--json").json()
    assert [(frame["contract"], frame["method"]) for frame in report["failing_path"]] == [
        (vault, "withdraw"),
        (token, "transfer"),
    ]
    assert report["failed_frame"]["depth"] == 1
    assert chain.snapshot("dev2") == before


def test_a_deploy_whose_init_fails_is_not_sent(chain: Chain, tmp_path: Path) -> None:
    module = tmp_path / "trapping.wat"
    module.write_text(TRAPPING_INIT_WAT)
    before = chain.snapshot("dev3")
    nonce = before[1][0]["nonce"]
    new_contract = format_address(contract_address(dev_key(3).address, nonce))
    run = chain("deploy", str(module), "--init", "init", "--from", "dev3")
    assert run.code == 1, run
    first = run.out.splitlines()[0]
    assert first.startswith("not sent: the simulation failed: trap: ")
    assert first.endswith(
        f"(in {new_contract}::init); fix the deploy, or send it anyway with --no-preflight "
        "(it would be mined, fail, and be charged)"
    )
    assert chain.snapshot("dev3") == before
    assert chain.report("account", new_contract)["code_hash"] is None
    # --no-preflight: mined, failed, charged; still no contract.
    sent = chain("deploy", str(module), "--init", "init", "--from", "dev3", "--no-preflight", "--json")
    assert sent.code == 1 and sent.json()["status"] == "trap", sent
    assert chain.account("dev3")["nonce"] == nonce + 1
    assert chain.report("account", new_contract)["code_hash"] is None


def test_a_transfer_that_would_fail_is_not_sent(chain: Chain) -> None:
    """A native transfer fails only when the recipient's balance would pass 2**128 - 1 (a devnet override)."""
    assert chain("devnet", "set-balance", "dev9", str(2**128 - 1)).code == 0
    before = chain.snapshot("dev6", "dev9")
    run = chain("transfer", "dev9", "1", "--from", "dev6")
    assert run.code == 1, run
    assert run.out.splitlines()[0] == (
        "not sent: the simulation failed: abort: the recipient's balance would pass 2**128 - 1; fix the transfer, "
        "or send it anyway with --no-preflight (it would be mined, fail, and be charged)"
    )
    assert chain.snapshot("dev6", "dev9") == before
    assert chain("transfer", "dev9", "1", "--from", "dev6", "--json").json()["failed_frame"] is None


# -- --no-preflight ----------------------------------------------------------------------------------


def test_no_preflight_sends_a_failing_call_and_it_is_charged(chain: Chain) -> None:
    token = chain.token("dev4")
    height, [account] = chain.snapshot("dev5")
    run = chain("call", token, "transfer", "--args", transfer_args("dev4", 5), "--from", "dev5", "--no-preflight")
    assert run.code == 1, run
    receipt = chain.report("tx", run.out.split("tx_hash: ")[1].split()[0])
    assert receipt["status"] == "abort" and receipt["error"] == "insufficient balance: have 0, need 5"
    assert receipt["transaction"]["gas_limit"] == DEFAULT_GAS  # no simulation, so no estimate
    after = chain.account("dev5")
    assert after["nonce"] == account["nonce"] + 1
    assert after["balance"] == account["balance"] - receipt["gas_used"] * receipt["transaction"]["gas_price"]
    assert chain.height() == height + 1


# -- the default gas limit -----------------------------------------------------------------------------


def test_the_default_gas_limit_is_the_simulated_gas_plus_the_margin(chain: Chain) -> None:
    token = chain.token("dev0")
    simulated = chain.report(
        "simulate",
        "call",
        token,
        "transfer",
        "--args",
        transfer_args("dev1", 3),
        "--from",
        "dev0",
        "--gas",
        str(BLOCK_GAS_LIMIT),  # what the CLI simulates at when the sender can pay for a whole block
    )
    assert simulated["status"] == "ok"
    run = chain("call", token, "transfer", "--args", transfer_args("dev1", 3), "--from", "dev0", "--json")
    assert run.code == 0, run
    receipt = run.json()
    limit = chain.report("tx", receipt["tx_hash"])["transaction"]["gas_limit"]
    used = simulated["gas_used"]
    assert receipt["gas_used"] == used
    assert limit == estimate_gas(used, BLOCK_GAS_LIMIT)
    assert used < limit <= used + used * 14 // 100  # (64/63)**8: about 13.4% more


def intrinsic_fee_fixed_point(chain: Chain, sender: str, to: str, balance: int) -> int:
    """The gas of a transfer of the whole balance less its fee, from the genesis gas schedule alone: its
    intrinsic gas (``tx_base + tx_byte`` per byte) counts its bytes, the gas limit's and the value's among them."""
    key = dev_key(int(sender.removeprefix("dev")))
    nonce = chain.account(sender)["nonce"]
    gas = DEFAULT_GAS
    for _ in range(10):
        tx = Transaction(
            chain_id=GENESIS_DOCUMENT["chain_id"],
            nonce=nonce,
            gas_limit=gas,
            gas_price=PRICE,
            public_key=key.public_key,
            kind=TxKind.TRANSFER,
            to=dev_key(int(to.removeprefix("dev"))).address,
            value=balance - gas * PRICE,
        )
        needed = GAS["tx_base"] + GAS["tx_byte"] * len(tx.sign(key).encoded)
        if needed == gas:
            return gas
        gas = needed
    raise AssertionError("the intrinsic gas did not settle")


def test_a_transfer_of_the_whole_balance_less_the_fee_succeeds(chain: Chain) -> None:
    balance = int(chain.account("dev7")["balance"])
    receiving = int(chain.account("dev8")["balance"])
    gas = intrinsic_fee_fixed_point(chain, "dev7", "dev8", balance)
    amount = balance - gas * PRICE
    # One more than that is refused by the node (the simulation says so): exit 2, nothing spent.
    over = chain("transfer", "dev8", str(amount + 1), "--from", "dev7")
    assert (over.code, over.out) == (2, ""), over
    assert over.err == (
        f"error: rejected: gas limit {gas - 1} is below the intrinsic cost {gas}; without --gas the gas limit is "
        f"what the balance left after the value pays for, {gas - 1}: attach less value, or fund the sender\n"
    )
    # The whole balance: nothing is left for the fee.
    over = chain("transfer", "dev8", str(balance), "--from", "dev7")
    assert (over.code, over.out) == (2, ""), over
    assert over.err == (
        f"error: rejected: the value {balance} leaves nothing of the balance {balance} for the fee: attach less "
        "value, or fund the sender\n"
    )
    unchanged = chain.account("dev7")
    assert (unchanged["balance"], unchanged["nonce"]) == (balance, 0)

    run = chain("transfer", "dev8", str(amount), "--from", "dev7", "--json")
    assert run.code == 0, run
    receipt = run.json()
    assert receipt["status"] == "ok" and receipt["gas_used"] == gas
    assert chain.report("tx", receipt["tx_hash"])["transaction"]["gas_limit"] == gas  # no margin: exact
    assert chain.account("dev7")["balance"] == 0
    assert chain.account("dev8")["balance"] == receiving + amount


def test_an_explicit_gas_is_exact_and_too_little_is_refused_with_the_hint(chain: Chain) -> None:
    token = chain.token("dev0")
    before = chain.snapshot("dev0")
    call = ("call", token, "transfer", "--args", transfer_args("dev1", 1), "--from", "dev0")
    run = chain(*call, "--gas", "100000")
    assert run.code == 1, run
    lines = run.out.splitlines()
    # instantiate (100,000) and the ABI 2 io area charged with it (10,000 + 3 x (116 + the 34-byte input))
    error = "out of gas: needed 110450 more, 46020 left of 46020"
    assert lines[0] == (
        f"not sent: the simulation failed: out_of_gas: {error} (in {token}::transfer); "
        "raise --gas (it was 100000), or leave it out to send with the simulated gas plus a margin"
    )
    hint = failure_hint("out_of_gas", error)
    assert hint is not None and "instantiating the contract" in hint
    assert lines[1] == f"hint: {hint}"
    assert chain(*call, "--gas", "100000", "--json").json()["hint"] == hint
    assert chain.snapshot("dev0") == before
    # Enough gas: sent with exactly that limit.
    sent = chain(*call, "--gas", "400000", "--json")
    assert sent.code == 0, sent
    assert chain.report("tx", sent.json()["tx_hash"])["transaction"]["gas_limit"] == 400_000


def test_a_failed_receipt_and_a_failed_simulation_print_the_hint(chain: Chain) -> None:
    token = chain.token("dev0")
    call = ("call", token, "transfer", "--args", transfer_args("dev1", 1), "--from", "dev0", "--gas", "100000")
    error = "out of gas: needed 110450 more, 46020 left of 46020"
    hint = f"hint: {failure_hint('out_of_gas', error)}"
    sent = chain(*call, "--no-preflight")
    assert sent.code == 1, sent
    assert "status: out_of_gas\n" in sent.out and sent.out.splitlines()[-1] == hint
    tx_hash = sent.out.split("tx_hash: ")[1].split()[0]
    assert hint in chain("tx", tx_hash).out.splitlines()
    assert hint in chain("trace", tx_hash).out.splitlines()
    simulated = chain("simulate", *call)
    assert simulated.code == 1 and simulated.out.splitlines()[-1] == hint
    traced = chain("simulate", *call, "--trace")
    assert traced.code == 1 and hint in traced.out.splitlines()


def test_running_out_at_the_most_gas_says_why(chain: Chain, tmp_path: Path) -> None:
    module = tmp_path / "spin.wat"
    module.write_text(SPIN_WAT)
    spin = chain.deploy(str(module), "dev0")
    # The node clamps a simulation to its --rpc-gas-cap (20M beyond the intrinsic gas).
    capped = chain("call", spin, "spin", "--from", "dev0", "--gas", "30000000", "--json")
    assert capped.code == 1, capped
    report = capped.json()
    assert report["gas_limit"] < 30_000_000
    assert report["error"].endswith(
        f"(in {spin}::spin); the node simulates at most {report['gas_limit']} gas (its --rpc-gas-cap), and the "
        "call needs more: send it with --gas and --no-preflight"
    )
    # A sender who can pay for less than the cap: the simulation ran at all it can pay for.
    assert chain("devnet", "set-balance", "dev5", "1000000").code == 0
    poor = chain("call", spin, "spin", "--from", "dev5", "--json").json()
    assert poor["gas_limit"] == 1_000_000 and poor["hint"] is None
    assert poor["error"].endswith(
        f"(in {spin}::spin); it needs more than 1000000 gas, all the sender can pay for: fund it, or attach less value"
    )
    assert chain.account("dev5")["balance"] == 1_000_000


# -- the rule, on made-up simulations ------------------------------------------------------------------


def test_the_exact_limit_settles_where_the_gas_used_is_the_limit() -> None:
    """A transfer's gas counts its bytes, the gas limit's among them (msgpack: 3 bytes below 65,536, else 5)."""
    asked: list[int] = []

    def simulate(limit: int) -> dict[str, Any]:
        asked.append(limit)
        return {"status": "ok", "gas_used": 50_000 + 20 * (3 if limit < 65_536 else 5), "return_hex": ""}

    most = BLOCK_GAS_LIMIT
    assert preflight_gas(simulate, simulate(most), most, runs_code=False) == 50_060
    assert asked == [most, 50_100, 50_060]


def test_a_limit_that_changes_the_outcome_is_raised_to_the_lowest_that_does_not() -> None:
    """The margin may not cover a caller's reserve: the lowest limit that keeps the outcome, within 0.1%."""

    def simulate(limit: int) -> dict[str, Any]:
        ok = limit >= 150_000
        return {"status": "ok" if ok else "abort", "gas_used": 100_000 if ok else limit, "return_hex": ""}

    assert estimate_gas(100_000, 10**6) < 150_000
    assert 150_000 <= preflight_gas(simulate, simulate(10**6), 10**6, runs_code=True) <= 150_000 + 150

    def generous(limit: int) -> dict[str, Any]:
        return {"status": "ok", "gas_used": 100_000, "return_hex": ""}

    assert preflight_gas(generous, generous(10**6), 10**6, runs_code=True) == estimate_gas(100_000, 10**6)
