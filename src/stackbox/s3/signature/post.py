"""Who signed a browser-upload form (S3 POST object): the `policy` field signed with SigV4
(`x-amz-algorithm`, `x-amz-credential`, `x-amz-date`, `x-amz-signature`: HMAC-SHA256 under the day's
derived key) or SigV2 (`AWSAccessKeyId`, `signature`: base64 HMAC-SHA1 under the secret). A form with
no credential fields at all is anonymous.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping

from stackbox.auth import Ec2Secret
from stackbox.s3.errors import S3Error
from stackbox.s3.signature.canonical import ALGORITHM_V4, parse_amz_date
from stackbox.s3.signature.header import check_v4_scope, parse_credential
from stackbox.s3.signature.keys import sign, signing_key
from stackbox.s3.signature.secrets import SecretLookup, known_secret

_V4_FIELDS = ("x-amz-algorithm", "x-amz-credential", "x-amz-date", "x-amz-signature")


def missing_field(name: str) -> S3Error:
    return S3Error("InvalidArgument", f"Bucket POST must contain a field named '{name}'.  If it is "
                   "specified, please check the order of the fields.", ArgumentName=name, ArgumentValue="")


def form_signer(fields: Mapping[str, str], lookup: SecretLookup, *, region: str) -> Ec2Secret | None:
    """The credential whose secret signed the form's policy; None for an anonymous form (no
    credential, no policy). Raises S3's error for a form that is signed wrongly or not completely."""
    if any(name in fields for name in _V4_FIELDS):
        return _v4_signer(fields, lookup, region)
    if "awsaccesskeyid" in fields:
        return _v2_signer(fields, lookup)
    if "policy" in fields or "signature" in fields:
        raise missing_field("AWSAccessKeyId")
    return None


def _required(fields: Mapping[str, str], name: str) -> str:
    value = fields.get(name)
    if not value:
        raise missing_field(name)
    return value


def _v4_signer(fields: Mapping[str, str], lookup: SecretLookup, region: str) -> Ec2Secret:
    algorithm = _required(fields, "x-amz-algorithm")
    if algorithm != ALGORITHM_V4:
        raise S3Error("InvalidArgument", "Only AWS4-HMAC-SHA256 is supported", ArgumentName="X-Amz-Algorithm",
                      ArgumentValue=algorithm)
    credential = parse_credential(_required(fields, "x-amz-credential"), error_code="InvalidArgument",
                                  prefix="")
    amz_date = _required(fields, "x-amz-date")
    if parse_amz_date(amz_date) is None:
        raise S3Error("InvalidArgument", "X-Amz-Date must be in the ISO8601 Long Format "
                      "\"yyyyMMdd'T'HHmmss'Z'\"", ArgumentName="x-amz-date", ArgumentValue=amz_date)
    check_v4_scope(credential, region=region, amz_date=amz_date)
    policy = _required(fields, "policy")
    given = _required(fields, "x-amz-signature")
    secret = known_secret(lookup, credential.access_key)
    key = signing_key(secret.secret, credential.date, credential.region, credential.service)
    if not hmac.compare_digest(sign(key, policy).encode(), given.encode("utf-8", "replace")):
        raise _mismatch(secret.access, policy, given)
    return secret


def _v2_signer(fields: Mapping[str, str], lookup: SecretLookup) -> Ec2Secret:
    access_key = _required(fields, "awsaccesskeyid")
    policy = _required(fields, "policy")
    given = _required(fields, "signature")
    secret = known_secret(lookup, access_key)
    digest = hmac.new(secret.secret.encode("utf-8"), policy.encode("utf-8"), hashlib.sha1).digest()
    if not hmac.compare_digest(base64.b64encode(digest), given.encode("utf-8", "replace")):
        raise _mismatch(access_key, policy, given)
    return secret


def _mismatch(access_key: str, policy: str, given: str) -> S3Error:
    return S3Error("SignatureDoesNotMatch", AWSAccessKeyId=access_key, StringToSign=policy,
                   SignatureProvided=given)
