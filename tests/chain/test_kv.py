"""The key-value backends: both behave the same, batches are atomic, LevelDB is exclusive."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wasmchain.protocol.errors import ChainError
from wasmchain.store.kv import (
    DatabaseLocked,
    DatabaseMissing,
    KVStore,
    LevelDBKV,
    MemoryKV,
    StoreError,
    prefix_upper_bound,
)

ROOT = Path(__file__).resolve().parents[2]
BACKENDS = ("memory", "leveldb")


def open_store(backend: str, directory: Path) -> KVStore:
    return MemoryKV() if backend == "memory" else LevelDBKV(directory / "db", create=True)


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[KVStore]:
    kv = open_store(request.param, tmp_path)
    yield kv
    kv.close()


def locked_message(path: Path) -> str:
    return f"data directory {path} is in use by another process (is a node running? use --rpc to talk to it)"


def python(code: str) -> subprocess.Popen[str]:
    """A child Python with the project importable, talking over pipes."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


# -- reads, writes, deletes -----------------------------------------------------


def test_get_write_and_delete(store: KVStore) -> None:
    assert store.get(b"k") is None
    store.write({b"k": b"v", b"j": b""})
    assert store.get(b"k") == b"v"
    assert store.get(b"j") == b""  # an empty value is a value, not a deletion
    store.write({b"k": None, b"absent": None, b"j": b"w"})
    assert store.get(b"k") is None
    assert store.get(b"j") == b"w"
    assert list(store.iterate()) == [(b"j", b"w")]


def test_an_empty_batch_changes_nothing(store: KVStore) -> None:
    store.write({b"a": b"1"})
    store.write({})
    assert list(store.iterate()) == [(b"a", b"1")]


def test_iterate_orders_by_bytes_filters_by_prefix_and_starts_where_told(store: KVStore) -> None:
    keys = [b"", b"\x00", b"a", b"a\x00", b"ab", b"a\xff", b"a\xff\xff", b"b", b"\xff", b"\xff\xff"]
    store.write({key: b"v" + key for key in reversed(keys)})
    assert [key for key, _ in store.iterate()] == keys
    assert [key for key, _ in store.iterate(reverse=True)] == keys[::-1]
    assert [key for key, _ in store.iterate(b"a")] == [b"a", b"a\x00", b"ab", b"a\xff", b"a\xff\xff"]
    assert [key for key, _ in store.iterate(b"a\xff")] == [b"a\xff", b"a\xff\xff"]
    assert [key for key, _ in store.iterate(b"\xff", reverse=True)] == [b"\xff\xff", b"\xff"]
    assert [key for key, _ in store.iterate(b"a", start=b"a\x01")] == [b"ab", b"a\xff", b"a\xff\xff"]
    assert [key for key, _ in store.iterate(b"a", start=b"ab", reverse=True)] == [b"ab", b"a\x00", b"a"]
    assert [key for key, _ in store.iterate(b"a", start=b"z", reverse=True)][0] == b"a\xff\xff"
    assert list(store.iterate(b"a", start=b"b")) == []
    assert list(store.iterate(b"a", start=b"", reverse=True)) == []
    assert dict(store.iterate(b"ab")) == {b"ab": b"vab"}


def test_iterate_is_a_snapshot_taken_when_called(store: KVStore) -> None:
    store.write({b"a": b"1", b"b": b"2"})
    forward, backward = store.iterate(), store.iterate(reverse=True)
    store.write({b"a": None, b"c": b"3"})
    assert list(forward) == [(b"a", b"1"), (b"b", b"2")]
    assert list(backward) == [(b"b", b"2"), (b"a", b"1")]


KEYS = st.builds(b"".join, st.lists(st.sampled_from([b"\x00", b"a", b"b", b"\xff"]), max_size=3))


@settings(max_examples=60, deadline=None)
@given(
    batches=st.lists(st.dictionaries(KEYS, st.none() | st.binary(max_size=3), max_size=8), max_size=4),
    prefix=KEYS,
    start=st.none() | KEYS,
    reverse=st.booleans(),
)
def test_both_backends_agree_with_a_sorted_dict(
    batches: list[dict[bytes, bytes | None]], prefix: bytes, start: bytes | None, reverse: bool
) -> None:
    expected: dict[bytes, bytes] = {}
    for batch in batches:
        for key, value in batch.items():
            if value is None:
                expected.pop(key, None)
            else:
                expected[key] = value
    wanted = sorted((key, value) for key, value in expected.items() if key.startswith(prefix))
    if reverse:
        wanted = [item for item in reversed(wanted) if start is None or item[0] <= start]
    else:
        wanted = [item for item in wanted if start is None or item[0] >= start]
    with tempfile.TemporaryDirectory() as directory:
        for backend in BACKENDS:
            kv = open_store(backend, Path(directory))
            try:
                for batch in batches:
                    kv.write(batch)
                assert list(kv.iterate(prefix, start=start, reverse=reverse)) == wanted, backend
                assert all(kv.get(key) == value for key, value in expected.items())
            finally:
                kv.close()


def test_prefix_upper_bound() -> None:
    assert prefix_upper_bound(b"") is None
    assert prefix_upper_bound(b"\xff\xff") is None
    assert prefix_upper_bound(b"a") == b"b"
    assert prefix_upper_bound(b"a\xff") == b"b"
    assert prefix_upper_bound(b"a\x00") == b"a\x01"


# -- atomic batches ---------------------------------------------------------------


class Exploding(Mapping[bytes, bytes | None]):
    """A batch that fails part-way through being read."""

    def __init__(self, good: int) -> None:
        self.good = good

    def __getitem__(self, key: bytes) -> bytes | None:
        return b"value"

    def __iter__(self) -> Iterator[bytes]:
        for index in range(self.good):
            yield b"key%d" % index
        raise RuntimeError("the batch broke")

    def __len__(self) -> int:
        return self.good + 1


def test_a_batch_that_fails_while_being_read_applies_nothing(store: KVStore) -> None:
    store.write({b"key0": b"before"})
    with pytest.raises(RuntimeError, match="the batch broke"):
        store.write(Exploding(good=50))
    assert list(store.iterate()) == [(b"key0", b"before")]


@pytest.mark.parametrize(
    "batch", [{b"a": b"1", b"b": "text"}, {b"a": b"1", "b": b"2"}, {b"a": b"1", b"b": bytearray(b"2")}]
)
def test_a_batch_with_a_key_or_value_not_bytes_is_a_type_error_and_applies_nothing(
    store: KVStore, batch: dict[bytes, bytes | None]
) -> None:
    with pytest.raises(TypeError):
        store.write(batch)
    assert list(store.iterate()) == []


def test_use_after_close_is_a_store_error_and_close_twice_is_harmless(store: KVStore) -> None:
    store.close()
    store.close()
    for use in (lambda: store.get(b"k"), lambda: store.iterate(), lambda: store.write({b"k": b"v"})):
        with pytest.raises(StoreError, match="is closed"):
            use()


BATCH_KEYS = 200
WRITER = """
import sys
from pathlib import Path
from wasmchain.store.kv import LevelDBKV

kv = LevelDBKV(Path(sys.argv[1]), create=True, sync={sync})
for number in range(1, 1_000_000):
    value = number.to_bytes(4, "big") * 64  # 256 bytes: a batch spans several log blocks
    kv.write({b"key%03d" % index: value for index in range({keys})})
    print(number, flush=True)
"""


@pytest.mark.parametrize("sync", [True, False])
def test_a_writer_killed_mid_stream_leaves_every_batch_whole_or_absent(tmp_path: Path, sync: bool) -> None:
    # Without sync an acknowledged batch is in the OS page cache, not yet on
    # disk: killing the process (not the machine) must still lose nothing.
    path = tmp_path / "db"
    acknowledged = []
    writer = WRITER.replace("{keys}", str(BATCH_KEYS)).replace("{sync}", str(sync))
    for kill_after in (3, 17, 40):  # kill the same database several times, at different points
        child = subprocess.Popen(
            [sys.executable, "-c", writer, str(path)],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        assert child.stdout is not None
        for _ in range(kill_after):
            last = int(child.stdout.readline())
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
        acknowledged.append(last)
        with LevelDBKV(path, create=False) as kv:
            values = {value for _, value in kv.iterate(b"key")}
            assert len(list(kv.iterate(b"key"))) == BATCH_KEYS
        assert len(values) == 1, f"a torn batch: {len(values)} different batch numbers survived"
        survived = int.from_bytes(values.pop()[:4], "big")
        assert survived >= last, f"batch {last} was acknowledged but only {survived} survived"


# -- opening: missing and locked ---------------------------------------------------


def test_opening_a_missing_database_without_create_says_to_run_init(tmp_path: Path) -> None:
    for path in (tmp_path / "nowhere", tmp_path):
        with pytest.raises(DatabaseMissing, match=r"no database at .*: run `wasmchain init`"):
            LevelDBKV(path, create=False)
    assert not (tmp_path / "nowhere").exists()
    assert issubclass(DatabaseMissing, StoreError) and issubclass(StoreError, ChainError)


def test_create_makes_the_directories_and_reopening_keeps_the_data(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "db"
    with LevelDBKV(path, create=True) as kv:
        assert kv.sync  # synced writes unless asked otherwise
        kv.write({b"k": b"v"})
    with LevelDBKV(path, create=False) as kv:
        assert kv.get(b"k") == b"v"


def test_unsynced_writes_are_atomic_and_read_back_after_reopening(tmp_path: Path) -> None:
    path = tmp_path / "db"
    with LevelDBKV(path, create=True, sync=False) as kv:
        assert not kv.sync
        kv.write({b"a": b"1", b"b": b"2"})
        kv.write({b"a": None, b"c": b"3"})
        with pytest.raises(TypeError):
            kv.write({b"d": b"4", b"e": "not bytes"})  # type: ignore[dict-item]
    with LevelDBKV(path, create=False) as kv:
        assert list(kv.iterate()) == [(b"b", b"2"), (b"c", b"3")]


def test_a_second_open_in_the_same_process_is_locked(tmp_path: Path) -> None:
    path = tmp_path / "db"
    with LevelDBKV(path, create=True):
        with pytest.raises(DatabaseLocked) as raised:
            LevelDBKV(path, create=False)
        assert str(raised.value) == locked_message(path)
    with LevelDBKV(path, create=False) as kv:  # closing released the lock
        assert kv.get(b"k") is None


def test_a_database_held_by_another_process_is_locked_with_the_exact_message(tmp_path: Path) -> None:
    path = tmp_path / "db"
    LevelDBKV(path, create=True).close()
    node = python(
        "import sys; from pathlib import Path; from wasmchain.store.kv import LevelDBKV\n"
        f"kv = LevelDBKV(Path({str(path)!r}), create=False)\n"
        "print('open', flush=True); sys.stdin.readline(); kv.close()"
    )
    assert node.stdout is not None and node.stdin is not None
    try:
        assert node.stdout.readline() == "open\n"
        with pytest.raises(DatabaseLocked) as raised:
            LevelDBKV(path, create=False)
        assert str(raised.value) == locked_message(path)
    finally:
        node.communicate("\n")
    assert node.returncode == 0
    with LevelDBKV(path, create=False):  # the node exited: free again
        pass


def test_a_database_held_here_is_locked_for_a_child_process(tmp_path: Path) -> None:
    path = tmp_path / "db"
    with LevelDBKV(path, create=True):
        cli = python(
            "from pathlib import Path; from wasmchain.store.kv import DatabaseLocked, LevelDBKV\n"
            f"try:\n    LevelDBKV(Path({str(path)!r}), create=False)\n"
            "except DatabaseLocked as error:\n    print(error)\n"
        )
        out, err = cli.communicate()
    assert (cli.returncode, out, err) == (0, locked_message(path) + "\n", "")


def test_compacting_keeps_every_entry_and_a_closed_store_refuses(tmp_path: Path) -> None:
    kv = LevelDBKV(tmp_path / "db", create=True, sync=False)
    entries = {os.urandom(16): os.urandom(100) for _ in range(5000)}
    kv.write(entries)
    kv.write({key: None for key in list(entries)[:1000]})
    kv.compact()
    remaining = dict(list(entries.items())[1000:])
    assert dict(kv.iterate()) == dict(sorted(remaining.items()))
    kv.close()
    with pytest.raises(StoreError, match="closed"):
        kv.compact()
