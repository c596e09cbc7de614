"""Named keys for the CLI: a directory of JSON files, plus the devnet keys.

``dev0`` to ``dev9`` are always available: they derive from the published,
insecure devnet seed (``keys.DEV_SEED``) and genesis funds them, as Anvil
does with its published mnemonic.  Other keys live in ``DATA/keys/NAME.json``
with the private key in the clear: this is a development keystore, not a
wallet.  The directory is created 0700 and each file 0600, whatever the
umask, and a key file that group or other users may read or write is
refused (``KeyFileExposed``) rather than used, as ssh does with a private
key.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from wasmchain.protocol.errors import KeystoreError
from wasmchain.protocol.keys import DEV_ACCOUNTS, KeyPair, dev_key
from wasmchain.vm.host import Address

_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_DEV = re.compile(r"dev([0-9]+)")
_DIRECTORY_MODE = 0o700
_FILE_MODE = 0o600
_EXPOSED = 0o066
"""The mode bits that let group or other users read or write a key file."""


class KeyFileExposed(KeystoreError):
    """A key file that users other than its owner may read or write: refused until its mode is 0600."""

    reason = "key_file_exposed"


class Keystore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, name: str) -> Path:
        return self.directory / f"{name}.json"

    def new(self, name: str) -> KeyPair:
        """Generate and store a key; refuses names that exist or are reserved."""
        if not _NAME.fullmatch(name):
            raise KeystoreError(f"a key name is 1-64 letters, digits, '_', '.' or '-', found {name!r}")
        if _DEV.fullmatch(name):
            raise KeystoreError(f"{name!r} is reserved for the devnet keys dev0..dev{DEV_ACCOUNTS - 1}")
        path = self._path(name)
        if path.exists():
            raise KeystoreError(f"a key named {name!r} already exists ({path})")
        key = KeyPair.generate()
        self._make_directory()
        document = {
            "name": name,
            "address": "0x" + key.address.hex(),
            "public_key": key.public_key.hex(),
            "private_key": key.seed.hex(),
        }
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _FILE_MODE)
        os.fchmod(descriptor, _FILE_MODE)  # the umask may have taken bits away (the owner's write, say)
        with os.fdopen(descriptor, "w") as out:
            json.dump(document, out, indent=2)
        return key

    def get(self, name: str) -> KeyPair:
        dev = _DEV.fullmatch(name)
        if dev and int(dev.group(1)) < DEV_ACCOUNTS:
            return dev_key(int(dev.group(1)))
        path = self._path(name)
        if not _NAME.fullmatch(name) or not path.exists():
            known = ", ".join(self.names())
            raise KeystoreError(f"no key named {name!r} (known: {known}); create one with `wasmchain keys new {name}`")
        _check_mode(path)
        try:
            return KeyPair(bytes.fromhex(json.loads(path.read_text())["private_key"]))
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise KeystoreError(f"key file {path} is unreadable: {error}") from None

    def _make_directory(self) -> None:
        """The keys directory, created 0700: ``mkdir``'s mode is masked by the umask, so it is set again."""
        if self.directory.is_dir():
            return
        self.directory.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.directory.mkdir(mode=_DIRECTORY_MODE)
        except FileExistsError:
            return
        os.chmod(self.directory, _DIRECTORY_MODE)

    def names(self) -> list[str]:
        stored = sorted(path.stem for path in self.directory.glob("*.json")) if self.directory.exists() else []
        return [f"dev{i}" for i in range(DEV_ACCOUNTS)] + stored

    def address_of(self, name: str) -> Address | None:
        """The address of a named key, or None if there is no such key."""
        try:
            return self.get(name).address
        except KeyFileExposed:
            raise
        except KeystoreError:
            return None


def _check_mode(path: Path) -> None:
    """Refuse a key file that group or other users may read or write (POSIX only: Windows has ACLs instead)."""
    if os.name != "posix":
        return
    try:
        mode = path.stat().st_mode
    except OSError as error:
        raise KeystoreError(f"key file {path} is unreadable: {error}") from None
    if mode & _EXPOSED:
        raise KeyFileExposed(
            f"key file {path} has mode {mode & 0o777:04o}: users other than its owner may read or write the "
            f"private key; make it private with `chmod 600 {path}` (and use a new key if others may have read it)"
        )
