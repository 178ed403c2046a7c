# The gateway daemon. Build from any base that has python3 (3.11+) with venv, e.g. the official slim
# image (default) or a local one where no container registry is reachable:
#   docker build --network host --build-arg BASE_IMAGE=local/python-base:bookworm -t gateway .
# Runtime: JSON logs on stdout, state in the /data volume, secrets from /run/secrets (never baked in).
ARG BASE_IMAGE=python:3.11-slim

# --- build: a virtualenv holding the dependencies, then the package ------------------------------------
FROM ${BASE_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python3 -m venv /opt/venv
WORKDIR /src
# Dependencies first, from pyproject.toml alone, so that a code change does not reinstall them.
COPY pyproject.toml ./
RUN python3 -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > requirements.txt \
 && /opt/venv/bin/pip install -r requirements.txt
COPY README.md ./
COPY gateway ./gateway
RUN /opt/venv/bin/pip install --no-deps . \
 && /opt/venv/bin/python -m compileall -q /opt/venv/lib

# --- runtime: the virtualenv and the config, as a non-root user --------------------------------------
FROM ${BASE_IMAGE}
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    GATEWAY__PERSISTENCE__DATA_DIR=/data
RUN groupadd --gid 10001 gateway \
 && useradd --uid 10001 --gid gateway --home-dir /app --no-create-home --shell /usr/sbin/nologin gateway \
 && mkdir -p /data \
 && chown gateway:gateway /data
COPY --from=build /opt/venv /opt/venv
COPY config /app/config
WORKDIR /app
USER gateway
VOLUME ["/data"]
EXPOSE 8765 8080
# /ready: 200 when every venue is connected and its caches are warm. No curl needed.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; u.urlopen('http://127.0.0.1:' + os.environ.get('GATEWAY__HTTP__PORT', '8080') + '/ready', timeout=4)"]
# Exec form: the daemon is PID 1 and receives SIGTERM itself (it exits within shutdown_timeout_s).
ENTRYPOINT ["gateway"]
CMD ["run", "--config", "/app/config/docker.yaml", "--log-format", "json"]
