# The relay image. The same image also runs the bundled simulator
# (`python -m app.simulator ...`), which is how docker-compose.yml uses it.
#
# Stage 1 installs the relay and its pinned dependencies into a virtualenv.
# Every runtime dependency ships a binary wheel for CPython 3.11, so no
# compiler is needed; the stage exists to keep pip's build environment, the
# project sources and the build metadata out of the runtime image.
FROM python:3.11-slim AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
ENV PATH="/opt/venv/bin:${PATH}"

WORKDIR /src
# Only what the build needs: metadata, the version pins and the package.
COPY pyproject.toml constraints.txt README.md ./
COPY app/ ./app/
RUN pip install --no-cache-dir -c constraints.txt .


# Stage 2: the runtime. Python, the virtualenv, an unprivileged user; nothing else.
FROM python:3.11-slim AS runtime

RUN groupadd --system --gid 10001 relay \
 && useradd --system --uid 10001 --gid relay --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin relay

COPY --from=build /opt/venv /opt/venv

ENV PATH="/opt/venv/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    RELAY_HOST=0.0.0.0 \
    RELAY_PORT=8000 \
    RELAY_LOG_FORMAT=json

# The relay imports from the installed package; /app holds no code and is not
# writable by the relay user. Settings() would read /app/.env if one were
# mounted here, but configuration normally arrives as environment variables.
WORKDIR /app
USER 10001:10001

EXPOSE 8000

# Liveness over plain HTTP with the standard library (the slim image has no curl).
# urlopen raises on connection errors and on any non-2xx status, so the exit code
# is non-zero exactly when /healthz is not answering 200.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('RELAY_PORT', '8000') + '/healthz', timeout=3)"]

# The relay shuts down gracefully on SIGTERM, closing its sessions before it
# exits; give the container a stop grace period (docker stop -t, compose
# stop_grace_period) of at least RELAY_DRAIN_SECONDS + 9 s, the worst-case
# shutdown time the relay logs at startup as shutdown_budget_seconds.
STOPSIGNAL SIGTERM

# `python -m app` (app/launcher.py), not a bare uvicorn command line: only the
# launcher applies the relay's WebSocket limits, ping settings and logging.
CMD ["python", "-m", "app"]
