"""Swift's container_quotas and account_quotas headers; the storage engine enforces the limits on
every write (`storage.quotas`), so S3 writes to the same container keep them too.

Container quotas are user metadata any owner may set (`X-Container-Meta-Quota-Bytes|Count`, digits
only). Account quotas (`X-Account-Quota-Bytes|Count`, and the legacy `X-Account-Meta-Quota-Bytes`)
are set by the reseller admin only; anyone else sending them is refused with 403, as by Swift 2.38.
"""

from __future__ import annotations

from collections.abc import Mapping

from stackbox.storage.quotas import ACCOUNT_QUOTA_BYTES, ACCOUNT_QUOTA_COUNT
from stackbox.swift.context import Call
from stackbox.swift.errors import SwiftError, html_error

_CONTAINER_QUOTAS = (("x-container-meta-quota-bytes", "Invalid bytes quota."),
                     ("x-container-meta-quota-count", "Invalid count quota."))
#: Account quota header -> where the value is kept.
_ACCOUNT_QUOTAS = (("quota-bytes", ACCOUNT_QUOTA_BYTES), ("quota-count", ACCOUNT_QUOTA_COUNT))
#: What the upload refused for a quota answers (Swift 413; s3api turns it into EntityTooLarge).
EXCEEDED = "Upload exceeds quota."


def check_container_quotas(headers: Mapping[str, str]) -> None:
    """400 for a container quota that is neither empty nor a whole number."""
    for header, message in _CONTAINER_QUOTAS:
        value = headers.get(header)
        if value and not (value.isascii() and value.isdigit()):
            raise html_error(400, message)


def account_quota_changes(call: Call) -> tuple[dict[str, str], list[str]]:
    """(quotas to set, quotas to remove) of an account PUT/POST; 403 unless the caller is the reseller
    admin, 400 for a value that is not a whole number."""
    headers = call.headers
    updates: dict[str, str] = {}
    removes: list[str] = []
    for name, key in _ACCOUNT_QUOTAS:
        value = headers.get(f"x-account-{name}")
        removed = headers.get(f"x-remove-account-{name}")
        if name == "quota-bytes":  # the legacy header stands in for the new one when that is absent
            value = value or headers.get("x-account-meta-quota-bytes")
            removed = removed or headers.get("x-remove-account-meta-quota-bytes")
        if removed:
            value = ""
        if value is None:
            continue
        if call.auth is None or not call.auth.is_reseller_admin:
            raise SwiftError(403)
        if value and not (value.isascii() and value.isdigit()):
            raise SwiftError(400)
        if value:
            updates[key] = value
        else:
            removes.append(key)
    return updates, removes


def account_quota_headers(meta: Mapping[str, str]) -> list[tuple[str, str]]:
    return [(f"X-Account-{name.title()}", meta[key]) for name, key in _ACCOUNT_QUOTAS if meta.get(key)]
