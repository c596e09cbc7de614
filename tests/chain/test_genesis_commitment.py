"""Block 0 commits to the whole genesis document (issue 12, item 5).

Its ``parent_hash`` is ``Genesis.commitment``, so the genesis hash, and through
parent hashes every block hash, changes with any field of the document: a
follower without ``--genesis``, an import and a replay each tell a chain with
other rules from ours.  State roots do not change.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgpack
import pytest

from tests.chain.test_follow import URL, Source
from tests.chain.test_replay import Tamper, diverged
from tests.helpers import GENESIS
from wasmchain.cli.commands import cmd_import
from wasmchain.client.local import LocalTransport
from wasmchain.history.follow import FollowError, FollowOptions, fetch_genesis, genesis_from_remote, open_follower_chain
from wasmchain.history.replay import Refused, replay_archive
from wasmchain.node.datadir import DataDir
from wasmchain.protocol.genesis import COMMITMENT_TAG, genesis_commitment, genesis_from_document
from wasmchain.store.chain import Chain
from wasmchain.store.kv import MemoryKV

DOCUMENT: dict[str, Any] = json.loads(GENESIS.read_text())
DEVNET_GENESIS_HASH = "0fca7551571fbabb28d17e7bcc0f9262d7eb51e1aaf32f6470ada149914660a3"
"""Block 0 of genesis.json.  Before issue 12 (parent hash zero) it was 3f114341...c415; under VM version
wasmtime-50.0.1/abi-1 (before issue 13) d67ebbbd...614d; under /abi-1.1 (before issue 14) 29cf66b3...a4ff;
under /abi-1.2 (before issue 18) 79a67a78...8784; the state root is unchanged."""
DEVNET_STATE_ROOT = "a358248f2e7d1428f576b60b5de681263962eaf1093208e0b95364f49239d5c5"


def block0(document: dict[str, Any]) -> Any:
    return Chain.create(MemoryKV(), genesis_from_document(copy.deepcopy(document))).header(0)


def edited(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    document = copy.deepcopy(DOCUMENT)
    change(document)
    return document


def test_the_devnet_genesis_hash_commits_to_its_document(genesis: Any) -> None:
    header = Chain.create(MemoryKV(), genesis).header(0)
    assert header.hash.hex() == DEVNET_GENESIS_HASH
    assert header.state_root.hex() == DEVNET_STATE_ROOT
    assert header.parent_hash == genesis.commitment
    without_vm = {key: value for key, value in json.loads(genesis.document).items() if key != "vm"}
    rest = hashlib.sha256(json.dumps(without_vm, sort_keys=True, separators=(",", ":")).encode()).digest()
    assert genesis.commitment == hashlib.sha256(COMMITMENT_TAG + rest + genesis.vm.fingerprint()).digest()


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(document: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target = document
        for key in parents:
            target = target[key]
        target[last] = value(target[last]) if callable(value) else value

    return change


RULES = {
    "a gas cost": _set("vm.gas.tx_byte", lambda cost: cost + 1),
    "a limit": _set("vm.limits.max_code_size", lambda size: size - 1),
    "the float policy": _set("vm.allow_floats", lambda allowed: not allowed),
    "the block gas limit": _set("chain.block_gas_limit", lambda limit: limit - 1),
    "the minimum gas price": _set("chain.min_gas_price", lambda price: price + 1),
    "the transaction size": _set("chain.max_tx_size", lambda size: size + 1),
    "balance overrides": _set("chain.allow_balance_overrides", lambda allowed: not allowed),
}


@pytest.mark.parametrize("change", RULES.values(), ids=RULES.keys())
def test_other_rules_make_another_genesis_hash_with_the_same_state_root(
    change: Callable[[dict[str, Any]], None],
) -> None:
    ours, theirs = block0(DOCUMENT), block0(edited(change))
    assert theirs.hash != ours.hash and theirs.parent_hash != ours.parent_hash
    assert theirs.state_root == ours.state_root  # only the commitment differs


def test_other_allocations_make_another_genesis_hash() -> None:
    richer = edited(lambda document: document["accounts"][0].update(balance=document["accounts"][0]["balance"] + 1))
    assert block0(richer).hash != block0(DOCUMENT).hash


def test_the_commitment_is_a_function_of_the_canonical_document() -> None:
    genesis = genesis_from_document(copy.deepcopy(DOCUMENT))
    again = genesis_from_document(json.loads(json.dumps(DOCUMENT, indent=4)))
    assert again.commitment == genesis.commitment
    assert genesis_commitment(genesis.document, genesis.vm.fingerprint()) == genesis.commitment
    # This node parses no other VM version; the fingerprint it commits to names the version.
    other_version = dataclasses.replace(genesis.vm, version="wasmtime-49.0.0/abi-1").fingerprint()
    other_vm = genesis.committing_to_vm(other_version)
    assert other_vm.commitment != genesis.commitment and other_vm.vm == genesis.vm
    assert Chain.create(MemoryKV(), other_vm).header(0).hash != Chain.create(MemoryKV(), genesis).header(0).hash


# -- a follower without --genesis ------------------------------------------------------------------


def _with_other_rules(answer: Any) -> Any:
    document = copy.deepcopy(answer.document)
    document["vm"]["gas"]["host_call"] += 1
    document["chain"]["block_gas_limit"] *= 10
    return dataclasses.replace(answer, document=document)


def test_a_follower_refuses_a_remote_whose_document_has_other_rules_than_its_genesis_hash() -> None:
    answer = fetch_genesis(Source().transport)
    assert genesis_from_remote(answer, URL).document == genesis_from_document(copy.deepcopy(DOCUMENT)).document
    with pytest.raises(FollowError, match=f"^the genesis of {URL} does not hash to the genesis hash it gives"):
        genesis_from_remote(_with_other_rules(answer), URL)


def test_wasmchain_follow_without_genesis_creates_nothing_from_such_a_remote(tmp_path: Path) -> None:
    source = Source()

    class OtherRules(LocalTransport):
        def call(self, method: str, params: dict[str, Any]) -> Any:
            answer = super().call(method, params)
            if method == "get_genesis":
                answer = copy.deepcopy(answer)
                answer["document"]["vm"]["gas"]["host_call"] += 1
            return answer

    remote = OtherRules(source.transport.dispatcher)
    data = DataDir(tmp_path / "follower")
    with pytest.raises(FollowError, match="does not hash to the genesis hash it gives"):
        open_follower_chain(FollowOptions(rpc=URL, data=data), remote)
    assert not data.initialized


# -- import and replay of a file whose genesis document was altered -------------------------------


def consistently_altered(exported: Path, tmp_path: Path) -> Path:
    """The file with a genesis document of other rules, and every hash in the file's header that covers the
    document updated to match it (the document's SHA-256, the gas schedule's): only block 0 can tell."""
    tamper = Tamper(exported)
    document = tamper.genesis_document()
    document["vm"]["limits"]["max_code_size"] += 1  # no block of the file is near it: every block re-executes
    document["chain"]["min_gas_price"] = 0
    tamper.set_genesis_document(document)
    text = msgpack.unpackb(tamper.header)[6]
    tamper.set_header_field(3, hashlib.sha256(text).digest())
    tamper.set_header_field(5, genesis_from_document(json.loads(text)).vm.fingerprint())
    return tamper.write(tmp_path / "altered.blocks")


def test_a_replay_of_a_file_whose_document_was_altered_diverges_at_block_0(exported: Path, tmp_path: Path) -> None:
    assert replay_archive(exported).status == "match"
    result = replay_archive(consistently_altered(exported, tmp_path))
    assert result.warnings == ()  # every hash in the header agrees with the altered document
    divergence = diverged(result)
    assert (divergence.height, divergence.check) == (0, "genesis_hash")
    assert "the genesis document gives block 0 hash" in divergence.message


def test_an_import_of_a_file_whose_document_was_altered_is_refused(exported: Path, tmp_path: Path) -> None:
    altered = consistently_altered(exported, tmp_path)
    with pytest.raises(Refused, match="the file's genesis document gives block 0 hash 0x[0-9a-f]{64}, its header"):
        cmd_import(DataDir(tmp_path / "imported"), altered)
    code, _ = cmd_import(DataDir(tmp_path / "faithful"), exported)
    assert code == 0
