# shellcheck shell=bash
# The Chromium browser the browser tests drive (tests/web/test_browser.py, Playwright over /usr/bin/chromium).
#
# This file is meant to be SOURCED (bash), not executed. It defines:
#
#   chromium_ensure_installed   install Debian's `chromium` and `chromium-driver` packages (apt-get, as root or
#                               through passwordless sudo, scripts/debian.sh) when /usr/bin/chromium is missing
#
# The browser always comes from the distribution: never a Playwright browser download (`playwright install`).

CHROMIUM_BIN=/usr/bin/chromium

_chromium_log() {
    echo "chromium.sh: $*" >&2
}

# shellcheck source=scripts/debian.sh
source "$(dirname "${BASH_SOURCE[0]}")/debian.sh"

chromium_ensure_installed() {
    if [[ -x "$CHROMIUM_BIN" ]] && dpkg-query -W -f='${Status}' chromium-driver 2>/dev/null | grep -q "ok installed"; then
        return 0
    fi
    _chromium_log "Chromium or its driver not found, installing Debian packages 'chromium' and 'chromium-driver' (apt-get)..."
    debian_install chromium.sh chromium chromium-driver || return 1
    if [[ ! -x "$CHROMIUM_BIN" ]]; then
        _chromium_log "ERROR: packages installed but $CHROMIUM_BIN is still missing."
        return 1
    fi
}
