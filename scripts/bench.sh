#!/usr/bin/env bash
# Benchmarks (`make bench`): prints figures, each compared with a baseline measured in the same run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/venv.sh
source scripts/venv.sh
ensure_venv
exec .venv/bin/python -m benchmarks.engine
