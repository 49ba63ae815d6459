#!/usr/bin/env bash
# The one command that runs every test (README "Test"). CI calls exactly this.
# It installs what the tests need (the pymesos venv), builds the binaries the
# end-to-end tests start, then runs formatting, lints and all tests.
# A missing prerequisite is a loud failure, never a silent skip.
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in cargo python3; do
  command -v "$tool" >/dev/null || { echo "test-all: '$tool' is required but not installed" >&2; exit 1; }
done

echo "== python clients (pymesos, kazoo)"
bash .ci/setup-python.sh

echo "== format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings

echo "== build binaries for the end-to-end tests"
cargo build --workspace --bins

echo "== tests"
cargo test --workspace
