# shellcheck shell=bash
# The Chromium browser the browser tests drive (tests/web/test_browser.py, Playwright over /usr/bin/chromium).
#
# This file is meant to be SOURCED (bash), not executed. It defines:
#
#   chromium_ensure_installed   install Debian's `chromium` and `chromium-driver` packages (apt-get, as root or
#                               through passwordless sudo) when /usr/bin/chromium is missing
#
# The browser always comes from the distribution: never a Playwright browser download (`playwright install`).

CHROMIUM_BIN=/usr/bin/chromium

_chromium_log() {
    echo "chromium.sh: $*" >&2
}

# Run a command as root: directly when we are root, else through sudo without a password prompt.
_chromium_as_root() {
    if [[ $EUID -eq 0 ]]; then
        "$@"
    else
        sudo -n "$@"
    fi
}

chromium_ensure_installed() {
    if [[ -x "$CHROMIUM_BIN" ]] && dpkg-query -W -f='${Status}' chromium-driver 2>/dev/null | grep -q "ok installed"; then
        return 0
    fi
    if [[ $EUID -ne 0 ]] && ! sudo -n true 2>/dev/null; then
        _chromium_log "Chromium is not installed ($CHROMIUM_BIN) and we are neither root nor allowed to use" \
            "sudo without a password; install the Debian packages 'chromium' and 'chromium-driver'."
        return 1
    fi
    _chromium_log "Chromium or its driver not found, installing Debian packages 'chromium' and 'chromium-driver' (apt-get)..."
    local log
    log=$(mktemp)
    if ! { _chromium_as_root apt-get update -qq \
        && _chromium_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; } \
        </dev/null >"$log" 2>&1; then
        _chromium_log "ERROR: 'apt-get install chromium chromium-driver' failed; last lines of its output:"
        tail -n 30 "$log" >&2
        rm -f "$log"
        return 1
    fi
    rm -f "$log"
    if [[ ! -x "$CHROMIUM_BIN" ]]; then
        _chromium_log "ERROR: packages installed but $CHROMIUM_BIN is still missing."
        return 1
    fi
}
