"""Process and CPU accounting from /proc (Linux only, no dependencies)."""

from __future__ import annotations

import os
import platform
import resource
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "CoreSample",
    "Machine",
    "core_sample",
    "machine",
    "process_tree",
    "raise_nofile",
    "self_cpu_seconds",
    "tree_cpu_seconds",
    "tree_cpu_split",
    "tree_rss_kib",
    "tree_runqueue_wait_seconds",
]

_TICKS = os.sysconf("SC_CLK_TCK")
_PROC = Path("/proc")


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (field 3 onward)."""
    try:
        text = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return text[text.rfind(")") + 2 :].split()


def process_tree(pid: int) -> list[int]:
    """`pid` and all its descendants."""
    children: dict[int, list[int]] = {}
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, ()))
    return tree


def tree_cpu_split(pids: list[int]) -> tuple[float, float]:
    """(utime, stime) of these processes, in seconds (processes that are gone count 0)."""
    user = system = 0
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is not None:
            user += int(fields[11])
            system += int(fields[12])
    return user / _TICKS, system / _TICKS


def tree_cpu_seconds(pids: list[int]) -> float:
    """utime + stime of these processes, in seconds (processes that are gone count 0)."""
    return sum(tree_cpu_split(pids))


def tree_rss_kib(pids: list[int]) -> int:
    """Sum of VmRSS of these processes, in KiB."""
    total = 0
    for pid in pids:
        try:
            status = (_PROC / str(pid) / "status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
                break
    return total


def tree_runqueue_wait_seconds(pids: list[int]) -> float:
    """Time these processes' threads spent runnable but waiting for a CPU (schedstat)."""
    total = 0
    for pid in pids:
        try:
            tasks = list((_PROC / str(pid) / "task").iterdir())
        except OSError:
            continue
        for task in tasks:
            try:
                total += int((task / "schedstat").read_text().split()[1])
            except (OSError, IndexError, ValueError):
                continue
    return total / 1e9


def self_cpu_seconds() -> float:
    """This process's own user + system CPU seconds."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass(frozen=True, slots=True)
class CoreSample:
    """Busy and total jiffies of each CPU, from /proc/stat."""

    busy: dict[int, int]
    total: dict[int, int]

    def busy_fraction(self, later: CoreSample, cpu: int) -> float:
        total = later.total.get(cpu, 0) - self.total.get(cpu, 0)
        if total <= 0:
            return 0.0
        return (later.busy.get(cpu, 0) - self.busy.get(cpu, 0)) / total


def core_sample() -> CoreSample:
    busy: dict[int, int] = {}
    total: dict[int, int] = {}
    for line in (_PROC / "stat").read_text().splitlines():
        if not line.startswith("cpu") or line.startswith("cpu "):
            continue
        name, *values = line.split()
        cpu = int(name[3:])
        numbers = [int(v) for v in values[:8]]
        idle = numbers[3] + numbers[4]  # idle + iowait
        total[cpu] = sum(numbers)
        busy[cpu] = total[cpu] - idle
    return CoreSample(busy, total)


def raise_nofile(wanted: int = 65536) -> int:
    """Raise this process's (and its children's) open-file limit; returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        return target
    return soft


@dataclass(frozen=True, slots=True)
class Machine:
    arch: str
    cpu_model: str
    cpus: int
    python: str


def machine() -> Machine:
    model = "unknown"
    try:
        for line in (_PROC / "cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return Machine(
        arch=platform.machine(),
        cpu_model=model,
        cpus=len(os.sched_getaffinity(0)),
        python=sys.version.split()[0],
    )
