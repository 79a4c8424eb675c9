"""CPU time each server process (and the daemons behind it) spends per request in a benchmark.

On a shared 2-core machine requests per second move with everyone else's load; CPU time per request
moves much less and says where the time goes: in the front end, in the OSD, in PostgreSQL.
A `CpuLedger` wraps bench/run.py's timed runs (`run_wrk`, `run_once`, `large_s3`) and charges the CPU
time that each process tree of the target that ran spent during the run to that target, per request.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import run
from run import Target

TICK = os.sysconf("SC_CLK_TCK")


def process_table() -> dict[int, list[str]]:
    """/proc/PID/stat of every process, split after the command name (fields 3 and on)."""
    table = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                table[int(entry.name)] = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
    return table


def tree_cpu_seconds(root: int, table: dict[int, list[str]]) -> float:
    """User + system time of `root`, its live descendants and the children it has reaped."""
    def descends(pid: int) -> bool:
        while pid > 1:
            if pid == root:
                return True
            pid = int(table[pid][1]) if pid in table else 0
        return False

    ticks = sum(int(fields[11]) + int(fields[12]) for pid, fields in table.items() if descends(pid))
    if root in table:
        ticks += int(table[root][13]) + int(table[root][14])
    return ticks / TICK


@dataclass
class CpuLedger:
    #: target name -> role ("server", "OSD", "PostgreSQL") -> root pid of that process tree
    roles: dict[str, dict[str, int]] = field(default_factory=dict)
    #: (measurement, target name, role) -> CPU per request of every run, ms (large objects: s)
    spent: dict[tuple[str, str, str], list[float]] = field(default_factory=dict)

    def snapshot(self, target: Target) -> dict[str, float]:
        table = process_table()
        return {role: tree_cpu_seconds(pid, table) for role, pid in self.roles.get(target.name, {}).items()}

    def charge(self, target: Target, measurement: str, before: dict[str, float], requests: float,
               scale: float = 1000.0) -> None:
        after = self.snapshot(target)
        for role, seconds in before.items():
            per_request = (after[role] - seconds) * scale / requests if requests else 0.0
            self.spent.setdefault((measurement, target.name, role), []).append(per_request)

    def install(self) -> None:
        """Wrap bench/run.py's timed runs so that each charges this ledger."""
        timed_rate, timed_once, timed_large = run.run_wrk, run.run_once, run.large_s3

        def run_wrk(target: Target, records: list[bytes], connections: int,
                    duration: float) -> dict[str, float]:
            before = self.snapshot(target)
            result = timed_rate(target, records, connections, duration)
            method = records[0].split(b" ", 1)[0].decode()
            self.charge(target, f"{method} 4KiB @{connections}", before,
                        result["ops"] * max(1, round(duration)))
            return result

        def run_once(target: Target, records: list[bytes], connections: int) -> dict[str, float]:
            before = self.snapshot(target)
            result = timed_once(target, records, connections)
            self.charge(target, f"DELETE @{connections}", before, len(records))
            return result

        def large_s3(target: Target, bucket: str, repeats: int = 3, **options: Any) -> tuple[float, float]:
            before = self.snapshot(target)
            result = timed_large(target, bucket, repeats, **options)
            self.charge(target, "64MiB PUT + GET, s", before, repeats, scale=1.0)
            return result

        run.run_wrk, run.run_once, run.large_s3 = run_wrk, run_once, large_s3

    def report(self, targets: list[Target]) -> Iterator[str]:
        """One row per measurement: each target's CPU per request by role, medians."""
        names = [target.name for target in targets]
        yield "| CPU per request, ms (medians) | " + " | ".join(names) + " |"
        yield "|" + "---|" * (len(names) + 1)
        for measurement in dict.fromkeys(key[0] for key in self.spent):
            cells = [self.cell(measurement, name) for name in names]
            yield f"| {measurement} | " + " | ".join(cells) + " |"

    def cell(self, measurement: str, name: str) -> str:
        parts = [f"{role} {statistics.median(values):.2f}"
                 for (kind, target, role), values in self.spent.items()
                 if kind == measurement and target == name]
        return ", ".join(parts) or "-"
