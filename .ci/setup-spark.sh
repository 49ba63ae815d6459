#!/usr/bin/env bash
# Installs what the Spark-on-Mesos end-to-end tests need: pyspark 3.5.9 from
# PyPI (it ships spark-submit, the Mesos scheduler backend and the upstream
# mesos-1.4.3-shaded-protobuf.jar whose natives our libmesos.so implements)
# in a virtualenv. Java 17 must already be on the machine.
# Idempotent: a venv that already imports pyspark 3.5.9 is left alone.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${MESOS_SPARK_VENV:-$PWD/.spark-venv}
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import pyspark, sys; sys.exit(pyspark.__version__ != "3.5.9")' 2>/dev/null; then
  echo "setup-spark: $VENV already has pyspark 3.5.9"
  exit 0
fi
command -v java >/dev/null || { echo "setup-spark: java is required (Java 17)" >&2; exit 1; }
python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check pyspark==3.5.9
"$VENV/bin/python" -c 'import pyspark; print("setup-spark: pyspark", pyspark.__version__, "in", pyspark.__path__[0])'
