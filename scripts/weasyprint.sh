# shellcheck shell=bash
# The Debian libraries WeasyPrint needs to turn the family documents into PDF (roadmap/documents.py): Pango
# (text layout, through cffi) and a font with the French accents (DejaVu).
#
# This file is meant to be SOURCED (bash), not executed. It defines:
#
#   weasyprint_ensure_libs   install Debian's `libpango-1.0-0`, `libpangoft2-1.0-0` and `fonts-dejavu-core` (apt-get,
#                            as root or through passwordless sudo) when one of them is missing

WEASYPRINT_PACKAGES=(libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core)

# shellcheck source=scripts/debian.sh
source "$(dirname "${BASH_SOURCE[0]}")/debian.sh"

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
    echo "weasyprint.sh: installing Debian packages ${missing[*]} (apt-get)..." >&2
    debian_install weasyprint.sh "${missing[@]}"
}
