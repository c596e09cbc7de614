"""The keystore's file modes: a directory 0700 and key files 0600 whatever the umask, exposed files refused."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from wasmchain.protocol.errors import KeystoreError
from wasmchain.store.keystore import KeyFileExposed, Keystore

pytestmark = pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")


@pytest.fixture
def umask_022() -> Iterator[None]:
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("umask", [0o000, 0o022, 0o077, 0o277])
def test_the_keys_directory_is_created_0700_whatever_the_umask(tmp_path: Path, umask: int) -> None:
    directory = tmp_path / "data" / "keys"
    previous = os.umask(umask)
    try:
        Keystore(directory).new("alice")
    finally:
        os.umask(previous)
    assert _mode(directory) == 0o700
    assert _mode(directory / "alice.json") == 0o600


def test_an_existing_directory_keeps_its_mode(tmp_path: Path, umask_022: None) -> None:
    directory = tmp_path / "keys"
    directory.mkdir(mode=0o750)
    os.chmod(directory, 0o750)
    Keystore(directory).new("alice")
    assert _mode(directory) == 0o750


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620, 0o602, 0o666])
def test_a_key_file_others_can_read_or_write_is_refused(tmp_path: Path, mode: int) -> None:
    store = Keystore(tmp_path / "keys")
    address = store.new("alice").address
    path = tmp_path / "keys" / "alice.json"
    os.chmod(path, mode)
    with pytest.raises(KeyFileExposed) as refused:
        store.get("alice")
    assert refused.value.reason == "key_file_exposed"
    assert isinstance(refused.value, KeystoreError)
    message = str(refused.value)
    assert f"chmod 600 {path}" in message and f"{mode:04o}" in message
    # resolving a name refuses too, rather than falling back to "not an address"
    with pytest.raises(KeyFileExposed):
        store.address_of("alice")
    os.chmod(path, 0o600)
    assert store.get("alice").address == address == store.address_of("alice")


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_a_private_key_file_is_used(tmp_path: Path, mode: int) -> None:
    store = Keystore(tmp_path / "keys")
    address = store.new("alice").address
    os.chmod(tmp_path / "keys" / "alice.json", mode)
    assert store.get("alice").address == address


def test_devnet_keys_and_missing_names_are_unchanged(tmp_path: Path) -> None:
    store = Keystore(tmp_path / "keys")
    assert store.get("dev0").address == store.address_of("dev0")
    assert store.address_of("nobody") is None
    with pytest.raises(KeystoreError) as missing:
        store.get("nobody")
    assert not isinstance(missing.value, KeyFileExposed)
