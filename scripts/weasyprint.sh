# shellcheck shell=bash
# The Debian libraries WeasyPrint needs to turn the family documents into PDF (roadmap/documents.py): Pango
# (text layout, through cffi) and a font with the French accents (DejaVu).
#
# This file is meant to be SOURCED (bash), not executed. It defines:
#
#   weasyprint_ensure_libs   install Debian's `libpango-1.0-0`, `libpangoft2-1.0-0` and `fonts-dejavu-core` (apt-get,
#                            as root or through passwordless sudo) when one of them is missing

WEASYPRINT_PACKAGES=(libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core)

_weasyprint_log() {
    echo "weasyprint.sh: $*" >&2
}

_weasyprint_as_root() {
    if [[ $EUID -eq 0 ]]; then
        "$@"
    else
        sudo -n "$@"
    fi
}

weasyprint_ensure_libs() {
    local missing=() package
    for package in "${WEASYPRINT_PACKAGES[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed"; then
            missing+=("$package")
        fi
    done
    if [[ ${#missing[@]} -eq 0 ]]; then
        return 0
    fi
    if [[ $EUID -ne 0 ]] && ! sudo -n true 2>/dev/null; then
        _weasyprint_log "missing Debian packages: ${missing[*]}; we are neither root nor allowed to use sudo" \
            "without a password: install them (apt-get install ${missing[*]})."
        return 1
    fi
    _weasyprint_log "installing Debian packages ${missing[*]} (apt-get)..."
    local log
    log=$(mktemp)
    if ! { _weasyprint_as_root apt-get update -qq \
        && _weasyprint_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"; } \
        </dev/null >"$log" 2>&1; then
        _weasyprint_log "ERROR: 'apt-get install ${missing[*]}' failed; last lines of its output:"
        tail -n 30 "$log" >&2
        rm -f "$log"
        return 1
    fi
    rm -f "$log"
}
