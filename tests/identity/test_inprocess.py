"""The in-process API S3 and Swift call on every request, and the signature helpers behind s3tokens."""

from __future__ import annotations

import calendar
import json
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from identity.conftest import BACKENDS
from stackbox.config import Settings
from stackbox.epoch import SharedCounter
from stackbox.identity import signatures
from stackbox.identity.bootstrap import bootstrap
from stackbox.identity.service import IdentityService, ec2_credential_id
from stackbox.identity.tokens import TokenPayload

# Captured from a real Keystone (shared/reference/keystone-api-exchanges.md).
REFERENCE_SECRET = "dca0f337ddfe4d3d9476e5124cab9c1d"
REFERENCE_SIGV4_TOKEN = (
    "QVdTNC1ITUFDLVNIQTI1NgoyMDI2MTEyOVQwMTU2NTNaCjIwMjYxMTI5L3VzLWVhc3QtMS9zMy9hd3M0X3JlcXVlc3QKY2FjNDk0"
    "NGFkZTEwZjk3Y2E3ZGJkNWRjZDE3OWZlMjUwNTliMTMxOWVjYzczZjQyZjEwZThjYTJkNDE3ODdlZg==")
REFERENCE_SIGV4_SIGNATURE = "755f1c070c78562e3c20d5f242c01db80715c55e2a69f4e580a25a82494ce7e9"


@pytest.fixture(params=BACKENDS)
def services(request: pytest.FixtureRequest, tmp_path: Path
             ) -> Iterator[tuple[IdentityService, IdentityService]]:
    """Two services on one data dir, standing in for two worker processes."""
    settings = Settings(data_dir=tmp_path)
    if request.param == "postgresql":
        settings = replace(settings, metadata_url=request.getfixturevalue("postgres_url"))
    bootstrap(settings)
    counter_path = tmp_path / "auth-epoch"
    pair = (IdentityService(settings, SharedCounter(counter_path)),
            IdentityService(settings, SharedCounter(counter_path)))
    yield pair
    for service in pair:
        service.close()


def _admin_ids(service: IdentityService) -> tuple[str, str]:
    user = service.store.user_by_name("admin", "default")
    project = service.store.project_by_name("admin", "default")
    assert user is not None and project is not None
    return user["id"], project["id"]


def _add_pair(service: IdentityService, user_id: str, project_id: str) -> str:
    access = "a" * 32
    service.store.insert("credential", {
        "id": ec2_credential_id(access), "type": "ec2", "user_id": user_id,
        "project_id": project_id, "created_at": time.time(),
        "encrypted_blob": service.secrets.seal(json.dumps({"access": access, "secret": "s3cr3t"}))})
    return access


def test_ec2_secret_and_its_invalidation_across_workers(services: tuple[IdentityService, IdentityService]
                                                        ) -> None:
    writer, reader = services
    user_id, project_id = _admin_ids(writer)
    assert reader.ec2_secret("a" * 32) is None
    access = _add_pair(writer, user_id, project_id)
    found = reader.ec2_secret(access)
    assert found is not None and found.secret == "s3cr3t"
    assert found.context.project_id == project_id and found.context.account == f"AUTH_{project_id}"
    assert found.context.roles == {"admin", "member", "reader"}
    writer.store.update("user", user_id, {"enabled": 0})
    assert reader.ec2_secret(access) is None


def test_validate_token_follows_revocation(services: tuple[IdentityService, IdentityService]) -> None:
    writer, reader = services
    user_id, project_id = _admin_ids(writer)
    payload = TokenPayload.issue(user_id, ("password",), 3600, project_id=project_id)
    issued = writer.issue(payload)
    assert issued is not None
    context = reader.validate_token(issued[0])
    assert context is not None and context.is_admin and context.user_name == "admin"
    writer.revoke(payload)
    assert reader.validate_token(issued[0]) is None
    assert reader.validate_token("not-a-token") is None


def test_expired_token_is_invalid(services: tuple[IdentityService, IdentityService]) -> None:
    service, _ = services
    user_id, project_id = _admin_ids(service)
    issued = service.issue(TokenPayload.issue(user_id, ("password",), 3600, project_id=project_id))
    assert issued is not None and service.validate_token(issued[0]) is not None
    expired = TokenPayload.issue(user_id, ("password",), -1, project_id=project_id)
    assert service.validate_token(service.codec.encode(expired)) is None


def test_s3token_signatures_match_keystone() -> None:
    assert signatures.check_s3token(REFERENCE_SECRET, REFERENCE_SIGV4_TOKEN, REFERENCE_SIGV4_SIGNATURE)
    assert not signatures.check_s3token(REFERENCE_SECRET, REFERENCE_SIGV4_TOKEN, "0" * 64)
    assert not signatures.check_s3token("other-secret", REFERENCE_SIGV4_TOKEN, REFERENCE_SIGV4_SIGNATURE)
    assert not signatures.check_s3token(REFERENCE_SECRET, "!!not base64!!", REFERENCE_SIGV4_SIGNATURE)
    v2_token = "R0VUCgoKU3VuLCAyOSBOb3YgMjAyNiAwMTo1Njo1NSBHTVQKL2J1Y2tldC9rZXk="
    assert signatures.check_s3token(REFERENCE_SECRET, v2_token, "isHji5dhJvIw7z8rM4jnQmCCHvI=")


def test_ec2token_signatures_match_keystone_and_expire() -> None:
    credentials = {
        "access": "8a561b5539ac4dfb9e29bf696f1fcd9f", "host": "127.0.0.1:8788", "verb": "GET", "path": "/",
        "params": {"Action": "DescribeInstances", "SignatureMethod": "HmacSHA256", "SignatureVersion": "2",
                   "AWSAccessKeyId": "8a561b5539ac4dfb9e29bf696f1fcd9f", "Timestamp": "2026-11-29T01:57:05Z",
                   "Version": "2013-10-15"},
        "signature": "Pj6qtqFbj5B1stafPHcTvR4bzZcxzELV13mWLILqGOA="}
    signed_at = calendar.timegm(time.strptime("2026-11-29T01:57:05Z", "%Y-%m-%dT%H:%M:%SZ"))
    assert signatures.check_ec2token(REFERENCE_SECRET, credentials, now=signed_at + 60)
    assert not signatures.check_ec2token(REFERENCE_SECRET, credentials, now=signed_at + 3600)
    assert not signatures.check_ec2token(REFERENCE_SECRET, {**credentials, "signature": ""}, now=signed_at)


def test_public_urls_put_the_balancer_in_the_catalog_and_openrc(tmp_path: Path) -> None:
    """Nodes behind a load balancer advertise its URLs, not their own ports."""
    from stackbox.identity.service import open_store

    settings = Settings(data_dir=tmp_path, identity_port=5111, object_port=8111,
                        public_identity_url="https://cloud.example:5000/", public_object_url="https://cloud.example")
    bootstrap(settings)
    assert "export OS_AUTH_URL=https://cloud.example:5000/v3\n" in (tmp_path / "admin-openrc").read_text()
    store = open_store(settings)
    try:
        urls = {row["url"] for row in store.select("endpoint", {})}
    finally:
        store.close()
    assert urls == {"https://cloud.example:5000/v3", "https://cloud.example/v1/AUTH_%(project_id)s"}
    assert Settings(identity_port=5111).identity_url == "http://127.0.0.1:5111/v3"


def test_cached_rows_follow_identity_writes(services: tuple[IdentityService, IdentityService]) -> None:
    """What the object front ends look up by id (ACL and display names) is cached until a write."""
    writer, reader = services
    _, project_id = _admin_ids(writer)
    first = reader.cached_row("project", project_id)
    assert first is not None and first["name"] == "admin"
    writer.store.update("project", project_id, {"name": "renamed"})
    renamed = reader.cached_row("project", project_id)
    assert renamed is not None and renamed["name"] == "renamed"
    assert reader.cached_row("project", "no-such-project") is None
    writer.store.delete_target("project", project_id)
    assert reader.cached_row("project", project_id) is None
