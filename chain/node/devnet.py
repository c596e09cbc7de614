"""``wasmchain devnet``: open (or create) a data directory, print the banner, serve.

The data directory is the embedded CLI's (``--data``, default
``.wasmchain``): a devnet restarted on it resumes at its head, and
``--fresh`` starts over from the genesis file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from wasmchain.node.datadir import DataDir, open_chain, refuse_other_genesis
from wasmchain.node.jsonrpc import DEFAULT_LIMITS, Limits
from wasmchain.node.node import Node
from wasmchain.node.rpc import Dispatcher
from wasmchain.node.server import HTTPAccess, Server
from wasmchain.protocol.keys import DEV_ACCOUNTS, dev_key, format_address
from wasmchain.store.chain import Chain
from wasmchain.store.genesis_file import load_genesis


@dataclass(frozen=True)
class DevnetOptions:
    data: DataDir
    genesis: Path
    host: str = "127.0.0.1"
    port: int = 8545
    block_time: float | None = None
    fresh: bool = False
    durable: bool = False
    access: HTTPAccess = HTTPAccess()
    """Who besides this machine's own tools may call it (``--allowed-hosts``, ``--cors-origins``)."""
    limits: Limits = DEFAULT_LIMITS
    """What one JSON-RPC request may cost (the ``--rpc-*`` flags; docs/rpc.md, "Limits")."""


def open_devnet_chain(options: DevnetOptions) -> tuple[Chain, bool]:
    """The chain in the data directory, created from genesis if absent; and whether it was created."""
    data = options.data
    genesis = load_genesis(options.genesis)

    same_genesis = refuse_other_genesis(
        data, genesis, options.genesis, "; use --fresh to start over, or another --data"
    )
    # Non-durable writes survive the process dying (LevelDB has handed them
    # to the OS); only an OS crash or power cut can lose the newest blocks.
    return open_chain(data, lambda: genesis, sync=options.durable, fresh=options.fresh, check=same_genesis)


def run_devnet(options: DevnetOptions, out: TextIO) -> int:
    chain, created = open_devnet_chain(options)
    try:
        node = Node(chain, block_time=options.block_time, console=lambda line: print(line, file=out, flush=True))
        server = Server(
            node,
            options.host,
            options.port,
            dispatcher=Dispatcher(node, limits=options.limits),
            access=options.access,
        )

        def banner(url: str) -> None:
            head = chain.head
            genesis = chain.genesis
            mining = (
                "instant (a block per transaction)"
                if options.block_time is None
                else f"a block every {options.block_time:g} s"
            )
            started = "created from " + str(options.genesis) if created else f"resumed at height {head.height}"
            print("wasmchain devnet", file=out)
            print(f"  chain id   {genesis.chain_id}", file=out)
            print(f"  rpc        {url}", file=out)
            print(f"  data       {options.data.path} ({started})", file=out)
            print(f"  mining     {mining}", file=out)
            print("", file=out)
            print("Dev accounts. INSECURE: these keys derive from a published seed and anyone can spend", file=out)
            print("from them. Use them on this devnet only, never on a real network.", file=out)
            for index in range(DEV_ACCOUNTS):
                key = dev_key(index)
                balance = chain.account(key.address).balance
                print(f"  dev{index}  {format_address(key.address)}  balance {balance}", file=out)
                print(f"        private key 0x{key.seed.hex()}", file=out)
            print("", file=out)
            print(f"Use it:  wasmchain balance dev0 --rpc {url}   (or export WASMCHAIN_RPC={url})", file=out)
            print(f"Explorer:  {url}/ in a browser (blocks, transactions, traces and contracts, live)", file=out)
            print(f"Listening on {url}  (Ctrl-C to stop)", file=out, flush=True)

        server.run(banner)
        print(f"stopped at height {chain.head.height}", file=out, flush=True)
    finally:
        chain.kv.close()
    return 0
