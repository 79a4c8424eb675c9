"""User flows with the real clients: the aws CLI, rclone and s3cmd, on an EC2 pair from the identity API."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import requests
from botocore.client import BaseClient

from cloud import BIN, RunningCloud
from s3.conftest import Ec2Pair, unique

MIB = 1 << 20


def run(args: list[str], env: dict[str, str], cwd: Path | None = None) -> str:
    done = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{args} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def write_tree(root: Path) -> dict[str, bytes]:
    files = {"a.txt": b"alpha\n", "sub/b.bin": os.urandom(3000), "sub/deeper/c.txt": b"gamma" * 100,
             "big.bin": os.urandom(9 * MIB)}
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return files


def test_aws_cli(cloud: RunningCloud, member: Ec2Pair, s3: BaseClient, tmp_path: Path) -> None:
    env = cloud.cli_env(AWS_ACCESS_KEY_ID=member.access, AWS_SECRET_ACCESS_KEY=member.secret,
                        AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE=str(tmp_path / "none"))

    def aws(*args: str) -> str:
        return run([str(BIN / "aws"), "--endpoint-url", cloud.object_url, *args], env)

    name = unique("awscli")
    files = write_tree(tmp_path / "src")
    aws("s3", "mb", f"s3://{name}")
    aws("s3", "cp", str(tmp_path / "src" / "a.txt"), f"s3://{name}/single/a.txt")
    aws("s3", "sync", str(tmp_path / "src"), f"s3://{name}/tree")
    listing = aws("s3", "ls", "--recursive", f"s3://{name}/tree/")
    assert sorted(line.split()[-1] for line in listing.splitlines()) == sorted(f"tree/{n}" for n in files)
    assert s3.head_object(Bucket=name, Key="tree/big.bin")["ETag"].endswith('-2"')  # multipart upload
    aws("s3", "sync", f"s3://{name}/tree", str(tmp_path / "back"))
    for file_name, data in files.items():
        assert (tmp_path / "back" / file_name).read_bytes() == data
    url = aws("s3", "presign", f"s3://{name}/single/a.txt", "--expires-in", "60").strip()
    assert requests.get(url, timeout=10).content == files["a.txt"]
    head = aws("s3api", "head-object", "--bucket", name, "--key", "tree/a.txt")
    assert '"ContentLength": 6' in head
    aws("s3", "rm", "--recursive", f"s3://{name}/")
    aws("s3", "rb", f"s3://{name}")
    assert name not in aws("s3", "ls")


@pytest.mark.skipif(shutil.which("rclone") is None, reason="rclone is not installed")
def test_rclone(cloud: RunningCloud, member: Ec2Pair, tmp_path: Path) -> None:
    env = cloud.cli_env(RCLONE_CONFIG_SB_TYPE="s3", RCLONE_CONFIG_SB_PROVIDER="Other",
                        RCLONE_CONFIG_SB_ACCESS_KEY_ID=member.access,
                        RCLONE_CONFIG_SB_SECRET_ACCESS_KEY=member.secret,
                        RCLONE_CONFIG_SB_ENDPOINT=cloud.object_url, RCLONE_CONFIG_SB_REGION="us-east-1",
                        RCLONE_CONFIG=str(tmp_path / "rclone.conf"))
    name = unique("rclone")
    files = write_tree(tmp_path / "src")
    rclone = shutil.which("rclone") or "rclone"
    run([rclone, "mkdir", f"sb:{name}"], env)
    run([rclone, "copy", "--s3-upload-cutoff", "5M", "--s3-chunk-size", "5M", str(tmp_path / "src"),
         f"sb:{name}/data"], env)
    run([rclone, "check", str(tmp_path / "src"), f"sb:{name}/data"], env)
    listed = run([rclone, "lsf", "-R", "--files-only", f"sb:{name}/data"], env)
    assert sorted(listed.split()) == sorted(files)
    run([rclone, "copy", f"sb:{name}/data", str(tmp_path / "back")], env)
    assert (tmp_path / "back" / "big.bin").read_bytes() == files["big.bin"]
    run([rclone, "purge", f"sb:{name}"], env)
    assert name not in run([rclone, "lsd", "sb:"], env)


def test_s3cmd(cloud: RunningCloud, member: Ec2Pair, tmp_path: Path) -> None:
    config = tmp_path / "s3cfg"
    host = cloud.object_url.removeprefix("http://")
    config.write_text(f"[default]\naccess_key = {member.access}\nsecret_key = {member.secret}\n"
                      f"host_base = {host}\nhost_bucket = {host}\nuse_https = False\n"
                      "signature_v2 = False\nbucket_location = us-east-1\n")
    env = cloud.cli_env()

    def s3cmd(*args: str) -> str:
        return run([str(BIN / "s3cmd"), "-c", str(config), *args], env)

    name = unique("s3cmd")
    files = write_tree(tmp_path / "src")
    s3cmd("mb", f"s3://{name}")
    s3cmd("put", "--multipart-chunk-size-mb=5", str(tmp_path / "src" / "big.bin"), f"s3://{name}/big.bin")
    s3cmd("put", str(tmp_path / "src" / "a.txt"), f"s3://{name}/a.txt")
    assert f"s3://{name}/big.bin" in s3cmd("ls", f"s3://{name}")
    s3cmd("get", f"s3://{name}/big.bin", str(tmp_path / "big.back"))
    assert (tmp_path / "big.back").read_bytes() == files["big.bin"]
    s3cmd("setacl", "--acl-public", f"s3://{name}/a.txt")
    assert requests.get(f"{cloud.object_url}/{name}/a.txt", timeout=10).content == files["a.txt"]
    s3cmd("del", "--recursive", "--force", f"s3://{name}")
    s3cmd("rb", f"s3://{name}")
