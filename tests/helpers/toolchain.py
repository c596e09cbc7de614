"""The pinned Rust toolchain for tests that build contracts: skip without it, unless CI requires it."""

from __future__ import annotations

import os

import pytest

from wasmchain.client.build import BuildError, Toolchain, find_toolchain

REQUIRE_ENV = "WASMCHAIN_REQUIRE_CONTRACT_BUILD"
"""Set to 1 (CI does): a missing toolchain fails the test instead of skipping it."""


def require_toolchain() -> Toolchain:
    """The pinned toolchain ``wasmchain build`` would use; skips (or fails, under ``REQUIRE_ENV=1``) without it."""
    try:
        return find_toolchain()
    except BuildError as missing:
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{REQUIRE_ENV}=1 but {missing}")
        pytest.skip(str(missing))
