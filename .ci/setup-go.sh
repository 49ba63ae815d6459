#!/usr/bin/env bash
# Installs what the mesos-go end-to-end test needs: the Go toolchain and the
# mesos-go 0.0.6 sources (a pure-Go v0 scheduler driver), both from Debian.
# The test builds its small framework offline against /usr/share/gocode.
# Idempotent: nothing is installed when both are already present.
set -euo pipefail
GOPATH_DIR=${MESOS_COMPAT_GOPATH:-/usr/share/gocode}
if command -v go >/dev/null && [ -d "$GOPATH_DIR/src/github.com/mesos/mesos-go/api/v0/scheduler" ]; then
  echo "setup-go: $(go version) and mesos-go sources in $GOPATH_DIR already present"
  exit 0
fi
SUDO=
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup-go: must run as root or have sudo to install Debian packages" >&2; exit 1; }
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends golang-go golang-github-mesos-mesos-go-dev
command -v go >/dev/null || { echo "setup-go: go is still missing after installing golang-go" >&2; exit 1; }
[ -d "$GOPATH_DIR/src/github.com/mesos/mesos-go/api/v0/scheduler" ] || {
  echo "setup-go: mesos-go sources are still missing under $GOPATH_DIR" >&2; exit 1; }
echo "setup-go: $(go version) and mesos-go sources ready"
