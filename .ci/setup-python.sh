#!/usr/bin/env bash
# Creates .venv with the real third-party clients the compat tests drive:
# pymesos 0.3.15 (v1 HTTP scheduler and executor) and kazoo.
# pymesos depends on http-parser 0.9.0, whose generated C file predates
# Python 3.11: regenerate it with Cython < 3 before installing.
# Idempotent: a venv that already imports pymesos is left alone.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${MESOS_COMPAT_VENV:-$PWD/.venv}
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import pymesos, kazoo' 2>/dev/null; then
  echo "setup-python: $VENV already has pymesos and kazoo"
  exit 0
fi
python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check 'cython<3' kazoo
SRC=$(mktemp -d)
trap 'rm -rf "$SRC"' EXIT
"$VENV/bin/pip" download --quiet --disable-pip-version-check --no-deps --no-binary :all: http-parser==0.9.0 -d "$SRC"
tar xzf "$SRC"/http-parser-0.9.0.tar.gz -C "$SRC"
(
  cd "$SRC/http-parser-0.9.0"
  rm -f http_parser/*.so
  "$VENV/bin/cython" http_parser/parser.pyx
  "$VENV/bin/pip" install --quiet --disable-pip-version-check .
)
"$VENV/bin/pip" install --quiet --disable-pip-version-check pymesos==0.3.15
"$VENV/bin/python" -c 'import pymesos, kazoo; print("setup-python: pymesos", pymesos.__version__ if hasattr(pymesos, "__version__") else "0.3.15", "ready")'
