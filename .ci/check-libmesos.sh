#!/usr/bin/env bash
# Builds the shipped libmesos.so against glibc 2.28 (cargo-zigbuild + zig
# from PyPI, installed by setup-zig.sh) and checks that it is
# self-contained: ldd lists only libc, libm, libpthread, libdl, libgcc_s,
# the vDSO and the loader, and no symbol needs a glibc newer than 2.28.
# Prints the library's path and the highest GLIBC_ version it needs.
set -euo pipefail
cd "$(dirname "$0")/.."
ZIG_BIN=$(bash .ci/setup-zig.sh | tail -1)
export PATH="$ZIG_BIN:$PATH"
TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
cargo zigbuild --release --target x86_64-unknown-linux-gnu.2.28 -p libmesos
LIB="$TARGET_DIR/x86_64-unknown-linux-gnu/release/libmesos.so"
[ -f "$LIB" ] || { echo "check-libmesos: $LIB was not built" >&2; exit 1; }
BAD=$(ldd "$LIB" | awk '{print $1}' | grep -vE '^(linux-vdso\.so\.1|libc\.so\.6|libm\.so\.6|libpthread\.so\.0|libdl\.so\.2|libgcc_s\.so\.1|/lib64/ld-linux-x86-64\.so\.2|ld-linux-x86-64\.so\.2)$' || true)
if [ -n "$BAD" ]; then
  echo "check-libmesos: unexpected shared library dependencies:" >&2
  echo "$BAD" >&2
  exit 1
fi
HIGHEST=$(objdump -T "$LIB" | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1)
echo "check-libmesos: $LIB needs at most $HIGHEST"
if [ "$(printf '%s\n%s\n' "$HIGHEST" GLIBC_2.28 | sort -V | tail -1)" != GLIBC_2.28 ]; then
  echo "check-libmesos: $HIGHEST is newer than GLIBC_2.28" >&2
  exit 1
fi
