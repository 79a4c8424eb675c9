"""S3 errors: the code, HTTP status and default message of each, rendered as S3's XML error body."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from xml.sax.saxutils import escape

from stackbox.http import Response

#: code -> (HTTP status, default message), as Amazon S3 documents them.
ERRORS: dict[str, tuple[int, str]] = {
    "AccessDenied": (403, "Access Denied"),
    "AccessForbidden": (403, "Access Forbidden"),
    "AuthorizationHeaderMalformed": (400, "The authorization header is malformed."),
    "AuthorizationQueryParametersError": (400, "Error parsing the X-Amz-Credential parameter."),
    "BadRequest": (400, "Bad Request"),
    "BadDigest": (400, "The Content-MD5 you specified did not match what we received."),
    "BucketAlreadyExists": (409, "The requested bucket name is not available."),
    "BucketAlreadyOwnedByYou": (409, "Your previous request to create the named bucket succeeded and you "
                                     "already own it."),
    "BucketNotEmpty": (409, "The bucket you tried to delete is not empty"),
    "EntityTooLarge": (400, "Your proposed upload exceeds the maximum allowed object size."),
    "EntityTooSmall": (400, "Your proposed upload is smaller than the minimum allowed object size."),
    "ExpiredToken": (400, "The provided token has expired."),
    "IncompleteBody": (400, "You did not provide the number of bytes specified by the Content-Length "
                            "HTTP header."),
    "InternalError": (500, "We encountered an internal error. Please try again."),
    # AWS has no such error; S3-compatible stores (Ceph RGW among them) answer a full disk with it.
    "InsufficientCapacity": (507, "Insufficient capacity."),
    "InvalidAccessKeyId": (403, "The AWS Access Key Id you provided does not exist in our records."),
    "InvalidArgument": (400, "Invalid Argument"),
    "InvalidBucketName": (400, "The specified bucket is not valid."),
    "InvalidDigest": (400, "The Content-MD5 you specified is not valid."),
    "InvalidPart": (400, "One or more of the specified parts could not be found. The part may not have been "
                         "uploaded, or the specified entity tag may not match the part's entity tag."),
    "InvalidPartOrder": (400, "The list of parts was not in ascending order. Parts must be ordered by part "
                              "number."),
    "InvalidPolicyDocument": (400, "The content of the form does not meet the conditions specified in the "
                                   "policy document."),
    "IncorrectNumberOfFilesInPostRequest": (400, "POST requires exactly one file upload per request."),
    "MalformedPOSTRequest": (400, "The body of your POST request is not well-formed multipart/form-data."),
    "MaxPostPreDataLengthExceededError": (400, "Your POST request fields preceding the upload file were too "
                                               "large."),
    "InvalidURI": (400, "Couldn't parse the specified URI."),
    "InvalidTag": (400, "The tag provided was not a valid tag."),
    "InvalidRange": (416, "The requested range is not satisfiable"),
    "InvalidRequest": (400, "Invalid Request"),
    "InvalidStorageClass": (400, "The storage class you specified is not valid"),
    "KeyTooLongError": (400, "Your key is too long"),
    "MalformedXML": (400, "The XML you provided was not well-formed or did not validate against our "
                          "published schema"),
    "MetadataTooLarge": (400, "Your metadata headers exceed the maximum allowed metadata size."),
    "MethodNotAllowed": (405, "The specified method is not allowed against this resource."),
    "MissingContentLength": (411, "You must provide the Content-Length HTTP header."),
    "MissingSecurityHeader": (400, "Your request is missing a required header."),
    "NoSuchBucket": (404, "The specified bucket does not exist"),
    "NoSuchKey": (404, "The specified key does not exist."),
    "NoSuchTagSet": (404, "The TagSet does not exist"),
    "NoSuchBucketPolicy": (404, "The bucket policy does not exist"),
    "MalformedPolicy": (400, "Policies must be valid JSON and the first byte must be '{'"),
    "NoSuchPublicAccessBlockConfiguration": (404, "The public access block configuration was not found"),
    "OwnershipControlsNotFoundError": (404, "The bucket ownership controls were not found"),
    "AccessControlListNotSupported": (400, "The bucket does not allow ACLs"),
    "InvalidBucketAclWithObjectOwnership": (400, "Bucket cannot have ACLs set with ObjectOwnership's "
                                                 "BucketOwnerEnforced setting"),
    "UnresolvableGrantByEmailAddress": (400, "The e-mail address you provided does not match any account on "
                                             "record."),
    "NoSuchCORSConfiguration": (404, "The CORS configuration does not exist"),
    "NoSuchLifecycleConfiguration": (404, "The lifecycle configuration does not exist"),
    "NoSuchVersion": (404, "The specified version does not exist."),
    "NoSuchWebsiteConfiguration": (404, "The specified bucket does not have a website configuration"),
    "ReplicationConfigurationNotFoundError": (404, "The replication configuration was not found"),
    "IllegalVersioningConfigurationException": (400, "Indicates that the versioning configuration specified "
                                                     "in the request is invalid."),
    "NoSuchUpload": (404, "The specified upload does not exist. The upload ID may be invalid, or the upload "
                          "may have been aborted or completed."),
    "NotImplemented": (501, "A header you provided implies functionality that is not implemented."),
    "PreconditionFailed": (412, "At least one of the pre-conditions you specified did not hold"),
    "RequestTimeout": (400, "Your socket connection to the server was not read from or written to within "
                            "the timeout period. Idle connections will be closed."),
    "RequestTimeTooSkewed": (403, "The difference between the request time and the current time is too "
                                  "large."),
    "SignatureDoesNotMatch": (403, "The request signature we calculated does not match the signature you "
                                   "provided. Check your key and signing method."),
    "XAmzContentSHA256Mismatch": (400, "The provided 'x-amz-content-sha256' header does not match what was "
                                       "computed."),
    "ConditionalRequestConflict": (409, "The conditional request cannot succeed due to a conflicting "
                                        "operation against this resource."),
    "InvalidBucketState": (409, "The request is not valid with the current state of the bucket."),
    "ObjectLockConfigurationNotFoundError": (404, "Object Lock configuration does not exist for this bucket"),
    "NoSuchObjectLockConfiguration": (404, "The specified object does not have a ObjectLock configuration"),
    "InvalidObjectState": (403, "The operation is not valid for the current state of the object."),
    "ServerSideEncryptionConfigurationNotFoundError": (404, "The server side encryption configuration was "
                                                            "not found"),
    "KMS.NotFoundException": (400, "Invalid keyId"),
    "KMS.DisabledException": (400, "The key is disabled."),
    "ServiceUnavailable": (503, "Please reduce your request rate."),
    "SlowDown": (503, "Please reduce your request rate."),
}


class S3Error(Exception):
    """An S3 error response. `extra` adds elements to the XML body (e.g. the computed digest)."""

    def __init__(self, code: str, message: str | None = None, *, status: int | None = None,
                 headers: list[tuple[str, str]] | None = None, **extra: str) -> None:
        default_status, default_message = ERRORS.get(code, (400, code))
        self.code = code
        self.status = status or default_status
        self.message = message or default_message
        self.headers = headers or []
        self.extra = extra
        super().__init__(f"{code}: {self.message}")

    def to_xml(self, resource: str, request_id: str) -> bytes:
        parts = [
            '<?xml version="1.0" encoding="UTF-8"?>\n<Error>',
            f"<Code>{escape(self.code)}</Code>",
            f"<Message>{escape(self.message)}</Message>",
        ]
        parts.extend(f"<{name}>{escape(str(value))}</{name}>" for name, value in self.extra.items())
        if resource:
            parts.append(f"<Resource>{escape(resource)}</Resource>")
        parts.append(f"<RequestId>{request_id}</RequestId><HostId>{request_id}</HostId></Error>")
        return "".join(parts).encode()

    def response(self, resource: str, request_id: str, *, head: bool = False) -> Response:
        """The error answer; the caller adds the request id headers, as it does to every answer."""
        body = b"" if head else self.to_xml(resource, request_id)
        return Response(body, self.status, self.headers, "application/xml")


def request_id_source() -> Callable[[], str]:
    """AWS-style request ids (16 upper-case hex digits) for one worker: a random prefix and a
    counter keep them unique across workers without drawing randomness on every request."""
    prefix = os.urandom(4).hex().upper()
    counter = itertools.count()
    return lambda: f"{prefix}{next(counter) & 0xFFFFFFFF:08X}"
