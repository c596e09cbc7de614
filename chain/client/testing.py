"""The ``wasmchain`` pytest plugin: a fresh in-process chain for every test.

Installed with wasmchain (entry point ``pytest11: wasmchain``), so tests
ask for its fixtures by name, with no conftest.py::

    from pathlib import Path

    import pytest

    from wasmchain import Client, TransactionFailed

    TOKEN = Path(__file__).parent.parent / "token" / "token.wasm"

    def test_transfer(wasmchain: Client) -> None:
        alice, bob = wasmchain.dev_account(0), wasmchain.dev_account(1)
        token = alice.deploy(TOKEN, init="init", args={"supply": 1000})
        receipt = token.call("transfer", {"to": bob, "amount": 5}, sender=alice)
        assert receipt.events[0].data == {"from": alice.address, "to": bob.address, "amount": 5}
        assert token.view("balance_of", {"owner": bob}) == 5
        with pytest.raises(TransactionFailed, match="insufficient balance: have 5, need 6"):
            token.call("transfer", {"to": alice, "amount": 6}, sender=bob)

Each chain is the real thing (the node, the RPC dispatcher, the VM, real
gas figures), in memory, with no server and no port; block timestamps
count up from genesis with no wall clock, so every run is the same.

Fixtures:

- ``wasmchain``: a ``Client`` on a fresh chain, one per test;
- ``dev_accounts``: that chain's funded dev accounts dev0..dev9;
- ``wasmchain_factory`` (session): makes more fresh chains, for fixtures
  of a wider scope;
- ``wasmchain_genesis`` (session): the genesis every chain starts from
  (``$WASMCHAIN_GENESIS``, else ``./genesis.json``, else the devnet's);
  define your own fixture of that name in conftest.py to use another;
- ``wasmchain_module_cache`` (session): a directory of compiled modules the
  session's chains share, so each contract compiles once per session.

Deploy once per module and still give each test a clean chain with a
snapshot and a revert (``Client.isolated``)::

    from wasmchain import Contract
    from wasmchain.client.testing import ChainFactory

    @pytest.fixture(scope="module")
    def deployed(wasmchain_factory: ChainFactory) -> Contract:
        client = wasmchain_factory()
        return client.dev_account(0).deploy(TOKEN, init="init", args={"supply": 1000})

    @pytest.fixture
    def token(deployed: Contract) -> Iterator[Contract]:
        with deployed.client.isolated():  # whatever the test does is undone after it
            yield deployed
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from wasmchain.client.client import Account, Client
from wasmchain.client.local import local_client
from wasmchain.protocol.genesis import Genesis
from wasmchain.store.genesis_file import default_genesis_path, load_genesis


class ChainFactory:
    """Makes ``Client.in_process`` chains from one genesis, sharing one compiled-module cache."""

    def __init__(self, genesis: Genesis, cache_dir: Path) -> None:
        self.genesis = genesis
        self.cache_dir = cache_dir

    def __call__(self, genesis: Genesis | str | os.PathLike[str] | None = None) -> Client:
        """A fresh chain, from ``genesis`` (a ``Genesis`` or a genesis file) if given, else the session's."""
        return local_client(self.genesis if genesis is None else genesis, cache_dir=self.cache_dir)


@pytest.fixture(scope="session")
def wasmchain_genesis() -> Genesis:
    """The genesis of every chain the fixtures make; override this fixture to use your own."""
    return load_genesis(default_genesis_path())


@pytest.fixture(scope="session")
def wasmchain_module_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Compiled modules, shared by the session's chains (compiling a contract takes ~0.1 s, loading it ~1 ms)."""
    return tmp_path_factory.mktemp("wasmchain-modules")


@pytest.fixture(scope="session")
def wasmchain_factory(wasmchain_genesis: Genesis, wasmchain_module_cache: Path) -> ChainFactory:
    """Call it for a fresh in-process chain (e.g. in a module-scoped fixture)."""
    return ChainFactory(wasmchain_genesis, wasmchain_module_cache)


@pytest.fixture
def wasmchain(wasmchain_factory: ChainFactory) -> Client:
    """A fresh in-process chain for this test."""
    return wasmchain_factory()


@pytest.fixture
def dev_accounts(wasmchain: Client) -> list[Account]:
    """The funded dev accounts dev0..dev9 of this test's chain."""
    return wasmchain.accounts
