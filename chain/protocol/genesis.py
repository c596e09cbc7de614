"""The genesis document: the chain's parameters, written down in one file (read by ``store.genesis_file``).

```
{
  "chain_id": "wasmchain-devnet",
  "genesis_time": 1767225600,                  seconds since the Unix epoch
  "chain": {"block_gas_limit": N, "max_tx_size": N, "min_gas_price": N},
  "accounts": [{"address": "0x..", "balance": N}, ...],
  "contracts": [{"address": "0x..", "code": "path/relative/to/genesis.wasm",
                 "balance": N, "storage": {"0x<key>": "0x<value>"}}, ...],   optional
  "vm": {...}                                  see vm/params.py and docs/gas.md
}
```
Every field is checked; an error names the field and what was found.

Block 0 commits to the whole document: its ``parent_hash`` is
``Genesis.commitment``, a hash of the document's VM section (through
``VMParams.fingerprint``) and of everything else in it (chain id, time,
chain parameters, accounts, contracts with their code).  So the genesis
hash, and through parent hashes every block hash, names the chain's rules:
two documents that differ anywhere make two chains.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from wasmchain.protocol.errors import ChainError, GenesisError
from wasmchain.protocol.hexstr import from_hex
from wasmchain.protocol.keys import parse_address
from wasmchain.vm import InvalidParams, VMParams
from wasmchain.vm.host import Address

MAX_AMOUNT = (1 << 128) - 1
COMMITMENT_TAG = b"wasmchain/genesis-commitment/1"
"""Domain separation of ``genesis_commitment`` from every other SHA-256 in the chain."""


def canonical_json(document: dict[str, Any]) -> bytes:
    """A parsed document as canonical JSON: sorted keys, no spaces, ASCII."""
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def genesis_commitment(document: bytes, vm_fingerprint: bytes) -> bytes:
    """What block 0 commits to: SHA-256 of the tag, of the document without its ``vm`` section
    (canonical JSON), and of the VM section's ``VMParams.fingerprint()``."""
    parsed = json.loads(document)
    parsed.pop("vm", None)
    rest = hashlib.sha256(canonical_json(parsed)).digest()
    return hashlib.sha256(COMMITMENT_TAG + rest + vm_fingerprint).digest()


@dataclass(frozen=True, slots=True)
class ChainParams:
    block_gas_limit: int
    """The most gas all transactions of one block may use together, and so one transaction's limit."""
    max_tx_size: int
    """Bytes of one encoded signed transaction."""
    min_gas_price: int
    """The lowest gas price a transaction may offer."""
    allow_balance_overrides: bool = False
    """Whether blocks may carry balance overrides (a devnet's ``set_balance``); off for a real network."""


@dataclass(frozen=True, slots=True)
class GenesisContract:
    address: Address
    code: bytes
    balance: int
    storage: tuple[tuple[bytes, bytes], ...]


@dataclass(frozen=True, slots=True)
class Genesis:
    chain_id: str
    genesis_time: int
    chain: ChainParams
    vm: VMParams
    accounts: tuple[tuple[Address, int], ...]
    contracts: tuple[GenesisContract, ...]
    document: bytes
    """The genesis document as canonical JSON (code inlined as hex), stored in the data directory."""
    committed: bytes | None = None
    """Block 0's commitment when it is not this document's own: set only by a replay that runs a
    recorded chain under another VM section (``--allow-version-mismatch``), never by a node."""

    @property
    def document_hash(self) -> bytes:
        return hashlib.sha256(self.document).digest()

    @property
    def commitment(self) -> bytes:
        """Block 0's ``parent_hash``: ``genesis_commitment`` of this document (or ``committed``)."""
        if self.committed is not None:
            return self.committed
        return genesis_commitment(self.document, self.vm.fingerprint())

    def committing_to_vm(self, vm_fingerprint: bytes) -> Genesis:
        """This genesis, running its own VM section, with block 0 committing to another one's fingerprint
        (a recorded chain replayed under another gas schedule or VM version)."""
        return dataclasses.replace(self, committed=genesis_commitment(self.document, vm_fingerprint))

    def committing_to(self, commitment: bytes) -> Genesis:
        """This genesis with block 0 carrying ``commitment`` as recorded (a data directory's block 0,
        replayed under an edited VM section)."""
        return dataclasses.replace(self, committed=commitment)


def parse_vm_params(section: Any, where: str) -> VMParams:
    try:
        return VMParams.from_dict(section)
    except InvalidParams as error:
        raise GenesisError(f"genesis {where}: {error}") from None


def genesis_from_document(document: dict[str, Any], where: str = "genesis") -> Genesis:
    """Build ``Genesis`` from a parsed document whose contract code is inlined as hex."""

    def fail(message: str) -> GenesisError:
        return GenesisError(f"{where}: {message}")

    known = {"chain_id", "genesis_time", "chain", "accounts", "contracts", "vm"}
    unknown = sorted(set(document) - known)
    if unknown:
        raise fail(f"unknown field(s) {', '.join(unknown)}")
    for field in ("chain_id", "genesis_time", "chain", "accounts", "vm"):
        if field not in document:
            raise fail(f"missing field {field!r}")
    chain_id = document["chain_id"]
    if not isinstance(chain_id, str) or not chain_id:
        raise fail(f"chain_id must be a non-empty string, found {chain_id!r}")
    genesis_time = _uint(document["genesis_time"], "genesis_time", fail)
    chain_section = document["chain"]
    required = {"block_gas_limit", "max_tx_size", "min_gas_price"}
    if not isinstance(chain_section, dict) or not required <= set(chain_section) <= required | {
        "allow_balance_overrides"
    }:
        raise fail(
            "chain must have block_gas_limit, max_tx_size and min_gas_price, and may have allow_balance_overrides"
        )
    allow_overrides = chain_section.get("allow_balance_overrides", False)
    if not isinstance(allow_overrides, bool):
        raise fail(f"chain.allow_balance_overrides must be true or false, found {allow_overrides!r}")
    chain = ChainParams(
        **{name: _uint(chain_section[name], f"chain.{name}", fail) for name in sorted(required)},
        allow_balance_overrides=allow_overrides,
    )
    vm = parse_vm_params(document["vm"], where)

    accounts = []
    for index, entry in enumerate(_list(document["accounts"], "accounts", fail)):
        if not isinstance(entry, dict) or set(entry) != {"address", "balance"}:
            raise fail(f"accounts[{index}] must have exactly address and balance")
        accounts.append(
            (
                _address(entry["address"], f"accounts[{index}].address", fail),
                _amount(entry["balance"], f"accounts[{index}].balance", fail),
            )
        )
    contracts = []
    for index, entry in enumerate(_list(document.get("contracts", []), "contracts", fail)):
        where_entry = f"contracts[{index}]"
        if not isinstance(entry, dict) or not {"address", "code"} <= set(entry) <= {
            "address",
            "code",
            "balance",
            "storage",
        }:
            raise fail(f"{where_entry} must have address and code, and may have balance and storage")
        storage = entry.get("storage", {})
        if not isinstance(storage, dict):
            raise fail(f"{where_entry}.storage must be an object of 0x hex keys and values")
        contracts.append(
            GenesisContract(
                address=_address(entry["address"], f"{where_entry}.address", fail),
                code=_hex(entry["code"], f"{where_entry}.code", fail),
                balance=_amount(entry.get("balance", 0), f"{where_entry}.balance", fail),
                storage=tuple(
                    sorted(
                        (_hex(k, f"{where_entry}.storage key", fail), _hex(v, f"{where_entry}.storage value", fail))
                        for k, v in storage.items()
                    )
                ),
            )
        )
    addresses = [address for address, _ in accounts] + [contract.address for contract in contracts]
    if len(set(addresses)) != len(addresses):
        raise fail("an address appears more than once in accounts and contracts")
    if sum(balance for _, balance in accounts) + sum(c.balance for c in contracts) > MAX_AMOUNT:
        raise fail("the total supply is more than 2**128 - 1")
    canonical = canonical_json(document)
    return Genesis(chain_id, genesis_time, chain, vm, tuple(accounts), tuple(contracts), canonical)


def _uint(value: Any, name: str, fail: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise fail(f"{name} must be a non-negative integer, found {value!r}")
    return value


def _amount(value: Any, name: str, fail: Any) -> int:
    amount = _uint(value, name, fail)
    if amount > MAX_AMOUNT:
        raise fail(f"{name} is more than 2**128 - 1")
    return amount


def _list(value: Any, name: str, fail: Any) -> list[Any]:
    if not isinstance(value, list):
        raise fail(f"{name} must be a list")
    return value


def _address(value: Any, name: str, fail: Any) -> Address:
    try:
        return parse_address(value if isinstance(value, str) else "")
    except ChainError:
        raise fail(f"{name} must be 0x followed by 40 hex digits, found {value!r}") from None


def _hex(value: Any, name: str, fail: Any) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise fail(f"{name} must be a 0x hex string")
    try:
        return from_hex(value[2:])
    except ValueError:
        raise fail(f"{name} is not valid hex") from None
