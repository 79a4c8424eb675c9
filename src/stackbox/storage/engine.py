"""The storage engine (placeholder until the real engine lands)."""

from __future__ import annotations

from pathlib import Path


class Engine:
    def __init__(self, data_dir: Path, *, fsync: bool = True) -> None:
        self.data_dir = data_dir

    @classmethod
    def recover(cls, data_dir: Path) -> None:
        """Clean up what an interrupted process left behind; called once before the workers start."""
