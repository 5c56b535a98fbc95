# shellcheck shell=bash
# Installability check, sourced by scripts/test.sh: build the wheel, install it (not editable) into a brand-new
# venv, and run `roadmap --help` and `roadmap demo` from another folder with a temporary ROADMAP_HOME.
# Fails if the installed tool cannot find its data, its migrations or its entry point.

wheel_check() {
    local work rc=0
    work=$(mktemp -d "${TMPDIR:-/tmp}/roadmap-wheel.XXXXXXXX")
    (
        set -euo pipefail
        export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
        .venv/bin/pip wheel -q --no-deps -w "$work/dist" . </dev/null >"$work/pip.txt" 2>&1
        python3 -m venv "$work/venv"
        "$work/venv/bin/pip" install -q "$work"/dist/*.whl </dev/null >>"$work/pip.txt" 2>&1
        cd "$work"  # anywhere but the source tree
        env -u ROADMAP_DATA_DIR -u ROADMAP_DATABASE_URL ROADMAP_HOME="$work/home" \
            "$work/venv/bin/roadmap" --help >"$work/help.txt"
        env -u ROADMAP_DATA_DIR -u ROADMAP_DATABASE_URL ROADMAP_HOME="$work/home" \
            "$work/venv/bin/roadmap" demo >"$work/demo.txt"
        grep -q "Démonstration installée" "$work/demo.txt"
        echo "wheel: $(basename "$work"/dist/*.whl) installed in a fresh venv; roadmap --help and roadmap demo ran from $work."
    ) || rc=$?
    if [[ $rc -ne 0 ]]; then
        echo "wheel_check: the installed wheel does not work (exit $rc); outputs in $work" >&2
        cat "$work"/*.txt >&2 2>/dev/null || true
        return "$rc"
    fi
    rm -rf -- "$work"
}
