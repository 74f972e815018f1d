#!/usr/bin/env bash
# Installs what is missing (scripts/setup.sh), then runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export TINYDEPLOY_QUIET=1 TF_CPP_MIN_LOG_LEVEL=3
exec .venv/bin/python -m pytest "$@"
