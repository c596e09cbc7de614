"""Reading a genesis file from disk, and which file a command uses by default."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from wasmchain.protocol.errors import GenesisError
from wasmchain.protocol.genesis import Genesis, genesis_from_document, parse_vm_params
from wasmchain.store.shipped import GENESIS, shipped
from wasmchain.vm import VMParams

SOURCE_GENESIS = shipped(GENESIS)
"""The devnet genesis: at the top of the source tree, or in an installed wheel's package data."""


def default_genesis_path() -> Path:
    """``$WASMCHAIN_GENESIS``, else ``./genesis.json``, else the devnet genesis shipped with wasmchain."""
    configured = os.environ.get("WASMCHAIN_GENESIS")
    if configured:
        return Path(configured)
    local = Path("genesis.json")
    return local if local.exists() else SOURCE_GENESIS


def load_genesis_document(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text())
    except OSError as error:
        raise GenesisError(f"cannot read genesis file {path}: {error.strerror}") from None
    except json.JSONDecodeError as error:
        raise GenesisError(f"genesis file {path} is not valid JSON: {error}") from None
    if not isinstance(document, dict):
        raise GenesisError(f"genesis file {path}: expected a JSON object")
    return document


def load_vm_params(path: Path) -> VMParams:
    """The ``vm`` section of a genesis file, checked strictly."""
    document = load_genesis_document(path)
    if "vm" not in document:
        raise GenesisError(f'genesis file {path} has no "vm" section')
    return parse_vm_params(document["vm"], str(path))


def load_genesis(path: Path) -> Genesis:
    """Read a genesis file; contract code paths are relative to the file."""
    document = load_genesis_document(path)
    for contract in document.get("contracts", []):
        if (
            isinstance(contract, dict)
            and isinstance(contract.get("code"), str)
            and not contract["code"].startswith("0x")
        ):
            code_path = path.parent / contract["code"]
            try:
                contract["code"] = "0x" + code_path.read_bytes().hex()
            except OSError as error:
                raise GenesisError(f"genesis {path}: cannot read contract code {code_path}: {error.strerror}") from None
    return genesis_from_document(document, str(path))
