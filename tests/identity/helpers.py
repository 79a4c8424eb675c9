"""Shared pieces of the identity tests: CLI results, keystoneauth sessions, accounts, table parsing."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

from cloud import RunningCloud


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str


OpenStack = Callable[..., CliResult]


def password_session(cloud: RunningCloud, user: str, password: str, project: str | None = "admin"
                     ) -> ks_session.Session:
    auth = v3.Password(auth_url=cloud.auth_url, username=user, password=password, project_name=project,
                       user_domain_id="default", project_domain_id="default" if project else None)
    return ks_session.Session(auth=auth)


@dataclass
class Account:
    """A user with a role on its own project."""

    user_id: str
    name: str
    password: str
    project_id: str
    project_name: str

    def env(self) -> dict[str, str]:
        return {"OS_USERNAME": self.name, "OS_PASSWORD": self.password, "OS_PROJECT_NAME": self.project_name}

    def token(self, cloud: RunningCloud) -> str:
        return str(password_session(cloud, self.name, self.password, self.project_name).get_token())


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def api(cloud: RunningCloud, method: str, path: str, token: str | None = None, **kwargs: Any
        ) -> requests.Response:
    headers = dict(kwargs.pop("headers", {}))
    if token is not None:
        headers["X-Auth-Token"] = token
    return requests.request(method, f"{cloud.identity_root}{path}", headers=headers, timeout=30, **kwargs)


def table_rows(output: str) -> list[list[str]]:
    """The cells of a CLI table, header row included, separator lines dropped."""
    return [[cell.strip() for cell in line.strip().strip("|").split("|")]
            for line in output.splitlines() if line.startswith("|")]
