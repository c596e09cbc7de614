"""ABI 1.1's ``debug_log``: its price, its bounds, where its messages go (and never go), and the VM versions.

The modules are built by hand (``tests/vm/conftest.py``'s encoder), so each
method's instructions are known exactly: two methods that run the same
number of wasm operators differ in gas only by what their host calls charge.
The expected charges come from genesis.json's gas schedule, read here.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from tests.chain.test_archive import CODE_ABI1, HEAD, Signer, produce
from tests.helpers import GENESIS, Sandbox, contract_address, devnet_params
from tests.vm.conftest import MAGIC_VERSION, leb, name, section, vec
from wasmchain.cli.commands import cmd_export, cmd_import
from wasmchain.cli.main import main
from wasmchain.history.replay import load_genesis_document, replay_archive, replay_database
from wasmchain.node.datadir import DataDir
from wasmchain.protocol.blocks import Receipt
from wasmchain.protocol.errors import InvalidDeployModule
from wasmchain.protocol.genesis import genesis_from_document
from wasmchain.protocol.keys import contract_address as deployed_address
from wasmchain.protocol.keys import dev_key
from wasmchain.protocol.transactions import TxKind
from wasmchain.store.chain import Chain
from wasmchain.store.kv import LevelDBKV, MemoryKV
from wasmchain.vm import VM_VERSION, VM_VERSIONS, LogLine, Runtime
from wasmchain.vm.errors import InvalidModule
from wasmchain.vm.params import VM_VERSION_ABI_1

DOCUMENT: dict[str, Any] = json.loads(GENESIS.read_text())
GAS: dict[str, int] = DOCUMENT["vm"]["gas"]
"""The devnet gas schedule, as genesis.json writes it."""
MAX_EVENT_DATA = DOCUMENT["vm"]["limits"]["max_event_data_size"]

# --- a hand-made module ---------------------------------------------------------------------

I32, I64 = 0x7F, 0x7E
# The host functions the modules import, in this order (their function indices), with their wasm types.
IMPORTS: dict[str, tuple[bytes, bytes]] = {
    "debug_log": (bytes([I32, I32]), b""),
    "event_emit": (bytes([I32] * 4), b""),
    "input_read": (bytes([I32, I32]), bytes([I32])),
    "storage_write": (bytes([I32] * 4), b""),
    "abort": (bytes([I32, I32]), b""),
    "call": (bytes([I32] * 6 + [I64]), bytes([I32])),
    "env_read": (bytes([I32]), b""),
}


def sleb(value: int) -> bytes:
    """Signed LEB128 (an ``i32.const``'s immediate)."""
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        if (value == 0 and not byte & 0x40) or (value == -1 and byte & 0x40):
            return bytes(out + bytes([byte]))
        out.append(byte | 0x80)


def const(value: int) -> bytes:
    """``i32.const value`` (an unsigned 32-bit value is written as the i32 with the same bits)."""
    return b"\x41" + sleb(value - (1 << 32) if value >= 1 << 31 else value)


def call(host_function: str) -> bytes:
    return b"\x10" + leb(list(IMPORTS).index(host_function))


DROP = b"\x1a"


def log(ptr: int, length: int) -> bytes:
    """``debug_log(ptr, length)``: four operators and a call, like an ``event_emit`` (``emit``)."""
    return const(0) + const(0) + const(ptr) + const(length) + call("debug_log") + DROP + DROP


def emit(name_ptr: int, name_len: int, data_ptr: int, data_len: int) -> bytes:
    return const(name_ptr) + const(name_len) + const(data_ptr) + const(data_len) + call("event_emit")


def nested(address_ptr: int, method_ptr: int, method_len: int) -> bytes:
    """``drop(call(address, method, no args, value 0 (16 zero bytes at 0), all the gas))``."""
    return (
        const(address_ptr)
        + const(method_ptr)
        + const(method_len)
        + const(0)
        + const(0)
        + const(0)
        + b"\x42\x00"  # i64.const 0
        + call("call")
        + DROP
    )


def abort(ptr: int, length: int) -> bytes:
    return const(ptr) + const(length) + call("abort")


def module(methods: dict[str, bytes], data: dict[int, bytes], *, pages: int = 1) -> bytes:
    """A module importing ``IMPORTS``, with one memory of ``pages`` and the methods (raw bodies, ``end`` added)."""
    signatures = [
        b"\x60" + vec([bytes([t]) for t in params]) + vec([bytes([t]) for t in results])
        for params, results in IMPORTS.values()
    ]
    types = [*signatures, b"\x60\x00\x00"]
    method_type = leb(len(types) - 1)
    imports = [name("wasmchain") + name(host) + b"\x00" + leb(index) for index, host in enumerate(IMPORTS)]
    exports = [name("memory") + b"\x02\x00"] + [
        name(method) + b"\x00" + leb(len(IMPORTS) + index) for index, method in enumerate(methods)
    ]
    bodies = [b"\x00" + body + b"\x0b" for body in methods.values()]
    segments = [b"\x00" + const(offset) + b"\x0b" + leb(len(raw)) + raw for offset, raw in sorted(data.items())]
    return (
        MAGIC_VERSION
        + section(1, vec(types))
        + section(2, vec(imports))
        + section(3, vec([method_type] * len(methods)))
        + section(5, b"\x01\x00" + leb(pages))
        + section(7, vec(exports))
        + section(10, vec([leb(len(body)) + body for body in bodies]))
        + section(11, vec(segments))
    )


MESSAGE_AT = 1024
"""Where the modules keep their log text; 16 zero bytes at 0 are a call's value."""
NAME_AT = 64

LOGGER = contract_address(1)
CALLEE = contract_address(2)
LOGGER_CODE = module(
    {
        # The four-operator, one-call shapes: a log of N bytes and an event of N bytes (name and data) and none.
        **{f"log_{n}": log(MESSAGE_AT, n) for n in (0, 1, 100, MAX_EVENT_DATA)},
        **{f"emit_{n}": emit(NAME_AT, min(n, 1), MESSAGE_AT, n - min(n, 1)) for n in (0, 1, 100, MAX_EVENT_DATA)},
        "nothing": const(0) + const(0) + const(0) + const(0) + DROP + DROP + DROP + DROP,
        "too_long": log(MESSAGE_AT, MAX_EVENT_DATA + 1),
        "bad_utf8": log(0x200, 7),
        "out_of_memory": log(65536 - 3, 8),
        "far_away": log(0xFFFF_FFF0, 4),
        # a1, then callee.fails (b1, then an abort: status 1), a2, callee.works (b2), a3.
        "calls": log(0x300, 2) + nested(0x100, 0x120, 5) + log(0x302, 2) + nested(0x100, 0x128, 5) + log(0x304, 2),
        "calls_then_aborts": log(0x300, 2) + nested(0x100, 0x120, 5) + log(0x302, 2) + abort(0x130, 4),
    },
    {
        0x100: CALLEE,
        0x120: b"fails",
        0x128: b"works",
        0x130: b"oops",
        0x200: b"ok\xff\xfeend",
        0x300: b"a1a2a3",
        NAME_AT: b"E",
        MESSAGE_AT: b"x" * (MAX_EVENT_DATA + 1),
    },
)
CALLEE_CODE = module(
    {"fails": log(0x10, 2) + abort(0x20, 4), "works": log(0x12, 2)},
    {0x10: b"b1b2", 0x20: b"nope"},
)


def _document(version: str) -> dict[str, Any]:
    document = copy.deepcopy(DOCUMENT)
    document["vm"]["version"] = version
    return document


def abi_1_1() -> Sandbox:
    box = Sandbox(dataclasses.replace(devnet_params(), version=VM_VERSION))
    box.deploy(LOGGER_CODE, LOGGER)
    box.deploy(CALLEE_CODE, CALLEE)
    return box


@pytest.fixture(scope="module")
def box() -> Sandbox:
    return abi_1_1()


def test_the_devnet_genesis_names_the_newest_vm_version() -> None:
    assert DOCUMENT["vm"]["version"] == VM_VERSION == "wasmtime-50.0.1/abi-2"
    assert VM_VERSIONS == (
        "wasmtime-50.0.1/abi-1",
        "wasmtime-50.0.1/abi-1.1",
        "wasmtime-50.0.1/abi-1.2",
        "wasmtime-50.0.1/abi-2",
    )


# --- its price and its bounds --------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 100, MAX_EVENT_DATA])
def test_a_log_costs_what_an_event_of_its_size_costs(box: Sandbox, size: int) -> None:
    logged, emitted, nothing = (box.call(LOGGER, method) for method in (f"log_{size}", f"emit_{size}", "nothing"))
    assert logged.ok and emitted.ok and nothing.ok, (logged, emitted)
    assert logged.gas_used == emitted.gas_used
    # The host's charge, from genesis.json: host_call + event_base + event_byte per byte (plus the call operator).
    charge = GAS["host_call"] + GAS["event_base"] + GAS["event_byte"] * size
    assert logged.gas_used - nothing.gas_used == charge + 1
    assert [line.message for line in logged.logs] == ["x" * size]
    assert logged.events == () and len(emitted.events) == 1


def test_a_message_over_max_event_data_size_is_refused(box: Sandbox) -> None:
    outcome = box.call(LOGGER, "too_long", gas=5_000_000)
    assert outcome.status == "trap" and outcome.gas_used == 5_000_000
    assert outcome.error is not None
    assert f"debug_log message of {MAX_EVENT_DATA + 1} bytes is over max_event_data_size ({MAX_EVENT_DATA})" in (
        outcome.error
    )
    assert outcome.logs == ()


def test_invalid_utf8_is_replaced(box: Sandbox) -> None:
    outcome = box.call(LOGGER, "bad_utf8")
    assert outcome.ok
    assert outcome.logs == (LogLine(LOGGER, "ok\ufffd\ufffdend"),)


@pytest.mark.parametrize("method", ["out_of_memory", "far_away"])
def test_a_pointer_outside_memory_is_a_host_error(box: Sandbox, method: str) -> None:
    outcome = box.call(LOGGER, method, gas=5_000_000)
    # A HostError is a Trap: the whole limit is burnt, nothing logged.
    assert outcome.status == "trap" and outcome.gas_used == 5_000_000
    assert "debug_log message" in (outcome.error or "")
    assert outcome.logs == ()


# --- where the messages go --------------------------------------------------------------------


def test_logs_of_failed_frames_and_nested_calls_come_in_order(box: Sandbox) -> None:
    outcome = box.call(LOGGER, "calls")
    assert outcome.ok, outcome.error
    assert outcome.logs == (
        LogLine(LOGGER, "a1"),
        LogLine(CALLEE, "b1"),  # its frame aborted; its log stays
        LogLine(LOGGER, "a2"),
        LogLine(CALLEE, "b2"),
        LogLine(LOGGER, "a3"),
    )
    failed = box.call(LOGGER, "calls_then_aborts")
    assert (failed.status, failed.error) == ("abort", "oops")
    assert failed.events == ()
    assert failed.logs == (LogLine(LOGGER, "a1"), LogLine(CALLEE, "b1"), LogLine(LOGGER, "a2"))


# `echo` logs the block's timestamp (8 raw bytes of the environment record), writes k = v and emits E: the same
# transaction in two blocks with other timestamps logs two messages and does nothing else differently.
# `echo_input` logs its input.
ECHO_CODE = module(
    {
        "echo": const(MESSAGE_AT)
        + call("env_read")
        + log(MESSAGE_AT + 72, 8)
        + const(0x10)
        + const(1)
        + const(0x11)
        + const(1)
        + call("storage_write")
        + emit(0x10, 1, 0x11, 1),
        "echo_input": const(MESSAGE_AT) + const(64) + call("input_read") + DROP + log(MESSAGE_AT, 4),
    },
    {0x10: b"kv"},
)


def _echo_chain(version: str) -> tuple[Chain, Signer, bytes]:
    """A chain under ``version`` where dev0 deployed ECHO (its address is returned)."""
    genesis = genesis_from_document(_document(version))
    chain = Chain.create(MemoryKV(), genesis)
    signer = Signer(genesis, dev_key(0))
    chain.commit(chain.finalize([signer(TxKind.DEPLOY, 10**8, code=ECHO_CODE)], chain.head.timestamp + 1))
    return chain, signer, deployed_address(signer.key.address, 0)


def test_logs_are_never_in_a_receipt_or_a_root() -> None:
    assert not [field.name for field in dataclasses.fields(Receipt) if "log" in field.name]
    results, logged = [], []
    for later in (1, 2):
        chain, signer, echo = _echo_chain(VM_VERSION)
        call_echo = signer(TxKind.CALL, method="echo", to=echo)
        pending = chain.finalize([call_echo], chain.head.timestamp + later)
        [receipt] = pending.receipts
        assert receipt.status == "ok" and len(receipt.events) == 1
        header = pending.block.header
        results.append((pending.receipts, header.receipts_root, header.state_root, pending.changes))
        chain.commit(pending)
        [line] = chain.view(echo, "echo", b"", 10**6).logs  # the head's timestamp, as the block logged it
        logged.append(line.message)
    # The messages differ; the receipts, the receipts roots, the state roots and the state changes do not.
    assert logged[0] != logged[1]
    assert results[0] == results[1]


# --- the VM versions: an ABI 1 chain runs as before ABI 1.1 --------------------------------------


def test_abi_1_refuses_the_import_at_deploy_and_abi_1_1_accepts_it() -> None:
    refusing = Runtime(dataclasses.replace(devnet_params(), version=VM_VERSION_ABI_1))
    with pytest.raises(InvalidModule) as refused:
        refusing.validate(LOGGER_CODE)
    assert refused.value.rule == "import"
    assert "wasmchain.debug_log is not a host function of this chain's ABI" in str(refused.value)
    assert Runtime(dataclasses.replace(devnet_params(), version=VM_VERSION)).validate(LOGGER_CODE).methods

    # On a chain: the deploy transaction is refused (nothing mined) under ABI 1, mined under ABI 1.1.
    genesis = genesis_from_document(_document(VM_VERSION_ABI_1))
    chain = Chain.create(MemoryKV(), genesis)
    deploy = Signer(genesis, dev_key(0))(TxKind.DEPLOY, 10**8, code=ECHO_CODE)
    with pytest.raises(InvalidDeployModule, match="import wasmchain.debug_log is not a host function"):
        chain.check_tx(deploy)
    chain, _, echo = _echo_chain(VM_VERSION)
    assert chain.account(echo).is_contract


def test_an_abi_1_chain_replays_imports_and_keeps_its_roots(tmp_path: Path) -> None:
    roots = {}
    for version in VM_VERSIONS:
        data = DataDir(tmp_path / version.replace("/", "_") / "node")
        with LevelDBKV(data.db, create=True) as kv:
            chain = Chain.create(kv, genesis_from_document(_document(version)))
            produce(chain, CODE_ABI1)  # ABI 1 modules, which every version runs alike
            roots[version] = [chain.header(height).state_root for height in range(HEAD + 1)]
            assert chain.genesis.vm.version == version
        with LevelDBKV(data.db, create=False) as kv:
            assert replay_database(kv).status == "match"
        out = tmp_path / f"{len(roots)}.blocks"
        assert cmd_export(data, out, None, None)[0] == 0
        assert replay_archive(out).status == "match"
        imported = DataDir(tmp_path / f"imported-{len(roots)}" / "node")
        code, report = cmd_import(imported, out)
        assert code == 0 and report["error"] is None, report
    # The version is in the genesis commitment (every block hash), never in a state root.
    assert roots[VM_VERSION_ABI_1] == roots[VM_VERSION]
    assert all(each == roots[VM_VERSION] for each in roots.values())  # ABI 1 modules under ABI 2 too


def test_a_mismatch_replay_keeps_a_version_this_node_runs() -> None:
    text = json.dumps(_document(VM_VERSION_ABI_1)).encode()
    assert load_genesis_document(text, any_vm_version=True, where="test").vm.version == VM_VERSION_ABI_1
    unknown = json.dumps(_document("wasmtime-49.0.0/abi-1")).encode()
    assert load_genesis_document(unknown, any_vm_version=True, where="test").vm.version == VM_VERSION


# --- the standalone runner ---------------------------------------------------------------------


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


def test_the_runner_prints_the_logs(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    wasm = tmp_path / "echo.wasm"
    wasm.write_bytes(ECHO_CODE)
    code, out = _run(capsys, "vm", "run", str(wasm), "--method", "echo_input", "--input-hex", "0x6869210a", "--json")
    report = json.loads(out)
    assert code == 0 and report["status"] == "ok"
    contract = report["logs"][0]["contract"]
    assert report["logs"] == [{"contract": contract, "message": "hi!\n"}]
    code, out = _run(capsys, "vm", "run", str(wasm), "--method", "echo_input", "--input-hex", "0x6869210a")
    assert code == 0
    assert "log: hi!\n     \n" in out
    # A failed run's logs are shown too.
    logger = tmp_path / "logger.wasm"
    logger.write_bytes(LOGGER_CODE)
    code, out = _run(capsys, "vm", "run", str(logger), "--method", "calls_then_aborts", "--json")
    report = json.loads(out)
    assert code == 1 and report["status"] == "abort"
    assert [line["message"] for line in report["logs"]] == ["a1", "a2"]  # no callee in the runner: status 4
    code, out = _run(capsys, "vm", "run", str(logger), "--method", "calls_then_aborts")
    assert out.splitlines()[:4] == [
        "status: abort",
        f"gas used: {report['gas_used']}",
        "log: a1",
        "log: a2",
    ]


def test_the_runner_under_an_abi_1_genesis_refuses_the_import(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    genesis = tmp_path / "genesis.json"
    genesis.write_text(json.dumps(_document(VM_VERSION_ABI_1)))
    wasm = tmp_path / "echo.wasm"
    wasm.write_bytes(ECHO_CODE)
    code, out = _run(capsys, "vm", "run", str(wasm), "--method", "echo", "--genesis", str(genesis), "--json")
    report = json.loads(out)
    assert code == 2 and report["status"] == "invalid"
    assert "wasmchain.debug_log is not a host function of this chain's ABI" in report["error"]
    assert report["logs"] == []
