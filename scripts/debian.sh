# shellcheck shell=bash
# Debian packages the test command needs (Chromium, LibreOffice...), installed with apt-get as root or through
# passwordless sudo. Sourced by scripts/chromium.sh, scripts/libreoffice.sh and scripts/weasyprint.sh.
#
#   debian_install LOG_PREFIX [apt-get options...] PACKAGE...   apt-get update, then install; on failure, the last
#                                                                lines of apt-get's output and a non-zero status

_debian_as_root() {
    if [[ $EUID -eq 0 ]]; then
        "$@"
    else
        sudo -n "$@"
    fi
}

debian_install() {
    local prefix=$1
    shift
    if [[ $EUID -ne 0 ]] && ! sudo -n true 2>/dev/null; then
        echo "$prefix: we are neither root nor allowed to use sudo without a password; install the Debian" \
            "package(s) yourself: apt-get install $*" >&2
        return 1
    fi
    local log
    log=$(mktemp)
    if ! { _debian_as_root apt-get update -qq \
        && _debian_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"; } \
        </dev/null >"$log" 2>&1; then
        echo "$prefix: ERROR: 'apt-get install $*' failed; last lines of its output:" >&2
        tail -n 30 "$log" >&2
        rm -f "$log"
        return 1
    fi
    rm -f "$log"
}
