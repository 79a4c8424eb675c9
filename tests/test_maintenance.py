"""The housekeeping loop reclaims expired objects in the background (readers stop seeing them at once)."""

from __future__ import annotations

import time
from pathlib import Path

import keystoneauth1.identity.v3 as v3
import swiftclient
from keystoneauth1.session import Session

from cloud import start_cloud


def test_expired_objects_are_reclaimed_by_the_background_task(tmp_path: Path) -> None:
    cloud = start_cloud(tmp_path / "data", extra_env={"STACKBOX_MAINTENANCE_INTERVAL": "1"})
    try:
        auth = v3.Password(auth_url=cloud.auth_url, username="admin", password=cloud.admin_password,
                           project_name="admin", user_domain_id="default", project_domain_id="default")
        conn = swiftclient.Connection(session=Session(auth=auth))
        conn.put_container("ephemeral")
        # An hour ahead while the count is checked (the reaper runs every second), then due now.
        conn.put_object("ephemeral", "short-lived", b"x" * 100_000, headers={"X-Delete-After": "3600"})
        conn.put_object("ephemeral", "kept", b"y")
        assert conn.head_container("ephemeral")["x-container-object-count"] == "2"
        conn.post_object("ephemeral", "short-lived", headers={"X-Delete-After": "1"})

        deadline = time.monotonic() + 60
        while conn.head_container("ephemeral")["x-container-object-count"] != "1":
            assert time.monotonic() < deadline, "the expired object was never reclaimed"
            time.sleep(0.3)
        assert conn.head_container("ephemeral")["x-container-bytes-used"] == "1"
        assert [o["name"] for o in conn.get_container("ephemeral")[1]] == ["kept"]
    finally:
        cloud.stop()
