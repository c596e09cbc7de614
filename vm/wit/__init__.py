"""Typed contract interfaces: a WIT world in the module's ``wasmchain:wit`` custom section.

A contract may carry its interface as the text of a WIT package (the
interface language of the WebAssembly Component Model), restricted to the
subset docs/abi.md lists under "Interfaces (WIT)".  ``types`` holds the
resolved model (methods, events, their types), ``syntax`` the lexer, the
parser and the name resolution (consensus code from ABI 1.2 on: what it
accepts decides which modules deploy), ``section`` reads the custom section
and checks a module's exports against the world, and ``values`` maps each
type between msgpack (what a contract reads and writes) and JSON (what
people and tools read and write).
"""
