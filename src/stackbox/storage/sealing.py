"""Object data encrypted at rest: blobs of independently decryptable, authenticated chunks.

An encrypted object has a random 256-bit data key, stored only wrapped (see `keys.py`): by a key of
the key service (SSE-S3, SSE-KMS) or by the customer's key (SSE-C). Each blob of the object gets its
own key, derived from the data key and a random salt kept in the blob's header (HKDF-SHA256), so a
data key shared by several blobs (multipart parts, copies) never meets a nonce twice.

    blob  = MAGIC (4 bytes) + salt (16 bytes) + chunk 0 + chunk 1 + ... + chunk n
    chunk = AES-256-GCM(blob key, nonce = chunk index, aad = index + final flag)(<= CHUNK plaintext bytes)

Every chunk but the last holds exactly CHUNK plaintext bytes, so a byte range maps to the chunks it
touches and a ranged read decrypts only those. The index in the nonce and the AAD keeps chunks from
being reordered; the final flag (the last chunk is known from the file size) keeps a blob from being
truncated at a chunk boundary; any other change fails the chunk's tag: a read then raises
`DataCorrupted`, never returns altered bytes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import os
import struct
from collections.abc import Iterator

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from stackbox.storage.blob_backend import BlobBackend
from stackbox.storage.keys import KeyService
from stackbox.storage.types import (
    CustomerKeyNotApplicable,
    CustomerKeyRequired,
    DataCorrupted,
    Encryption,
    Sealing,
    WrongCustomerKey,
)

MAGIC = b"SBE1"
SALT_BYTES = 16
HEADER_BYTES = len(MAGIC) + SALT_BYTES
TAG_BYTES = 16
#: Plaintext bytes per chunk (bench/storage_engine.py --sse: 64 KiB chunks run within a few percent
#: of 1 MiB ones on large objects, and a small range decrypts at most 2 x 64 KiB).
CHUNK = 64 * 1024
SEALED_CHUNK = CHUNK + TAG_BYTES
#: Chunks read and decrypted per pread (1 MiB of plaintext, as plaintext blobs are read).
READ_BATCH = 16
DATA_KEY_BYTES = 32


def new_data_key() -> bytes:
    return os.urandom(DATA_KEY_BYTES)


def _blob_cipher(data_key: bytes, salt: bytes) -> AESGCM:
    derived = HKDF(hashes.SHA256(), 32, salt=salt, info=b"stackbox blob key").derive(data_key)
    return AESGCM(derived)


def _nonce(index: int) -> bytes:
    return index.to_bytes(12, "big")


def _aad(index: int, final: bool) -> bytes:
    return struct.pack(">QB", index, final)


def sealed_size(plain: int) -> int:
    """The size of the blob that holds `plain` bytes."""
    chunks = max(1, -(-plain // CHUNK))
    return HEADER_BYTES + plain + chunks * TAG_BYTES


def plain_size(sealed: int) -> int:
    """The plaintext bytes a blob of `sealed` bytes holds (DataCorrupted if no blob has that size)."""
    body = sealed - HEADER_BYTES
    full, rest = divmod(body, SEALED_CHUNK)
    if body < TAG_BYTES or (rest and rest < TAG_BYTES):
        raise DataCorrupted(f"an encrypted blob cannot be {sealed} bytes long")
    if rest == 0:
        return full * CHUNK
    return full * CHUNK + rest - TAG_BYTES


class Encryptor:
    """Turns a stream of plaintext pieces into a sealed blob's bytes (header first). Not thread-safe:
    one writer thread feeds it, in order."""

    __slots__ = ("_aead", "_header", "_index", "_pending")

    def __init__(self, data_key: bytes) -> None:
        salt = os.urandom(SALT_BYTES)
        self._aead = _blob_cipher(data_key, salt)
        self._header: bytes | None = MAGIC + salt
        self._index = 0
        self._pending = b""

    def feed(self, pieces: list[bytes]) -> list[bytes]:
        """Sealed bytes for `pieces`; a full chunk is held back until more data (or `finish`) shows
        whether it is the last one."""
        out = self._take_header()
        buffer = b"".join([self._pending, *pieces])
        keep = len(buffer) % CHUNK or min(CHUNK, len(buffer))
        view = memoryview(buffer)
        for start in range(0, len(buffer) - keep, CHUNK):
            out.append(self._seal(view[start:start + CHUNK], final=False))
        self._pending = buffer[len(buffer) - keep:]
        return out

    def finish(self) -> list[bytes]:
        """The rest: the final chunk (an empty one for an empty body)."""
        out = self._take_header()
        out.append(self._seal(self._pending, final=True))
        self._pending = b""
        return out

    def _take_header(self) -> list[bytes]:
        header, self._header = self._header, None
        return [header] if header is not None else []

    def _seal(self, chunk: bytes | memoryview, *, final: bool) -> bytes:
        sealed = self._aead.encrypt(_nonce(self._index), chunk, _aad(self._index, final))
        self._index += 1
        return sealed


def read_plain(blobs: BlobBackend, blob_id: str, offset: int, length: int,
               data_key: bytes) -> Iterator[bytes]:
    """Plaintext bytes [offset, offset + length) of the sealed blob `blob_id`, decrypting only the
    chunks they touch. Raises DataUnavailable if the blob is gone, DataCorrupted if it was altered."""
    stored = blobs.size(blob_id)
    total = plain_size(stored)
    if offset + length > total:
        raise DataCorrupted(f"{blob_id} holds {total} bytes, not {offset + length}")
    if length <= 0:
        return
    first, stop = offset // CHUNK, (offset + length - 1) // CHUNK + 1
    end = min(HEADER_BYTES + stop * SEALED_CHUNK, stored)
    if first == 0:  # the header comes with the first chunks (one read instead of two)
        raw = blobs.read(blob_id, 0, end, HEADER_BYTES + READ_BATCH * SEALED_CHUNK)
        header, rest = _read_header(raw, blob_id)
    else:
        header, _ = _read_header(blobs.read(blob_id, 0, HEADER_BYTES), blob_id)
        start = HEADER_BYTES + first * SEALED_CHUNK
        raw, rest = blobs.read(blob_id, start, end - start, READ_BATCH * SEALED_CHUNK), memoryview(b"")
    aead = _blob_cipher(data_key, header[len(MAGIC):])
    last_index = max(0, -(-total // CHUNK) - 1)
    runs = _whole_chunks(itertools.chain((rest,), raw), end - (HEADER_BYTES + first * SEALED_CHUNK))
    skip, remaining = offset - first * CHUNK, length
    for data in _decrypt_batches(runs, aead, first, last_index):
        if skip:
            del data[:skip]
            skip = 0
        del data[remaining:]
        remaining -= len(data)
        yield bytes(data)


def _read_header(source: Iterator[bytes], blob_id: str) -> tuple[bytes, memoryview]:
    """A blob's header, read from `source` (a read from the blob's start); and what came with it."""
    got = b""
    while len(got) < HEADER_BYTES:
        piece = next(source, b"")
        if not piece:
            break
        got = got + piece if got else piece
    if len(got) < HEADER_BYTES or got[:len(MAGIC)] != MAGIC:
        raise DataCorrupted(f"{blob_id} is not an encrypted blob")
    return got[:HEADER_BYTES], memoryview(got)[HEADER_BYTES:]


def _whole_chunks(pieces: Iterator[bytes | memoryview], expected: int) -> Iterator[memoryview]:
    """The `expected` bytes of `pieces` regrouped into runs of whole sealed chunks (the last run may
    end with the blob's final, partial chunk). Pieces that are such runs already (the file backend
    reads whole batches) pass without a copy."""
    pending = bytearray()
    seen = 0
    for piece in pieces:
        seen += len(piece)
        if not pending and (len(piece) % SEALED_CHUNK == 0 or seen == expected):
            if piece:
                yield memoryview(piece)
            continue
        pending += piece
        whole = len(pending) if seen == expected else len(pending) - len(pending) % SEALED_CHUNK
        if whole:
            yield memoryview(bytes(pending[:whole]))
            del pending[:whole]
    if pending:
        yield memoryview(bytes(pending))


def _decrypt_batches(runs: Iterator[memoryview], aead: AESGCM, index: int,
                     last_index: int) -> Iterator[bytearray]:
    """Each run of sealed chunks (the first being chunk `index`) decrypted in place into one buffer
    (no bytes per chunk, no join of them)."""
    for raw in runs:
        count = -(-len(raw) // SEALED_CHUNK)
        data = bytearray(max(0, len(raw) - count * TAG_BYTES))
        out = memoryview(data)
        for position in range(count):
            sealed = raw[position * SEALED_CHUNK:(position + 1) * SEALED_CHUNK]
            plain_at = position * CHUNK
            if len(sealed) < TAG_BYTES:
                raise DataCorrupted(f"chunk {index} is cut short")
            try:
                aead.decrypt_into(_nonce(index), sealed, _aad(index, index == last_index),
                                  out[plain_at:plain_at + len(sealed) - TAG_BYTES])
            except InvalidTag:
                raise DataCorrupted(f"chunk {index} failed authentication") from None
            index += 1
        out.release()
        yield data


# ------------------------------------------------------------------------------ data keys


def seal(keys: KeyService, encryption: Encryption, data_key: bytes | None = None) -> tuple[Sealing, bytes]:
    """A sealing for `encryption` of a new data key (or of `data_key`: a copy's rewrapped key)."""
    data_key = data_key or new_data_key()
    if encryption.mode == "SSE-C":
        assert encryption.customer_key is not None
        wrapped, proof = customer_wrap(encryption.customer_key, data_key)
        return Sealing("SSE-C", None, wrapped, key_proof=proof), data_key
    record = keys.resolve(encryption.kms_key_id if encryption.mode == "aws:kms" else None)
    context = encryption.context if encryption.mode == "aws:kms" else None
    wrapped = keys.wrap(record, data_key, (context or "").encode())
    bucket_key = encryption.bucket_key and encryption.mode == "aws:kms"
    return Sealing(encryption.mode, record.key_id, wrapped, context, bucket_key), data_key


def data_key_of(keys: KeyService, sealing: Sealing, customer_key: bytes | None) -> bytes:
    """The data key a sealing wraps. CustomerKeyRequired / WrongCustomerKey (SSE-C),
    CustomerKeyNotApplicable (a customer key for data sealed otherwise), KeyNotFound, KeyDisabled."""
    if sealing.mode == "SSE-C":
        return customer_unwrap(sealing, customer_key)
    refuse_stray_customer_key(sealing, customer_key)
    assert sealing.key_id is not None
    return keys.unwrap(sealing.key_id, sealing.wrapped_key, (sealing.context or "").encode())


def check_customer_key(sealing: Sealing | None, customer_key: bytes | None) -> None:
    """What a HEAD checks without unwrapping anything: an SSE-C object's key, no stray key."""
    refuse_stray_customer_key(sealing, customer_key)
    if sealing is not None and sealing.mode == "SSE-C":
        if customer_key is None:
            raise CustomerKeyRequired("the object is encrypted with a customer-provided key")
        if not customer_key_matches(sealing, customer_key):
            raise WrongCustomerKey("the customer-provided key does not match")


# ------------------------------------------------------------------------------ customer keys (SSE-C)

_PROOF_SALT = 16


def customer_wrap(customer_key: bytes, data_key: bytes) -> tuple[bytes, bytes]:
    """(wrapped data key, key proof) for SSE-C: the data key is sealed with a key derived from the
    customer's key; the proof is a salted HMAC that recognises the customer's key later."""
    salt = os.urandom(_PROOF_SALT)
    proof = salt + hmac.digest(salt, customer_key, hashlib.sha256)
    nonce = os.urandom(12)
    wrapped = nonce + AESGCM(_customer_kek(customer_key)).encrypt(nonce, data_key, b"sse-c")
    return wrapped, proof


def customer_unwrap(sealing: Sealing, customer_key: bytes | None) -> bytes:
    if customer_key is None:
        raise CustomerKeyRequired("the object is encrypted with a customer-provided key")
    proof = sealing.key_proof or b""
    salt = proof[:_PROOF_SALT]
    if not hmac.compare_digest(proof[_PROOF_SALT:], hmac.digest(salt, customer_key, hashlib.sha256)):
        raise WrongCustomerKey("the customer-provided key does not match")
    wrapped = sealing.wrapped_key
    try:
        return AESGCM(_customer_kek(customer_key)).decrypt(wrapped[:12], wrapped[12:], b"sse-c")
    except InvalidTag:
        raise DataCorrupted("the wrapped data key failed authentication") from None


def customer_key_matches(sealing: Sealing, customer_key: bytes) -> bool:
    proof = sealing.key_proof or b""
    return hmac.compare_digest(proof[_PROOF_SALT:], hmac.digest(proof[:_PROOF_SALT], customer_key,
                                                                 hashlib.sha256))


def refuse_stray_customer_key(sealing: Sealing | None, customer_key: bytes | None) -> None:
    if customer_key is not None and (sealing is None or sealing.mode != "SSE-C"):
        raise CustomerKeyNotApplicable("the object is not encrypted with a customer-provided key")


def _customer_kek(customer_key: bytes) -> bytes:
    return HKDF(hashes.SHA256(), 32, salt=None, info=b"stackbox sse-c kek").derive(customer_key)


def encode_sealing(sealing: Sealing) -> list[object]:
    return [sealing.mode, sealing.key_id, base64.b64encode(sealing.wrapped_key).decode("ascii"),
            sealing.context, sealing.bucket_key,
            None if sealing.key_proof is None else base64.b64encode(sealing.key_proof).decode("ascii")]


def decode_sealing(raw: list[object] | None) -> Sealing | None:
    if raw is None:
        return None
    mode, key_id, wrapped, context, bucket_key, proof = raw
    return Sealing(mode, key_id, base64.b64decode(str(wrapped)), context,  # type: ignore[arg-type]
                   bool(bucket_key), None if proof is None else base64.b64decode(str(proof)))
