"""The protocol: canonical encoding, keys, transactions, blocks, genesis, the Merkle tree, state and the transition;
no I/O, no clock, no threads."""
