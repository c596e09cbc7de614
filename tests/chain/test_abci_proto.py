"""The committed ABCI message classes: they import, they round-trip, and they are what tools/abci_proto.py
generates from the pinned CometBFT release's .proto files, byte for byte.

The regeneration needs the release in the Go module cache and grpcio-tools (the ``test`` extra); without
them it is skipped, unless ``WASMCHAIN_REQUIRE_COMETBFT=1`` (CI), where it fails instead.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.helpers import ROOT
from wasmchain.node.abci.proto.tendermint.abci import types_pb2
from wasmchain.node.abci.proto.tendermint.crypto import proof_pb2

COMMITTED = ROOT / "chain" / "node" / "abci" / "proto"


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("abci_proto", ROOT / "tools" / "abci_proto.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def files(folder: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }


def test_regenerating_gives_the_committed_modules(tmp_path: Path) -> None:
    tool = generator()
    missing = ""
    if importlib.util.find_spec("grpc_tools") is None:
        missing = "grpcio-tools is not installed"
    else:
        try:
            tool.proto_roots(download=False)
        except tool.GenerationError as error:
            missing = str(error)
    if missing:
        if os.environ.get("WASMCHAIN_REQUIRE_COMETBFT") == "1":
            pytest.fail(f"cannot regenerate the ABCI modules: {missing}")
        pytest.skip(f"cannot regenerate the ABCI modules: {missing}")
    out = tmp_path / "proto"
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "abci_proto.py"), "--out", str(out), "--no-download"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    generated, committed = files(out), files(COMMITTED)
    assert sorted(generated) == sorted(committed)
    differing = [name for name in generated if generated[name] != committed[name]]
    assert not differing, f"regenerate with `python tools/abci_proto.py`: {differing} differ"


def test_the_imports_are_package_relative() -> None:
    tool = generator()
    source = "from tendermint.crypto import proof_pb2 as x\nfrom google.protobuf import timestamp_pb2 as y\n"
    assert tool.relative_imports(source, 3) == (
        "from ...tendermint.crypto import proof_pb2 as x\nfrom google.protobuf import timestamp_pb2 as y\n"
    )
    for path in COMMITTED.rglob("*_pb2.py"):
        text = path.read_text()
        assert "\nfrom tendermint" not in text and "\nfrom gogoproto" not in text, path


def test_a_request_round_trips() -> None:
    request = types_pb2.Request(
        finalize_block=types_pb2.RequestFinalizeBlock(txs=[b"\x01\x02", b""], height=7, hash=b"\xaa" * 32)
    )
    request.finalize_block.time.FromSeconds(1_800_000_000)
    decoded = types_pb2.Request.FromString(request.SerializeToString())
    assert decoded == request
    assert decoded.WhichOneof("value") == "finalize_block"
    assert list(decoded.finalize_block.txs) == [b"\x01\x02", b""]
    assert decoded.finalize_block.time.seconds == 1_800_000_000


def test_a_response_carries_proof_ops() -> None:
    response = types_pb2.Response(
        query=types_pb2.ResponseQuery(
            code=0, value=b"v", proof_ops=proof_pb2.ProofOps(ops=[proof_pb2.ProofOp(type="t", key=b"k", data=b"d")])
        )
    )
    assert types_pb2.Response.FromString(response.SerializeToString()) == response


def test_the_field_numbers_are_cometbfts() -> None:
    """A few of the wire numbers CometBFT v0.38 uses, so that a regeneration from other protos shows."""
    request = types_pb2.Request.DESCRIPTOR.fields_by_name
    assert (request["echo"].number, request["check_tx"].number, request["finalize_block"].number) == (1, 8, 20)
    response = types_pb2.Response.DESCRIPTOR.fields_by_name
    assert (response["exception"].number, response["finalize_block"].number) == (1, 21)
