"""A node's data directory: where its database, compiled-module cache and keystore live, and how it is opened.

Every command that opens a data directory does it here, one way:

- ``open_database``: the database itself, for a command that reads it directly (export, import,
  replay); a directory another process holds is refused as ``DatabaseLocked``, with a hint;
- ``create_chain``: a new chain from a genesis, refused where one exists already;
- ``load_chain``: the chain there, resumed at its head (``check`` may refuse its genesis);
- ``open_chain``: resume the chain, or create it if there is none (the devnet, the follower),
  optionally starting over (``fresh``).

Each closes the database again if it fails part-way, so a refusal leaves nothing open.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from wasmchain.protocol.errors import ChainError, GenesisError
from wasmchain.protocol.genesis import Genesis
from wasmchain.store.chain import Chain
from wasmchain.store.keystore import Keystore
from wasmchain.store.kv import DatabaseLocked, LevelDBKV


@dataclass(frozen=True)
class DataDir:
    """A node's data directory: the database, the compiled-module cache and the keystore."""

    path: Path

    @property
    def db(self) -> Path:
        return self.path / "db"

    @property
    def cache(self) -> Path:
        return self.path / "cache"

    @property
    def keystore(self) -> Keystore:
        return Keystore(self.path / "keys")

    @property
    def initialized(self) -> bool:
        """Whether it holds a database (``wasmchain init``, a devnet or a follower made one)."""
        return self.db.exists()


def open_database(data: DataDir, *, create: bool = False, sync: bool = True, exclusive: str | None = None) -> LevelDBKV:
    """The data directory's database (created, with the directory, if ``create``).

    ``sync=False`` writes without waiting for the disk: a killed process loses nothing, an OS
    crash may lose the newest writes.  ``exclusive`` says why the caller needs the database to
    itself: a directory in use by another process is then refused with it, naming the directory.
    """
    if create:
        data.path.mkdir(parents=True, exist_ok=True)
    try:
        return LevelDBKV(data.db, create=create, sync=sync)
    except DatabaseLocked:
        if exclusive is None:
            raise
        raise DatabaseLocked(
            f"data directory {data.path} is in use by another process (is a node running?): {exclusive}"
        ) from None


def create_chain(data: DataDir, genesis: Genesis, *, sync: bool = True) -> Chain:
    """A new chain from ``genesis`` in a data directory that has none; refused if it has one."""
    if data.initialized:
        raise ChainError(f"{data.path} is already initialized; remove it or choose another --data")
    kv = open_database(data, create=True, sync=sync)
    try:
        return Chain.create(kv, genesis, cache_dir=data.cache)
    except BaseException:
        kv.close()
        raise


def load_chain(data: DataDir, *, sync: bool = True, check: Callable[[Genesis], None] | None = None) -> Chain:
    """The chain in the data directory, at its head; ``check`` may refuse its genesis (by raising)."""
    kv = open_database(data, sync=sync)
    try:
        chain = Chain.load(kv, cache_dir=data.cache)
        if check is not None:
            check(chain.genesis)
    except BaseException:
        kv.close()
        raise
    return chain


def refuse_other_genesis(data: DataDir, genesis: Genesis, genesis_file: Path, advice: str) -> Callable[[Genesis], None]:
    """An ``open_chain`` check: a chain resumed must have ``genesis`` (read from ``genesis_file``); else a
    ``GenesisError`` naming both, then ``advice`` (what to do)."""

    def check(resumed: Genesis) -> None:
        if resumed.document != genesis.document:
            raise GenesisError(
                f"{data.path} holds a chain from a different genesis than {genesis_file} "
                f"(chain id {resumed.chain_id!r}){advice}"
            )

    return check


def open_chain(
    data: DataDir,
    genesis: Callable[[], Genesis],
    *,
    sync: bool = True,
    fresh: bool = False,
    check: Callable[[Genesis], None] | None = None,
) -> tuple[Chain, bool]:
    """The chain in the data directory, resumed; or, if there is none, created from ``genesis()`` (asked
    for only then).  Returns it and whether it was created.

    ``fresh`` removes the database and the module cache first (the keys stay); ``check`` may refuse
    the genesis of a chain resumed.
    """
    if fresh:
        for part in (data.db, data.cache):
            shutil.rmtree(part, ignore_errors=True)
    if data.initialized:
        return load_chain(data, sync=sync, check=check), False
    return create_chain(data, genesis(), sync=sync), True
