"""Real nginx (Debian's package) as a round-robin WebSocket load balancer over relays."""

from __future__ import annotations

import asyncio
import contextlib
import grp
import os
import pwd
import shutil
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from tests.support.net import free_port
from tests.support.prerequisites import missing

__all__ = ["nginx_balancer"]

_CONF = """
{user}
worker_processes 1;
pid {workdir}/nginx.pid;
error_log {workdir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {workdir}/client_body;
    proxy_temp_path {workdir}/proxy;
    fastcgi_temp_path {workdir}/fastcgi;
    uwsgi_temp_path {workdir}/uwsgi;
    scgi_temp_path {workdir}/scgi;
    map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
    upstream relays {{
{servers}
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://relays;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $host;
            proxy_buffering off;
            proxy_read_timeout 3600s;
            proxy_connect_timeout 2s;
            proxy_next_upstream error timeout;
        }}
    }}
}}
"""


def _find_nginx() -> str | None:
    candidates = ("/usr/sbin/nginx", "/usr/local/sbin/nginx")
    return shutil.which("nginx") or next((p for p in candidates if Path(p).exists()), None)


def _make_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)


@contextlib.asynccontextmanager
async def nginx_balancer(ports: Sequence[int], workdir: Path) -> AsyncIterator[int]:
    """nginx in the foreground on a free port, round robin over `ports`; yields its port.

    A replica that refuses connections (killed) is skipped for the next one."""
    binary = _find_nginx()
    if binary is None:
        missing("nginx is not installed (Debian package nginx)")
    _make_dir(workdir)
    user = ""
    if os.geteuid() == 0:  # workers would otherwise drop to `nobody`
        user = f"user {pwd.getpwuid(os.geteuid()).pw_name} {grp.getgrgid(os.getegid()).gr_name};"
    port = free_port()
    servers = "\n".join(f"        server 127.0.0.1:{p} max_fails=1 fail_timeout=1s;" for p in ports)
    conf = workdir / "nginx.conf"
    conf.write_text(_CONF.format(user=user, workdir=workdir, servers=servers, port=port))
    proc = await asyncio.create_subprocess_exec(
        binary,
        "-p",
        str(workdir),
        "-c",
        str(conf),
        "-e",
        str(workdir / "error.log"),
        "-g",
        "daemon off;",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        async with asyncio.timeout(20):
            while True:
                assert proc.returncode is None, (workdir / "error.log").read_text()
                try:
                    _, writer = await asyncio.open_connection("127.0.0.1", port)
                except OSError:
                    await asyncio.sleep(0.05)
                    continue
                writer.close()
                break
        yield port
    finally:
        if proc.returncode is None:
            proc.terminate()
        async with asyncio.timeout(20):
            await proc.wait()
