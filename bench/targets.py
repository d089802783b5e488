"""Starting and stopping the processes under test: the fake upstream, nginx, the peers, the relay.

Every process listens on 127.0.0.1 only. nginx and the relay are pinned to
the target core; the fake upstream shares the load generator's core unless
the machine has a third one to spare.
"""

from __future__ import annotations

import asyncio
import contextlib
import grp
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.procstat import process_tree
from bench.protocol import GA_PATH

__all__ = [
    "NGINX_CANDIDATES",
    "Started",
    "find_nginx",
    "free_port",
    "nginx_version",
    "node_peer_versions",
    "start_fake",
    "start_floor",
    "start_granian",
    "start_nginx",
    "start_node_peer",
    "start_peer",
    "start_relay",
    "stop",
]

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_DIR = BENCH_DIR.parent
NODE_PEER_DIR = BENCH_DIR / "node_peer"
NGINX_CANDIDATES = ("/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx")
_SCRUBBED_PREFIXES = ("RELAY_", "AZURE_", "OPENAI_")


@dataclass(slots=True)
class Started:
    """A running process under test."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    path: str
    log: Path
    pids: tuple[int, ...] = field(default=())

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def free_port() -> int:
    """A loopback port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _pin(core: int | None) -> Callable[[], None] | None:
    if core is None:
        return None

    def pin() -> None:
        os.sched_setaffinity(0, {core})

    return pin


async def _wait_listening(started: Started, limit: float = 20.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if started.process.poll() is not None:
            raise RuntimeError(
                f"{started.name} exited with status {started.process.returncode}:\n"
                f"{started.log_tail()}"
            )
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", started.port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return
    raise RuntimeError(f"{started.name} did not listen on {started.port} in {limit:.0f} s")


async def start_fake(core: int | None, workdir: Path) -> Started:
    """The fake upstream in its own process; it reports its port on stdout."""
    log = workdir / "fake_upstream.log"
    command = [sys.executable, "-m", "bench.fake_upstream", "--host", "127.0.0.1", "--port", "0"]
    with log.open("wb") as stderr:  # the child keeps its own copy
        process = subprocess.Popen(  # noqa: ASYNC220, S603 - a fast fork/exec of our own module
            command,
            cwd=PROJECT_DIR,
            stdout=subprocess.PIPE,
            stderr=stderr,
            preexec_fn=_pin(core),
        )
    assert process.stdout is not None
    line = await asyncio.wait_for(asyncio.to_thread(process.stdout.readline), 20)
    if not line.startswith(b"LISTENING "):
        process.kill()
        raise RuntimeError(f"the fake upstream did not start: {line!r}")
    started = Started("fake upstream", process, int(line.split()[1]), GA_PATH, log)
    started.pids = (process.pid,)
    return started


async def start_relay(
    upstream_port: int,
    core: int | None,
    workdir: Path,
    tools_file: Path | None = None,
    extra_env: dict[str, str] | None = None,
    name: str = "relay",
) -> Started:
    """`python -m app`, configured for the benchmark by environment variables only.

    It runs in an empty working directory so that no `.env` file changes its
    configuration, and inherits no RELAY_/AZURE_/OPENAI_ variables. With
    `tools_file`, it runs with server tools configured (RELAY_TOOLS_FILE).
    """
    port = free_port()
    env = _relay_env(upstream_port, port, tools_file, extra_env)
    relay_dir = workdir / name
    relay_dir.mkdir(exist_ok=True)
    return await _start_relay_process(
        name, [sys.executable, "-m", "app"], port, core, relay_dir, env, workdir
    )


async def start_floor(upstream_port: int, core: int | None, workdir: Path) -> Started:
    """`python -m bench.floor`: the relay with its policy taken out, only as a measurement."""
    port = free_port()
    env = _relay_env(upstream_port, port, None, None)
    floor_dir = workdir / "floor"
    floor_dir.mkdir(exist_ok=True)
    command = [sys.executable, "-m", "bench.floor"]
    return await _start_relay_process("floor", command, port, core, floor_dir, env, workdir)


async def start_granian(upstream_port: int, core: int | None, workdir: Path) -> Started:
    """The same relay app under granian (a compiled ASGI server), only as a measurement.

    It has the relay's settings and app but not uvicorn's protocols, so none of
    `app.protocols`' bounds: the product's server stays uvicorn. One worker,
    one single-threaded runtime, pinned like the relay.
    """
    port = free_port()
    env = _relay_env(upstream_port, port, None, None)
    relay_dir = workdir / "granian"
    relay_dir.mkdir(exist_ok=True)
    arguments = [
        *(
            sys.executable,
            "-m",
            "granian",
            "--interface",
            "asgi",
            "--factory",
            "app.main:create_app",
        ),
        *("--host", "127.0.0.1", "--port", str(port), "--loop", "uvloop"),
        *("--workers", "1", "--runtime-threads", "1", "--log-level", "warning"),
        # Its cheapest per append of the four ways tried (default, st, rust tasks, both).
        *("--runtime-mode", "st", "--task-impl", "rust"),
    ]
    return await _start_relay_process("granian", arguments, port, core, relay_dir, env, workdir)


def _relay_env(
    upstream_port: int, port: int, tools_file: Path | None, extra_env: dict[str, str] | None
) -> dict[str, str]:
    """The relay's configuration for the benchmark: environment variables only."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED_PREFIXES)}
    env.update(
        {
            "RELAY_UPSTREAM": "simulator",
            "AZURE_OPENAI_ENDPOINT": f"http://127.0.0.1:{upstream_port}",
            "RELAY_AUTH": "none",
            "RELAY_HOST": "127.0.0.1",
            "RELAY_PORT": str(port),
            "RELAY_MAX_SESSIONS": "1000",
            "RELAY_CLIENT_EVENTS_PER_SECOND": "100000",
            "RELAY_CLIENT_EVENTS_BURST": "100000",
            "RELAY_LOG_LEVEL": "WARNING",
            "RELAY_IDLE_TIMEOUT_SECONDS": "3600",
            "RELAY_DRAIN_SECONDS": "1",
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(PROJECT_DIR), env.get("PYTHONPATH", "")) if p
            ),
        }
    )
    if tools_file is not None:
        env["RELAY_TOOLS_FILE"] = str(tools_file)  # absolute: the relay runs elsewhere
    env.update(extra_env or {})
    return env


async def start_peer(upstream_port: int, core: int | None, workdir: Path) -> Started:
    """`python -m bench.peer`: the minimal aiohttp relay, pinned like the relay."""
    port = free_port()
    upstream = f"ws://127.0.0.1:{upstream_port}{GA_PATH}?model=bench"
    arguments = [sys.executable, "-m", "bench.peer", "--port", str(port), "--upstream", upstream]
    return await _start_relay_process("peer", arguments, port, core, PROJECT_DIR, None, workdir)


def find_node_peer() -> str:
    """The `node` binary for the Node peer; raises, saying how to get it, when it can't run."""
    node = shutil.which("node")
    if node is None:
        raise RuntimeError(
            "node not found; install Node.js and npm (apt-get install -y nodejs npm), "
            "then make bench, or run without the node target"
        )
    if not (NODE_PEER_DIR / "node_modules" / "ws" / "package.json").exists():
        raise RuntimeError(
            "the Node peer's ws package is not installed; make bench installs it "
            "(npm install --no-package-lock in bench/node_peer)"
        )
    return node


def node_peer_versions() -> str:
    """`node` and `ws` versions, as the header gives them ("n/a" for what is missing)."""
    node = shutil.which("node")
    version = "n/a"
    if node is not None:
        done = subprocess.run(  # noqa: S603 - fixed argv
            [node, "--version"], capture_output=True, text=True, check=False
        )
        version = done.stdout.strip() or "n/a"
    ws = NODE_PEER_DIR / "node_modules" / "ws" / "package.json"
    ws_version = json.loads(ws.read_text("utf-8"))["version"] if ws.exists() else "n/a"
    return f"node {version}, ws {ws_version}"


async def start_node_peer(
    node: str, upstream_port: int, core: int | None, workdir: Path
) -> Started:
    """`node bench/node_peer/relay.mjs`: the minimal `ws` relay, pinned like the relay."""
    port = free_port()
    upstream = f"ws://127.0.0.1:{upstream_port}{GA_PATH}?model=bench"
    command = [node, str(NODE_PEER_DIR / "relay.mjs"), "--port", str(port), "--upstream", upstream]
    return await _start_relay_process("node", command, port, core, NODE_PEER_DIR, None, workdir)


async def _start_relay_process(
    name: str,
    command: list[str],
    port: int,
    core: int | None,
    cwd: Path,
    env: dict[str, str] | None,
    workdir: Path,
) -> Started:
    """`command` pinned to `core`, serving `/realtime` on `port`, logged to `<name>.log`;
    returns once it listens."""
    log = workdir / f"{name}.log"
    with log.open("wb") as stderr:  # the child keeps its own copy
        process = subprocess.Popen(  # noqa: ASYNC220, S603 - a fast fork/exec of our own program
            command,
            cwd=cwd,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            preexec_fn=_pin(core),
        )
    started = Started(name, process, port, "/realtime", log)
    await _wait_listening(started)
    started.pids = tuple(process_tree(process.pid))
    return started


def find_nginx() -> str | None:
    for candidate in (shutil.which("nginx"), *NGINX_CANDIDATES):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def nginx_version(binary: str) -> str:
    result = subprocess.run(  # noqa: S603
        [binary, "-v"], capture_output=True, text=True, check=False
    )
    return (result.stderr or result.stdout).strip().removeprefix("nginx version: ")


def render_nginx_conf(upstream_port: int, port: int, core: int | None, workdir: Path) -> str:
    """`bench/nginx.conf` with its @@PLACEHOLDERS@@ filled in."""
    template = (BENCH_DIR / "nginx.conf").read_text()
    user = ""
    if os.geteuid() == 0:  # workers would otherwise drop to `nobody`
        user = f"user {pwd.getpwuid(os.geteuid()).pw_name} {grp.getgrgid(os.getegid()).gr_name};"
    mask = "auto" if core is None else format(1 << core, "b")
    values = {
        "@@USER@@": user,
        "@@CPU_MASK@@": mask,
        "@@WORKDIR@@": str(workdir),
        "@@PORT@@": str(port),
        "@@UPSTREAM_PORT@@": str(upstream_port),
    }
    for key, value in values.items():
        template = template.replace(key, value)
    return template


async def start_nginx(binary: str, upstream_port: int, core: int | None, workdir: Path) -> Started:
    """nginx in the foreground, one worker, as a WebSocket passthrough to the fake."""
    port = free_port()
    prefix = workdir / "nginx"
    prefix.mkdir(exist_ok=True)
    conf = prefix / "nginx.conf"
    conf.write_text(render_nginx_conf(upstream_port, port, core, prefix))
    log = prefix / "stderr.log"
    command = [binary, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")]
    with log.open("wb") as stderr:  # the child keeps its own copy
        process = subprocess.Popen(  # noqa: ASYNC220, S603 - a fast fork/exec
            [*command, "-g", "daemon off;"],
            cwd=prefix,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            preexec_fn=_pin(core),
        )
    started = Started("nginx", process, port, GA_PATH + "?model=bench", prefix / "error.log")
    await _wait_listening(started)
    for _ in range(100):  # the worker appears shortly after the master listens
        tree = process_tree(process.pid)
        if len(tree) > 1:
            break
        await asyncio.sleep(0.02)
    started.pids = tuple(tree)
    return started


async def stop(started: Started, grace: float = 15.0) -> None:
    """SIGTERM, then SIGKILL after `grace` seconds; only the process we started."""
    process = started.process
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(process.wait, grace)
        except subprocess.TimeoutExpired:
            process.kill()
            await asyncio.to_thread(process.wait)
    if process.stdout is not None:
        process.stdout.close()
