#!/usr/bin/env bash
# THE test command (`make test`): lint (ruff), type-check (mypy), then the test
# suite (pytest, 2 workers) against SQLite and a throwaway PostgreSQL server.
#
# Extra arguments are passed to pytest, e.g. `bash scripts/test.sh -k foo -x`.
# Set ROADMAP_TEST_POSTGRES_URL to use your own PostgreSQL server instead of a
# throwaway one (e.g. postgresql+psycopg://user@host:5432/postgres).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# shellcheck source=scripts/venv.sh
source scripts/venv.sh
# shellcheck source=scripts/postgres.sh
source scripts/postgres.sh
# shellcheck source=scripts/wheel_check.sh
source scripts/wheel_check.sh
# shellcheck source=scripts/chromium.sh
source scripts/chromium.sh
# shellcheck source=scripts/weasyprint.sh
source scripts/weasyprint.sh
# shellcheck source=scripts/libreoffice.sh
source scripts/libreoffice.sh

ensure_venv
pg_ensure_installed
chromium_ensure_installed
weasyprint_ensure_libs
libreoffice_ensure_installed
pg_start_throwaway

# Run every stage even if an earlier one fails, so one CI run reports all
# problems; the script fails at the end if any stage failed.
failed=()

echo "== ruff"
if ! .venv/bin/ruff check .; then
    failed+=(ruff)
fi

echo "== mypy"
if ! .venv/bin/mypy; then
    failed+=(mypy)
fi

echo "== wheel (pip install . into a fresh venv, roadmap demo from another folder)"
if ! wheel_check; then
    failed+=(wheel)
fi

echo "== pytest (sqlite + postgresql)"
rc=0
.venv/bin/pytest -n 2 "$@" || rc=$?
if [[ $rc -eq 5 ]]; then
    echo "test.sh: ERROR: pytest collected no tests (exit code 5): nothing was tested." >&2
    failed+=("pytest (no tests collected)")
elif [[ $rc -ne 0 ]]; then
    failed+=("pytest (exit code $rc)")
fi

if [[ ${#failed[@]} -gt 0 ]]; then
    echo "== FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "== all stages passed"
