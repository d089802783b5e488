"""`--stable`: CPU figures that can be compared across days.

CPU seconds per event move with whatever else the machine does (another VM
on the same host, a CPU's frequency), so `--stable` adds what is known to
move less:

- before each scenario, the benchmark waits (bounded) until both of its cores
  are idle, and records whether they were (`machine_idle`);
- each CPU figure is split into user and system time, from the target's
  `/proc/<pid>/stat` (system time is mostly the read and write system calls,
  which the relay and nginx pay alike);
- where `perf stat -e instructions` counts on this machine, the instructions
  the target retired in each measured window, per event. Many virtual machines
  expose no hardware counters: perf then prints `<not supported>`, and the
  benchmark says so instead of reporting a number.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import subprocess
import time

from bench.procstat import core_sample

__all__ = ["InstructionCounter", "instructions_status", "parse_instructions", "wait_idle"]

IDLE_BUSY = 0.05  # a core this busy or less counts as idle


def parse_instructions(output: str) -> int | None:
    """The instruction count in `perf stat -x, -e instructions` output, else None."""
    for line in output.splitlines():
        fields = line.split(",")
        if len(fields) >= 3 and fields[2].startswith("instructions"):
            value = fields[0].strip()
            return int(value) if value.isdigit() else None
    return None


def instructions_status() -> str | None:
    """None when `perf stat -e instructions` counts on this machine, else why not."""
    perf = shutil.which("perf")
    if perf is None:
        return "perf is not installed"
    try:
        done = subprocess.run(  # noqa: S603 - a fixed command
            [perf, "stat", "-x", ",", "-e", "instructions", "true"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"perf stat failed: {exc}"
    if parse_instructions(done.stderr) is not None:
        return None
    first = next((line for line in done.stderr.splitlines() if line.strip()), "no output")
    return f"perf stat -e instructions printed: {first.strip()[:120]}"


class InstructionCounter:
    """`perf stat -e instructions` attached to some processes for one window."""

    def __init__(self, pids: list[int]) -> None:
        self._pids = pids
        self._process: subprocess.Popen[str] | None = None

    def start(self) -> None:
        perf = shutil.which("perf")
        if perf is None or not self._pids:
            return
        self._process = subprocess.Popen(  # noqa: S603 - a fixed command
            [perf, "stat", "-x", ",", "-e", "instructions", "-p", ",".join(map(str, self._pids))],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )

    def stop(self) -> int | None:
        process, self._process = self._process, None
        if process is None:
            return None
        process.send_signal(signal.SIGINT)  # perf prints its counts when interrupted
        try:
            _, errors = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.communicate(timeout=5)
            return None
        return parse_instructions(errors)


async def wait_idle(cores: list[int], max_seconds: float = 30.0, window: float = 1.0) -> bool:
    """Wait until every core in `cores` was at most `IDLE_BUSY` busy over `window` seconds.

    Bounded: False when the machine never went quiet within `max_seconds`."""
    deadline = time.monotonic() + max_seconds
    while True:
        before = core_sample()
        await asyncio.sleep(window)
        after = core_sample()
        if all(before.busy_fraction(after, core) <= IDLE_BUSY for core in cores):
            return True
        if time.monotonic() >= deadline:
            return False
