#!/usr/bin/env bash
# THE product command (`make run`): bootstrap the virtualenv, then run the demo
# (`roadmap demo` initialises an SQLite file database with demo data and starts
# the product). Extra arguments are passed to `roadmap demo`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# shellcheck source=scripts/venv.sh
source scripts/venv.sh

ensure_venv
# The product keeps its data (SQLite file, stored files) in var/ unless told otherwise.
export ROADMAP_HOME="${ROADMAP_HOME:-$PWD/var}"
exec .venv/bin/roadmap demo "$@"
