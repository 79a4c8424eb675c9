"""The cluster topology's balancer configuration: HAProxy accepts it, and the README shows it."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from cloud import REPO
from topology import haproxy_config

TWO_HOSTS = [("10.0.0.11", 5000, 8080), ("10.0.0.12", 5000, 8080)]


def test_the_readme_shows_the_configuration_the_tests_run() -> None:
    blocks = re.findall(r"```haproxy\n(.*?)```", (REPO / "README.md").read_text(), flags=re.S)
    assert blocks == [haproxy_config(5000, 8080, TWO_HOSTS, bind="*")]


@pytest.mark.parametrize("tag_responses", [False, True])
def test_haproxy_accepts_the_configuration(tmp_path: Path, tag_responses: bool) -> None:
    binary = shutil.which("haproxy") or "/usr/sbin/haproxy"
    if not Path(binary).exists():
        pytest.skip("HAProxy is not installed (`make test` installs Debian's haproxy)")
    config = tmp_path / "haproxy.cfg"
    config.write_text(haproxy_config(5000, 8080, TWO_HOSTS, bind="*", tag_responses=tag_responses))
    checked = subprocess.run([binary, "-c", "-f", str(config)], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_a_config_haproxy_refuses_is_caught(tmp_path: Path) -> None:
    """The check above can fail: a broken line is refused."""
    binary = shutil.which("haproxy") or "/usr/sbin/haproxy"
    if not Path(binary).exists():
        pytest.skip("HAProxy is not installed")
    config = tmp_path / "haproxy.cfg"
    config.write_text(haproxy_config(5000, 8080, TWO_HOSTS).replace("balance roundrobin", "balance nonsense"))
    checked = subprocess.run([binary, "-c", "-f", str(config)], capture_output=True, text=True, check=False)
    assert checked.returncode != 0
