#!/usr/bin/env bash
# The one command that runs every test (README "Test"). CI calls exactly this.
# It installs what the tests need (the pymesos venv; ZooKeeper, Go,
# mesos-go, promtool and Chromium from Debian), builds the binaries the end-to-end tests start, then runs
# formatting, lints and all tests.
# A missing prerequisite is a loud failure, never a silent skip.
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in cargo python3; do
  command -v "$tool" >/dev/null || { echo "test-all: '$tool' is required but not installed" >&2; exit 1; }
done

# A clean build keeps no incremental caches: they only cost disk here.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
# The debug and release builds take about 7.5 GiB (less what an earlier
# build left in the target directory); say so up front rather than fail
# deep inside a compile.
TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
TARGET_PARENT="$TARGET_DIR"
while [ ! -d "$TARGET_PARENT" ]; do TARGET_PARENT=$(dirname "$TARGET_PARENT"); done
FREE_KB=$(df -Pk "$TARGET_PARENT" | awk 'NR==2 {print $4}')
BUILT_KB=0
[ -d "$TARGET_DIR" ] && BUILT_KB=$(du -sk "$TARGET_DIR" | awk '{print $1}')
NEED_KB=$((15 * 1024 * 1024 / 2 - BUILT_KB))
echo "test-all: $((FREE_KB / 1024)) MiB free for the build in $TARGET_PARENT, $((NEED_KB > 0 ? NEED_KB / 1024 : 0)) MiB needed"
if [ "$FREE_KB" -lt "$NEED_KB" ]; then
  echo "test-all: not enough free disk for the builds and test sandboxes" >&2
  exit 1
fi

echo "== python clients (pymesos, kazoo)"
bash .ci/setup-python.sh
echo "== ZooKeeper 3.8 (Debian)"
bash .ci/setup-zookeeper.sh
echo "== network namespaces (iproute2) for the partition test"
bash .ci/setup-netns.sh
echo "== Go toolchain and mesos-go sources"
bash .ci/setup-go.sh
echo "== openssl and curl for the TLS tests"
bash .ci/setup-tls.sh
echo "== Spark (pyspark 3.5.9) for the libmesos tests"
bash .ci/setup-spark.sh
echo "== promtool and headless Chromium (Debian) for the metrics and web UI tests"
bash .ci/setup-operator-tools.sh

echo "== format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings

echo "== build binaries for the end-to-end tests"
cargo build --workspace --bins
# libmesos.so, which the Spark and Java framework tests load into the JVM.
cargo build -p libmesos

echo "== tests"
cargo test --workspace --no-fail-fast

echo "== the 60,000-resource registration against a release master (its bounds are for optimized daemons)"
cargo build --release -p mesos-master --bin mesos-master
MESOS_HOSTILE_BINARIES="${CARGO_TARGET_DIR:-$PWD/target}/release" \
  cargo test -p compat-tests --test hostile_inputs -- --ignored agent_registering_60000

echo "== libmesos.so for glibc 2.28: self-contained, then the JVM tests against that build"
bash .ci/check-libmesos.sh
MESOS_COMPAT_LIBMESOS="${CARGO_TARGET_DIR:-$PWD/target}/x86_64-unknown-linux-gnu/release/libmesos.so" \
  cargo test -p compat-tests --test spark_on_mesos

echo "== conformance kit: the client tests against an already running cluster"
# The same third-party client tests, pointed by MESOS_COMPAT_MASTER/_AGENT at
# a cluster started separately (here our own mesos-local; any Mesos works).
# Ports below the kernel's ephemeral range (as the test harness picks
# them): a bind(0) port can be taken by an outgoing connection's local end
# before mesos-local binds it.
read -r MPORT APORT < <(python3 -c 'import random, socket
low = min(int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0]), 31000)
found = []
while len(found) < 2:
    p = random.randrange(10000, low)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        continue
    finally:
        s.close()
    if p not in found:
        found.append(p)
print(*found)')
KIT_DIR=$(mktemp -d)
./target/debug/mesos-local --port="$MPORT" --agent_port="$APORT" --work_dir="$KIT_DIR" > "$KIT_DIR/mesos-local.log" 2>&1 &
KIT_PID=$!
trap 'kill "$KIT_PID" 2>/dev/null; wait "$KIT_PID" 2>/dev/null; rm -rf "$KIT_DIR"' EXIT
for _ in $(seq 1 100); do
  grep -q "Local Mesos cluster is up" "$KIT_DIR/mesos-local.log" && break
  kill -0 "$KIT_PID" 2>/dev/null || { cat "$KIT_DIR/mesos-local.log"; echo "mesos-local died" >&2; exit 1; }
  sleep 0.2
done
grep -q "Local Mesos cluster is up" "$KIT_DIR/mesos-local.log" || { cat "$KIT_DIR/mesos-local.log"; echo "mesos-local did not come up" >&2; exit 1; }
MESOS_COMPAT_MASTER="127.0.0.1:$MPORT" MESOS_COMPAT_AGENT="127.0.0.1:$APORT" \
  cargo test -p compat-tests --test pymesos_e2e --test scheduler_api --test rust_client --test mesos_go_v0
