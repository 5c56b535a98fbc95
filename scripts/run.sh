#!/usr/bin/env bash
# THE product command (`make run`): bootstrap the virtualenv, install the demo
# (`roadmap demo`: an SQLite file database with demo data), then serve the web
# application with its mail dispatcher and local mail sink (`roadmap serve`).
# Extra arguments are passed to `roadmap serve` (e.g. --port 8080).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# shellcheck source=scripts/venv.sh
source scripts/venv.sh

ensure_venv
# The product keeps its data (SQLite file, stored files) in var/ unless told otherwise.
export ROADMAP_HOME="${ROADMAP_HOME:-$PWD/var}"
.venv/bin/roadmap demo
exec .venv/bin/roadmap serve "$@"
