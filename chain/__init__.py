"""The chain: genesis, accounts, transactions, blocks, state and the CLI."""
