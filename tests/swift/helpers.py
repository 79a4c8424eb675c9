"""Shared pieces of the Swift tests: raw HTTP calls, CLI runs, unique names."""

from __future__ import annotations

import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from cloud import BIN, RunningCloud


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@dataclass
class Swift:
    """Raw HTTP against one account with one token (for status codes and exact headers)."""

    cloud: RunningCloud
    account: str
    token: str | None

    @property
    def url(self) -> str:
        return f"{self.cloud.object_url}/v1/{self.account}"

    def __call__(self, method: str, path: str = "", token: str | None = "",
                 **kwargs: Any) -> requests.Response:
        """`token=""` uses this client's token, `None` sends none."""
        headers = dict(kwargs.pop("headers", {}))
        chosen = self.token if token == "" else token
        if chosen is not None:
            headers["X-Auth-Token"] = chosen
        return requests.request(method, self.url + path, headers=headers, timeout=30, **kwargs)


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str


def run_cli(cloud: RunningCloud, *args: str, cwd: Path | None = None, **env: str) -> CliResult:
    done = subprocess.run([str(BIN / args[0]), *args[1:]], env=cloud.cli_env(**env), cwd=cwd,
                          capture_output=True, text=True, timeout=90)
    return CliResult(done.returncode, done.stdout, done.stderr)
