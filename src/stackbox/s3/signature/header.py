"""The `Authorization` header: SigV4 (`AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`)
and SigV2 (`AWS AccessKey:Signature`), parsed into what the verifier needs, with S3's errors."""

from __future__ import annotations

from dataclasses import dataclass

from stackbox.s3.errors import S3Error
from stackbox.s3.signature.canonical import ALGORITHM_V4

SERVICE = "s3"
TERMINAL = "aws4_request"
_HEADER_PREFIX = "The authorization header is malformed; "


@dataclass(frozen=True, slots=True)
class Credential:
    """`AKID/YYYYMMDD/REGION/SERVICE/aws4_request`, split."""

    access_key: str
    date: str
    region: str
    service: str
    terminal: str

    @property
    def scope(self) -> str:
        return f"{self.date}/{self.region}/{self.service}/{self.terminal}"

    def check(self, *, region: str, amz_date: str, error_code: str, prefix: str) -> None:
        """S3's complaints about a scope that cannot be ours, most specific first."""
        if self.date != amz_date[:8]:
            raise S3Error(error_code, prefix + "Invalid credential date. Date is not the same as X-Amz-Date.")
        if self.region != region:
            raise S3Error(error_code, f"{prefix}the region '{self.region}' is wrong; expecting '{region}'",
                          Region=region)
        if self.service != SERVICE:
            raise S3Error(error_code, f"{prefix}incorrect service '{self.service}'. "
                                      f"This endpoint belongs to '{SERVICE}'.")
        if self.terminal != TERMINAL:
            raise S3Error(error_code,
                          f"{prefix}incorrect terminal '{self.terminal}'. This endpoint uses '{TERMINAL}'.")


@dataclass(frozen=True, slots=True)
class V4Authorization:
    credential: Credential
    signed_headers: tuple[str, ...]
    signature: str


@dataclass(frozen=True, slots=True)
class V2Authorization:
    access_key: str
    signature: str


def parse_credential(text: str, *, error_code: str, prefix: str) -> Credential:
    parts = text.split("/")
    if len(parts) != 5 or not all(parts):
        raise S3Error(error_code, prefix + 'the Credential is mal-formed; expecting '
                      '"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".')
    return Credential(*parts)


def parse_signed_headers(text: str) -> tuple[str, ...]:
    return tuple(name.strip().lower() for name in text.split(";") if name.strip())


def unsupported_authorization(value: str) -> S3Error:
    return S3Error("InvalidArgument", "Unsupported Authorization Type", ArgumentName="Authorization",
                   ArgumentValue=value)


def parse_v4_authorization(value: str) -> V4Authorization:
    """The three components of a SigV4 `Authorization` header."""
    algorithm, _, rest = value.partition(" ")
    if algorithm != ALGORITHM_V4:
        raise unsupported_authorization(value)
    components: dict[str, str] = {}
    for item in rest.split(","):
        name, equals, component = item.strip().partition("=")
        if equals:
            components[name] = component.strip()
    try:
        credential_text = components["Credential"]
        signed_text = components["SignedHeaders"]
        signature = components["Signature"]
    except KeyError:
        raise S3Error("AuthorizationHeaderMalformed", _HEADER_PREFIX + "the authorization header requires "
                      "three components: Credential, SignedHeaders, and Signature.") from None
    credential = parse_credential(credential_text, error_code="AuthorizationHeaderMalformed",
                                  prefix=_HEADER_PREFIX)
    return V4Authorization(credential, parse_signed_headers(signed_text), signature)


def parse_v2_authorization(value: str) -> V2Authorization:
    """`AWS AccessKey:Signature`."""
    _, _, credentials = value.partition(" ")
    access_key, colon, signature = credentials.strip().rpartition(":")
    if not colon or not access_key or not signature:
        raise S3Error("InvalidArgument", "AWS authorization header is invalid.  Expected "
                      "AwsAccessKeyId:signature", ArgumentName="Authorization", ArgumentValue=value)
    return V2Authorization(access_key, signature)


def check_v4_scope(credential: Credential, *, region: str, amz_date: str) -> None:
    credential.check(region=region, amz_date=amz_date, error_code="AuthorizationHeaderMalformed",
                     prefix=_HEADER_PREFIX)
