"""JSON-RPC 2.0 as a node speaks it: the codes, limits and error object its callers rely on, and the
machinery between an HTTP body and the methods (docs/rpc.md).

``answer(body, call)`` parses a request or a batch, checks each call's envelope, runs it through
``call`` and returns the response body (``None`` when there is nothing to send: notifications
only); ``answering`` is the same as a generator that pauses between the calls of a batch, so a
server can serve others meanwhile.  ``Limits`` bounds what one request may cost: the gas of
``view`` and ``simulate`` (spent by the methods) and the size of one answer and of a batch's
answers (checked here).  A method declares its parameters as ``Param``s (a name, a converter, a default) in a
``Methods`` table; ``bind`` takes them by name (an object) or by position (an array, in the
declared order) and converts each, and a converter names the parameter in its error.  Every error
reaches the caller as an error object with a code, a message and ``data.reason``, a stable name
(``RPCError``); an unexpected exception becomes ``-32603`` with its type and message, is logged,
and the node goes on serving.

The methods themselves are ``node.rpc``'s.  This module imports nothing of the node, so a client
that uses its codes and limits loads no VM and no database.
"""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from wasmchain.protocol.args import ArgsError, encode_args
from wasmchain.protocol.errors import ChainError
from wasmchain.protocol.hexstr import from_0x
from wasmchain.protocol.keys import ADDRESS_SIZE

JSONRPC = "2.0"
MAX_BATCH = 1_000
MAX_RAW_BLOCKS = 100
"""Blocks one ``get_raw_blocks`` call returns at most."""
MAX_EVENT_BLOCK_RANGE = 10_000
"""Blocks one events query may scan."""
MAX_EVENTS = 10_000
"""Events one query may return."""

DEFAULT_GAS_CAP = 20_000_000
"""Gas one ``view`` or ``simulate`` may execute by default: 10 to 20 ms of a busy loop, measured (docs/rpc.md,
"Limits"), so a health check waits at most that long behind one; a token transfer executes ~0.3M."""
DEFAULT_BATCH_GAS = 200_000_000
"""Gas the ``view`` and ``simulate`` calls of one request (a batch) may execute together by default."""
DEFAULT_MAX_ANSWER_SIZE = 8 * 1024 * 1024
"""Bytes of one call's answer by default: a contract of the largest size (512 KiB) is 1 MiB of hex."""
DEFAULT_MAX_BATCH_ANSWER_SIZE = 16 * 1024 * 1024
"""Bytes of a batch's answers together by default."""

# The JSON-RPC 2.0 codes, and ours (-32000 to -32099 are for the server).
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
TX_REJECTED = -32000
NOT_FOUND = -32001
DEVNET_REFUSED = -32002
MEMPOOL_FULL = -32003
STORE_ERROR = -32004
FOLLOWER_REFUSED = -32005
LIMIT_EXCEEDED = -32006
STATE_UNAVAILABLE = -32007
TRACE_MISMATCH = -32008

REASONS: dict[int, str] = {
    PARSE_ERROR: "parse_error",
    INVALID_REQUEST: "invalid_request",
    METHOD_NOT_FOUND: "method_not_found",
    INVALID_PARAMS: "invalid_params",
    INTERNAL_ERROR: "internal_error",
    TX_REJECTED: "invalid_transaction",
    NOT_FOUND: "not_found",
    DEVNET_REFUSED: "devnet_refused",
    MEMPOOL_FULL: "mempool_full",
    STORE_ERROR: "storage_error",
    FOLLOWER_REFUSED: "follower_refused",
    LIMIT_EXCEEDED: "limit_exceeded",
    STATE_UNAVAILABLE: "state_unavailable",
    TRACE_MISMATCH: "trace_mismatch",
}
"""Each code's reason, when no more precise one is given (a rejection gives its own: ``nonce_too_low``)."""


def changes_chain(method: str) -> bool:
    """Whether a method adds transactions or blocks, or controls the devnet: what a follower refuses."""
    return method == "submit_transaction" or method.startswith("devnet_")


class RPCError(ChainError):
    """A JSON-RPC error object: a code (above), a message that names what was wrong, and a reason.

    ``reason`` is a stable snake_case name for what went wrong, answered as ``data.reason``: the
    refused exception's own (``nonce_too_low``, ``not_found``) or, by default, the code's.
    """

    def __init__(self, code: int, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = REASONS[code] if reason is None else reason

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "data": {"reason": self.reason}}


# -- limits -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Limits:
    """What one request may cost the node, each with its flag (of ``wasmchain devnet`` and ``follow``)."""

    gas_cap: int = DEFAULT_GAS_CAP
    """Gas one ``view`` or ``simulate`` may execute, beyond a transaction's intrinsic gas (its bytes, and
    compiling a deploy's code); a call that asks for more runs with this much (``--rpc-gas-cap``)."""
    batch_gas: int = DEFAULT_BATCH_GAS
    """Gas the ``view`` and ``simulate`` calls of one request (a call or a batch) may reserve together: each
    reserves its gas limit and gives back what it did not use; a call that does not fit is refused
    (``--rpc-batch-gas``)."""
    max_answer_size: int = DEFAULT_MAX_ANSWER_SIZE
    """Bytes of one call's answer; a larger one is refused (``--rpc-max-answer-size``)."""
    max_batch_answer_size: int = DEFAULT_MAX_BATCH_ANSWER_SIZE
    """Bytes of a batch's answers together; the call that passes it, and every call after it, are refused
    without running (``--rpc-max-batch-answer-size``)."""


DEFAULT_LIMITS = Limits()

GAS_CAP_FLAG = "--rpc-gas-cap"
BATCH_GAS_FLAG = "--rpc-batch-gas"
MAX_ANSWER_SIZE_FLAG = "--rpc-max-answer-size"
MAX_BATCH_ANSWER_SIZE_FLAG = "--rpc-max-batch-answer-size"


def answer_too_large(what: str, size: int, limit: int) -> RPCError:
    """The error of one answer over ``Limits.max_answer_size``."""
    return RPCError(
        LIMIT_EXCEEDED,
        f"the answer to {what} is {size} bytes, over the node's limit of {limit} for one answer: "
        f"ask for less, or start the node with a larger {MAX_ANSWER_SIZE_FLAG}",
        "answer_too_large",
    )


# -- parameters -------------------------------------------------------------------------------------

REQUIRED: Any = object()
"""The default of a parameter that has none: a call must give it."""

Converter = Callable[[Any, str], Any]
"""A JSON value and the parameter's name in, the method's argument out; raises ``RPCError`` naming it."""


@dataclass(frozen=True, slots=True)
class Param:
    """One parameter of a method, as docs/rpc.md's table lists it."""

    name: str
    """Its name in a call's ``params`` object (and its place in an array)."""
    convert: Converter
    default: Any = REQUIRED
    keyword: str | None = None
    """The handler's argument, when the name is a Python keyword (``from``)."""


def bad(name: str, expected: str, value: Any) -> RPCError:
    """The ``-32602`` error of a parameter whose value is not what it must be."""
    shown = json.dumps(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return RPCError(INVALID_PARAMS, f"invalid params: {name} must be {expected}, found {shown}")


def to_uint(value: Any, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise bad(name, "a non-negative integer", value)
    return value


def to_uint64(value: Any, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 1 << 64:
        raise bad(name, "an integer from 0 to 2**64-1", value)
    return value


def to_gas(value: Any, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value < 1 << 63:
        raise bad(name, "an integer from 1 to 2**63-1", value)
    return value


def to_bool(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise bad(name, "true or false", value)
    return value


def to_string(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise bad(name, "a string", value)
    return value


def to_bytes(value: Any, name: str) -> bytes:
    """``0x`` and hex digits only (``protocol/hexstr.py``: no spaces, which ``bytes.fromhex`` would skip)."""
    try:
        return from_0x(value)
    except ValueError:
        raise bad(name, "0x followed by an even number of hex digits", value) from None


def to_fixed_bytes(size: int) -> Callable[[Any, str], bytes]:
    """Bytes of exactly ``size``, as ``0x`` and ``2 * size`` hex digits."""

    def convert(value: Any, name: str) -> bytes:
        try:
            raw = to_bytes(value, name)
        except RPCError:  # say what is expected here: a fixed number of digits
            raw = None
        if raw is None or len(raw) != size:
            raise bad(name, f"0x followed by {2 * size} hex digits", value)
        return raw

    return convert


to_address = to_fixed_bytes(ADDRESS_SIZE)
to_hash = to_fixed_bytes(32)


def optional(convert: Converter) -> Converter:
    """``null``, or what ``convert`` takes."""

    def optional(value: Any, name: str) -> Any:
        return None if value is None else convert(value, name)

    return optional


def to_json_args(value: Any, name: str) -> bytes:
    """Contract arguments as a JSON value ("0x.." strings are bytes), encoded as msgpack."""
    try:
        return encode_args(value)
    except ArgsError as error:
        raise RPCError(INVALID_PARAMS, f"invalid params: {name}: {error}") from None
    except RecursionError:
        raise RPCError(INVALID_PARAMS, f"invalid params: {name} is nested too deeply") from None


def to_block(value: Any, name: str) -> int | bytes | None:
    """A block height, a block hash, or "latest" (``None``, as is ``null``)."""
    if value == "latest" or value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and value.startswith("0x") and len(value) == 66:
        return to_hash(value, name)
    raise bad(name, 'a height, a 0x block hash or "latest"', value)


def bind(params: Any, spec: tuple[Param, ...], method: str) -> dict[str, Any]:
    """A call's ``params`` (an object, an array or absent) as the handler's keyword arguments, converted."""
    if params is None:
        params = {}
    if isinstance(params, list):
        if len(params) > len(spec):
            raise RPCError(
                INVALID_PARAMS, f"invalid params: {method} takes at most {len(spec)} parameters, found {len(params)}"
            )
        params = {param.name: value for param, value in zip(spec, params)}
    elif not isinstance(params, dict):
        raise RPCError(INVALID_PARAMS, "invalid params: params must be an object or an array")
    known = {param.name for param in spec}
    unknown = sorted(set(params) - known)
    if unknown:
        accepted = ", ".join(param.name for param in spec) or "none"
        raise RPCError(
            INVALID_PARAMS, f"invalid params: {method} has no parameter {unknown[0]!r} (it takes: {accepted})"
        )
    bound = {}
    for param in spec:
        if param.name in params:
            value = param.convert(params[param.name], param.name)
        elif param.default is REQUIRED:
            raise RPCError(INVALID_PARAMS, f"invalid params: {method} needs {param.name!r}")
        else:
            value = param.default
        bound[param.keyword or param.name] = value
    return bound


# -- methods ----------------------------------------------------------------------------------------

Handler = Callable[..., Any]
"""A method: its context (the dispatcher) and its bound parameters in, a JSON-able result out."""
H = TypeVar("H", bound=Handler)


@dataclass(frozen=True, slots=True)
class Method:
    name: str
    handler: Handler
    params: tuple[Param, ...]
    metered: bool = False
    """Whether it executes contract code: its handler also takes the request's gas budget (``budget``)."""


class Methods:
    """A table of methods, each declared where it is defined: ``@methods.add(Param("address", to_address))``
    above ``def get_balance(rpc, address)`` makes ``get_balance`` a method taking one parameter."""

    def __init__(self) -> None:
        self._by_name: dict[str, Method] = {}

    def add(self, *params: Param, metered: bool = False) -> Callable[[H], H]:
        """Declare the decorated function as the method of its name, taking ``params`` in this order
        (and, if ``metered``, the request's gas budget)."""

        def declare(handler: H) -> H:
            name = handler.__name__
            assert name not in self._by_name, f"method {name!r} is declared twice"
            self._by_name[name] = Method(name, handler, params, metered)
            return handler

        return declare

    def table(self) -> dict[str, Method]:
        """The methods by name, in the order declared (a copy: a dispatcher may change its own)."""
        return dict(self._by_name)

    def __iter__(self) -> Iterator[Method]:
        return iter(self._by_name.values())


# -- requests and answers ---------------------------------------------------------------------------

Call = Callable[[str, Any], Any]
"""One call, a method name and its raw ``params``: the result, or ``RPCError``."""


Answering = Generator[None, None, "bytes | None"]
"""``answering``: pauses (yields) before each call of a batch but the first; returns the response body."""


def answer(body: bytes, call: Call, limits: Limits = DEFAULT_LIMITS) -> bytes | None:
    """A whole HTTP body in, a whole response body out (``None``: nothing to send)."""
    steps = answering(body, call, limits)
    while True:
        try:
            next(steps)
        except StopIteration as done:
            response: bytes | None = done.value
            return response


def answering(body: bytes, call: Call, limits: Limits) -> Answering:
    """``answer``, pausing between the calls of a batch: whoever drives it may do other work meanwhile."""
    try:
        request = json.loads(body, parse_constant=_no_constants)
    except (ValueError, RecursionError) as error:
        return _dump(_error(None, RPCError(PARSE_ERROR, f"parse error: the body is not JSON ({error})")))
    if not isinstance(request, list):
        response = _one(request, call)
        return None if response is None else _sized(response, request, limits)
    if not request:
        return _dump(_error(None, RPCError(INVALID_REQUEST, "invalid request: an empty batch")))
    if len(request) > MAX_BATCH:
        message = f"invalid request: a batch holds at most {MAX_BATCH} calls, found {len(request)}"
        return _dump(_error(None, RPCError(INVALID_REQUEST, message)))
    parts: list[bytes] = []
    total = 0
    full: RPCError | None = None
    for index, item in enumerate(request):
        if index:
            yield
        if full is not None:  # the batch's answers passed their limit: the rest do not run
            if not (isinstance(item, dict) and "id" not in item):  # (a notification gets no answer)
                request_id = item.get("id") if isinstance(item, dict) and _usable_id(item.get("id")) else None
                parts.append(_dump(_error(request_id, full)))
            continue
        response = _one(item, call)
        if response is None:
            continue
        part = _sized(response, item, limits)
        if total + len(part) > limits.max_batch_answer_size:
            full = RPCError(
                LIMIT_EXCEEDED,
                f"the answers to this batch passed the node's limit of {limits.max_batch_answer_size} bytes "
                f"at call {index} ({total + len(part)} bytes): this call and the ones after it did not run; "
                f"send them in another batch, or start the node with a larger {MAX_BATCH_ANSWER_SIZE_FLAG}",
                "batch_answer_too_large",
            )
            part = _dump(_error(response["id"], full))
        total += len(part)
        parts.append(part)
    return b"[" + b",".join(parts) + b"]" if parts else None


def _sized(response: dict[str, Any], request: Any, limits: Limits) -> bytes:
    """One response's bytes, or the error that it is over ``limits.max_answer_size``."""
    encoded = _dump(response)
    if len(encoded) <= limits.max_answer_size:
        return encoded
    method = request.get("method") if isinstance(request, dict) else None
    what = method if isinstance(method, str) else "a call"
    return _dump(_error(response["id"], answer_too_large(what, len(encoded), limits.max_answer_size)))


def _usable_id(request_id: Any) -> bool:
    return request_id is None or isinstance(request_id, (str, int)) and not isinstance(request_id, bool)


def _one(request: Any, call: Call) -> dict[str, Any] | None:
    if not isinstance(request, dict):
        return _error(None, RPCError(INVALID_REQUEST, "invalid request: a call is a JSON object"))
    request_id = request.get("id")
    if not _usable_id(request_id):
        return _error(None, RPCError(INVALID_REQUEST, "invalid request: id must be a string, an integer or null"))
    if request.get("jsonrpc") != JSONRPC:
        return _error(request_id, RPCError(INVALID_REQUEST, 'invalid request: "jsonrpc" must be "2.0"'))
    method = request.get("method")
    if not isinstance(method, str):
        return _error(request_id, RPCError(INVALID_REQUEST, "invalid request: method must be a string"))
    extra = sorted(set(request) - {"jsonrpc", "method", "params", "id"})
    if extra:
        return _error(request_id, RPCError(INVALID_REQUEST, f"invalid request: unknown member {extra[0]!r}"))
    notification = "id" not in request
    try:
        result = call(method, request.get("params"))
    except RPCError as error:
        return None if notification else _error(request_id, error)
    except Exception as error:  # a bug: say so, log it, keep serving
        traceback.print_exc(file=sys.stderr)
        failure = RPCError(INTERNAL_ERROR, f"internal error: {type(error).__name__}: {error}")
        return None if notification else _error(request_id, failure)
    return None if notification else {"jsonrpc": JSONRPC, "id": request_id, "result": result}


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _error(request_id: Any, error: RPCError) -> dict[str, Any]:
    return {"jsonrpc": JSONRPC, "id": request_id, "error": error.to_json()}


def _dump(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()
