"""A node's data directory: where its database, compiled-module cache and keystore live."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from wasmchain.store.keystore import Keystore


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
