"""`GET /info`: the capabilities and limits this front end enforces (the same constants it uses)."""

from __future__ import annotations

from typing import Any

import orjson

from stackbox.s3.delete import MAX_DELETE_KEYS
from stackbox.s3.list import MAX_KEYS
from stackbox.s3.multipart import MAX_PARTS, MIN_PART_SIZE
from stackbox.swift import bulk, headers, large_objects, symlink, tempurl

SWIFT_VERSION = "2.38.3"


def capabilities() -> dict[str, Any]:
    return {
        "swift": {
            "version": SWIFT_VERSION,
            "strict_cors_mode": True,
            "policies": [{"name": "Policy-0", "aliases": "Policy-0", "default": True}],
            "allow_account_management": True,
            "account_autocreate": True,
            "allow_open_expired": False,
            "max_file_size": headers.MAX_FILE_SIZE,
            "max_meta_name_length": headers.MAX_META_NAME_LENGTH,
            "max_meta_value_length": headers.MAX_META_VALUE_LENGTH,
            "max_meta_count": headers.MAX_META_COUNT,
            "max_meta_overall_size": headers.MAX_META_OVERALL_SIZE,
            "max_header_size": headers.MAX_HEADER_SIZE,
            "max_request_line": 8192,
            "max_object_name_length": headers.MAX_OBJECT_NAME_LENGTH,
            "container_listing_limit": headers.LISTING_LIMIT,
            "account_listing_limit": headers.LISTING_LIMIT,
            "max_account_name_length": headers.MAX_ACCOUNT_NAME_LENGTH,
            "max_container_name_length": headers.MAX_CONTAINER_NAME_LENGTH,
            "extra_header_count": 0,
        },
        "slo": {
            "max_manifest_segments": large_objects.MAX_MANIFEST_SEGMENTS,
            "max_manifest_size": large_objects.MAX_MANIFEST_SIZE,
            "yield_frequency": 10,
            "min_segment_size": 1,
            "allow_async_delete": False,
        },
        "tempurl": {
            "methods": list(tempurl.METHODS),
            "incoming_remove_headers": ["x-timestamp", "x-open-expired"],
            "incoming_allow_headers": [],
            "outgoing_remove_headers": ["x-object-meta-*"],
            "outgoing_allow_headers": ["x-object-meta-public-*"],
            "allowed_digests": list(tempurl.DIGESTS),
            "deprecated_digests": [],
        },
        "formpost": {},
        "symlink": {"symloop_max": symlink.SYMLOOP_MAX, "static_links": True},
        "bulk_upload": {
            "max_containers_per_extraction": bulk.MAX_CONTAINERS_PER_EXTRACTION,
            "max_failed_extractions": bulk.MAX_FAILED_EXTRACTIONS,
        },
        "versioned_writes": {"allowed_flags": ["x-versions-location", "x-history-location"]},
        "object_versioning": {},
        "bulk_delete": {
            "max_deletes_per_request": bulk.MAX_DELETES_PER_REQUEST,
            "max_failed_deletes": bulk.MAX_FAILED_DELETES,
        },
        "account_quotas": {},
        "container_quotas": {},
        "staticweb": {},
        "s3api": s3api_capabilities(),
    }


def s3api_capabilities() -> dict[str, Any]:
    """The S3 front end on the same port, under s3api's keys, with the limits it enforces (AWS's:
    10,000 parts where s3api's default is 1,000). `s3_acl`: S3 ACLs are stored and enforced."""
    return {
        "max_bucket_listing": MAX_KEYS,
        "max_parts_listing": MAX_KEYS,
        "max_upload_part_num": MAX_PARTS,
        "max_multi_delete_objects": MAX_DELETE_KEYS,
        "allow_multipart_uploads": True,
        "min_segment_size": MIN_PART_SIZE,
        "s3_acl": True,
    }


#: Rendered once: the document never changes while the server runs.
INFO_BODY = orjson.dumps(capabilities())
