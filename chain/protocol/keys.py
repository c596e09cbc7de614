"""Ed25519 keys and addresses.

An account's address is the first 20 bytes of SHA-256 of its public key;
a contract's address is the first 20 bytes of SHA-256 of a domain tag, the
deployer's address and the deploy transaction's nonce.  Addresses print
as ``0x`` and 40 lowercase hex digits, and that form pastes into ``--args``.
"""

from __future__ import annotations

import functools
import hashlib
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from wasmchain.protocol.errors import ChainError
from wasmchain.protocol.hexstr import from_hex

if TYPE_CHECKING:  # not imported at run time: signature workers (signatures.py) import this module alone
    from wasmchain.vm.host import Address

ADDRESS_SIZE = 20
PUBLIC_KEY_SIZE = 32
SIGNATURE_SIZE = 64

DEV_SEED = b"wasmchain insecure devnet seed: never use these keys for anything of value"
"""The published seed of the devnet's funded accounts dev0..dev9, as Anvil publishes its mnemonic."""
DEV_ACCOUNTS = 10


@functools.lru_cache(maxsize=4096)
def address_of(public_key: bytes) -> Address:
    """The account address of an Ed25519 public key.

    Kept for the last 4,096 keys: a transaction's sender is asked for a dozen
    times between admission and its receipt (a pure function of the bytes).
    """
    return hashlib.sha256(public_key).digest()[:ADDRESS_SIZE]


@functools.lru_cache(maxsize=4096)
def _loaded_key(public_key: bytes) -> Ed25519PublicKey:
    """The parsed key (``from_public_bytes`` costs ~7 µs), kept for the last 4,096 senders; raises ``ValueError``
    for bytes that are not a key, which are not kept."""
    return Ed25519PublicKey.from_public_bytes(public_key)


def contract_address(deployer: Address, nonce: int) -> Address:
    """The address of the contract deployed by deployer's transaction with this nonce."""
    return hashlib.sha256(b"wasmchain/contract" + deployer + nonce.to_bytes(8, "big")).digest()[:ADDRESS_SIZE]


def format_address(address: Address) -> str:
    return "0x" + address.hex()


def parse_address(text: str) -> Address:
    """``0x`` + 40 hex digits (the prefix may be left out); the error shows what was found."""
    digits = text[2:] if text.startswith(("0x", "0X")) else text
    try:
        raw = from_hex(digits)
    except ValueError:
        raw = b""
    if len(raw) != ADDRESS_SIZE or len(digits) != 2 * ADDRESS_SIZE:
        raise ChainError(f"an address is 0x followed by 40 hex digits, found {text!r}")
    return raw


def verify_signature(public_key: bytes, signature: bytes, message: bytes) -> bool:
    """Whether signature is a valid Ed25519 signature of message by public_key."""
    if len(public_key) != PUBLIC_KEY_SIZE or len(signature) != SIGNATURE_SIZE:
        return False
    try:
        _loaded_key(public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


class KeyPair:
    """A private key with its public key and address."""

    __slots__ = ("seed", "public_key", "_key")

    def __init__(self, seed: bytes) -> None:
        if len(seed) != 32:
            raise ChainError(f"a private key is 32 bytes, found {len(seed)}")
        self.seed = seed
        self._key = Ed25519PrivateKey.from_private_bytes(seed)
        self.public_key = self._key.public_key().public_bytes_raw()

    @property
    def address(self) -> Address:
        return address_of(self.public_key)

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)

    @classmethod
    def generate(cls) -> KeyPair:
        return cls(Ed25519PrivateKey.generate().private_bytes_raw())


def dev_key(index: int) -> KeyPair:
    """The devnet key ``dev<index>``, derived from the published insecure seed."""
    return KeyPair(hashlib.sha256(DEV_SEED + index.to_bytes(4, "big")).digest())
