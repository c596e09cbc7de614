"""The node: mempool, block producer, ABCI-shaped application, JSON-RPC, the HTTP server, the devnet."""
