"""Files the distribution ships beside its code: the devnet's genesis and the contract SDK's sources.

In a checkout (and an editable install, ``pip install -e``) they are where the
repository keeps them.  A wheel carries them as package data under
``wasmchain/shipped/``, with the same paths relative to that folder as to the
repository's root (pyproject.toml maps the package ``wasmchain.shipped`` to the
root and lists the files).  ``shipped(path)`` finds one either way.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]
"""The installed ``wasmchain`` package: ``chain/`` in a checkout."""

ROOTS = (PACKAGE / "shipped", PACKAGE.parent)
"""Where shipped files are looked for: a wheel's package data, then the checkout's root."""

GENESIS = "genesis.json"
SDK = "contracts/sdk"
TOOLCHAIN = "contracts/TOOLCHAIN"


def shipped(relative: str) -> Path:
    """The shipped file or folder at ``relative`` (a path from the repository's root, in ``/`` form).

    The first of ``ROOTS`` that has it; if none does (a broken install), the
    checkout's path, so that the error reading it names a real place.
    """
    for root in ROOTS:
        candidate = root / relative
        if candidate.exists():
            return candidate
    return ROOTS[-1] / relative
