from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloud import RunningCloud, start_cloud


@pytest.fixture(scope="session")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCloud]:
    """One stackbox server (2 workers) shared by the whole test session."""
    running = start_cloud(Path(tmp_path_factory.mktemp("cloud")) / "data")
    yield running
    running.stop(signal.SIGTERM)
