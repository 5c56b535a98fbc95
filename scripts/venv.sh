# shellcheck shell=bash
# Virtualenv bootstrap shared by scripts/test.sh and scripts/run.sh.
#
# This file is meant to be SOURCED (bash) from the repository root. It defines
# `ensure_venv`, which:
#   - creates .venv with `python3 -m venv` if it is missing or broken;
#   - installs the project in editable mode with the `dev` extras
#     (`pip install -e '.[dev]'`), quietly;
#   - skips the install when the stamp file .venv/.installed-<hash> exists.
#
# The hash covers pyproject.toml and the list of top-level packages (directories
# with an __init__.py): setuptools' editable install only maps the top-level
# packages that existed at install time, so adding one must trigger a reinstall.

_venv_stamp_hash() {
    {
        cat pyproject.toml
        printf '%s\n' */__init__.py
    } | sha256sum | cut -d' ' -f1
}

ensure_venv() {
    local venv=.venv
    if [[ ! -f pyproject.toml ]]; then
        echo "venv.sh: ERROR: run from the repository root (no pyproject.toml in $PWD)." >&2
        return 1
    fi
    # A venv whose interpreter no longer runs (e.g. python3 was upgraded or the
    # directory was copied from elsewhere) is recreated from scratch.
    if [[ -d "$venv" ]] && ! "$venv/bin/python" -c 'import sys' >/dev/null 2>&1; then
        echo "venv.sh: $venv is broken, recreating it." >&2
        rm -rf -- "$venv"
    fi
    if [[ ! -x "$venv/bin/python" ]]; then
        echo "venv.sh: creating $venv with $(python3 --version 2>&1)." >&2
        python3 -m venv "$venv"
    fi

    local stamp
    stamp="$venv/.installed-$(_venv_stamp_hash)"
    if [[ -f "$stamp" ]]; then
        return 0
    fi
    echo "venv.sh: installing the project and its dev dependencies into $venv (pip)..." >&2
    if ! PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 \
        "$venv/bin/pip" install -q -e '.[dev]' </dev/null; then
        echo "venv.sh: ERROR: 'pip install -e .[dev]' failed." >&2
        return 1
    fi
    rm -f -- "$venv"/.installed-*
    touch "$stamp"
}
