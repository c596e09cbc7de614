"""``wasmchain localnet``: N validators on this machine, each a CometBFT node and its ``wasmchain node``.

Validator ``i`` listens on its own loopback address (``127.0.0.1`` + ``i``;
on Linux the whole of 127.0.0.0/8 is this machine), so every one keeps the
default ports: CometBFT's P2P on 26656 and RPC on 26657, the ABCI socket on
26658 and wasmchain's JSON-RPC on 8545.

The first run sets the directory up (``set_up``): ``cometbft testnet``
makes the validators' keys, a genesis naming them and configs that list
each other as persistent peers; then each config is edited for this
machine (``CONFIG``: the addresses, short consensus timeouts, no pprof or
Prometheus) and our genesis goes into CometBFT's as ``app_state``, under
our chain id.  A later run finds ``localnet.json`` and resumes: the
CometBFT nodes replay what their applications lack (the ABCI handshake).

Layout of DIR (default ``.wasmchain-localnet``)::

    localnet.json        how many validators, the first address, the chain id
    genesis.json         our genesis document (code inlined), every node's --genesis
    nodeI/               validator I's CometBFT home (config/, data/)
    nodeI/wasmchain/     its wasmchain data directory
    nodeI/cometbft.log, nodeI/wasmchain.log

``run_localnet`` starts each ``wasmchain node`` (and waits for it to
listen), then each ``cometbft start``, waits until each has committed a
block since it started (so the network is live), prints
the validators' URLs and the dev accounts, and on SIGINT or SIGTERM stops
the CometBFT nodes, then the applications, and exits 0.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from wasmchain.node.datadir import DataDir
from wasmchain.protocol.errors import ChainError
from wasmchain.protocol.keys import DEV_ACCOUNTS, dev_key, format_address
from wasmchain.store.genesis_file import load_genesis

COMETBFT_VERSION = "0.38.26"
"""The CometBFT release wasmchain's ABCI application is built and tested against."""
INSTALL_COMETBFT = f"go install github.com/cometbft/cometbft/cmd/cometbft@v{COMETBFT_VERSION}"
DEFAULT_DIR = Path(".wasmchain-localnet")
FIRST_ADDRESS = "127.0.0.1"
P2P_PORT = 26656
COMETBFT_RPC_PORT = 26657
ABCI_PORT = 26658
RPC_PORT = 8545
MAX_VALIDATORS = 64
START_TIMEOUT = 60.0
"""Seconds for every node to listen and the network to commit a block."""
STOP_TIMEOUT = 20.0
"""Seconds a process has to exit after SIGTERM before it is killed."""

CONSENSUS = {
    "timeout_propose": '"1s"',
    "timeout_prevote": '"500ms"',
    "timeout_precommit": '"500ms"',
    "timeout_commit": '"200ms"',
    "create_empty_blocks_interval": '"1s"',
}
"""Consensus timeouts for a network on one machine: a block within ~0.3 s of a transaction, an empty one a second
after the last (CometBFT's defaults are 3 s to propose and 1 s between blocks, for networks across the world)."""
ONE_VALIDATOR = {"timeout_commit": '"100ms"'}
"""What a localnet of one validator changes in ``CONSENSUS``: no transaction waits for gossip to reach the next
proposer, so ``timeout_commit`` 100 ms halves the latency (and gave 5-8% more committed transfers a second; 50 ms
no more throughput, for twice the blocks).  With 4 validators 100 ms made the latency worse (p50 512 -> 819 ms): a
transaction sent to one validator often missed the next proposal (p2p gossip flushes every 100 ms)."""


def consensus_settings(validators: int) -> dict[str, str]:
    """The ``[consensus]`` values of a localnet of ``validators`` (``CONSENSUS``, with ``ONE_VALIDATOR`` for one)."""
    return {**CONSENSUS, **(ONE_VALIDATOR if validators == 1 else {})}


MEMPOOL = {"recheck": "false"}
"""Mempool settings: no recheck of every transaction left in the mempool after each block (our ``CheckTx`` keeps
a sender's pending nonces across blocks, ``abci/app.py``; a transaction a block made invalid stays until a block
takes it, with an ``invalid`` receipt and no effect)."""


class LocalnetError(ChainError):
    """A localnet that cannot start: no ``cometbft``, another version, a directory that is not one."""

    reason = "localnet"


# -- cometbft ---------------------------------------------------------------------------------------


def find_cometbft(given: Path | None = None) -> Path:
    """The ``cometbft`` binary: ``given``, else ``$WASMCHAIN_COMETBFT``, ``PATH``, ``$GOBIN``, ``$GOPATH/bin``,
    ``~/go/bin``; missing, a ``LocalnetError`` that says how to install it."""
    if given is not None:
        if not (given.is_file() and os.access(given, os.X_OK)):
            raise LocalnetError(f"--cometbft {given} is not an executable file")
        return given
    candidates = [os.environ.get("WASMCHAIN_COMETBFT"), shutil.which("cometbft")]
    for variable in ("GOBIN", "GOPATH"):
        value = os.environ.get(variable)
        if value:
            candidates.append(str(Path(value) / "cometbft" if variable == "GOBIN" else Path(value) / "bin/cometbft"))
    candidates.append(str(Path.home() / "go/bin/cometbft"))
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return Path(candidate)
    raise LocalnetError(
        f"cometbft is not installed (not on PATH, in $GOBIN or ~/go/bin): install CometBFT v{COMETBFT_VERSION} "
        f"with `{INSTALL_COMETBFT}` (Go 1.22 or later), or pass --cometbft PATH"
    )


def cometbft_version(cometbft: Path) -> str:
    try:
        done = subprocess.run([str(cometbft), "version"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise LocalnetError(f"cannot run {cometbft} version: {error}") from None
    return done.stdout.strip()


def check_cometbft(cometbft: Path) -> str | None:
    """Refuse a CometBFT of another minor release; return a warning for another patch release, else ``None``."""
    version = cometbft_version(cometbft)
    if version == COMETBFT_VERSION:
        return None
    pinned_minor = COMETBFT_VERSION.rsplit(".", 1)[0]
    if version.startswith(pinned_minor + "."):
        return (
            f"warning: {cometbft} is CometBFT {version}; wasmchain is tested with {COMETBFT_VERSION} "
            f"(`{INSTALL_COMETBFT}`)"
        )
    raise LocalnetError(
        f"{cometbft} is CometBFT {version or '(no version)'}, but wasmchain speaks ABCI 2.0 as CometBFT "
        f"{COMETBFT_VERSION} does: install it with `{INSTALL_COMETBFT}`, or pass --cometbft PATH"
    )


# -- the directory ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    """Where a localnet's validators keep their files and which addresses they listen on."""

    dir: Path
    validators: int
    first_address: str = FIRST_ADDRESS

    def address(self, index: int) -> str:
        return str(ipaddress.IPv4Address(self.first_address) + index)

    def home(self, index: int) -> Path:
        """Validator ``index``'s CometBFT home."""
        return self.dir / f"node{index}"

    def data(self, index: int) -> DataDir:
        return DataDir(self.home(index) / "wasmchain")

    @property
    def genesis(self) -> Path:
        return self.dir / "genesis.json"

    @property
    def manifest(self) -> Path:
        return self.dir / "localnet.json"

    def rpc_url(self, index: int) -> str:
        return f"http://{self.address(index)}:{RPC_PORT}"

    def cometbft_url(self, index: int) -> str:
        return f"http://{self.address(index)}:{COMETBFT_RPC_PORT}"

    def abci(self, index: int) -> str:
        return f"tcp://{self.address(index)}:{ABCI_PORT}"

    def node_command(self, index: int) -> list[str]:
        """``wasmchain node`` for validator ``index`` (run by this Python, so no PATH is needed)."""
        return [
            sys.executable,
            "-m",
            "wasmchain.cli.main",
            "node",
            "--data",
            str(self.data(index).path),
            "--genesis",
            str(self.genesis),
            "--abci",
            self.abci(index),
            "--cometbft-rpc",
            self.cometbft_url(index),
            "--host",
            self.address(index),
            "--port",
            str(RPC_PORT),
        ]

    def cometbft_command(self, cometbft: Path, index: int) -> list[str]:
        return [str(cometbft), "start", "--home", str(self.home(index))]


def check_layout(dir: Path, validators: int, first_address: str) -> Layout:
    if not 1 <= validators <= MAX_VALIDATORS:
        raise LocalnetError(f"--validators must be between 1 and {MAX_VALIDATORS}, found {validators}")
    try:
        first = ipaddress.IPv4Address(first_address)
    except ValueError:
        raise LocalnetError(f"--first-address must be an IPv4 address, found {first_address!r}") from None
    last = int(first) + validators - 1
    if not first.is_loopback or not ipaddress.IPv4Address(min(last, 2**32 - 1)).is_loopback:
        raise LocalnetError(f"a localnet's addresses are loopback ones (127.x.y.z), from {first_address} on")
    return Layout(dir, validators, first_address)


def edit_config(text: str, changes: dict[tuple[str, str], str]) -> str:
    """A config.toml with the values of ``(section, key)`` replaced (``""``: the top-level table); each must exist."""
    section = ""
    lines = text.splitlines(keepends=True)
    done = set()
    for number, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            section = stripped.strip("[]").strip()
            continue
        key, equals, _ = stripped.partition("=")
        if equals and (section, key.strip()) in changes:
            lines[number] = f"{key.strip()} = {changes[(section, key.strip())]}\n"
            done.add((section, key.strip()))
    missing = sorted(set(changes) - done)
    if missing:
        raise LocalnetError(f"CometBFT's config.toml has no {missing[0][1]} in [{missing[0][0]}]: another version?")
    return "".join(lines)


def node_config(layout: Layout, index: int) -> dict[tuple[str, str], str]:
    """The config.toml values ``set_up`` gives validator ``index``."""
    address = layout.address(index)
    return {
        ("", "moniker"): f'"validator{index}"',
        ("", "proxy_app"): f'"{layout.abci(index)}"',
        ("rpc", "laddr"): f'"tcp://{address}:{COMETBFT_RPC_PORT}"',
        ("rpc", "pprof_laddr"): '""',
        ("p2p", "laddr"): f'"tcp://{address}:{P2P_PORT}"',
        ("p2p", "external_address"): f'"{address}:{P2P_PORT}"',
        ("p2p", "allow_duplicate_ip"): "true",
        ("p2p", "addr_book_strict"): "false",
        ("instrumentation", "prometheus"): "false",
        **{("consensus", key): value for key, value in consensus_settings(layout.validators).items()},
        **{("mempool", key): value for key, value in MEMPOOL.items()},
    }


def set_up(layout: Layout, cometbft: Path, genesis_file: Path, out: TextIO) -> bool:
    """Make the localnet's directory if it has none; return whether it did (``False``: resumed).

    Set up in a sibling directory renamed into place at the end, so an interrupted set-up leaves nothing.
    """
    if layout.manifest.exists():
        manifest = json.loads(layout.manifest.read_text())
        if manifest.get("validators") != layout.validators or manifest.get("first_address") != layout.first_address:
            raise LocalnetError(
                f"{layout.dir} holds a localnet of {manifest.get('validators')} validators from "
                f"{manifest.get('first_address')}: run it with those, or use another --dir"
            )
        return False
    if layout.dir.exists() and any(layout.dir.iterdir()):
        raise LocalnetError(f"{layout.dir} exists and is not a localnet (no localnet.json): give another --dir")
    genesis = load_genesis(genesis_file)
    document = json.loads(genesis.document)
    staging = layout.dir.with_name(layout.dir.name + ".setting-up")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    made = Layout(staging, layout.validators, layout.first_address)
    command = [
        str(cometbft),
        "testnet",
        "--v",
        str(layout.validators),
        "--o",
        str(staging),
        "--starting-ip-address",
        layout.first_address,
        "--populate-persistent-peers",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise LocalnetError(f"`{' '.join(command)}` failed (exit {done.returncode}): {done.stderr.strip()[-500:]}")
    made.genesis.write_text(json.dumps(document, indent=2) + "\n")
    comet_genesis: dict[str, Any] = json.loads((made.home(0) / "config/genesis.json").read_text())
    comet_genesis.update(chain_id=genesis.chain_id, initial_height="1", app_state=document)
    for index in range(layout.validators):
        (made.home(index) / "config/genesis.json").write_text(json.dumps(comet_genesis, indent=2) + "\n")
        config = made.home(index) / "config/config.toml"
        config.write_text(edit_config(config.read_text(), node_config(layout, index)))
    manifest = {"validators": layout.validators, "first_address": layout.first_address, "chain_id": genesis.chain_id}
    made.manifest.write_text(json.dumps(manifest, indent=2) + "\n")
    if layout.dir.exists():
        layout.dir.rmdir()
    staging.rename(layout.dir)
    print(f"set up {layout.validators} validators in {layout.dir} (chain id {genesis.chain_id})", file=out, flush=True)
    return True


# -- the processes ----------------------------------------------------------------------------------


def _die_with_parent() -> None:  # pragma: no cover - runs in the child, between fork and exec
    """Linux: the child gets SIGTERM if the localnet dies without stopping it (SIGKILL)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


@dataclass
class Child:
    """One process of the localnet, its output appended to its log file."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path
    offset: int
    """Where its output starts in the log."""
    reported: bool = False

    @classmethod
    def start(cls, name: str, command: Sequence[str], log: Path) -> Child:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as file:
            offset = file.tell()
            process = subprocess.Popen(
                list(command),
                stdout=file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C reaches the localnet, which stops its children in order
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        return cls(name, process, log, offset)

    def output(self) -> str:
        with self.log.open("rb") as file:
            file.seek(self.offset)
            return file.read().decode("utf-8", "replace")

    def tail(self, lines: int = 8) -> str:
        return "\n".join("    " + line for line in self.output().splitlines()[-lines:])

    def stop(self) -> int:
        """SIGTERM, then SIGKILL after ``STOP_TIMEOUT``; its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
        return self.process.wait()


def cometbft_height(url: str, timeout: float = 2.0) -> int | None:
    """The latest block height a CometBFT node reports on its RPC (``/status``), or ``None`` if it does not answer."""
    try:
        with urllib.request.urlopen(url + "/status", timeout=timeout) as answer:
            status = json.load(answer)
        return int(status["result"]["sync_info"]["latest_block_height"])
    except (OSError, ValueError, KeyError, TypeError, urllib.error.URLError):
        return None


@dataclass(frozen=True)
class LocalnetOptions:
    dir: Path
    validators: int
    genesis: Path
    cometbft: Path | None = None
    first_address: str = FIRST_ADDRESS


def run_localnet(options: LocalnetOptions, out: TextIO, err: TextIO) -> int:
    """Set up (or resume) and run the localnet until SIGINT or SIGTERM; 0 once every process is stopped."""
    cometbft = find_cometbft(options.cometbft)
    warning = check_cometbft(cometbft)
    if warning is not None:
        print(warning, file=err, flush=True)
    layout = check_layout(options.dir, options.validators, options.first_address)
    created = set_up(layout, cometbft, options.genesis, out)
    stop = threading.Event()
    previous = {signum: signal.signal(signum, lambda *_: stop.set()) for signum in (signal.SIGINT, signal.SIGTERM)}
    apps: list[Child] = []
    nodes: list[Child] = []
    try:
        for index in range(layout.validators):
            log = layout.home(index) / "wasmchain.log"
            apps.append(Child.start(f"validator{index}'s wasmchain node", layout.node_command(index), log))
        deadline = time.monotonic() + START_TIMEOUT
        for app in apps:
            while "Listening on " not in app.output():
                _check_starting(app, deadline, stop)
        for index in range(layout.validators):
            command = layout.cometbft_command(cometbft, index)
            nodes.append(Child.start(f"validator{index}'s cometbft", command, layout.home(index) / "cometbft.log"))
        for index, node in enumerate(nodes):  # live: a block committed since it started (its handshake is done)
            while (started := cometbft_height(layout.cometbft_url(index))) is None:
                _check_starting(node, deadline, stop)
            while (cometbft_height(layout.cometbft_url(index)) or 0) <= started:
                _check_starting(node, deadline, stop)
        _banner(layout, created, out)
        while not stop.wait(0.5):
            for child in (*apps, *nodes):
                if child.process.poll() is not None and not child.reported:
                    child.reported = True
                    print(
                        f"{child.name} exited (code {child.process.returncode}); log {child.log}:\n{child.tail()}",
                        file=err,
                        flush=True,
                    )
    except _Stopped:
        pass
    finally:
        for child in (*nodes, *apps):  # CometBFT first: it stops calling its application
            child.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    print(f"stopped {layout.validators} validators (resume with the same command)", file=out, flush=True)
    return 0


class _Stopped(Exception):
    """A signal while the localnet was starting."""


def _check_starting(child: Child, deadline: float, stop: threading.Event) -> None:
    if stop.is_set():
        raise _Stopped
    if child.process.poll() is not None:
        raise LocalnetError(f"{child.name} exited (code {child.process.returncode}); log {child.log}:\n{child.tail()}")
    if time.monotonic() > deadline:
        raise LocalnetError(f"{child.name} was not ready within {START_TIMEOUT:g} s; log {child.log}:\n{child.tail()}")
    time.sleep(0.1)


def _banner(layout: Layout, created: bool, out: TextIO) -> None:
    manifest = json.loads(layout.manifest.read_text())
    print("wasmchain localnet", file=out)
    print(f"  chain id    {manifest['chain_id']}", file=out)
    print(f"  directory   {layout.dir} ({'set up now' if created else 'resumed'})", file=out)
    print("", file=out)
    for index in range(layout.validators):
        print(
            f"  validator{index}  rpc {layout.rpc_url(index)}  cometbft {layout.cometbft_url(index)}"
            f"  logs {layout.home(index)}/{{wasmchain,cometbft}}.log",
            file=out,
        )
    print("", file=out)
    print("Dev accounts. INSECURE: these keys derive from a published seed; use them on this localnet only.", file=out)
    for index in range(DEV_ACCOUNTS):
        key = dev_key(index)
        print(f"  dev{index}  {format_address(key.address)}  private key 0x{key.seed.hex()}", file=out)
    print("", file=out)
    print(f"Use it:  wasmchain balance dev0 --rpc {layout.rpc_url(0)}   (any validator's rpc)", file=out)
    print(f"Localnet running: {layout.validators} validators  (Ctrl-C to stop)", file=out, flush=True)
