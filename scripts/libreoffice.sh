# shellcheck shell=bash
# LibreOffice Calc without a display, for the spreadsheet round-trip tests (tests/roadmap/test_libreoffice.py
# converts the product's XLSX and CSV files with `soffice --headless --convert-to` and reads them back).
#
# This file is meant to be SOURCED (bash), not executed. It defines:
#
#   libreoffice_ensure_installed   install Debian's `libreoffice-calc-nogui` (apt-get, as root or through
#                                  passwordless sudo, without recommended packages) when `soffice` is missing

SOFFICE_BIN=/usr/bin/soffice

_libreoffice_log() {
    echo "libreoffice.sh: $*" >&2
}

_libreoffice_as_root() {
    if [[ $EUID -eq 0 ]]; then
        "$@"
    else
        sudo -n "$@"
    fi
}

libreoffice_ensure_installed() {
    if [[ -x "$SOFFICE_BIN" ]] && dpkg-query -W -f='${Status}' libreoffice-calc-nogui 2>/dev/null | grep -q "ok installed"; then
        return 0
    fi
    if [[ $EUID -ne 0 ]] && ! sudo -n true 2>/dev/null; then
        _libreoffice_log "LibreOffice is not installed ($SOFFICE_BIN) and we are neither root nor allowed to use" \
            "sudo without a password; install the Debian package 'libreoffice-calc-nogui'."
        return 1
    fi
    _libreoffice_log "soffice not found, installing Debian's 'libreoffice-calc-nogui' (apt-get, no recommends)..."
    local log
    log=$(mktemp)
    if ! { _libreoffice_as_root apt-get update -qq \
        && _libreoffice_as_root env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -qq --no-install-recommends libreoffice-calc-nogui; } </dev/null >"$log" 2>&1; then
        _libreoffice_log "ERROR: 'apt-get install libreoffice-calc-nogui' failed; last lines of its output:"
        tail -n 30 "$log" >&2
        rm -f "$log"
        return 1
    fi
    rm -f "$log"
    if [[ ! -x "$SOFFICE_BIN" ]]; then
        _libreoffice_log "ERROR: package installed but $SOFFICE_BIN is still missing."
        return 1
    fi
}
