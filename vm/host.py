"""The VM's view of the world: the ``Host`` interface and an in-memory host.

The runtime never touches a database.  Everything outside a contract's
memory (storage, balances, code) is reached through a ``Host``, which the
chain implements over its journaled LevelDB state.  ``MemoryHost`` is the
reference implementation used by the standalone runner and the tests.

Checkpoints nest: the runtime takes one before each contract frame and
either commits it (the changes join the enclosing checkpoint) or reverts
it (the changes since that checkpoint vanish).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

Address = bytes
"""A 20-byte account or contract address."""
Hash32 = bytes
"""A 32-byte SHA-256 digest."""


class Host(Protocol):
    """What the runtime needs from the chain's state."""

    def storage_read(self, contract: Address, key: bytes) -> bytes | None:
        """The value stored under key in the contract's storage, or None."""
        ...

    def storage_write(self, contract: Address, key: bytes, value: bytes) -> None:
        """Set key to value in the contract's storage."""
        ...

    def storage_remove(self, contract: Address, key: bytes) -> bool:
        """Remove key from the contract's storage; whether it was present."""
        ...

    def balance(self, address: Address) -> int:
        """The native balance of an account or contract (0 if unknown)."""
        ...

    def transfer(self, sender: Address, recipient: Address, amount: int) -> bool:
        """Move amount from sender to recipient; False (and no change) if sender is short,
        or if the recipient's balance would pass 2**128 - 1."""
        ...

    def code_hash(self, address: Address) -> Hash32 | None:
        """The code hash of the contract at address, or None if it is not a contract."""
        ...

    def code(self, code_hash: Hash32) -> bytes:
        """The module binary with this hash (as deployed, before instrumentation)."""
        ...

    def checkpoint(self) -> None:
        """Start a nested scope of changes."""
        ...

    def commit(self) -> None:
        """Keep the changes of the innermost scope (they join the enclosing one)."""
        ...

    def revert(self) -> None:
        """Undo the changes of the innermost scope."""
        ...


_ABSENT = None


@dataclass
class MemoryHost:
    """A ``Host`` over Python dicts, with an undo journal for checkpoints.

    ``storage`` maps (contract, key) to value; ``balances`` and ``contracts``
    (address to code hash) and ``codes`` (hash to binary) complete the state.
    """

    storage: dict[tuple[Address, bytes], bytes] = field(default_factory=dict)
    balances: dict[Address, int] = field(default_factory=dict)
    contracts: dict[Address, Hash32] = field(default_factory=dict)
    codes: dict[Hash32, bytes] = field(default_factory=dict)
    _journal: list[tuple[str, object, object]] = field(default_factory=list)
    _marks: list[int] = field(default_factory=list)

    # -- reads ---------------------------------------------------------

    def storage_read(self, contract: Address, key: bytes) -> bytes | None:
        return self.storage.get((contract, key))

    def balance(self, address: Address) -> int:
        return self.balances.get(address, 0)

    def code_hash(self, address: Address) -> Hash32 | None:
        return self.contracts.get(address)

    def code(self, code_hash: Hash32) -> bytes:
        return self.codes[code_hash]

    # -- writes, journaled --------------------------------------------

    def storage_write(self, contract: Address, key: bytes, value: bytes) -> None:
        slot = (contract, key)
        self._journal.append(("storage", slot, self.storage.get(slot)))
        self.storage[slot] = value

    def storage_remove(self, contract: Address, key: bytes) -> bool:
        slot = (contract, key)
        previous = self.storage.pop(slot, _ABSENT)
        if previous is _ABSENT:
            return False
        self._journal.append(("storage", slot, previous))
        return True

    def transfer(self, sender: Address, recipient: Address, amount: int) -> bool:
        if self.balance(sender) < amount or (sender != recipient and self.balance(recipient) + amount >= 1 << 128):
            return False
        self._set_balance(sender, self.balance(sender) - amount)
        self._set_balance(recipient, self.balance(recipient) + amount)
        return True

    def _set_balance(self, address: Address, amount: int) -> None:
        self._journal.append(("balance", address, self.balances.get(address)))
        self.balances[address] = amount

    # -- checkpoints ---------------------------------------------------

    def checkpoint(self) -> None:
        self._marks.append(len(self._journal))

    def commit(self) -> None:
        self._marks.pop()
        if not self._marks:
            self._journal.clear()

    def revert(self) -> None:
        mark = self._marks.pop()
        while len(self._journal) > mark:
            kind, slot, previous = self._journal.pop()
            table: dict = self.storage if kind == "storage" else self.balances  # type: ignore[type-arg]
            if previous is _ABSENT:
                table.pop(slot, None)
            else:
                table[slot] = previous
