# shellcheck shell=bash
# LibreOffice Calc without a display, for the spreadsheet round-trip tests (tests/roadmap/test_libreoffice.py
# converts the product's XLSX and CSV files with `soffice --headless --convert-to` and reads them back).
#
# This file is meant to be SOURCED (bash), not executed. It defines:
#
#   libreoffice_ensure_installed   install Debian's `libreoffice-calc-nogui` (without recommended packages) when
#                                  `soffice` is missing (≈20 s on a Debian bookworm image with a close mirror)

# shellcheck source=scripts/debian.sh
source "$(dirname "${BASH_SOURCE[0]}")/debian.sh"

SOFFICE_BIN=/usr/bin/soffice

libreoffice_ensure_installed() {
    if [[ -x "$SOFFICE_BIN" ]] && dpkg-query -W -f='${Status}' libreoffice-calc-nogui 2>/dev/null | grep -q "ok installed"; then
        return 0
    fi
    echo "libreoffice.sh: soffice not found, installing Debian's 'libreoffice-calc-nogui' (apt-get)..." >&2
    debian_install libreoffice.sh --no-install-recommends libreoffice-calc-nogui || return 1
    if [[ ! -x "$SOFFICE_BIN" ]]; then
        echo "libreoffice.sh: ERROR: package installed but $SOFFICE_BIN is still missing." >&2
        return 1
    fi
}
