"""Key files under DATA_DIR/keys/ (mode 0600): Fernet keys for tokens and for EC2 secrets at rest."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet

TOKEN_KEY = "token-fernet.key"
CREDENTIAL_KEY = "credential-fernet.key"


def keys_dir(data_dir: Path) -> Path:
    return data_dir / "keys"


def ensure_keys(data_dir: Path) -> None:
    """Create the key directory and any missing key; existing keys are never replaced."""
    directory = keys_dir(data_dir)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    for name in (TOKEN_KEY, CREDENTIAL_KEY):
        path = directory / name
        if path.exists():
            continue
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(Fernet.generate_key())


def load_key(data_dir: Path, name: str) -> bytes:
    return (keys_dir(data_dir) / name).read_bytes().strip()
