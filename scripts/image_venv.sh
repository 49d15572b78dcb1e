#!/bin/sh
# The Docker image's virtualenv, built the same way by the Dockerfile and by tests/distribution
# (which reproduces the image without a Docker engine): so "the wheels the image installs" is one
# definition, not two.
#
#   scripts/image_venv.sh deps WHEELS        the pinned dependencies of requirements.txt as wheels
#   scripts/image_venv.sh venv WHEELS VENV   the tool's own wheel (needs static/build/), then VENV
#                                            from WHEELS only (no index), then scripts/slim_venv.py
#
# PYTHON names the interpreter (python3 in the image: the base image's 3.12). Run from the
# checkout's root (the Dockerfile's WORKDIR).
set -eu
PYTHON=${PYTHON:-python3}
step=${1:?usage: image_venv.sh deps WHEELS | venv WHEELS VENV}
wheels=${2:?the wheel folder}

case "$step" in
  deps)
    "$PYTHON" -m pip wheel --quiet --wheel-dir "$wheels" -r requirements.txt
    ;;
  venv)
    venv=${3:?the virtualenv folder}
    # The tool's wheel: hatchling (pinned in pyproject.toml) in an isolated build environment.
    "$PYTHON" -m pip wheel --quiet --no-deps --wheel-dir "$wheels" .
    # No pip inside the venv (the base image has its own); bytecode is compiled at install, since
    # site-packages is read-only for the non-root user and each child process imports SQLAlchemy
    # and Alembic afresh (without .pyc files that import takes 3x longer: docs/docker.md).
    "$PYTHON" -m venv --without-pip "$venv"
    "$PYTHON" -m pip --python "$venv/bin/python" install --quiet --no-index --no-cache-dir \
      --find-links "$wheels" pgadmin-for-python
    "$PYTHON" scripts/slim_venv.py "$venv"
    ;;
  *)
    echo "image_venv.sh: unknown step $step (deps or venv)" >&2
    exit 2
    ;;
esac
