"""Loading ``genesis.json``: the chain's parameters, written down in one file."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from vm import InvalidParams, VMParams

SOURCE_GENESIS = Path(__file__).resolve().parent.parent / "genesis.json"
"""The devnet genesis shipped at the top of the source tree."""


class GenesisError(Exception):
    """genesis.json is missing, unreadable or wrong; the message says where."""


def default_genesis_path() -> Path:
    """``$WASMCHAIN_GENESIS``, else ``./genesis.json``, else the source tree's devnet genesis."""
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
        raise GenesisError(f"genesis file {path} has no \"vm\" section")
    try:
        return VMParams.from_dict(document["vm"])
    except InvalidParams as error:
        raise GenesisError(f"genesis file {path}: {error}") from None
