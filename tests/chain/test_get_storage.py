"""``get_storage``: a contract's storage at the head, a page at a time, in key order."""

from __future__ import annotations

import struct

import pytest

from tests.helpers import CONTRACTS
from wasmchain import Client, RPCClientError
from wasmchain.client.local import local_client
from wasmchain.protocol.keys import ADDRESS_SIZE


def _balance_key(address: str) -> bytes:
    return b"b" + bytes.fromhex(address[2:])


@pytest.fixture
def client() -> Client:
    return local_client()


def test_pages_walk_the_whole_storage_in_key_order_and_match_what_the_token_wrote(client: Client) -> None:
    alice = client.dev_account(0)
    token = alice.deploy(CONTRACTS / "token" / "token.wasm", init="init", args={"supply": 1_000})
    owners = [client.dev_account(index) for index in range(1, 6)]
    for amount, owner in enumerate(owners, start=1):
        token.call("transfer", {"to": owner, "amount": amount}, sender=alice)
    expected = {_balance_key(owner.address): struct.pack("<Q", amount) for amount, owner in enumerate(owners, 1)}
    expected[_balance_key(alice.address)] = struct.pack("<Q", 1_000 - 15)
    expected[b"supply"] = struct.pack("<Q", 1_000)

    seen: list[tuple[bytes, bytes]] = []
    after = None
    pages = 0
    while True:
        page = client.call("get_storage", address=token.address, after=after, limit=2)
        assert page["contract"] == token.address and page["block_height"] == client.head().height
        assert 1 <= len(page["entries"]) <= 2
        seen += [(bytes.fromhex(e["key"][2:]), bytes.fromhex(e["value"][2:])) for e in page["entries"]]
        pages += 1
        after = page["next"]
        if after is None:
            break
        assert after == page["entries"][-1]["key"]
    assert pages == 4  # 7 entries, 2 a page
    assert [key for key, _ in seen] == sorted(expected)  # bytewise order, each key once
    assert dict(seen) == expected
    # `after` as text: the keys after "b\xff..." are "supply" only
    assert [e["key"] for e in client.call("get_storage", address=token.address, after="c")["entries"]] == [
        "0x" + b"supply".hex()
    ]
    assert client.call("get_storage", address=token.address, after="supply") == {
        "block_height": client.head().height,
        "contract": token.address,
        "entries": [],
        "next": None,
    }


def test_an_account_without_storage_and_bad_limits(client: Client) -> None:
    empty = client.call("get_storage", address=client.dev_account(3).address)
    assert empty["entries"] == [] and empty["next"] is None
    for limit in (0, 1_001):
        with pytest.raises(RPCClientError, match="limit must be between 1 and 1000"):
            client.call("get_storage", address=client.dev_account(3).address, limit=limit)
    with pytest.raises(RPCClientError, match="address"):
        client.call("get_storage", address="0x" + "11" * (ADDRESS_SIZE - 1))


def test_a_page_does_not_read_other_contracts_storage(client: Client) -> None:
    alice = client.dev_account(0)
    first = alice.deploy(CONTRACTS / "counter" / "counter.wasm")
    second = alice.deploy(CONTRACTS / "counter" / "counter.wasm")
    first.call("increment", sender=alice)
    assert [e["key"] for e in client.call("get_storage", address=first.address)["entries"]] == ["0x" + b"count".hex()]
    assert client.call("get_storage", address=second.address)["entries"] == []
