"""The seed's flows through the real `openstack` CLI, as admin, as a member and as a reader."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

from cloud import RunningCloud
from identity.helpers import Account, OpenStack, table_rows, unique

SEED_FIELDS = ["access", "access_token_id", "app_cred_id", "links", "project_id", "secret", "trust_id",
               "user_id"]
LIST_COLUMNS = ["Access", "Secret", "Project ID", "User ID"]


def test_token_issue_and_catalog(openstack: OpenStack, cloud: RunningCloud) -> None:
    token = openstack("token", "issue", "-f", "json")
    assert token.returncode == 0, token.stderr
    assert set(json.loads(token.stdout)) == {"expires", "id", "project_id", "user_id"}
    catalog = openstack("catalog", "list")
    assert catalog.returncode == 0, catalog.stderr
    names = {row[0]: row[1] for row in table_rows(catalog.stdout)[1:] if row[0]}
    assert names == {"keystone": "identity", "swift": "object-store"}
    assert f"public: {cloud.auth_url}" in catalog.stdout
    project_id = json.loads(token.stdout)["project_id"]
    assert f"public: {cloud.object_url}/v1/AUTH_{project_id}" in catalog.stdout


def test_ec2_create_list_show_delete_as_admin(openstack: OpenStack) -> None:
    created = openstack("ec2", "credentials", "create")
    assert created.returncode == 0, created.stderr
    rows = table_rows(created.stdout)
    assert rows[0] == ["Field", "Value"]
    assert [row[0] for row in rows[1:]] == SEED_FIELDS
    fields = {row[0]: row[1] for row in rows[1:]}
    access, secret = fields["access"], fields["secret"]
    assert len(access) == 32 and len(secret) == 32 and int(access, 16) >= 0 and int(secret, 16) >= 0
    assert fields["access_token_id"] == fields["app_cred_id"] == fields["trust_id"] == "None"
    assert f"/credentials/OS-EC2/{access}'" in fields["links"]

    listed = openstack("ec2", "credentials", "list")
    assert listed.returncode == 0, listed.stderr
    table = table_rows(listed.stdout)
    assert table[0] == LIST_COLUMNS
    assert [access, secret, fields["project_id"], fields["user_id"]] in table[1:]

    shown = openstack("ec2", "credentials", "show", access, "-f", "json")
    assert json.loads(shown.stdout)["secret"] == secret

    deleted = openstack("ec2", "credentials", "delete", access)
    assert (deleted.returncode, deleted.stdout, deleted.stderr) == (0, "", "")
    assert access not in openstack("ec2", "credentials", "list").stdout


def test_ec2_unknown_key_prints_keystones_failure(openstack: OpenStack) -> None:
    access = "0" * 32
    digest = hashlib.sha256(access.encode()).hexdigest()
    deleted = openstack("ec2", "credentials", "delete", access)
    assert deleted.returncode == 1
    assert (f"Failed to delete EC2 credentials with access key '{access}': "
            f"Could not find credential: {digest}. (HTTP 404)") in deleted.stderr
    assert "1 of 1 EC2 keys failed to delete." in deleted.stderr
    shown = openstack("ec2", "credentials", "show", access)
    assert shown.returncode == 1
    assert f"Could not find credential: {digest}. (HTTP 404)" in shown.stderr


def test_admin_manages_projects_users_roles_and_pairs_for_others(openstack: OpenStack) -> None:
    project, user = unique("cli-proj"), unique("cli-user")
    assert openstack("project", "create", project).returncode == 0
    assert openstack("user", "create", "--password", "pw-" + user, user).returncode == 0
    added = openstack("role", "add", "--project", project, "--user", user, "member")
    assert added.returncode == 0, added.stderr
    assignments = openstack("role", "assignment", "list", "--names", "--user", user)
    assert ["member", f"{user}@Default", "", f"{project}@Default"] == table_rows(assignments.stdout)[1][:4]

    created = openstack("ec2", "credentials", "create", "--project", project, "--user", user, "-f", "json")
    assert created.returncode == 0, created.stderr
    pair = json.loads(created.stdout)
    listed = table_rows(openstack("ec2", "credentials", "list", "--user", user).stdout)
    assert [row[0] for row in listed[1:]] == [pair["access"]]
    assert listed[1][2] == pair["project_id"] and listed[1][3] == pair["user_id"]
    assert openstack("ec2", "credentials", "delete", "--user", user, pair["access"]).returncode == 0


def test_member_manages_own_pairs(openstack: OpenStack, make_account: Callable[[str], Account]) -> None:
    member = make_account("member")
    created = openstack("ec2", "credentials", "create", "-f", "json", **member.env())
    assert created.returncode == 0, created.stderr
    pair = json.loads(created.stdout)
    assert (pair["user_id"], pair["project_id"]) == (member.user_id, member.project_id)
    listed = table_rows(openstack("ec2", "credentials", "list", **member.env()).stdout)
    assert [row[0] for row in listed[1:]] == [pair["access"]]
    assert openstack("ec2", "credentials", "delete", pair["access"], **member.env()).returncode == 0


def test_reader_may_list_but_not_create(openstack: OpenStack, make_account: Callable[[str], Account]) -> None:
    reader = make_account("reader")
    assert openstack("ec2", "credentials", "list", **reader.env()).returncode == 0
    refused = openstack("ec2", "credentials", "create", **reader.env())
    assert refused.returncode == 1
    assert "identity:ec2_create_credential. (HTTP 403)" in refused.stderr


def test_application_credentials(openstack: OpenStack, make_account: Callable[[str], Account]) -> None:
    member = make_account("member")
    env = member.env()
    restricted = json.loads(openstack("application", "credential", "create", unique("ac"), "-f", "json",
                                      **env).stdout)
    unrestricted = json.loads(openstack("application", "credential", "create", unique("ac"), "--unrestricted",
                                        "-f", "json", **env).stdout)

    def as_app_cred(app_cred: dict[str, str]) -> dict[str, str]:
        return {"OS_AUTH_TYPE": "v3applicationcredential", "OS_APPLICATION_CREDENTIAL_ID": app_cred["ID"],
                "OS_APPLICATION_CREDENTIAL_SECRET": app_cred["Secret"], "OS_USERNAME": "", "OS_PASSWORD": "",
                "OS_PROJECT_NAME": "", "OS_USER_DOMAIN_NAME": "", "OS_PROJECT_DOMAIN_NAME": ""}

    refused = openstack("ec2", "credentials", "create", **as_app_cred(restricted))
    assert refused.returncode == 1
    assert "Delegated tokens cannot access credentials directly. (HTTP 403)" in refused.stderr
    created = openstack("ec2", "credentials", "create", "-f", "json", **as_app_cred(unrestricted))
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["app_cred_id"] == unrestricted["ID"]
