"""ABI 2 (docs/abi.md, "ABI 2"): the io area, ``apply_effects``, and which modules are ABI 2.

Every call goes through ``Sandbox``, which also runs it on the plain path
(wasmtime-py's public API) and requires the same outcome and state.
"""

from __future__ import annotations

import dataclasses
import struct

import pytest

from tests.helpers import ALICE, Sandbox, devnet_params, wat
from wasmchain.vm import BlockEnv, MemoryHost, Message, Runtime, abi
from wasmchain.vm.errors import InvalidModule
from wasmchain.vm.params import VM_VERSION, VM_VERSION_ABI_1_2
from wasmchain.vm.trace import IO_AREA_STEP, EventStep, StorageRead, StorageWrite, Tracer
from wasmchain.vm.wasm.types import FuncSig

ME = bytes.fromhex("c0" * 20)
IO = 1024
"""Where the test modules keep their io area."""
BUF = 8192
"""Where they build the buffers they hand to apply_effects."""


def write(key: bytes, value: bytes) -> bytes:
    return struct.pack("<BII", abi.EFFECT_WRITE, len(key), len(value)) + key + value


def event(name: bytes, data: bytes) -> bytes:
    return struct.pack("<BII", abi.EFFECT_EVENT, len(name), len(data)) + name + data


def ret(data: bytes) -> bytes:
    return struct.pack("<BI", abi.EFFECT_RETURN, len(data)) + data


def data_string(raw: bytes) -> str:
    return "".join(f"\\{byte:02x}" for byte in raw)


def module(*, io: str | None = f'(global (export "wasmchain_io") i32 (i32.const {IO}))', statics: bytes = b"") -> bytes:
    """An ABI 2 module with methods over a static buffer of records at 16384 (``statics``)."""
    return wat(
        f"""
        (module
          (import "wasmchain_v2" "apply_effects" (func $apply (param i32 i32)))
          (import "wasmchain_v2" "input_read" (func $input_read (param i32 i32) (result i32)))
          (import "wasmchain_v2" "storage_read" (func $read (param i32 i32 i32 i32) (result i64)))
          (memory (export "memory") 1)
          {io or ""}
          (data (i32.const 16384) "{data_string(statics)}")
          (data (i32.const 40000) "k")
          ;; return the input, read from the io area
          (func (export "echo") (local $len i32)
            (local.set $len (i32.load (i32.const {IO + 112})))
            (i32.store8 (i32.const {BUF}) (i32.const 3))
            (i32.store (i32.const {BUF + 1}) (local.get $len))
            (memory.copy (i32.const {BUF + 5}) (i32.const {IO + 116}) (local.get $len))
            (call $apply (i32.const {BUF}) (i32.add (local.get $len) (i32.const 5))))
          ;; return the input, read with input_read (for inputs past the io area)
          (func (export "echo_read") (local $len i32)
            (local.set $len (call $input_read (i32.const {BUF + 5}) (i32.const 40000)))
            (i32.store8 (i32.const {BUF}) (i32.const 3))
            (i32.store (i32.const {BUF + 1}) (local.get $len))
            (call $apply (i32.const {BUF}) (i32.add (local.get $len) (i32.const 5))))
          ;; return the 112-byte environment record from the io area
          (func (export "env")
            (i32.store8 (i32.const {BUF}) (i32.const 3))
            (i32.store (i32.const {BUF + 1}) (i32.const 112))
            (memory.copy (i32.const {BUF + 5}) (i32.const {IO}) (i32.const 112))
            (call $apply (i32.const {BUF}) (i32.const 117)))
          ;; apply the static records, then read key "k" back
          (func (export "effects")
            (call $apply (i32.const 16384) (i32.const {len(statics)}))
            (drop (call $read (i32.const 40000) (i32.const 1) (i32.const 44000) (i32.const 100))))
          (func (export "noop"))
        )
        """
    )


def sandbox(code: bytes) -> Sandbox:
    box = Sandbox()
    box.deploy(code, ME)
    return box


def test_the_devnet_runs_abi_2_and_a_node_every_earlier_version():
    assert VM_VERSION == "wasmtime-50.0.1/abi-2" == devnet_params().version
    assert devnet_params().abi_version == "2"
    assert abi.import_modules("2") == {"wasmchain": abi.HOST_FUNCTIONS, "wasmchain_v2": abi.HOST_FUNCTIONS_V2}
    assert list(abi.import_modules("1.2")) == ["wasmchain"]
    assert abi.HOST_FUNCTIONS_V2 == {**abi.HOST_FUNCTIONS, "apply_effects": FuncSig(("i32", "i32"), ())}
    assert abi.IO_INPUT_CAPACITY == 4096 - 116 == 3980


def test_the_io_area_holds_the_input_and_the_environment():
    box = sandbox(module())
    assert box.call(ME, "echo", b"hello").return_data == b"hello"
    longest = bytes(range(256)) * 15 + bytes(140)
    assert len(longest) == abi.IO_INPUT_CAPACITY
    assert box.call(ME, "echo", longest).return_data == longest
    box.host.balances[ME] = 5
    record = box.call(ME, "env", value=0).return_data
    assert record[:20] == ALICE and record[20:40] == ME and record[40:60] == ALICE
    assert struct.unpack("<QQ", record[64:80]) == (box.env.height, box.env.timestamp)
    assert int.from_bytes(record[96:112], "little") == 5


def test_an_input_past_the_io_area_is_read_with_input_read():
    box = sandbox(module())
    longer = b"x" * (abi.IO_INPUT_CAPACITY + 1)
    assert box.call(ME, "echo_read", longer).return_data == longer
    # Only the length is written for it: the area's input bytes stay as they were (zero).
    assert box.call(ME, "echo", longer).return_data == bytes(len(longer))


def test_records_apply_in_order_and_reads_see_them():
    records = write(b"k", b"v1") + event(b"E", b"d") + write(b"k", b"v2") + ret(b"r") + event(b"F", b"")
    box = sandbox(module(statics=records))
    outcome = box.call(ME, "effects")
    assert outcome.ok and outcome.return_data == b"r"
    assert [(e.name, e.data) for e in outcome.events] == [("E", b"d"), ("F", b"")]
    assert box.storage(ME) == {b"k": b"v2"}
    tracer = Tracer(verbose=True)
    Runtime(box.params).execute(box.host, box.env, Message(ALICE, ME, "effects", b"", 10**9), tracer=tracer)
    steps = tracer.root.steps if tracer.root else []
    assert steps == [
        StorageWrite(b"k", b"v2", b"v1"),
        EventStep("E", b"d"),
        StorageWrite(b"k", b"v1", b"v2"),
        EventStep("F", b""),
        StorageRead(b"k", b"v2"),
    ]


def test_apply_effects_is_charged_as_documented():
    records = write(b"key", b"value") + event(b"Name", b"data!") + ret(b"xyz")
    box = sandbox(module(statics=records))
    tracer = Tracer(verbose=True)
    Runtime(box.params).execute(box.host, box.env, Message(ALICE, ME, "effects", b"abc", 10**9), tracer=tracer)
    assert tracer.root is not None
    calls = {call.name: call.gas for call in tracer.root.host_calls}
    gas = box.params.gas
    assert calls["apply_effects"] == (
        gas.host_call
        + gas.copy_byte * len(records)
        + gas.storage_write_base
        + gas.storage_write_byte * len(b"keyvalue")
        + gas.event_base
        + gas.event_byte * len(b"Namedata!")
    )
    assert calls[IO_AREA_STEP] == gas.host_call + gas.copy_byte * (116 + 3)
    assert [call.name for call in tracer.root.host_calls] == [IO_AREA_STEP, "apply_effects", "storage_read"]


def test_gas_is_the_same_traced_and_untraced_and_grows_with_the_input_as_copied():
    box = sandbox(module())
    short, longer = box.call(ME, "noop", b"a"), box.call(ME, "noop", b"a" * 101)
    assert longer.gas_used - short.gas_used == box.params.gas.copy_byte * 100
    past = box.call(ME, "noop", b"a" * (abi.IO_INPUT_CAPACITY + 1))
    assert past.gas_used - short.gas_used == -box.params.gas.copy_byte * 1  # only the length is written


@pytest.mark.parametrize(
    ("records", "message"),
    [
        # after a first record of 15 bytes:
        (b"\x09", "apply_effects: record 1 at offset 15 has tag 9; expected 1 (write), 2 (event) or 3 (return)"),
        (write(b"k", b"v") + b"\x01\x01\x00", "record 2 at offset 26 runs to offset 35, past the buffer's 29 bytes"),
        (write(b"k", b"v")[:-1], "record 1 at offset 15 runs to offset 26, past the buffer's 25 bytes"),
        (ret(b"abc")[:-1], "record 1 at offset 15 runs to offset 23, past the buffer's 22 bytes"),
        (event(b"\xff", b""), "event name is not UTF-8: ff"),
        (write(b"k" * 4097, b""), "storage key of 4097 bytes is over max_key_size (4096)"),
    ],
)
def test_a_malformed_buffer_traps_and_changes_nothing(records: bytes, message: str):
    box = sandbox(module(statics=write(b"first", b"1") + records))
    outcome = box.call(ME, "effects", gas=10**8)
    assert outcome.status == "trap" and message in (outcome.error or ""), outcome
    assert outcome.gas_used == 10**8 and box.storage(ME) == {}


def test_running_out_of_gas_midway_applies_nothing():
    records = write(b"a", b"1") + write(b"b", b"2" * 200)
    box = sandbox(module(statics=records))
    full = box.call(ME, "effects")
    assert full.ok
    short = sandbox(module(statics=records))
    outcome = short.call(ME, "effects", gas=full.gas_used - 1)
    assert outcome.status == "out_of_gas" and short.storage(ME) == {}


def test_an_io_area_outside_memory_traps_before_the_method():
    box = sandbox(module(io='(global (export "wasmchain_io") i32 (i32.const 63000))'))
    outcome = box.call(ME, "noop")
    assert outcome.status == "trap"
    assert outcome.error == "bad pointer: wasmchain_io area [63000, 67096) is outside memory of 65536 bytes"


def test_without_an_io_area_nothing_is_written_or_charged():
    bare = sandbox(module(io=None))
    with_io = sandbox(module())
    gas = bare.params.gas
    assert with_io.call(ME, "noop").gas_used - bare.call(ME, "noop").gas_used == gas.host_call + gas.copy_byte * 116
    assert bare.call(ME, "echo_read", b"hi").return_data == b"hi"


def refusal(code: bytes, version: str = VM_VERSION) -> InvalidModule:
    params = dataclasses.replace(devnet_params(), version=version)
    with pytest.raises(InvalidModule) as refused:
        Runtime(params).validate(code)
    return refused.value


def test_which_modules_are_abi_2():
    both = wat(
        """(module (import "wasmchain" "abort" (func (param i32 i32)))
                   (import "wasmchain_v2" "apply_effects" (func (param i32 i32)))
                   (memory (export "memory") 1))"""
    )
    assert refusal(both).rule == "import"
    assert "a module imports from one ABI's module" in str(refusal(both))
    # ABI 1.2 chains do not know wasmchain_v2.
    v2 = module()
    assert refusal(v2, VM_VERSION_ABI_1_2).rule == "import"
    assert 'expected imports from module "wasmchain" only' in str(refusal(v2, VM_VERSION_ABI_1_2))
    # apply_effects exists only in wasmchain_v2.
    v1_apply = wat('(module (import "wasmchain" "apply_effects" (func (param i32 i32))) (memory (export "memory") 1))')
    assert refusal(v1_apply).rule == "import"


@pytest.mark.parametrize(
    ("export", "found"),
    [
        ('(global (export "wasmchain_io") i64 (i64.const 1024))', "i64"),
        ('(func (export "wasmchain_io"))', "a function"),
    ],
)
def test_the_io_export_of_an_abi_2_module_must_be_an_i32_global(export: str, found: str):
    refused = refusal(module(io=export))
    assert refused.rule == "export" and str(refused).endswith(f"found {found}")


def test_an_abi_1_module_exporting_wasmchain_io_is_untouched():
    code = wat(
        f"""(module (import "wasmchain" "return_set" (func $ret (param i32 i32)))
              (memory (export "memory") 1)
              (global (export "wasmchain_io") i64 (i64.const 1024))
              (func (export "m") (call $ret (i32.const {IO + 112}) (i32.const 4))))"""
    )
    box = sandbox(code)
    assert box.call(ME, "m", b"abcdef").return_data == bytes(4)


def test_abi_2_in_a_fresh_process_on_a_memory_host_is_deterministic():
    records = write(b"k", b"v") + event(b"E", b"x") + ret(b"ok")
    code = module(statics=records)
    outcomes = []
    for _ in range(2):
        runtime = Runtime(devnet_params())
        host = MemoryHost()
        host.codes[b"h" * 32] = code
        host.contracts[ME] = b"h" * 32
        outcomes.append(runtime.execute(host, BlockEnv(1, 2), Message(ALICE, ME, "effects", b"in", 10**7)))
    assert outcomes[0] == outcomes[1] and outcomes[0].ok
