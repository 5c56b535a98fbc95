#!/usr/bin/env bash
# Benchmarks (`make bench`, `make bench SCHOOLS=50000`): prints figures, each next to a baseline measured in the
# same run, and writes benchmarks/results.json.
#
#   1. benchmarks/engine.py   — the workflow engine alone (shared machine, persisted move, demo import);
#   2. benchmarks/national.py — a national dataset of $SCHOOLS écoles (default 5000): import, re-import, moves,
#      dashboards, lists, the account table, start-up; on SQLite and on PostgreSQL (the test suite's throwaway
#      server, or yours: set ROADMAP_TEST_POSTGRES_URL);
#   3. benchmarks/web.py      — the same dataset served by `roadmap serve --no-worker` in its own process: the
#      dashboard's p95 through HTTP (département and national), the exports, the web process's peak memory.
#
# Environment: SCHOOLS (default 5000), BACKEND (sqlite, postgresql or both; default both).
# Extra arguments go to benchmarks.national, e.g. `bash scripts/bench.sh --moves 500 --runs 10`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

SCHOOLS="${SCHOOLS:-5000}"
BACKEND="${BACKEND:-both}"

# shellcheck source=scripts/venv.sh
source scripts/venv.sh
ensure_venv
if [[ "$BACKEND" != "sqlite" ]]; then
    # shellcheck source=scripts/postgres.sh
    source scripts/postgres.sh
    pg_ensure_installed
    pg_start_throwaway
fi

echo "== benchmarks/engine.py (the workflow engine)"
.venv/bin/python -m benchmarks.engine
echo
echo "== benchmarks/national.py ($SCHOOLS écoles, $BACKEND)"
.venv/bin/python -m benchmarks.national --schools "$SCHOOLS" --backend "$BACKEND" "$@"
echo
echo "== benchmarks/web.py ($SCHOOLS écoles through HTTP, $BACKEND)"
.venv/bin/python -m benchmarks.web --schools "$SCHOOLS" --backend "$BACKEND"
