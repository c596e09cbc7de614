"""The canonical codec and every way a transaction is refused before it runs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.helpers import CONTRACTS, GENESIS
from wasmchain.protocol import errors
from wasmchain.protocol.blocks import decode_receipts, merkle_root
from wasmchain.protocol.codec import MAX_DEPTH, decode, decode_amount, encode, encode_amount
from wasmchain.protocol.errors import (
    ArgsTooLarge,
    BadSignature,
    BlockGasExceeded,
    ContractExists,
    GasLimitTooHigh,
    GasPriceTooLow,
    InsufficientFunds,
    IntrinsicGasTooLow,
    InvalidDeployModule,
    InvalidEncoding,
    InvalidTransaction,
    MalformedTransaction,
    NonceTooHigh,
    NonceTooLow,
    TransactionTooLarge,
    UnknownContract,
    UnknownMethod,
    WrongChainId,
    WrongSigningKey,
)
from wasmchain.protocol.genesis import genesis_from_document
from wasmchain.protocol.keys import KeyPair, contract_address, dev_key
from wasmchain.protocol.transactions import SignedTransaction, Transaction, TxKind
from wasmchain.protocol.transition import validate_transaction, validate_unsigned
from wasmchain.store.chain import Chain
from wasmchain.store.genesis_file import load_genesis
from wasmchain.store.kv import MemoryKV

DEV0, DEV1 = dev_key(0), dev_key(1)
TOKEN_CODE = (CONTRACTS / "token" / "token.wasm").read_bytes()


# -- the codec -------------------------------------------------------------------

canonical_values = st.recursive(
    st.integers(-(1 << 63), (1 << 64) - 1) | st.binary(max_size=40) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=5),
    max_leaves=20,
)


@given(canonical_values)
def test_decode_inverts_encode(value: object) -> None:
    assert decode(encode(value)) == value


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\xcd\x00\x05", "not in canonical form"),  # 5 as uint16: not the shortest form
        (b"\xd9\x01a", "not in canonical form"),  # a 1-byte str with an 8-bit length
        (b"\x81\xa1a\x01", "not a canonical value"),  # a map
        (b"\xcb\x3f\xf0\x00\x00\x00\x00\x00\x00", "not a canonical value"),  # a float
        (b"\xc0", "not a canonical value"),  # nil
        (b"\x01\x02", "not valid msgpack"),  # trailing bytes
        (b"\x92\x01", "not valid msgpack"),  # truncated
        (b"\xd4\x01\x00", r"a msgpack extension \(type 1\) is not a canonical value"),  # fixext 1
        (b"\x92\x01\xc7\x02\x05ab", r"a msgpack extension \(type 5\) is not"),  # ext 8, in an array
    ],
)
def test_non_canonical_input_is_refused(data: bytes, message: str) -> None:
    with pytest.raises(InvalidEncoding, match=message):
        decode(data)


def _reference_check(value: object, depth: int) -> None:
    """The codec's type rules as first written (isinstance all the way down), kept to test the fast one against."""
    if isinstance(value, msgpack.ExtType):
        raise InvalidEncoding(f"a msgpack extension (type {value.code}) is not a canonical value")
    if isinstance(value, bool) or value is None:
        raise InvalidEncoding(f"{value!r} is not a canonical value (only integers, bytes, strings and arrays)")
    if isinstance(value, int):
        if not -(1 << 63) <= value < (1 << 64):
            raise InvalidEncoding(f"integer {value} does not fit in 64 bits")
        return
    if isinstance(value, (bytes, str)):
        return
    if isinstance(value, (list, tuple)):
        if depth >= MAX_DEPTH:
            raise InvalidEncoding(f"arrays nested deeper than {MAX_DEPTH}")
        for item in value:
            _reference_check(item, depth + 1)
        return
    raise InvalidEncoding(
        f"a {type(value).__name__} is not a canonical value (only integers, bytes, strings and arrays)"
    )


class _Bytes(bytes):
    pass


class _List(list):  # type: ignore[type-arg]
    pass


any_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(-(1 << 63) - 2, -(1 << 63) + 1)
    | st.integers((1 << 64) - 2, (1 << 64) + 1)
    | st.floats()
    | st.binary(max_size=4)
    | st.text(max_size=4)
    | st.sampled_from([TxKind.CALL, _Bytes(b"x"), bytearray(b"y"), 1j, msgpack.ExtType(3, b"z")]),
    lambda children: (
        st.lists(children, max_size=4)
        | st.lists(children, max_size=4).map(tuple)
        | st.lists(children, max_size=3).map(_List)
        | st.dictionaries(st.text(max_size=2), children, max_size=2)
    ),
    max_leaves=12,
)


def _nested(value: object, levels: int) -> object:
    for _ in range(levels):
        value = [value, 1]
    return value


@given(any_values, st.integers(0, MAX_DEPTH + 2))
def test_the_fast_type_check_accepts_and_refuses_exactly_as_the_reference(value: object, levels: int) -> None:
    value = _nested(value, levels)
    try:
        _reference_check(value, 0)
    except InvalidEncoding as error:
        with pytest.raises(InvalidEncoding) as found:
            encode(value)
        assert str(found.value) == str(error)
    else:
        assert decode(encode(value)) == _reference_decoded(value)


def _reference_decoded(value: object) -> object:
    """What a canonical value decodes to: arrays as lists, subclasses as their base type."""
    if isinstance(value, (list, tuple)):
        return [_reference_decoded(item) for item in value]
    if isinstance(value, int):
        return int(value)
    return bytes(value) if isinstance(value, bytes) else str(value) if isinstance(value, str) else value


GOOD_RECEIPT = [bytes(32), "ok", 5, b"", [[bytes(20), "Transfer", b"\x80"]], "", b""]


@pytest.mark.parametrize(
    ("index", "value", "message"),
    [
        (0, b"short", "tx_hash must be 32 bytes"),
        (2, "5", "gas_used must be a non-negative integer"),
        (2, -1, "gas_used must be a non-negative integer"),
        (3, "text", "return_data must be bytes"),
        (3, 7, "return_data must be bytes"),
        (4, [[bytes(19), "Transfer", b""]], "event is"),
        (4, [[bytes(20), b"Transfer", b""]], "event is"),
        (4, [[bytes(20), "Transfer", 1]], "event is"),
        (5, b"error", "error must be a string"),
        (6, bytes(5), "contract_address must be empty or 20 bytes"),
    ],
)
def test_a_receipt_of_the_wrong_types_is_refused_at_decode(index: int, value: object, message: str) -> None:
    """A file or a peer may put any canonical value in a receipt's field; replay must refuse it, not crash on it."""
    assert decode_receipts(encode([GOOD_RECEIPT]))[0].gas_used == 5
    bad = list(GOOD_RECEIPT)
    bad[index] = value
    with pytest.raises(InvalidEncoding, match=message):
        decode_receipts(encode([bad]))


@given(st.integers(0, (1 << 128) - 1))
def test_amounts_round_trip_in_one_form(amount: int) -> None:
    assert decode_amount(encode_amount(amount)) == amount


def test_amounts_refuse_leading_zeros_and_overflow() -> None:
    with pytest.raises(InvalidEncoding):
        decode_amount(b"\x00\x01")
    with pytest.raises(InvalidEncoding):
        decode_amount(b"\x01" * 17)
    with pytest.raises(InvalidEncoding):
        encode_amount(1 << 128)


def test_merkle_root_is_rfc6962() -> None:
    import hashlib

    def h(data: bytes) -> bytes:
        return hashlib.sha256(data).digest()

    a, b, c = b"a", b"b", b"c"
    leaf = lambda x: h(b"\x00" + x)  # noqa: E731
    node = lambda left, right: h(b"\x01" + left + right)  # noqa: E731
    assert merkle_root([]) == h(b"")
    assert merkle_root([a]) == leaf(a)
    assert merkle_root([a, b, c]) == node(node(leaf(a), leaf(b)), leaf(c))


# -- transactions ----------------------------------------------------------------------


@pytest.fixture
def chain() -> Chain:
    return Chain.create(MemoryKV(), load_genesis(GENESIS))


def transfer(
    key: KeyPair = DEV0,
    *,
    nonce: int = 0,
    chain_id: str = "wasmchain-devnet",
    amount: int = 5,
    gas: int = 100_000,
    price: int = 1,
) -> Transaction:
    return Transaction(chain_id, nonce, gas, price, key.public_key, TxKind.TRANSFER, to=DEV1.address, value=amount)


def test_a_transaction_has_exactly_one_encoding_and_hash() -> None:
    signed = transfer().sign(DEV0)
    again = SignedTransaction.decode(signed.encoded)
    assert again == signed and again.hash == signed.hash
    # The same content with the nonce written as a uint8 instead of a fixint is refused.
    nonce_at = 3 + 1 + len("wasmchain-devnet")  # array, array, version, str header + chain id
    assert signed.encoded[nonce_at] == 0
    padded = signed.encoded[:nonce_at] + b"\xcc\x00" + signed.encoded[nonce_at + 1 :]
    with pytest.raises(MalformedTransaction, match="not in canonical form"):
        SignedTransaction.decode(padded)


def test_valid_transfer_is_accepted(chain: Chain) -> None:
    assert chain.check_tx(transfer().sign(DEV0)) > 0


def reject(chain: Chain, signed: SignedTransaction, refusal: type[InvalidTransaction], message: str) -> None:
    """``check_tx`` raises exactly ``refusal`` (its own reason, not a parent's) with ``message``; in a
    block the transaction gets an ``invalid`` receipt with that message and changes nothing."""
    root = chain.head.state_root
    with pytest.raises(refusal, match=message) as raised:
        chain.check_tx(signed)
    assert type(raised.value) is refusal and raised.value.reason == refusal.reason
    block, receipts = chain.produce([signed], chain.head.timestamp)
    assert receipts[0].status == "invalid" and re.search(message, receipts[0].error)
    assert block.header.state_root == root  # nothing changed, not even the nonce or a fee


def test_tampered_signature(chain: Chain) -> None:
    signed = transfer().sign(DEV0)
    bad = SignedTransaction(signed.tx, bytes([signed.signature[0] ^ 1]) + signed.signature[1:])
    reject(chain, bad, BadSignature, "bad signature")


def test_a_signature_is_verified_once_per_transaction_object(chain: Chain, monkeypatch: pytest.MonkeyPatch) -> None:
    import wasmchain.protocol.transactions as transactions

    calls = []

    def counting(public_key: bytes, signature: bytes, message: bytes) -> bool:
        calls.append(message)
        return verify(public_key, signature, message)

    verify = transactions.verify_signature
    monkeypatch.setattr(transactions, "verify_signature", counting)
    signed = transfer().sign(DEV0)
    chain.check_tx(signed)
    _, receipts = chain.produce([signed], chain.head.timestamp)  # admission, then execution
    assert receipts[0].ok and len(calls) == 1
    bad = SignedTransaction(signed.tx, bytes([signed.signature[0] ^ 1]) + signed.signature[1:])
    assert not bad.signature_valid() and not bad.signature_valid() and len(calls) == 2
    assert SignedTransaction.decode(signed.encoded).signature_valid() and len(calls) == 3  # a new object checks afresh


def test_signed_by_another_key(chain: Chain) -> None:
    signed = transfer().sign(DEV0)
    forged = SignedTransaction(transfer(DEV1), signed.signature)
    reject(chain, forged, BadSignature, "bad signature")


def test_wrong_chain_id(chain: Chain) -> None:
    reject(chain, transfer(chain_id="other-chain").sign(DEV0), WrongChainId, "wrong chain id")


def test_reused_and_future_nonces(chain: Chain) -> None:
    chain.produce([transfer().sign(DEV0)], chain.head.timestamp)
    reject(chain, transfer(nonce=0).sign(DEV0), NonceTooLow, "nonce 0 was already used")
    reject(chain, transfer(nonce=5).sign(DEV0), NonceTooHigh, "nonce 5 is ahead")


def test_unaffordable_value_plus_fee(chain: Chain) -> None:
    poor = KeyPair(bytes(range(32)))
    reject(chain, transfer(poor).sign(poor), InsufficientFunds, "balance 0 is below value plus maximum fee")
    reject(chain, transfer(amount=10**22).sign(DEV0), InsufficientFunds, "below value plus maximum fee")


def test_gas_limits(chain: Chain) -> None:
    reject(
        chain,
        transfer(gas=chain.genesis.chain.block_gas_limit + 1).sign(DEV0),
        GasLimitTooHigh,
        "above the block gas limit",
    )
    reject(chain, transfer(gas=10).sign(DEV0), IntrinsicGasTooLow, "below the intrinsic cost")
    reject(chain, transfer(price=0).sign(DEV0), GasPriceTooLow, "gas price 0 is below the minimum 1")


def test_oversized_transaction(tmp_path: Path) -> None:
    document = json.loads(GENESIS.read_text())
    document["chain"]["max_tx_size"] = 2000
    small = Chain.create(MemoryKV(), genesis_from_document(document))
    deploy = Transaction("wasmchain-devnet", 0, 10**8, 1, DEV0.public_key, TxKind.DEPLOY, code=TOKEN_CODE)
    reject(small, deploy.sign(DEV0), TransactionTooLarge, "over max_tx_size")


def test_unknown_contract_method_and_bad_module(chain: Chain) -> None:
    nowhere = Transaction(
        "wasmchain-devnet", 0, 10**7, 1, DEV0.public_key, TxKind.CALL, to=bytes(20), method="get", args=b"\x80"
    )
    reject(chain, nowhere.sign(DEV0), UnknownContract, "no contract at 0x0000")
    _, receipts = chain.produce(
        [Transaction("wasmchain-devnet", 0, 10**8, 1, DEV0.public_key, TxKind.DEPLOY, code=TOKEN_CODE).sign(DEV0)],
        chain.head.timestamp,
    )
    token = receipts[0].contract_address
    no_method = Transaction(
        "wasmchain-devnet", 1, 10**7, 1, DEV0.public_key, TxKind.CALL, to=token, method="mint", args=b"\x80"
    )
    reject(chain, no_method.sign(DEV0), UnknownMethod, 'has no method "mint"')
    bad_module = Transaction(
        "wasmchain-devnet", 1, 10**8, 1, DEV0.public_key, TxKind.DEPLOY, code=b"\0asm\x01\0\0\0\x05"
    )
    reject(chain, bad_module.sign(DEV0), InvalidDeployModule, "invalid module: malformed")
    max_input = chain.genesis.vm.limits.max_input_size
    too_big = Transaction(
        "wasmchain-devnet",
        1,
        10**8,
        1,
        DEV0.public_key,
        TxKind.CALL,
        to=token,
        method="get",
        args=msgpack.packb(b"x" * max_input),  # the header makes it max_input + 5 bytes
    )
    reject(chain, too_big.sign(DEV0), ArgsTooLarge, f"args of {max_input + 5} bytes are over max_input_size")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"args": b"\xc1"}, "args do not decode as msgpack"),
        ({"method": ""}, "a call needs a method"),
        ({"to": b"\x01" * 5}, "20-byte contract address"),
        ({"code": b"\0asm"}, "a call has no code"),
    ],
)
def test_malformed_transactions_are_refused_at_decoding(fields: dict[str, object], message: str) -> None:
    base = dict(
        chain_id="wasmchain-devnet",
        nonce=0,
        gas_limit=10**6,
        gas_price=1,
        public_key=DEV0.public_key,
        kind=TxKind.CALL,
        to=b"\x01" * 20,
        method="get",
        args=b"\x80",
    )
    tx = Transaction(**{**base, **fields})  # type: ignore[arg-type]
    encoded = encode([tx.fields(), DEV0.sign(tx.signing_bytes())])
    with pytest.raises(MalformedTransaction, match=message):
        SignedTransaction.decode(encoded)


def test_garbage_bytes_are_refused_with_a_message() -> None:
    for garbage in (b"", b"\x00", b"\x92\x01\x02", b"\xff" * 10, encode([[1, 2, 3], b"x"])):
        with pytest.raises(MalformedTransaction):
            SignedTransaction.decode(garbage)


def test_args_with_an_unhashable_map_key_are_refused_not_a_crash() -> None:
    tx = Transaction(
        "wasmchain-devnet",
        0,
        10**6,
        1,
        DEV0.public_key,
        TxKind.CALL,
        to=b"\x01" * 20,
        method="get",
        args=b"\x81\x90\x00",
    )
    with pytest.raises(MalformedTransaction, match="args do not decode as msgpack"):
        SignedTransaction.decode(encode([tx.fields(), DEV0.sign(tx.signing_bytes())]))


def test_a_deploy_is_checked_for_nonce_and_funds_before_its_module_is_examined(chain: Chain) -> None:
    poor = KeyPair(bytes(range(32)))
    junk = Transaction("wasmchain-devnet", 0, 10**8, 1, poor.public_key, TxKind.DEPLOY, code=b"\0asm\x01\0\0\0\x05")
    with pytest.raises(InsufficientFunds, match="balance 0 is below"):
        chain.check_tx(junk.sign(poor))
    cheap = Transaction("wasmchain-devnet", 0, 60_000, 1, DEV0.public_key, TxKind.DEPLOY, code=TOKEN_CODE)
    with pytest.raises(IntrinsicGasTooLow, match="below the intrinsic cost"):
        chain.check_tx(cheap.sign(DEV0))
    assert len(chain.runtime._prepared) == 0  # neither module was examined


def test_an_init_method_the_module_lacks_and_an_occupied_address(chain: Chain) -> None:
    no_init = Transaction(
        "wasmchain-devnet", 0, 10**8, 1, DEV0.public_key, TxKind.DEPLOY, code=TOKEN_CODE, method="no_such_init"
    )
    reject(chain, no_init.sign(DEV0), UnknownMethod, 'no init method "no_such_init"')
    _, receipts = chain.produce(
        [Transaction("wasmchain-devnet", 0, 10**8, 1, DEV0.public_key, TxKind.DEPLOY, code=TOKEN_CODE).sign(DEV0)],
        chain.head.timestamp,
    )
    assert receipts[0].ok
    # Another sender's deploy cannot land on DEV0's nonce-0 address; only a block can fill an address
    # ahead of time, so the state is edited here as a balance override could never do.
    state = chain.state()
    occupied = receipts[0].contract_address
    from_dev1 = Transaction("wasmchain-devnet", 0, 10**8, 1, DEV1.public_key, TxKind.DEPLOY, code=TOKEN_CODE)
    context = chain.context(chain.head.height + 1, chain.head.timestamp)
    target = contract_address(DEV1.address, 0)
    state.set_account(target, state.account(occupied))
    with pytest.raises(ContractExists, match="a contract already exists at") as raised:
        validate_transaction(state, from_dev1.sign(DEV1), context, chain.genesis.chain.block_gas_limit)
    assert type(raised.value) is ContractExists and raised.value.reason == "contract_exists"


def test_a_gas_limit_above_the_gas_left_in_the_block(chain: Chain) -> None:
    context = chain.context(chain.head.height + 1, chain.head.timestamp)
    with pytest.raises(BlockGasExceeded, match=r"gas limit 100000 is above the gas left in this block \(99999\)"):
        validate_transaction(chain.state(), transfer().sign(DEV0), context, 99_999)


def test_signing_with_another_key_is_refused() -> None:
    with pytest.raises(WrongSigningKey, match="signing key does not match") as raised:
        transfer().sign(DEV1)
    assert raised.value.reason == "wrong_signing_key"


def test_a_simulation_types_its_nonce_refusal_by_direction(chain: Chain) -> None:
    chain.produce([transfer().sign(DEV0)], chain.head.timestamp)
    state, context = chain.state(), chain.context(chain.head.height + 1, chain.head.timestamp)
    for nonce, refusal in ((0, NonceTooLow), (5, NonceTooHigh)):
        with pytest.raises(refusal, match=f"nonce {nonce} is not the account's next nonce 1"):
            validate_unsigned(state, transfer(nonce=nonce).sign(DEV0), context)
        receipt = chain.simulate(transfer(nonce=nonce).sign(DEV0), chain.head.timestamp)
        assert receipt.status == "invalid" and receipt.error == f"nonce {nonce} is not the account's next nonce 1"


REASONS = {
    InvalidTransaction: "invalid_transaction",
    MalformedTransaction: "malformed_transaction",
    WrongSigningKey: "wrong_signing_key",
    TransactionTooLarge: "transaction_too_large",
    WrongChainId: "wrong_chain_id",
    BadSignature: "bad_signature",
    GasPriceTooLow: "gas_price_too_low",
    GasLimitTooHigh: "gas_limit_too_high",
    BlockGasExceeded: "block_gas_exceeded",
    IntrinsicGasTooLow: "intrinsic_gas_too_low",
    NonceTooLow: "nonce_too_low",
    NonceTooHigh: "nonce_too_high",
    InsufficientFunds: "insufficient_funds",
    ArgsTooLarge: "args_too_large",
    InvalidDeployModule: "invalid_module",
    UnknownContract: "unknown_contract",
    UnknownMethod: "unknown_method",
    ContractExists: "contract_exists",
}


@pytest.mark.parametrize(("refusal", "reason"), REASONS.items(), ids=[cls.__name__ for cls in REASONS])
def test_each_refusal_has_its_own_stable_reason(refusal: type[InvalidTransaction], reason: str) -> None:
    assert issubclass(refusal, InvalidTransaction) and refusal.reason == reason
    assert refusal is InvalidTransaction or refusal.reason != InvalidTransaction.reason


def test_every_refusal_class_is_listed_with_its_reason() -> None:
    """A new refusal in protocol/errors.py must get a reason of its own (and a line in ``REASONS``)."""
    defined = {
        value for value in vars(errors).values() if isinstance(value, type) and issubclass(value, InvalidTransaction)
    }
    assert defined == set(REASONS)
    assert len(set(REASONS.values())) == len(REASONS)
