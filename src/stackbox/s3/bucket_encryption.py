"""Bucket default encryption: Put/Get/DeleteBucketEncryption (`?encryption`).

The rule lives in the bucket's container metadata (`sse.BUCKET_DEFAULT_META`); PutObject, CopyObject
and CreateMultipartUpload without encryption headers take it (`sse.requested_encryption`). As in
S3, a KMS key named here is checked when it is used, not when the rule is set.
"""

from __future__ import annotations

from xml.etree.ElementTree import Element

import orjson

from stackbox.http import Response
from stackbox.s3 import xml
from stackbox.s3.call import S3Call
from stackbox.s3.errors import S3Error
from stackbox.s3.sse import BUCKET_DEFAULT_META, MODES

_DEFAULT = "ApplyServerSideEncryptionByDefault"


async def put_bucket_encryption(call: S3Call) -> Response:
    rule = parse_rule(await call.read_document("ServerSideEncryptionConfiguration"))
    await call.storage.update_container_meta(call.account, call.bucket,
                                             {BUCKET_DEFAULT_META: orjson.dumps(rule).decode()})
    return Response(b"", 200)


def parse_rule(root: Element) -> dict[str, object]:
    """The one rule of a ServerSideEncryptionConfiguration; MalformedXML or InvalidArgument as S3."""
    rules = root.findall("Rule")
    if len(rules) != 1:
        raise S3Error("MalformedXML")
    by_default = rules[0].find(_DEFAULT)
    if by_default is None:
        raise S3Error("MalformedXML")
    algorithm = xml.required_text(by_default, "SSEAlgorithm").strip()
    if algorithm not in MODES:
        raise S3Error("MalformedXML")
    key_id = (xml.child_text(by_default, "KMSMasterKeyID") or "").strip() or None
    if key_id is not None and algorithm != "aws:kms":
        raise S3Error("InvalidArgument", "a KMSMasterKeyID is not applicable if the default sse algorithm is "
                      "not aws:kms or aws:kms:dsse", ArgumentName="ApplyServerSideEncryptionByDefault")
    bucket_key = (xml.child_text(rules[0], "BucketKeyEnabled") or "false").strip().lower()
    if bucket_key not in ("true", "false"):
        raise S3Error("MalformedXML")
    return {"algorithm": algorithm, "kms_key_id": key_id, "bucket_key": bucket_key == "true"}


async def get_bucket_encryption(call: S3Call) -> Response:
    raw = (await call.storage.get_container(call.account, call.bucket)).meta.get(BUCKET_DEFAULT_META)
    if raw is None:
        raise S3Error("ServerSideEncryptionConfigurationNotFoundError", BucketName=call.bucket)
    rule = orjson.loads(raw)
    by_default = xml.element("SSEAlgorithm", rule["algorithm"]) + xml.optional("KMSMasterKeyID",
                                                                                rule["kms_key_id"])
    children = [f"<Rule><{_DEFAULT}>{by_default}</{_DEFAULT}>"
                + xml.element("BucketKeyEnabled", bool(rule["bucket_key"])) + "</Rule>"]
    return xml.xml_response("ServerSideEncryptionConfiguration", children)


async def delete_bucket_encryption(call: S3Call) -> Response:
    await call.storage.update_container_meta(call.account, call.bucket, {}, remove=[BUCKET_DEFAULT_META])
    return Response(b"", 204)
