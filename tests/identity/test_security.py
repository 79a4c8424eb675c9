"""Tokens stop working when they should, pairs stay private, and s3tokens/ec2tokens refuse outsiders."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable
from typing import Any

from cloud import RunningCloud
from identity.helpers import Account, api
from topology import cluster_topology, wait_until


def _valid(cloud: RunningCloud, token: str) -> bool:
    return api(cloud, "GET", "/v3/auth/projects", token).status_code == 200


def test_revoked_token_is_rejected(cloud: RunningCloud, make_account: Callable[[str], Account]) -> None:
    member = make_account("member")
    token = member.token(cloud)
    assert _valid(cloud, token)
    revoked = api(cloud, "DELETE", "/v3/auth/tokens", token, headers={"X-Subject-Token": token})
    assert revoked.status_code == 204
    assert not _valid(cloud, token)
    assert api(cloud, "GET", "/v3/auth/projects", token).status_code == 401


def test_disabled_user_and_password_change(cloud: RunningCloud, keystone: Any,
                                           make_account: Callable[[str], Account]) -> None:
    disabled, changed = make_account("member"), make_account("member")
    disabled_token, changed_token = disabled.token(cloud), changed.token(cloud)
    keystone.users.update(disabled.user_id, enabled=False)
    assert not _valid(cloud, disabled_token)
    changing = api(cloud, "POST", f"/v3/users/{changed.user_id}/password", changed_token,
                   json={"user": {"original_password": changed.password, "password": "a-new-password"}})
    assert changing.status_code == 204
    assert not _valid(cloud, changed_token)
    changed.password = "a-new-password"
    assert _valid(cloud, changed.token(cloud))


def test_removed_role(cloud: RunningCloud, keystone: Any,
                                          make_account: Callable[[str], Account]) -> None:
    account = make_account("member")
    token = account.token(cloud)
    member_role = keystone.roles.find(name="member")
    keystone.roles.revoke(member_role, user=account.user_id, project=account.project_id)
    assert not _valid(cloud, token)


def test_other_users_pairs_are_invisible(cloud: RunningCloud, admin_token: str, keystone: Any,
                                         make_account: Callable[[str], Account]) -> None:
    owner, other = make_account("member"), make_account("member")
    pair = keystone.ec2.create(owner.user_id, owner.project_id)
    other_token = other.token(cloud)
    base = f"/v3/users/{owner.user_id}/credentials/OS-EC2"
    one = f"{base}/{pair.access}"
    for method, path in (("GET", base), ("GET", one), ("DELETE", one)):
        assert api(cloud, method, path, other_token).status_code == 403
    listed = api(cloud, "GET", "/v3/credentials", other_token).json()["credentials"]
    assert pair.access not in str(listed)
    foreign = api(cloud, "POST", f"/v3/users/{other.user_id}/credentials/OS-EC2", other_token,
                  json={"tenant_id": owner.project_id})
    assert foreign.status_code == 403


def _sigv4_request(access: str, secret: str) -> dict[str, str]:
    now = time.gmtime()
    amz_date, day = time.strftime("%Y%m%dT%H%M%SZ", now), time.strftime("%Y%m%d", now)
    scope = f"{day}/us-east-1/s3/aws4_request"
    string_to_sign = f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{hashlib.sha256(b'request').hexdigest()}"
    key = f"AWS4{secret}".encode()
    for part in (day, "us-east-1", "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    return {"access": access, "token": base64.urlsafe_b64encode(string_to_sign.encode()).decode(),
            "signature": signature}


def test_s3tokens(cloud: RunningCloud, admin_token: str, keystone: Any,
                  make_account: Callable[[str], Account]) -> None:
    member = make_account("member")
    pair = keystone.ec2.create(member.user_id, member.project_id)
    good = _sigv4_request(pair.access, pair.secret)
    accepted = api(cloud, "POST", "/v3/s3tokens", admin_token, json={"credentials": good})
    assert accepted.status_code == 200
    token = accepted.json()["token"]
    assert token["methods"] == ["ec2credential"] and token["project"]["id"] == member.project_id
    assert token["user"]["id"] == member.user_id

    string_to_sign = "GET\n\n\nSun, 29 Nov 2026 01:56:55 GMT\n/bucket/key"
    v2_signature = base64.b64encode(hmac.new(pair.secret.encode(), string_to_sign.encode(), "sha1").digest())
    v2 = {"access": pair.access, "token": base64.urlsafe_b64encode(string_to_sign.encode()).decode(),
          "signature": v2_signature.decode()}
    assert api(cloud, "POST", "/v3/s3tokens", admin_token, json={"credentials": v2}).status_code == 200

    wrong = {**good, "signature": "0" * 64}
    assert api(cloud, "POST", "/v3/s3tokens", admin_token, json={"credentials": wrong}).status_code == 401
    stranger = {**good, "access": "f" * 32}
    unknown = api(cloud, "POST", "/v3/s3tokens", admin_token, json={"credentials": stranger})
    assert unknown.status_code == 404 and unknown.json()["error"]["message"] == "EC2 access key not found."
    assert api(cloud, "POST", "/v3/s3tokens", json={"credentials": good}).status_code == 401
    as_member = api(cloud, "POST", "/v3/s3tokens", member.token(cloud), json={"credentials": good})
    assert as_member.status_code == 403
    assert as_member.json()["error"]["message"].endswith("identity:s3tokens_validate.")
    empty = api(cloud, "POST", "/v3/s3tokens", admin_token, json={})
    assert empty.status_code == 400
    assert api(cloud, "GET", "/v3/s3tokens", admin_token).status_code == 405

    keystone.ec2.delete(member.user_id, pair.access)

    def refused_twice() -> bool:  # twice: through each node of a cluster in turn
        return all(api(cloud, "POST", "/v3/s3tokens", admin_token, json={"credentials": good}).status_code
                   == 404 for _ in range(2))

    if cluster_topology():  # the other node forgets the pair once its listener applies the deletion (ms)
        wait_until(refused_twice, 2, "every node to refuse the deleted pair")
    assert refused_twice()


def test_ec2tokens_signature_version_2(cloud: RunningCloud, admin_token: str, keystone: Any,
                                       make_account: Callable[[str], Account]) -> None:
    member = make_account("member")
    pair = keystone.ec2.create(member.user_id, member.project_id)
    params = {"Action": "DescribeInstances", "SignatureMethod": "HmacSHA256", "SignatureVersion": "2",
              "AWSAccessKeyId": pair.access, "Timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "Version": "2013-10-15"}
    query = "&".join(f"{k}={v.replace(':', '%3A')}" for k, v in sorted(params.items()))
    string_to_sign = f"GET\n127.0.0.1:8788\n/\n{query}"
    digest = hmac.new(pair.secret.encode(), string_to_sign.encode(), hashlib.sha256).digest()
    credentials = {"access": pair.access, "host": "127.0.0.1:8788", "verb": "GET", "path": "/",
                   "params": params, "signature": base64.b64encode(digest).decode()}
    accepted = api(cloud, "POST", "/v3/ec2tokens", admin_token, json={"credentials": credentials})
    assert accepted.status_code == 200 and accepted.headers["X-Subject-Token"]
    forged = {**credentials, "signature": "A" * 43 + "="}
    assert api(cloud, "POST", "/v3/ec2tokens", admin_token, json={"credentials": forged}).status_code == 401
