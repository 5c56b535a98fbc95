# shellcheck shell=bash
# Throwaway PostgreSQL server for the test suite.
#
# This file is meant to be SOURCED (bash), not executed. It defines:
#
#   pg_ensure_installed   install Debian's `postgresql` package if no initdb exists
#   pg_start_throwaway    create a brand-new cluster in a fresh temp dir, start it on
#                         127.0.0.1:<free port>, export ROADMAP_TEST_POSTGRES_URL and
#                         register pg_stop_throwaway on EXIT (chained with any
#                         existing EXIT trap)
#   pg_stop_throwaway     stop the server (immediate mode) and delete its directory
#
# If ROADMAP_TEST_POSTGRES_URL is already set in the environment, the developer
# brings their own server: every function is then a no-op.
#
# After pg_start_throwaway, these shell variables are also set (not exported):
#   PG_THROWAWAY_DIR   the temp dir (data dir, socket dir and server.log inside)
#   PG_THROWAWAY_PORT  the TCP port the server listens on (127.0.0.1 only)
#
# The server is never reused: each call gets a new directory and a new port, so
# it works twice in a row and after a previous run was killed. Directories left
# behind by killed runs (owner process gone) are reaped on the next start.

PG_THROWAWAY_DIR=""
PG_THROWAWAY_PORT=""
# Prefix of the temp dirs, used to find leftovers of killed runs.
_PG_TMP_PREFIX="roadmap-test-pg."

_pg_log() {
    echo "postgres.sh: $*" >&2
}

# True when the developer supplied their own server.
_pg_external() {
    [[ -n "${ROADMAP_TEST_POSTGRES_URL:-}" ]]
}

# Directory holding initdb/pg_ctl; prefers the newest Debian-packaged version.
_pg_bindir() {
    local initdb
    initdb=$(compgen -G '/usr/lib/postgresql/*/bin/initdb' | sort -V | tail -n 1 || true)
    if [[ -z "$initdb" ]]; then
        initdb=$(command -v initdb || true)
    fi
    [[ -n "$initdb" ]] || return 1
    dirname "$initdb"
}

# Run a PostgreSQL binary as the postgres system user when we are root
# (the server refuses to run as root), as ourselves otherwise. The command runs
# from "/" so that an unreadable current directory (e.g. a clone under /root)
# does not make the PostgreSQL tools fail.
_pg_as_owner() {
    if [[ $EUID -eq 0 ]]; then
        (cd / && runuser -u postgres -- "$@")
    else
        (cd / && "$@")
    fi
}

pg_ensure_installed() {
    if _pg_external; then
        return 0
    fi
    if compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
        return 0
    fi
    if [[ $EUID -ne 0 ]]; then
        _pg_log "PostgreSQL is not installed and we are not root; install the 'postgresql' package" \
            "or set ROADMAP_TEST_POSTGRES_URL to an existing server."
        return 1
    fi
    _pg_log "PostgreSQL not found, installing Debian package 'postgresql' (apt-get)..."
    local log
    log=$(mktemp)
    if ! { apt-get update -qq \
        && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; } \
        </dev/null >"$log" 2>&1; then
        _pg_log "ERROR: 'apt-get install postgresql' failed; last lines of its output:"
        tail -n 30 "$log" >&2
        rm -f "$log"
        return 1
    fi
    rm -f "$log"
    if ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
        _pg_log "ERROR: package 'postgresql' installed but no /usr/lib/postgresql/*/bin/initdb found."
        return 1
    fi
}

# Remove directories left behind by runs that were killed before their EXIT
# trap could run (owner process no longer alive). Directories of concurrent,
# still-running test runs are left alone.
_pg_reap_stale() {
    local bindir=$1 dir owner
    for dir in "${TMPDIR:-/tmp}/${_PG_TMP_PREFIX}"* /tmp/"${_PG_TMP_PREFIX}"*; do
        [[ -d "$dir" && -f "$dir/owner.pid" ]] || continue
        owner=$(cat "$dir/owner.pid" 2>/dev/null || true)
        if [[ "$owner" =~ ^[0-9]+$ ]] && kill -0 "$owner" 2>/dev/null; then
            continue
        fi
        if [[ -f "$dir/data/postmaster.pid" ]]; then
            _pg_as_owner "$bindir/pg_ctl" stop -D "$dir/data" -m immediate -w >/dev/null 2>&1 || true
        fi
        rm -rf -- "$dir"
    done
}

_pg_free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

pg_start_throwaway() {
    if _pg_external; then
        _pg_log "using ROADMAP_TEST_POSTGRES_URL from the environment (no throwaway server)."
        return 0
    fi
    if [[ -n "$PG_THROWAWAY_DIR" ]]; then
        _pg_log "ERROR: a throwaway server is already running in $PG_THROWAWAY_DIR."
        return 1
    fi

    local bindir
    if ! bindir=$(_pg_bindir); then
        _pg_log "ERROR: initdb not found; call pg_ensure_installed first."
        return 1
    fi
    if [[ $EUID -eq 0 ]] && ! id -u postgres >/dev/null 2>&1; then
        _pg_log "ERROR: running as root but there is no 'postgres' system user to run the server."
        return 1
    fi

    _pg_reap_stale "$bindir"

    # Fresh directory. As root it lives in /tmp (world-traversable) so that the
    # postgres user can reach it even if TMPDIR points to a private directory.
    local base=${TMPDIR:-/tmp} dir
    if [[ $EUID -eq 0 ]]; then
        base=/tmp
    fi
    if ! dir=$(mktemp -d "$base/${_PG_TMP_PREFIX}XXXXXXXX"); then
        _pg_log "ERROR: mktemp -d failed in $base."
        return 1
    fi
    echo "$BASHPID" >"$dir/owner.pid"
    chmod 0755 "$dir"
    if [[ $EUID -eq 0 ]]; then
        chown postgres: "$dir"
    fi
    PG_THROWAWAY_DIR=$dir
    # Register cleanup right away so that a failure below still removes the dir.
    _pg_register_exit_trap

    # C.UTF-8 if the system knows it (glibc lists it as "C.utf8"), else C.
    local locale=C
    if locale -a 2>/dev/null | grep -qiE '^c\.utf-?8$'; then
        locale=C.UTF-8
    fi

    # --no-sync: no need to fsync a throwaway cluster.
    if ! _pg_as_owner "$bindir/initdb" -D "$dir/data" --auth=trust -U roadmap \
        --encoding=UTF8 --locale="$locale" --no-sync >"$dir/initdb.log" 2>&1; then
        _pg_log "ERROR: initdb failed:"
        cat "$dir/initdb.log" >&2
        return 1
    fi

    cat >>"$dir/data/postgresql.conf" <<EOF

# --- throwaway test server (scripts/postgres.sh) ---
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
# SSD storage, as PostgreSQL's documentation advises for it (the default 4.0 prices random reads for spinning
# disks, and hash-joins a whole table rather than looking up a département's schools); see README, "PostgreSQL".
random_page_cost = 1.1
EOF

    # The port comes from "bind to port 0"; another process could grab it before
    # the server binds it, so retry a few times with a new port.
    local attempt port
    for attempt in 1 2 3; do
        port=$(_pg_free_port)
        if _pg_as_owner "$bindir/pg_ctl" start -D "$dir/data" -l "$dir/server.log" \
            -o "-p $port" -w -t 60 >"$dir/pg_ctl.log" 2>&1; then
            PG_THROWAWAY_PORT=$port
            break
        fi
        _pg_log "server start attempt $attempt on port $port failed."
        _pg_as_owner "$bindir/pg_ctl" stop -D "$dir/data" -m immediate -w >/dev/null 2>&1 || true
    done
    if [[ -z "$PG_THROWAWAY_PORT" ]]; then
        _pg_log "ERROR: could not start PostgreSQL; server log:"
        tail -n 30 "$dir/server.log" >&2 || true
        return 1
    fi

    # pg_ctl -w already waits for "ready", double-check over TCP.
    local i
    for i in $(seq 1 50); do
        if "$bindir/pg_isready" -q -h 127.0.0.1 -p "$PG_THROWAWAY_PORT" -U roadmap -d postgres; then
            break
        fi
        if [[ $i -eq 50 ]]; then
            _pg_log "ERROR: PostgreSQL started but does not accept TCP connections; server log:"
            tail -n 30 "$dir/server.log" >&2 || true
            return 1
        fi
        sleep 0.1
    done

    export ROADMAP_TEST_POSTGRES_URL="postgresql+psycopg://roadmap@127.0.0.1:$PG_THROWAWAY_PORT/postgres"
    _pg_log "throwaway PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') ready on 127.0.0.1:$PG_THROWAWAY_PORT ($dir)."
}

pg_stop_throwaway() {
    local dir=$PG_THROWAWAY_DIR
    [[ -n "$dir" ]] || return 0
    PG_THROWAWAY_DIR=""
    PG_THROWAWAY_PORT=""
    if [[ -f "$dir/data/postmaster.pid" ]]; then
        local bindir
        if bindir=$(_pg_bindir); then
            _pg_as_owner "$bindir/pg_ctl" stop -D "$dir/data" -m immediate -w >/dev/null 2>&1 || true
        fi
    fi
    rm -rf -- "$dir"
    # Only unset the URL we exported ourselves.
    if [[ "${ROADMAP_TEST_POSTGRES_URL:-}" == postgresql+psycopg://roadmap@127.0.0.1:* ]]; then
        unset ROADMAP_TEST_POSTGRES_URL
    fi
}

# Add pg_stop_throwaway to the EXIT trap, keeping any existing EXIT trap.
# Bash also runs the EXIT trap when the shell dies from SIGINT/SIGTERM/SIGHUP.
_pg_register_exit_trap() {
    local existing previous=""
    local -a words=()
    existing=$(trap -p EXIT)
    if [[ -n "$existing" ]]; then
        # `trap -p` prints: trap -- '<command>' EXIT  (shell-quoted)
        eval "words=($existing)"
        previous=${words[2]:-}
    fi
    if [[ "$previous" == *pg_stop_throwaway* ]]; then
        return 0
    fi
    if [[ -n "$previous" ]]; then
        # Run our cleanup first, then the previous handler with $? restored to the
        # script's exit status. `set +e` so that restoring a non-zero $? does not
        # abort the trap when the caller uses `set -e`.
        # shellcheck disable=SC2064,SC2154  # expand $previous now, on purpose
        trap "__pg_rc=\$?; pg_stop_throwaway; set +e; (exit \$__pg_rc); $previous" EXIT
    else
        trap 'pg_stop_throwaway' EXIT
    fi
}
