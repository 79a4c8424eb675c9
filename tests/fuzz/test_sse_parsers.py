"""Fuzzing the server-side encryption parsers: the SSE request headers (SSE-S3, SSE-KMS with its
context, SSE-C and its copy-source form) and the ServerSideEncryptionConfiguration document.

Property: an `Encryption` (or None), a rule, or an S3Error; never another exception. A key that
parses is always 32 bytes whose MD5 the request carried.
"""

from __future__ import annotations

import base64
import hashlib
import os
from xml.sax.saxutils import escape

from hypothesis import given
from hypothesis import strategies as st

from stackbox.s3 import sse, xml
from stackbox.s3.bucket_encryption import parse_rule
from stackbox.s3.errors import S3Error

from .strategies import latin1_text

_KEY = os.urandom(32)
_VALUES = st.one_of(
    latin1_text(60),
    st.sampled_from(["AES256", "aws:kms", "aws:kms:dsse", "true", "false", "", "alias/x",
                     base64.b64encode(_KEY).decode(), base64.b64encode(hashlib.md5(_KEY).digest()).decode(),
                     base64.b64encode(b'{"a":"b"}').decode(), base64.b64encode(b'{"a":1}').decode(),
                     base64.b64encode(b"[]").decode(), "====", base64.b64encode(os.urandom(31)).decode()]))
_CUSTOMER_HEADERS = [f"{prefix}{name}" for prefix in (sse.CUSTOMER, sse.COPY_SOURCE_CUSTOMER)
                     for name in ("algorithm", "key", "key-md5")]
_NAMES = st.sampled_from([sse.SSE, sse.KMS_KEY_ID, sse.CONTEXT, sse.BUCKET_KEY, *_CUSTOMER_HEADERS])


@given(st.dictionaries(_NAMES, _VALUES, max_size=6))
def test_encryption_headers(headers: dict[str, str]) -> None:
    try:
        requested = sse.encryption_of_headers(headers)
        source_key = sse.customer_key(headers, sse.COPY_SOURCE_CUSTOMER)
    except S3Error as error:
        assert error.code == "InvalidArgument" and error.status == 400
        return
    for secret, prefix in ((requested.customer_key if requested else None, sse.CUSTOMER),
                           (source_key, sse.COPY_SOURCE_CUSTOMER)):
        if secret is not None:
            assert len(secret) == 32
            assert headers[f"{prefix}key-md5"] == base64.b64encode(hashlib.md5(secret).digest()).decode()
    if requested is not None and requested.mode == "aws:kms" and requested.context is not None:
        assert requested.context == headers[sse.CONTEXT]


_LEAVES = st.tuples(st.sampled_from(["SSEAlgorithm", "KMSMasterKeyID", "BucketKeyEnabled", "Other"]),
                    _VALUES).map(lambda pair: f"<{pair[0]}>{escape(pair[1])}</{pair[0]}>")


def _documents() -> st.SearchStrategy[bytes]:
    tag = "ApplyServerSideEncryptionByDefault"
    by_default = st.lists(_LEAVES, max_size=4).map(lambda leaves: f"<{tag}>{''.join(leaves)}</{tag}>")
    rule = st.lists(st.one_of(by_default, _LEAVES), max_size=3).map(
        lambda parts: f"<Rule>{''.join(parts)}</Rule>")
    return st.lists(rule, max_size=3).map(
        lambda rules: ("<ServerSideEncryptionConfiguration>" + "".join(rules)
                       + "</ServerSideEncryptionConfiguration>").encode())


@given(st.one_of(_documents(), st.binary(max_size=120)))
def test_bucket_encryption_document(body: bytes) -> None:
    try:
        rule = parse_rule(xml.parse(body, "ServerSideEncryptionConfiguration"))
    except S3Error as error:
        assert error.code in ("MalformedXML", "InvalidArgument")
        return
    assert rule["algorithm"] in sse.MODES
    assert rule["kms_key_id"] is None or rule["algorithm"] == "aws:kms"
