"""The differential tests need the reference Swift 2.38 cloud ; without it they skip."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from botocore.credentials import Credentials

from cloud import RunningCloud
from compat.harness import (
    REFERENCE_AUTH_URL,
    REFERENCE_URL,
    Scenario,
    Side,
    differences,
    keystone_token,
    reference_answers,
)

REFERENCE_EC2 = Path("/tmp/refcloud/data/ec2-admin.txt")


@pytest.fixture(scope="session", autouse=True)
def _reference_cloud() -> None:
    if not reference_answers():
        pytest.skip(f"the reference cloud does not answer on {REFERENCE_URL}: start it with "
                    "bash ../shared/reference-cloud/start.sh (or setup.sh) to run the compat tests")


def _our_s3_credentials(cloud: RunningCloud, token: str, project_id: str) -> Credentials:
    login = requests.get(f"{cloud.auth_url}/auth/tokens", timeout=30,
                         headers={"X-Auth-Token": token, "X-Subject-Token": token})
    user_id = login.json()["token"]["user"]["id"]
    made = requests.post(f"{cloud.auth_url}/users/{user_id}/credentials/OS-EC2", timeout=30,
                         headers={"X-Auth-Token": token}, json={"tenant_id": project_id})
    made.raise_for_status()
    credential = made.json()["credential"]
    return Credentials(credential["access"], credential["secret"])


def _reference_s3_credentials() -> Credentials | None:
    if not REFERENCE_EC2.exists():
        return None
    fields = dict(line.split(" ", 1) for line in REFERENCE_EC2.read_text().splitlines() if " " in line)
    return Credentials(fields["access"].strip(), fields["secret"].strip())


@pytest.fixture(scope="session")
def ours_login(cloud: RunningCloud) -> tuple[str, str, Credentials]:
    token, project_id = keystone_token(cloud.auth_url, "admin", cloud.admin_password, "admin")
    return token, project_id, _our_s3_credentials(cloud, token, project_id)


@pytest.fixture(scope="session")
def reference_login(_reference_cloud: None) -> tuple[str, str, Credentials | None]:
    token, project_id = keystone_token(REFERENCE_AUTH_URL, "admin", "adminpass", "admin")
    return token, project_id, _reference_s3_credentials()


Compare = Callable[..., None]


@pytest.fixture
def compare(cloud: RunningCloud, ours_login: tuple[str, str, Credentials],
            reference_login: tuple[str, str, Credentials | None]) -> Compare:
    """Runs `scenario(side, names)` on both clouds with the same fresh names and asserts equal records."""

    def run(scenario: Callable[[Side, str], None], *, ignore_headers: frozenset[str] = frozenset(),
            ignore_body: bool = False) -> None:
        name = f"cmp-{uuid.uuid4().hex[:10]}"
        token, project_id, credentials = ours_login
        ours = Side("ours", cloud.object_url, f"AUTH_{project_id}", token, credentials)
        token, project_id, ref_credentials = reference_login
        reference = Side("reference", REFERENCE_URL, f"AUTH_{project_id}", token, ref_credentials)
        for side in (reference, ours):
            scenario(side, name)
        found = differences(ours.exchanges, reference.exchanges, ignore_headers, ignore_body)
        assert not found, "\n" + "\n".join(found)

    return run


__all__ = ["Compare", "Scenario"]
