"""The ``wasmchain`` command: its parser, its commands, their text rendering, the standalone runner."""
