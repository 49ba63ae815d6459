#!/usr/bin/env bash
# Installs the toolchain that links libmesos.so against an old glibc (2.28) so
# the library loads in RHEL 8 / Debian 10 era images: PyPI's ziglang and
# cargo-zigbuild, in a virtualenv, and the Rust target.
# Idempotent. Prints the directory to put on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${MESOS_ZIG_VENV:-$PWD/.zig-venv}
if ! { [ -x "$VENV/bin/cargo-zigbuild" ] && "$VENV/bin/python" -m ziglang version >/dev/null 2>&1; }; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check ziglang cargo-zigbuild
fi
rustup target list --installed 2>/dev/null | grep -qx x86_64-unknown-linux-gnu || rustup target add x86_64-unknown-linux-gnu
echo "$VENV/bin"
